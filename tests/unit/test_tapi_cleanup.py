"""The cleanup hierarchy R1-R9 (rules.md §1.2, 6): every message expected, none stale."""

from __future__ import annotations

import os

import pytest
from tapi_helpers import DATAMODEM, MONITOR, NONE, OWNER, EventApp, hline_of, ht_of, stack_with

from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.stack import Stack

IDLE = C.LINECALLSTATE_IDLE
CONNECTED = C.LINECALLSTATE_CONNECTED


def _owner_and_monitor(
    line: FakeLine,
) -> tuple[Stack, EventApp, EventApp, int, int, int, int]:
    """A owns a CONNECTED outgoing call, B monitors it. Queues drained."""
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hLA = a.open()
    hLB = b.open(privileges=MONITOR, media=0)
    rid, hcA = s.lineMakeCall(hLA, "5551234", 0)
    assert hcA is not None
    if not line.auto:
        line.complete(rid, 0)
    line.connect(ht_of(s, hcA))
    a.messages()
    hcB = next(m[3] for m in b.messages() if m[0] == "LINE_APPNEWCALL")
    return s, a, b, hLA, hLB, hcA, hcB


def test_r1_shutdown_contains_close_dealloc_requests_messages_and_registration() -> None:
    line = FakeLine(auto=False)
    s, a, b, hLA, _hLB, hcA, hcB = _owner_and_monitor(line)
    ht = ht_of(s, hcA)
    assert s.lineRegisterRequestRecipient(a.h, 7, C.LINEREQUESTMODE_MAKECALL, 1) == 0
    rid = s.lineSetCallParams(hcA, C.LINEBEARERMODE_PASSTHROUGH)  # left pending
    assert rid > 0
    line.remote_hangup(ht)  # queued, never read
    assert a.stack.pending_messages(a.h)
    assert s.lineShutdown(a.h) == 0
    # Every A handle is stale; A's queue and fd are gone; no reply will ever come.
    for rc in (
        s.lineGetCallInfo(hcA)[0],
        s.lineDrop(hcA),
        s.lineDeallocateCall(hcA),
    ):
        assert rc == C.LINEERR_INVALCALLHANDLE
    assert s.lineClose(hLA) == C.LINEERR_INVALLINEHANDLE
    assert s.lineGetMessage(a.h, 0) == (C.LINEERR_INVALAPPHANDLE, None)
    assert s.pending_messages(a.h) == []
    # The sole owner went away from an active call: the call is dropped (6.2).
    drop_rid = next(r for r, (kind, _h) in line.pending.items() if kind == "drop")
    line.complete(rid, 0)  # the cancelled request completes: nobody hears of it
    line.complete(drop_rid, 0)
    line.state(ht, IDLE)
    assert b.messages() == [
        ("LINE_CALLSTATE", hcB, C.LINECALLSTATE_DISCONNECTED, C.LINEDISCONNECTMODE_NORMAL, 0),
        ("LINE_CALLINFO", hcB, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0),
        ("LINE_CALLSTATE", hcB, IDLE, 0, 0),
    ]
    # Assisted telephony registration went with the app.
    assert s.tapiRequestMakeCall("555", None, None, None) == C.TAPIERR_NOREQUESTRECIPIENT
    with pytest.raises(OSError):
        os.fstat(a.hEvent)  # lineShutdown destroyed the event fd


