"""RFC 2217 and other local users (issue 14): a loopback connection from another uid is
refused before it reaches the modem, our own is served, and `any_user` (the
`--rfc2217-any-user` flag) restores serving anyone. The other user is real: a forked
child that setuid()s to `nobody` (the tests run as root) and connects."""

from __future__ import annotations

import asyncio
import os
import pwd
import select
import socket
from collections.abc import Iterator

import pytest

from emulator.commands.modem import make_plan
from emulator.core.profile import load_profile
from emulator.transports.host import HostedModem, ModemHost
from emulator.transports.rfc2217 import RFC2217Server, start_rfc2217_server
from emulator.transports.sockowner import is_loopback, loopback_peer_uid
from scenarios.cli import build_parser

DEADLINE = 10.0
# A forked child of a threaded test process only makes system calls and _exit()s.
pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)


@pytest.fixture
def modem() -> Iterator[HostedModem]:
    host = ModemHost.start_in_thread(name="rfc2217-users")
    try:
        yield host.call(lambda: host.add_modem("m", "1001", load_profile()))
    finally:
        host.close()


def serve(modem: HostedModem, *, any_user: bool = False) -> tuple[RFC2217Server, int]:
    coro = start_rfc2217_server(modem, any_user=any_user)
    server, port = asyncio.run_coroutine_threadsafe(coro, modem.host.loop).result(DEADLINE)
    return server, port


def talk(port: int) -> bytes:
    """Connect, send AT, and return everything received until OK or the server closes."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(b"AT\r")
        while b"OK" not in got:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    return got


def talk_as(user: str, port: int) -> bytes:
    """`talk(port)` from a forked child running as `user`."""
    entry = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            os.write(write_end, talk(port) or b"<closed>")
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    got = b""
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], DEADLINE)
            assert ready, "the child did not finish"
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            got += chunk
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, got
    return got


def test_our_own_uid_is_served(modem: HostedModem) -> None:
    server, port = serve(modem)
    try:
        assert b"OK" in talk(port)
        assert server.refused == 0
    finally:
        modem.host.call(server.close)


def test_another_uid_is_refused(modem: HostedModem) -> None:
    server, port = serve(modem)
    try:
        got = talk_as("nobody", port)
        assert got == b"<closed>"
        assert server.refused == 1
        assert b"OK" in talk(port)  # the modem is free for us afterwards
    finally:
        modem.host.call(server.close)


def test_any_user_serves_another_uid(modem: HostedModem) -> None:
    server, port = serve(modem, any_user=True)
    try:
        assert b"OK" in talk_as("nobody", port)
        assert server.refused == 0
    finally:
        modem.host.call(server.close)


def test_the_socket_table_names_the_peer() -> None:
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as listener:
            listener.bind((address, 0))
            listener.listen()
            with socket.create_connection(listener.getsockname()[:2]) as client:
                accepted, _ = listener.accept()
                with accepted:
                    assert loopback_peer_uid(accepted) == os.getuid()
                    # Either end finds the other: the accepted socket's row names us too.
                    assert loopback_peer_uid(client) == os.getuid()


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.5.6.7") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.1") and not is_loopback("fe80::1%eth0")
    assert not is_loopback("not an address")


def test_the_command_line_flag() -> None:
    parser = build_parser()
    args = parser.parse_args(["modem", "link-in-cwd", "--rfc2217", "0"])
    assert make_plan(args).rfc2217_any_user is False
    args = parser.parse_args(["modem", "link-in-cwd", "--rfc2217-any-user"])
    assert make_plan(args).rfc2217_any_user is True
