"""The injected clock (docs/ARCHITECTURE.md, "Time").

Every timer in linelab (escape guard time, S7 carrier wait, ring cadence, S25 DTR
debounce, far-end scripts, TAPI provider time-outs) reads the time from a `Clock`
passed in by whoever owns the object. Nothing calls `time.sleep` to synchronise.

- `MonotonicClock` is real time, optionally scaled (`linelab modem --time-scale`).
- `VirtualClock` only moves when told to. Sans-I/O tests drive it by hand or with
  `emulator.sim.Sim`, so a minute of ringing takes microseconds.
- `LoopClock` reads an asyncio loop's `time()`, so that the virtual-time loop of
  `linelab.vtime` and everything on it share one clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic clock. Only differences are meaningful."""

    def now(self) -> float: ...


class MonotonicClock:
    """Real time, run `scale` times faster than the wall clock (scale > 0)."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, not {scale}")
        self.scale = scale
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.scale


class VirtualClock:
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
        return f"VirtualClock(start={self._now!r})"


class LoopClock:
    """The clock of an asyncio event loop (real, scaled or virtual, as the loop's is)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        return self.loop.time()
