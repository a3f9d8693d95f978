"""linelab.vtime: the clock jumps only while every actor waits."""

from __future__ import annotations

import asyncio
import operator
import os
import termios
import threading
import tty
from collections.abc import Iterator
from functools import partial

import pytest

from linelab.vtime import RealTime, VirtualTime


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def run_loop_in_thread(vt: VirtualTime) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = vt.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="vloop", daemon=True)
    thread.start()
    return loop, thread


@pytest.fixture
def loop(vt: VirtualTime) -> Iterator[asyncio.AbstractEventLoop]:
    loop, thread = run_loop_in_thread(vt)
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_lone_waiter_jumps_to_its_timeout(vt: VirtualTime) -> None:
    cond = threading.Condition()
    with cond:
        assert vt.wait(cond, lambda: False, 50.0) is False
    assert vt.now() == 50.0


def test_sleep_moves_virtual_time_only(vt: VirtualTime) -> None:
    vt.sleep(3600)
    assert vt.now() == 3600


def test_loop_timer_wakes_waiting_thread_at_virtual_deadline(
    vt: VirtualTime, loop: asyncio.AbstractEventLoop
) -> None:
    cond = threading.Condition()
    fired: list[float] = []

    def fire() -> None:
        with cond:
            fired.append(loop.time())
            vt.notify_all(cond)

    loop.call_soon_threadsafe(loop.call_later, 30, fire)
    with cond:
        assert vt.wait(cond, lambda: bool(fired), 100.0)
    assert fired == [30.0]
    assert vt.now() == 30.0


def test_waiter_timeout_before_loop_timer(
    vt: VirtualTime, loop: asyncio.AbstractEventLoop
) -> None:
    loop.call_soon_threadsafe(loop.call_later, 60, lambda: None)
    cond = threading.Condition()
    with cond:
        assert vt.wait(cond, lambda: False, 5.0) is False
    assert vt.now() == 5.0


def test_busy_actor_holds_time(vt: VirtualTime, loop: asyncio.AbstractEventLoop) -> None:
    # The test thread is an actor; while it is busy (here: talking to the loop through
    # real-time events, not a linelab wait) the loop's 10 s timer must not fire.
    fired = threading.Event()
    cond = threading.Condition()

    def fire() -> None:
        with cond:
            fired.set()
            vt.notify_all(cond)

    loop.call_soon_threadsafe(loop.call_later, 10, fire)
    for _ in range(20):
        ping = threading.Event()
        loop.call_soon_threadsafe(ping.set)
        assert ping.wait(5)
    assert not fired.is_set()
    assert vt.now() == 0.0
    with cond:
        vt.wait(cond, fired.is_set, 1.0)
    assert vt.now() == 1.0
    with cond:
        vt.wait(cond, fired.is_set, 20.0)
    assert fired.is_set()
    assert vt.now() == 10.0


def test_second_actor_thread_must_wait_too(
    vt: VirtualTime, loop: asyncio.AbstractEventLoop
) -> None:
    release = threading.Event()
    started = threading.Event()

    def busy_actor() -> None:
        vt.register_actor()
        started.set()
        release.wait(10)  # busy (not a linelab wait) until released
        vt.sleep(1000)  # then it waits too

    worker = threading.Thread(daemon=True, target=busy_actor)
    worker.start()
    assert started.wait(5)
    result: list[float] = []

    def main_waits() -> None:
        cond = threading.Condition()
        with cond:
            vt.wait(cond, lambda: False, 7.0)
        result.append(vt.now())

    waiter = threading.Thread(daemon=True, target=main_waits)
    waiter.start()  # it becomes an actor when it calls vt.wait()
    # The main thread stops being an actor so that only the two workers count.
    vt.unregister_actor()
    waiter.join(0.2)
    assert waiter.is_alive(), "time moved while an actor was busy"
    assert vt.now() == 0.0
    release.set()
    waiter.join(10)
    worker.join(10)
    assert result == [7.0]


def test_asyncio_sleep_runs_on_virtual_time(vt: VirtualTime) -> None:
    loop = vt.new_event_loop()
    vt.unregister_actor()
    try:

        async def nap() -> float:
            await asyncio.sleep(3600)
            return loop.time()

        assert loop.run_until_complete(nap()) == 3600.0
    finally:
        loop.close()


def test_real_time_scaled_wait_returns_predicate() -> None:
    rt = RealTime(scale=1000.0)
    cond = threading.Condition()
    with cond:
        assert rt.wait(cond, lambda: False, 1.0) is False  # 1 ms of wall time
    with cond:
        assert rt.wait(cond, lambda: True, 1.0) is True


def test_real_time_scaled_loop_runs_timers_faster() -> None:
    rt = RealTime(scale=1000.0)
    loop = rt.new_event_loop()
    try:

        async def nap() -> float:
            start = loop.time()
            await asyncio.sleep(2.0)  # 2 ms of wall time
            return loop.time() - start

        assert loop.run_until_complete(nap()) >= 2.0
    finally:
        loop.close()


def test_scale_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RealTime(scale=0)


