"""`linelab trace FILE`: print a transcript as a readable dialogue.

Command mode is shown as lines: what the DTE typed (``DTE>``) and what the modem said
(``<MDM``), split at CR/LF, with control characters shown as ``\\xNN``. Line-signal
changes (``~``) and exchange events (``#``) get their own markers. Between a
``CONNECT`` result and the next ``NO CARRIER``/``OK`` from the same modem, bytes are
data, and each run of data in one direction is summarised as a byte count with a short
preview. ``--hex`` shows every byte record as a hex dump instead.

Times are seconds since the first record; when the transcript's header records the
wall-clock start, it is shown once above the dialogue. ``--modem NAME`` (repeatable)
shows only those modems (``-`` is the exchange). ``--follow`` keeps reading a
transcript that is still being written, as ``tail -f`` does, until Ctrl-C.

Colour is used when stdout is a terminal and ``NO_COLOR`` is not set; ``--color`` and
``--no-color`` force it either way.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from emulator.core.tracerecord import TraceRecord
from emulator.tracediff import DEFAULT_TOLERANCE, compare, summary
from emulator.transcript import (
    escape_bytes,
    iter_lines,
    iter_transcript,
    read_started,
    read_transcript,
)
from linelab.errors import SpecError

# Times further apart than a day are different whatever the tolerance.
MAX_TOLERANCE = 86_400.0

_RESET = "\x1b[0m"
_COLOURS = {
    "dte>modem": "\x1b[36m",  # cyan: what the user's program sent
    "modem>dte": "\x1b[32m",  # green: what the modem answered
    "line": "\x1b[33m",  # yellow: DCD/RI/DSR/CTS/DTR changes
    "exchange": "\x1b[35m",  # magenta: the telephone network
    "data": "\x1b[2m",  # dim: data-mode summaries
}
_MARKS = {"dte>modem": "DTE>", "modem>dte": "<MDM", "line": "~", "exchange": "#"}
PREVIEW = 24
_RESULT_AFTER_DATA = re.compile(rb"(.*?)(\r\n(?:OK|NO CARRIER)\r\n)", re.DOTALL)
HEX_WIDTH = 16
#: How often ``--follow`` looks for more of a growing file (seconds of real time).
FOLLOW_POLL = 0.1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "trace",
        help="print a --trace transcript as a readable dialogue",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument("file", metavar="FILE", nargs="?", help="a JSON-lines transcript")
    parser.add_argument(
        "--diff",
        nargs=2,
        metavar=("A", "B"),
        help="compare two transcripts and label each difference (timing, result, sequence); "
        "exit 1 if they differ",
    )
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=DEFAULT_TOLERANCE,
        metavar="SECONDS",
        help=f"with --diff: times closer than this are the same (default: {DEFAULT_TOLERANCE})",
    )
    parser.add_argument("--hex", action="store_true", help="show bytes as a hex dump")
    parser.add_argument(
        "--modem",
        metavar="NAME",
        action="append",
        default=None,
        help="show only this modem (repeat for several; '-' is the exchange)",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep reading a transcript that is still being written, until Ctrl-C",
    )
    colour = parser.add_mutually_exclusive_group()
    colour.add_argument(
        "--color",
        dest="color",
        action="store_true",
        default=None,
        help="colour the dialogue even when stdout is not a terminal "
        "(default: colour on a terminal unless NO_COLOR is set)",
    )
    colour.add_argument("--no-color", dest="color", action="store_false", help="never colour")
    parser.set_defaults(func=run)


def use_colour(forced: bool | None, stream: object) -> bool:
    """Colour when forced, else only on a terminal and without NO_COLOR set."""
    if forced is not None:
        return forced
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not 0 <= value <= MAX_TOLERANCE:
        raise argparse.ArgumentTypeError(f"want 0 to {MAX_TOLERANCE:g} seconds, not {value}")
    return value


def _check_file(path: str) -> None:
    """Refuse what is not a regular file before reading it: a FIFO would block and
    /dev/zero would never end a line. Other problems are iter_transcript's to name."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise SpecError(path, None, None, "cannot read: not a regular file")


