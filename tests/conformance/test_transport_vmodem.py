"""The shared transport suite on ``vmodem://`` (emulator.transports.vmodem), opened
with pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial
from transport_suite import Endpoint, SerialLike, Transport, TransportSuite

import emulator  # noqa: F401 - registers vmodem://
from emulator.transports.host import ModemHost
from emulator.transports.vmodem import set_default_host

TIME_SCALE = 10.0  # modem timers ten times faster than real time; port time-outs real


def vmodem_set_dtr(client: SerialLike, on: bool) -> None:
    assert isinstance(client, serial.SerialBase)
    client.dtr = on


def opener(name: str) -> SerialLike:
    port: SerialLike = serial.serial_for_url(f"vmodem://{name}", timeout=10)
    return port


class TestVmodemTransport(TransportSuite):
    @pytest.fixture
    def transport(self) -> Iterator[Transport]:
        host = ModemHost.start_in_thread(time_scale=TIME_SCALE, name="vmodem-suite")
        previous = set_default_host(host)
        try:
            a, b = host.add_modem("A"), host.add_modem("B")
            yield Transport(
                a=Endpoint(a.number, lambda: opener("A"), vmodem_set_dtr),
                b=Endpoint(b.number, lambda: opener("B"), vmodem_set_dtr),
            )
        finally:
            set_default_host(previous)
            host.close()