def test_two_loops_share_one_clock(vt: VirtualTime) -> None:
    # Regression: after a jump made by one loop, the other loop was left marked busy
    # while asleep in select(), and the clock froze.
    first, t1 = run_loop_in_thread(vt)
    second, t2 = run_loop_in_thread(vt)
    cond = threading.Condition()
    fired: list[tuple[str, float]] = []

    def fire(name: str, loop: asyncio.AbstractEventLoop) -> None:
        with cond:
            fired.append((name, loop.time()))
            vt.notify_all(cond)

    try:
        first.call_soon_threadsafe(first.call_later, 10, fire, "first", first)
        second.call_soon_threadsafe(second.call_later, 20, fire, "second", second)
        first.call_soon_threadsafe(first.call_later, 30, fire, "first", first)
        with cond:
            assert vt.wait(cond, lambda: len(fired) == 3, 100.0)
        assert fired == [("first", 10.0), ("second", 20.0), ("first", 30.0)]
    finally:
        for loop, thread in ((first, t1), (second, t2)):
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


def test_work_posted_just_before_waiting_runs_before_any_jump() -> None:
    # Regression: a thread posted work to the loop and then waited; the loop, already
    # past its I/O poll, saw everyone waiting and jumped the clock to the thread's
    # time-out before running the work. With no grace period the window is widest.
    vt = VirtualTime(grace=0.0)
    loop, thread = run_loop_in_thread(vt)
    cond = threading.Condition()
    done: list[int] = []

    def work(i: int) -> None:
        with cond:
            done.append(i)
            vt.notify_all(cond)

    try:
        for i in range(2000):
            loop.call_soon_threadsafe(work, i)
            with cond:
                assert vt.wait(cond, partial(operator.contains, done, i), 10.0), (
                    f"jumped over work {i}"
                )
        assert vt.now() == 0.0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def at_least(buffer: bytearray, size: int) -> bool:
    return len(buffer) >= size


def _raw_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave, termios.TCSANOW)
    os.set_blocking(master, False)
    os.set_blocking(slave, False)
    return master, slave


def test_pty_bytes_in_flight_to_another_loop_arrive_before_any_jump() -> None:
    # Loop A writes into a pty and goes idle; loop B reads the other end. The bytes are
    # still in the kernel's pty work when A looks, and B's epoll has not woken yet: the
    # in-flight check must see them, with no grace period to hide behind.
    vt = VirtualTime(grace=0.0)
    writer, t1 = run_loop_in_thread(vt)
    reader, t2 = run_loop_in_thread(vt)
    master, slave = _raw_pty()
    cond = threading.Condition()
    got = bytearray()

    def readable() -> None:
        with cond:
            got.extend(os.read(slave, 4096))
            vt.notify_all(cond)

    try:
        reader.call_soon_threadsafe(reader.add_reader, slave, readable)
        for i in range(1, 501):
            writer.call_soon_threadsafe(os.write, master, b"x")
            with cond:
                assert vt.wait(cond, partial(at_least, got, i), 10.0), f"jumped over byte {i}"
        assert vt.now() == 0.0
    finally:
        reader.call_soon_threadsafe(reader.remove_reader, slave)
        for loop, thread in ((writer, t1), (reader, t2)):
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
        os.close(master)
        os.close(slave)


def test_no_grace_is_paid_while_nothing_is_in_flight(vt: VirtualTime) -> None:
    # A quiet pty on the loop: the clock jumps straight from timer to timer, and no
    # loop ever stops to listen for bytes that are not there.
    master, slave = _raw_pty()
    vt.unregister_actor()
    loop = vt.new_event_loop()

    async def body() -> None:
        loop.add_reader(master, os.read, master, 4096)
        try:
            for _ in range(100):
                await asyncio.sleep(60)
        finally:
            loop.remove_reader(master)

    try:
        loop.run_until_complete(body())
    finally:
        loop.close()
        os.close(master)
        os.close(slave)
    assert vt.now() == 6000
    assert vt.jumps >= 100
    assert vt.grace_waits == 0


def test_the_loop_that_jumps_is_not_kicked_and_keeps_its_in_flight_poll(vt: VirtualTime) -> None:
    """A jump wakes the other loops, not the one that made it (it runs its next pass
    anyway); the poll object of the in-flight check is made once per set of fds, and
    made again when the set changes, so bytes on a newly read fd still count."""
    master, slave = _raw_pty()
    other_master, other_slave = _raw_pty()
    vt.unregister_actor()
    loop = vt.new_event_loop()
    selector = loop._selector  # type: ignore[attr-defined]
    kicks = 0
    kick = selector.kick

    def counted_kick() -> None:
        nonlocal kicks
        kicks += 1
        kick()

    selector.kick = counted_kick
    polls: list[object] = []

    async def body() -> None:
        loop.add_reader(master, os.read, master, 4096)
        try:
            for _ in range(20):
                await asyncio.sleep(60)
                assert selector.in_flight_poll is not None
                polls.append(selector.in_flight_poll[1])
            loop.add_reader(other_slave, os.read, other_slave, 4096)
            await asyncio.sleep(60)
            assert selector.in_flight_poll[1] is not polls[-1]  # made again
            loop.remove_reader(other_slave)  # (the pass above has read nothing yet)
            loop.add_reader(other_slave, lambda: None)
            os.write(other_master, b"x")  # unread bytes on the new fd: in flight
            assert vt._bytes_in_flight(selector)
            loop.remove_reader(other_slave)
        finally:
            loop.remove_reader(master)

    try:
        loop.run_until_complete(body())
    finally:
        loop.close()
        for fd in (master, slave, other_master, other_slave):
            os.close(fd)
    assert vt.now() == 21 * 60 and vt.jumps >= 21
    assert kicks == 0
    assert len({id(p) for p in polls}) == 1  # one poll object for the 20 jumps
