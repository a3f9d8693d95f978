"""The TAPI core: handle tables, message routing, the cleanup hierarchy, provider events.

How it works
============

One `CoreState` holds every table of a stack: HLINEAPPs, HLINEs, HCALLs, the
provider's calls (htCall), asynchronous requests, and the line devices. It has no
lock, no thread and never waits: its driver (tapi.Stack) serialises every call into it
and does all waiting and signalling. The flat functions (mixins in `tapi.core.lines`,
`tapi.core.calls`, `tapi.core.assisted`, put together as `tapi.core.core.TapiCore`)
check their arguments in the order of tapi.md section 2 (UNINITIALIZED, handle,
pointer/size, values, privilege, state, resources), change the tables, and post
messages.

Messages (`Msg`) are posted into the owning app's queue (`App.queue`, through the
`tapi.core.messages.Outbox`) in generation order. Each message remembers the HLINE,
HCALL or request it belongs to, so that closing any object purges exactly its pending
messages (R4). The outbox records which apps' queues changed, and which running
callbacks a close must let finish; the driver collects that with `changes()` after
each call and delivers (tapi.notify).

Handles come from one counter that never repeats and never yields 0 (R9), so a stale
handle of any type is simply absent from its table and gets its R8 code. Request IDs
and htCalls have their own counters, also never reused.

Provider events arrive through the driver's `LineEvents`, which calls `run_event` with
the matching ``ev_*`` method. An event raised by a provider from inside one of its TSPI
methods (the driver's lock is re-entrant, so the same thread gets in) is queued and
run when the API call that called the provider finishes, so no function ever sees the
tables change half-way through.

The cleanup rules (tapi.md 1.2 and 6):

- `_release_handle` is lineDeallocateCall's core, and the per-call step of lineClose
  (6.2): the handle goes, its messages go, the other holders hear NUMOWNERDECR or
  NUMMONITORS (not after IDLE, not the app that caused it), a call whose last owner
  left while active is dropped, and a call with no handle left is closed in the
  provider (TSPI_lineCloseCall, R3).
- `_close_line` is lineClose (R2): suppress the line's pending replies, purge its
  messages, release each call handle, tell other opens LINEDEVSTATE_CLOSE, and close
  the device in the provider after its last open.
- `_shutdown_app` is lineShutdown (R1): close every line, cancel every request,
  deregister assisted telephony, close the sink (which wakes lineGetMessage).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from linelab.vtime import TimeSource
from tapi import callstates
from tapi import constants as C
from tapi.core.messages import Outbox
from tapi.core.records import App, CallHandle, Device, LineOpen, Msg, PhysCall, Request
from tapi.providers.base import LineDevice, Provider
from tapi.structs import LINEMESSAGE

log = logging.getLogger("tapi.core")

#: The TAPI versions this stack speaks (TAPI 2.x line API).
TAPI_LOW = C.TAPI_VERSION1_0
TAPI_HIGH = C.TAPI_VERSION2_2

_OWNER = C.LINECALLPRIVILEGE_OWNER
_MONITOR = C.LINECALLPRIVILEGE_MONITOR


def to_linemessage(msg: Msg) -> LINEMESSAGE:
    """The application's view of a routed message."""
    return LINEMESSAGE(
        msg.hDevice,
        msg.dwMessageID,
        msg.dwCallbackInstance,
        msg.dwParam1,
        msg.dwParam2,
        msg.dwParam3,
    )


