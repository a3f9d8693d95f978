"""The shared transport suite on real ptys (emulator.transports.pty), opened with pyserial."""

from __future__ import annotations

import functools
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from transport_suite import Endpoint, SerialLike, Transport, TransportSuite

from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort

TIME_SCALE = 10.0  # modem timers (guard time, S10, S25) ten times faster than real time


def pty_set_dtr(client: SerialLike, on: bool) -> None:
    """Drop or raise DTR the POSIX way: output speed B0, or back to the client's rate."""
    assert isinstance(client, serial.Serial) and client.fd is not None
    attrs = termios.tcgetattr(client.fd)
    speed = termios.B0 if not on else termios.B115200
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(client.fd, termios.TCSANOW, attrs)


def open_link(link: Path) -> SerialLike:
    return serial.Serial(str(link), baudrate=115200, timeout=10)


class TestPtyTransport(TransportSuite):
    @pytest.fixture
    def transport(self, tmp_path: Path) -> Iterator[Transport]:
        host = ModemHost.start_in_thread(time_scale=TIME_SCALE)
        ports: list[PtyPort] = []
        try:
            endpoints = []
            for name in ("A", "B"):
                modem = host.add_modem(name)
                link = tmp_path / f"modem{name}"
                ports.append(host.call(PtyPort, modem, link))
                endpoints.append(
                    Endpoint(
                        number=modem.number,
                        open=functools.partial(open_link, link),
                        set_dtr=pty_set_dtr,
                    )
                )
            yield Transport(a=endpoints[0], b=endpoints[1])
        finally:
            for port in ports:
                host.call(port.close)
            host.close()
        assert not any(p.is_symlink() for p in tmp_path.iterdir())
