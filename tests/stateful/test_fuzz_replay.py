"""A failure of the stack machine becomes a scenario file that `linelab run` replays and
that fails the same way; `linelab fuzz` finds a planted defect and writes that file."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.machines.stack import OWNER, InvariantFailure, StackMachine
from tapi import constants as C
from tapi.core.tables import Tables
from tapi.stack import Stack

GOOD = Tables.line_or_error


def stale_lines_answer_operationfailed(self: Tables, hLine: object) -> object:
    """The planted defect: a closed HLINE answers OPERATIONFAILED instead of R8's code."""
    got = GOOD(self, hLine)
    return C.LINEERR_OPERATIONFAILED if got == C.LINEERR_INVALLINEHANDLE else got


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Tables, "line_or_error", stale_lines_answer_operationfailed)


def test_a_failing_program_replays_with_linelab_run_and_fails_the_same_way(
    planted: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = StackMachine()
    try:
        h = machine.initialize(option="event")
        (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
        machine.close(h=hl)
        machine.R1_R2_R3_no_child_outlives_its_parent()
        with pytest.raises(InvariantFailure, match="R8: stale line") as failure:
            machine.R8_stale_handles_get_their_codes()
        path = machine.write_failure(tmp_path, failure.value)
    finally:
        machine.teardown()
    text = path.read_text()
    assert path.name.endswith(".scenario.yaml") and "# failure: R8: stale line" in text
    assert "lineGetLineDevStatus" in text and "LINEERR_INVALLINEHANDLE" in text
    capsys.readouterr()
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    assert "lineGetLineDevStatus returned LINEERR_OPERATIONFAILED" in out, out
    assert "not LINEERR_INVALLINEHANDLE" in out, out


def test_without_the_defect_the_same_program_passes(tmp_path: Path) -> None:
    machine = StackMachine()
    try:
        h = machine.initialize(option="event")
        (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
        machine.close(h=hl)
        machine.R8_stale_handles_get_their_codes()
        path = machine.write_failure(tmp_path, InvariantFailure("R8", "none (control)"))
    finally:
        machine.teardown()
    assert main(["run", str(path)]) == 0


@pytest.mark.timeout(300)  # hypothesis shrinks the failure first: 30-90 s on a busy machine
def test_linelab_fuzz_finds_the_planted_defect_and_writes_its_scenario(
    planted: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_provider_errors: list[Stack],
) -> None:
    out = tmp_path / "out"
    # 300 steps: the machine has about 25 rules (2.x, TAPI 3, server clients) and
    # hypothesis enables a random subset per run, so a lineOpen + lineClose takes a while.
    assert main(["fuzz", "--steps", "300", "--seed", "1", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED: R8:" in printed and "shortest failing program" in printed, printed
    (path,) = out.glob("*.scenario.yaml")
    assert main(["run", str(path)]) == 1
    assert "LINEERR_OPERATIONFAILED" in capsys.readouterr().out
    # A program with a remove_port step leaves that port's fault in the replaying
    # stack (the provider saw its vmodem:// port end): expected, and nothing else is.
    removed = "remove_port" in path.read_text(encoding="utf-8")
    for stack in no_provider_errors:
        assert all(removed and "the modem was removed" in e for e in stack.provider_errors), (
            stack.provider_errors
        )
        stack.provider_errors.clear()


def test_fuzz_honours_its_seed_when_ci_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """With $CI set hypothesis loads its "ci" profile (derandomize=True); `linelab fuzz`
    must still draw from --seed (this is how the planted-defect test failed in CI)."""
    from scenarios.commands import fuzz

    seen: list[bool] = []
    monkeypatch.setattr(
        fuzz, "_run", lambda machine, options, seed: seen.append(options.derandomize)
    )
    monkeypatch.setenv("CI", "true")
    main(["fuzz", "--steps", "1", "--seed", "1"])
    assert seen == [False]


def test_linelab_fuzz_passes_on_the_built_in_modem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A short run of what `linelab fuzz --steps 300 --seed 1` does (measured in
    docs/fuzz.md)."""
    assert main(["fuzz", "--steps", "30", "--seed", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "no invariant failed" in printed and "invariant checks" in printed
    assert not list(tmp_path.glob("*.scenario.yaml"))