def default_app_name() -> str:
    """The module name TAPI uses when lpszAppName/lpszFriendlyAppName is NULL."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    return os.path.basename(argv0)


class CoreState:
    """Tables, routing and cleanup shared by every flat function (see module doc)."""

    def __init__(
        self,
        time: TimeSource,
        *,
        ce: bool = False,
        attach: Callable[[Any], None] | None = None,
    ) -> None:
        self.time = time  # read (now()) for LINECALLSTATUS times; never waited on
        self.ce = ce
        self._handle_ids = itertools.count(0x00010001)
        self._htcall_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self.apps: dict[int, App] = {}
        self.lines: dict[int, LineOpen] = {}
        self.calls: dict[int, CallHandle] = {}
        self.phys: dict[int, PhysCall] = {}
        self.requests: dict[int, Request] = {}
        self.devices: list[Device] = []
        self.providers: list[Provider] = []
        self.assisted: deque[tuple[str, str, str, str]] = deque()
        self.recipients: list[App] = []
        self.notified_recipient: App | None = None
        self.provider_errors: list[str] = []
        #: Why the line configuration could not be read (file, line and key), when it
        #: could not: lineInitialize(Ex) then answer LINEERR_INIFILECORRUPT, as TAPI
        #: does for a corrupt telephony configuration.
        self.config_error: str | None = None
        self.outbox = Outbox()
        self._depth = 0
        self._deferred: deque[Callable[[], None]] = deque()
        # The driver's hook that connects a new line device (or provider) to its
        # events and loop: `obj.attach(events, loop_getter)`.
        self._attach = attach

    # -- one call at a time, and deferred provider events ----------------------------------
    @contextmanager
    def op(self) -> Iterator[None]:
        """One API call; provider events it triggered run afterwards. The driver
        serialises calls, so a call that starts while another runs is a provider
        re-entering from inside a TSPI method on the same thread."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._run_deferred()

    @property
    def busy(self) -> bool:
        """An API call or provider event is under way (its driver must not deliver yet)."""
        return self._depth > 0

    def _run_deferred(self) -> None:
        while self._deferred:
            event = self._deferred.popleft()
            self._depth = 1
            try:
                event()
            finally:
                self._depth = 0

    def run_event(self, event: Callable[[], None]) -> None:
        """Run a provider event now, or after the API call under way."""
        if self._depth:
            self._deferred.append(event)
            return
        with self.op():
            event()

    # -- ids -------------------------------------------------------------------------------
    def new_handle(self) -> int:
        return next(self._handle_ids) & 0xFFFFFFFF or next(self._handle_ids)

    def new_request_id(self) -> int:
        return next(self._request_ids)

    # -- devices ---------------------------------------------------------------------------
    def add_provider(self, provider: Provider) -> None:
        """Register a provider's devices (device IDs in order; no LINE_CREATE)."""
        with self.op():
            self.providers.append(provider)
            # A provider with no lines yet must still learn where to report, or it
            # could never announce a device with LINE_CREATE.
            if self._attach is not None and hasattr(provider, "attach"):
                self._attach(provider)
            for line in provider.lines():
                self._register_device(line)

    def _register_device(self, line: LineDevice) -> Device:
        device = Device(len(self.devices), line)
        self.devices.append(device)
        if self._attach is not None:
            self._attach(line)
        return device

    def device_of(self, line: LineDevice) -> Device | None:
        for device in self.devices:
            if device.line is line and not device.removed:
                return device
        return None

    # -- message posting -------------------------------------------------------------------
    def post(self, app: App, msg: Msg) -> None:
        self.outbox.post(app, msg)

    def post_line(
        self, line: LineOpen, msg_id: int, p1: int = 0, p2: int = 0, p3: int = 0
    ) -> None:
        self.post(line.app, Msg(line.hLine, msg_id, line.callback_instance, p1, p2, p3, line=line))

    def post_handle(
        self, h: CallHandle, msg_id: int, p1: int = 0, p2: int = 0, p3: int = 0
    ) -> None:
        if h.valid:
            self.post(
                h.line.app, Msg(h.hCall, msg_id, h.line.callback_instance, p1, p2, p3, handle=h)
            )

    def post_devstate(
        self,
        device: Device,
        state: int,
        p2: int = 0,
        p3: int = 0,
        *,
        exclude: LineOpen | None = None,
        unfiltered: bool = False,
    ) -> None:
        """LINE_LINEDEVSTATE to every open of `device` that enabled `state` (REINIT and
        `unfiltered` states always)."""
        for line in list(device.opens):
            if line is exclude:
                continue
            if unfiltered or state == C.LINEDEVSTATE_REINIT or line.line_states & state:
                self.post_line(line, C.LINE_LINEDEVSTATE, state, p2, p3)

    def reply(self, req: Request, result: int) -> None:
        """LINE_REPLY for `req`, unless suppressed (lineClose, lineShutdown, CE dealloc)."""
        if req.suppressed or req.app is None or not req.app.alive:
            return
        self.post(
            req.app,
            Msg(0, C.LINE_REPLY, req.callback_instance, req.request_id, result, 0, request=req),
        )

    def callinfo_to_others(self, call: PhysCall, changed: int, cause: App | None) -> None:
        """LINE_CALLINFO to every holder except the app that caused the change; never
        after IDLE (tapi.md 3)."""
        if call.idle or not call.announced:
            return
        for h in call.holders():
            if h.line.app is not cause:
                self.post_handle(h, C.LINE_CALLINFO, changed)

    # -- handles ---------------------------------------------------------------------------
    def add_handle(
        self, line: LineOpen, call: PhysCall, privilege: int, *, valid: bool
    ) -> CallHandle:
        h = CallHandle(self.new_handle(), line, call, privilege, valid)
        line.handles[h.hCall] = h
        call.handles.append(h)
        if valid:
            self.calls[h.hCall] = h
        return h

    def validate_handle(self, h: CallHandle) -> None:
        h.valid = True
        self.calls[h.hCall] = h

    def announce_handle(self, h: CallHandle, state: int, mode: int) -> None:
        """Introduce a handle TAPI created (LINE_APPNEWCALL for 2.0+, then LINE_CALLSTATE
        with the app's privilege in dwParam3)."""
        self.validate_handle(h)
        if h.line.api_version >= C.TAPI_VERSION2_0:
            line = h.line
            # It is about the new hCall too: deallocating that handle purges it (R4).
            self.post(
                line.app,
                Msg(line.hLine, C.LINE_APPNEWCALL, line.callback_instance, h.call.address_id,
                    h.hCall, h.privilege, line=line, handle=h),
            )  # fmt: skip
        self.post_handle(h, C.LINE_CALLSTATE, state, mode, h.privilege)

    def _forget_handle(self, h: CallHandle) -> None:
        """Destroy a handle and every pending message about it (R4)."""
        was_valid = h.valid
        h.valid = False
        self.calls.pop(h.hCall, None)
        h.line.handles.pop(h.hCall, None)
        if h in h.call.handles:
            h.call.handles.remove(h)
        app = h.line.app
        if self.ce or h.line.api_version < C.TAPI_VERSION2_0:
            # Windows CE, and any app that negotiated a version below 2.0: the pending
            # replies for the call are discarded (tapi.md 6.1).
            for req in self.requests.values():
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
        self._forget_handle(h)
        if not call.handles:
            self.close_phys_call(call)
            return
        if call.idle or not call.announced:
            return
        if was_owner:
            self.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMOWNERDECR, cause)
            if drop and not call.owners():
                self.internal_drop(call)
        else:
            self.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMMONITORS, cause)

    def internal_drop(self, call: PhysCall) -> None:
        """Drop a call nobody owns any more (sole owner closed its line, 6.2 step 3)."""
        rid = self.new_request_id()
        req = Request(rid, "drop", None, None, None, 0, call=call)
        self.requests[rid] = req
        rc = call.device.line.drop(rid, call.htCall, None)
        if rc < 0:
            self.requests.pop(rid, None)
            self.provider_errors.append(
                f"device {call.device.device_id}: refused to drop call {call.htCall} "
                f"nobody owns any more: {C.result_name(rc)}"
            )
            log.warning("%s", self.provider_errors[-1])

    def close_phys_call(self, call: PhysCall) -> None:
        """TSPI_lineCloseCall: the last handle is gone (R3)."""
        if call.closed:
            return
        before = self.active_calls(call.device)
        call.closed = True
        self.phys.pop(call.htCall, None)
        if call in call.device.calls:
            call.device.calls.remove(call)
        call.device.line.close_call(call.htCall)
        if self.active_calls(call.device) != before:
            self.post_devstate(call.device, C.LINEDEVSTATE_NUMCALLS)

    # -- lines -----------------------------------------------------------------------------
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
        self.lines.pop(line.hLine, None)
        app.lines.pop(line.hLine, None)
        if line in device.opens:
            device.opens.remove(line)
        for req in self.requests.values():
            if req.line is line or (req.handle is not None and req.handle.line is line):
                req.suppressed = True
        if not forced:
            self.outbox.purge(app, lambda m: m.belongs_to_line(line))
            self.outbox.quiesce(app, lambda m: m.belongs_to_line(line))
        for h in list(line.handles.values()):
            self.release_handle(h, app, drop=not forced)
        if not forced:
            self.post_devstate(device, C.LINEDEVSTATE_CLOSE)
        if device.opens:
            device.line.set_default_media_detection(self.owner_media_modes(device))
        elif device.provider_open:
            for call in list(device.calls):
                self.close_phys_call(call)
            device.provider_open = False
            device.line.close()

    def shutdown_app(self, app: App) -> None:
        """lineShutdown (R1)."""
        for line in list(app.lines.values()):
            self.close_line(line)
        for req in self.requests.values():
            if req.app is app:
                req.suppressed = True
        app.request_modes = 0
        app.alive = False
        if app in self.recipients:
            self.recipients.remove(app)
        if self.notified_recipient is app:
            self.notified_recipient = None
        self.apps.pop(app.hLineApp, None)
        self.outbox.purge(app, lambda m: True)
        self.outbox.quiesce(app, lambda m: True)
        self.outbox.closed(app)
        self.notify_recipient()  # queued requests wait for the next recipient (6.7)

    # -- assisted telephony ----------------------------------------------------------------
    def recipient(self, mode: int) -> App | None:
        """The highest-priority app registered for `mode` (first registered wins)."""
        return next((a for a in self.recipients if a.alive and a.request_modes & mode), None)

    def notify_recipient(self) -> None:
        """One LINE_REQUEST per batch of queued requests, never repeated."""
        app = self.recipient(C.LINEREQUESTMODE_MAKECALL)
        if app is None or not self.assisted or self.notified_recipient is app:
            return
        self.notified_recipient = app
        self.post(
            app, Msg(0, C.LINE_REQUEST, app.registration_instance, C.LINEREQUESTMODE_MAKECALL)
        )

    # -- call states -----------------------------------------------------------------------
    def active_calls(self, device: Device) -> int:
        """Calls on `device` that exist and are not IDLE (LINEDEVSTATUS.dwNumActiveCalls)."""
        return sum(1 for c in device.calls if not c.idle and c.state is not None)

    def set_call_state(self, call: PhysCall, state: int, mode: int, media_mode: int) -> None:
        if call.closed:
            return
        before = self.active_calls(call.device)
        self._set_call_state(call, state, mode, media_mode)
        if self.active_calls(call.device) != before:
            # After the LINE_CALLSTATE that changed it; filtered per HLINE (tapi.md 6.2).
            self.post_devstate(call.device, C.LINEDEVSTATE_NUMCALLS)

    def _set_call_state(self, call: PhysCall, state: int, mode: int, media_mode: int) -> None:
        if not callstates.allowed(call.state, state, outgoing=call.outgoing):
            self.provider_errors.append(
                f"call {call.htCall}: {C.callstate_name(call.state or 0)} -> "
                f"{C.callstate_name(state)} is not a valid transition"
            )
            log.warning("%s", self.provider_errors[-1])
            return
        call.state = state
        call.state_mode = mode
        call.state_since = self.time.now()
        if media_mode:
            call.media_mode = media_mode
        if not call.announced:
            if call.outgoing:
                call.buffered.append((state, mode))  # R7: nothing before the reply
                return
            call.announced = True
            for h in list(call.handles):
                self.announce_handle(h, state, mode)
            return
        for h in call.holders():
            self.post_handle(h, C.LINE_CALLSTATE, state, mode, 0)

    def announce_outgoing(self, req: Request) -> None:
        """The success LINE_REPLY of lineMakeCall: the handle becomes valid (R7); monitors
        get LINE_APPNEWCALL + LINE_CALLSTATE(UNKNOWN); buffered states follow."""
        call = req.call
        h = req.handle
        assert call is not None and h is not None
        self.validate_handle(h)
        self.reply(req, 0)
        call.announced = True
        for line in list(call.device.opens):
            # Per HLINE: an app's MONITOR open sees its own calls made on other opens.
            if line.monitor and not any(x.line is line for x in call.handles):
                m = self.add_handle(line, call, _MONITOR, valid=False)
                self.announce_handle(m, C.LINECALLSTATE_UNKNOWN, 0)
        for state, mode in call.buffered:
            for x in call.holders():
                self.post_handle(x, C.LINE_CALLSTATE, state, mode, 0)
        call.buffered.clear()

    # -- provider events -------------------------------------------------------------------
    def ev_completion(self, request_id: int, result: int) -> None:
        req = self.requests.pop(request_id, None)
        if req is None or req.done:
            return
        req.done = True
        if req.kind == "makecall":
            call = req.call
            h = req.handle
            assert call is not None and h is not None
            if result == 0 and not req.suppressed and not call.closed and h.line.alive:
                self.announce_outgoing(req)
                return
            self.reply(req, result if result < 0 else C.LINEERR_OPERATIONFAILED)
            if h in call.handles:
                self._forget_handle(h)
            if not call.handles:
                self.close_phys_call(call)
            return
        self.reply(req, result)

    def ev_new_call(
        self, line: LineDevice, address_id: int, media_mode: int, origin: int, reason: int
    ) -> int:
        device = self.device_of(line)
        if device is None:
            return 0
        call = PhysCall(
            next(self._htcall_ids),
            device,
            outgoing=False,
            address_id=address_id,
            media_mode=media_mode,
            origin=origin,
            reason=reason,
        )
        owner = next((o for o in device.opens if o.owner and o.media_modes & media_mode), None)
        for o in device.opens:
            if o is owner:
                self.add_handle(o, call, _OWNER, valid=False)
            elif o.monitor:
                self.add_handle(o, call, _MONITOR, valid=False)
        if not call.handles:
            return 0  # nobody can own or watch it (tapi.md 6.9): the provider drops it
        self.phys[call.htCall] = call
        device.calls.append(call)
        return call.htCall

    def ev_call_state(self, htCall: int, state: int, mode: int, media_mode: int) -> None:
        call = self.phys.get(htCall)
        if call is not None:
            self.set_call_state(call, state, mode, media_mode)

    def ev_call_info(self, htCall: int, changed: int, values: dict[str, Any]) -> None:
        call = self.phys.get(htCall)
        if call is None:
            return
        for name, value in values.items():
            if name == "dwMediaMode":
                call.media_mode = value
            elif name == "dwBearerMode":
                call.bearer_mode = value
            else:
                call.info[name] = value
        if changed:
            self.callinfo_to_others(call, changed, None)

    def ev_line_devstate(self, line: LineDevice, state: int, p2: int, p3: int) -> None:
        device = self.device_of(line)
        if device is not None:
            self.post_devstate(device, state, p2, p3)

    def ev_line_closed(self, line: LineDevice) -> None:
        """Provider-forced close: LINE_CLOSE to every open; handles invalid (6.4)."""
        device = self.device_of(line)
        if device is None:
            return
        for o in list(device.opens):
            self.close_line(o, forced=True)
            self.post_line_close(o)

    def post_line_close(self, line: LineOpen) -> None:
        self.post(
            line.app, Msg(line.hLine, C.LINE_CLOSE, line.callback_instance, 0, 0, 0, line=line)
        )

    def ev_provider_error(self, line: LineDevice, text: str) -> None:
        """A provider's fault report: kept in `provider_errors` (and logged)."""
        device = self.device_of(line)
        where = f"device {device.device_id}" if device is not None else line.caps().line_name
        self.provider_errors.append(f"{where}: {text}")
        log.warning("%s", self.provider_errors[-1])

    def ev_device_removed(self, line: LineDevice) -> None:
        device = self.device_of(line)
        if device is None:
            return
        for o in list(device.opens):
            if o.api_version >= C.TAPI_VERSION1_4:
                self.post_line(o, C.LINE_LINEDEVSTATE, C.LINEDEVSTATE_REMOVED)
        self.ev_line_closed(line)
        device.removed = True
        for app in list(self.apps.values()):
            if app.api_version >= C.TAPI_VERSION2_0:
                self.post(app, Msg(0, C.LINE_REMOVE, 0, device.device_id))

    def ev_device_created(self, line: LineDevice) -> None:
        device = self._register_device(line)
        for app in list(self.apps.values()):
            if app.api_version >= C.TAPI_VERSION1_4:
                self.post(app, Msg(0, C.LINE_CREATE, 0, device.device_id))
            else:
                self.post(
                    app,
                    Msg(0, C.LINE_LINEDEVSTATE, 0, C.LINEDEVSTATE_REINIT, C.LINE_CREATE,
                        device.device_id),
                )  # fmt: skip
