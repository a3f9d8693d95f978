"""The shared transport suite on hub ports (emulator.transports.ports) that are virtual modems.

Two hubs, each one pty plus one modem, with both modems on one host (so they call each
other by number). One hub with two modems would not do: hub members hear each other, so
each modem would take the other's output for commands. Clients open the hub ptys with
pyserial and drop DTR the POSIX way (output speed B0), as on the pty transport.
"""

from __future__ import annotations

import functools
import termios
from collections.abc import Iterator

import pytest
import serial
from transport_suite import Endpoint, SerialLike, Transport, TransportSuite

from emulator.transports.host import ModemHost
from emulator.transports.ports import VirtualSerialPorts

TIME_SCALE = 10.0  # modem timers (guard time, S10, S25) ten times faster than real time


def pty_set_dtr(client: SerialLike, on: bool) -> None:
    """Drop or raise DTR the POSIX way: output speed B0, or back to the client's rate."""
    assert isinstance(client, serial.Serial) and client.fd is not None
    attrs = termios.tcgetattr(client.fd)
    attrs[4] = attrs[5] = termios.B115200 if on else termios.B0
    termios.tcsetattr(client.fd, termios.TCSANOW, attrs)


def open_port(path: str) -> SerialLike:
    return serial.Serial(path, baudrate=115200, timeout=10)


class TestHubTransport(TransportSuite):
    @pytest.fixture
    def transport(self) -> Iterator[Transport]:
        host = ModemHost.start_in_thread(time_scale=TIME_SCALE, name="hub-suite")
        hubs: list[VirtualSerialPorts] = []
        try:
            endpoints = []
            for name in ("A", "B"):
                hub = VirtualSerialPorts(1)
                hubs.append(hub)
                modem = hub.add_modem(name, host=host)
                (path,) = hub.__enter__()
                endpoints.append(
                    Endpoint(modem.number, functools.partial(open_port, path), pty_set_dtr)
                )
            yield Transport(a=endpoints[0], b=endpoints[1])
        finally:
            for hub in hubs:
                hub.close()
            assert not host.modems, "closing a hub removes its modem"
            host.close()
