"""`linelab replay`: a recorded modem played back to a client, who is told where it
departs from the recording (sans-I/O Replayer, then the command on a real pty)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.core.tracerecord import TraceRecord as R
from emulator.replay import Replayer, modems_in, steps_of
from emulator.transcript import read_transcript, write_transcript

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts"
DEADLINE = 30.0

SESSION = [
    R(0.0, "A", "modem>dte", b"\r\nRING\r\n"),  # before the DTE says anything
    R(1.0, "A", "dte>modem", b"AT"),
    R(1.0, "A", "modem>dte", b"AT"),
    R(1.1, "A", "dte>modem", b"I3\r"),
    R(1.1, "A", "modem>dte", b"I3\r"),
    R(1.3, "A", "modem>dte", b"\r\nlinelab\r\n\r\nOK\r\n"),
    R(2.0, "A", "dte>modem", b"ATH\r"),
    R(2.0, "A", "modem>dte", b"ATH\r\r\nOK\r\n"),
]


def test_steps_split_at_each_dte_input() -> None:
    steps = steps_of(SESSION, "A")
    assert [bytes(s.expect) for s in steps] == [b"", b"AT", b"I3\r", b"ATH\r"]
    assert steps[2].replies == [(0.0, b"I3\r"), (pytest.approx(0.2), b"\r\nlinelab\r\n\r\nOK\r\n")]
    assert modems_in(SESSION) == ["A"]


def test_a_faithful_client_gets_the_recorded_answers() -> None:
    r = Replayer(steps_of(SESSION, "A"), speed=0)
    assert r.due(0.0) == b"\r\nRING\r\n"
    r.receive(b"ATI3\r", 5.0)  # one write where the recording had two
    assert r.due(5.0) == b"ATI3\r\r\nlinelab\r\n\r\nOK\r\n"
    r.receive(b"ATH\r", 6.0)
    assert r.due(6.0) == b"ATH\r\r\nOK\r\n"
    assert r.complete and not r.departed


def test_replies_keep_the_recorded_pace() -> None:
    r = Replayer(steps_of(SESSION, "A"), speed=2.0, now=100.0)
    r.receive(b"ATI3\r", 100.0)
    assert r.due(100.0) == b"\r\nRING\r\nATI3\r"
    assert r.next_deadline() == pytest.approx(100.1)  # 0.2 s recorded, at twice the speed
    assert r.due(100.05) == b""
    assert r.due(100.1) == b"\r\nlinelab\r\n\r\nOK\r\n"


def test_a_departure_says_what_was_expected() -> None:
    r = Replayer(steps_of(SESSION, "A"), speed=0)
    r.receive(b"ATZ\r", 1.0)
    assert r.departed
    text = r.departures[0].describe()
    assert "step 2" in text and "expected 'I3\\x0d', got 'Z\\x0d'" in text
    r.receive(b"AT\r", 2.0)  # nothing more is answered or reported
    assert len(r.departures) == 1


def test_input_after_the_end_is_a_departure() -> None:
    r = Replayer(steps_of(SESSION, "A"), speed=0)
    r.receive(b"ATI3\rATH\rATZ\r", 1.0)
    assert "after the end of the recording" in r.departures[0].describe()


def _read_until(fd: int, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        ready, _, _ = select.select([fd], [], [], DEADLINE)
        assert ready, f"no {marker!r}; got {data!r}"
        data += os.read(fd, 4096)
    return data


def replay(trace: Path, link: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "linelab", "replay", str(trace), str(link), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line.startswith(f"READY link={link} pty=/dev/pts/"), line + proc.stderr.read()
    return proc


def test_replay_a_recorded_call_on_a_pty(tmp_path: Path) -> None:
    """Modem A of the recorded two-modem call, played to a client that sends what A's
    DTE sent: the same answers, and the replay ends cleanly."""
    records = read_transcript(FIXTURES / "two-modem-call.jsonl")
    link = tmp_path / "replayed"
    proc = replay(FIXTURES / "two-modem-call.jsonl", link, "--speed", "20", "--exit-at-end")
    try:
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            mine = [r.data for r in records if r.modem == "A"]
            kinds = [r.kind for r in records if r.modem == "A"]
            sent = b"".join(d for d, k in zip(mine, kinds, strict=True) if k == "dte>modem"
                            and isinstance(d, bytes))  # fmt: skip
            answered = b"".join(d for d, k in zip(mine, kinds, strict=True) if k == "modem>dte"
                                and isinstance(d, bytes))  # fmt: skip
            os.write(fd, sent)  # all at once: the replay matches a stream
            got = b""
            while len(got) < len(answered):
                ready, _, _ = select.select([fd], [], [], DEADLINE)
                assert ready, f"got {got!r} of {answered!r}"
                got += os.read(fd, 4096)
            assert got == answered
            _, err = proc.communicate(timeout=DEADLINE)
        finally:
            os.close(fd)
        assert proc.returncode == 0, err
        assert "played to the end" in err
        assert not os.path.lexists(link)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_replay_reports_a_departing_client(tmp_path: Path) -> None:
    trace, link = tmp_path / "session.jsonl", tmp_path / "replayed"
    write_transcript(trace, SESSION)
    proc = replay(trace, link, "--speed", "0")
    try:
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            assert b"RING" in _read_until(fd, b"RING\r\n")
            os.write(fd, b"ATDT5551234\r")
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert "departed from the recording at step 2" in line
            assert "expected 'I3\\x0d', got 'DT5551234\\x0d'" in line
        finally:
            os.close(fd)
        proc.terminate()
        proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_bad_choices_are_usage_errors(tmp_path: Path) -> None:
    trace = tmp_path / "session.jsonl"
    write_transcript(trace, SESSION)
    done = subprocess.run(
        [sys.executable, "-m", "linelab", "replay", str(trace), str(tmp_path / "x"),
         "--modem", "Z"],
        capture_output=True, text=True, timeout=DEADLINE, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no modem 'Z' (it has A)" in done.stderr
