"""`linelab call` against a real `linelab modem` process: it gives up, it can be
cancelled, and it says how the call ended (issue 13, item 2).

The modems run at --time-scale 100, so ten rings (60 s) take 0.6 s. Every wait is a
deadline on a process or a pty; nothing sleeps."""

from __future__ import annotations

import signal
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_modem_cli import DEADLINE, Port, linelab, read_ready, runtime_dir, stop

__all__ = ["runtime_dir"]  # the fixture, used by name


@pytest.fixture
def modems(tmp_path: Path, runtime_dir: dict[str, str]) -> Iterator[tuple[Path, Path]]:
    a, b = tmp_path / "a", tmp_path / "b"
    proc = linelab("modem", str(a), str(b), "--time-scale", "100", env=runtime_dir)
    try:
        read_ready(proc, 2)
        yield a, b
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


def call(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linelab", "call", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
        check=False,
    )


def test_unanswered_call_gives_up_after_its_rings(
    modems: tuple[Path, Path], runtime_dir: dict[str, str]
) -> None:
    _, b = modems
    done = call(runtime_dir, str(b), "--from", "5551234", "--rings", "2", "--wait")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"calling {b} (number ")
    assert lines[1:] == [
        "ringing (ring 1 of 2)",
        "ringing (ring 2 of 2)",
        "ended: no answer after 2 rings",
    ]


def test_busy_modem_is_reported_busy(
    modems: tuple[Path, Path], runtime_dir: dict[str, str]
) -> None:
    a, _ = modems
    port = Port(str(a))
    try:
        port.send(b"ATH1\r")  # off hook: busy to callers
        port.expect(b"OK")
        done = call(runtime_dir, str(a), "--from", "5551234")
        assert done.returncode == 1, done.stderr
        assert done.stdout.splitlines()[-1] == "ended: busy"
    finally:
        port.close()


def test_answered_call_reports_who_hung_up(
    modems: tuple[Path, Path], runtime_dir: dict[str, str]
) -> None:
    a, _ = modems
    port = Port(str(a))
    waiting = subprocess.Popen(
        # Rings enough that a loaded machine answers in time (10 rings at scale 100 is
        # only 0.6 s).
        [
            sys.executable,
            "-m",
            "linelab",
            "call",
            str(a),
            "--from",
            "5551234",
            "--wait",
            "--rings",
            "1000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=runtime_dir,
    )
    try:
        port.expect(b"RING")
        port.send(b"ATA\r")
        port.expect(b"CONNECT")
        # Drop DTR the POSIX way (output speed B0): at &D2 the modem hangs up.
        attrs = termios.tcgetattr(port.fd)
        attrs[5] = termios.B0
        termios.tcsetattr(port.fd, termios.TCSANOW, attrs)
        port.expect(b"OK")
        out, err = waiting.communicate(timeout=DEADLINE)
        assert waiting.returncode == 0, err
        lines = out.splitlines()
        assert "ringing (ring 1 of 1000)" in lines
        assert any(line.startswith("answered at ") for line in lines), lines
        assert lines[-1].startswith("ended: modem hung up after ")
    finally:
        port.close()
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()


def test_a_ringing_call_can_be_cancelled(
    modems: tuple[Path, Path], runtime_dir: dict[str, str]
) -> None:
    _, b = modems
    port = Port(str(b))
    try:
        placed = call(runtime_dir, str(b), "--from", "5551234", "--rings", "1000")
        assert placed.returncode == 0, placed.stderr
        assert "ringing (ring 1 of 1000)" in placed.stdout
        assert f"`linelab call {b} --cancel` hangs up" in placed.stdout
        port.expect(b"RING")
        done = call(runtime_dir, str(b), "--cancel")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"hung up 1 call(s) to {b}\n"
        done = call(runtime_dir, str(b), "--cancel")
        assert done.stdout == f"no call is going on to {b}\n"
    finally:
        port.close()


def test_ctrl_c_while_waiting_hangs_up(
    modems: tuple[Path, Path], runtime_dir: dict[str, str]
) -> None:
    _, b = modems
    port = Port(str(b))
    waiting = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linelab",
            "call",
            str(b),
            "--from",
            "1",
            "--rings",
            "1000",
            "--wait",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=runtime_dir,
    )
    try:
        port.expect(b"RING")
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=DEADLINE)
        assert waiting.returncode == 130, err
        assert out.splitlines()[-1] == "cancelled: hung up"
        assert "Traceback" not in err
        done = call(runtime_dir, str(b), "--cancel")
        assert done.stdout == f"no call is going on to {b}\n"
    finally:
        port.close()
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()


def test_then_lists_only_what_a_caller_may_do(
    modems: tuple[Path, Path], runtime_dir: dict[str, str]
) -> None:
    _, b = modems
    done = call(runtime_dir, str(b), "--from", "1", "--then", "bogus")
    assert done.returncode == 2
    assert "answer[,rate=N][,echo|,discard][,hangup=30s|,hangup=1000B][,drop=10s]" in done.stderr
    assert "noanswer" not in done.stderr and "busy" not in done.stderr
    done = call(runtime_dir, str(b), "--from", "1", "--rings", "0")
    assert done.returncode == 2
    assert "want a number of rings from 1 to 1000" in done.stderr
