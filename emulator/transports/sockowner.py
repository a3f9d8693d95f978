"""Which local user is at the other end of a loopback TCP connection.

A Unix socket tells its server the peer's uid (SO_PEERCRED); TCP does not, even over
loopback. On Linux the kernel's socket table does: the client's socket of a loopback
connection is a row of ``/proc/net/tcp`` (or ``tcp6``) whose local address is our
peer's address and whose remote address is ours, and that row names its owner's uid.
The table is read for this network namespace, the one our listening socket is in.

Rows print each 32-bit word of an address as the hex of the word in host byte order,
so the bytes are recovered by packing the word back in host order.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_ESTABLISHED = "01"
_SYN_RECV = "03"


def _address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    words = struct.unpack(f">{len(raw) // 4}I", raw)
    packed = struct.pack(f"={len(words)}I", *words)
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped, int(port, 16)
    return address, int(port, 16)


def _normal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback(host: str) -> bool:
    """Whether `host` (an address as getpeername() gives it) is a loopback address."""
    try:
        return _normal(host).is_loopback
    except ValueError:
        return False


def loopback_peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the client end of the accepted loopback TCP connection `sock`, or
    None when it cannot be found (not loopback, the client already gone, no /proc)."""
    try:
        peer_host, peer_port = sock.getpeername()[:2]
        our_host, our_port = sock.getsockname()[:2]
    except OSError:
        return None
    if not is_loopback(peer_host):
        return None
    client = (_normal(peer_host), int(peer_port))
    server = (_normal(our_host), int(our_port))
    for table in TABLES:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[3] not in (_ESTABLISHED, _SYN_RECV):
                continue
            try:
                if _address(fields[1]) == client and _address(fields[2]) == server:
                    return int(fields[7])
            except ValueError:
                continue
    return None
