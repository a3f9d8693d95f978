"""LINE_LINEDEVSTATE(LINEDEVSTATE_NUMCALLS): the number of active calls on a line
changed (rules.md §4.1, 6.2), sent per HLINE only when lineSetStatusMessages enabled it."""

from __future__ import annotations

from tapi_helpers import MONITOR, OWNER, EventApp, stack_with

from tapi import constants as C
from tapi.providers.fake import FakeLine

NUMCALLS = C.LINEDEVSTATE_NUMCALLS


def _numcalls(app: EventApp, hLine: int) -> list[tuple[str, int, int, int, int]]:
    return [m for m in app.messages() if m[0] == "LINE_LINEDEVSTATE" and m[2] == NUMCALLS]


def test_numcalls_when_a_call_appears_and_when_it_goes_idle() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "owner"), EventApp(s, "quiet")
    hA, hB = a.open(privileges=OWNER), b.open(privileges=MONITOR)
    assert s.lineSetStatusMessages(hA, NUMCALLS, 0) == 0
    ht = line.incoming()
    msgs = a.messages()
    hc = next(m[3] for m in msgs if m[0] == "LINE_APPNEWCALL")
    # After the new call's LINE_CALLSTATE(OFFERING): one NUMCALLS (count 0 -> 1).
    assert [m[0] for m in msgs if m[0] != "LINE_CALLINFO"] == [
        "LINE_APPNEWCALL",
        "LINE_CALLSTATE",
        "LINE_LINEDEVSTATE",
    ]
    assert msgs[-1] == ("LINE_LINEDEVSTATE", hA, NUMCALLS, 0, 0)
    line.connect(ht)  # OFFERING -> CONNECTED: still one call, nothing
    assert _numcalls(a, hA) == []
    line.remote_hangup(ht)  # DISCONNECTED is still a call on the line
    assert _numcalls(a, hA) == []
    line.state(ht, C.LINECALLSTATE_IDLE)
    assert _numcalls(a, hA) == [("LINE_LINEDEVSTATE", hA, NUMCALLS, 0, 0)]
    assert s.lineDeallocateCall(hc) == 0  # an IDLE call going away changes nothing
    assert _numcalls(a, hA) == []
    # The app that did not enable it never sees it (default off).
    assert _numcalls(b, hB) == []


def test_numcalls_for_an_outgoing_call_and_when_its_owner_closes() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, m = EventApp(s, "caller"), EventApp(s, "watcher")
    hA, hM = a.open(), m.open(privileges=MONITOR)
    assert s.lineSetStatusMessages(hM, NUMCALLS | C.LINEDEVSTATE_CLOSE, 0) == 0
    rid, hc = s.lineMakeCall(hA, "5551234", 0)
    assert rid > 0 and hc is not None
    # The FakeLine completed the request and reported PROCEEDING on its own (a
    # DIALING reported after that was an invalid transition, refused and recorded).
    assert _numcalls(m, hM) == [("LINE_LINEDEVSTATE", hM, NUMCALLS, 0, 0)]
    # The sole owner closes mid-call: the call is dropped (6.2), and the count changes.
    assert s.lineClose(hA) == 0
    got = [x for x in m.messages() if x[0] == "LINE_LINEDEVSTATE"]
    assert ("LINE_LINEDEVSTATE", hM, C.LINEDEVSTATE_CLOSE, 0, 0) in got
    assert got.count(("LINE_LINEDEVSTATE", hM, NUMCALLS, 0, 0)) == 1
