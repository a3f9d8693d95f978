"""Shared pieces of the scenario tests: a file writer and the usual first steps."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from scenarios.cli import main

INIT = """\
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: test
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {hApp: hLineApp}
"""
OPEN = """\
      - call: lineOpen
        args: [$hApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER, LINEMEDIAMODE_DATAMODEM]
        save: {hLine: hLine}
"""
WORLD = """\
    world:
      modems: {A: {number: "1001"}}
      far: {"5550100": "answer,echo", "5550101": busy}
      lines: [A]
"""
SHUTDOWN = """\
      - call: lineShutdown
        args: [$hApp]
"""


def scenario(name: str, body: str, *, world: str = WORLD, extra: str = "") -> str:
    """One scenario entry (the text under ``scenarios:``)."""
    return f"  - name: {name}\n{world}{extra}    steps:\n{body}"


def write(directory: Path, stem: str, *entries: str) -> Path:
    path = directory / f"{stem}.scenario.yaml"
    path.write_text('spec: "1"\nscenarios:\n' + "".join(entries), encoding="utf-8")
    return path


def run_json(tmp: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`linelab run ARGS --json FILE` in this process: (exit status, the JSON)."""
    out = tmp / "results.json"
    status = main(["run", *args, "--json", str(out)])
    return status, json.loads(out.read_text(encoding="utf-8"))


def dedent(text: str) -> str:
    return textwrap.dedent(text)


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in `directory` as a user runs it (the plugin through its entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "timeout=100", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
