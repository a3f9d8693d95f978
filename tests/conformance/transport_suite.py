"""The one transport test suite every transport must pass (trio's check_two_way_stream
idea, as a pytest base class).

What it checks, through two modems A and B on one exchange, each behind the transport
under test: echo, the AT round trip, a data call between the two modems (data both
ways), a DTR drop hanging up under &D2 (the far end sees NO CARRIER), closing and
reopening the port again and again with no stale output (no echo or result left
behind, no RING from a call that rang while the port was closed), and a 1 MiB burst
arriving intact through a data call.

Adding a transport
==================
Write ``tests/conformance/test_transport_<name>.py``::

    from transport_suite import Endpoint, Transport, TransportSuite

    class TestMyTransport(TransportSuite):
        @pytest.fixture
        def transport(self) -> Iterator[Transport]:
            ... start two modems A and B on one exchange, behind your transport ...
            yield Transport(
                a=Endpoint(number="1001", open=open_a, set_dtr=set_dtr),
                b=Endpoint(number="1002", open=open_b, set_dtr=set_dtr),
            )
            ... tear down: close everything, remove links ...

- ``open()`` returns a new *pyserial-like* client on that modem's port: ``write(bytes)``,
  ``read(n)``, ``read_until(expected)`` honouring its ``timeout`` (the suite sets it as a
  deadline), ``close()``. A ``serial.Serial`` or any ``serial.serial_for_url`` object
  fits. Each call to ``open()`` must be a fresh open of the port (the suite closes and
  reopens).
- ``set_dtr(client, on)`` drops or raises DTR the way your transport's clients do
  (``client.dtr = on`` for ``vmodem://`` and ``rfc2217://``; output speed B0 for ptys).
- Timers may run on real time or on a scaled clock (``--time-scale``); the suite only
  uses event waits with deadlines (``DEADLINE`` seconds of wall time), never sleeps.

The file is named without ``test_`` so pytest collects it only through subclasses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

DEADLINE = 30.0  # wall-clock seconds any single expectation may take
BURST = 1024 * 1024


class SerialLike(Protocol):
    """The part of ``serial.Serial`` the suite uses."""

    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def read_until(self, expected: bytes = ..., size: int | None = None) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class Endpoint:
    """One modem behind the transport."""

    number: str
    open: Callable[[], SerialLike]
    set_dtr: Callable[[SerialLike, bool], None]


@dataclass
class Transport:
    """Two modems on one exchange, each behind the transport under test."""

    a: Endpoint
    b: Endpoint


def expect(client: SerialLike, text: bytes, deadline: float = DEADLINE) -> bytes:
    """Read until `text` arrives (within `deadline` seconds); return everything read."""
    client.timeout = deadline
    got = client.read_until(text)
    assert got.endswith(text), f"expected {text!r} within {deadline} s, got {got!r}"
    return got


def command(client: SerialLike, line: bytes, final: bytes = b"OK\r\n") -> bytes:
    """Send an AT command line and wait for its final result."""
    client.write(line + b"\r")
    return expect(client, final)


def connected(t: Transport) -> tuple[SerialLike, SerialLike]:
    """Open A and B, call B from A, answer: both CONNECT, echo off on both."""
    a, b = t.a.open(), t.b.open()
    command(a, b"ATE0")
    command(b, b"ATE0")
    a.write(b"ATD" + t.b.number.encode() + b"\r")
    expect(b, b"RING\r\n")
    b.write(b"ATA\r")
    for side in (a, b):
        expect(side, b"CONNECT")
        expect(side, b"\r\n")
    return a, b


class TransportSuite:
    """Subclass with a ``transport`` fixture (see the module docstring)."""

    @pytest.fixture
    def transport(self) -> Iterator[Transport]:
        raise NotImplementedError("a transport test class must define the `transport` fixture")

    def test_echo(self, transport: Transport) -> None:
        a = transport.a.open()
        try:
            command(a, b"ATE1")
            a.write(b"AT\r")
            got = expect(a, b"OK\r\n")
            assert got == b"AT\r\r\nOK\r\n"
        finally:
            a.close()

    def test_at_round_trip(self, transport: Transport) -> None:
        a = transport.a.open()
        try:
            command(a, b"ATE0")
            assert command(a, b"AT") == b"\r\nOK\r\n"
            assert command(a, b"ATS7?") == b"\r\n050\r\n\r\nOK\r\n"
            assert command(a, b"ATBOGUS", final=b"ERROR\r\n") == b"\r\nERROR\r\n"
        finally:
            a.close()

    def test_data_call_both_ways(self, transport: Transport) -> None:
        a, b = connected(transport)
        try:
            a.write(b"hello B, this is A\n")
            expect(b, b"hello B, this is A\n")
            b.write(b"hello A, B here\n")
            expect(a, b"hello A, B here\n")
            eight_bit = bytes(range(256))
            a.write(eight_bit)
            b.timeout = DEADLINE
            assert b.read(256) == eight_bit
        finally:
            a.close()
            b.close()

    def test_dtr_drop_hangs_up_under_d2(self, transport: Transport) -> None:
        a, b = connected(transport)
        try:
            transport.b.set_dtr(b, False)
            expect(a, b"NO CARRIER\r\n")
            transport.b.set_dtr(b, True)
            command(b, b"AT")  # B is back in command mode, on hook
            command(a, b"AT")
        finally:
            a.close()
            b.close()

    def test_close_and_reopen_again_and_again(self, transport: Transport) -> None:
        for round_ in range(5):
            a = transport.a.open()
            try:
                a.write(b"ATE0\r")
                first = expect(a, b"OK\r\n")
                # The first bytes after an open answer this open's command: no stale
                # RING, NO CARRIER or echo from the previous client.
                assert first in (b"ATE0\r\r\nOK\r\n", b"\r\nOK\r\n"), (round_, first)
                assert command(a, b"AT") == b"\r\nOK\r\n"
                if round_ % 2:
                    # Leave output behind for nobody: it must not reach the next opener.
                    a.write(b"ATI\r")
                    a.timeout = DEADLINE
                    assert a.read(1) == b"\r"
            finally:
                a.close()

    def test_no_stale_ring_after_ringing_for_nobody(self, transport: Transport) -> None:
        b = transport.b.open()
        try:
            command(b, b"ATE0S7=10")  # give up after 10 s of modem time
            b.write(b"ATD" + transport.a.number.encode() + b"\r")
            # A rings while nobody has its port open, until B gives up.
            assert expect(b, b"NO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"
        finally:
            b.close()
        a = transport.a.open()
        try:
            a.write(b"ATE0\r")
            first = expect(a, b"OK\r\n")
            assert first in (b"ATE0\r\r\nOK\r\n", b"\r\nOK\r\n"), first  # no RING before it
        finally:
            a.close()

    def test_one_mib_burst_arrives_intact(self, transport: Transport) -> None:
        a, b = connected(transport)
        data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(BURST))
        # No "+++" sequence can occur with a guard time in a continuous burst, but keep
        # the payload free of long plus runs anyway.
        errors: list[BaseException] = []

        def send() -> None:
            try:
                view = memoryview(data)
                for offset in range(0, len(view), 65536):
                    a.write(bytes(view[offset : offset + 65536]))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        sender = threading.Thread(target=send, name="burst-sender", daemon=True)
        sender.start()
        try:
            received = bytearray()
            b.timeout = DEADLINE
            while len(received) < BURST:
                chunk = b.read(BURST - len(received))
                assert chunk, f"burst stalled after {len(received)} bytes"
                received += chunk
            sender.join(DEADLINE)
            assert not sender.is_alive() and not errors, errors
            assert len(received) == BURST
            assert received == data
        finally:
            a.close()
            b.close()
