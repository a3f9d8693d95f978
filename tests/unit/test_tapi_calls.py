"""Call functions: error lists, privileges, owner + monitor apps, handoff (rules.md §2.8-2.19)."""

from __future__ import annotations

from tapi_helpers import DATAMODEM, MONITOR, NONE, OWNER, V22, EventApp, ht_of, stack_with

from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.structs import LINECALLINFO, LINECALLPARAMS, LINECALLSTATUS

OFFERING = C.LINECALLSTATE_OFFERING


def _incoming(line: FakeLine, *apps: EventApp) -> list[int]:
    line.incoming()
    return [next(m[3] for m in app.messages() if m[0] == "LINE_APPNEWCALL") for app in apps]


def test_makecall_error_list() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    assert s.lineMakeCall(hL, "555", lphCall=None) == (C.LINEERR_INVALPOINTER, None)
    assert s.lineMakeCall(hL, 555)[0] == C.LINEERR_INVALPOINTER  # type: ignore[arg-type]
    assert s.lineMakeCall(hL, "555", -3)[0] == C.LINEERR_INVALCOUNTRYCODE
    cases = [
        (LINECALLPARAMS(dwTotalSize=16), C.LINEERR_STRUCTURETOOSMALL),
        (LINECALLPARAMS(dwMediaMode=C.LINEMEDIAMODE_G3FAX), C.LINEERR_INVALMEDIAMODE),
        (LINECALLPARAMS(dwMediaMode=DATAMODEM | C.LINEMEDIAMODE_G3FAX), C.LINEERR_INVALMEDIAMODE),
        (LINECALLPARAMS(dwBearerMode=C.LINEBEARERMODE_DATA), C.LINEERR_BEARERMODEUNAVAIL),
        (LINECALLPARAMS(dwBearerMode=3), C.LINEERR_INVALBEARERMODE),
        (LINECALLPARAMS(dwAddressID=1), C.LINEERR_INVALADDRESSID),
        (LINECALLPARAMS(dwAddressMode=9), C.LINEERR_INVALADDRESSMODE),
        (LINECALLPARAMS(dwMinRate=9600, dwMaxRate=2400), C.LINEERR_INVALRATE),
        (LINECALLPARAMS(dwMinRate=10**6), C.LINEERR_RATEUNAVAIL),
    ]
    for params, code in cases:
        assert s.lineMakeCall(hL, "555", 0, params) == (code, None), params
    assert s.lineMakeCall(12, "555")[0] == C.LINEERR_INVALLINEHANDLE
    assert a.messages() == []
    rid, hc = s.lineMakeCall(hL, "555", 0, LINECALLPARAMS(dwMediaMode=DATAMODEM))
    assert rid > 0 and hc is not None
    assert s.lineMakeCall(hL, "556")[0] == C.LINEERR_CALLUNAVAIL  # one call per modem


def test_makecall_null_destination_leaves_dialtone_then_multistage_dial() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    rid, hc = s.lineMakeCall(hL, None, 0)
    assert hc is not None
    assert a.messages() == [
        ("LINE_REPLY", 0, rid, 0, 0),
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_DIALTONE, C.LINEDIALTONEMODE_UNAVAIL, 0),
    ]
    r1 = s.lineDial(hc, "555;", 0)
    r2 = s.lineDial(hc, "1234", 0)
    assert a.messages() == [
        ("LINE_REPLY", 0, r1, 0, 0),
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_DIALING, 0, 0),
        ("LINE_REPLY", 0, r2, 0, 0),
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_DIALING, 0, 0),
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_PROCEEDING, 0, 0),
    ]
    assert s.lineDial(hc, "1", 0) == C.LINEERR_INVALCALLSTATE
    assert [e for e in line.log if e[0] == "dial"] == [
        ("dial", ht_of(s, hc), "555;"),
        ("dial", ht_of(s, hc), "1234"),
    ]


