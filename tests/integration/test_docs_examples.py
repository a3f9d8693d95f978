"""The example programs in docs/ run, and the copies the manual shows are the files."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from pathlib import Path

from test_modem_cli import DEADLINE, linelab, read_ready, runtime_dir, stderr_of, stop

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["runtime_dir"]  # the fixture, used by name
EXAMPLE = re.compile(r"<!-- example: (?P<path>\S+) -->\n```python\n(?P<code>.*?)```", re.DOTALL)


def run_example(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME="/nonexistent-home")  # no user lines.yaml: the default line
    env.pop("LINELAB_CONFIG", None)
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )


def test_manual_copies_match_the_example_files() -> None:
    shown = {
        m["path"]: m["code"] for doc in (ROOT / "docs").glob("*.md")
        for m in EXAMPLE.finditer(doc.read_text())
    }  # fmt: skip
    assert "docs/examples/data_call.py" in shown
    assert "docs/examples/incoming_call.py" in shown
    for path, code in shown.items():
        assert (ROOT / path).read_text() == code, f"{path} differs from its copy in docs/"


def test_data_call_example_runs() -> None:
    done = run_example(ROOT / "docs/examples/data_call.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "1 line device(s)",
        "call state: LINECALLSTATE_DIALING",
        "call state: LINECALLSTATE_PROCEEDING",
        "call state: LINECALLSTATE_CONNECTED",
        "echoed: b'hello over the line\\r\\n'",
        "call state: LINECALLSTATE_IDLE",
    ]


def test_data_call_example_reports_a_busy_number() -> None:
    done = run_example(ROOT / "docs/examples/data_call.py", "5550101")
    assert done.returncode == 0, done.stderr
    assert "call state: LINECALLSTATE_DISCONNECTED" in done.stdout
    assert "echoed" not in done.stdout
    assert done.stdout.splitlines()[-1] == "call state: LINECALLSTATE_IDLE"


LINELAB_CALL = [sys.executable, "-m", "linelab", "call"]
CALLER = ["--name", "Alice Example"]


def read_line(proc: subprocess.Popen[bytes], wanted: str, deadline: float = 60.0) -> list[str]:
    """Lines of `proc`'s stdout up to and including `wanted` (a deadline, not a delay)."""
    assert proc.stdout is not None
    fd, buf = proc.stdout.fileno(), b""
    lines: list[str] = []
    while wanted not in lines:
        ready, _, _ = select.select([fd], [], [], deadline)
        assert ready, f"no {wanted!r} within {deadline} s: {lines}"
        chunk = os.read(fd, 4096)
        assert chunk, f"stdout closed after {lines}; stderr: {stderr_of(proc)}"
        buf += chunk
        *done, buf = buf.split(b"\n")
        lines += [line.decode() for line in done]
    return lines


def test_incoming_call_example_takes_a_call_with_caller_id(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    link, config = tmp_path / "modem", tmp_path / "lines.yaml"
    modem = linelab("modem", str(link), "--time-scale", "10", env=runtime_dir)
    app: subprocess.Popen[bytes] | None = None
    try:
        read_ready(modem, 1)
        config.write_text(f'spec: "1"\nlines:\n  - name: Modem\n    port: {link}\n')
        env = dict(runtime_dir, LINELAB_CONFIG=str(config), HOME="/nonexistent-home")
        app = subprocess.Popen(
            [sys.executable, str(ROOT / "docs/examples/incoming_call.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        # Only once the line is in service (the modem initialised) does anything ring.
        assert read_line(app, "ready: waiting for a call") == ["ready: waiting for a call"]
        caller = subprocess.run(
            [*LINELAB_CALL, str(link), "--from", "5551234", *CALLER, "--wait", "--rings", "1000"],
            capture_output=True,
            text=True,
            env=runtime_dir,
            timeout=90,
            check=False,
        )
        out, err = app.communicate(timeout=90)
        assert app.returncode == 0, err.decode(errors="replace")
        assert out.decode().splitlines() == [
            "call state: LINECALLSTATE_OFFERING",
            "caller ID: 5551234 Alice Example",
            "call state: LINECALLSTATE_CONNECTED",
            "answered",
            "call state: LINECALLSTATE_IDLE",
        ]
        assert caller.returncode == 0, caller.stderr
        assert any(line.startswith("answered at ") for line in caller.stdout.splitlines())
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.communicate(timeout=DEADLINE)
        code, _, modem_err = stop(modem)
        assert code == 0, modem_err
