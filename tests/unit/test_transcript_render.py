"""`linelab trace`: the dialogue shows AT lines and results, summarises data, marks line
and exchange events, and uses colour only when asked or on a terminal."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from emulator.commands.trace import follow_lines, render, use_colour
from emulator.core.tracerecord import TraceRecord as R
from emulator.transcript import TranscriptWriter, read_transcript, write_transcript
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


# -- times since the start, the wall-clock start, per-modem filter, --follow -----------


def test_times_are_since_the_first_record() -> None:
    """Raw monotonic clock values (6595.493…) mean nothing to a reader."""
    late = [R(6595.493, "A", "dte>modem", b"AT\r"), R(6596.0, "A", "modem>dte", b"OK\r")]
    out = list(render(late))
    assert out[0].startswith("     0.000  A  DTE> AT")
    assert out[1].startswith("     0.507  A  <MDM OK")


def test_command_line_shows_wall_clock_start_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "call.jsonl"
    write_transcript(path, [R(100.0 + r.t, r.modem, r.kind, r.data) for r in CALL])
    assert main(["trace", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    started = datetime.fromisoformat(json.loads(path.read_text().splitlines()[0])["started"])
    assert lines[0] == f"trace started {started.isoformat(sep=' ', timespec='seconds')}"
    assert sum(line.startswith("trace started") for line in lines) == 1
    assert lines[1] == "     0.000  A  DTE> ATDT1002"


def test_header_started_must_be_a_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"spec": "1", "started": "yesterday"}\n')
    assert main(["trace", str(path)]) == 2
    assert f"{path}:1: key 'started'" in capsys.readouterr().err


def test_modem_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "call.jsonl"
    write_transcript(path, CALL)
    assert main(["trace", "--modem", "B", str(path)]) == 0
    rows = [line.split(None, 2)[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows and set(rows) == {"B"}
    assert main(["trace", "--modem", "B", "--modem", "-", str(path)]) == 0
    rows = [line.split(None, 2)[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert set(rows) == {"B", "-"}


def test_follow_lines_yields_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "growing.jsonl"
    path.write_text('{"spec": "1"}\n{"t": 0, "modem": "A", "kind": "line", "da')
    seen = list(follow_lines(path, stop=lambda: True))
    assert seen == ['{"spec": "1"}']
    reads: list[str] = []
    rounds = iter([False, True])

    def stop() -> bool:
        # The recorder finishes its line while the follower is at the end of the file.
        if not reads:
            with path.open("a") as handle:
                handle.write('ta": "DCD=1"}\n')
            reads.append("done")
        return next(rounds)

    seen = list(follow_lines(path, stop=stop, poll=0.0))
    assert seen == ['{"spec": "1"}', '{"t": 0, "modem": "A", "kind": "line", "data": "DCD=1"}']


def test_follow_a_transcript_being_written(tmp_path: Path) -> None:
    """`linelab trace --follow` prints records as the recorder writes them, and Ctrl-C
    ends it quietly with 130."""
    path = tmp_path / "live.jsonl"
    writer = TranscriptWriter(path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "linelab", "trace", "--follow", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out = _Lines(proc)
    try:
        assert out.next().startswith("trace started ")
        writer(R(5.0, "A", "dte>modem", b"ATI\r"))
        assert out.next() == "     0.000  A  DTE> ATI"
        writer(R(5.25, "A", "modem>dte", b"\r\nlinelab\r\n"))
        assert out.next() == "     0.250  A  <MDM linelab"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert b"Traceback" not in err
    finally:
        writer.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _Lines:
    """Lines of a child's stdout as they come, each waited for with a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float = 30.0) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.deadline = deadline
        self.buffer = b""

    def next(self) -> str:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], self.deadline)
            assert ready, f"no output within {self.deadline} s"
            chunk = os.read(self.fd, 4096)
            assert chunk, f"the follower exited; output so far {self.buffer!r}"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()
