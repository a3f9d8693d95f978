"""The example programs in docs/ run, and the copies the manual shows are the files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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