def test_r2_close_invalidates_calls_suppresses_replies_tells_others() -> None:
    line = FakeLine(auto=False)
    s, a, b, hLA, hLB, hcA, hcB = _owner_and_monitor(line)
    assert s.lineSetStatusMessages(hLB, C.LINEDEVSTATE_CLOSE, 0) == 0
    rid = s.lineDrop(hcA)
    assert rid > 0
    line.state(ht_of(s, hcA), C.LINECALLSTATE_DISCONNECTED, C.LINEDISCONNECTMODE_NORMAL)
    assert s.lineClose(hLA) == 0
    assert s.lineGetCallStatus(hcA)[0] == C.LINEERR_INVALCALLHANDLE
    assert a.messages() == []  # the queued DISCONNECTED was purged (R4)
    line.complete(rid, 0)
    line.state(ht_of(s, hcB), IDLE)
    assert a.messages() == []  # the reply is suppressed (R2)
    assert b.messages() == [
        ("LINE_CALLSTATE", hcB, C.LINECALLSTATE_DISCONNECTED, C.LINEDISCONNECTMODE_NORMAL, 0),
        ("LINE_CALLINFO", hcB, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0),
        ("LINE_LINEDEVSTATE", hLB, C.LINEDEVSTATE_CLOSE, 0, 0),
        ("LINE_CALLSTATE", hcB, IDLE, 0, 0),
    ]


def test_r3_dealloc_frees_one_handle_last_one_closes_the_call() -> None:
    line = FakeLine()
    s, a, b, _hLA, _hLB, hcA, hcB = _owner_and_monitor(line)
    ht = ht_of(s, hcA)
    assert s.lineSetCallPrivilege(hcB, OWNER) == 0
    assert a.messages() == [("LINE_CALLINFO", hcA, C.LINECALLINFOSTATE_NUMOWNERINCR, 0, 0)]
    # A is no longer the sole owner: it may let go of an active call; the call goes on.
    assert s.lineDeallocateCall(hcA) == 0
    assert b.messages() == [("LINE_CALLINFO", hcB, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0)]
    assert ("close_call", ht) not in line.log
    assert s.lineGetCallStatus(hcB)[1].dwCallState == CONNECTED  # type: ignore[union-attr]
    assert s.lineDrop(hcB) > 0
    b.messages()
    assert s.lineDeallocateCall(hcB) == 0
    assert line.log[-1] == ("close_call", ht)
    assert b.messages() == [] and a.messages() == []


def test_r3_last_handle_of_active_call_going_away_drops_it() -> None:
    line = FakeLine()
    s, a, b, hLA, _hLB, hcA, hcB = _owner_and_monitor(line)
    ht = ht_of(s, hcA)
    assert s.lineDeallocateCall(hcB) == 0  # B first: A hears NUMMONITORS
    assert a.messages() == [("LINE_CALLINFO", hcA, C.LINECALLINFOSTATE_NUMMONITORS, 0, 0)]
    assert s.lineClose(hLA) == 0
    assert ("close_call", ht) in line.log
    assert b.messages() == []


def test_r4_dealloc_purges_the_calls_pending_messages_but_not_replies() -> None:
    line = FakeLine(auto=False)
    s, a, b, _hLA, _hLB, hcA, hcB = _owner_and_monitor(line)
    ht = ht_of(s, hcA)
    rid = s.lineDrop(hcA)
    line.complete(rid, 0)
    line.state(ht, IDLE)
    assert s.lineDeallocateCall(hcB) == 0  # after IDLE: nobody hears of it
    assert b.messages() == []
    assert s.lineDeallocateCall(hcA) == 0
    # The LINE_REPLY (hDevice unused) survives; the LINE_CALLSTATE of hcA does not.
    assert a.messages() == [("LINE_REPLY", 0, rid, 0, 0)]


def test_r4_desktop_keeps_replies_after_dealloc_ce_discards_them() -> None:
    for ce, expect_reply in ((False, True), (True, False)):
        line = FakeLine(auto=False)
        s = stack_with(line, ce=ce)
        a, b = EventApp(s, "A"), EventApp(s, "B")
        a.open()
        b.open()
        ht = line.incoming()
        hcA = a.messages()[0][3]
        assert b.messages() == []  # B is not a monitor and not the first owner
        hcB = s.lineGetNewCalls(hline_of(s, hcA), 0, C.LINECALLSELECT_LINE)
        assert hcB[0] == 0
        rid = s.lineAccept(hcA)
        assert rid > 0
        # A hands ownership to B, then lets go of its handle with the reply pending.
        assert s.lineHandoff(hcA, "B", 0) == 0
        assert s.lineDeallocateCall(hcA) == 0
        line.complete(rid, 0)
        line.state(ht, C.LINECALLSTATE_ACCEPTED)
        expected = [("LINE_REPLY", 0, rid, 0, 0)] if expect_reply else []
        assert a.messages() == expected, ce


