"""Every rule id the code and the tests cite exists in docs/rules.md.

The TAPI code, the scenarios, the tests and the docs cite the contract as ``rules.md §6.2``,
``§2.8-2.19``, ``§7 case 22`` or ``R4``; each section, case and rule they name must be
defined in docs/rules.md (a heading ``§6.2``, a row of §7, a rule ``**R4**``), and none
cites the research digest (``tapi.md 6.2``), which a checkout does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "docs" / "rules.md"
CITING = ("tapi", "tests", "scenarios")

_NUMBER = r"\d+(?:\.\d+)?"
_IDS = rf"({_NUMBER}(?:\s*-\s*{_NUMBER})?(?:,\s*{_NUMBER}(?:\s*-\s*{_NUMBER})?)*)"
# "§6.2", "§2.8-2.19", "§2.1-2.7, 2.14" (a list after one §).
_SECTIONS = re.compile(rf"§ ?{_IDS}")
# The research digest's form ("tapi.md 6.2", "tapi.md section 7", "research/tapi.md"),
# which a checkout cannot resolve; a "docs/tapi.md" with no number is the manual.
_OLD_FORM = re.compile(
    rf"research/tapi\.md|(?<![\w/])tapi\.md,?(?: sections?| cases?)? (?:{_NUMBER}|R\d)"
)
# Conformance rows: "§7 case 22", "tapi.md case 54", "section 7, cases 2 and 4".
_CASES = re.compile(
    r"(?:tapi\.md|rules\.md|§7|section 7),? cases? (\d+(?:(?:,\s*|\s+and\s+)\d+)*)"
)
_RULE = re.compile(r"\bR(\d+)\b")
_RULE_RANGE = re.compile(r"\bR(\d+)\s*[-–]\s*R(\d+)\b")


def _defined() -> set[str]:
    """Every id docs/rules.md defines: sections (§6.2) from its headings, rules (R4) from
    their bold labels, conformance cases (case 22) from the rows of §7."""
    text = RULES.read_text(encoding="utf-8")
    ids = set(re.findall(r"\*\*(R\d+)\*\*", text))
    for line in text.splitlines():
        if line.startswith("#"):
            ids.update(f"§{n}" for n in re.findall(rf"§({_NUMBER})", line))
    ids.update(f"case {n}" for n in re.findall(r"^\| (\d+) \| `", text, re.MULTILINE))
    return ids


def _expand(group: str) -> list[str]:
    """The ids of one citation: "2.8-2.19" names both ends; a list names each."""
    ids = []
    for part in group.split(","):
        ids += [end.strip() for end in part.split("-")]
    return ids


def cited_ids(text: str) -> set[str]:
    """The rule, section and case ids one line of code or prose cites."""
    ids: set[str] = set()
    for match in _SECTIONS.finditer(text):
        ids.update(f"§{i}" for i in _expand(match.group(1)))
    for match in _CASES.finditer(text):
        ids.update(f"case {n}" for n in re.findall(r"\d+", match.group(1)))
    for low, high in _RULE_RANGE.findall(text):
        ids.update(f"R{i}" for i in range(int(low), int(high) + 1))
    ids.update(f"R{i}" for i in _RULE.findall(text))
    return ids


def _lines() -> list[tuple[str, int, str]]:
    """(file, line number, text) of every line that may cite the rules: the Python
    files of the citing packages (not this file, whose examples are not citations), the
    bundled scenarios, the docs and the README."""
    found = []
    paths = [path for top in CITING for path in sorted((REPO / top).rglob("*.py"))]
    paths += sorted((REPO / "scenarios").rglob("*.yaml"))
    paths += [p for p in sorted((REPO / "docs").glob("*.md")) if p != RULES]
    paths.append(REPO / "README.md")
    for path in paths:
        if path.resolve() == Path(__file__).resolve():
            continue
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        found += [(rel, n, line) for n, line in enumerate(text.splitlines(), 1)]
    return found


def _citations() -> list[tuple[str, int, str]]:
    """(file, line, cited id) for every citation in the citing packages."""
    return [
        (file, number, cited)
        for file, number, line in _lines()
        for cited in sorted(cited_ids(line))
    ]


def test_the_rules_define_r1_to_r9_and_the_sections_cited() -> None:
    defined = _defined()
    assert {f"R{i}" for i in range(1, 10)} == {i for i in defined if i.startswith("R")}
    assert {"§1.2", "§2.8", "§5.3", "§6.2", "§6.10", "§7", "§8.4", "case 22"} <= defined


def test_every_cited_rule_section_and_case_exists() -> None:
    defined = _defined()
    citations = _citations()
    assert len(citations) > 50, "the citation patterns found almost nothing"
    missing = [
        f"{file}:{line}: {cited}" for file, line, cited in citations if cited not in defined
    ]
    assert missing == [], "cited but not in docs/rules.md:\n" + "\n".join(missing)


def test_nothing_cites_the_research_digest_outside_the_checkout() -> None:
    stale = [f"{file}:{n}: {line.strip()}" for file, n, line in _lines() if _OLD_FORM.search(line)]
    assert stale == [], "cite docs/rules.md instead:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("(docs/rules.md §6.2)", {"§6.2"}),
        ("§2.1-2.7, 2.14, 2.20", {"§2.1", "§2.7", "§2.14", "§2.20"}),
        ("rules.md §7, cases 2 and 4", {"§7", "case 2", "case 4"}),
        ("(rules.md §7 case 54)", {"§7", "case 54"}),
        ("see docs/tapi.md for the calling", set()),
        ("tapi.md 6.2 and research/tapi.md", set()),
        ("the rules R1-R3 and R9", {"R1", "R2", "R3", "R9"}),
    ],
)
def test_the_citation_patterns(text: str, ids: set[str]) -> None:
    assert cited_ids(text) == ids


@pytest.mark.parametrize(
    ("text", "stale"),
    [
        ("(tapi.md 6.2)", True),
        ("tapi.md section 7, cases 2", True),
        ("(tapi.md R8)", True),
        ("research/tapi.md", True),
        ("See docs/tapi.md.", False),
        ("(issue 4, docs/tapi.md): the C", False),
        ("rules.md §6.2", False),
    ],
)
def test_the_stale_citation_pattern(text: str, stale: bool) -> None:
    assert bool(_OLD_FORM.search(text)) is stale
