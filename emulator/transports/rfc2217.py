"""RFC 2217 (telnet COM-port control): one hosted modem served on a TCP port.

`start_rfc2217_server(modem)` listens on the modem host's loop (127.0.0.1, port 0 =
any free port by default). One client at a time is the modem's DTE; a second client is
turned away while the first is connected. Only our own uid may connect (found from the
kernel's socket table, as SO_PEERCRED would on a Unix socket), unless `any_user`: the
ptys and control socket are 0600, and a TCP port must not open the modem to every
local user. pyserial's ``rfc2217://host:port`` client is
the reference peer, so unmodified pyserial code gets working ``cd``, ``ri``, ``dsr``,
``cts``, ``dtr``, ``rts`` and ``baudrate``.

The telnet and RFC 2217 state is pyserial's own `serial.rfc2217.PortManager`, which
is nearly sans-I/O: incoming bytes go through its `filter()`, it writes replies
through our connection object, and it reads and writes the attributes of a "serial
port" object. `ModemSerialPort` is that object, backed by the engine:

- written by the client: ``baudrate`` (reaches the engine as the DTE rate), ``dtr`` and
  ``rts`` (``set_dtr``/``set_rts``: a DTR drop is handled per &D), ``bytesize``,
  ``parity``, ``stopbits``, ``xonxoff``, ``rtscts``, ``break_condition`` (kept and
  reported back; the data path is 8-bit clean regardless);
- read by PortManager: ``cts``, ``dsr``, ``ri``, ``cd`` from the engine's signals;
- PURGE: ``reset_input_buffer()`` drops modem output not yet sent to the client,
  ``reset_output_buffer()`` drops client bytes the modem has not taken yet.

Modem-state notifications go out on every change, never on a poll timer:
`check_modem_lines()` runs from the host's ``signals_changed`` callback, and also just
before each batch of modem output is sent, so a client that has read ``CONNECT``
already has DCD on (the NOTIFY precedes the bytes in the TCP stream).

Back-pressure both ways: client bytes the modem cannot take yet (its `dte_room()`)
are held and the socket stops being read until ``room_available``; when the socket's
send buffer is above asyncio's high-water mark, modem output stays in the engine (which
holds back the far end) until ``resume_writing``.

Interop notes (2026-11, pyserial 3.5 client): the client waits for the server's
answer to each SET_BAUDRATE/SET_DATASIZE/... at open and after every setting change, so
PortManager's immediate replies keep ``serial_for_url`` fast; the client purges both
buffers at open. A plain ``telnet`` client never sends SET_CONTROL, so a connecting
client raises DTR itself (a DTE that connects is there), and the client may lower it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from typing import Any, NamedTuple, cast

from serial import rfc2217 as _rfc

from emulator.core.engine import Signals
from emulator.transports.host import HostedModem
from emulator.transports.sockowner import loopback_peer_uid
from linelab.errors import LinelabError

log = logging.getLogger(__name__)

# Bytes pulled from the engine per write to the socket.
READ_CHUNK = 64 * 1024
_IAC = _rfc.IAC


class ModemSerialPort:
    """The duck-typed serial port `PortManager` drives, backed by a `HostedModem`.
    Used on the host's loop thread only."""

    def __init__(self, modem: HostedModem, session: _Session) -> None:
        self._modem = modem
        self._session = session
        self._baudrate = 9600
        self.bytesize = 8
        self.parity = "N"
        self.stopbits: float = 1
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False

    @property
    def baudrate(self) -> int:
        return self._baudrate

    @baudrate.setter
    def baudrate(self, value: int) -> None:
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"invalid baud rate {value!r}")
        self._baudrate = value
        self._modem.set_dte_rate(value)

    @property
    def dtr(self) -> bool:
        return self._modem.dtr

    @dtr.setter
    def dtr(self, on: bool) -> None:
        self._modem.set_dtr(bool(on))

    @property
    def rts(self) -> bool:
        return bool(self._modem.engine.rts)

    @rts.setter
    def rts(self, on: bool) -> None:
        self._modem.set_rts(bool(on))

    @property
    def cts(self) -> bool:
        return self._modem.signals.cts

    @property
    def dsr(self) -> bool:
        return self._modem.signals.dsr

    @property
    def ri(self) -> bool:
        return self._modem.signals.ri

    @property
    def cd(self) -> bool:
        return self._modem.signals.dcd

    def reset_input_buffer(self) -> None:
        """PURGE receive: drop modem output the client has not been sent."""
        self._modem.read()

    def reset_output_buffer(self) -> None:
        """PURGE transmit: drop client bytes the modem has not taken."""
        self._session.drop_pending_input()


