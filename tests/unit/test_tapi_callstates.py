"""The call-state table (rules.md §5.3), its transitions Machine and the generated doc."""

from __future__ import annotations

import pytest

from tapi import callstates
from tapi import constants as C

S = callstates.STATE_VALUES


def test_docs_call_states_md_is_current() -> None:
    assert callstates.DOC_PATH.read_text(encoding="utf-8") == callstates.document(), (
        "run: python -m tapi.callstates"
    )


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        (None, "DIALTONE", True),
        (None, "OFFERING", False),
        ("OFFERING", "ACCEPTED", True),
        ("OFFERING", "DIALING", False),
        ("DIALING", "DIALING", True),
        ("DISCONNECTED", "IDLE", True),
        ("DISCONNECTED", "CONNECTED", False),
        ("IDLE", "IDLE", False),
        ("IDLE", "CONNECTED", False),
        ("UNKNOWN", "CONNECTED", True),
        ("BUSY", "DISCONNECTED", True),
        ("CONNECTED", "ONHOLD", True),
    ],
)
def test_allowed_follows_the_table(old: str | None, new: str, ok: bool) -> None:
    assert callstates.allowed(None if old is None else S[old], S[new]) is ok


def test_incoming_calls_start_anywhere_but_idle_and_substates_are_ignored() -> None:
    assert callstates.allowed(None, S["OFFERING"], outgoing=False)
    assert not callstates.allowed(None, S["IDLE"], outgoing=False)
    assert callstates.allowed(S["DIALING"], C.LINECALLSTATE_CONNECTED | 0x05000000)
    assert not callstates.allowed(S["DIALING"], 0x00400000)  # not a state


def test_the_transitions_machine_agrees_with_allowed() -> None:
    class Call:
        state: str

    for source in callstates.STATES:
        for dest in callstates.STATE_NAMES.values():
            call = Call()
            machine = callstates.machine(call)
            machine.set_state(source)
            trigger = getattr(call, dest.lower())
            try:
                trigger()
                moved = True
            except Exception:  # transitions.MachineError
                moved = False
            if source == callstates.NEW_OUTGOING:
                expect = callstates.allowed(None, S[dest], outgoing=True)
            elif source == callstates.NEW_INCOMING:
                expect = callstates.allowed(None, S[dest], outgoing=False)
            else:
                expect = callstates.allowed(S[source], S[dest])
            assert moved is expect, (source, dest)


def test_a_provider_reporting_a_bad_transition_is_refused_and_recorded() -> None:
    from tapi_helpers import EventApp, ht_of, stack_with

    from tapi.providers.fake import FakeLine

    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    _rid, hc = s.lineMakeCall(a.open(), "555")
    assert hc is not None
    line.state(ht_of(s, hc), C.LINECALLSTATE_IDLE)
    a.messages()
    line.state(ht_of(s, hc), C.LINECALLSTATE_CONNECTED)
    assert a.messages() == []
    assert s.provider_errors and "IDLE" in s.provider_errors[-1]
    s.provider_errors.clear()  # examined: the fixture fails a test that leaves one
