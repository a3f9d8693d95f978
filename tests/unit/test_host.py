"""emulator.transports.host: modems and the exchange driven by one asyncio loop.

Most tests run the host on a `linelab.vtime` virtual-time loop, so ringing and S7
waits take no wall time; one runs it in a service thread on real time.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from emulator.core.engine import Signals
from emulator.transports.host import MAX_PASSES, HostedModem, ModemHost
from linelab.clock import LoopClock
from linelab.vtime import VirtualTime

T = TypeVar("T")


class MemPort:
    """An in-memory transport: pulls output unless `paused`, records every callback."""

    def __init__(self, modem: HostedModem) -> None:
        self.modem = modem
        self.received = bytearray()
        self.signals: list[Signals] = []
        self.room_calls = 0
        self.paused = False
        self.changed = asyncio.Event()

    def output_ready(self) -> None:
        if not self.paused:
            self.received += self.modem.read()
            self.changed.set()

    def room_available(self) -> None:
        self.room_calls += 1
        self.changed.set()

    def signals_changed(self, signals: Signals) -> None:
        self.signals.append(signals)
        self.changed.set()

    async def expect(self, text: bytes, timeout: float = 120.0) -> None:
        """Wait (on the loop's clock) until `text` has arrived; consume up to it."""
        async with asyncio.timeout(timeout):
            while text not in self.received:
                self.changed.clear()
                await self.changed.wait()
        end = self.received.index(text) + len(text)
        del self.received[:end]

    def type(self, text: bytes) -> None:
        assert self.modem.feed(text) == len(text)


@pytest.fixture
def vrun() -> Iterator[Callable[[Callable[[], Awaitable[T]]], T]]:
    """Run a coroutine function on a fresh virtual-time loop."""
    vt = VirtualTime()
    vt.unregister_actor()
    loop = vt.new_event_loop()

    def run(fn: Callable[[], Awaitable[T]]) -> T:
        async def main() -> T:
            return await fn()

        return loop.run_until_complete(main())

    yield run
    loop.close()


def attached(host: ModemHost, name: str, number: str | None = None) -> tuple[HostedModem, MemPort]:
    modem = host.add_modem(name, number)
    port = MemPort(modem)
    modem.attach(port)
    modem.set_dtr(True)
    return modem, port


async def connect(host: ModemHost) -> tuple[MemPort, MemPort]:
    _, a = attached(host, "A", "1001")
    _, b = attached(host, "B", "1002")
    a.type(b"ATD1002\r")
    await b.expect(b"RING")
    b.type(b"ATA\r")
    for port in (a, b):
        await port.expect(b"CONNECT")
        await port.expect(b"\r\n")
    return a, b


def test_at_round_trip(vrun: Callable[[Callable[[], Awaitable[None]]], None]) -> None:
    async def body() -> None:
        host = ModemHost()
        _, port = attached(host, "A")
        port.type(b"AT\r")
        await port.expect(b"OK\r\n", timeout=1)
        host.close()

    vrun(body)


def test_numbers_default_from_1001_and_skip_taken(
    vrun: Callable[[Callable[[], Awaitable[list[str]]]], list[str]],
) -> None:
    async def body() -> list[str]:
        host = ModemHost()
        host.add_modem("X", "1001")
        numbers = [host.add_modem(n).number for n in ("A", "B")]
        with pytest.raises(ValueError, match="already exists"):
            host.add_modem("A")
        host.close()
        return numbers

    assert vrun(body) == ["1002", "1003"]


def test_call_connects_and_carries_data_both_ways(
    vrun: Callable[[Callable[[], Awaitable[None]]], None],
) -> None:
    async def body() -> None:
        host = ModemHost()
        a, b = await connect(host)
        assert a.signals[-1].dcd and b.signals[-1].dcd
        a.type(b"hello from A")
        b.type(b"hello from B")
        await b.expect(b"hello from A")
        await a.expect(b"hello from B")
        host.close()

    vrun(body)


def test_ringing_and_s7_follow_the_loop_clock(
    vrun: Callable[[Callable[[], Awaitable[float]]], float],
) -> None:
    async def body() -> float:
        loop = asyncio.get_running_loop()
        host = ModemHost()
        host.exchange.set_far("5550000", "noanswer")
        _, a = attached(host, "A")
        start = loop.time()
        a.type(b"ATD5550000\r")
        await a.expect(b"NO CARRIER", timeout=200)
        host.close()
        return loop.time() - start

    waited = vrun(body)
    assert 50 <= waited < 60  # S7 = 50 s of (virtual) loop time


def test_time_scale_runs_timers_faster(
    vrun: Callable[[Callable[[], Awaitable[float]]], float],
) -> None:
    async def body() -> float:
        loop = asyncio.get_running_loop()
        host = ModemHost(time_scale=10.0)
        assert isinstance(host.clock, LoopClock) and host.clock.scale == 10.0
        host.exchange.set_far("5550000", "noanswer")
        _, a = attached(host, "A")
        start = loop.time()
        a.type(b"ATD5550000\r")
        await a.expect(b"NO CARRIER", timeout=200)
        host.close()
        return loop.time() - start

    waited = vrun(body)
    assert 5 <= waited < 6  # the same 50 s S7, ten times faster


@pytest.mark.parametrize("scale", [3.0, 7.0, 10.0, 0.1, 1e-3])
def test_scaled_timer_never_fires_early(scale: float) -> None:
    loop = asyncio.new_event_loop()
    try:
        host = ModemHost(loop, time_scale=scale)
        for deadline in (0.1, 1.0 / 3.0, 12345.678, 2.0**40 / 3.0):
            assert host._loop_time(deadline) * scale >= deadline
            assert math.isclose(host._loop_time(deadline) * scale, deadline)
        host.close()
    finally:
        loop.close()


def test_back_pressure_reaches_the_sender_and_nothing_is_lost(
    vrun: Callable[[Callable[[], Awaitable[None]]], None],
) -> None:
    async def body() -> None:
        host = ModemHost()
        a, b = await connect(host)
        b.paused = True
        sent = bytearray()
        block = bytes(range(256)) * 16
        # A sends until its room is gone (B's DTE reads nothing).
        for _ in range(100):
            room = a.modem.dte_room()
            if room == 0:
                break
            sent += block[: min(room, len(block))]
            a.type(block[: min(room, len(block))])
            await asyncio.sleep(0)
        await asyncio.sleep(1)
        assert a.modem.dte_room() == 0
        assert a.room_calls == 0
        # B starts reading: A is told it may send again, and every byte arrives.
        b.paused = False
        b.output_ready()
        a.changed = b.changed  # one event for both ports' callbacks
        async with asyncio.timeout(10):
            while a.room_calls == 0 or len(b.received) < len(sent):
                b.changed.clear()
                await b.changed.wait()
        assert a.room_calls >= 1
        assert bytes(b.received) == bytes(sent)
        host.close()

    vrun(body)


def test_output_is_discarded_while_detached_and_detach_drops_dtr(
    vrun: Callable[[Callable[[], Awaitable[None]]], None],
) -> None:
    async def body() -> None:
        host = ModemHost()
        _, a = attached(host, "A", "1001")
        b_modem, b = attached(host, "B", "1002")
        b_modem.detach()
        assert not b_modem.dtr
        a.type(b"ATD1002\r")
        await asyncio.sleep(13)  # two ring bursts at B with nobody listening
        assert b_modem.discarded > 0
        assert b_modem.pending() == 0
        b_modem.attach(b)
        b_modem.set_dtr(True)
        b.type(b"AT\r")
        await b.expect(b"OK")
        assert b"RING" not in b.received
        host.close()

    vrun(body)


def test_signal_watchers_see_every_change_and_can_unsubscribe(
    vrun: Callable[[Callable[[], Awaitable[None]]], None],
) -> None:
    async def body() -> None:
        host = ModemHost()
        seen: list[Signals] = []
        a_modem = host.add_modem("A", "1001")
        unwatch = a_modem.watch_signals(seen.append)
        a = MemPort(a_modem)
        a_modem.attach(a)
        _, b = attached(host, "B", "1002")
        a.type(b"ATD1002\r")
        await b.expect(b"RING")
        b.type(b"ATA\r")
        await a.expect(b"CONNECT")
        assert seen and seen[-1].dcd
        unwatch()
        count = len(seen)
        await asyncio.sleep(1.5)  # S12 guard time before the escape
        b.type(b"+++")
        await b.expect(b"OK", timeout=5)
        b.type(b"ATH\r")
        await a.expect(b"NO CARRIER")
        assert len(seen) == count
        assert not a.signals[-1].dcd
        host.close()

    vrun(body)


def test_attach_refuses_a_second_transport() -> None:
    loop = asyncio.new_event_loop()
    try:
        host = ModemHost(loop)
        modem = host.add_modem("A")
        modem.attach(MemPort.__new__(MemPort))
        with pytest.raises(RuntimeError, match="already has a transport"):
            modem.attach(MemPort.__new__(MemPort))
        host.close()
    finally:
        loop.close()


def test_service_thread_host_is_thread_safe() -> None:
    host = ModemHost.start_in_thread()
    try:
        got = threading.Event()
        received = bytearray()

        class ThreadPort:
            def output_ready(self) -> None:
                received.extend(modem.read())
                if b"OK" in received:
                    got.set()

            def room_available(self) -> None:
                pass

            def signals_changed(self, signals: Signals) -> None:
                pass

        modem = host.add_modem("A")  # from this (non-loop) thread
        assert modem.number == "1001"
        host.call(modem.attach, ThreadPort())
        assert host.call(modem.feed, b"AT\r") == 3
        assert got.wait(10), "no OK from the service-thread host"
        host.remove_modem("A")
        assert host.modems == {}
        assert host.exchange.numbers() == []
    finally:
        host.close()
    assert host._thread is None


def test_release_listeners_run_after_a_detach_frees_the_modem() -> None:
    loop = asyncio.new_event_loop()
    try:
        host = ModemHost(loop)
        modem = host.add_modem("A")
        released: list[object] = []
        modem.release_listeners.append(lambda: released.append(modem.port))
        modem.attach(MemPort.__new__(MemPort))
        loop.run_until_complete(asyncio.sleep(0))  # one loop pass: nothing released yet
        assert released == []
        modem.detach()
        assert released == []  # run soon on the loop, never inside detach()
        loop.run_until_complete(asyncio.sleep(0))
        assert released == [None]  # the modem was free when the listener ran
        host.close()
    finally:
        loop.close()


def test_a_service_pass_visits_only_the_modems_that_changed(
    vrun: Callable[[Callable[[], Awaitable[None]]], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One AT on one of 200 modems costs passes over that modem, not over all 200 (the
    host's start-up and every command were O(modems) per pass, O(n²) for a farm)."""
    visited: list[str] = []
    real = HostedModem._service

    def counting(self: HostedModem) -> None:
        visited.append(self.name)
        real(self)

    monkeypatch.setattr(HostedModem, "_service", counting)

    async def body() -> None:
        host = ModemHost()
        ports = [attached(host, f"M{i}")[1] for i in range(200)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        visited.clear()
        ports[7].type(b"AT\r")
        await ports[7].expect(b"OK\r\n", timeout=1)
        assert visited and set(visited) == {"M7"}
        host.close()

    vrun(body)


def test_run_pending_delivers_a_reply_and_forwarded_data_in_the_same_callback(
    vrun: Callable[[Callable[[], Awaitable[None]]], None],
) -> None:
    """A transport's I/O callback (hold ... run_pending) writes what its input caused
    before it returns: the AT reply, and data that crossed the exchange to the other
    modem, with no further loop iteration and no loop handle left behind."""

    async def body() -> None:
        host = ModemHost()
        a, b = await connect(host)
        loop = asyncio.get_running_loop()
        scheduled = len(loop._ready)  # type: ignore[attr-defined]
        host.hold()
        a.type(b"data for B")
        assert not b.received  # nothing runs before run_pending()
        host.run_pending()
        assert bytes(b.received) == b"data for B"
        assert len(loop._ready) == scheduled  # type: ignore[attr-defined]
        b.received.clear()
        # Without hold(), the same bytes need the loop (a scheduled pass) to arrive.
        a.type(b"later")
        assert not b.received
        await b.expect(b"later")
        host.close()

    vrun(body)


def test_a_pass_that_keeps_finding_work_yields_to_the_loop(
    vrun: Callable[[Callable[[], Awaitable[None]]], None],
) -> None:
    """Passes repeat in one callback at most MAX_PASSES times; the rest waits for the
    next loop iteration (a component that always has work cannot starve the loop)."""

    async def body() -> None:
        host = ModemHost()
        modem, _port = attached(host, "A")
        await asyncio.sleep(0)  # the pass the attach asked for
        passes = 0
        original = host._pass

        def counting() -> None:
            nonlocal passes
            passes += 1
            original()
            host.touch(modem)  # always more work

        host._pass = counting  # type: ignore[method-assign]
        host.hold()
        host.run_pending()
        assert passes == 0  # nothing was due
        host.touch(modem)
        host.hold()
        host.run_pending()
        assert passes == MAX_PASSES
        assert host._service_handle is not None  # the rest: next loop iteration
        await asyncio.sleep(0)
        assert passes > MAX_PASSES
        host._pass = original  # type: ignore[method-assign]
        host.close()

    vrun(body)
