"""The modem state table: docs/modem-states.md is generated from it and up to date."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from transitions import MachineError

from emulator.core.engine import ModemEngine, TimerName
from emulator.core.profile import load_profile
from emulator.core.states import (
    STATES,
    TRANSITIONS,
    ModemState,
    ModemStates,
    diagram_document,
    mermaid,
)
from linelab.clock import ManualClock

DOC = Path(__file__).resolve().parents[2] / "docs" / "modem-states.md"


def test_docs_diagram_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == diagram_document(), (
        "docs/modem-states.md is stale: run python tools/gen_diagrams.py"
    )


def test_every_transition_appears_in_the_diagram() -> None:
    text = mermaid()
    for trigger, sources, dest in TRANSITIONS:
        for source in [sources] if isinstance(sources, str) else sources:
            assert f"{source} --> {dest}: {trigger}" in text


def test_every_state_is_reachable_and_used() -> None:
    used = {"command"}
    for _, sources, dest in TRANSITIONS:
        used |= {sources} if isinstance(sources, str) else set(sources)
        used.add(dest)
    assert used == set(STATES)


def test_invalid_trigger_is_a_bug_not_silently_ignored() -> None:
    states = ModemStates()
    assert states.can("dial") and not states.can("resume")
    with pytest.raises(MachineError):
        states.fire("resume")
    states.fire("dial")
    assert states.state == "dialing"


def test_every_engine_timer_has_an_action() -> None:
    engine = ModemEngine(load_profile("generic"), ManualClock())
    assert set(engine._timer_actions) == set(get_args(TimerName))


def test_states_are_members_that_equal_their_names() -> None:
    assert [str(s) for s in STATES] == [s.value for s in ModemState]
    assert ModemState("online") is ModemState.ONLINE
    engine = ModemEngine(load_profile("generic"), ManualClock())
    assert engine.state is ModemState.COMMAND
