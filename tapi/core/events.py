"""Provider events (TSPI LINEEVENT and ASYNC_COMPLETION) applied to the core.

The driver's `LineEvents` calls these through `CoreState.run_event`, so an event a
provider raises from inside a TSPI method runs after the API call that called it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tapi import constants as C
from tapi.core.callstate import CallStates
from tapi.core.records import Device, Msg, PhysCall
from tapi.core.routing import Router
from tapi.core.tables import Tables
from tapi.core.tree import HandleTree
from tapi.providers.base import LineDevice

log = logging.getLogger("tapi.core")

_OWNER = C.LINECALLPRIVILEGE_OWNER
_MONITOR = C.LINECALLPRIVILEGE_MONITOR


class ProviderEvents:
    """One method per event a line device can report."""

    def __init__(
        self,
        tables: Tables,
        router: Router,
        tree: HandleTree,
        states: CallStates,
        errors: list[str],
        attach: Callable[[Any], None] | None,
    ) -> None:
        self.tables = tables
        self.router = router
        self.tree = tree
        self.states = states
        self.errors = errors  # the stack's provider_errors
        # The driver's hook that connects a new line device (or provider) to its
        # events and loop: `obj.attach(events, loop_getter)`.
        self.attach = attach

    def completion(self, request_id: int, result: int) -> None:
        req = self.tables.requests.pop(request_id, None)
        if req is None or req.done:
            return
        req.done = True
        if req.kind == "makecall":
            call = req.call
            h = req.handle
            assert call is not None and h is not None
            if result == 0 and not req.suppressed and not call.closed and h.line.alive:
                self.states.announce_outgoing(req)
                return
            self.router.reply(req, result if result < 0 else C.LINEERR_OPERATIONFAILED)
            if h in call.handles:
                self.tree.forget_handle(h)
            if not call.handles:
                self.tree.close_phys_call(call)
            return
        self.router.reply(req, result)

    def new_call(
        self, line: LineDevice, address_id: int, media_mode: int, origin: int, reason: int
    ) -> int:
        device = self.tables.device_of(line)
        if device is None:
            return 0
        call = PhysCall(
            self.tables.new_htcall(),
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
                self.tree.add_handle(o, call, _OWNER, valid=False)
            elif o.monitor:
                self.tree.add_handle(o, call, _MONITOR, valid=False)
        if not call.handles:
            return 0  # nobody can own or watch it (rules.md §6.9): the provider drops it
        self.tables.phys[call.htCall] = call
        device.calls.append(call)
        return call.htCall

    def call_state(self, htCall: int, state: int, mode: int, media_mode: int) -> None:
        call = self.tables.phys.get(htCall)
        if call is not None:
            self.states.set_call_state(call, state, mode, media_mode)

    def call_info(self, htCall: int, changed: int, values: dict[str, Any]) -> None:
        call = self.tables.phys.get(htCall)
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
            self.router.callinfo_to_others(call, changed, None)

    def line_devstate(self, line: LineDevice, state: int, p2: int, p3: int) -> None:
        device = self.tables.device_of(line)
        if device is not None:
            self.router.post_devstate(device, state, p2, p3)

    def line_closed(self, line: LineDevice) -> None:
        """Provider-forced close: LINE_CLOSE to every open; handles invalid (6.4)."""
        device = self.tables.device_of(line)
        if device is None:
            return
        for o in list(device.opens):
            self.tree.close_line(o, forced=True)
            self.router.post_line_close(o)

    def provider_error(self, line: LineDevice, text: str) -> None:
        """A provider's fault report: kept in `provider_errors` (and logged)."""
        device = self.tables.device_of(line)
        where = f"device {device.device_id}" if device is not None else line.caps().line_name
        self.errors.append(f"{where}: {text}")
        log.warning("%s", self.errors[-1])

    def device_removed(self, line: LineDevice) -> None:
        device = self.tables.device_of(line)
        if device is None:
            return
        for o in list(device.opens):
            if o.api_version >= C.TAPI_VERSION1_4:
                self.router.post_line(o, C.LINE_LINEDEVSTATE, C.LINEDEVSTATE_REMOVED)
        self.line_closed(line)
        device.removed = True
        for app in list(self.tables.apps.values()):
            if app.api_version >= C.TAPI_VERSION2_0:
                self.router.post(app, Msg(0, C.LINE_REMOVE, 0, device.device_id))

    def device_created(self, line: LineDevice) -> None:
        device = self.register_device(line)
        for app in list(self.tables.apps.values()):
            if app.api_version >= C.TAPI_VERSION1_4:
                self.router.post(app, Msg(0, C.LINE_CREATE, 0, device.device_id))
            else:
                self.router.post(
                    app,
                    Msg(0, C.LINE_LINEDEVSTATE, 0, C.LINEDEVSTATE_REINIT, C.LINE_CREATE,
                        device.device_id),
                )  # fmt: skip

    def register_device(self, line: LineDevice) -> Device:
        device = Device(len(self.tables.devices), line)
        self.tables.devices.append(device)
        if self.attach is not None:
            self.attach(line)
        return device
