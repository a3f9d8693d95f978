"""linelab.hupwatch: one epoll set per loop tells which pty masters hung up (real ptys,
no sleeps: the loop runs until the callback or a deadline)."""

from __future__ import annotations

import asyncio
import functools
import os

import pytest

from linelab.hupwatch import HupWatch, hung_up


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def test_hung_up_is_true_exactly_while_no_slave_is_open() -> None:
    master, slave = os.openpty()
    try:
        assert not hung_up(master)
        again = os.open(os.ttyname(slave), os.O_RDWR | os.O_NOCTTY)
        os.close(slave)
        assert not hung_up(master)  # one slave still open
        os.close(again)
        assert hung_up(master)
    finally:
        os.close(master)


@pytest.mark.timeout(30)
def test_one_set_for_many_masters_calls_back_only_the_one_that_hung_up() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = open_fds()
        pairs = [os.openpty() for _ in range(50)]
        watches = [HupWatch.for_loop(loop) for _ in pairs]
        assert all(w is watches[0] for w in watches)
        watch = watches[0]
        gone: list[int] = []
        left = loop.create_future()

        def on_hup(i: int) -> None:
            gone.append(i)
            watch.unwatch(pairs[i][0])
            if not left.done():
                left.set_result(None)

        for i, (master, _slave) in enumerate(pairs):
            watch.watch(master, functools.partial(on_hup, i))
        # Pty pairs, plus ONE descriptor for the whole set.
        assert len(open_fds() - before) == 2 * len(pairs) + 1
        os.close(pairs[7][1])
        await asyncio.wait_for(left, 10)
        assert gone == [7] and watch.watched == len(pairs) - 1
        for master, slave in pairs:
            watch.unwatch(master)
            os.close(master)
            if master != pairs[7][0]:
                os.close(slave)
        assert watch.watched == 0
        for w in watches:
            w.release()
        assert watch.closed
        assert open_fds() <= before  # the set's descriptor is closed with the last user

    asyncio.run(main())


@pytest.mark.timeout(30)
def test_idle_hung_up_masters_are_not_watched_so_the_loop_sleeps() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        os.close(slave)  # hung up, as every idle link of a farm is
        watch = HupWatch.for_loop(loop)
        calls: list[None] = []
        watch.watch(master, lambda: calls.append(None))
        watch.unwatch(master)  # the port's client left: no longer in the set
        selector = loop._selector  # type: ignore[attr-defined]
        assert watch.watched == 0
        assert selector.select(0) == []  # nothing readable: the loop would sleep
        watch.release()
        os.close(master)
        assert calls == []

    asyncio.run(main())
