"""A modem served on a pty and over RFC 2217 at once (``linelab modem --rfc2217``): one
DTE at a time, and a pty client that arrives while the RFC 2217 client has the modem
waits its turn instead of crashing the port.

Real time scaled 10x; every wait is a select() or pyserial read deadline.
"""

from __future__ import annotations

import asyncio
import os
import select
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort
from emulator.transports.rfc2217 import start_rfc2217_server

pytestmark = [
    pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning"),
]

DEADLINE = 10.0


class PtyClient:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        attrs = termios.tcgetattr(self.fd)
        attrs[2] |= termios.CLOCAL
        attrs[4] = attrs[5] = termios.B57600
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.buf = b""

    def expect(self, text: bytes) -> bytes:
        while text not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], DEADLINE)
            assert ready, f"expected {text!r}, got {self.buf!r}"
            self.buf += os.read(self.fd, 4096)
        head, _, self.buf = self.buf.partition(text)
        return head + text

    def silent(self, deadline: float) -> bool:
        """No output within `deadline` seconds (a select deadline, not a sleep)."""
        ready, _, _ = select.select([self.fd], [], [], deadline)
        return not ready

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[ModemHost, PtyPort, int, list[dict[str, Any]]]]:
    host = ModemHost.start_in_thread(time_scale=10.0, name="shared-modem")
    errors: list[dict[str, Any]] = []
    host.call(host.loop.set_exception_handler, lambda _loop, ctx: errors.append(ctx))
    modem = host.add_modem("A")
    port = host.call(PtyPort, modem, tmp_path / "modemA")
    coro = start_rfc2217_server(modem)
    server, tcp = asyncio.run_coroutine_threadsafe(coro, host.loop).result(DEADLINE)
    try:
        yield host, port, tcp, errors
    finally:
        host.call(server.close)
        host.call(port.close)
        host.close()


def test_pty_client_waits_while_rfc2217_client_has_the_modem(
    shared: tuple[ModemHost, PtyPort, int, list[dict[str, Any]]], tmp_path: Path
) -> None:
    host, port, tcp, errors = shared
    remote = serial.serial_for_url(f"rfc2217://127.0.0.1:{tcp}", timeout=DEADLINE)
    try:
        remote.write(b"AT\r")
        assert remote.read_until(b"OK\r\n").endswith(b"AT\r\r\nOK\r\n")
        local = PtyClient(tmp_path / "modemA")
        try:
            os.write(local.fd, b"ATZ\r")  # not the modem's DTE: ignored, no answer
            assert local.silent(0.5)
            remote.write(b"ATE0\r")  # the RFC 2217 client still has the modem
            assert remote.read_until(b"OK\r\n").endswith(b"OK\r\n")
            assert host.call(lambda: port.modem.port) is not port
            remote.close()  # the pty client takes the modem over
            os.write(local.fd, b"AT\r")
            # E0 from the RFC 2217 session stays: the local ATZ was discarded, not run
            assert local.expect(b"OK\r\n") == b"\r\nOK\r\n"
            assert host.call(lambda: port.modem.engine.dte_rate) == 57600
            assert host.call(lambda: port.modem.dtr)
        finally:
            local.close()
    finally:
        remote.close()
    assert errors == []
