"""`linelab trace --diff A B`: two transcripts compared, each difference labelled as
timing only, a different result code, or a different message sequence."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.core.tracerecord import TraceRecord as R
from emulator.tracediff import compare, events, summary
from emulator.transcript import read_transcript, write_transcript
from scenarios.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts"


def dial(modem: str, result: bytes, t0: float = 0.0, answer_at: float = 1.0) -> list[R]:
    """A dial on `modem` ending in `result`, as a modem's transcript records it."""
    return [
        R(t0, modem, "dte>modem", b"ATDT5551234\r"),
        R(t0, modem, "modem>dte", b"ATDT5551234\r"),  # echo
        R(t0 + answer_at, modem, "modem>dte", b"\r\n" + result + b"\r\n"),
    ]


def test_identical_dialogues_have_no_difference() -> None:
    a = dial("A", b"CONNECT 33600")
    assert compare(a, a) == []


def test_per_byte_and_chunked_records_say_the_same() -> None:
    chunked = [*dial("A", b"CONNECT 33600"), R(2.0, "A", "modem>dte", b"hello")]
    per_byte = [*dial("A", b"CONNECT 33600")] + [
        R(2.0, "A", "modem>dte", bytes([b])) for b in b"hello"
    ]
    assert compare(chunked, per_byte) == []


def test_timing_only() -> None:
    diffs = compare(dial("A", b"OK"), dial("A", b"OK", answer_at=3.0))
    assert [d.label for d in diffs] == ["timing"]
    assert diffs[0].a is not None and diffs[0].a.text == "OK"
    assert compare(dial("A", b"OK"), dial("A", b"OK", answer_at=1.4)) == []  # within 0.5 s
    assert compare(dial("A", b"OK"), dial("A", b"OK", answer_at=3.0), tolerance=5) == []


def test_a_different_result_code() -> None:
    diffs = compare(dial("A", b"CONNECT 33600"), dial("A", b"CONNECT 9600"))
    assert [d.label for d in diffs] == ["result"]
    assert "CONNECT 33600" in diffs[0].describe() and "CONNECT 9600" in diffs[0].describe()


def test_a_different_sequence() -> None:
    a = dial("A", b"OK")
    b = [
        *dial("A", b"OK"),
        R(2.0, "A", "dte>modem", b"ATH\r"),
        R(2.1, "A", "modem>dte", b"\r\nOK\r\n"),
    ]
    diffs = compare(a, b)
    assert [d.label for d in diffs] == ["sequence", "sequence"]
    assert all(d.a is None for d in diffs)
    assert summary(diffs) == {"timing": 0, "result": 0, "sequence": 2}


def test_modems_pair_by_order_when_names_differ() -> None:
    """A virtual modem "A" against a real one named after its port."""
    assert compare(dial("A", b"OK"), dial("ttyUSB0", b"OK")) == []
    diffs = compare(dial("A", b"OK"), dial("ttyUSB0", b"ERROR"))
    assert [d.label for d in diffs] == ["result"]


def test_exchange_events_only_when_both_have_them() -> None:
    virtual = [R(0.5, "1001", "exchange", "dial 1001 -> 5551234"), *dial("A", b"OK")]
    real = dial("ttyUSB0", b"OK")
    assert compare(virtual, real) == []


def test_recorded_call_reads_as_events() -> None:
    kinds = [
        (e.modem, e.kind, e.text)
        for e in events(read_transcript(FIXTURES / "two-modem-call.jsonl"))
    ]
    assert ("A", "cmd", "ATDT1002") in kinds
    assert ("A", "result", "CONNECT 33600") in kinds
    assert ("B", "data", "received 14 bytes") in kinds
    assert ("A", "data", "sent 17 bytes") in kinds  # "hello from A\r\n" and the +++
    assert ("A", "result", "OK") in kinds  # after +++


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_transcript(a, dial("A", b"NO CARRIER", answer_at=50.0))
    write_transcript(b, [R(0.0, "1001", "exchange", "x"), *dial("A", b"BUSY")])
    assert main(["trace", "--diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("result: A 50.000s A result: NO CARRIER")
    assert out[-1] == "1 difference(s): 0 timing, 1 result, 0 sequence"
    assert main(["trace", "--diff", str(a), str(a)]) == 0
    assert capsys.readouterr().out == "same dialogue (times within 0.5 s)\n"
    assert main(["trace", str(a), "--diff", str(a), str(b)]) == 2
