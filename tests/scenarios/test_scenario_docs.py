"""docs/scenarios.md: every ```yaml example is a complete file that `linelab run` runs
with the outcome its first comment states, so the manual cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scenario_helpers import run_json

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "docs" / "scenarios.md"
_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
_OUTCOME = re.compile(r"# linelab run: (passes|fails \(([a-z -]+)\))\n")


def examples() -> list[tuple[int, str]]:
    text = MANUAL.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def test_the_manual_has_an_example_per_feature() -> None:
    text = "\n".join(block for _, block in examples())
    for feature in (
        "returns:", "save:", " | ", "messages:", "within:", "any", "ignore:", "unordered:",
        "ring:", "hangup:", "carrier_loss:", "advance:", "send:", "expect:", "reply:",
        "relies:", "$profile.", "dte:", "finally:",
        "repeat:", "data:", "source:", "todo:", "unchecked:", "final:", "needs:", "com:",
    ):  # fmt: skip
        assert feature in text, feature


@pytest.mark.parametrize(("line", "block"), examples(), ids=lambda v: str(v)[:1] and None)
def test_each_example_runs_as_the_manual_says(tmp_path: Path, line: int, block: str) -> None:
    outcome = _OUTCOME.match(block)
    assert outcome is not None, f"docs/scenarios.md:{line}: say '# linelab run: passes'"
    (tmp_path / "example.scenario.yaml").write_text(block, encoding="utf-8")
    status, got = run_json(tmp_path, str(tmp_path / "example.scenario.yaml"))
    if outcome.group(1) == "passes":
        assert status == 0, got
        assert got["counts"]["failed"] == 0
    else:
        assert status == 1
        assert [r["cause"] for r in got["results"] if r["status"] == "failed"] == [
            outcome.group(2)
        ]
