"""The conformance cases of docs/rules.md §7 (TAPI 2 rows), one parametrized table.

Each case builds its own stack on a scripted FakeLine and checks exactly the return
codes and messages the table names (and that nothing else is queued).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tapi_helpers import (
    DATAMODEM,
    MONITOR,
    NONE,
    OWNER,
    V22,
    EventApp,
    hline_of,
    ht_of,
    stack_with,
)

import tapi
from tapi import constants as C
from tapi.providers.base import LineCaps
from tapi.providers.fake import FakeLine
from tapi.structs import LINECALLPARAMS, LINEDEVCAPS, VARSTRING

RULES = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

#: case number -> (its name in docs/rules.md §7, the check)
CASES: dict[int, tuple[str, Callable[[], None]]] = {}


def case(number: int, name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        CASES[number] = (name, fn)
        return fn

    return register


def _cb(*args: int) -> None:
    pass


def _connected_call(line: FakeLine | None = None) -> tuple[tapi.Stack, FakeLine, EventApp, int]:
    line = line or FakeLine()
    s = stack_with(line)
    a = EventApp(s, "A")
    hL = a.open()
    rc, hc = s.lineMakeCall(hL, "5551234", 0, LINECALLPARAMS(dwMediaMode=DATAMODEM))
    assert rc > 0 and hc is not None
    line.connect(ht_of(s, hc))
    a.messages()
    return s, line, a, hc


@case(2, "lineInitialize-null-handle-pointer")
def case_2() -> None:
    s = stack_with()
    assert s.lineInitialize(None, None, None, lphLineApp=None, lpdwNumDevs=None)[0] == (
        C.LINEERR_INVALPOINTER
    )


@case(4, "lineInitialize-null-numdevs")
def case_4() -> None:
    s = stack_with()
    rc, h, n = s.lineInitialize(None, _cb, None, lpdwNumDevs=None)
    assert (rc, h, n) == (C.LINEERR_INVALPOINTER, None, None)


@case(6, "lineShutdown-null-handle")
def case_6() -> None:
    s = stack_with()
    rc, h, n = s.lineInitialize(None, _cb, "app")
    assert rc == 0 and n == 1
    assert s.lineShutdown(0) == C.LINEERR_INVALAPPHANDLE
    assert s.lineShutdown(h) == 0  # type: ignore[arg-type]


@case(8, "getmessage-empty-poll-fails")
def case_8() -> None:
    s = stack_with()
    a = EventApp(s)
    assert s.lineGetMessage(a.h, 0) == (C.LINEERR_OPERATIONFAILED, None)


@case(10, "event-fd-readable-while-queued")
def case_10() -> None:
    import select

    s = stack_with()
    a = EventApp(s)
    hL = a.open(privileges=NONE, media=0)
    assert select.select([a.hEvent], [], [], 0)[0] == []
    assert s.lineMakeCall(hL, "5551234", 0)[0] > 0
    assert select.select([a.hEvent], [], [], 0)[0] == [a.hEvent]
    msgs = a.raw()
    assert msgs
    assert select.select([a.hEvent], [], [], 0)[0] == []


@case(12, "negotiate-no-overlap")
def case_12() -> None:
    s = stack_with()
    a = EventApp(s)
    rc, v, ext = s.lineNegotiateAPIVersion(a.h, 0, 0x00040000, 0x00050000)
    assert (rc, v, ext) == (C.LINEERR_INCOMPATIBLEAPIVERSION, None, None)


@case(14, "devcaps-too-small")
def case_14() -> None:
    s = stack_with()
    a = EventApp(s)
    rc, caps = s.lineGetDevCaps(a.h, 0, V22, 0, lpLineDevCaps=LINEDEVCAPS(dwTotalSize=8))
    assert (rc, caps) == (C.LINEERR_STRUCTURETOOSMALL, None)


@case(16, "open-none-with-owner")
def case_16() -> None:
    s = stack_with()
    a = EventApp(s)
    rc, h = s.lineOpen(a.h, 0, V22, 0, 0, NONE | OWNER, DATAMODEM)
    assert (rc, h) == (C.LINEERR_INVALPRIVSELECT, None)


@case(18, "open-owner-video-on-modem")
def case_18() -> None:
    s = stack_with()
    a = EventApp(s)
    rc, _ = s.lineOpen(a.h, 0, V22, 0, 0, OWNER, C.LINEMEDIAMODE_VIDEO)
    assert rc == C.LINEERR_INVALMEDIAMODE


@case(20, "devstate-open-close-to-watcher-only")
def case_20() -> None:
    s = stack_with()
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hA = a.open(privileges=MONITOR, media=0)
    assert s.lineSetStatusMessages(hA, C.LINEDEVSTATE_OPEN | C.LINEDEVSTATE_CLOSE, 0) == 0
    hB = b.open(privileges=NONE, media=0)
    assert s.lineClose(hB) == 0
    assert a.messages() == [
        ("LINE_LINEDEVSTATE", hA, C.LINEDEVSTATE_OPEN, 0, 0),
        ("LINE_LINEDEVSTATE", hA, C.LINEDEVSTATE_CLOSE, 0, 0),
    ]
    assert b.messages() == []


@case(22, "makecall-reply-before-callstate")
def case_22() -> None:
    line = FakeLine(auto=False)
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open(privileges=NONE, media=0)
    rid, hc = s.lineMakeCall(hL, "5551234", 0, LINECALLPARAMS(dwMediaMode=DATAMODEM))
    assert rid > 0 and hc is not None
    ht = line.log[-1][1]
    line.state(ht, C.LINECALLSTATE_DIALING)  # before the reply: held back (R7)
    assert a.messages() == []
    assert s.lineGetCallStatus(hc)[0] == C.LINEERR_INVALCALLHANDLE
    line.complete(rid, 0)
    assert a.messages() == [
        ("LINE_REPLY", 0, rid, 0, 0),
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_DIALING, 0, 0),
    ]


@case(24, "makecall-prompt-modifier")
def case_24() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    assert s.lineMakeCall(hL, "555?1234", 0) == (C.LINEERR_DIALPROMPT, None)
    assert a.messages() == []


@case(26, "dial-when-connected")
def case_26() -> None:
    s, _line, _a, hc = _connected_call()
    assert s.lineDial(hc, "1", 0) == C.LINEERR_INVALCALLSTATE


@case(28, "close-suppresses-makecall-reply")
def case_28() -> None:
    line = FakeLine(auto=False)
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    rid, hc = s.lineMakeCall(hL, "5551234", 0)
    assert hc is not None
    assert s.lineClose(hL) == 0
    line.complete(rid, 0)
    assert a.messages() == []
    assert s.lineGetCallInfo(hc)[0] == C.LINEERR_INVALCALLHANDLE


@case(30, "busy-then-drop-then-deallocate")
def case_30() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    _rid, hc = s.lineMakeCall(hL, "5551234", 0, LINECALLPARAMS(dwMediaMode=DATAMODEM))
    assert hc is not None
    a.messages()
    line.busy(ht_of(s, hc))
    assert a.messages() == [
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_DISCONNECTED, C.LINEDISCONNECTMODE_BUSY, 0)
    ]
    rid = s.lineDrop(hc)
    assert a.messages() == [
        ("LINE_REPLY", 0, rid, 0, 0),
        ("LINE_CALLSTATE", hc, C.LINECALLSTATE_IDLE, 0, 0),
    ]
    assert s.lineDeallocateCall(hc) == 0


@case(32, "sole-owner-deallocate-live-call")
def case_32() -> None:
    s, _line, _a, hc = _connected_call()
    assert s.lineDeallocateCall(hc) == C.LINEERR_INVALCALLSTATE


@case(34, "deallocate-twice")
def case_34() -> None:
    s, _line, _a, hc = _connected_call()
    assert s.lineDrop(hc) > 0
    assert s.lineDeallocateCall(hc) == 0
    assert s.lineDeallocateCall(hc) == C.LINEERR_INVALCALLHANDLE


@case(36, "drop-idle-call")
def case_36() -> None:
    s, _line, _a, hc = _connected_call()
    assert s.lineDrop(hc) > 0
    assert s.lineDrop(hc) == C.LINEERR_INVALCALLSTATE


@case(38, "monitor-deallocate-tells-owner")
def case_38() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hA = a.open()
    hB = b.open(privileges=MONITOR, media=0)
    _rid, hcA = s.lineMakeCall(hA, "5551234", 0)
    assert hcA is not None
    line.connect(ht_of(s, hcA))
    a.messages()
    new = [m for m in b.messages() if m[0] == "LINE_APPNEWCALL"]
    assert new and new[0][1] == hB
    hcB = new[0][3]
    assert s.lineDeallocateCall(hcB) == 0
    assert a.messages() == [("LINE_CALLINFO", hcA, C.LINECALLINFOSTATE_NUMMONITORS, 0, 0)]
    assert b.messages() == []


@case(40, "api14-app-gets-no-appnewcall")
def case_40() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s, "A", version=C.TAPI_VERSION1_4)
    hL = a.open(version=C.TAPI_VERSION1_4)
    ht = line.incoming()
    msgs = a.messages()
    assert [m[0] for m in msgs] == ["LINE_CALLSTATE"]
    assert msgs[0][2:] == (C.LINECALLSTATE_OFFERING, C.LINEOFFERINGMODE_ACTIVE, OWNER)
    assert hline_of(s, msgs[0][1]) == hL and ht


@case(42, "accept-twice")
def case_42() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    a.open()
    line.incoming()
    hc = a.messages()[0][3]
    assert s.lineAccept(hc) > 0
    assert s.lineAccept(hc) == C.LINEERR_INVALCALLSTATE


@case(44, "caller-gives-up-idle-directly")
def case_44() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    a.open()
    b.open(privileges=MONITOR, media=0)
    ht = line.incoming()
    hcA, hcB = a.messages()[0][3], b.messages()[0][3]
    line.state(ht, C.LINECALLSTATE_IDLE)
    assert a.messages() == [("LINE_CALLSTATE", hcA, C.LINECALLSTATE_IDLE, 0, 0)]
    assert b.messages() == [("LINE_CALLSTATE", hcB, C.LINECALLSTATE_IDLE, 0, 0)]


@case(46, "shutdown-drops-call-and-closes-port")
def case_46() -> None:
    s, line, a, hc = _connected_call()
    hL = hline_of(s, hc)
    assert s.lineShutdown(a.h) == 0
    ht = next(e for e in line.log if e[0] == "make_call")[1]
    assert ("drop", ht) in line.log or ("close_call", ht) in line.log
    assert line.log[-1] == ("close",) and not line.is_open
    assert s.lineGetCallInfo(hc)[0] == C.LINEERR_UNINITIALIZED
    other = EventApp(s, "other")
    assert s.lineGetCallInfo(hc)[0] == C.LINEERR_INVALCALLHANDLE
    assert s.lineClose(hL) == C.LINEERR_INVALLINEHANDLE
    assert s.lineShutdown(a.h) == C.LINEERR_INVALAPPHANDLE
    other.shutdown()


@case(48, "set-privilege-none")
def case_48() -> None:
    s, _line, _a, hc = _connected_call()
    assert s.lineSetCallPrivilege(hc, C.LINECALLPRIVILEGE_NONE) == C.LINEERR_INVALCALLPRIVILEGE


@case(50, "getnewcalls-select-call")
def case_50() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    assert s.lineGetNewCalls(hL, 0, C.LINECALLSELECT_CALL)[0] == C.LINEERR_INVALCALLSELECT


@case(52, "handoff-unknown-target")
def case_52() -> None:
    s, _line, _a, hc = _connected_call()
    assert s.lineHandoff(hc, "nosuch.exe", 0) == C.LINEERR_TARGETNOTFOUND


@case(54, "getid-comm-datamodem")
def case_54() -> None:
    s = stack_with(FakeLine(port_name="/dev/ttyS7"))
    a = EventApp(s)
    hL = a.open()
    rc, vs = s.lineGetID(hL, 0, 0, C.LINECALLSELECT_LINE, lpszDeviceClass="comm/datamodem")
    assert rc == 0 and isinstance(vs, VARSTRING)
    assert vs.dwStringFormat == C.STRINGFORMAT_BINARY
    assert vs.hComm is None
    assert vs.String == b"\0\0\0\0/dev/ttyS7\0"


@case(56, "getid-unknown-class")
def case_56() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    assert s.lineGetID(hL, 0, 0, C.LINECALLSELECT_LINE, lpszDeviceClass="no/such")[0] == (
        C.LINEERR_INVALDEVICECLASS
    )


@case(58, "register-bad-request-mode")
def case_58() -> None:
    s = stack_with()
    a = EventApp(s)
    assert s.lineRegisterRequestRecipient(a.h, 0, 0x00000008, 1) == C.LINEERR_INVALREQUESTMODE


@case(60, "requestmakecall-no-recipient")
def case_60() -> None:
    s = stack_with()
    assert s.tapiRequestMakeCall("5551234", "app", "Bob", "") == C.TAPIERR_NOREQUESTRECIPIENT


@case(62, "requestmakecall-after-recipient-shutdown")
def case_62() -> None:
    s = stack_with()
    a = EventApp(s)
    assert s.lineRegisterRequestRecipient(a.h, 0, C.LINEREQUESTMODE_MAKECALL, 1) == 0
    assert s.tapiRequestMakeCall("5551234", "app", "Bob", "") == 0
    a.shutdown()
    assert s.tapiRequestMakeCall("5551234", "app", "Bob", "") == C.TAPIERR_NOREQUESTRECIPIENT


@case(64, "numrings-is-the-minimum")
def case_64() -> None:
    s = stack_with()
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hLA, hLB = a.open(), b.open(privileges=MONITOR, media=0)
    assert s.lineSetNumRings(hLA, 0, 5) == 0
    assert s.lineSetNumRings(hLB, 0, 3) == 0
    assert s.lineGetNumRings(hLA, 0) == (0, 3)


@case(66, "rings-without-status-messages")
def case_66() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    a.open()
    line.incoming()
    line.ring()
    assert [m[0] for m in a.messages()] == ["LINE_APPNEWCALL", "LINE_CALLSTATE"]


@case(68, "device-removed")
def case_68() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hL = a.open()
    line.remove()
    assert a.messages() == [
        ("LINE_LINEDEVSTATE", hL, C.LINEDEVSTATE_REMOVED, 0, 0),
        ("LINE_CLOSE", hL, 0, 0, 0),
        ("LINE_REMOVE", 0, 0, 0, 0),
    ]
    assert b.messages() == [("LINE_REMOVE", 0, 0, 0, 0)]
    assert s.lineOpen(a.h, 0, V22, 0, 0, OWNER, DATAMODEM)[0] == C.LINEERR_NODEVICE
    assert s.lineClose(hL) == C.LINEERR_INVALLINEHANDLE


def test_every_tapi2_case_of_section_7_is_here() -> None:
    # Rows 70-80 are TAPI 3 object-layer cases (a later issue).
    assert sorted(CASES) == list(range(2, 69, 2))


def test_each_case_has_its_row_and_name_in_the_rules() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| `([^`]+)` \|", RULES.read_text(), re.MULTILINE))
    assert {n: name for n, (name, _) in CASES.items()} == {
        int(n): name for n, name in rows.items() if int(n) in CASES
    }


@pytest.mark.parametrize(
    "number", sorted(CASES), ids=[f"case{n:02d}-{CASES[n][0]}" for n in sorted(CASES)]
)
def test_conformance_case(number: int) -> None:
    CASES[number][1]()


def test_caps_with_dial_options_accept_the_modifiers() -> None:
    caps = LineCaps(
        "m", dev_cap_flags=C.LINEDEVCAPFLAGS_DIALDIALTONE | C.LINEDEVCAPFLAGS_CLOSEDROP
    )
    s = stack_with(FakeLine(caps=caps))
    a = EventApp(s)
    hL = a.open()
    assert s.lineMakeCall(hL, "9W5551234", 0)[0] > 0
    s2 = stack_with()
    a2 = EventApp(s2)
    assert s2.lineMakeCall(a2.open(), "9W555", 0)[0] == C.LINEERR_DIALDIALTONE
    assert s2.lineMakeCall(a2.open(), "@555", 0)[0] == C.LINEERR_DIALQUIET
    assert s2.lineMakeCall(a2.open(), "555$", 0)[0] == C.LINEERR_DIALBILLING
