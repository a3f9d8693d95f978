"""Transcripts: `emulator.core.tracerecord.TraceRecord` streams as JSON-lines files.

One format serves `linelab modem --trace FILE`, `linelab trace FILE`, the recorded
transcripts in ``fixtures/transcripts/`` and the scenario runner's failure reports::

    {"spec": "1"}
    {"t": 0.0, "modem": "A", "kind": "dte>modem", "data": "ATDT1002\\x0d"}
    {"t": 0.0, "modem": "-", "kind": "exchange", "data": "dial 1001 -> 1002"}
    {"t": 1.5, "modem": "A", "kind": "line", "data": "DCD=1"}

The first line is the header ``{"spec": "1"}``; a reader refuses a newer major version.
The header may also say when recording began on the wall clock, as ISO 8601 text
(``{"spec": "1", "started": "2026-12-05T09:12:00.250000+00:00"}``); `linelab trace`
shows it once, then times relative to the first record.
Every later line is an object with exactly the keys ``t`` (seconds on the modem's
clock), ``modem`` (its name), ``kind`` (``dte>modem``, ``modem>dte``, ``line`` or
``exchange``) and ``data``. Blank lines are ignored.

``data`` is text with escapes, defined so that it round-trips exactly and stays
readable in a text editor:

- a character from 0x20 to 0x7E, except the backslash, stands for itself;
- a backslash is written ``\\\\``;
- any other character from 0x00 to 0xFF is written ``\\xNN`` (two lower-case hex
  digits), so CR is ``\\x0d`` and byte 0xFF is ``\\xff``;
- in ``line`` and ``exchange`` records only (their data is text, not bytes), a
  character above 0xFF is written ``\\uNNNN`` or ``\\UNNNNNNNN``.

For the two byte directions each character of the decoded text is one byte (latin-1).
A reader rejects any other backslash sequence, and raw characters outside 0x20-0x7E.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from emulator.core.tracerecord import TraceKind, TraceRecord
from linelab.errors import SpecError

SPEC_VERSION: Final = "1"
SUPPORTED_MAJOR: Final = 1
BYTE_KINDS: Final[frozenset[str]] = frozenset({"dte>modem", "modem>dte"})
TEXT_KINDS: Final[frozenset[str]] = frozenset({"line", "exchange"})
KINDS: Final[tuple[TraceKind, ...]] = ("dte>modem", "modem>dte", "line", "exchange")
RECORD_KEYS: Final[tuple[str, ...]] = ("t", "modem", "kind", "data")
HEADER_KEYS: Final[tuple[str, ...]] = ("spec", "started")

_HEX = "0123456789abcdefABCDEF"


# -- the data escape ----------------------------------------------------------------


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if 0x20 <= code <= 0x7E:
        return ch
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# Precomputed per byte because byte records are the bulk of a trace.
_BYTE_ESCAPES: Final[tuple[str, ...]] = tuple(_escape_char(chr(b)) for b in range(256))


def escape_bytes(data: bytes) -> str:
    """The ``data`` text for bytes: printable ASCII as is, ``\\\\``, else ``\\xNN``."""
    return "".join([_BYTE_ESCAPES[b] for b in data])


def escape_text(text: str) -> str:
    """The ``data`` text for a `line`/`exchange` record (``\\uNNNN`` above 0xFF)."""
    return "".join([_escape_char(ch) for ch in text])


def unescape(data: str, *, allow_wide: bool = False) -> str:
    """Invert `escape_bytes`/`escape_text`. Raises ValueError saying what is wrong."""
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        ch = data[i]
        if ch != "\\":
            if not 0x20 <= ord(ch) <= 0x7E:
                raise ValueError(f"raw character {ch!r} at offset {i} must be escaped")
            out.append(ch)
            i += 1
            continue
        kind = data[i + 1] if i + 1 < n else ""
        if kind == "\\":
            out.append("\\")
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(kind)
        if width is None or (width > 2 and not allow_wide):
            raise ValueError(f"bad escape {data[i : i + 2]!r} at offset {i}")
        digits = data[i + 2 : i + 2 + width]
        if len(digits) != width or any(d not in _HEX for d in digits):
            raise ValueError(f"bad escape {data[i : i + 2 + width]!r} at offset {i}")
        code = int(digits, 16)
        if width > 2 and (code <= 0xFF or code > 0x10FFFF):
            raise ValueError(f"escape {data[i : i + 2 + width]!r} at offset {i} out of range")
        out.append(chr(code))
        i += 2 + width
    return "".join(out)


# -- one record <-> one line ----------------------------------------------------------


def header_line(started: datetime | None = None) -> str:
    """The first line of every transcript (without the newline); with `started`, the
    wall-clock time recording began."""
    header: dict[str, str] = {"spec": SPEC_VERSION}
    if started is not None:
        header["started"] = started.isoformat()
    return json.dumps(header)


def dumps_record(record: TraceRecord) -> str:
    """One record as one JSON line (without the newline)."""
    if isinstance(record.data, bytes | bytearray):
        data = escape_bytes(bytes(record.data))
    else:
        data = escape_text(record.data)
    return json.dumps(
        {"t": round(record.t, 6), "modem": record.modem, "kind": record.kind, "data": data}
    )


def loads_record(line: str, path: str = "<transcript>", lineno: int | None = None) -> TraceRecord:
    """Parse one record line. Raises SpecError naming `path`, `lineno` and the key."""
    try:
        obj: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpecError(path, lineno, None, f"not valid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise SpecError(path, lineno, None, "a record must be a JSON object")
    for key in RECORD_KEYS:
        if key not in obj:
            raise SpecError(path, lineno, key, "missing required key")
    for key in obj:
        if key not in RECORD_KEYS:
            raise SpecError(path, lineno, key, "unknown key")
    t = obj["t"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise SpecError(path, lineno, "t", f"must be a number of seconds, not {t!r}")
    modem = obj["modem"]
    if not isinstance(modem, str) or not modem:
        raise SpecError(path, lineno, "modem", f"must be a non-empty name, not {modem!r}")
    kind = obj["kind"]
    if kind not in KINDS:
        raise SpecError(path, lineno, "kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    raw = obj["data"]
    if not isinstance(raw, str):
        raise SpecError(path, lineno, "data", f"must be text, not {raw!r}")
    try:
        text = unescape(raw, allow_wide=kind in TEXT_KINDS)
    except ValueError as exc:
        raise SpecError(path, lineno, "data", str(exc)) from None
    data: bytes | str = text.encode("latin-1") if kind in BYTE_KINDS else text
    return TraceRecord(float(t), modem, kind, data)


def check_header(line: str, path: str = "<transcript>", lineno: int = 1) -> str:
    """Validate the header line; returns the spec version."""
    return parse_header(line, path, lineno)[0]


def parse_header(
    line: str, path: str = "<transcript>", lineno: int = 1
) -> tuple[str, datetime | None]:
    """Validate the header line; returns the spec version and the ``started`` time."""
    try:
        obj: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpecError(
            path,
            lineno,
            "spec",
            f'not valid JSON ({exc.msg}); a transcript starts with {{"spec": "1"}}',
        ) from None
    if not isinstance(obj, dict) or "spec" not in obj:
        raise SpecError(path, lineno, "spec", 'a transcript starts with {"spec": "1"}')
    for key in obj:
        if key not in HEADER_KEYS:
            raise SpecError(path, lineno, key, "unknown key in the header")
    started: datetime | None = None
    if "started" in obj:
        raw = obj["started"]
        try:
            if not isinstance(raw, str):
                raise ValueError
            started = datetime.fromisoformat(raw)
        except ValueError:
            raise SpecError(
                path, lineno, "started", f"must be an ISO 8601 date and time, not {raw!r}"
            ) from None
    version = obj["spec"]
    if not isinstance(version, str):
        raise SpecError(path, lineno, "spec", f'must be text like "1", not {version!r}')
    major = version.split(".", 1)[0]
    if not major.isdigit():
        raise SpecError(path, lineno, "spec", f"not a version: {version!r}")
    if int(major) > SUPPORTED_MAJOR:
        raise SpecError(
            path,
            lineno,
            "spec",
            f"version {version} is newer than this linelab reads ({SUPPORTED_MAJOR}.x); "
            "upgrade linelab",
        )
    return version, started


# -- files ------------------------------------------------------------------------------


def iter_lines(lines: Iterable[str], path: str = "<transcript>") -> Iterator[TraceRecord]:
    """Records from the lines of a transcript (header first), validated as they come."""
    seen_header = False
    lineno = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not seen_header:
            check_header(line, path, lineno)
            seen_header = True
            continue
        yield loads_record(line, path, lineno)
    if not seen_header:
        raise SpecError(
            path, max(lineno, 1), "spec", 'empty transcript; it starts with {"spec": "1"}'
        )


def iter_transcript(path: str | Path) -> Iterator[TraceRecord]:
    """Records from the transcript file at `path`, lazily. Raises SpecError."""
    name = str(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            yield from iter_lines((line.rstrip("\r\n") for line in handle), name)
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(name, None, None, f"not UTF-8 text: {exc.reason}") from None


def read_started(path: str | Path) -> datetime | None:
    """The wall-clock start the header of the transcript at `path` records, if any.
    Raises SpecError for a file that is not a transcript."""
    name = str(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    return parse_header(line.rstrip("\r\n"), name, lineno)[1]
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(name, None, None, f"not UTF-8 text: {exc.reason}") from None
    raise SpecError(name, 1, "spec", 'empty transcript; it starts with {"spec": "1"}')


def read_transcript(path: str | Path) -> list[TraceRecord]:
    """All records of the transcript file at `path`. Raises SpecError."""
    return list(iter_transcript(path))


def write_transcript(path: str | Path, records: Iterable[TraceRecord]) -> None:
    """Write `records` as a complete transcript file (e.g. a failure report)."""
    with TranscriptWriter(path) as writer:
        for record in records:
            writer(record)


class TranscriptWriter:
    """A `TraceSink` that appends records to a transcript file.

    Callable from any thread (records are written under a lock, whole lines at a time).
    With ``flush_every=1`` (the default) every record is flushed as it is written, so a
    crashed or killed process leaves a readable file; a larger value flushes per batch
    of that many records (and at `flush()`/`close()`), for heavy data-mode traces.
    `target` is a path (created or truncated) or an open text file (not closed here).
    Records that arrive after `close()` are dropped: a late event from a modem that is
    shutting down must not crash it.
    """

    def __init__(self, target: str | Path | IO[str], *, flush_every: int = 1) -> None:
        if flush_every < 1:
            raise ValueError(f"flush_every must be at least 1, not {flush_every}")
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._unflushed = 0
        self.count = 0
        if isinstance(target, str | Path):
            self.path = str(target)
            self._file: IO[str] | None = open(target, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._owned = True
        else:
            self.path = getattr(target, "name", "<stream>")
            self._file = target
            self._owned = False
        self._file.write(header_line(datetime.now(UTC)) + "\n")
        self._file.flush()

    def __call__(self, record: TraceRecord) -> None:
        line = dumps_record(record) + "\n"
        with self._lock:
            if self._file is None:
                return
            self._file.write(line)
            self.count += 1
            self._unflushed += 1
            if self._unflushed >= self._flush_every:
                self._file.flush()
                self._unflushed = 0

    def flush(self) -> None:
        """Push buffered records to the file."""
        with self._lock:
            if self._file is not None:
                self._file.flush()
                self._unflushed = 0

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Idempotent."""
        with self._lock:
            if self._file is None:
                return
            self._file.flush()
            if self._owned:
                self._file.close()
            self._file = None

    @property
    def closed(self) -> bool:
        return self._file is None

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