def test_owner_functions_reject_monitors_before_state() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    a.open()
    b.open(privileges=MONITOR, media=0)
    hcA, hcB = _incoming(line, a, b)
    for rc in (
        s.lineAnswer(hcB),
        s.lineAccept(hcB),
        s.lineDrop(hcB),
        s.lineDial(hcB, "1"),
        s.lineHandoff(hcB, "A", 0),
        s.lineSetCallParams(hcB, C.LINEBEARERMODE_PASSTHROUGH),
    ):
        assert rc == C.LINEERR_NOTOWNER
    assert s.lineAnswer(hcA, b"uui", 3) == C.LINEERR_USERUSERINFOTOOBIG
    assert s.lineAnswer(hcA, 42, 0) == C.LINEERR_INVALPOINTER  # type: ignore[arg-type]
    rid = s.lineAnswer(hcA)
    assert rid > 0
    assert a.messages() == [
        ("LINE_REPLY", 0, rid, 0, 0),
        ("LINE_CALLSTATE", hcA, C.LINECALLSTATE_CONNECTED, C.LINECONNECTEDMODE_ACTIVE, 0),
    ]
    assert b.messages() == [
        ("LINE_CALLSTATE", hcB, C.LINECALLSTATE_CONNECTED, C.LINECONNECTEDMODE_ACTIVE, 0),
    ]
    assert s.lineAnswer(hcA) == C.LINEERR_INVALCALLSTATE


def test_call_info_and_status_for_owner_and_monitor() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "Dialer"), EventApp(s, "Watcher")
    hLA = a.open()
    b.open(privileges=MONITOR, media=0)
    _rid, hcA = s.lineMakeCall(hLA, "5551234", 0, LINECALLPARAMS(dwMediaMode=DATAMODEM))
    assert hcA is not None
    line.connect(ht_of(s, hcA), rate=28800)
    hcB = next(m[3] for m in b.messages() if m[0] == "LINE_APPNEWCALL")
    rc, info = s.lineGetCallInfo(hcB)
    assert rc == 0 and isinstance(info, LINECALLINFO)
    assert (info.dwNumOwners, info.dwNumMonitors) == (1, 1)
    assert info.AppName == "Dialer" and info.CalledID == "5551234"
    assert info.dwRate == 28800 and info.dwMediaMode == DATAMODEM
    assert info.dwOrigin == C.LINECALLORIGIN_OUTBOUND
    assert info.dwNeededSize == info.dwUsedSize <= info.dwTotalSize
    small = LINECALLINFO(dwTotalSize=LINECALLINFO.fixed_size(V22))
    rc, info2 = s.lineGetCallInfo(hcA, lpCallInfo=small)
    assert rc == 0 and info2 is small and small.AppName == ""
    assert small.dwNeededSize > small.dwUsedSize == small.dwTotalSize
    assert s.lineGetCallInfo(hcA, lpCallInfo=LINECALLINFO(dwTotalSize=100))[0] == (
        C.LINEERR_STRUCTURETOOSMALL
    )
    assert s.lineGetCallInfo(hcA, lpCallInfo=None)[0] == C.LINEERR_INVALPOINTER
    rc, st = s.lineGetCallStatus(hcA)
    assert rc == 0 and isinstance(st, LINECALLSTATUS)
    assert st.dwCallState == C.LINECALLSTATE_CONNECTED
    assert st.dwCallPrivilege == OWNER
    assert st.dwCallFeatures == C.LINECALLFEATURE_DROP | C.LINECALLFEATURE_SETCALLPARAMS
    rc, st = s.lineGetCallStatus(hcB)
    assert st is not None and st.dwCallPrivilege == MONITOR and st.dwCallFeatures == 0


def test_set_call_privilege_rules_and_messages() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    a.open()
    b.open(privileges=MONITOR, media=0)
    hcA, hcB = _incoming(line, a, b)
    assert s.lineSetCallPrivilege(hcA, MONITOR) == C.LINEERR_INVALCALLSTATE  # sole owner
    assert s.lineSetCallPrivilege(hcA, OWNER | MONITOR) == C.LINEERR_INVALCALLPRIVILEGE
    assert s.lineSetCallPrivilege(hcB, OWNER) == 0
    assert a.messages() == [("LINE_CALLINFO", hcA, C.LINECALLINFOSTATE_NUMOWNERINCR, 0, 0)]
    assert b.messages() == []  # the caller hears nothing of its own change
    assert s.lineSetCallPrivilege(hcA, MONITOR) == 0
    assert b.messages() == [("LINE_CALLINFO", hcB, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0)]
    assert s.lineSetCallPrivilege(hcA, MONITOR) == 0  # no change, no message
    assert a.messages() == [] and b.messages() == []


