"""The handle hierarchy HLINEAPP > HLINE > HCALL and its cleanup rules (rules.md §1.2, 6).

- `release_handle` is lineDeallocateCall's core, and the per-call step of lineClose
  (6.2): the handle goes, its messages go, the other holders hear NUMOWNERDECR or
  NUMMONITORS (not after IDLE, not the app that caused it), a call whose last owner
  left while active is dropped (`internal_drop`), and a call with no handle left is
  closed in the provider (`close_phys_call`, TSPI_lineCloseCall, R3).
- `close_line` is lineClose (R2): suppress the line's pending replies, purge its
  messages, release each call handle, tell other opens LINEDEVSTATE_CLOSE, and close
  the device in the provider after its last open.
- `shutdown_app` is lineShutdown (R1): close every line, cancel every request,
  deregister assisted telephony, close the app's queue (its driver then wakes a
  lineGetMessage and ends the app's delivery).
"""

from __future__ import annotations

import logging

from tapi import constants as C
from tapi.core.callstate import active_calls
from tapi.core.messages import Outbox
from tapi.core.recipients import Recipients
from tapi.core.records import App, CallHandle, Device, LineOpen, Msg, PhysCall, Request
from tapi.core.routing import Router
from tapi.core.tables import Tables

log = logging.getLogger("tapi.core")

_OWNER = C.LINECALLPRIVILEGE_OWNER


