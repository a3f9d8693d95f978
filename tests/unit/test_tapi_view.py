"""The hierarchy view (tapi.view, Stack.hierarchy): the tree, purging, orphans, output."""

from __future__ import annotations

import dataclasses
import json

import pytest
from tapi_helpers import DATAMODEM, MONITOR, OWNER, EventApp, stack_with

from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.view import CallView, Hierarchy, MessageView


def test_empty_stack_is_an_empty_tree() -> None:
    s = stack_with()
    view = s.hierarchy()
    assert view.is_empty()
    assert view.counts() == {"apps": 0, "lines": 0, "calls": 0, "messages": 0}
    assert view.orphans() == []
    assert [d.device_id for d in view.devices] == [0]
    assert not view.devices[0].provider_open


def test_tree_after_open_and_makecall() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s, "dialer")
    hL = a.open(privileges=OWNER, media=DATAMODEM, callback_instance=7)
    rid, hc = s.lineMakeCall(hL, "5551234")
    assert rid > 0 and hc is not None
    view = s.hierarchy()
    n = len(view.apps[0].messages)
    assert n >= 2 and view.counts() == {"apps": 1, "lines": 1, "calls": 1, "messages": n}
    (app,) = view.apps
    assert app.hLineApp == a.h and app.name == "dialer" and app.api_version == C.TAPI_VERSION2_2
    assert app.options == C.LINEINITIALIZEEXOPTION_USEEVENT
    (lv,) = app.lines
    assert lv.hLine == hL and lv.device_id == 0 and lv.privileges == OWNER
    assert lv.media_modes == DATAMODEM
    (cv,) = lv.calls
    assert cv.hCall == hc and cv.privilege == OWNER and cv.device_id == 0 and cv.valid
    assert cv.state is not None and cv.call_id > 0
    # The messages are those lineGetMessage would return, in queue order.
    names = [m.name for m in app.messages]
    assert names[0] == "LINE_REPLY" and app.messages[0].request_id == rid
    assert app.messages[0].dwParam1 == rid and app.messages[0].hLine == hL
    assert all(m.dwCallbackInstance == 7 for m in app.messages)
    states = [m for m in app.messages if m.name == "LINE_CALLSTATE"]
    assert states and all(m.hCall == hc and m.hLine == hL for m in states)
    assert view.orphans() == []
    assert [(m.hDevice, m.dwMessageID) for m in app.messages] == [
        (m.hDevice, m.dwMessageID) for m in a.raw()
    ]
    assert s.hierarchy().apps[0].messages == ()
    # The provider's side: one open, one call with the same physical id.
    (dv,) = view.devices
    assert dv.provider_open and dv.opens == (hL,)
    assert [pc.call_id for pc in dv.calls] == [cv.call_id] and dv.calls[0].handles == (hc,)


def test_pending_request_until_answered() -> None:
    line = FakeLine(auto=False)
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    rid, hc = s.lineMakeCall(hL, "5551234")
    view = s.hierarchy()
    assert view.apps[0].pending_requests == (rid,) and view.requests == (rid,)
    (cv,) = view.apps[0].lines[0].calls
    assert cv.hCall == hc and not cv.valid and cv.state is None
    assert view.hcalls() == set() and view.hcalls(valid_only=False) == {hc}
    line.complete(rid)
    view = s.hierarchy()
    assert view.apps[0].pending_requests == () and view.requests == ()
    assert view.apps[0].lines[0].calls[0].valid


def test_monitor_handle_shares_the_physical_call() -> None:
    s = stack_with()
    a, b = EventApp(s, "a"), EventApp(s, "b")
    hLa = a.open()
    b.open(privileges=MONITOR)
    _rid, hc = s.lineMakeCall(hLa, "5551234")
    view = s.hierarchy()
    ca = view.call(hc) if hc is not None else None
    cb = view.apps[1].lines[0].calls[0]
    assert ca is not None and cb.privilege == MONITOR and ca.privilege == OWNER
    assert ca.call_id == cb.call_id and ca.hCall != cb.hCall
    assert view.line_of(cb.hCall) == view.apps[1].lines[0]
    assert view.owner_of(cb.hCall) == view.apps[1]


def test_per_app_view_shows_only_those_apps() -> None:
    s = stack_with()
    a, b = EventApp(s, "a"), EventApp(s, "b")
    a.open()
    b.open()
    view = s.hierarchy(apps=[b.h, 0xDEAD, "junk"])  # type: ignore[list-item]
    assert [x.hLineApp for x in view.apps] == [b.h]
    assert view.devices == () and view.requests == ()
    assert s.hierarchy(apps=[]).is_empty()


def test_close_purges_the_lines_messages() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    s.lineMakeCall(hL, "5551234")
    hL2 = a.open()
    assert s.lineSetStatusMessages(hL2, C.LINEDEVSTATE_OPEN | C.LINEDEVSTATE_CLOSE, 0) == 0
    before = s.hierarchy().apps[0].messages
    assert any(m.hLine == hL for m in before)
    assert s.lineClose(hL) == 0
    view = s.hierarchy()
    assert view.line(hL) is None and view.counts()["calls"] == 0
    assert all(m.hLine != hL and m.hCall is None for m in view.apps[0].messages)
    assert view.orphans() == []


