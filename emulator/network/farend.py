"""Scripted far ends: numbers on the virtual exchange that behave as a script says.

One grammar, parsed only here (docs/far-end.md)::

    busy | noanswer | answer[,after=3s][,rate=N][,echo|,discard]
                            [,hangup=30s|,hangup=1000B][,drop=10s]

`parse_behaviour()` turns the string into a `Behaviour`; `str(behaviour)` gives the
canonical string back. `ScriptedEnd` plays a behaviour on the exchange as a `LinePeer`,
either as a dialled number or as the far end of a call the exchange places to a modem
(`validate_for_caller()` says which behaviours make sense there).

How `ScriptedEnd` runs: `line_event()` only records what happened and schedules work;
every request on the line (answer, send, hang up, drop carrier) is made from `tick()`,
which the exchange calls when `next_deadline()` has passed. So a scripted end never
re-enters the exchange from inside one of its callbacks, and all timing is in modem
time read from the injected clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from emulator.network.subscriberline import (
    Busy,
    CallerGone,
    CarrierLost,
    Connected,
    Data,
    IncomingCall,
    Line,
    LineEvent,
    RemoteHangup,
    Unobtainable,
)
from linelab.clock import Clock
from linelab.errors import LinelabError

Kind = Literal["busy", "noanswer", "answer"]
DataMode = Literal["echo", "discard"]

# Largest value accepted for a duration (a day) and a rate; beyond that it is a typo.
MAX_SECONDS = 86_400.0
MAX_RATE = 10_000_000
# How much echo a scripted end holds while the modem's DTE buffer is full.
ECHO_LIMIT = 65_536
# A discarding far end takes anything; this is "unbounded" for a transport's read size.
DISCARD_ROOM = 1 << 30
# While echo is held back by a full buffer, look again this often (seconds).
ECHO_POLL = 0.05

# Longest behaviour string accepted (the longest valid one is far shorter), and how
# much of a bad one an error message repeats.
MAX_TEXT = 200
_SHOWN = 80
# Largest byte count for hangup=<n>B (1 TiB); beyond that it is a typo.
MAX_HANGUP_BYTES = 1 << 40

# Digit counts are bounded before anything is converted: Python refuses to convert
# more than 4,300 digits, and no valid value has more than these.
_DURATION = re.compile(r"(?P<num>[0-9]{1,12}(?:\.[0-9]{1,12})?)(?P<unit>ms|s)?")
_BYTES = re.compile(r"[0-9]+[bB]")
_COUNT = re.compile(r"[0-9]{1,16}")


class BehaviourError(LinelabError):
    """A malformed far-end behaviour string; the message names the bad token."""

    def __init__(self, text: str, token: str | None, problem: str) -> None:
        self.text = text
        self.token = token
        self.problem = problem
        shown = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
        super().__init__(f"bad far-end behaviour {shown!r}: {problem}")


@dataclass(frozen=True)
class Behaviour:
    """What a scripted far end does. Durations are seconds of modem time.

    `data` defaults to "discard": a far end that echoes is asked for explicitly, so
    that a terminal never sees its own bytes come back by surprise.
    """

    kind: Kind
    after: float = 0.0
    rate: int | None = None
    data: DataMode = "discard"
    hangup_after: float | None = None
    hangup_bytes: int | None = None
    drop_after: float | None = None

    def __post_init__(self) -> None:
        if self.hangup_after is not None and self.hangup_bytes is not None:
            raise ValueError("hangup_after and hangup_bytes are exclusive")
        options = (self.after, self.rate, self.hangup_after, self.hangup_bytes, self.drop_after)
        if self.kind != "answer" and (
            options != (0.0, None, None, None, None) or self.data == "echo"
        ):
            raise ValueError(f"{self.kind} takes no options")

    def __str__(self) -> str:
        parts: list[str] = [self.kind]
        if self.after:
            parts.append(f"after={_seconds(self.after)}")
        if self.rate is not None:
            parts.append(f"rate={self.rate}")
        if self.data == "echo":
            parts.append("echo")
        if self.hangup_after is not None:
            parts.append(f"hangup={_seconds(self.hangup_after)}")
        if self.hangup_bytes is not None:
            parts.append(f"hangup={self.hangup_bytes}B")
        if self.drop_after is not None:
            parts.append(f"drop={_seconds(self.drop_after)}")
        return ",".join(parts)


def _seconds(value: float) -> str:
    # Parsed durations are rounded to the microsecond, so six decimals read back exactly.
    return f"{value:.6f}".rstrip("0").rstrip(".") + "s"


def parse_behaviour(text: str) -> Behaviour:
    """Parse a far-end behaviour string (see the module docstring).

    Keywords are case-insensitive and spaces around commas are ignored. Durations are
    ``<n>s``, ``<n>ms`` or a bare number of seconds (``3``, ``1.5s``, ``250ms``), kept
    to the microsecond; a byte count for hangup is ``<n>B``. Raises BehaviourError
    naming the bad token.
    """
    if len(text) > MAX_TEXT:
        raise BehaviourError(text, None, f"longer than {MAX_TEXT} characters")
    tokens = [t.strip() for t in text.split(",")]
    if not tokens[0]:
        raise BehaviourError(text, None, "empty; expected busy, noanswer or answer")
    kind_token = tokens[0].lower()
    if kind_token not in ("busy", "noanswer", "answer"):
        raise BehaviourError(
            text, tokens[0], f"unknown kind {tokens[0]!r} (expected busy, noanswer or answer)"
        )
    kind: Kind = (
        "busy" if kind_token == "busy" else "noanswer" if kind_token == "noanswer" else "answer"
    )
    seen: dict[str, str] = {}
    data: DataMode = "discard"
    rate: int | None = None
    hangup_bytes: int | None = None
    seconds: dict[str, float] = {}
    for token in tokens[1:]:
        if not token:
            raise BehaviourError(text, token, "empty option (two commas in a row?)")
        name, sep, value = token.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if name not in ("after", "rate", "echo", "discard", "hangup", "drop") or (
            bool(sep) == (name in ("echo", "discard"))
        ):
            raise BehaviourError(text, token, f"unknown option {token!r}")
        if kind != "answer":
            raise BehaviourError(text, token, f"option {token!r} only applies to answer")
        group = "data" if name in ("echo", "discard") else name
        if group in seen:
            same = seen[group].lower() == token.lower() or group not in ("data", "hangup")
            problem = (
                f"option {token!r} is given twice"
                if same
                else f"option {token!r} conflicts with {seen[group]!r}"
            )
            raise BehaviourError(text, token, problem)
        seen[group] = token
        if group == "data":
            data = "echo" if name == "echo" else "discard"
        elif name == "rate":
            if _COUNT.fullmatch(value) is None or not 0 < int(value) <= MAX_RATE:
                raise BehaviourError(text, token, f"bad rate in {token!r} (bit/s, e.g. rate=9600)")
            rate = int(value)
        elif name == "hangup" and _BYTES.fullmatch(value):
            digits = value[:-1]
            count = int(digits) if _COUNT.fullmatch(digits) else MAX_HANGUP_BYTES + 1
            if not 1 <= count <= MAX_HANGUP_BYTES:
                raise BehaviourError(
                    text,
                    token,
                    f"byte count in {token!r} must be at least 1 and at most {MAX_HANGUP_BYTES}",
                )
            hangup_bytes = count
        else:
            value_s = _duration(value)
            if value_s is None:
                hint = "30s, 500ms or 1000B" if name == "hangup" else "3s or 500ms"
                raise BehaviourError(text, token, f"bad value in {token!r} (use e.g. {hint})")
            seconds[name] = value_s
    return Behaviour(
        kind,
        after=seconds.get("after", 0.0),
        rate=rate,
        data=data,
        hangup_after=seconds.get("hangup"),
        hangup_bytes=hangup_bytes,
        drop_after=seconds.get("drop"),
    )


def _duration(value: str) -> float | None:
    match = _DURATION.fullmatch(value)
    if match is None:
        return None
    seconds = float(match["num"])
    if match["unit"] == "ms":
        seconds /= 1000.0
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        return None
    return round(seconds, 6)


def as_behaviour(value: str | Behaviour) -> Behaviour:
    """A Behaviour from either form accepted by the exchange's API."""
    return value if isinstance(value, Behaviour) else parse_behaviour(value)


