"""The stack machine's TAPI 3 rules (docs/rules.md §6.10) and the planted defect that
its `s6_10_tapi3_teardown` invariant catches."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.machines.stack import OWNER, InvariantFailure, StackMachine
from tapi import constants as C
from tapi.core.tables import Tables
from tapi.tapi3 import TAPI

GOOD = TAPI.Initialize
GOOD_LINE = Tables.line_or_error


def stale_lines_answer_operationfailed(self: Tables, hLine: object) -> object:
    """test_fuzz_replay's planted R8 defect: a closed HLINE answers OPERATIONFAILED."""
    got = GOOD_LINE(self, hLine)
    return C.LINEERR_OPERATIONFAILED if got == C.LINEERR_INVALLINEHANDLE else got


def initialize_again_after_shutdown(self: TAPI) -> int:
    """The planted defect: a shut-down TAPI object initialises again (§6.10 says
    E_UNEXPECTED: a new object is needed)."""
    self._ever_initialized = False
    return GOOD(self)


def run_3x_program(machine: StackMachine) -> None:
    """Two 2.x apps and two TAPI objects interleaved: register, unregister, shut down."""
    h = machine.initialize(option="event")
    i = machine.tapi3_new(initialize=True)
    (reg,) = machine.tapi3_register(i=i, device=0, owner=True).values
    (reg2,) = machine.tapi3_register(i=i, device=1, owner=False).values
    machine.open(h=h, device=0, privileges=2)
    machine.tapi3_unregister(reg=reg)
    machine.tapi3_unregister(reg=reg)  # stale cookie: E_INVALIDARG
    j = machine.tapi3_new(initialize=False)
    machine.tapi3_shutdown(i=j)  # never initialised: TAPI_E_NOT_INITIALIZED
    machine.tapi3_initialize(i=j)
    machine.tapi3_shutdown(i=i)
    machine.tapi3_shutdown(i=i)  # S_FALSE
    machine.tapi3_unregister(reg=reg2)  # of a shut-down object: E_INVALIDARG
    machine.tapi3_register(i=i, device=0, owner=False)  # TAPI_E_NOT_INITIALIZED


def check(machine: StackMachine) -> None:
    machine.R1_R2_R3_no_child_outlives_its_parent()
    machine.R4_no_message_of_a_closed_object()
    machine.R8_stale_handles_get_their_codes()
    machine.s6_7_request_recipients()


def test_3x_rules_interleave_with_2x_and_every_invariant_holds() -> None:
    machine = StackMachine()
    try:
        run_3x_program(machine)
        check(machine)
        machine.s6_10_tapi3_teardown()
        # the shut-down object's HLINEAPP and HLINEs are stale, with their R8 codes
        kinds = sorted(machine.model.stale.values())
        assert kinds.count("app") == 1 and kinds.count("line") == 2, kinds
        assert len(machine.model.others) == 1  # the second object is still initialised
        assert machine.rules_hit["ITTAPI.Shutdown"] == 3
    finally:
        machine.teardown()


def test_the_planted_reinitialisation_fails_s6_10(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TAPI, "Initialize", initialize_again_after_shutdown)
    machine = StackMachine()
    try:
        i = machine.tapi3_new(initialize=True)
        machine.tapi3_shutdown(i=i)
        with pytest.raises(InvariantFailure, match=r"§6.10: shut-down TAPI object 0: Initialize"):
            machine.s6_10_tapi3_teardown()
    finally:
        for t in machine.t3:
            t.obj.Shutdown()
        machine.teardown()


def test_a_failure_after_3x_steps_replays_with_the_same_handle_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 3.x steps are written as the flat calls that gave or freed handles, so a 2.x
    failure after them replays under `linelab run` with the same HLINE values."""
    monkeypatch.setattr(Tables, "line_or_error", stale_lines_answer_operationfailed)
    machine = StackMachine()
    try:
        h = machine.initialize(option="event")
        i = machine.tapi3_new(initialize=True)
        (reg,) = machine.tapi3_register(i=i, device=0, owner=True).values
        machine.tapi3_unregister(reg=reg)
        (hl,) = machine.open(h=h, device=1, privileges=OWNER).values
        machine.close(h=hl)
        with pytest.raises(InvariantFailure, match="R8: stale line") as failure:
            machine.R8_stale_handles_get_their_codes()
        path = machine.write_failure(tmp_path, failure.value)
    finally:
        machine.teardown()
    text = path.read_text()
    assert "replayed as its lineOpen" in text and "replayed as its lineClose" in text, text
    capsys.readouterr()
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    assert "lineGetLineDevStatus returned LINEERR_OPERATIONFAILED" in out, out
