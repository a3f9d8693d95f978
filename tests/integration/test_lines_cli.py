"""`linelab lines`: list the configured TAPI lines, check each opens, place a test call
(issue 13). Runs the real command in a child process, on the built-in virtual modem
(real time: a call there takes about two seconds) or on a `linelab modem` pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_modem_cli import linelab, read_ready, runtime_dir, stop

__all__ = ["runtime_dir"]  # the fixture, used by name
DEADLINE = 90.0


def lines(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = dict(env or os.environ)
    environ.pop("LINELAB_CONFIG", None)
    environ["HOME"] = environ.get("LINELAB_TEST_HOME", "/nonexistent-home")
    return subprocess.run(
        [sys.executable, "-m", "linelab", "lines", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=DEADLINE,
        check=False,
    )


def test_default_line_is_listed_and_opens() -> None:
    done = lines()
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "line 0: linelab virtual modem [UNIMODEM] on vmodem://linelab-default, "
        "max rate 33600: opens: ok\n"
    )


def test_test_call_connects_and_cleans_up() -> None:
    done = lines("--dial", "5550100", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["lines"][0]["opens"] == "ok"
    assert report["call"] == {
        "line": 0,
        "number": "5550100",
        "states": ["DIALING", "PROCEEDING", "CONNECTED"],
        "result": "connected",
    }


def test_test_call_to_a_busy_number_fails() -> None:
    done = lines("--dial", "5550101")
    assert done.returncode == 1
    assert done.stdout.splitlines()[-2:] == [
        "  DISCONNECTED (busy)",
        "result: failed: disconnected (busy)",
    ]


def test_a_missing_port_is_named() -> None:
    done = lines("--port", "/nonexistent/modem")
    assert done.returncode == 1
    assert "opens: LINEERR_RESOURCEUNAVAIL (no such port: /nonexistent/modem)" in done.stdout


def test_a_bad_config_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "lines.yaml"
    bad.write_text('spec: "1"\nlines:\n  - {name: x}\n')
    done = lines("--config", str(bad))
    assert done.returncode == 2
    assert f"{bad}:3:" in done.stderr and "port" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("how", ["--port", "--config"])
def test_a_modem_on_a_pty(tmp_path: Path, runtime_dir: dict[str, str], how: str) -> None:
    link = tmp_path / "modem"
    proc = linelab("modem", str(link), "--far", "5550100=answer", env=runtime_dir)
    try:
        read_ready(proc, 1)
        if how == "--port":
            args = ["--port", str(link)]
        else:
            config = tmp_path / "lines.yaml"
            config.write_text(f'spec: "1"\nlines:\n  - {{name: Desk modem, port: {link}}}\n')
            args = ["--config", str(config)]
        done = lines(*args, "--dial", "5550100", env=runtime_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "opens: ok" in done.stdout.splitlines()[0]
        assert done.stdout.splitlines()[-1] == "result: connected"
    finally:
        code, _, err = stop(proc)
        assert code == 0, err
