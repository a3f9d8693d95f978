"""Lifetime rules of the TAPI 3.x objects (issue 8; docs/rules.md §6.10, docs/tapi3.md), over
fake lines on virtual time: Initialize/Shutdown twice, the event filter, Shutdown as
lineShutdown, UnregisterNotifications, ``with`` blocks, and mixing with flat 2.x calls.
Every test checks the 2.x tree with `Stack.hierarchy()`."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from test_tapi3_objects import (
    DATA,
    Env,
    answer_when_dialling,
    incoming,
    make_env,
    next_events,
    states,
    until_event,
)

from tapi import constants as C
from tapi.structs import LINEINITIALIZEEXPARAMS
from tapi.tapi3 import TAPI, CallNotificationEvent, CallStateEvent, TapiError, TapiEvent
from tapi.tapi3 import constants as K


@pytest.fixture
def env() -> Iterator[Env]:
    yield from make_env()


def test_second_initialize_and_second_shutdown_give_s_false(env: Env) -> None:
    t = TAPI(env.stack)
    assert t.Shutdown() == K.TAPI_E_NOT_INITIALIZED  # never initialised: linelab decision
    assert (t.Initialize(), t.Initialize()) == (K.S_OK, K.S_FALSE)
    assert env.counts()["apps"] == 1  # one HLINEAPP, not two
    old = t.addresses()[0]
    assert (t.Shutdown(), t.Shutdown()) == (K.S_OK, K.S_FALSE)
    # Starting again takes a new TAPI object (rules.md §6.10); the old objects stay dead.
    assert t.Initialize() == K.E_UNEXPECTED
    assert env.stack.hierarchy().is_empty()
    t = TAPI(env.stack)
    assert t.Initialize() == K.S_OK
    assert old.CreateCall("1", C.LINEADDRESSTYPE_PHONENUMBER, DATA) == (
        K.TAPI_E_NOT_INITIALIZED,
        None,
    )
    # Another TAPI object's address.
    assert t.RegisterCallNotifications(old, False, True, DATA, 0)[0] == K.E_INVALIDARG
    assert t.addresses()[0] is not old
    assert t.Shutdown() == K.S_OK
    assert env.stack.hierarchy().is_empty()


def test_no_events_before_an_event_filter_is_set(env: Env) -> None:
    t = env.tapi(event_filter=0)
    a = t.addresses()[0]
    t.register_call_notifications(a)
    env.lines[0].incoming(caller_id="5551234")
    assert t.get_event(30.0) is None  # 30 s of virtual time: nothing, not even held back
    (call,) = a.calls()  # the call object exists; the app was just not told
    assert call.state == K.CS_OFFERING
    t.event_filter = K.TE_CALLSTATE
    env.lines[0].remote_hangup(env.ht(call))
    # Only what happened after the filter was set, and only what it lets through.
    assert states(next_events(t, 1)) == [(K.CS_DISCONNECTED, K.CEC_DISCONNECT_NORMAL)]
    assert t.get_event(5.0) is None
    t.shutdown()


def test_shutdown_acts_like_lineShutdown_and_leaves_dead_objects(env: Env) -> None:
    t = env.tapi()
    a, b = t.addresses()
    t.register_call_notifications(a)
    inbound = incoming(env, t)
    assert inbound.answer() == K.S_OK
    t.add_callback(answer_when_dialling(env, line=1))
    outbound = b.create_call("5550100")
    assert outbound.connect() == K.S_OK
    idle = b.create_call("5550199")
    assert env.counts() == {"apps": 1, "lines": 2, "calls": 2, "messages": 0}
    threads = t.threads
    assert len(threads) == 2  # the pump and the callback thread
    assert t.shutdown() == K.S_OK
    assert env.stack.hierarchy().is_empty()  # every HLINE and HCALL went with the HLINEAPP
    assert not any(x.is_alive() for x in threads) and t.threads == []
    # Both calls were this app's alone: lineShutdown ended them at the provider and
    # closed both lines (rules.md 6.2, R1).
    for line in env.lines:
        assert [e[0] for e in line.log][-2:] == ["close_call", "close"]
    for call in (inbound, outbound, idle):
        assert call.state == K.CS_DISCONNECTED
        assert call.Disconnect(K.DC_NORMAL) == K.TAPI_E_NOT_INITIALIZED
        assert call.Connect(True) == K.TAPI_E_NOT_INITIALIZED
        assert call.Answer() == K.TAPI_E_NOT_INITIALIZED
    assert a.CreateCall("1", C.LINEADDRESSTYPE_PHONENUMBER, DATA)[0] == K.TAPI_E_NOT_INITIALIZED
    assert t.RegisterCallNotifications(a, False, True, DATA, 0)[0] == K.TAPI_E_NOT_INITIALIZED
    with pytest.raises(TapiError) as info:
        t.get_event(0)
    assert info.value.hr == K.TAPI_E_NOT_INITIALIZED
    assert inbound.release() == K.S_OK  # releasing what outlived the object is harmless


def test_unregister_stops_new_calls_for_that_registration_only(env: Env) -> None:
    t = env.tapi()
    a, b = t.addresses()
    reg_a = t.register_call_notifications(a, callback_instance=1)
    t.register_call_notifications(b, callback_instance=2)
    call = incoming(env, t, line=0)
    assert call.answer() == K.S_OK
    t.unregister_notifications(reg_a)
    # The existing call and its events are untouched; its line stays open for it.
    assert env.counts()["lines"] == 2
    env.lines[0].remote_hangup(env.ht(call))
    ended = until_event(t, lambda e: getattr(e, "state", None) == K.CS_DISCONNECTED)
    assert isinstance(ended, CallStateEvent) and ended.call is call
    assert ended.callback_instance == 1
    assert env.until(lambda: env.counts()["calls"] == 0)
    # A new call on A while the line is still kept for `call`: nobody is told, and as its
    # only owner the layer drops it (the unowned-call rule) instead of keeping it.
    env.lines[0].incoming()
    assert env.until(lambda: [e[0] for e in env.lines[0].log].count("drop") == 2)
    assert env.until(lambda: env.counts()["calls"] == 0)
    # B's registration still works.
    other = incoming(env, t, line=1)
    assert other.address is b
    # The last call object made through A's line goes: the line closes (6.10).
    assert env.counts()["lines"] == 2
    call.release()
    assert env.counts()["lines"] == 1
    assert env.lines[0].is_open is False
    assert not any(isinstance(e, CallNotificationEvent) and e.call.address is a for e in drain(t))
    t.shutdown()


def drain(t: TAPI) -> list[TapiEvent]:
    got: list[TapiEvent] = []
    while (event := t.get_event(0)) is not None:
        got.append(event)
    return got


def test_unregistered_line_closes_when_its_last_call_object_is_collected(env: Env) -> None:
    t = env.tapi(event_filter=0)
    a = t.addresses()[0]
    cookie = t.register_call_notifications(a)
    env.lines[0].incoming()
    assert env.until(lambda: len(a.calls()) == 1)
    (call,) = a.calls()
    env.lines[0].remote_hangup(env.ht(call))
    assert env.until(lambda: a.calls() == [])  # over: the layer let go of its reference
    t.unregister_notifications(cookie)
    assert env.counts()["lines"] == 1  # the app still holds `call`
    del call
    gc.collect()  # collected: the line closes at the object's next event or method
    assert t.get_event(0) is None
    assert env.counts()["lines"] == 0
    t.shutdown()


def test_with_blocks_mirror_the_hierarchy(env: Env) -> None:
    with TAPI(env.stack) as t:
        assert t.initialized
        t.event_filter = K.TE_CALLNOTIFICATION | K.TE_CALLSTATE
        t.register_call_notifications(t.addresses()[0])
        with incoming(env, t) as call:
            call.answer()
            assert env.counts()["calls"] == 1
        # The app was the only owner of an active call: disconnected, then released.
        assert call.released and call.state == K.CS_DISCONNECTED
        assert env.counts() == {"apps": 1, "lines": 1, "calls": 0, "messages": 0}
        threads = t.threads
    assert not t.initialized and env.stack.hierarchy().is_empty()
    assert not any(x.is_alive() for x in threads)


def test_leaving_a_call_block_keeps_a_call_another_owner_holds(env: Env) -> None:
    stack = env.stack
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, hB, _n, _v, _p = stack.lineInitializeEx(None, None, "flat B", C.TAPI_VERSION2_2, params)
    assert rc == 0 and hB is not None
    rc, hLineB = stack.lineOpen(hB, 0, C.TAPI_VERSION2_2, 0, 0, C.LINECALLPRIVILEGE_MONITOR, 0)
    assert rc == 0 and hLineB is not None
    with TAPI(env.stack) as t:
        t.event_filter = K.TE_CALLNOTIFICATION
        t.register_call_notifications(t.addresses()[0])
        with incoming(env, t) as call:
            assert call.answer() == K.S_OK
            (view,) = [c for a in stack.hierarchy().apps if a.hLineApp == hB for x in a.lines
                       for c in x.calls]  # fmt: skip
            assert stack.lineSetCallPrivilege(view.hCall, C.LINECALLPRIVILEGE_OWNER) == 0
        # Another owner keeps it: released without a drop, and B's call goes on.
        assert [e[0] for e in env.lines[0].log].count("drop") == 0
        (view,) = [c for a in stack.hierarchy().apps for x in a.lines for c in x.calls]
        assert view.state == C.LINECALLSTATE_CONNECTED
    assert stack.lineShutdown(hB) == 0
    assert stack.hierarchy().is_empty()


def test_a_flat_lineShutdown_of_its_hlineapp_shuts_the_object_down(env: Env) -> None:
    t = env.tapi()
    a = t.addresses()[0]
    t.register_call_notifications(a)
    call = incoming(env, t)
    threads = t.threads
    h = t.hLineApp
    assert h is not None
    assert env.stack.lineShutdown(h) == 0  # from the 2.x layer
    assert env.until(lambda: not t.initialized)
    for x in threads:
        x.join(5.0)
    assert not any(x.is_alive() for x in threads)
    assert env.stack.hierarchy().is_empty()
    assert t.Shutdown() == K.S_FALSE  # already shut down, by the other layer
    assert call.Answer() == K.TAPI_E_NOT_INITIALIZED
    assert call.state == K.CS_DISCONNECTED
    assert a.CreateCall("1", C.LINEADDRESSTYPE_PHONENUMBER, DATA)[0] == K.TAPI_E_NOT_INITIALIZED


def test_flat_calls_on_the_objects_hlineapp_and_a_3x_shutdown(env: Env) -> None:
    t = env.tapi()
    h = t.hLineApp
    assert h is not None
    # The app opens line B itself, with the 2.x API, on the TAPI object's HLINEAPP.
    rc, hLine = env.stack.lineOpen(
        h, 1, C.TAPI_VERSION2_2, 0, 99, C.LINECALLPRIVILEGE_OWNER, C.LINEMEDIAMODE_DATAMODEM
    )
    assert rc == 0 and hLine is not None
    env.lines[1].incoming()
    msg = t.get_line_message(5.0)  # messages of the app's own 2.x objects come here
    assert msg is not None and msg.dwMessageID == C.LINE_APPNEWCALL
    assert (msg.hDevice, msg.dwCallbackInstance) == (hLine, 99)
    hCall = msg.dwParam2
    assert env.stack.lineAnswer(hCall) > 0
    assert t.get_event(1.0) is None  # not a 3.x call: no 3.x events
    assert env.counts() == {"apps": 1, "lines": 1, "calls": 1, "messages": 0}
    assert t.shutdown() == K.S_OK  # lineShutdown: the flat line and call go too
    assert env.stack.hierarchy().is_empty()
    # No HLINEAPP left at all in the stack: UNINITIALIZED rather than INVALCALLHANDLE (R8).
    assert env.stack.lineGetCallInfo(hCall)[0] == C.LINEERR_UNINITIALIZED