def run(args: argparse.Namespace) -> int:
    if args.diff:
        if args.file is not None:
            raise SpecError(args.file, None, None, "give either FILE or --diff A B, not both")
        _check_file(args.diff[0])
        _check_file(args.diff[1])
        return run_diff(args.diff[0], args.diff[1], args.tolerance)
    if args.file is None:
        raise SpecError("linelab trace", None, None, "give a transcript FILE (or --diff A B)")
    _check_file(args.file)
    colour = use_colour(args.color, sys.stdout)
    # SpecError from a malformed file reaches the dispatcher, which prints it (exit 2).
    started = read_started(args.file)
    if started is not None:
        sys.stdout.write(f"trace started {started.isoformat(sep=' ', timespec='seconds')}\n")
    records: Iterable[TraceRecord]
    if args.follow:
        records = iter_lines(follow_lines(args.file), str(args.file))
    else:
        records = iter_transcript(args.file)
    if args.modem:
        wanted = set(args.modem)
        records = (r for r in records if r.modem in wanted)
    try:
        for text in render(records, hex_dump=args.hex, colour=colour):
            sys.stdout.write(text + "\n")
            if args.follow:
                sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stdout.flush()
        return 130
    sys.stdout.flush()
    return 0


def run_diff(a: str, b: str, tolerance: float) -> int:
    """`linelab trace --diff A B`: each difference, labelled, then a summary line."""
    diffs = compare(read_transcript(a), read_transcript(b), tolerance)
    for diff in diffs:
        sys.stdout.write(diff.describe() + "\n")
    counts = summary(diffs)
    if not diffs:
        sys.stdout.write(f"same dialogue (times within {tolerance} s)\n")
        return 0
    sys.stdout.write(
        f"{len(diffs)} difference(s): {counts['timing']} timing, {counts['result']} result, "
        f"{counts['sequence']} sequence\n"
    )
    return 1


def follow_lines(
    path: str | Path,
    *,
    stop: Callable[[], bool] | None = None,
    poll: float = FOLLOW_POLL,
) -> Iterator[str]:
    """The complete lines of a file that is still growing, as they are written.

    A line is yielded once its newline is there, so a record half written by the
    recorder is never parsed. Ends when `stop()` says so at the end of the file (never,
    by default: the caller stops with Ctrl-C). A regular file is always "readable", so
    at the end of the file this looks again every `poll` seconds, as ``tail -f``."""
    name = str(path)
    try:
        handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror}") from None
    with handle:
        partial = ""
        while True:
            try:
                chunk = handle.readline()
            except UnicodeDecodeError as exc:
                raise SpecError(name, None, None, f"not UTF-8 text: {exc.reason}") from None
            if chunk:
                partial += chunk
                if partial.endswith("\n"):
                    yield partial.rstrip("\r\n")
                    partial = ""
                continue
            if stop is not None and stop():
                return
            time.sleep(poll)


@dataclass
class _Pending:
    """Bytes of one modem in one direction not yet printed."""

    t: float
    data: bytearray = field(default_factory=bytearray)