def test_dealloc_purges_the_calls_messages() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    _rid, hc = s.lineMakeCall(hL, "5551234")
    assert hc is not None
    assert s.lineDrop(hc) > 0
    assert any(m.hCall == hc for m in s.hierarchy().apps[0].messages)
    assert s.lineDeallocateCall(hc) == 0
    view = s.hierarchy()
    assert view.call(hc) is None
    assert not any(m.hCall == hc for m in view.apps[0].messages)
    assert view.orphans() == []


def test_shutdown_empties_the_tree() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    s.lineMakeCall(hL, "5551234")
    assert s.lineShutdown(a.h) == 0
    view = s.hierarchy()
    assert view.is_empty() and view.orphans() == []
    assert not view.devices[0].provider_open


def test_orphans_after_every_cleanup_rule() -> None:
    """R1-R4 and a provider-forced close each leave no pending message without its object."""
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "a"), EventApp(s, "b")
    hLa = a.open(privileges=OWNER | MONITOR)
    hLb = b.open(privileges=MONITOR)
    assert s.lineSetStatusMessages(hLb, 0x01FFFFFF & ~C.LINEDEVSTATE_REMOVED, 0) == 0
    _rid, hc = s.lineMakeCall(hLa, "5551234")
    assert hc is not None
    assert s.hierarchy().orphans() == []
    line.connect(s.hierarchy().call(hc).call_id)  # type: ignore[union-attr]
    assert s.lineDrop(hc) > 0
    assert s.hierarchy().orphans() == []  # R4: dealloc
    assert s.lineDeallocateCall(hc) == 0
    assert s.hierarchy().orphans() == []
    ht = line.incoming()
    assert ht
    assert s.hierarchy().orphans() == []
    assert s.lineClose(hLa) == 0  # R2
    assert s.hierarchy().orphans() == []
    hLa = a.open()
    line.ring()
    line.force_close()  # 6.4: LINE_CLOSE, the rest stays queued to be read
    view = s.hierarchy()
    assert view.orphans() == [] and view.line(hLa) is None
    left = [m for m in view.app(a.h).messages if m.hLine == hLa]  # type: ignore[union-attr]
    assert left and all(m.closed_by_provider for m in left) and left[-1].name == "LINE_CLOSE"
    assert s.lineShutdown(a.h) == 0  # R1
    assert s.hierarchy().orphans() == []
    assert s.lineShutdown(b.h) == 0
    assert s.hierarchy().is_empty()


def test_orphans_finds_a_message_whose_object_is_gone() -> None:
    m = MessageView(5, C.LINE_CALLSTATE, "LINE_CALLSTATE", 0, 1, 0, 0, 0x20, 0x30, None)
    from tapi.view import AppView, LineView

    app = AppView(1, "x", 0x20002, 2, (LineView(0x20, 0, 4, 0, ()),), (m,), (), 0)
    assert Hierarchy((app,)).orphans() == [m]
    call = CallView(0x30, 4, None, 0, 1)
    app2 = dataclasses.replace(app, lines=(LineView(0x20, 0, 4, 0, (call,)),))
    assert Hierarchy((app2,)).orphans() == []


def test_to_dict_is_json_serialisable() -> None:
    s = stack_with()
    a = EventApp(s, "json")
    hL = a.open()
    s.lineMakeCall(hL, "5551234")
    view = s.hierarchy()
    d = view.to_dict()
    again = json.loads(json.dumps(d))
    assert again == d
    assert d["counts"] == view.counts()
    assert d["apps"][0]["name"] == "json"
    assert d["apps"][0]["lines"][0]["hLine"] == hL
    assert d["apps"][0]["messages"][0]["name"] == "LINE_REPLY"


def test_render_names_every_object() -> None:
    s = stack_with()
    a = EventApp(s, "render-me")
    hL = a.open()
    _rid, hc = s.lineMakeCall(hL, "5551234")
    assert hc is not None
    text = s.hierarchy().render()
    assert "HLINEAPP" in text and "'render-me'" in text
    assert f"HLINE {hL:#x}" in text and f"HCALL {hc:#x}" in text
    assert "LINE_REPLY" in text and "LINECALLSTATE_" in text
    lines = text.splitlines()
    assert lines[0].startswith("HLINEAPP") and lines[1].startswith("  HLINE")
    assert lines[2].startswith("    HCALL")
    assert stack_with().hierarchy(apps=[]).render() == "(no HLINEAPP)"


def test_view_is_a_snapshot() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    view = s.hierarchy()
    assert s.lineClose(hL) == 0
    assert view.line(hL) is not None and s.hierarchy().line(hL) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.apps[0].name = "changed"  # type: ignore[misc]
