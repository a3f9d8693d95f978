"""Time sources shared by the TAPI stack, the emulator host and scenario runs.

How virtual time works
======================

The rule (docs/ARCHITECTURE.md, "Time"): **virtual time advances only while every actor
is waiting in a linelab wait**. There are two kinds of actor:

- event loops made by `VirtualTime.new_event_loop()`. A loop is "waiting" when it has
  nothing runnable: no ready callbacks, and no I/O ready on any of its file
  descriptors. Before the clock jumps, one poll(2) over the fds that *every* loop reads
  checks that no byte is in flight: a Linux pty hands written bytes to the other end
  through deferred kernel work, so epoll can briefly say "nothing is readable" while
  data is on its way, and a loop that wrote into a pty can go idle before the loop that
  reads the other end has woken. poll asks each tty, which first runs that work. Only
  when bytes are in flight does a loop listen for a short real-time grace (`grace`,
  20 ms by default) before it looks again; an idle jump costs no real time. (Earlier
  every jump paid the grace: 2 ms had been too short under load, 20 ms reliable, at
  26 ms of wall time per jump; bench/virtual_time.py gives the figures);
- threads that call `VirtualTime.wait()` (a TAPI app blocked in lineGetMessage, a
  scenario step, a test). The thread that made the `VirtualTime`, and every thread
  that has ever called `wait()` or `register_actor()`, is an actor for as long as it
  lives. While such a thread is outside `wait()` it is busy, and time stands still:
  a test that is thinking between OFFERING and lineAnswer holds the clock.

When every actor waits, the clock jumps straight to the earliest deadline: the next
timer of any loop, or the time-out of any waiting thread. Waiting threads whose
time-out has come are woken; loops recompute their timers and run them.

Waking a thread early is the job of whoever changes the state it waits on, and it must
go through `notify_all(cond)` (holding `cond`), not `cond.notify_all()`: the time source
then knows that the thread is about to run, and will not jump the clock over it in the
instant before it is scheduled.

`RealTime` has the same interface on the monotonic clock, optionally scaled (a scale of
10 makes every time-out ten times shorter in wall time), so that code written against a
`TimeSource` runs unchanged in production, in `linelab modem --time-scale`, and in
virtual-time tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import selectors
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from linelab.clock import Clock, check_scale


class TimeSource(Clock, Protocol):
    """A `linelab.clock.Clock` that can also block: the clock and the waits of a stack,
    a host or a scenario run (see linelab.clock for the whole family)."""

    def now(self) -> float:
        """Seconds on this source's clock (only differences are meaningful)."""

    def wait(
        self, cond: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        """Like ``cond.wait_for(predicate, timeout)``, called with `cond` held; the time-out
        is in this source's seconds. Returns the predicate's last value."""

    def notify_all(self, cond: threading.Condition) -> None:
        """Wake every thread waiting on `cond` (call with `cond` held)."""

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass on this clock (an actor waiting for nothing)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """A new event loop whose ``time()`` is this source's clock."""


# --------------------------------------------------------------------------------------
# Real (optionally scaled) time
# --------------------------------------------------------------------------------------


class RealTime:
    """The monotonic clock, run `scale` times faster than the wall clock."""

    def __init__(self, scale: float = 1.0) -> None:
        check_scale(scale)
        self.scale = scale
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.scale

    def wall(self) -> datetime:
        return datetime.now()

    def wait(
        self, cond: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        return cond.wait_for(
            predicate, None if timeout is None else max(0.0, timeout) / self.scale
        )

    def notify_all(self, cond: threading.Condition) -> None:
        cond.notify_all()

    def sleep(self, seconds: float) -> None:
        # A real-time sleep is what an actor asked for here: this *is* the injected clock.
        threading.Event().wait(max(0.0, seconds) / self.scale)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        if self.scale == 1.0:
            return asyncio.new_event_loop()
        return _TimedLoop(_ScaledSelector(self.scale), self.now)

    def __repr__(self) -> str:
        return f"RealTime(scale={self.scale!r})"


class _ScaledSelector(selectors.DefaultSelector):
    """Waits `timeout / scale` real seconds, so that a loop's scaled timers fire on time."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self._scale = scale

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            timeout /= self._scale
        return super().select(timeout)


class _TimedLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose `time()` comes from a given clock function."""

    def __init__(self, selector: selectors.BaseSelector, clock: Callable[[], float]) -> None:
        self._linelab_clock = clock
        super().__init__(selector)

    def time(self) -> float:
        return self._linelab_clock()


# --------------------------------------------------------------------------------------
# Virtual time
# --------------------------------------------------------------------------------------


@dataclass
class _Waiter:
    deadline: float | None
    cond: threading.Condition
    woken: bool = False


class VirtualTime:
    """A clock that jumps to the next deadline once every actor waits (see module doc).

    `grace` is the real time a loop listens for I/O when bytes are in flight on an fd
    some loop reads, before it looks again (see the module docstring).
    """

    def __init__(self, start: float = 0.0, *, grace: float = 0.02) -> None:
        self._now = start
        self.grace = grace
        self._lock = threading.Lock()
        self._actors: dict[int, threading.Thread] = {}
        self._waiters: dict[int, _Waiter] = {}
        # loop selector -> its next timer (virtual) while idle, or _BUSY
        self._loops: weakref.WeakKeyDictionary[_VirtualSelector, Any] = weakref.WeakKeyDictionary()
        self.jumps = 0
        # How often a loop listened for the grace because bytes were in flight.
        self.grace_waits = 0
        # Bumped whenever an actor starts or resumes waiting. A loop that saw everyone
        # waiting polls its I/O once more and jumps only if this has not moved since:
        # an actor posts its work to the loop *before* it starts to wait, so anything
        # posted by an actor counted as waiting is already visible to that poll.
        self._generation = 0
        self.register_actor()

    # -- the clock ---------------------------------------------------------------------
    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by hand (for single-threaded tests); wakes time-outs."""
        if seconds < 0:
            raise ValueError(f"cannot move time backwards by {seconds}")
        with self._lock:
            self._now += seconds
            due = self._due_locked()
        self._wake(due)
        self._kick_loops()

    # -- actors --------------------------------------------------------------------------
    def register_actor(self, thread: threading.Thread | None = None) -> None:
        """Count `thread` (default: the calling thread) as an actor while it lives."""
        thread = thread or threading.current_thread()
        if thread.ident is None:
            raise ValueError(f"{thread.name} has not started; register it from inside")
        with self._lock:
            self._actors[thread.ident] = thread

    def unregister_actor(self, thread: threading.Thread | None = None) -> None:
        """Stop counting `thread` (default: the calling thread) as an actor."""
        thread = thread or threading.current_thread()
        with self._lock:
            self._actors.pop(thread.ident or 0, None)
        self._kick_loops()

    def wait(
        self, cond: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        result = predicate()
        if result or (timeout is not None and timeout <= 0):
            return result
        me = threading.get_ident()
        with self._lock:
            deadline = None if timeout is None else self._now + timeout
            self._actors.setdefault(me, threading.current_thread())
            waiter = _Waiter(deadline, cond)
            self._waiters[me] = waiter
            self._generation += 1
        try:
            while True:
                self._after_wait_registered()
                result = predicate()
                if result:
                    return True
                with self._lock:
                    if deadline is not None and self._now >= deadline:
                        return False
                    waiter.woken = False
                    self._generation += 1
                # The real-time bound only guards against a lost wake-up; correctness
                # comes from notify_all() and from the clock jumps.
                cond.wait(0.5)
        finally:
            with self._lock:
                self._waiters.pop(me, None)

    def notify_all(self, cond: threading.Condition) -> None:
        with self._lock:
            for waiter in self._waiters.values():
                if waiter.cond is cond:
                    waiter.woken = True
        cond.notify_all()

    def sleep(self, seconds: float) -> None:
        cond = threading.Condition()
        with cond:
            self.wait(cond, lambda: False, seconds)

    # -- loops ---------------------------------------------------------------------------
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        selector = _VirtualSelector(self)
        with self._lock:
            self._loops[selector] = _BUSY
        return _TimedLoop(selector, self.now)

    # -- internals -----------------------------------------------------------------------
    def _all_waiting_locked(self) -> bool:
        for ident, thread in list(self._actors.items()):
            if not thread.is_alive():
                del self._actors[ident]
                continue
            waiter = self._waiters.get(ident)
            if waiter is None or waiter.woken:
                return False
        return all(state is not _BUSY for state in self._loops.values())

    def _due_locked(self) -> list[threading.Condition]:
        due = []
        for waiter in self._waiters.values():
            if waiter.deadline is not None and waiter.deadline <= self._now and not waiter.woken:
                waiter.woken = True
                due.append(waiter.cond)
        return due

    def _next_deadline_locked(self) -> float | None:
        """The earliest deadline if every actor waits (else, or with none, None)."""
        if not self._all_waiting_locked():
            return None
        deadlines = [w.deadline for w in self._waiters.values() if w.deadline is not None]
        deadlines += [d for d in self._loops.values() if d is not None and d is not _IDLE]
        return min(deadlines) if deadlines else None

    def _try_jump(
        self, generation: int | None = None, jumper: _VirtualSelector | None = None
    ) -> bool:
        """If every actor waits, jump to the earliest deadline and wake who is due.
        With `generation`, only if no actor has started waiting since it was read.
        `jumper`, the selector of the loop that jumps, is not kicked: it runs its next
        pass anyway, and a kick would cost it a write, a read and an extra poll."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return False
            target = self._next_deadline_locked()
            if target is None:
                return False
            if target > self._now:
                self._now = target
            self.jumps += 1
            due = self._due_locked()
            # Every loop must look at the new time before the clock may move again: mark
            # them all busy and wake them (a loop asleep in select() stays marked busy
            # until it has run a pass, so no second jump can overtake it).
            loops = list(self._loops)
            for selector in loops:
                self._loops[selector] = _BUSY
        self._wake(due)
        for selector in loops:
            if selector is not jumper:
                selector.kick()
        return True

    def _after_wait_registered(self) -> None:
        # A thread has started (or resumed) waiting: the loops may now be able to jump,
        # and with no loop at all the waiting thread itself moves the clock.
        with self._lock:
            has_loops = bool(self._loops)
        if has_loops:
            self._kick_loops()
        else:
            self._try_jump()

    def _bytes_in_flight(self, asker: _VirtualSelector) -> bool:
        """Whether bytes wait on any fd that a loop of this time source reads.

        One poll(2) over them all: unlike epoll, poll asks each fd's driver, and a tty's
        (n_tty_poll) first runs the pty work that carries written bytes to the other
        end, so bytes still in the kernel between a pty's two ends count. (FIONREAD
        alone does not flush that work: it missed 5 of 2000 fresh writes in a test.)
        The poll object is kept by `asker` (a poll object is for one thread at a time)
        until the set of fds changes."""
        with self._lock:
            sets = tuple(selector.read_fds for selector in self._loops)
        cached = asker.in_flight_poll
        if cached is not None and cached[0] == sets:
            poller = cached[1]
        else:
            fds = frozenset().union(*sets)
            if not fds:
                return False
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN | select.POLLPRI)
            asker.in_flight_poll = (sets, poller)
        return any(
            events & (select.POLLIN | select.POLLPRI) and not events & select.POLLNVAL
            for _, events in poller.poll(0)
        )

    @staticmethod
    def _wake(conds: list[threading.Condition]) -> None:
        for cond in conds:
            with cond:
                cond.notify_all()

    def _kick_loops(self) -> None:
        with self._lock:
            selectors_ = [s for s, state in self._loops.items() if state is not _BUSY]
        for selector in selectors_:
            selector.kick()

    def __repr__(self) -> str:
        return f"VirtualTime(now={self._now!r})"


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_BUSY = _Sentinel("BUSY")  # the loop is running callbacks
_IDLE = _Sentinel("IDLE")  # the loop is idle with no timer


class _VirtualSelector(selectors.DefaultSelector):
    """The selector of a virtual-time loop: polls I/O, then lets the clock jump."""

    def __init__(self, vt: VirtualTime) -> None:
        super().__init__()
        self._vt = vt
        self._kick_r, self._kick_w = _pipe()
        super().register(self._kick_r, selectors.EVENT_READ)
        # The fds this loop reads (its self-pipe, ptys, sockets; not the kick pipe), for
        # the in-flight check of every loop (`VirtualTime._bytes_in_flight`). Replaced,
        # never mutated, so that another thread may read it without a lock.
        self.read_fds: frozenset[int] = frozenset()
        # VirtualTime._bytes_in_flight's poll object (this loop's thread only) and the
        # fd sets it was made for.
        self.in_flight_poll: tuple[tuple[frozenset[int], ...], Any] | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        self._note(key.fd, events)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().modify(fileobj, events, data)
        self._note(key.fd, events)
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = super().unregister(fileobj)
        self._note(key.fd, 0)
        return key

    def _note(self, fd: int, events: int) -> None:
        if events & selectors.EVENT_READ:
            self.read_fds = self.read_fds | {fd}
        else:
            self.read_fds = self.read_fds - {fd}

    def kick(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._kick_w, b"\0")

    def _drain_kicks(self) -> None:
        try:
            while os.read(self._kick_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _real_select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = []
        for key, events in super().select(timeout):
            if key.fd == self._kick_r:
                self._drain_kicks()
            else:
                ready.append((key, events))
        return ready

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        vt = self._vt
        ready = self._real_select(0)
        if ready or timeout == 0:
            return ready
        with vt._lock:
            vt._loops[self] = _IDLE if timeout is None else vt._now + timeout
            jumpable = vt._next_deadline_locked() is not None
            generation = vt._generation
        try:
            if not jumpable:
                # Not allowed to move time: wait for I/O, or for a kick when an actor
                # starts waiting or another loop jumps the clock.
                return self._real_select(None)
            # Everyone waits. Work an actor posted before it began to wait is on the
            # loop's self-pipe by now: look once more before moving the clock.
            ready = self._real_select(0)
            if ready:
                return ready
            if vt._bytes_in_flight(self):
                # Bytes wait on an fd some loop reads (perhaps this one: epoll may not
                # have seen them yet): that loop will run first. Listen for the grace.
                vt.grace_waits += 1
                return self._real_select(vt.grace)
            vt._try_jump(generation, self)
            return []  # jumped, or an actor moved meanwhile: the next pass looks again
        finally:
            with vt._lock:
                vt._loops[self] = _BUSY

    def close(self) -> None:
        with self._vt._lock:
            self._vt._loops.pop(self, None)
        super().close()
        for fd in (self._kick_r, self._kick_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w
