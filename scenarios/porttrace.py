"""The AT transcript of a real modem (`PortWorld`): what the modem provider and the raw
``send:`` steps wrote to its port and what came back, as `TraceRecord`s.

The virtual world's modems record themselves; a real modem cannot, so the recording is
taken on the DTE side instead: a driver factory for `ModemProvider` that opens the port
as usual (`tapi.providers.serialport.open_driver`) and notes every chunk read
(``modem>dte``), written (``dte>modem``) and every DTR change (``line``), and a
`TracedPort` around the runner's own pyserial port for ``send:`` steps. Times are real
seconds since the world started. So `linelab run --port URL --record DIR` keeps the
modem's real dialogue, which `linelab replay` then serves in CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import serial

from emulator.core.tracerecord import TraceKind, TraceRecord, TraceSink
from tapi.providers.modem import DriverFactory
from tapi.providers.serialport import (
    DataCallback,
    DrainedCallback,
    GoneCallback,
    PortDriver,
    open_driver,
)


def traced_driver_factory(
    sink: TraceSink, names: dict[str, str], now: Callable[[], float]
) -> DriverFactory:
    """A `DriverFactory` whose drivers report to `sink`; `names` maps a port to the
    modem name its records carry (default: the port itself)."""

    def factory(
        port: str,
        loop: asyncio.AbstractEventLoop,
        on_data: DataCallback,
        on_gone: GoneCallback,
        on_drained: DrainedCallback | None = None,
        *,
        baudrate: int = 115200,
    ) -> PortDriver:
        name = names.get(port, port)

        def note(kind: TraceKind, data: bytes | str) -> None:
            sink(TraceRecord(now(), name, kind, data))

        def data_in(data: bytes) -> None:
            note("modem>dte", bytes(data))
            on_data(data)

        driver = open_driver(port, loop, data_in, on_gone, on_drained, baudrate=baudrate)
        write, set_dtr = driver.write, driver.set_dtr

        def traced_write(data: bytes) -> None:
            if data and not driver.closed:
                note("dte>modem", bytes(data))
            write(data)

        def traced_set_dtr(on: bool) -> None:
            if not driver.closed:
                note("line", f"DTR={int(on)}")
            set_dtr(on)

        # On this one instance: the provider calls them as driver.write / set_dtr.
        setattr(driver, "write", traced_write)  # noqa: B010
        setattr(driver, "set_dtr", traced_set_dtr)  # noqa: B010
        return driver

    return factory


class TracedPort:
    """The runner's pyserial port for ``send:`` steps, noting what crosses it."""

    def __init__(
        self, port: serial.SerialBase, name: str, sink: TraceSink, now: Callable[[], float]
    ) -> None:
        self._port = port
        self._name = name
        self._sink = sink
        self._now = now

    def write(self, data: bytes) -> int | None:
        self._sink(TraceRecord(self._now(), self._name, "dte>modem", bytes(data)))
        return self._port.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self._port.read(size)
        if data:
            self._sink(TraceRecord(self._now(), self._name, "modem>dte", bytes(data)))
        return data

    @property
    def timeout(self) -> float | None:
        return self._port.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._port.timeout = value

    @property
    def in_waiting(self) -> int:
        return int(getattr(self._port, "in_waiting", 0))

    def close(self) -> None:
        self._port.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


__all__ = ["TracedPort", "traced_driver_factory"]
