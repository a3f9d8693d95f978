"""Compare two transcripts (`linelab trace --diff A B`): a virtual modem against a real
one, or two runs of the same scenario.

Each transcript becomes a sequence of *events*, per modem and in order: a command line
the DTE typed, a result or information line the modem gave (in command mode), a run of
data bytes (online), a line-signal change, an exchange event. Modems are paired by name
when both transcripts use the same names, else in order of first appearance (so a
virtual ``A`` compares with a real ``ttyUSB0``). The two sequences are aligned
(`difflib.SequenceMatcher` on what each event says, not when), and every difference is
labelled:

- ``timing``: the same event, but its time since the start of its transcript differs
  by more than the tolerance;
- ``result``: the same place in the dialogue, a different result code or information
  text from the modem (``CONNECT 33600`` against ``CONNECT 9600``, ``OK`` against
  ``ERROR``);
- ``sequence``: events that only one side has, or that differ in any other way.

Echo is left out (a modem's echo of the command it was given says nothing the command
does not). Exchange events are compared only when both transcripts have them (a real
modem's transcript has none).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from emulator.core.tracerecord import TraceRecord
from emulator.transcript import escape_bytes

#: Seconds two times may differ by before it is a timing difference.
DEFAULT_TOLERANCE = 0.5


@dataclass(frozen=True)
class Event:
    """One thing a transcript says happened, for comparison."""

    t: float  # seconds since the transcript's first record
    modem: str  # the paired name (the first transcript's)
    kind: str  # "cmd", "result", "data", "line", "exchange"
    text: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.modem, self.kind, self.text)


@dataclass(frozen=True)
class Difference:
    label: str  # "timing", "result", "sequence"
    a: Event | None
    b: Event | None

    def describe(self) -> str:
        def show(e: Event | None) -> str:
            return "(nothing)" if e is None else f"{e.t:.3f}s {e.modem} {e.kind}: {e.text}"

        return f"{self.label}: A {show(self.a)}  |  B {show(self.b)}"


_RESULT_AFTER_DATA = re.compile(rb"(.*?)\r\n(OK|NO CARRIER)\r\n", re.DOTALL)
_DIRECTION = {"dte>modem": "sent", "modem>dte": "received"}


class _Reader:
    """Turns one transcript's records into events (see `events`)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.out: list[Event] = []
        self.origin: float | None = None
        self.online: set[str] = set()
        self.lines: dict[tuple[str, str], tuple[float, bytearray]] = {}
        self.runs: dict[tuple[str, str], tuple[float, int]] = {}

    def emit(self, t: float, modem: str, kind: str, text: str) -> None:
        self.out.append(Event(round(t, 6), self.names.get(modem, modem), kind, text))

    def flush_runs(self, modem: str) -> None:
        """A modem's data runs end when anything else happens on it."""
        ended = sorted((t, key) for key, (t, _) in self.runs.items() if key[0] == modem)
        for _, key in ended:
            t, count = self.runs.pop(key)
            self.emit(t, modem, "data", f"{_DIRECTION[key[1]]} {count} bytes")

    def add_run(self, t: float, modem: str, kind: str, count: int) -> None:
        if count:
            start, total = self.runs.get((modem, kind), (t, 0))
            self.runs[(modem, kind)] = (start, total + count)

    def feed(self, record: TraceRecord) -> None:
        if self.origin is None:
            self.origin = record.t
        t, modem = record.t - self.origin, record.modem
        if isinstance(record.data, str):
            if record.kind == "line":
                self.flush_runs(modem)
                self.emit(t, modem, "line", record.data)
                if "DCD=0" in record.data.replace(" ", "").upper():
                    self.online.discard(modem)
            else:
                self.emit(t, modem, "exchange", record.data)
            return
        data = bytes(record.data)
        if modem in self.online:
            if record.kind == "modem>dte":
                match = _RESULT_AFTER_DATA.fullmatch(data)
                if match:  # the modem's own result after +++ or at hang-up
                    self.add_run(t, modem, record.kind, len(match.group(1)))
                    self.flush_runs(modem)
                    self.online.discard(modem)
                    self.emit(t, modem, "result", match.group(2).decode())
                    return
            self.add_run(t, modem, record.kind, len(data))
            return
        self.command_mode(t, modem, record.kind, data)

    def command_mode(self, t: float, modem: str, kind: str, data: bytes) -> None:
        key = (modem, kind)
        start, buffer = self.lines.get(key, (t, bytearray()))
        if not buffer:
            start = t
        buffer += data
        self.lines[key] = (start, buffer)
        while True:
            ends = [i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0]
            if not ends:
                return
            end = min(ends)
            line = bytes(buffer[:end]).strip()
            del buffer[: end + 1]
            if not line:
                continue
            if kind == "dte>modem":
                self.flush_runs(modem)
                self.emit(start, modem, "cmd", escape_bytes(line).upper())
            elif not line.upper().startswith(b"AT"):  # echo says nothing more
                self.flush_runs(modem)
                self.emit(start, modem, "result", escape_bytes(line))
                if line.startswith(b"CONNECT") or line == b"1":
                    self.online.add(modem)
                    rest = bytes(buffer).removeprefix(b"\n")
                    buffer.clear()
                    self.add_run(t, modem, kind, len(rest))
                    return
            start = t

    def finish(self) -> list[Event]:
        for modem in sorted({key[0] for key in self.runs}):
            self.flush_runs(modem)
        return self.out


