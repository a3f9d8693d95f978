"""Random API sequences against the hierarchy invariants (hypothesis, stateful).

Every rule acts on a real Stack over a scripted FakeLine. After each step:

- no child outlives its parent (a live HCALL has a live HLINE and HLINEAPP, a live
  HLINE a live HLINEAPP);
- no pending message belongs to a closed object, and every message an app reads names
  one of its live handles;
- every handle ever issued and since freed gets its R8 code; no value is reused (R9).
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tapi_helpers import DATAMODEM, MONITOR, NONE, OWNER, EventApp

from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.stack import Stack

PRIVILEGES = st.sampled_from([OWNER, MONITOR, NONE, OWNER | MONITOR])
CALL_MSGS = {C.LINE_CALLSTATE, C.LINE_CALLINFO}
LINE_MSGS = {C.LINE_APPNEWCALL, C.LINE_LINEDEVSTATE}


class Hierarchy(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.line = FakeLine()
        self.stack = Stack(lines=[self.line])
        self.apps: list[EventApp] = []
        self.issued_apps: set[int] = set()
        self.issued_lines: set[int] = set()
        self.issued_calls: set[int] = set()
        self.all_handles: list[int] = []

    def teardown(self) -> None:
        self.stack.close()

    def _issue(self, kind: set[int], h: int | None) -> None:
        if h is None:
            return
        if h not in kind:
            assert h not in self.all_handles or h in kind, "handle value reused (R9)"
            kind.add(h)
            self.all_handles.append(h)

    def _harvest(self) -> None:
        """Learn the hCalls TAPI created, as an app reading LINE_APPNEWCALL would."""
        for app in self.stack.hierarchy().apps:
            for m in app.messages:
                if m.dwMessageID == C.LINE_APPNEWCALL:
                    self._issue(self.issued_calls, m.dwParam2)

    # -- rules ------------------------------------------------------------------------
    @rule()
    def init(self) -> None:
        if len(self.apps) < 4:
            app = EventApp(self.stack, f"app{len(self.issued_apps)}")
            self._issue(self.issued_apps, app.h)
            self.apps.append(app)

    @precondition(lambda self: self.apps)
    @rule(data=st.data())
    def shutdown(self, data: st.DataObject) -> None:
        app = data.draw(st.sampled_from(self.apps))
        assert self.stack.lineShutdown(app.h) == 0
        self.apps.remove(app)

    @precondition(lambda self: self.apps)
    @rule(data=st.data(), privileges=PRIVILEGES)
    def open(self, data: st.DataObject, privileges: int) -> None:
        app = data.draw(st.sampled_from(self.apps))
        rc, h = self.stack.lineOpen(app.h, 0, 0x20002, 0, 0, privileges, DATAMODEM)
        assert rc == 0
        self._issue(self.issued_lines, h)

    @precondition(lambda self: self.stack.hierarchy().hlines())
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        h = data.draw(st.sampled_from(sorted(self.stack.hierarchy().hlines())))
        assert self.stack.lineClose(h) == 0

    @precondition(lambda self: self.stack.hierarchy().hlines())
    @rule(data=st.data(), dest=st.sampled_from(["5551234", None, "555;"]))
    def make_call(self, data: st.DataObject, dest: str | None) -> None:
        h = data.draw(st.sampled_from(sorted(self.stack.hierarchy().hlines())))
        rc, hc = self.stack.lineMakeCall(h, dest)
        assert rc > 0 or rc == C.LINEERR_CALLUNAVAIL
        self._issue(self.issued_calls, hc)
        self._harvest()

    @rule()
    def incoming(self) -> None:
        if not any(not c.idle for c in self.stack.hierarchy().devices[0].calls):
            self.line.incoming()
            self._harvest()

    @precondition(lambda self: self.stack.hierarchy().provider_calls())
    @rule(data=st.data(), event=st.sampled_from(["connect", "hangup", "idle", "ring"]))
    def network(self, data: st.DataObject, event: str) -> None:
        calls = self.stack.hierarchy().provider_calls()
        ht = data.draw(st.sampled_from(sorted(c.call_id for c in calls)))
        state = self.line.states.get(ht)
        if event == "connect" and state in (
            C.LINECALLSTATE_OFFERING, C.LINECALLSTATE_PROCEEDING, C.LINECALLSTATE_DIALING,
        ):  # fmt: skip
            self.line.connect(ht)
        elif event == "hangup" and state == C.LINECALLSTATE_CONNECTED:
            self.line.remote_hangup(ht)
        elif event == "idle" and state == C.LINECALLSTATE_OFFERING:
            self.line.state(ht, C.LINECALLSTATE_IDLE)
        elif event == "ring":
            self.line.ring()

    @precondition(lambda self: self.issued_calls)
    @rule(data=st.data(), action=st.sampled_from(["drop", "dealloc", "answer", "monitor", "own"]))
    def call_action(self, data: st.DataObject, action: str) -> None:
        hc = data.draw(st.sampled_from(sorted(self.issued_calls)))
        s = self.stack
        rc = {
            "drop": lambda: s.lineDrop(hc),
            "dealloc": lambda: s.lineDeallocateCall(hc),
            "answer": lambda: s.lineAnswer(hc),
            "monitor": lambda: s.lineSetCallPrivilege(hc, MONITOR),
            "own": lambda: s.lineSetCallPrivilege(hc, OWNER),
        }[action]()
        if hc not in s.hierarchy().hcalls() and action != "dealloc":
            assert rc in (C.LINEERR_INVALCALLHANDLE, C.LINEERR_UNINITIALIZED)
        assert isinstance(rc, int)

    @precondition(lambda self: self.apps)
    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        app = data.draw(st.sampled_from(self.apps))
        for m in app.raw():
            view = self.stack.hierarchy()
            holder = view.owner_of(m.hDevice)
            if m.dwMessageID in CALL_MSGS:
                h = view.call(m.hDevice)
                assert h is not None and h.valid, m
                assert holder is not None and holder.hLineApp == app.h, m
            elif m.dwMessageID in LINE_MSGS:
                line = view.line(m.hDevice)
                assert line is not None and holder is not None and holder.hLineApp == app.h, m
            if m.dwMessageID == C.LINE_APPNEWCALL:
                self._issue(self.issued_calls, m.dwParam2)

    # -- invariants -------------------------------------------------------------------------
    @invariant()
    def children_never_outlive_parents(self) -> None:
        # The view is a tree, so a call's line and app are its parents in it; what is
        # checked here is that the core's other tables agree with the tree.
        view = self.stack.hierarchy()
        provider_calls = {c.call_id: c for c in view.provider_calls()}
        devices = {d.device_id: d for d in view.devices}
        for app in view.apps:
            for line in app.lines:
                assert line.hLine in devices[line.device_id].opens
                for h in line.calls:
                    if h.valid:
                        call = provider_calls.get(h.call_id)
                        assert call is not None and h.hCall in call.handles, h
            for m in app.messages:
                if m.hCall is not None and m.dwMessageID != C.LINE_REPLY:
                    about = view.call(m.hCall)
                    assert about is not None and about.valid, m
                if m.hLine is not None:
                    assert view.line(m.hLine) is not None, m
        assert view.orphans() == []

    @invariant()
    def stale_handles_get_their_codes(self) -> None:
        s = self.stack
        view = s.hierarchy()
        uninit = C.LINEERR_UNINITIALIZED
        for h in self.issued_apps - {a.hLineApp for a in view.apps}:
            assert s.lineShutdown(h) in (C.LINEERR_INVALAPPHANDLE, uninit)
        for h in self.issued_lines - view.hlines():
            assert s.lineClose(h) in (C.LINEERR_INVALLINEHANDLE, uninit)
        for h in self.issued_calls - view.hcalls():
            assert s.lineGetCallInfo(h)[0] in (C.LINEERR_INVALCALLHANDLE, uninit)

    @invariant()
    def device_open_iff_some_hline(self) -> None:
        device = self.stack.hierarchy().devices[0]
        assert device.provider_open == bool(device.opens) == self.line.is_open


TestHierarchy = Hierarchy.TestCase
TestHierarchy.settings = settings(max_examples=300, stateful_step_count=25, deadline=None)
