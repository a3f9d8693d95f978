"""Serve a recorded transcript as a modem (`linelab replay TRACE LINK`): a client on
the pty gets the recorded modem's answers, byte for byte and at the recorded pace, as
long as it sends what the recorded DTE sent; the moment it departs, the replay says
which input and what was expected.

The recording of one modem becomes `Step`s: the bytes the DTE sent (what the client
must send) and the bytes the modem sent after them, each with its delay since the
DTE's last byte. Bytes the modem sent before the DTE said anything (a RING, say) are
the first step's, with nothing to wait for. The client's bytes are matched as a
stream, so its chunking need not match the recording's: ``ATDT1002<CR>`` in one write
matches a recording where the DTE sent ``AT`` and ``DT1002<CR>`` apart (the modem's
echo in between is replayed when its bytes have arrived).

This module is sans-I/O: `Replayer.receive(data, now)` takes client bytes and returns
nothing; `due(now)` gives the bytes to write now and `next_deadline()` when to look
again. The command (`emulator.commands.replay`) puts it on a pty.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from emulator.core.tracerecord import TraceRecord
from emulator.transcript import escape_bytes
from linelab.errors import LinelabError


@dataclass
class Step:
    expect: bytearray = field(default_factory=bytearray)  # what the client must send
    replies: list[tuple[float, bytes]] = field(default_factory=list)  # (delay, bytes)
    t: float = 0.0  # when the recorded DTE finished sending `expect` (transcript time)


@dataclass(frozen=True)
class Departure:
    """Where a client left the recording."""

    step: int
    offset: int  # bytes of that step's input matched before the difference
    expected: bytes
    got: bytes
    t: float  # the recording's time at that step

    def describe(self) -> str:
        if not self.expected:
            return (
                f"the client departed after the end of the recording: it sent "
                f"'{escape_bytes(self.got)}'"
            )
        return (
            f"the client departed from the recording at step {self.step} "
            f"(t={self.t:.3f} s): expected '{escape_bytes(self.expected)}', "
            f"got '{escape_bytes(self.got)}'"
        )


def modems_in(records: Iterable[TraceRecord]) -> list[str]:
    """The modems of a transcript that have DTE traffic, in order of appearance."""
    seen: list[str] = []
    for r in records:
        if r.kind in ("dte>modem", "modem>dte") and r.modem not in seen:
            seen.append(r.modem)
    return seen


def steps_of(records: Iterable[TraceRecord], modem: str) -> list[Step]:
    """The recording of `modem` as steps (see module doc)."""
    steps = [Step()]
    last_dte: float | None = None
    origin: float | None = None
    for r in records:
        if r.modem != modem or r.kind not in ("dte>modem", "modem>dte"):
            continue
        assert isinstance(r.data, bytes)
        if origin is None:
            origin = r.t
        if r.kind == "dte>modem":
            if steps[-1].replies:
                steps.append(Step())
            steps[-1].expect += r.data
            steps[-1].t = r.t - origin
            last_dte = r.t
        else:
            start = last_dte if last_dte is not None else origin
            steps[-1].replies.append((max(0.0, r.t - start), bytes(r.data)))
    if not any(s.expect or s.replies for s in steps):
        raise LinelabError(f"the transcript has no DTE traffic for modem {modem!r}")
    return steps


class Replayer:
    """Plays `steps` to one client (see module doc). `speed` > 1 shortens every delay
    by that factor; 0 sends every reply at once."""

    def __init__(self, steps: list[Step], *, speed: float = 1.0, now: float = 0.0) -> None:
        if speed < 0:
            raise LinelabError(f"speed must be 0 or more, not {speed}")
        self.steps = steps
        self.speed = speed
        self.index = 0
        self.matched = 0  # bytes of steps[index].expect received so far
        self.departures: list[Departure] = []
        self._queue: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()
        self._last = now
        if steps and not steps[0].expect:  # output before the DTE said anything
            self._queue_replies(steps[0], now)
            self.index = 1

    @property
    def complete(self) -> bool:
        """Every step played and every reply sent."""
        return self.index >= len(self.steps) and not self._queue

    @property
    def departed(self) -> bool:
        return bool(self.departures)

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the client."""
        for pos, byte in enumerate(data):
            if self.departed:
                return
            if self.index >= len(self.steps):
                self.departures.append(Departure(self.index, 0, b"", data[pos:], self._end_time()))
                return
            step = self.steps[self.index]
            expected = step.expect
            if expected[self.matched] != byte:
                self.departures.append(
                    Departure(
                        self.index,
                        self.matched,
                        bytes(expected[self.matched :]),
                        data[pos:],
                        step.t,
                    )
                )
                return
            self.matched += 1
            if self.matched == len(expected):
                self._queue_replies(step, now)
                self.index += 1
                self.matched = 0

    def due(self, now: float) -> bytes:
        """The reply bytes to send now."""
        out = bytearray()
        while self._queue and self._queue[0][0] <= now:
            out += heapq.heappop(self._queue)[2]
        return bytes(out)

    def next_deadline(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def _queue_replies(self, step: Step, now: float) -> None:
        """Queue `step`'s replies at their recorded delays (scaled), in order."""
        base = max(now, self._last)
        for delay, data in step.replies:
            at = max(now + (delay / self.speed if self.speed else 0.0), base)
            heapq.heappush(self._queue, (at, next(self._seq), data))
            base = at
        self._last = base

    def _end_time(self) -> float:
        return self.steps[-1].t if self.steps else 0.0


__all__ = ["Departure", "Replayer", "Step", "modems_in", "steps_of"]
