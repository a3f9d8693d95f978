"""The TAPI 3.x objects (`tapi.tapi3`) over a `tapi.Stack` of fake lines, on virtual time.

The test thread is the application: it waits in `TAPI.get_event` or in a synchronous
Connect/Answer/Disconnect, both linelab waits on the stack's `VirtualTime`, so the
layer's 2-minute time-outs pass without waiting in real time. The far end is scripted
on the `FakeLine`s (`incoming`, `connect`, `busy`, `remote_hangup`), from the test thread
or from an advised callback (which runs on the layer's callback thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from linelab.vtime import VirtualTime
from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.stack import Stack
from tapi.tapi3 import (
    TAPI,
    Call,
    CallInfoChangeEvent,
    CallNotificationEvent,
    CallStateEvent,
    TapiError,
    TapiEvent,
)
from tapi.tapi3 import constants as K

ALL = K.TE_CALLNOTIFICATION | K.TE_CALLSTATE | K.TE_CALLINFOCHANGE | K.TE_ADDRESS
DATA = K.TAPIMEDIATYPE_DATAMODEM


@dataclass
class Env:
    vt: VirtualTime
    stack: Stack
    lines: list[FakeLine]

    def tapi(self, *, event_filter: int = ALL) -> TAPI:
        t = TAPI(self.stack, app_name="test app")
        assert t.initialize() == K.S_OK
        if event_filter:
            t.event_filter = event_filter
        return t

    def ht(self, call: Call) -> int:
        """The provider's htCall behind a call object."""
        assert call.hCall is not None
        view = self.stack.hierarchy().call(call.hCall)
        assert view is not None
        return view.call_id

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Let virtual time pass a little at a time until `condition()` holds."""
        deadline = self.vt.now() + timeout
        while not condition():
            if self.vt.now() >= deadline:
                return False
            self.vt.sleep(0.01)
        return True

    def counts(self) -> dict[str, int]:
        return self.stack.hierarchy().counts()


def make_env() -> Iterator[Env]:
    """Two fake lines (A, B) on a stack on virtual time; closed afterwards."""
    vt = VirtualTime()
    lines = [FakeLine("Fake A", port_name="/dev/fa"), FakeLine("Fake B", port_name="/dev/fb")]
    stack = Stack(lines=lines, time=vt)
    try:
        yield Env(vt, stack, lines)
    finally:
        stack.close()


@pytest.fixture
def env() -> Iterator[Env]:
    yield from make_env()


def next_events(t: TAPI, n: int, timeout: float = 5.0) -> list[TapiEvent]:
    got: list[TapiEvent] = []
    while len(got) < n:
        event = t.get_event(timeout)
        assert event is not None, f"only {got}"
        got.append(event)
    return got


def until_event(t: TAPI, match: Callable[[TapiEvent], bool], timeout: float = 5.0) -> TapiEvent:
    while True:
        event = t.get_event(timeout)
        assert event is not None, "no matching event"
        if match(event):
            return event


def states(events: list[TapiEvent]) -> list[tuple[int, int]]:
    return [(e.state, e.cause) for e in events if isinstance(e, CallStateEvent)]


def incoming(env: Env, t: TAPI, line: int = 0) -> Call:
    """A call rings on `line`; returns the call object of its TE_CALLNOTIFICATION."""
    env.lines[line].incoming()
    event = until_event(t, lambda e: isinstance(e, CallNotificationEvent))
    assert isinstance(event, CallNotificationEvent)
    return event.call


# -- constants -----------------------------------------------------------------------------


def test_enum_and_hresult_values_are_microsofts() -> None:
    assert (K.CS_IDLE, K.CS_INPROGRESS, K.CS_CONNECTED, K.CS_DISCONNECTED) == (0, 1, 2, 3)
    assert (K.CS_OFFERING, K.CS_HOLD, K.CS_QUEUED) == (4, 5, 6)
    assert (K.CEC_NONE, K.CEC_DISCONNECT_NORMAL, K.CEC_DISCONNECT_BUSY) == (0, 1, 2)
    assert (K.CEC_DISCONNECT_FAILED, K.CEC_DISCONNECT_BLOCKED) == (7, 8)
    assert (K.DC_NORMAL, K.DC_NOANSWER, K.DC_REJECTED) == (0, 1, 2)
    assert (K.CP_OWNER, K.CP_MONITOR, K.CNE_OWNER, K.CNE_MONITOR) == (0, 1, 0, 1)
    assert (K.TE_TAPIOBJECT, K.TE_ADDRESS, K.TE_CALLNOTIFICATION, K.TE_CALLSTATE) == (1, 2, 4, 8)
    assert K.TE_CALLINFOCHANGE == 0x40
    assert (K.CIS_CALLERIDNAME, K.CIS_CALLERIDNUMBER, K.CIS_CALLINGPARTYID) == (0, 1, 13)
    assert (K.CIL_MEDIATYPESAVAILABLE, K.CIL_CALLID, K.CIL_RATE) == (0, 15, 21)
    assert (K.S_OK, K.S_FALSE) == (0, 1)
    hresults = {
        "E_UNEXPECTED": 0x8000FFFF,
        "E_INVALIDARG": 0x80070057,
        "E_POINTER": 0x80004003,
        "TAPI_E_INVALCALLSTATE": 0x80040010,
        "TAPI_E_NOTOWNER": 0x80040023,
        "TAPI_E_TIMEOUT": 0x80040044,
        "TAPI_E_NOT_INITIALIZED": 0x80040059,
        "TAPI_E_SERVICE_NOT_RUNNING": 0x8004005A,
    }
    for name, dword in hresults.items():
        value = getattr(K, name)
        assert value < 0 and value & 0xFFFFFFFF == dword, name


def test_lineerr_maps_to_the_hresult_of_the_same_name() -> None:
    assert K.hresult_of(C.LINEERR_CALLUNAVAIL) == C.TAPI_E_CALLUNAVAIL
    assert K.hresult_of(C.LINEERR_NOTOWNER) == C.TAPI_E_NOTOWNER
    assert K.hresult_of(C.LINEERR_INVALCALLSTATE) == K.TAPI_E_INVALCALLSTATE
    assert K.hresult_of(C.LINEERR_INVALAPPHANDLE) == K.TAPI_E_NOT_INITIALIZED
    assert K.hresult_of(C.LINEERR_SERVICE_NOT_RUNNING) == C.TAPI_E_SERVICE_NOT_RUNNING
    assert K.hresult_of(C.LINEERR_NOMEM) == K.E_OUTOFMEMORY
    assert K.hresult_of(C.LINEERR_STRUCTURETOOSMALL) == C.TAPI_E_OPERATIONFAILED


# -- Initialize, addresses, registrations ----------------------------------------------------


def test_flat_form_returns_hresults_and_tuples(env: Env) -> None:
    t = TAPI(env.stack)
    hr, found = t.EnumerateAddresses()
    assert (hr, found) == (K.E_INVALIDARG, None)  # before Initialize, as Microsoft says
    assert t.RegisterCallNotifications(None, True, True, DATA, 0) == (
        K.TAPI_E_NOT_INITIALIZED,
        None,
    )
    assert t.UnregisterNotifications(1) == K.E_INVALIDARG
    assert t.Initialize() == K.S_OK
    hr, found = t.get_Addresses()
    assert hr == K.S_OK and found is not None
    assert [(a.name, a.device_id, a.address_id) for a in found] == [
        ("Fake A", 0, 0),
        ("Fake B", 1, 0),
    ]
    a = found[0]
    assert a.get_AddressName() == (K.S_OK, "Fake A")
    assert a.media_types & DATA
    hr, lRegister = t.RegisterCallNotifications(a, True, True, DATA, 42)
    assert hr == K.S_OK and isinstance(lRegister, int)
    assert t.RegisterCallNotifications(None, True, True, DATA, 0) == (K.E_POINTER, None)
    assert t.RegisterCallNotifications(a, False, False, DATA, 0) == (K.E_INVALIDARG, None)
    assert t.RegisterCallNotifications(a, False, True, K.TAPIMEDIATYPE_VIDEO, 0) == (
        C.TAPI_E_INVALIDMEDIATYPE,
        None,
    )
    assert t.UnregisterNotifications(lRegister + 1000) == K.E_INVALIDARG
    assert t.UnregisterNotifications(lRegister) == K.S_OK
    assert t.UnregisterNotifications(lRegister) == K.E_INVALIDARG
    assert t.put_EventFilter(1 << 30) == K.E_INVALIDARG
    assert t.get_EventFilter() == (K.S_OK, 0)  # the default: no events at all
    hr, call = a.CreateCall("5550100", C.LINEADDRESSTYPE_PHONENUMBER | C.LINEADDRESSTYPE_SDP, DATA)
    assert (hr, call) == (K.E_INVALIDARG, None)
    hr, call = a.CreateCall("5550100", C.LINEADDRESSTYPE_PHONENUMBER, DATA)
    assert hr == K.S_OK and call is not None
    assert call.get_CallState() == (K.S_OK, K.CS_IDLE)
    assert call.get_Privilege() == (K.S_OK, K.CP_OWNER)
    assert call.get_CallInfoString(K.CIS_CALLEDIDNUMBER) == (K.S_OK, "5550100")
    assert call.get_CallInfoString(99) == (K.E_INVALIDARG, None)
    assert t.Shutdown() == K.S_OK


def test_pythonic_form_raises_tapierror_with_the_hresult(env: Env) -> None:
    t = TAPI(env.stack)
    with pytest.raises(TapiError) as info:
        t.addresses()
    assert info.value.hr == K.E_INVALIDARG and "E_INVALIDARG" in str(info.value)
    with pytest.raises(TapiError) as info:
        t.shutdown()  # never initialised: the linelab decision (docs/tapi3.md)
    assert info.value.hr == K.TAPI_E_NOT_INITIALIZED
    assert t.initialize() == K.S_OK
    assert t.initialize() == K.S_FALSE  # success codes are returned, never raised
    with pytest.raises(TapiError) as info:
        t.unregister_notifications(12345)
    assert info.value.hr == K.E_INVALIDARG
    assert t.shutdown() == K.S_OK
    assert t.shutdown() == K.S_FALSE


# -- incoming calls ----------------------------------------------------------------------------


def test_incoming_call_notification_state_ringing_caller_id_and_answer(env: Env) -> None:
    t = env.tapi()
    a = t.addresses()[0]
    t.register_call_notifications(a, monitor=False, owner=True, callback_instance=7)
    env.lines[0].incoming(caller_id="5551234", caller_name="Bob")
    note, offering, ring = next_events(t, 3)
    assert isinstance(note, CallNotificationEvent)
    assert (note.event, note.callback_instance) == (K.CNE_OWNER, 7)
    assert note.get_Event() == (K.S_OK, K.CNE_OWNER)
    assert isinstance(offering, CallStateEvent) and offering.call is note.call
    assert (offering.state, offering.cause, offering.callback_instance) == (
        K.CS_OFFERING,
        K.CEC_NONE,
        7,
    )
    assert (ring.event_type, getattr(ring, "event", None)) == (K.TE_ADDRESS, K.AE_RINGING)
    call = note.call
    assert call.address is a and call.privilege == K.CP_OWNER
    assert (call.caller_id_number, call.caller_id_name) == ("5551234", "Bob")
    assert call.get_CallInfoLong(K.CIL_NUMBEROFOWNERS) == (K.S_OK, 1)
    assert a.calls() == [call]
    assert call.answer() == K.S_OK
    assert call.state == K.CS_CONNECTED
    assert states(next_events(t, 1)) == [(K.CS_CONNECTED, K.CEC_NONE)]
    # The far end hangs up: CS_DISCONNECTED is final, and the layer takes the 2.x call to
    # IDLE itself (drop, deallocate), so nothing is left under the call object.
    env.lines[0].remote_hangup(env.ht(call))
    assert states(next_events(t, 1)) == [(K.CS_DISCONNECTED, K.CEC_DISCONNECT_NORMAL)]
    assert env.until(lambda: call.hCall is None and env.counts()["calls"] == 0)
    assert [entry[0] for entry in env.lines[0].log].count("drop") == 1
    assert call.caller_id_number == "5551234"  # kept after the handle is gone
    assert call.disconnect() == K.S_FALSE  # nothing left to disconnect
    t.shutdown()


def test_state_rules_answer_connect_disconnect(env: Env) -> None:
    t = env.tapi()
    a = t.addresses()[0]
    t.register_call_notifications(a, owner=True)
    fresh = t.addresses()[1].create_call("5550100")  # line A holds one call at most
    assert fresh.Disconnect(K.DC_NORMAL) == K.S_FALSE  # CS_IDLE: nothing to disconnect
    assert fresh.Answer() == K.E_UNEXPECTED  # not offering
    call = incoming(env, t)
    assert call.Connect(False) == K.TAPI_E_INVALCALLSTATE  # not CS_IDLE
    assert call.Disconnect(7) == K.E_INVALIDARG
    assert call.Answer() == K.S_OK
    assert call.Answer() == K.E_UNEXPECTED  # connected, not offering
    assert fresh.Connect(False) == K.S_OK
    assert fresh.Connect(False) == K.TAPI_E_INVALCALLSTATE  # a second Connect
    assert call.Disconnect(K.DC_NORMAL) == K.S_OK
    assert call.state == K.CS_DISCONNECTED
    assert call.Disconnect(K.DC_NORMAL) == K.S_FALSE
    t.shutdown()


def test_monitor_registration_gets_monitor_calls_it_cannot_answer(env: Env) -> None:
    owner, watcher = env.tapi(), env.tapi()
    owner.register_call_notifications(owner.addresses()[0], owner=True)
    watcher.register_call_notifications(watcher.addresses()[0], monitor=True, owner=False)
    env.lines[0].incoming()
    note = until_event(watcher, lambda e: isinstance(e, CallNotificationEvent))
    assert isinstance(note, CallNotificationEvent) and note.event == K.CNE_MONITOR
    assert note.call.privilege == K.CP_MONITOR
    assert note.call.Answer() == C.TAPI_E_NOTOWNER
    owned = until_event(owner, lambda e: isinstance(e, CallNotificationEvent))
    assert isinstance(owned, CallNotificationEvent) and owned.event == K.CNE_OWNER
    owner.shutdown()
    # The only owner shut down: the call is dropped (6.2) and the monitor sees it end.
    ended = until_event(watcher, lambda e: getattr(e, "state", None) == K.CS_DISCONNECTED)
    assert isinstance(ended, CallStateEvent) and ended.call is note.call
    watcher.shutdown()
    assert env.stack.hierarchy().is_empty()


def test_callinfo_change_events(env: Env) -> None:
    t = env.tapi()
    t.register_call_notifications(t.addresses()[0])
    call = incoming(env, t)
    env.lines[0].ev.call_info(
        env.ht(call), C.LINECALLINFOSTATE_CALLERID | C.LINECALLINFOSTATE_RATE, CallerID="42"
    )
    changes = [
        e.cause
        for e in next_events(t, 4)  # OFFERING, AE_RINGING, then the two changes
        if isinstance(e, CallInfoChangeEvent)
    ]
    assert changes == [C.CIC_RATE, C.CIC_CALLERID]
    assert call.caller_id_number == "42"
    t.shutdown()


# -- outgoing calls ----------------------------------------------------------------------------


def answer_when_dialling(env: Env, line: int = 0) -> Callable[[TapiEvent], None]:
    """A callback playing the far end: connects the call once it is in progress."""

    def far_end(event: TapiEvent) -> None:
        if isinstance(event, CallStateEvent) and event.state == K.CS_INPROGRESS:
            env.lines[line].connect(env.ht(event.call))

    return far_end


def test_synchronous_connect_through_a_callback_far_end(env: Env) -> None:
    t = env.tapi()
    seen: list[tuple[int, int]] = []
    t.add_callback(answer_when_dialling(env))
    t.add_callback(lambda e: seen.append((e.event_type, getattr(e, "state", -1))))
    a = t.addresses()[0]
    with a.create_call("5550100") as call:
        assert call.connect() == K.S_OK
        assert call.state == K.CS_CONNECTED
        assert call.get_CallInfoString(K.CIS_CALLEDIDNUMBER) == (K.S_OK, "5550100")
        assert env.counts() == {"apps": 1, "lines": 1, "calls": 1, "messages": 0}
        # The callbacks run on their own thread, after the state changed.
        assert env.until(lambda: (K.TE_CALLSTATE, K.CS_CONNECTED) in seen)
    # Leaving the block: the only owner of an active call disconnects it, then releases.
    assert call.released and call.state == K.CS_DISCONNECTED
    assert [entry[0] for entry in env.lines[0].log].count("drop") == 1
    assert env.counts() == {"apps": 1, "lines": 0, "calls": 0, "messages": 0}
    assert call.Connect(True) == K.E_UNEXPECTED  # a released object (linelab's choice)
    t.shutdown()
    assert seen[:2] == [(K.TE_CALLSTATE, K.CS_INPROGRESS), (K.TE_CALLSTATE, K.CS_CONNECTED)]


def test_synchronous_connect_to_a_busy_number(env: Env) -> None:
    t = env.tapi()

    def busy(event: TapiEvent) -> None:
        if isinstance(event, CallStateEvent) and event.state == K.CS_INPROGRESS:
            env.lines[0].busy(env.ht(event.call))

    t.add_callback(busy)
    call = t.addresses()[0].create_call("5550001")
    assert call.Connect(True) == C.TAPI_E_DESTBUSY
    assert (call.state, call.cause) == (K.CS_DISCONNECTED, K.CEC_DISCONNECT_BUSY)
    # The layer drops and deallocates the 2.x call on its own, just after.
    assert env.until(lambda: env.counts()["calls"] == 0)
    assert call.hCall is None
    assert call.Release() == K.S_OK
    assert env.counts()["lines"] == 0
    t.shutdown()


def test_answer_from_inside_a_callback_does_not_deadlock(env: Env) -> None:
    t = env.tapi()
    t.register_call_notifications(t.addresses()[0])
    answered: list[int] = []

    class Sink:  # an ITTAPIEventNotification
        def Event(self, te: int, event: TapiEvent) -> None:
            if te == K.TE_CALLNOTIFICATION:
                assert isinstance(event, CallNotificationEvent)
                answered.append(event.call.Answer())

    hr, cookie = t.Advise(Sink())
    assert hr == K.S_OK and cookie is not None
    env.lines[0].incoming()
    assert env.until(lambda: bool(answered))
    t.shutdown()
    assert answered == [K.S_OK]


@pytest.mark.parametrize("method", ["connect", "answer", "disconnect"])
def test_a_synchronous_call_that_never_completes_times_out_in_virtual_time(
    env: Env, method: str
) -> None:
    import time as real

    t = env.tapi()
    a = t.addresses()[0]
    t.register_call_notifications(a)
    line = env.lines[0]
    if method == "connect":
        call = a.create_call("5550100")
    else:
        call = incoming(env, t)
        if method == "disconnect":
            assert call.Answer() == K.S_OK
    line.auto = False  # the provider accepts the request and never completes it
    act: Callable[[], int] = {
        "connect": lambda: call.Connect(True),
        "answer": call.Answer,
        "disconnect": lambda: call.Disconnect(K.DC_NORMAL),
    }[method]
    start, wall = env.vt.now(), real.monotonic()
    assert act() == K.TAPI_E_TIMEOUT
    assert env.vt.now() - start >= K.SYNC_TIMEOUT == 120.0
    assert real.monotonic() - wall < 10  # not two real minutes
    t.shutdown()
