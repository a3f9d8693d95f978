"""The shared transport suite on RFC 2217 (emulator.transports.rfc2217), with pyserial's
``rfc2217://`` client as the reference peer."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator

import pytest
import serial
from transport_suite import Endpoint, SerialLike, Transport, TransportSuite

from emulator.transports.host import ModemHost
from emulator.transports.rfc2217 import RFC2217Server, start_rfc2217_server

TIME_SCALE = 10.0

# pyserial 3.5's rfc2217 client starts its reader with Thread.setDaemon/setName
# (deprecated since Python 3.10); that is the reference peer's quirk, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning"),
]


def rfc2217_set_dtr(client: SerialLike, on: bool) -> None:
    assert isinstance(client, serial.SerialBase)
    client.dtr = on


def opener(port: int) -> SerialLike:
    client: SerialLike = serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", timeout=10)
    return client


class TestRfc2217Transport(TransportSuite):
    @pytest.fixture
    def transport(self) -> Iterator[Transport]:
        host = ModemHost.start_in_thread(time_scale=TIME_SCALE, name="rfc2217-suite")
        servers: list[RFC2217Server] = []
        try:
            endpoints = []
            for name in ("A", "B"):
                modem = host.add_modem(name)
                coro = start_rfc2217_server(modem)
                server, port = asyncio.run_coroutine_threadsafe(coro, host.loop).result(10)
                servers.append(server)
                endpoints.append(
                    Endpoint(modem.number, functools.partial(opener, port), rfc2217_set_dtr)
                )
            yield Transport(a=endpoints[0], b=endpoints[1])
        finally:
            for server in servers:
                host.call(server.close)
                asyncio.run_coroutine_threadsafe(server.wait_closed(), host.loop).result(10)
            host.close()