class _Session(asyncio.Protocol):
    """One TCP client: the telnet side (asyncio) and the `ModemPort` side (the host)."""

    def __init__(self, server: RFC2217Server) -> None:
        self.server = server
        self.modem = server.modem
        self.transport: asyncio.Transport | None = None
        self.manager: _rfc.PortManager | None = None
        self.port = ModemSerialPort(self.modem, self)
        self._pending_in = bytearray()
        self._reading_paused = False
        self._writing_paused = False
        self._attached = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, so no
        # isinstance check: it has the same methods).
        transport = self.transport = cast(asyncio.Transport, base)
        if not self.server.any_user:
            sock = transport.get_extra_info("socket")
            uid = loopback_peer_uid(sock) if sock is not None else None
            if uid != os.getuid():
                who = "an unknown user" if uid is None else f"uid {uid}"
                log.warning(
                    "rfc2217 %s: refusing a connection from %s (only uid %d may connect;"
                    " --rfc2217-any-user lets anyone)",
                    self.modem.name,
                    who,
                    os.getuid(),
                )
                self.server.refused += 1
                transport.abort()
                return
        if self.modem.port is not None:
            log.warning("rfc2217 %s: refusing a second client", self.modem.name)
            transport.close()
            return
        self.modem.attach(self)
        self._attached = True
        self.server.sessions.add(self)
        telnet_log = log.getChild("telnet") if log.isEnabledFor(logging.DEBUG) else None
        # PortManager is typed for pyserial's Serial but only touches the attributes
        # ModemSerialPort has, and needs nothing of its connection but write().
        self.manager = _rfc.PortManager(cast(Any, self.port), cast(Any, self), logger=telnet_log)
        self.modem.set_dtr(True)

    def data_received(self, data: bytes) -> None:
        manager = self.manager
        if manager is None:
            return
        if manager.mode == _rfc.M_NORMAL and manager.suboption is None and _IAC not in data:
            payload = data  # the common case, without PortManager's per-byte generator
        else:
            payload = b"".join(manager.filter(data))
        if payload:
            self._pending_in += payload
            self._feed()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.sessions.discard(self)
        if self._attached:
            self._attached = False
            if self.modem.port is self:
                self.modem.detach()
        self.manager = None

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self.output_ready()

    # -- PortManager's connection --------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- ModemPort -----------------------------------------------------------------------

    def output_ready(self) -> None:
        if self.manager is None or self._writing_paused or self.transport is None:
            return
        # Line state first, so the NOTIFY precedes the bytes that follow the change.
        self.manager.check_modem_lines()
        data = self.modem.read(READ_CHUNK)
        if data:
            self.write(data.replace(_IAC, _IAC + _IAC))

    def room_available(self) -> None:
        self._feed()

    def signals_changed(self, signals: Signals) -> None:
        if self.manager is not None:
            self.manager.check_modem_lines()

    # -- input back-pressure -----------------------------------------------------------

    def _feed(self) -> None:
        while self._pending_in:
            taken = self.modem.feed(bytes(self._pending_in))
            if not taken:
                break
            del self._pending_in[:taken]
        if self.transport is None:
            return
        if self._pending_in and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
            self.modem.dte_room()  # arms room_available()
        elif not self._pending_in and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def drop_pending_input(self) -> None:
        self._pending_in.clear()
        self._feed()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class RFC2217Server:
    """A listening RFC 2217 endpoint for one modem (see `start_rfc2217_server`)."""

    def __init__(self, modem: HostedModem, *, any_user: bool = False) -> None:
        self.modem = modem
        self.any_user = any_user
        self.refused = 0  # connections turned away because of their user
        self.sessions: set[_Session] = set()
        self.server: asyncio.AbstractServer | None = None
        self.host = ""
        self.port = 0

    def close(self) -> None:
        """Stop listening and disconnect the client (its modem sees DTR drop)."""
        if self.server is not None:
            self.server.close()
        for session in list(self.sessions):
            session.close()

    async def wait_closed(self) -> None:
        if self.server is not None:
            await self.server.wait_closed()


class Listening(NamedTuple):
    """What `start_rfc2217_server` returns: unpack it as ``(server, port)``, or use
    ``.port`` and ``.close()`` directly."""

    server: RFC2217Server
    port: int

    def close(self) -> None:
        self.server.close()


async def start_rfc2217_server(
    modem: HostedModem, host: str = "127.0.0.1", port: int = 0, *, any_user: bool = False
) -> Listening:
    """Serve `modem` over RFC 2217 on `host`:`port` (0: a free port); await it on the
    modem host's loop. Returns ``(server, port)`` with the port actually bound. Raises
    LinelabError when the port is in use or the address cannot be bound.

    Only connections from our own uid over loopback are accepted (the uid is read from
    the kernel's socket table, `emulator.transports.sockowner`); `any_user` accepts anyone who
    can reach the port, other local users and other hosts included."""
    loop = asyncio.get_running_loop()
    if loop is not modem.host.loop:
        raise RuntimeError("start_rfc2217_server must run on the modem host's loop")
    server = RFC2217Server(modem, any_user=any_user)
    try:
        server.server = await loop.create_server(
            lambda: _Session(server), host, port, reuse_address=True
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise LinelabError(f"--rfc2217: port {port} on {host} is already in use") from None
        raise LinelabError(f"--rfc2217: cannot listen on {host}:{port}: {exc.strerror}") from None
    sockname: Any = server.server.sockets[0].getsockname()
    server.host, server.port = str(sockname[0]), int(sockname[1])
    log.info("rfc2217: modem %s on %s:%d", modem.name, server.host, server.port)
    return Listening(server, server.port)


__all__ = ["Listening", "ModemSerialPort", "RFC2217Server", "start_rfc2217_server"]
