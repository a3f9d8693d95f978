"""`linelab run` on two real lines: two modems of one `linelab modem` process (two ptys
on one exchange) are the target, each with its number (`--port URL,number=N` or
`number:` in a line config). The library's call scenarios (one line dials the other's
`$number.B`) run and pass; scenarios that need a scripted far end are skipped with that
reason; without the numbers the call scenarios are skipped and say how to give them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_modem_cli import Ready, linelab, read_ready, runtime_dir, stop

from linelab.errors import LinelabError, SpecError
from scenarios.commands.run import port_line
from scenarios.language import load_text
from tapi.config import parse_lines

__all__ = ["runtime_dir"]  # the fixture, used by name

RUN_DEADLINE = 150.0
CALLS = (
    "calls::a call from one line to another connects and both ends clean up",
    "calls::the calling app shuts down mid-call, and the called line sees the call end",
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linelab", "run", *args],
        capture_output=True, text=True, timeout=RUN_DEADLINE, check=False,
    )  # fmt: skip


@pytest.fixture
def two_modems(tmp_path: Path, runtime_dir: dict[str, str]) -> Iterator[list[Ready]]:
    modem = linelab("modem", str(tmp_path / "A"), str(tmp_path / "B"), env=runtime_dir)
    try:
        yield read_ready(modem, 2)
    finally:
        stop(modem)


def test_two_ports_with_numbers_run_the_call_scenarios(two_modems: list[Ready]) -> None:
    a, b = two_modems
    done = run(
        "--tag", "calls", "--tag", "cleanup",
        "--port", f"{a.link},number={a.number}", "--port", f"{b.link},number={b.number}",
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for case in CALLS:
        assert f"PASS {case}\n" in out, out
    # A far end the line cannot script is still a reasoned skip, never a failure.
    assert (
        "SKIP cleanup::freeing an HCALL deletes its pending messages: needs scripted far " in out
    )
    assert f"(number {a.number})" in out and f"(number {b.number})" in out
    assert "failed      0" in out


def test_two_ports_without_numbers_skip_the_calls_saying_why(two_modems: list[Ready]) -> None:
    a, b = two_modems
    done = run("--tag", "calls", "--port", a.link, "--port", b.link)
    assert done.returncode == 0, done.stdout + done.stderr
    for case in CALLS:
        assert f"SKIP {case}: needs the number of each line (--port URL,number=N" in done.stdout


def test_a_config_of_two_wired_lines_runs_the_calls(
    two_modems: list[Ready], tmp_path: Path
) -> None:
    a, b = two_modems
    config = tmp_path / "lines.yaml"
    config.write_text(
        'spec: "1"\nlines:\n'
        f'  - {{name: Office A, port: {a.link}, number: "{a.number}"}}\n'
        f'  - {{name: Office B, port: {b.link}, number: "{b.number}"}}\n',
        encoding="utf-8",
    )
    done = run("-k", "calls and connects", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"PASS {CALLS[0]}\n" in done.stdout
    assert f"Office A on {a.link} (number {a.number})" in done.stdout


def test_port_option_takes_an_optional_number() -> None:
    assert port_line(0, "rfc2217://h:7000").number is None
    line = port_line(1, "/dev/ttyUSB1,number=5551002")
    assert (line.port, line.number, line.name) == (
        "/dev/ttyUSB1",
        "5551002",
        "Modem on /dev/ttyUSB1",
    )
    with pytest.raises(LinelabError, match="a line number is 1-32 of the digits"):
        port_line(0, "/dev/ttyUSB0,number=55-12")
    with pytest.raises(LinelabError, match="the port URL is missing"):
        port_line(0, ",number=1")


def test_bad_numbers_are_usage_errors() -> None:
    done = run("--port", "/dev/null,number=12a")
    assert done.returncode == 2
    assert "a line number is 1-32 of the digits 0-9, * and #, not '12a'" in done.stderr
    with pytest.raises(SpecError, match=r"lines\[0\]\.number.*not 'x1'"):
        parse_lines('spec: "1"\nlines:\n  - {name: a, port: /x, number: x1}\n', "l.yaml")


def test_a_number_reference_names_a_modem_of_the_world() -> None:
    text = """\
spec: "1"
scenarios:
  - name: dial nobody
    world: {modems: {A: {number: "1001"}}, lines: [A]}
    steps:
      - call: lineInitializeEx
        args: {lpszFriendlyAppName: x, dwAPIVersion: TAPI_VERSION2_2}
        save: {app: hLineApp}
      - call: lineOpen
        args: [$app, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_NONE, LINEMEDIAMODE_DATAMODEM]
        save: {line: hLine}
      - call: lineMakeCall
        args: {hLine: $line, lpszDestAddress: $number.Z}
"""
    with pytest.raises(
        SpecError, match=r"x.scenario.yaml:13.*\$number.Z names a modem of the world"
    ):
        load_text(text, "x.scenario.yaml")
