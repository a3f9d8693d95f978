"""The modem provider's AT dialogue tables: docs/modem-provider.md shows them as
generated diagrams, and an illegal trigger is an error, never silently ignored."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from linelab.clock import ManualClock
from tapi.providers.modem_at import (
    DOC_BEGIN,
    DOC_END,
    HANG_TRANSITIONS,
    TRANSITIONS,
    HangStep,
    HangTrigger,
    ModemDialogue,
    ModemSettings,
    ModemStateError,
    State,
    Trigger,
    diagram_section,
    mermaid,
    mermaid_steps,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "modem-provider.md"


def _sources(sources: object) -> list[str]:
    if sources == "*":
        return ["any"]
    return [str(sources)] if isinstance(sources, str) else [str(s) for s in sources]  # type: ignore[attr-defined]


def _state(d: ModemDialogue) -> State:
    return d.state  # (a call, so that mypy does not keep an earlier narrowing)


def test_docs_diagrams_are_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(DOC_BEGIN)
    end = text.index(DOC_END, start) + len(DOC_END)
    assert text[start:end] == diagram_section(), (
        "docs/modem-provider.md is stale: run python tools/gen_diagrams.py"
    )


def test_every_transition_appears_in_the_diagrams() -> None:
    for table, text in ((TRANSITIONS, mermaid()), (HANG_TRANSITIONS, mermaid_steps())):
        for trigger, sources, dest in table:
            for source in _sources(sources):
                target = source if dest is None else str(dest)
                assert f"  {source} --> {target}: {trigger}\n" in text


def test_every_state_and_trigger_is_in_its_table() -> None:
    for table, states, triggers in (
        (TRANSITIONS, State, Trigger),
        (HANG_TRANSITIONS, HangStep, HangTrigger),
    ):
        used: set[str] = {str(next(iter(states)))}
        for _, sources, dest in table:
            used |= {s for s in _sources(sources) if s != "any"}
            if dest is not None:
                used.add(str(dest))
        assert used == {str(s) for s in states}
        assert {t for t, _, _ in table} == set(get_args(triggers))


def test_an_illegal_trigger_is_an_error_and_changes_nothing() -> None:
    d = ModemDialogue(ModemSettings(), ManualClock())
    with pytest.raises(ModemStateError, match="connect: not possible while closed"):
        d._fire("connect")
    with pytest.raises(ModemStateError, match="escape: not possible while none"):
        d._step("escape")
    assert (d.state, d.hang_step) == (State.CLOSED, HangStep.NONE)
    with pytest.raises(ModemStateError, match="dial: not possible while closed"):
        d.dial("1")
    assert d.state is State.CLOSED
    d.initialize()
    assert _state(d) is State.INITIALIZING


def test_the_state_is_read_only() -> None:
    d = ModemDialogue(ModemSettings(), ManualClock())
    with pytest.raises(AttributeError):
        d.state = State.IDLE  # type: ignore[misc]
