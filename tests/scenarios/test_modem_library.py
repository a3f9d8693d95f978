"""The modem conformance library (scenarios/library/modem-*.scenario.yaml): it passes
against each bundled profile, reads its profile-dependent facts from the profile
(`scenarios.facts`), skips with the missing fact named when a profile lacks one, and
its mistakes are located load errors. All on virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_helpers import run_json

from emulator.core.profile import load_profile, parse_profile
from linelab.errors import SpecError
from scenarios import facts
from scenarios.language import load_text
from scenarios.suite import LIBRARY

MODEM_FILES = sorted(str(p) for p in Path(LIBRARY).glob("modem-*.scenario.yaml"))


@pytest.mark.parametrize("profile", ["generic", "hayes", "conexant"])
def test_the_modem_library_passes_against_each_profile(tmp_path: Path, profile: str) -> None:
    status, got = run_json(tmp_path, *MODEM_FILES, "--profile", profile)
    bad = [(r["id"], r["status"], r.get("message")) for r in got["results"]]
    assert status == 0, bad
    assert got["counts"]["failed"] == 0 and got["counts"]["skipped"] == 0, bad
    assert got["counts"]["passed"] == len(got["results"]) >= 15
    assert f"(profile {profile})" in got["target"]


def test_every_modem_scenario_states_what_it_relies_on() -> None:
    from scenarios.language import load_file

    for path in MODEM_FILES:
        for s in load_file(path):
            assert s.relies, s.id
            assert "modem" in s.tags, s.id


def test_facts_come_from_the_profile() -> None:
    hayes, conexant, generic = (load_profile(n) for n in ("hayes", "conexant", "generic"))
    assert facts.value(hayes, "rate.top") == "28800"
    assert facts.value(hayes, "rate.top.code") == "15"
    assert facts.value(conexant, "rate.top.code") == "84"
    assert facts.value(conexant, "rate.14400") == "15"
    assert facts.value(hayes, "rate.14400") == "13"
    assert facts.value(hayes, "rate.33600") is None
    assert facts.value(generic, "result.NO_CARRIER") == "3"
    assert facts.value(generic, "register.S7.query") == "050"
    assert facts.value(conexant, "register.S6.above") == "66"
    assert facts.value(generic, "register.S6.above") == "256"
    assert facts.value(generic, "register.S6.below") == "1"
    assert facts.value(generic, "register.S7.below") == "0"
    assert facts.value(generic, "register.S0.below") is None
    assert len(facts.value(generic, "line.longest") or "") == generic.buffer_size
    assert len(facts.value(generic, "line.overlong") or "") == generic.buffer_size + 1
    assert facts.value(generic, "has.repeat") == "yes"
    lacking = parse_profile('spec: "1"\nbase: generic\nlacks: [repeat]\n', "odd.yaml")
    assert facts.value(lacking, "has.repeat") is None
    assert facts.missing(lacking, ["result.OK", "has.repeat"]) == (
        "relies on has.repeat: profile odd lacks repeat"
    )


def test_a_profile_lacking_a_behaviour_skips_the_scenario_naming_it(tmp_path: Path) -> None:
    profile = tmp_path / "norepeat.yaml"
    profile.write_text('spec: "1"\nbase: hayes\nlacks: [repeat, escape]\n', encoding="utf-8")
    status, got = run_json(tmp_path, *MODEM_FILES, "--profile", str(profile))
    assert status == 0
    skipped = {r["id"]: r["reason"] for r in got["results"] if r["status"] == "skipped"}
    assert skipped == {
        "modem-commands::A/ repeats the last command line": (
            "relies on has.repeat: profile norepeat lacks repeat"
        ),
        "modem-calls::the escape sequence needs its guard times": (
            "relies on has.escape: profile norepeat lacks escape"
        ),
    }
    assert got["counts"]["failed"] == 0


def test_a_wrong_answer_fails_with_what_came(tmp_path: Path) -> None:
    path = tmp_path / "wrong.scenario.yaml"
    path.write_text(
        'spec: "1"\nscenarios:\n  - name: wrong\n    relies: [result.BUSY]\n'
        '    world: {modems: {A: {number: "1001"}}}\n    steps:\n'
        '      - {send: "ATE0V0\\r", modem: A, expect: "0"}\n'
        '      - {send: "AT\\r", modem: A, reply: "$profile.result.BUSY\\r"}\n',
        encoding="utf-8",
    )
    status, got = run_json(tmp_path, str(path))
    assert status == 1
    (r,) = got["results"]
    assert (r["cause"], r["expected"], r["actual"]) == ("wrong modem answer", "7\\x0d", "0\\x0d")


def test_reply_empty_means_nothing_may_come(tmp_path: Path) -> None:
    path = tmp_path / "quiet.scenario.yaml"
    path.write_text(
        'spec: "1"\nscenarios:\n  - name: not quiet\n'
        '    world: {modems: {A: {number: "1001"}}}\n    steps:\n'
        '      - {send: "ATE0\\r", modem: A, expect: OK}\n'
        '      - {send: "AT\\r", modem: A, reply: "", within: 1s}\n',
        encoding="utf-8",
    )
    status, got = run_json(tmp_path, str(path))
    assert status == 1
    assert got["results"][0]["message"].startswith("modem A answered \\x0d\\x0aOK\\x0d\\x0a;")


BASE = """\
spec: "1"
scenarios:
  - name: x
    world: {modems: {A: {number: "1001"}}}
