"""Each invariant of the stack machine named after docs/rules.md fails on a deliberate
bug (docs/fuzz.md lists them): R8 in every rule, R9, R4, §6.1, §6.7, §8.4 and §1.3 here;
R8's probes in
test_fuzz_replay.py, R6 in test_stack_machine_clients.py, §6.10 in
test_stack_machine_tapi3.py. Each test also runs the same program without the bug."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from scenarios.machines.stack import ANSWER, OWNER, InvariantFailure, StackMachine
from tapi import constants as C
from tapi.core.messages import Outbox
from tapi.core.routing import Router
from tapi.core.tables import Tables
from tapi.notify import EventSink
from tapi.providers.modem import ModemLine
from tapi.stack import Stack


@pytest.fixture
def machine() -> Iterator[StackMachine]:
    m = StackMachine()
    yield m
    m.teardown()


# -- R8: every rule also tries stale handles ---------------------------------------------------
GOOD_DROP = Stack.lineDrop


def drop_answers_invalcallstate(self: Stack, hCall: int, *a: object, **k: object) -> int:
    """The planted defect: lineDrop of a freed HCALL answers INVALCALLSTATE, not R8's
    INVALCALLHANDLE (lineGetCallStatus, which the R8 probes use, stays right)."""
    rc: int = GOOD_DROP(self, hCall, *a, **k)  # type: ignore[arg-type]
    return C.LINEERR_INVALCALLSTATE if rc == C.LINEERR_INVALCALLHANDLE else rc


def stale_call(machine: StackMachine) -> int:
    h = machine.initialize(option="event")
    (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
    (hc,) = machine.make_call(h=hl, dest=ANSWER).values
    machine.wait()
    machine.close(h=hl)  # the call handle goes with its line (R2)
    machine.R8_every_rule_also_tries_stale_handles()
    machine.call_action(h=hc, action="lineDrop")
    return int(hc)


def test_a_stale_handle_in_a_rule_gets_its_code(machine: StackMachine) -> None:
    stale_call(machine)
    machine.R8_every_rule_also_tries_stale_handles()
    machine.R8_stale_handles_get_their_codes()
    assert machine.stale_tried == 1


def test_planted_lineDrop_code_fails_r8_every_rule(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Stack, "lineDrop", drop_answers_invalcallstate)
    hc = stale_call(machine)
    machine.R8_stale_handles_get_their_codes()  # the probes do not see this bug
    with pytest.raises(
        InvariantFailure,
        match=rf"R8: lineDrop\({hc:#x}\) on a stale handle returned LINEERR_INVALCALLSTATE",
    ):
        machine.R8_every_rule_also_tries_stale_handles()


# -- R9: handle values are never reused, request IDs only grow ---------------------------------
def reuse_free_handles(self: Tables) -> int:
    """The planted defect: the lowest handle value not in use now (what R9 forbids)."""
    live = set(self.apps) | set(self.lines) | set(self.calls)
    return next(h for h in itertools.count(0x00010001) if h not in live)


def test_planted_handle_reuse_fails_r9(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = machine.initialize(option="event")
    machine.shutdown(h=h)
    machine.initialize(option="event")  # without the bug: a new value
    monkeypatch.setattr(Tables, "new_handle", reuse_free_handles)
    machine.shutdown(h=max(machine.model.apps))
    with pytest.raises(
        InvariantFailure, match=rf"R9: app handle {h:#x} reuses the value of an earlier HLINEAPP"
    ):
        machine.initialize(option="event")


def test_planted_request_id_reuse_fails_r9(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = machine.initialize(option="event")
    (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
    machine.make_call(h=hl, dest=ANSWER)
    machine.R9_handles_never_reused_request_ids_grow()
    rid = machine.model.last_rid
    monkeypatch.setattr(Tables, "new_request_id", lambda self: rid)
    (hl2,) = machine.open(h=h, device=1, privileges=OWNER).values
    with pytest.raises(InvariantFailure, match=rf"R9: lineMakeCall request ID {rid} after {rid}"):
        machine.make_call(h=hl2, dest=ANSWER)


# -- §6.1: every accepted request gets its LINE_REPLY ------------------------------------------
GOOD_REPLY = Router.reply


def lose_make_call_replies(self: Router, req: object, result: int) -> None:
    """The planted defect: the LINE_REPLY of a lineMakeCall is never posted."""
    if getattr(req, "kind", None) == "makecall":
        return
    GOOD_REPLY(self, req, result)  # type: ignore[arg-type]


def make_a_call(machine: StackMachine) -> None:
    h = machine.initialize(option="event")
    (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
    machine.make_call(h=hl, dest=ANSWER)
    machine.wait()


def test_every_reply_arrives_without_the_bug(machine: StackMachine) -> None:
    make_a_call(machine)
    machine.s6_1_every_accepted_request_gets_its_reply()
    assert all(r.answered is not None for r in machine.model.requests.values())


def test_planted_lost_reply_fails_s6_1(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Router, "reply", lose_make_call_replies)
    make_a_call(machine)
    with pytest.raises(InvariantFailure, match=r"§6.1: request \d+ \(lineMakeCall\)"):
        machine.s6_1_every_accepted_request_gets_its_reply()


# -- §1.3: no fd or thread leaks ----------------------------------------------------------------
def test_no_leak_without_the_bug() -> None:
    machine = StackMachine()
    h = machine.initialize(option="event")
    machine.initialize(option="callback")
    machine.open(h=h, device=0, privileges=OWNER)
    machine.teardown()  # s1_3_no_fd_or_thread_leaks passes


def test_planted_event_fd_leak_fails_s1_3(monkeypatch: pytest.MonkeyPatch) -> None:
    leaked: list[int] = []

    def close_keeping_the_fd(self: EventSink) -> None:
        """The planted defect: lineShutdown does not destroy the app's event (R1)."""
        leaked.append(self.hEvent)
        self.closed = True

    monkeypatch.setattr(EventSink, "close", close_keeping_the_fd)
    machine = StackMachine()
    try:
        h = machine.initialize(option="event")
        machine.shutdown(h=h)
    finally:
        with pytest.raises(InvariantFailure, match=r"§1.3: threads \[\] and fds .*eventfd"):
            machine.teardown()
        for fd in leaked:
            os.close(fd)


