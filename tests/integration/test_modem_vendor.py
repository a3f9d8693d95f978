"""The vendor path end to end: `linelab probe` describes a modem, `linelab run --port
URL --profile FILE` runs the modem conformance library against it on real time.

Against a modem linelab did not write (tests/responder/oddmodem.py: lenient, other
numeric codes, slower answers, echo quirks, no A/, no command buffer limit, V0
information text framed like V1, Z forgets &W): the scenarios a single real line
supports pass with the probed and declared facts, and those relying on what the
responder lacks are skipped naming the fact. And against the built-in profiles served
by `linelab modem` over a pty and over RFC 2217. Real processes, ptys and sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_modem_cli import linelab, read_ready, runtime_dir, stop
from test_probe import oddmodem, probe

from emulator.core.profile import load_profile

__all__ = ["oddmodem", "runtime_dir"]  # the fixtures, used by name
RUN_DEADLINE = 180.0
COMMANDS = "modem-commands::"
PORT_PASSES = {
    COMMANDS + "command line framing",
    COMMANDS + "Q and V gate the result codes",
    COMMANDS + "S-registers accept their range and refuse the rest",
    COMMANDS + "ATI and +GMI, +GMM, +GMR, +GSN identify the modem",
}


def run(*args: str, out: Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "linelab", "run", "--tag", "modem", *args, "--json", str(out)],
        capture_output=True, text=True, timeout=RUN_DEADLINE, check=False,
    )  # fmt: skip
    got = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    return done.returncode, got, done.stdout + done.stderr


def outcomes(got: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        r["id"]: (r["status"], r.get("reason") or r.get("message") or "") for r in got["results"]
    }


def assert_single_line_skips(results: dict[str, tuple[str, str]]) -> None:
    """What a single real line cannot do is skipped with the reason, never run."""
    calls = {k: v for k, v in results.items() if k.startswith("modem-calls::")}
    assert len(calls) >= 10
    for rid, (status, reason) in calls.items():
        assert status == "skipped", (rid, status, reason)
        assert "which the port target cannot provide" in reason, (rid, reason)


def test_probe_then_run_the_library_against_a_modem_linelab_did_not_write(
    tmp_path: Path, oddmodem: Path
) -> None:
    probed = tmp_path / "odd.yaml"
    done = probe("--port", str(oddmodem), "--out", str(probed))
    assert done.returncode == 0, done.stderr
    found = load_profile(probed)
    # What the probe measured: its own codes, ranges, identity, and what it lacks.
    assert set(found.lacks) == {"repeat", "overflow", "v0-info"}
    assert found.registers[7].high == 60 and found.manufacturer == "ODDBALL"

    # Without the vendor's declarations, Z forgetting &W is a real failure: the
    # scenario can fail, and does against this modem.
    code, got, out = run("-k", "stored", "--port", str(oddmodem), "--profile", str(probed),
                         out=tmp_path / "undeclared.json")  # fmt: skip
    assert code == 1, out
    assert [r["status"] for r in got["results"]] == ["failed"]

    # The vendor declares what the probe cannot safely try (&W writes the modem's
    # memory; S3-S5 cut the probe off from the modem).
    data = yaml.safe_load(probed.read_text(encoding="utf-8"))
    data["lacks"] = [*data["lacks"], "stored-profile", "line-characters"]
    declared = tmp_path / "odd-declared.yaml"
    declared.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    code, got, out = run("--port", str(oddmodem), "--profile", str(declared),
                         out=tmp_path / "odd.json")  # fmt: skip
    assert code == 0, out
    results = outcomes(got)
    assert {k for k, (s, _) in results.items() if s == "passed"} == PORT_PASSES, results
    assert got["counts"]["failed"] == 0
    lacking = {k: r for k, (s, r) in results.items() if k.startswith(COMMANDS) and s == "skipped"}
    assert lacking == {
        COMMANDS + "A/ repeats the last command line": (
            "relies on has.repeat: profile odd-declared lacks repeat"
        ),
        COMMANDS + "an over-long command line answers ERROR and runs nothing": (
            "relies on has.overflow: profile odd-declared lacks overflow"
        ),
        COMMANDS + "information text under V0": (
            "relies on has.v0-info: profile odd-declared lacks v0-info"
        ),
        COMMANDS + "stored profile (ATW stores, ATZ restores, ATF is the factory's)": (
            "relies on has.stored-profile: profile odd-declared lacks stored-profile"
        ),
        COMMANDS + "S3, S4 and S5 frame and edit the command line": (
            "relies on has.line-characters: profile odd-declared lacks line-characters"
        ),
    }
    assert_single_line_skips(results)


@pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("profile", "transport"), [("hayes", "pty"), ("generic", "pty"), ("conexant", "rfc2217")]
)
def test_the_library_against_a_built_in_profile_served_on_a_port(
    tmp_path: Path, runtime_dir: dict[str, str], profile: str, transport: str
) -> None:
    link = tmp_path / "modem"
    extra = ("--rfc2217", "0") if transport == "rfc2217" else ()
    modem = linelab("modem", str(link), "--profile", profile, *extra, env=runtime_dir)
    try:
        (ready,) = read_ready(modem, 1)
        url = f"rfc2217://{ready.fields['rfc2217']}" if transport == "rfc2217" else str(link)
        code, got, out = run("--port", url, "--profile", profile, out=tmp_path / "r.json")
    finally:
        status, _, err = stop(modem)
        assert status == 0, err
    assert code == 0, out
    results = outcomes(got)
    commands = {k: v for k, v in results.items() if k.startswith(COMMANDS)}
    assert len(commands) >= 9
    assert all(s == "passed" for s, _ in commands.values()), commands
    assert_single_line_skips(results)
