"""Every rule id the code and the tests cite exists in docs/rules.md.

The TAPI code and its tests cite the contract as ``docs/rules.md §6.2``, ``§2.8-2.19`` or
``R4``; each section and rule they name must be defined there (a heading ``§6.2`` or a
rule ``**R4**``), and each conformance case of §7 must be a test of that name.
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
# The research digest's form, "tapi.md 6.2" or "tapi.md section 7", which the same ids
# resolve; a "docs/tapi.md" with no number is the manual, not a citation.
_OLD_FORM = re.compile(rf"(?<![\w/])tapi\.md,?(?: sections?)? {_IDS}")
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
    for pattern in (_SECTIONS, _OLD_FORM):
        for match in pattern.finditer(text):
            ids.update(f"§{i}" for i in _expand(match.group(1)))
    for match in _CASES.finditer(text):
        ids.update(f"case {n}" for n in re.findall(r"\d+", match.group(1)))
    for low, high in _RULE_RANGE.findall(text):
        ids.update(f"R{i}" for i in range(int(low), int(high) + 1))
    ids.update(f"R{i}" for i in _RULE.findall(text))
    return ids


def _citations() -> list[tuple[str, int, str]]:
    """(file, line, cited id) for every citation in the citing packages."""
    found = []
    for top in CITING:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found += [(rel, number, cited) for cited in sorted(cited_ids(line))]
    return found


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


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("(docs/rules.md §6.2)", {"§6.2"}),
        ("§2.1-2.7, 2.14, 2.20", {"§2.1", "§2.7", "§2.14", "§2.20"}),
        ("tapi.md section 7, cases 2 and 4", {"§7", "case 2", "case 4"}),
        ("(tapi.md case 54)", {"case 54"}),
        ("see docs/tapi.md for the calling", set()),
        ("the rules R1-R3 and R9", {"R1", "R2", "R3", "R9"}),
    ],
)
def test_the_citation_patterns(text: str, ids: set[str]) -> None:
    assert cited_ids(text) == ids
