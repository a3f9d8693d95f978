"""TAPI 3.x objects driving virtual modems over real ptys, on virtual time.

The same `Lab` as test_tapi_modem.py (modems A = 1001 and B = 1002 behind ptys, scripted
far ends on the exchange, the stack's modem provider, one virtual-time loop); the
applications are `tapi.tapi3.TAPI` objects on that stack. The test thread makes the
calls (a synchronous Connect is a linelab wait); the answering side answers from its
event callback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tapi_modem import BUSY, HANGUP, Lab

from tapi import constants as C
from tapi.tapi3 import TAPI, AddressEvent, Call, CallNotificationEvent, CallStateEvent, TapiEvent
from tapi.tapi3 import constants as K

EVENTS = K.TE_CALLNOTIFICATION | K.TE_CALLSTATE | K.TE_ADDRESS


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def tapi(lab: Lab) -> TAPI:
    t = TAPI(lab.stack)
    assert t.initialize() == K.S_OK
    t.event_filter = EVENTS
    return t


def on_hook(lab: Lab, name: str) -> bool:
    return lab.until(lambda: lab.engine_state(name) == "command", 30.0)


def until_state(t: TAPI, call: Call, state: int, timeout: float = 120.0) -> CallStateEvent:
    while True:
        event = t.get_event(timeout)
        assert event is not None, f"no state {state}"
        if isinstance(event, CallStateEvent) and event.call is call and event.state == state:
            return event


class Answerer:
    """The answering application's callback: answers its call at the second ring (once
    the caller ID is in) and keeps what it saw."""

    def __init__(self) -> None:
        self.call: Call | None = None
        self.answered: int | None = None
        self.caller_id = ""
        self.events: list[tuple[int, int]] = []

    def __call__(self, event: TapiEvent) -> None:
        if isinstance(event, CallNotificationEvent):
            self.call = event.call
        elif isinstance(event, CallStateEvent):
            self.events.append((event.state, event.cause))
        elif (
            isinstance(event, AddressEvent)
            and event.event == K.AE_RINGING
            and event.ring_count >= 1
            and self.call is not None
            and self.answered is None
        ):
            self.caller_id = self.call.caller_id_number
            self.answered = self.call.Answer()


def test_a_3x_call_between_two_modems(lab: Lab) -> None:
    caller, callee = tapi(lab), tapi(lab)
    a = caller.addresses()[0]
    b = callee.addresses()[1]
    assert (a.name, b.name) == ("Modem A", "Modem B")
    callee.register_call_notifications(b, owner=True, callback_instance=5)
    answerer = Answerer()
    callee.add_callback(answerer)
    with a.create_call("1002") as call:
        assert call.connect() == K.S_OK  # synchronous: B answered at its second ring
        assert call.state == K.CS_CONNECTED
        assert lab.until(lambda: answerer.answered is not None)
        assert answerer.answered == K.S_OK
        assert answerer.caller_id == "1001"
        assert answerer.events[:2] == [(K.CS_OFFERING, K.CEC_NONE), (K.CS_CONNECTED, K.CEC_NONE)]
        assert lab.stack.hierarchy().counts()["calls"] == 2
    # Leaving the block hung A up; B's modem saw the carrier go, and B's layer dropped
    # its side: both modems are back on hook, and no HCALL is left.
    assert call.state == K.CS_DISCONNECTED
    assert lab.until(lambda: (K.CS_DISCONNECTED, K.CEC_DISCONNECT_NORMAL) in answerer.events)
    assert on_hook(lab, "A") and on_hook(lab, "B")
    assert lab.until(lambda: lab.stack.hierarchy().counts()["calls"] == 0)
    assert caller.shutdown() == K.S_OK and callee.shutdown() == K.S_OK
    assert lab.stack.hierarchy().is_empty()


def test_a_busy_number_and_a_far_end_that_hangs_up(lab: Lab) -> None:
    t = tapi(lab)
    a = t.addresses()[0]
    busy = a.create_call(BUSY)
    assert busy.Connect(True) == C.TAPI_E_DESTBUSY
    assert (busy.state, busy.cause) == (K.CS_DISCONNECTED, K.CEC_DISCONNECT_BUSY)
    assert on_hook(lab, "A")  # the layer dropped the 2.x call: the modem hung up
    assert lab.until(lambda: lab.stack.hierarchy().counts()["calls"] == 0)
    busy.release()
    # A far end that answers and hangs up after 10 s (virtual).
    call = a.create_call(HANGUP)
    assert call.connect() == K.S_OK
    start = lab.vt.now()
    ended = until_state(t, call, K.CS_DISCONNECTED)
    assert ended.cause == K.CEC_DISCONNECT_NORMAL
    assert 9 <= lab.vt.now() - start < 30
    assert on_hook(lab, "A")
    assert lab.until(lambda: lab.stack.hierarchy().counts()["calls"] == 0)
    call.release()
    assert lab.stack.hierarchy().counts()["lines"] == 0  # the outgoing line closed too
    t.shutdown()


def test_shutdown_in_the_middle_of_a_call_hangs_the_modem_up(lab: Lab) -> None:
    caller, callee = tapi(lab), tapi(lab)
    callee.register_call_notifications(callee.addresses()[1])
    answerer = Answerer()
    callee.add_callback(answerer)
    call = caller.addresses()[0].create_call("1002")
    assert call.connect() == K.S_OK
    threads = caller.threads
    assert caller.shutdown() == K.S_OK  # lineShutdown: the only owner's call is dropped
    assert not any(x.is_alive() for x in threads)
    assert call.state == K.CS_DISCONNECTED
    assert call.Disconnect(K.DC_NORMAL) == K.TAPI_E_NOT_INITIALIZED
    assert on_hook(lab, "A") and on_hook(lab, "B")
    assert lab.until(lambda: (K.CS_DISCONNECTED, K.CEC_DISCONNECT_NORMAL) in answerer.events)
    assert callee.shutdown() == K.S_OK
    assert lab.stack.hierarchy().is_empty()
