"""`linelab run --record DIR`: each scenario's AT transcript in its own file, which
`linelab replay` serves on a pty and `linelab trace --diff` compares with another run."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.transcript import read_transcript
from scenarios.cli import main
from scenarios.report import record_name, write_records
from scenarios.runner import Result

DEADLINE = 30.0

# One modem, raw AT: ATI3, then a dial to a busy number. The variants below change one
# thing each, so the diff of their recordings has one kind of difference.
DIAL = """\
spec: "1"
scenarios:
  - name: dial a busy number
    world:
      modems: {{A: {{number: "1001", profile: generic}}}}
      far: {{"5550101": {far}}}
    steps:
{before}      - send: "ATI3\\r"
        modem: A
        expect: OK
{extra}      - send: "ATDT5550101\\r"
        modem: A
        expect: "{result}"
        within: 2m
"""
ADVANCE = "      - advance: 3s\n"
ATZ = '      - send: "ATZ\\r"\n        modem: A\n        expect: OK\n'
CASE = "dial::dial a busy number"


def record(tmp: Path, run: str, *, far: str = "busy", result: str = "BUSY",
           before: str = "", extra: str = "") -> Path:  # fmt: skip
    """Write the variant as dial.scenario.yaml, run it with --record, return its file."""
    source = tmp / run / "src"
    source.mkdir(parents=True)
    text = DIAL.format(far=far, result=result, before=before, extra=extra)
    (source / "dial.scenario.yaml").write_text(text, encoding="utf-8")
    out = tmp / run / "recorded"
    assert main(["run", str(source), "--record", str(out)]) == 0
    return out / record_name(CASE)


def diff(a: Path, b: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linelab", "trace", "--diff", str(a), str(b)],
        capture_output=True, text=True, timeout=DEADLINE, check=False,
    )  # fmt: skip


def test_record_writes_one_transcript_per_scenario(tmp_path: Path) -> None:
    path = record(tmp_path, "one")
    assert path.name == "dial--dial_a_busy_number.jsonl"
    records = read_transcript(path)
    sent = b"".join(r.data for r in records if r.kind == "dte>modem" and isinstance(r.data, bytes))
    answered = b"".join(
        r.data for r in records if r.kind == "modem>dte" and isinstance(r.data, bytes)
    )
    assert sent == b"ATI3\rATDT5550101\r"
    assert b"\r\nOK\r\n" in answered and answered.endswith(b"\r\nBUSY\r\n")
    assert any(r.kind == "exchange" and r.data == "dial 1001 -> 5550101" for r in records)
    index = json.loads((path.parent / "index.json").read_text(encoding="utf-8"))
    assert index == [{"id": CASE, "status": "passed", "file": path.name}]


def test_hostile_ids_make_safe_distinct_file_names(tmp_path: Path) -> None:
    ids = ["a::../../etc/passwd", "a::.hidden", "a::x/y", "a::x y", "a::" + "x" * 300]
    results = [Result(id=i, path="a", line=1, tags=[], source=None, status="passed") for i in ids]
    written = write_records(tmp_path / "out", results)
    assert len({p.name for p in written.values()}) == len(ids)
    for path in written.values():
        assert path.parent == tmp_path / "out"
        assert not path.name.startswith(".") and path.name.endswith(".jsonl")
        assert len(path.name) <= 117
        assert read_transcript(path) == []
    assert record_name("a::x/y") == "a--x_y.jsonl"


def test_record_into_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert main(["run", "-k", "lineShutdown", "--record", str(blocker / "sub")]) == 2
    assert f"--record {blocker / 'sub'}" in capsys.readouterr().err


def _read_until(fd: int, size: int) -> bytes:
    got = b""
    while len(got) < size:
        ready, _, _ = select.select([fd], [], [], DEADLINE)
        assert ready, f"got {got!r} of {size} bytes"
        got += os.read(fd, 4096)
    return got


def test_replay_serves_a_recorded_scenario_on_a_pty(tmp_path: Path) -> None:
    """The recording of a `linelab run` is a modem again: a client on the replay's pty
    that sends what the scenario sent gets what the virtual modem answered."""
    path = record(tmp_path, "one")
    records = read_transcript(path)
    sent = [r.data for r in records if r.kind == "dte>modem" and isinstance(r.data, bytes)]
    answered = b"".join(
        r.data for r in records if r.kind == "modem>dte" and isinstance(r.data, bytes)
    )
    link = tmp_path / "replayed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "linelab", "replay", str(path), str(link),
         "--speed", "0", "--exit-at-end"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.readline()
        assert ready.startswith(f"READY link={link} pty=/dev/pts/"), ready + proc.stderr.read()
        assert "modem=A" in ready
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            first = answered.index(b"OK\r\n") + len(b"OK\r\n")
            os.write(fd, sent[0])
            got = _read_until(fd, first)
            os.write(fd, sent[1])
            got += _read_until(fd, len(answered) - len(got))
            assert got == answered
            _, err = proc.communicate(timeout=DEADLINE)
        finally:
            os.close(fd)
        assert proc.returncode == 0, err
        assert "played to the end" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_trace_diff_labels_two_recorded_runs(tmp_path: Path) -> None:
    base = record(tmp_path, "base")
    again = record(tmp_path, "again")
    later = record(tmp_path, "later", before=ADVANCE)
    other = record(tmp_path, "other", far="noanswer", result="NO CARRIER")
    longer = record(tmp_path, "longer", extra=ATZ)

    same = diff(base, again)
    assert same.returncode == 0, same.stdout + same.stderr

    timing = diff(base, later)
    assert timing.returncode == 1
    labels = {line.split(":")[0] for line in timing.stdout.splitlines()[:-1] if line.strip()}
    assert labels == {"timing"}, timing.stdout

    result = diff(base, other)  # the far end differs: so do the exchange's records
    assert result.returncode == 1
    assert "result: A 1.330s A result: BUSY  |  B 51.330s A result: NO CARRIER" in result.stdout
    assert result.stdout.splitlines()[-1].endswith(", 1 result, 2 sequence"), result.stdout

    sequence = diff(base, longer)
    assert sequence.returncode == 1
    assert "sequence: A (nothing)  |  B 0.000s A cmd: ATZ" in sequence.stdout, sequence.stdout
    assert ", 0 result, " in sequence.stdout.splitlines()[-1], sequence.stdout