def validate_for_caller(behaviour: str | Behaviour) -> Behaviour:
    """Check a behaviour for a call the exchange places to a modem (the scripted end is
    the caller): only ``answer`` with data/hang-up/drop options makes sense there. The
    modem answers, so ``after`` has no meaning either. Returns the parsed behaviour."""
    parsed = as_behaviour(behaviour)
    text = str(parsed)
    if parsed.kind != "answer":
        raise BehaviourError(
            text,
            parsed.kind,
            f"{parsed.kind!r} cannot describe a calling far end; use answer[,echo]…",
        )
    if parsed.after:
        token = f"after={_seconds(parsed.after)}"
        raise BehaviourError(text, token, f"option {token!r} does not apply to a calling far end")
    return parsed


# -- the scripted end on the exchange ------------------------------------------------


_CallState = Literal["idle", "ringing", "answering", "connected"]


class ScriptedEnd:
    """A far end on the exchange that follows a `Behaviour` (implements LinePeer).

    Called: ``busy`` reports busy through `is_busy()`; ``noanswer`` lets it ring;
    ``answer`` answers `after` seconds after the call arrived. Once connected (as the
    called or the calling end): echo or discard the data, hang up after `hangup_after`
    seconds or once `hangup_bytes` bytes were received, drop carrier after
    `drop_after` seconds. Each call starts from a fresh script.
    """

    def __init__(self, behaviour: str | Behaviour, clock: Clock) -> None:
        self.behaviour = as_behaviour(behaviour)
        self.clock = clock
        # The clock reading of the last event or tick. Work that is due "now" is reported
        # as due at this instant, never at a fresh clock reading: on real time a fresh
        # reading is always a little later than the `now` the exchange's tick() compares
        # against, and the work would never run.
        self._seen = clock.now()
        self.line: Line | None = None
        self.state: _CallState = "idle"
        self.rate: int | None = None  # rate of the current call, once connected
        self.received = 0  # data bytes received in the current call
        self._echo = bytearray()
        self._answer_at: float | None = None
        self._hangup_at: float | None = None
        self._drop_at: float | None = None
        self._listener: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"ScriptedEnd({str(self.behaviour)!r}, state={self.state!r})"

    # -- wiring ------------------------------------------------------------------
    def bind(self, line: Line) -> None:
        """Give the scripted end its handle on the exchange (from Exchange.attach)."""
        self.line = line

    def set_listener(self, callback: Callable[[], None] | None) -> None:
        """`callback` runs whenever next_deadline() may have changed (only schedule
        work in it)."""
        self._listener = callback

    # -- LinePeer ----------------------------------------------------------------
    def line_event(self, event: LineEvent) -> None:
        """Record an event from the exchange; requests follow from tick()."""
        self._seen = self.clock.now()
        if isinstance(event, IncomingCall):
            if self.state == "idle" and self.behaviour.kind == "answer":
                self.state = "ringing"
                self._answer_at = self.clock.now() + self.behaviour.after
            elif self.state == "idle" and self.behaviour.kind == "noanswer":
                self.state = "ringing"
        elif isinstance(event, Connected):
            self._connected(event.rate)
        elif isinstance(event, Data):
            self._data(event.data)
        elif isinstance(event, CallerGone | RemoteHangup | CarrierLost | Busy | Unobtainable):
            self._reset()
        # Ringback needs nothing: the scripted caller just waits for the modem.
        self._notify()

    def rx_room(self) -> int:
        """How many more data bytes this end takes now: never past a hang-up byte
        count, and bounded by the echo backlog when echoing."""
        if self.state != "connected":
            return 0
        room = ECHO_LIMIT - len(self._echo) if self.behaviour.data == "echo" else DISCARD_ROOM
        if self.behaviour.hangup_bytes is not None:
            room = min(room, self.behaviour.hangup_bytes - self.received)
        return max(room, 0)

    # -- queries -----------------------------------------------------------------
    def is_busy(self) -> bool:
        """True when a new call to this end should get BUSY: a ``busy`` script, or a
        call already in progress."""
        return self.behaviour.kind == "busy" or self.state != "idle"

    def next_deadline(self) -> float | None:
        """When tick() next has work to do (None: nothing scheduled)."""
        now = self._seen
        times = [t for t in (self._answer_at, self._hangup_at, self._drop_at) if t is not None]
        if self._bytes_done():
            times.append(now)
        if self._echo and self.line is not None:
            times.append(now if self.line.send_room() > 0 else now + ECHO_POLL)
        return min(times) if times else None

    # -- timers ------------------------------------------------------------------
    def tick(self) -> None:
        """Do everything due at clock.now(): answer, echo, hang up, drop carrier."""
        line = self.line
        if line is None:
            return
        now = self._seen = self.clock.now()
        if self._answer_at is not None and self._answer_at <= now:
            self._answer_at = None
            self.state = "answering"
            line.answer()
        self.flush()
        hangup_due = self._bytes_done() or (self._hangup_at is not None and self._hangup_at <= now)
        drop_due = self._drop_at is not None and self._drop_at <= now
        # When both are due at once the earlier one wins; a tie counts as a hang-up.
        if drop_due and hangup_due and self._hangup_at is not None and self._drop_at is not None:
            drop_due = self._drop_at < self._hangup_at
            hangup_due = not drop_due
        if hangup_due:
            self._reset()
            line.hangup()
        elif drop_due:
            self._reset()
            line.drop_carrier()
        self._notify()

    def flush(self) -> None:
        """Send as much held-back echo as the far end accepts now. The exchange may call
        this when the modem's buffer drains instead of waiting for the poll."""
        if not self._echo or self.line is None or self.state != "connected":
            return
        room = self.line.send_room()
        if room <= 0:
            return
        chunk = bytes(self._echo[:room])
        del self._echo[:room]
        self.line.send(chunk)

    # -- internals ---------------------------------------------------------------
    def _connected(self, rate: int) -> None:
        now = self.clock.now()
        self.state = "connected"
        self.rate = rate
        self.received = 0
        self._echo.clear()
        self._answer_at = None
        b = self.behaviour
        self._hangup_at = None if b.hangup_after is None else now + b.hangup_after
        self._drop_at = None if b.drop_after is None else now + b.drop_after

    def _data(self, data: bytes) -> None:
        if self.state != "connected":
            return
        if self.behaviour.hangup_bytes is not None:
            data = data[: self.behaviour.hangup_bytes - self.received]
        self.received += len(data)
        if self.behaviour.data == "echo":
            self._echo += data

    def _bytes_done(self) -> bool:
        limit = self.behaviour.hangup_bytes
        return self.state == "connected" and limit is not None and self.received >= limit

    def _reset(self) -> None:
        self.state = "idle"
        self._echo.clear()
        self._answer_at = self._hangup_at = self._drop_at = None

    def _notify(self) -> None:
        if self._listener is not None:
            self._listener()