"""


@pytest.mark.parametrize(
    ("extra", "line", "key", "message"),
    [
        (
            '    relies: [result.BUZY]\n    steps:\n      - {send: "AT\\r", modem: A}\n',
            5,
            "scenarios[0].relies[0]",
            "result.WORD takes one of OK, CONNECT, RING, NO_CARRIER",
        ),
        (
            "    relies: [result.OK]\n    steps:\n"
            '      - {send: "AT\\r", modem: A, reply: "$profile.result.ERROR\\r"}\n',
            7,
            "scenarios[0].steps[0].reply",
            "$profile.result.ERROR is used but not listed in the scenario's relies:",
        ),
        (
            "    relies: [has.repeat]\n    steps:\n"
            '      - {send: "$profile.has.repeat", modem: A}\n',
            7,
            "scenarios[0].steps[0].send",
            "has.repeat has no value; list it in relies: only",
        ),
        (
            "    relies: [register.S7]\n    steps:\n"
            '      - {send: "ATS7=$profile.register.S7\\r", modem: A}\n',
            7,
            "scenarios[0].steps[0].send",
            "register.S7 has no value",
        ),
        (
            '    relies: [has.teleport]\n    steps:\n      - {send: "AT\\r", modem: A}\n',
            5,
            "scenarios[0].relies[0]",
            "has.BEHAVIOUR takes one of repeat, overflow",
        ),
        (
            '    steps:\n      - {send: "AT\\r", modem: A, expect: OK, reply: "\\r\\nOK\\r\\n"}\n',
            6,
            "scenarios[0].steps[0].reply",
            "not both",
        ),
        (
            "    steps:\n      - {dte: A}\n",
            6,
            "scenarios[0].steps[0].dte",
            "say dtr: (set it) and/or dcd: (expect it)",
        ),
    ],
)
def test_fact_mistakes_are_located_load_errors(
    extra: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_text(BASE + extra, "x.scenario.yaml")
    assert err.value.line == line, str(err.value)
    assert err.value.key == key, str(err.value)
    assert message in str(err.value)


def test_an_unknown_behaviour_in_a_profile_is_a_located_error() -> None:
    with pytest.raises(SpecError) as err:
        parse_profile('spec: "1"\nbase: generic\nlacks: [repeat, flying]\n', "p.yaml")
    assert (err.value.line, err.value.key) == (3, "lacks[1]")
    assert "must be one of repeat" in str(err.value)


def test_run_profile_must_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scenarios.cli import main

    assert main(["run", *MODEM_FILES, "--profile", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