class HandleTree:
    """Creates, announces and releases handles; closes lines and apps (the rules above)."""

    def __init__(
        self,
        tables: Tables,
        router: Router,
        outbox: Outbox,
        recipients: Recipients,
        errors: list[str],
        *,
        ce: bool,
    ) -> None:
        self.tables = tables
        self.router = router
        self.outbox = outbox
        self.recipients = recipients
        self.errors = errors  # the stack's provider_errors
        self.ce = ce

    def add_handle(
        self, line: LineOpen, call: PhysCall, privilege: int, *, valid: bool
    ) -> CallHandle:
        h = CallHandle(self.tables.new_handle(), line, call, privilege, valid)
        line.handles[h.hCall] = h
        call.handles.append(h)
        if valid:
            self.tables.calls[h.hCall] = h
        return h

    def validate_handle(self, h: CallHandle) -> None:
        h.valid = True
        self.tables.calls[h.hCall] = h

    def announce_handle(self, h: CallHandle, state: int, mode: int) -> None:
        """Introduce a handle TAPI created (LINE_APPNEWCALL for 2.0+, then LINE_CALLSTATE
        with the app's privilege in dwParam3)."""
        self.validate_handle(h)
        if h.line.api_version >= C.TAPI_VERSION2_0:
            line = h.line
            # It is about the new hCall too: deallocating that handle purges it (R4).
            self.router.post(
                line.app,
                Msg(line.hLine, C.LINE_APPNEWCALL, line.callback_instance, h.call.address_id,
                    h.hCall, h.privilege, line=line, handle=h),
            )  # fmt: skip
        self.router.post_handle(h, C.LINE_CALLSTATE, state, mode, h.privilege)

    def forget_handle(self, h: CallHandle) -> None:
        """Destroy a handle and every pending message about it (R4)."""
        was_valid = h.valid
        h.valid = False
        self.tables.calls.pop(h.hCall, None)
        h.line.handles.pop(h.hCall, None)
        if h in h.call.handles:
            h.call.handles.remove(h)
        app = h.line.app
        if app.closing:
            pass  # lineShutdown cancels the app's requests and purges its queue at once
        elif h.line.closed_by_provider:
            pass  # rules.md §6.4: what was queued for a force-closed line stays to be read
        elif self.ce or h.line.api_version < C.TAPI_VERSION2_0:
            # Windows CE, and any app that negotiated a version below 2.0: the pending
            # replies for the call are discarded (rules.md §6.1).
            for req in self.tables.requests.values():
                if req.handle is h:
                    req.suppressed = True
            self.outbox.purge(
                app, lambda m: m.handle is h or (m.request is not None and m.request.handle is h)
            )
        else:
            self.outbox.purge(app, lambda m: m.handle is h)
        if was_valid:
            self.outbox.quiesce(app, lambda m: m.handle is h)

    def release_handle(self, h: CallHandle, cause: App, *, drop: bool = True) -> None:
        """One app lets go of one handle (lineDeallocateCall, or lineClose per call, 6.2).
        `drop=False` when the provider already closed the device (no drop to ask for)."""
        call = h.call
        was_owner = h.privilege == _OWNER
        self.forget_handle(h)
        if not call.handles:
            self.close_phys_call(call)
            return
        if call.idle or not call.announced or not drop:
            return  # (a forced close: every holder's line closes; nothing new is queued)
        if was_owner:
            self.router.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMOWNERDECR, cause)
            if drop and not call.owners():
                self.internal_drop(call)
        else:
            self.router.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMMONITORS, cause)

    def internal_drop(self, call: PhysCall) -> None:
        """Drop a call nobody owns any more (sole owner closed its line, 6.2 step 3)."""
        rid = self.tables.new_request_id()
        req = Request(rid, "drop", None, None, None, 0, call=call)
        self.tables.requests[rid] = req
        rc = call.device.line.drop(rid, call.htCall, None)
        if rc < 0:
            self.tables.requests.pop(rid, None)
            self.errors.append(
                f"device {call.device.device_id}: refused to drop call {call.htCall} "
                f"nobody owns any more: {C.result_name(rc)}"
            )
            log.warning("%s", self.errors[-1])

    def close_phys_call(self, call: PhysCall) -> None:
        """TSPI_lineCloseCall: the last handle is gone (R3)."""
        if call.closed:
            return
        before = active_calls(call.device)
        call.closed = True
        self.tables.phys.pop(call.htCall, None)
        if call in call.device.calls:
            call.device.calls.remove(call)
        call.device.line.close_call(call.htCall)
        if active_calls(call.device) != before:
            self.router.post_devstate(call.device, C.LINEDEVSTATE_NUMCALLS)

    def owner_media_modes(self, device: Device) -> int:
        modes = 0
        for line in device.opens:
            if line.owner:
                modes |= line.media_modes
        return modes

    def close_line(self, line: LineOpen, *, forced: bool = False) -> None:
        """lineClose (R2, 6.2), or the core of a provider-forced close (`forced`)."""
        if not line.alive:
            return
        app = line.app
        device = line.device
        line.alive = False
        line.closed_by_provider = forced
        self.tables.lines.pop(line.hLine, None)
        app.lines.pop(line.hLine, None)
        if line in device.opens:
            device.opens.remove(line)
        if not app.closing:  # (lineShutdown cancels all of the app's requests at once)
            for req in self.tables.requests.values():
                if req.line is line or (req.handle is not None and req.handle.line is line):
                    req.suppressed = True
        if not forced:
            self.outbox.purge(app, lambda m: m.belongs_to_line(line))
            self.outbox.quiesce(app, lambda m: m.belongs_to_line(line))
        for h in list(line.handles.values()):
            self.release_handle(h, app, drop=not forced)
        if not forced:
            self.router.post_devstate(device, C.LINEDEVSTATE_CLOSE)
        if device.opens:
            device.line.set_default_media_detection(self.owner_media_modes(device))
        elif device.provider_open:
            for call in list(device.calls):
                self.close_phys_call(call)
            device.provider_open = False
            device.line.close()

    def shutdown_app(self, app: App) -> None:
        """lineShutdown (R1)."""
        app.closing = True  # linear in the app's lines, not quadratic: see App.closing
        try:
            for line in list(app.lines.values()):
                self.close_line(line)
        finally:
            app.closing = False
        for req in self.tables.requests.values():
            if req.app is app:
                req.suppressed = True
        app.request_modes = 0
        app.alive = False
        self.recipients.forget(app)
        self.tables.apps.pop(app.hLineApp, None)
        self.outbox.purge(app, lambda m: True)
        self.outbox.quiesce(app, lambda m: True)
        self.outbox.closed(app)
        self.recipients.notify()  # queued requests wait for the next recipient (6.7)
