"""The three quick starts of docs/ run as written, so they cannot go stale.

Each ```sh block of a page (but the first, ``# setup``: the install this test already
runs in) is run in order by one ``bash -euo pipefail`` in the linelab checkout, with the
test's own directory where the text says ``/tmp/qs``. The vendor page's "real modem"
``/dev/ttyUSB0`` is tests/responder/oddmodem.py on a pty, as the page says. The CI page's
GitHub Actions and GitLab files must load as YAML, and every command they run must be
one the page's shell blocks ran."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_modem_cli import runtime_dir

__all__ = ["runtime_dir"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ODDMODEM = ROOT / "tests" / "responder" / "oddmodem.py"
_SH = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_CI = re.compile(r"```yaml\n# ci: (github|gitlab)\n(.*?)```", re.DOTALL)
DEADLINE = 240.0


def shell_blocks(page: str) -> list[str]:
    blocks = _SH.findall((DOCS / page).read_text(encoding="utf-8"))
    assert blocks and blocks[0].startswith("# setup"), f"{page}: the first block is # setup"
    return list(blocks[1:])


def run_page(page: str, qs: Path, env: dict[str, str], **replace: str) -> str:
    script = "\n".join(shell_blocks(page)).replace("/tmp/qs", str(qs))
    for old, new in replace.items():
        script = script.replace(old, new)
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    env.pop("LINELAB_CONFIG", None)
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=DEADLINE)
    finally:
        # Whatever the page left running (a modem, a replay) goes with its session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    assert proc.returncode == 0, f"{page} failed (exit {proc.returncode}):\n{out}"
    return out


@pytest.fixture
def qs(tmp_path: Path) -> Path:
    return tmp_path / "qs"


def test_ci_quick_start(qs: Path, runtime_dir: dict[str, str]) -> None:
    out = run_page("quickstart-ci.md", qs, runtime_dir)
    project = qs / "project"
    assert "  failed      0" in out  # linelab run
    assert re.search(r"^\d+ passed in ", out, re.MULTILINE), out  # pytest, nothing else
    for junit in ("results.xml", "pytest.xml"):
        text = (project / junit).read_text(encoding="utf-8")
        assert "<testcase" in text and "<failure" not in text, junit
    assert 'failures="0"' in (project / "pytest.xml").read_text(encoding="utf-8")
    assert "bringing up nodes" in out  # xdist workers


def words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return []  # a line of a heredoc, not a command


def ci_files() -> dict[str, Any]:
    text = (DOCS / "quickstart-ci.md").read_text(encoding="utf-8")
    return {kind: yaml.safe_load(body) for kind, body in _CI.findall(text)}


def test_ci_snippets_are_valid_and_run_what_the_page_ran() -> None:
    files = ci_files()
    assert set(files) == {"github", "gitlab"}
    job = files["github"]["jobs"]["conformance"]
    # YAML 1.1 reads the key `on` as true; GitHub reads it as "on".
    assert job["runs-on"] and files["github"].get(True) == ["push", "pull_request"]
    github = [step["run"] for step in job["steps"] if "run" in step]
    assert any(step.get("uses", "").startswith("actions/checkout@") for step in job["steps"])
    gitlab = files["gitlab"]["conformance"]["script"]
    assert files["gitlab"]["conformance"]["artifacts"]["reports"]["junit"]
    ran = [words(line) for b in shell_blocks("quickstart-ci.md") for line in b.splitlines()]
    for command in github + gitlab:
        if "pip install" in command:
            continue  # the install: the setup block (this test's own environment)
        assert shlex.split(command) in ran, command
    assert any("--junit" in c for c in github) and any("-n 2 --dist loadfile" in c for c in gitlab)


@pytest.fixture
def oddmodem(qs: Path) -> Iterator[Path]:
    qs.mkdir(parents=True)
    link = qs.parent / "ttyUSB0"
    proc = subprocess.Popen([sys.executable, str(ODDMODEM), str(link)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == f"READY {link}"
        yield link
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_vendor_quick_start_against_a_modem_linelab_did_not_write(
    qs: Path, oddmodem: Path, runtime_dir: dict[str, str]
) -> None:
    out = run_page("quickstart-vendor.md", qs, runtime_dir, **{"/dev/ttyUSB0": str(oddmodem)})
    assert "OM-56" in (qs / "my-modem.yaml").read_text(encoding="utf-8")
    assert f"against Modem on {oddmodem}" in out
    assert "PASS cleanup::shutting down an HLINEAPP closes its HLINEs" in out
    assert "SKIP calls::a call from one line to another" in out  # one line: reasoned skip
    records = sorted(p.name for p in (qs / "real").glob("*.jsonl"))
    assert records and records == sorted(p.name for p in (qs / "emulated").glob("*.jsonl"))
    assert "the recording has been played to the end" in out
    assert f"1 scenario against Modem on {qs}/replayed" in out


@pytest.mark.interop
def test_no_hardware_quick_start_with_minicom_pyserial_and_a_tapi_app(
    qs: Path, runtime_dir: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = dict(runtime_dir, TERM="vt100", HOME=str(home), LANG="C", LC_ALL="C")
    out = run_page("quickstart-no-hardware.md", qs, env)
    assert "linelab generic V.250 modem 1.0" in out  # minicom showed ATI3's answer
    lines = [line.strip() for line in out.splitlines()]
    assert "CONNECT 33600" in lines and "hello B" in lines  # the pyserial call
    assert "echoed: b'hello over the line\\r\\n'" in lines  # the TAPI app's data call
    assert lines[-1] == "call state: LINECALLSTATE_IDLE"
