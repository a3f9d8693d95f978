"""The injected clock (docs/ARCHITECTURE.md, "Time").

Every timer in linelab (escape guard time, S7 carrier wait, ring cadence, S25 DTR
debounce, far-end scripts, TAPI provider time-outs) reads the time from a clock passed
in by whoever owns the object. Nothing calls `time.sleep` to synchronise.

One abstraction, two levels:

- `Clock` reads the time: ``now()``, seconds, only differences meaningful. The sans-I/O
  cores (the modem engine, the exchange, the modem dialogue) take a `Clock`.
- `linelab.vtime.TimeSource` is a `Clock` that can also block a thread until a
  condition holds or a time-out passes, and make event loops that run on it. Threaded
  code (the TAPI stack, `vmodem://`, scenario runs) takes a `TimeSource`.

The clocks, by what each one is:

- `ManualClock` (a Clock) moves only when told (`advance`, `advance_to`). Sans-I/O
  tests drive it by hand or through `emulator.network.sim.Sim`, so a minute of ringing takes
  microseconds.
- `LoopClock` (a Clock) is an asyncio loop's ``time()``, optionally run `scale` times
  faster (`linelab modem --time-scale`), so that everything on a loop reads one clock,
  and on a virtual-time loop that clock is virtual.
- `linelab.vtime.RealTime` (a TimeSource) is the monotonic clock, optionally scaled.
- `linelab.vtime.VirtualTime` (a TimeSource) jumps to the next deadline once every
  actor waits.

The date and time (caller ID's DATE and TIME) come from the clock too, through
`wall_time(clock)`: a clock that knows the real date (a `WallClock`: `LoopClock`,
`linelab.vtime.RealTime`) says ``wall()``; any other clock is virtual, and its date is
`VIRTUAL_EPOCH` plus ``now()`` seconds, the same on every run.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

VIRTUAL_EPOCH = datetime(2026, 1, 1)
"""The date that ``now() == 0`` stands for on a virtual clock (see `wall_time`)."""


class Clock(Protocol):
    """Seconds on a monotonic clock. Only differences are meaningful."""

    def now(self) -> float: ...


@runtime_checkable
class WallClock(Clock, Protocol):
    """A clock that also knows the local date and time (the real clocks)."""

    def wall(self) -> datetime: ...


def wall_time(clock: Clock) -> datetime:
    """The local date and time on `clock`: ``clock.wall()`` for a `WallClock`,
    otherwise `VIRTUAL_EPOCH` + ``clock.now()`` seconds (a virtual clock's date)."""
    if isinstance(clock, WallClock):
        return clock.wall()
    return VIRTUAL_EPOCH + timedelta(seconds=clock.now())


class ManualClock:
    """A clock that moves only by `advance()` or `advance_to()`."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot move time backwards by {seconds}")
        self._now += seconds

    def advance_to(self, when: float) -> None:
        if when > self._now:
            self._now = when

    def __repr__(self) -> str:
        return f"ManualClock(start={self._now!r})"


class LoopClock:
    """An asyncio loop's clock (real, or virtual on a `linelab.vtime` loop), run `scale`
    times faster: ``now() = loop.time() * scale``.

    Engines and the exchange on one host all read one such clock, so ``--time-scale 10``
    turns a 60 s ring time-out into 6 s of loop time while every ratio between timers
    stays."""

    def __init__(self, loop: asyncio.AbstractEventLoop, scale: float = 1.0) -> None:
        check_scale(scale)
        self.loop = loop
        self.scale = scale

    def now(self) -> float:
        return self.loop.time() * self.scale if self.scale != 1.0 else self.loop.time()

    def wall(self) -> datetime:
        return datetime.now()

    def __repr__(self) -> str:
        return f"LoopClock(scale={self.scale!r})"


def check_scale(scale: float) -> None:
    """A time scale must be a positive, finite number (ValueError otherwise)."""
    if not scale > 0 or math.isinf(scale):
        raise ValueError(f"time scale must be a positive number, not {scale}")