# -- R4: no message of a closed object ---------------------------------------------------------
def test_planted_unpurged_queue_fails_r4(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planted defect: closing an object leaves its messages queued (no purge)."""
    h = machine.initialize(option="event")
    (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
    machine.make_call(h=hl, dest=ANSWER)
    machine.wait()  # LINE_CALLSTATE messages queued, not read
    machine.R4_no_message_of_a_closed_object()
    monkeypatch.setattr(Outbox, "purge", lambda self, app, doomed: None)
    machine.close(h=hl)
    with pytest.raises(InvariantFailure, match=r"R4: pending messages of closed objects"):
        machine.R4_no_message_of_a_closed_object()


# -- §6.7: request recipients -------------------------------------------------------------------
GOOD_REGISTER = Stack.lineRegisterRequestRecipient


def never_withdraw(self: Stack, hLineApp: int, inst: int, mode: int, enable: int) -> int:
    """The planted defect: lineRegisterRequestRecipient(…, FALSE) answers 0, does nothing."""
    return 0 if not enable else GOOD_REGISTER(self, hLineApp, inst, mode, enable)


def test_planted_registration_that_stays_fails_s6_7(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = machine.initialize(option="event")
    machine.register(h=h, enable=True)
    machine.register(h=h, enable=False)
    machine.s6_7_request_recipients()
    monkeypatch.setattr(Stack, "lineRegisterRequestRecipient", never_withdraw)
    machine.register(h=h, enable=True)
    machine.register(h=h, enable=False)
    with pytest.raises(InvariantFailure, match=rf"§6.7: app {h:#x} request modes 0x1"):
        machine.s6_7_request_recipients()


# -- §8.4: the modem is on hook exactly when no call is active ----------------------------------
def idle_without_hanging_up(self: ModemLine, call: Any) -> None:
    """The planted defect: a drop reports the call IDLE and never hangs the modem up."""
    for rid, kind in list(call.requests.items()):
        self._complete_request(call, rid, 0 if kind == "drop" else C.LINEERR_OPERATIONFAILED)
    self._report(call, C.LINECALLSTATE_IDLE)


def connected_then_dropped(machine: StackMachine) -> None:
    h = machine.initialize(option="event")
    (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
    (hc,) = machine.make_call(h=hl, dest=ANSWER).values
    machine.wait()
    machine.s8_4_modem_on_hook_iff_no_active_call()
    machine.call_action(h=hc, action="lineDrop")
    machine.wait()


def test_a_dropped_call_hangs_the_modem_up(machine: StackMachine) -> None:
    connected_then_dropped(machine)
    machine.s8_4_modem_on_hook_iff_no_active_call()


def test_planted_drop_without_hang_up_fails_s8_4(
    machine: StackMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ModemLine, "_hang_up", idle_without_hanging_up)
    connected_then_dropped(machine)
    with pytest.raises(InvariantFailure, match=r"§8.4: modem A is off hook with calls"):
        machine.s8_4_modem_on_hook_iff_no_active_call()