def events(records: Iterable[TraceRecord], names: dict[str, str] | None = None) -> list[Event]:
    """The comparable events of a transcript, in order; `names` renames its modems.
    Command-mode bytes become command and result lines (echo left out); online bytes
    become runs of data, one per direction, ended by anything else on that modem."""
    reader = _Reader(names or {})
    for record in records:
        reader.feed(record)
    return reader.finish()


def _pairing(a: list[TraceRecord], b: list[TraceRecord]) -> dict[str, str]:
    """How B's modem names map onto A's."""

    def order(records: list[TraceRecord]) -> list[str]:
        seen: list[str] = []
        for r in records:
            if r.kind != "exchange" and r.modem not in seen:
                seen.append(r.modem)
        return seen

    names_a, names_b = order(a), order(b)
    if set(names_b) <= set(names_a):
        return {}
    return dict(zip(names_b, names_a, strict=False))


def compare(
    a: list[TraceRecord], b: list[TraceRecord], tolerance: float = DEFAULT_TOLERANCE
) -> list[Difference]:
    """Every difference between transcript `a` and transcript `b` (see module doc)."""
    ev_a = events(a)
    ev_b = events(b, _pairing(a, b))
    if not any(e.kind == "exchange" for e in ev_a) or not any(e.kind == "exchange" for e in ev_b):
        ev_a = [e for e in ev_a if e.kind != "exchange"]
        ev_b = [e for e in ev_b if e.kind != "exchange"]
    matcher = difflib.SequenceMatcher(
        a=[e.key for e in ev_a], b=[e.key for e in ev_b], autojunk=False
    )
    found: list[Difference] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for ea, eb in zip(ev_a[i1:i2], ev_b[j1:j2], strict=True):
                if abs(ea.t - eb.t) > tolerance:
                    found.append(Difference("timing", ea, eb))
            continue
        left, right = ev_a[i1:i2], list(ev_b[j1:j2])
        for ea in left:
            # The counterpart is the first unmatched event of the same modem and kind.
            match = next((e for e in right if (e.modem, e.kind) == (ea.modem, ea.kind)), None)
            if match is None:
                found.append(Difference("sequence", ea, None))
                continue
            right.remove(match)
            label = "result" if ea.kind == "result" else "sequence"
            found.append(Difference(label, ea, match))
        found += [Difference("sequence", None, e) for e in right]
    return found


def summary(diffs: list[Difference]) -> dict[str, int]:
    counts = {"timing": 0, "result": 0, "sequence": 0}
    for d in diffs:
        counts[d.label] += 1
    return counts


__all__ = ["DEFAULT_TOLERANCE", "Difference", "Event", "compare", "events", "summary"]