def test_handoff_direct_indirect_self_and_target_rules() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b, c = EventApp(s, "A"), EventApp(s, "B"), EventApp(s, "C")
    a.open()
    hLB = b.open(privileges=OWNER, media=DATAMODEM | C.LINEMEDIAMODE_INTERACTIVEVOICE)
    c.open(privileges=MONITOR, media=0)
    hcA, hcC = _incoming(line, a, c)
    assert b.messages() == []  # A opened first: A is the owner
    assert s.lineHandoff(hcA, "a", 0) == 0  # own name (case-insensitive): success, no-op
    assert s.lineHandoff(hcA, None, C.LINEMEDIAMODE_DATAMODEM) == C.LINEERR_TARGETSELF
    assert s.lineHandoff(hcA, None, C.LINEMEDIAMODE_G3FAX) == C.LINEERR_TARGETNOTFOUND
    assert s.lineHandoff(hcA, None, 0x30) == C.LINEERR_INVALMEDIAMODE  # two bits
    assert s.lineHandoff(hcA, "B", 0) == 0
    [new, cs] = b.messages()
    assert new[:3] == ("LINE_APPNEWCALL", hLB, 0) and new[4] == OWNER
    assert cs == ("LINE_CALLSTATE", new[3], OFFERING, C.LINEOFFERINGMODE_ACTIVE, OWNER)
    # The app that handed off caused the change: no LINE_CALLINFO for it (rules.md §3,
    # §6.3); the other holders (the monitor C) get NUMOWNERINCR.
    assert a.messages() == []
    assert c.messages() == [("LINE_CALLINFO", hcC, C.LINECALLINFOSTATE_NUMOWNERINCR, 0, 0)]
    assert s.lineGetCallStatus(hcA)[1].dwCallPrivilege == OWNER  # type: ignore[union-attr]
    # Indirect: B is now the best owner for voice.
    assert s.lineHandoff(hcA, None, C.LINEMEDIAMODE_INTERACTIVEVOICE) == 0
    assert b.messages() == []  # already owner: nothing changes


def test_get_new_calls_gives_monitor_handles_once() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    a.open()
    hLB = b.open(privileges=NONE, media=0)
    [hcA] = _incoming(line, a)
    rc, lst = s.lineGetNewCalls(hLB, 0, C.LINECALLSELECT_LINE)
    assert rc == 0 and lst is not None and len(lst.Calls) == 1
    assert lst.dwCallsNumEntries == 1
    hcB = lst.Calls[0]
    assert s.lineGetCallStatus(hcB)[1].dwCallPrivilege == MONITOR  # type: ignore[union-attr]
    assert a.messages() == [("LINE_CALLINFO", hcA, C.LINECALLINFOSTATE_NUMMONITORS, 0, 0)]
    assert s.lineGetNewCalls(hLB, 0, C.LINECALLSELECT_ADDRESS)[1].Calls == []  # type: ignore[union-attr]
    assert s.lineGetNewCalls(hLB, 1, C.LINECALLSELECT_ADDRESS)[0] == C.LINEERR_INVALADDRESSID


def test_set_call_params_passthrough_states() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    _rid, hc = s.lineMakeCall(hL, "555")
    assert hc is not None
    a.messages()
    pt = C.LINEBEARERMODE_PASSTHROUGH
    assert s.lineSetCallParams(hc, pt) == C.LINEERR_INVALCALLSTATE  # PROCEEDING
    line.connect(ht_of(s, hc))
    assert s.lineSetCallParams(hc, C.LINEBEARERMODE_DATA) == C.LINEERR_BEARERMODEUNAVAIL
    assert s.lineSetCallParams(hc, pt, 9600, 2400) == C.LINEERR_INVALRATE
    rid = s.lineSetCallParams(hc, pt)
    assert rid > 0 and ("set_call_params", ht_of(s, hc), pt) in line.log


def test_incoming_call_without_owner_or_monitor_is_refused() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    a.open(privileges=NONE, media=0)
    assert line.incoming() == 0
    assert a.messages() == []


def test_owner_media_modes_decide_the_owner_and_media_detection() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    a.open(privileges=OWNER, media=C.LINEMEDIAMODE_INTERACTIVEVOICE)
    b.open(privileges=OWNER, media=DATAMODEM)
    assert line.media_detection == DATAMODEM | C.LINEMEDIAMODE_INTERACTIVEVOICE
    _incoming(line, b)  # a data call goes to B although A opened first
    assert a.messages() == []
