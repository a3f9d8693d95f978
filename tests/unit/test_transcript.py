"""Transcripts: the JSON-lines format round-trips records, escapes exactly, and refuses
malformed files with the file, line and key named."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.core.tracerecord import TraceRecord
from emulator.transcript import (
    TranscriptWriter,
    dumps_record,
    escape_bytes,
    escape_text,
    loads_record,
    read_transcript,
    unescape,
    write_transcript,
)
from linelab.errors import SpecError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts"


def test_escape_is_defined_byte_by_byte() -> None:
    assert escape_bytes(b"AT\r\n") == "AT\\x0d\\x0a"
    assert escape_bytes(b"a\\b") == "a\\\\b"
    assert escape_bytes(b"\x00\x1f\x7f\x80\xff ~") == "\\x00\\x1f\\x7f\\x80\\xff ~"
    assert escape_bytes(b'"{}"') == '"{}"'
    assert escape_text("DCD=1 \u00e9\u20ac") == "DCD=1 \\xe9\\u20ac"


@given(st.binary(max_size=300))
def test_bytes_round_trip(data: bytes) -> None:
    text = escape_bytes(data)
    assert all(0x20 <= ord(c) <= 0x7E for c in text)
    assert unescape(text).encode("latin-1") == data


@given(st.text(max_size=100))
def test_text_round_trip(text: str) -> None:
    assert unescape(escape_text(text), allow_wide=True) == text


@given(
    st.builds(
        TraceRecord,
        t=st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: round(f, 6)),
        modem=st.text(min_size=1, max_size=8),
        kind=st.sampled_from(["dte>modem", "modem>dte"]),
        data=st.binary(max_size=64),
    )
    | st.builds(
        TraceRecord,
        t=st.just(1.5),
        modem=st.just("A"),
        kind=st.sampled_from(["line", "exchange"]),
        data=st.text(max_size=40),
    )
)
def test_record_round_trip(record: TraceRecord) -> None:
    assert loads_record(dumps_record(record)) == record


@pytest.mark.parametrize(
    "bad",
    ["\\", "\\q", "\\x1", "\\xg0", "\\u20ac", "tab\there", "\u00e9"],
)
def test_bad_byte_escapes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        unescape(bad)


def test_wide_escape_must_be_above_latin1() -> None:
    with pytest.raises(ValueError, match="out of range"):
        unescape("\\u00e9", allow_wide=True)


def test_writer_then_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    records = [
        TraceRecord(0.0, "A", "dte>modem", b"ATZ\r"),
        TraceRecord(0.001, "A", "modem>dte", b"ATZ\r\r\nOK\r\n"),
        TraceRecord(0.5, "A", "line", "DCD=1"),
        TraceRecord(0.5, "-", "exchange", "dial 1001 -> 1002"),
        TraceRecord(0.75, "B", "modem>dte", bytes(range(256))),
    ]
    with TranscriptWriter(path) as writer:
        for record in records:
            writer(record)
        # Flushed per record: a reader sees everything while the writer is still open.
        assert read_transcript(path) == records
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header.keys() == {"spec", "started"} and header["spec"] == "1"
    # The wall-clock start of recording, in UTC, as ISO 8601 text.
    started = datetime.fromisoformat(header["started"])
    assert started.tzinfo is not None
    assert abs((datetime.now(UTC) - started).total_seconds()) < 600
    assert json.loads(lines[1]) == {
        "t": 0.0,
        "modem": "A",
        "kind": "dte>modem",
        "data": "ATZ\\x0d",
    }
    writer(TraceRecord(9.0, "A", "line", "late"))  # after close: dropped, no crash
    assert read_transcript(path) == records


def test_batched_writer_flushes_per_batch(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(path, flush_every=3)
    writer(TraceRecord(0, "A", "line", "x"))
    writer(TraceRecord(0, "A", "line", "y"))
    assert read_transcript(path) == []
    writer(TraceRecord(0, "A", "line", "z"))
    assert [r.data for r in read_transcript(path)] == ["x", "y", "z"]
    writer(TraceRecord(0, "A", "line", "w"))
    writer.close()
    assert len(read_transcript(path)) == 4


def test_writer_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    per_thread = 500
    with TranscriptWriter(path, flush_every=50) as writer:

        def emit(name: str) -> None:
            for i in range(per_thread):
                writer(TraceRecord(float(i), name, "modem>dte", b"x" * (i % 40)))

        threads = [threading.Thread(daemon=True, target=emit, args=(f"M{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    records = read_transcript(path)
    assert len(records) == 4 * per_thread
    for n in range(4):
        mine = [r for r in records if r.modem == f"M{n}"]
        assert [r.t for r in mine] == [float(i) for i in range(per_thread)]


def test_write_transcript_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_transcript(path, [TraceRecord(1, "A", "exchange", "ring 1002")])
    path.write_text(path.read_text() + "\n\n")
    assert read_transcript(path) == [TraceRecord(1.0, "A", "exchange", "ring 1002")]


GOOD = '{"t": 0, "modem": "A", "kind": "line", "data": "DCD=1"}'


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        ("", 1, "spec", "empty transcript"),
        ('{"spec": "2"}\n', 1, "spec", "newer than this linelab"),
        ('{"spec": 1}\n', 1, "spec", "must be text"),
        ('{"version": "1"}\n', 1, "spec", "starts with"),
        ('{"spec": "1", "x": 1}\n', 1, "x", "unknown key"),
        (GOOD + "\n", 1, "spec", "starts with"),
        ('{"spec": "1"}\nnot json\n', 2, None, "not valid JSON"),
        ('{"spec": "1"}\n[1]\n', 2, None, "JSON object"),
        (
            '{"spec": "1"}\n' + GOOD + '\n{"t": 0, "modem": "A", "kind": "line"}\n',
            3,
            "data",
            "missing",
        ),
        (
            '{"spec": "1"}\n{"t": 0, "modem": "A", "kind": "line", "data": "", "x": 1}\n',
            2,
            "x",
            "unknown",
        ),
        (
            '{"spec": "1"}\n{"t": "0", "modem": "A", "kind": "line", "data": ""}\n',
            2,
            "t",
            "number",
        ),
        (
            '{"spec": "1"}\n{"t": true, "modem": "A", "kind": "line", "data": ""}\n',
            2,
            "t",
            "number",
        ),
        ('{"spec": "1"}\n{"t": 0, "modem": "", "kind": "line", "data": ""}\n', 2, "modem", "name"),
        ('{"spec": "1"}\n{"t": 0, "modem": "A", "kind": "rx", "data": ""}\n', 2, "kind", "one of"),
        ('{"spec": "1"}\n{"t": 0, "modem": "A", "kind": "line", "data": 5}\n', 2, "data", "text"),
        (
            '{"spec": "1"}\n{"t": 0, "modem": "A", "kind": "dte>modem", "data": "\\\\u20ac"}\n',
            2,
            "data",
            "bad escape",
        ),
        (
            '{"spec": "1"}\n{"t": 0, "modem": "A", "kind": "dte>modem", "data": "\\r"}\n',
            2,
            "data",
            "must be escaped",
        ),
    ],
)
def test_malformed_files_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None, fragment: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        read_transcript(path)
    err = info.value
    assert (err.path, err.line, err.key) == (str(path), line, key)
    assert fragment in err.message
    assert str(path) in str(err)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        read_transcript(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b'{"spec": "1"}\n\xff\xfe\n')
    with pytest.raises(SpecError, match="not UTF-8"):
        read_transcript(tmp_path / "bin.jsonl")


def test_fixture_transcripts_are_valid() -> None:
    files = sorted(FIXTURES.glob("*.jsonl"))
    assert files, "fixtures/transcripts/ should hold at least one recorded transcript"
    for path in files:
        records = read_transcript(path)
        assert records
        kinds = {r.kind for r in records}
        assert {"dte>modem", "modem>dte"} <= kinds