def test_r4_desktop_app_below_api_2_0_loses_replies_after_dealloc() -> None:
    """rules.md §6.1: lineDeallocateCall discards pending LINE_REPLYs for API < 2.0 apps
    even on desktop; a 2.0+ app on the same stack still gets its reply."""
    for version, expect_reply in ((C.TAPI_VERSION1_4, False), (C.TAPI_VERSION2_0, True)):
        line = FakeLine(auto=False)
        s = stack_with(line)
        a, b = EventApp(s, "A", version=version), EventApp(s, "B")
        a.open(version=version)
        b.open()
        ht = line.incoming()
        first = a.messages()[0]  # 1.4: no LINE_APPNEWCALL, the LINE_CALLSTATE says it
        hcA = first[3] if first[0] == "LINE_APPNEWCALL" else first[1]
        rid = s.lineAccept(hcA)
        assert rid > 0
        assert s.lineHandoff(hcA, "B", 0) == 0
        assert s.lineDeallocateCall(hcA) == 0
        line.complete(rid, 0)
        line.state(ht, C.LINECALLSTATE_ACCEPTED)
        replies = [m for m in a.messages() if m[0] == "LINE_REPLY"]
        assert replies == ([("LINE_REPLY", 0, rid, 0, 0)] if expect_reply else []), version
        s.close()


def test_r5_tapi_allocates_handles_for_owners_and_monitors_valid_until_dealloc() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b, c = EventApp(s, "A"), EventApp(s, "B"), EventApp(s, "C")
    hLA = a.open()
    hLB = b.open(privileges=MONITOR | OWNER, media=DATAMODEM)
    c.open(privileges=NONE, media=0)
    ht = line.incoming(caller_id="5550100", caller_name="Alice")
    offering = (C.LINECALLSTATE_OFFERING, C.LINEOFFERINGMODE_ACTIVE)
    [newA, csA] = a.messages()
    [newB, csB] = b.messages()
    assert newA[:3] == ("LINE_APPNEWCALL", hLA, 0) and newA[4] == OWNER
    assert csA == ("LINE_CALLSTATE", newA[3], *offering, OWNER)
    assert newB[:3] == ("LINE_APPNEWCALL", hLB, 0) and newB[4] == MONITOR
    assert csB == ("LINE_CALLSTATE", newB[3], *offering, MONITOR)
    assert c.messages() == []
    line.state(ht, IDLE)
    for hc in (newA[3], newB[3]):
        rc, info = s.lineGetCallInfo(hc)
        assert rc == 0 and info is not None and info.CallerID == "5550100"
        assert info.CallerIDName == "Alice"
        assert info.dwCallerIDFlags == C.LINECALLPARTYID_ADDRESS | C.LINECALLPARTYID_NAME
        assert s.lineDeallocateCall(hc) == 0


def test_r6_closing_the_stack_is_lineshutdown_of_every_app() -> None:
    line = FakeLine()
    s, _a, _b, _hLA, _hLB, hcA, _hcB = _owner_and_monitor(line)
    s.close()
    assert ("drop", ht_of_log(line)) in line.log or ("close_call", ht_of_log(line)) in line.log
    assert line.log[-1] == ("close",)
    view = s.hierarchy()
    assert view.apps == () and view.hlines() == set() and view.hcalls() == set()
    assert s.lineGetCallInfo(hcA)[0] == C.LINEERR_UNINITIALIZED


def ht_of_log(line: FakeLine) -> int:
    return int(next(e[1] for e in line.log if e[0] == "make_call"))