@dataclass
class _Renderer:
    hex_dump: bool
    colour: bool
    name_width: int = 1
    pending: dict[tuple[str, str], _Pending] = field(default_factory=dict)
    data_mode: set[str] = field(default_factory=set)
    #: The time of the first record: rows show seconds since it.
    origin: float | None = None

    def paint(self, style: str, text: str) -> str:
        return f"{_COLOURS[style]}{text}{_RESET}" if self.colour else text

    def row(self, t: float, modem: str, style: str, mark: str, text: str) -> str:
        head = f"{t - (self.origin or 0.0):10.3f}  {modem:<{self.name_width}}  "
        return head + self.paint(style, f"{mark} {text}")

    def feed(self, record: TraceRecord) -> Iterator[str]:
        if self.origin is None:
            self.origin = record.t
        self.name_width = max(self.name_width, len(record.modem))
        modem = record.modem
        # A data run ends when any other stream speaks, so the dialogue stays in order.
        key = (modem, record.kind)
        for other in [k for k in self.pending if k != key and k[0] in self.data_mode]:
            yield from self.flush_key(other)
        if isinstance(record.data, str):
            yield self.row(record.t, modem, record.kind, _MARKS[record.kind], record.data)
            if record.kind == "line" and "DCD=0" in record.data.replace(" ", "").upper():
                self.data_mode.discard(modem)
            return
        if self.hex_dump:
            yield from self.hex_rows(record)
            return
        data = bytes(record.data)
        result = b""
        if modem in self.data_mode and record.kind == "modem>dte":
            # The modem's own result after +++ or at hang-up ends data mode.
            match = _RESULT_AFTER_DATA.fullmatch(data)
            if match:
                data, result = match.group(1), match.group(2)
        pend = self.pending.get(key)
        if pend is None or not pend.data:
            pend = self.pending[key] = _Pending(record.t)
        pend.data += data
        if result:
            yield from self.flush_key(key)
            self.data_mode.discard(modem)
            self.pending[key] = _Pending(record.t, bytearray(result))
        if modem not in self.data_mode:
            yield from self.complete_lines(key, record.t)

    def complete_lines(self, key: tuple[str, str], now: float) -> Iterator[str]:
        modem, kind = key
        pend = self.pending[key]
        while True:
            ends = [i for i in (pend.data.find(b"\r"), pend.data.find(b"\n")) if i >= 0]
            if not ends:
                return
            end = min(ends)
            line = bytes(pend.data[:end])
            del pend.data[: end + 1]
            start, pend.t = pend.t, now
            if line:
                yield self.row(start, modem, kind, _MARKS[kind], escape_bytes(line))
                if kind == "modem>dte":
                    self.track_mode(modem, line)
            if modem in self.data_mode:
                # The rest after CONNECT (less the LF that ends its line) is data: it is
                # summarised, not split.
                if pend.data[:1] == b"\n":
                    del pend.data[:1]
                return

    def track_mode(self, modem: str, line: bytes) -> None:
        word = line.strip().upper()
        if word.startswith(b"CONNECT") or word == b"1":
            self.data_mode.add(modem)

    def hex_rows(self, record: TraceRecord) -> Iterator[str]:
        data = bytes(record.data) if isinstance(record.data, bytes) else b""
        for offset in range(0, max(len(data), 1), HEX_WIDTH):
            chunk = data[offset : offset + HEX_WIDTH]
            hexes = " ".join(f"{b:02x}" for b in chunk)
            text = "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in chunk)
            body = f"{hexes:<{HEX_WIDTH * 3 - 1}}  {text}"
            yield self.row(record.t, record.modem, record.kind, _MARKS[record.kind], body)

    def flush_key(self, key: tuple[str, str]) -> Iterator[str]:
        pend = self.pending.pop(key, None)
        if pend is None or not pend.data:
            return
        modem, kind = key
        data = bytes(pend.data)
        if modem in self.data_mode:
            preview = escape_bytes(data[:PREVIEW]) + ("…" if len(data) > PREVIEW else "")
            text = f"[data {len(data)} bytes] {preview}"
            yield self.row(pend.t, modem, "data", _MARKS[kind], text)
        else:
            yield self.row(pend.t, modem, kind, _MARKS[kind], escape_bytes(data) + " …")

    def flush(self, modem: str | None = None) -> Iterator[str]:
        for key in [k for k in self.pending if modem is None or k[0] == modem]:
            yield from self.flush_key(key)


def render(
    records: Iterable[TraceRecord], *, hex_dump: bool = False, colour: bool = False
) -> Iterator[str]:
    """The dialogue for `records`, one printable line at a time (no newlines)."""
    renderer = _Renderer(hex_dump=hex_dump, colour=colour)
    for record in records:
        yield from renderer.feed(record)
    yield from renderer.flush()
