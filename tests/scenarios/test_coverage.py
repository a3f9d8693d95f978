"""The coverage catalogue (scenarios/coverage.py), ``covers:`` and ``linelab run --coverage``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scenario_helpers import INIT, SHUTDOWN, scenario, write

from linelab.errors import SpecError
from scenarios.cli import main
from scenarios.coverage import CATALOGUE, MODEM, TAPI, matrix, render, uncovered
from scenarios.language import load_file, load_text
from scenarios.suite import discover

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "rules.md"
COVERAGE_PAGE = ROOT / "docs" / "coverage.md"
RULE_SECTIONS = {"1", "2", "3", "4", "5", "6", "8", "9"}


def rules_headings() -> dict[str, str]:
    """The ids docs/rules.md defines in its rule sections, each with its heading text:
    the R1-R9 bullets, every ``### §N.M`` heading (a heading naming several sections,
    ``§2.15 lineGetCallInfo, §2.16 lineGetCallStatus``, gives each its part), and a
    ``## §N`` section that has no sub-headings."""
    found: dict[str, str] = {}
    with_subsections: set[str] = set()
    for line in RULES.read_text(encoding="utf-8").splitlines():
        rule = re.match(r"- \*\*(R\d+)\*\* (.*)", line)
        if rule:
            found[rule.group(1)] = rule.group(2)
            continue
        top = re.match(r"## §(\d+) (.*)", line)
        if top:
            if top.group(1) in RULE_SECTIONS:
                found[f"§{top.group(1)}"] = top.group(2)  # dropped below if it has §N.M
            continue
        sub = re.match(r"### (§(\d+)\.\d+.*)", line)
        if sub and sub.group(2) in RULE_SECTIONS:
            with_subsections.add(sub.group(2))
            for part in re.split(r",? (?=§\d+\.\d+ )", sub.group(1)):
                ident, _, title = part.partition(" ")
                found[ident] = re.sub(r" \([^)]*\)$", "", title)
    for number in with_subsections:
        del found[f"§{number}"]
    return found


def test_the_catalogue_and_rules_md_agree() -> None:
    headings = rules_headings()
    assert sorted(headings) == sorted(TAPI)
    # rules.md's order is the catalogue's order (R first, then sections as written).
    assert [i for i in TAPI if i.startswith("§")] == [i for i in headings if i.startswith("§")]
    for ident, title in TAPI.items():
        if ident.startswith("§"):
            assert title == headings[ident], ident
    assert len([i for i in TAPI if i.startswith("R")]) == 9
    not_rules = ("§" + "7.1", "§" + "10")  # conformance cases, disagreements
    assert not any(ident in CATALOGUE for ident in not_rules)


def test_the_catalogue_holds_the_modem_ids_of_the_decision() -> None:
    for ident in (
        "modem.framing",
        "modem.repeat",
        "modem.overflow",
        "modem.qvx",
        "modem.sregs",
        "modem.profile",
        "modem.info",
        "modem.dial",
        "modem.ring",
        "modem.callerid",
        "modem.escape",
        "modem.ato",
        "modem.ath",
        "modem.dtr",
        "modem.dcd",
    ):
        assert MODEM[ident]
    assert all(i.startswith("modem.") for i in MODEM)


COVERED = scenario(
    "covered",
    INIT + SHUTDOWN,
    extra='    covers: [R1, "§2.3", modem.ath]\n',
)


def test_covers_is_read_in_order() -> None:
    (s,) = load_text('spec: "1"\nscenarios:\n' + COVERED, "c.scenario.yaml")
    assert s.covers == ["R1", "§2.3", "modem.ath"]


@pytest.mark.parametrize(
    ("covers", "words"),
    [
        ("[R1, Rule1]", "not a coverage id: 'Rule1'"),
        ('[R1, "S2.3"]', "section sign: '§2.3'"),
        ("[R1, 2.3]", "section sign and quoted"),
        ("[R1, R1]", "listed twice"),
        ("[modem.nosuch]", "not a coverage id: 'modem.nosuch'"),
    ],
)
def test_an_unknown_coverage_id_is_one_located_error(covers: str, words: str) -> None:
    text = 'spec: "1"\nscenarios:\n' + COVERED.replace('[R1, "§2.3", modem.ath]', covers)
    with pytest.raises(SpecError) as info:
        load_text(text, "c.scenario.yaml")
    error = info.value
    assert error.path == "c.scenario.yaml"
    assert error.line == 8
    assert error.key is not None and error.key.startswith("scenarios[0].covers[")
    assert words in str(error)


def test_the_matrix_lists_each_scenario_once_under_each_id(tmp_path: Path) -> None:
    two_rows = "    data: [{id: a, x: 1}, {id: b, x: 2}]\n    steps:"
    rows_entry = COVERED.replace("    steps:", two_rows)
    path = write(tmp_path, "m", rows_entry)
    rows = {r.ident: r for r in matrix(load_file(path))}
    assert rows["R1"].scenarios == ("m::covered",)
    assert rows["modem.ath"].scenarios == ("m::covered",)
    assert rows["R2"].scenarios == ()
    text = render(list(rows.values()))
    assert "R2 " in text and "(none)" in text
    assert f"3 of {len(CATALOGUE)} ids covered" in text


def test_run_coverage_prints_the_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "m", COVERED)
    assert main(["run", str(path), "--coverage"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = lines.index(next(x for x in lines if x.startswith("R1 ")))
    assert "lineShutdown closes" in lines[at]
    assert lines[at + 1].strip() == "m::covered"
    assert main(["run", str(path), "--coverage=json"]) == 0
    got = json.loads(capsys.readouterr().out)
    by_id = {row["id"]: row for row in got["ids"]}
    assert by_id["§2.3"]["scenarios"] == ["m::covered"]
    assert "R2" in got["uncovered"] and "R1" not in got["uncovered"]


def test_docs_coverage_md_is_the_generated_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--coverage=markdown"]) == 0
    generated = capsys.readouterr().out
    assert COVERAGE_PAGE.read_text(encoding="utf-8") == generated, (
        "docs/coverage.md is stale: regenerate it with "
        "`linelab run --coverage=markdown > docs/coverage.md`"
    )


def test_every_library_scenario_says_what_it_covers() -> None:
    bare = [c.id for c in discover([]) if not c.scenario.covers]
    assert bare == []


def test_the_library_covers_every_rule_and_modem_behaviour() -> None:
    """The conformance library is complete: every id of the catalogue (docs/rules.md
    sections 1-6, 8 and 9, R1-R9, the modem behaviours) has a bundled scenario, and not
    only one marked todo: a known failure covers nothing."""
    cases = discover([])
    rows = matrix(c.scenario for c in cases)
    assert uncovered(rows) == [], "ids with no bundled scenario"
    passing = matrix(c.scenario for c in cases if "virtual" not in c.scenario.todo)
    assert uncovered(passing) == [], "ids covered only by scenarios marked todo: virtual"