def test_r7_failed_makecall_never_yields_a_handle() -> None:
    line = FakeLine(auto=False)
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hL = a.open()
    b.open(privileges=MONITOR, media=0)
    rid, hc = s.lineMakeCall(hL, "5551234", 0)
    assert hc is not None
    line.complete(rid, C.LINEERR_RESOURCEUNAVAIL)
    assert a.messages() == [("LINE_REPLY", 0, rid, C.LINEERR_RESOURCEUNAVAIL, 0)]
    assert b.messages() == []
    assert s.lineGetCallInfo(hc)[0] == C.LINEERR_INVALCALLHANDLE
    assert line.log[-1] == ("close_call", ht_of_log(line))  # TSPI_lineCloseCall after async fail


def test_r8_stale_handles_get_their_codes() -> None:
    s = stack_with()
    assert s.lineShutdown(1) == C.LINEERR_UNINITIALIZED
    assert s.lineClose(1) == C.LINEERR_UNINITIALIZED
    assert s.lineDrop(1) == C.LINEERR_UNINITIALIZED
    a = EventApp(s)
    hL = a.open()
    assert s.lineShutdown(hL) == C.LINEERR_INVALAPPHANDLE  # wrong kind of handle
    assert s.lineClose(a.h) == C.LINEERR_INVALLINEHANDLE
    assert s.lineDrop(hL) == C.LINEERR_INVALCALLHANDLE
    assert s.lineClose("garbage") == C.LINEERR_INVALLINEHANDLE  # type: ignore[arg-type]
    assert s.lineClose(hL) == 0
    assert s.lineClose(hL) == C.LINEERR_INVALLINEHANDLE


def test_r9_handles_and_request_ids_are_never_reused() -> None:
    s = stack_with()
    seen: set[int] = set()
    rids: list[int] = []
    for _ in range(20):
        a = EventApp(s)
        hL = a.open()
        rid, hc = s.lineMakeCall(hL, "555", 0)
        assert hc is not None
        rids.append(rid)
        for h in (a.h, hL, hc):
            assert h not in seen and h != 0
            seen.add(h)
        a.shutdown()
    assert rids == sorted(rids) and len(set(rids)) == len(rids) and rids[0] > 0


def test_forced_close_keeps_what_was_queued_for_the_calls() -> None:
    """rules.md §6.4 (linelab decision): messages already queued for a force-closed
    HLINE and its calls stay for the app to read; nothing new is queued for them."""
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    rid, hc = s.lineMakeCall(hL, "5551234")
    assert hc is not None
    line.connect(s.hierarchy().call(hc).call_id)  # type: ignore[union-attr]
    line.force_close()
    assert s.lineGetCallStatus(hc)[0] == C.LINEERR_INVALCALLHANDLE
    got = a.messages()
    assert ("LINE_REPLY", 0, rid, 0, 0) in got
    assert ("LINE_CALLSTATE", hc, C.LINECALLSTATE_CONNECTED, C.LINECONNECTEDMODE_ACTIVE, 0) in got
    assert got[-1] == ("LINE_CLOSE", hL, 0, 0, 0)
    assert s.hierarchy().orphans() == []
    a.shutdown()


def test_forced_close_completes_requests_first_then_line_close_then_nothing() -> None:
    line = FakeLine(auto=False)
    s, a, b, hLA, hLB, hcA, hcB = _owner_and_monitor(line)
    rid = s.lineDrop(hcA)
    line.force_close()
    assert a.messages() == [
        ("LINE_REPLY", 0, rid, C.LINEERR_OPERATIONFAILED, 0),
        ("LINE_CLOSE", hLA, 0, 0, 0),
    ]
    assert b.messages() == [("LINE_CLOSE", hLB, 0, 0, 0)]
    for hc in (hcA, hcB):
        assert s.lineGetCallInfo(hc)[0] == C.LINEERR_INVALCALLHANDLE
    assert s.lineClose(hLA) == C.LINEERR_INVALLINEHANDLE
    assert line.log[-1] == ("close",)
    # Unlike a removal, the device can be opened again.
    assert a.open() > 0
