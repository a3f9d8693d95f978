"""`linelab trace`: the dialogue shows AT lines and results, summarises data, marks line
and exchange events, and uses colour only when asked or on a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from emulator.commands.trace import render, use_colour
from emulator.trace import TraceRecord as R
from emulator.transcript import read_transcript, write_transcript
from scenarios.cli import main

CALL = [
    R(0.0, "A", "dte>modem", b"AT"),
    R(0.01, "A", "modem>dte", b"AT"),
    R(0.02, "A", "dte>modem", b"DT1002\r"),
    R(0.02, "A", "modem>dte", b"DT1002\r"),
    R(0.02, "-", "exchange", "dial 1001 -> 1002"),
    R(0.5, "B", "modem>dte", b"\r\nRING\r\n"),
    R(0.6, "B", "dte>modem", b"ATA\r"),
    R(1.0, "A", "line", "DCD=1"),
    R(1.0, "A", "modem>dte", b"\r\nCONNECT 33600\r\n"),
    R(1.1, "A", "dte>modem", b"hello"),
    R(1.2, "A", "dte>modem", b" world"),
    R(1.3, "A", "modem>dte", b"hi back\xff"),
    R(2.0, "A", "dte>modem", b"+++"),
    R(3.0, "A", "modem>dte", b"\r\nOK\r\n"),
    R(3.1, "A", "dte>modem", b"ATH\r"),
    R(3.2, "A", "line", "DCD=0"),
    R(3.2, "A", "modem>dte", b"ATH\r\r\nOK\r\n"),
    R(4.0, "A", "dte>modem", b"ATZ"),
]


def test_dialogue_shows_lines_and_summarises_data() -> None:
    out = list(render(CALL))
    assert out == [
        "     0.000  A  DTE> ATDT1002",
        "     0.010  A  <MDM ATDT1002",
        "     0.020  -  # dial 1001 -> 1002",
        "     0.500  B  <MDM RING",
        "     0.600  B  DTE> ATA",
        "     1.000  A  ~ DCD=1",
        "     1.000  A  <MDM CONNECT 33600",
        "     1.100  A  DTE> [data 11 bytes] hello world",
        "     1.300  A  <MDM [data 8 bytes] hi back\\xff",
        "     2.000  A  DTE> [data 3 bytes] +++",
        "     3.000  A  <MDM OK",
        "     3.100  A  DTE> ATH",
        "     3.200  A  ~ DCD=0",
        "     3.200  A  <MDM ATH",
        "     3.200  A  <MDM OK",
        "     4.000  A  DTE> ATZ …",
    ]


def test_long_data_is_previewed_not_dumped() -> None:
    records = [
        R(0, "A", "modem>dte", b"\r\nCONNECT\r\n"),
        R(1, "A", "modem>dte", b"x" * 5000),
        R(2, "A", "line", "DCD=0"),
        R(2, "A", "modem>dte", b"\r\nNO CARRIER\r\n"),
    ]
    out = list(render(records))
    assert out[1].endswith("<MDM [data 5000 bytes] " + "x" * 24 + "…")
    assert out[-1].endswith("<MDM NO CARRIER")


def test_hex_dump() -> None:
    out = list(render([R(0, "A", "dte>modem", b"AT\r" + bytes(range(16)))], hex_dump=True))
    first = "DTE> 41 54 0d 00 01 02 03 04 05 06 07 08 09 0a 0b 0c  AT" + "." * 14
    assert out[0].endswith(first)
    assert out[1].endswith("DTE> 0d 0e 0f" + " " * 41 + "...")


def test_colour_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(None, Tty()) is True
    assert use_colour(None, io.StringIO()) is False
    assert use_colour(True, io.StringIO()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(None, Tty()) is False
    assert use_colour(True, Tty()) is True
    coloured = list(render([*CALL[:1], R(0, "A", "dte>modem", b"\r")], colour=True))
    assert coloured == ["     0.000  A  \x1b[36mDTE> AT\x1b[0m"]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "call.jsonl"
    write_transcript(path, CALL)
    assert main(["trace", str(path)]) == 0
    plain = capsys.readouterr().out
    assert "DTE> ATDT1002" in plain
    assert "\x1b[" not in plain
    assert main(["trace", "--color", "--hex", str(path)]) == 0
    coloured = capsys.readouterr().out
    assert re.search(r"\x1b\[36mDTE> 41 54", coloured)


def test_command_line_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"spec": "1"}\n{"t": 0}\n')
    assert main(["trace", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: key 'modem'" in err


def test_recorded_fixture_reads_as_a_dialogue() -> None:
    fixture = Path(__file__).resolve().parents[2] / "fixtures/transcripts/two-modem-call.jsonl"
    out = [line.split(None, 2)[2] for line in render(read_transcript(fixture))]
    assert "DTE> ATDT1002" in out
    assert "<MDM RING" in out
    assert "~ RI=1" in out
    assert "<MDM CONNECT 33600" in out
    assert "DTE> [data 14 bytes] hello from A\\x0d\\x0a" in out
    assert "DTE> [data 3 bytes] +++" in out
    assert out[-1] == "<MDM NO CARRIER"
