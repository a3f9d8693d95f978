"""Call states as the core tracks them: the table's checks (tapi.callstates), R7's
buffering until lineMakeCall's reply, LINE_CALLSTATE to every holder, NUMCALLS."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from linelab.vtime import TimeSource
from tapi import callstates
from tapi import constants as C
from tapi.core.records import Device, PhysCall, Request
from tapi.core.routing import Router

if TYPE_CHECKING:
    from tapi.core.tree import HandleTree

log = logging.getLogger("tapi.core")

_MONITOR = C.LINECALLPRIVILEGE_MONITOR


def active_calls(device: Device) -> int:
    """Calls on `device` that exist and are not IDLE (LINEDEVSTATUS.dwNumActiveCalls)."""
    return sum(1 for c in device.calls if not c.idle and c.state is not None)


class CallStates:
    """Applies a provider's call-state reports (and refuses impossible ones)."""

    def __init__(
        self, tree: HandleTree, router: Router, errors: list[str], time: TimeSource
    ) -> None:
        self.tree = tree
        self.router = router
        self.errors = errors  # the stack's provider_errors
        self.time = time

    def set_call_state(self, call: PhysCall, state: int, mode: int, media_mode: int) -> None:
        if call.closed:
            return
        before = active_calls(call.device)
        self._set_call_state(call, state, mode, media_mode)
        if active_calls(call.device) != before:
            # After the LINE_CALLSTATE that changed it; filtered per HLINE (rules.md §6.2).
            self.router.post_devstate(call.device, C.LINEDEVSTATE_NUMCALLS)

    def _set_call_state(self, call: PhysCall, state: int, mode: int, media_mode: int) -> None:
        if not callstates.allowed(call.state, state, outgoing=call.outgoing):
            self.errors.append(
                f"call {call.htCall}: {C.callstate_name(call.state or 0)} -> "
                f"{C.callstate_name(state)} is not a valid transition"
            )
            log.warning("%s", self.errors[-1])
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
                self.tree.announce_handle(h, state, mode)
            return
        for h in call.holders():
            self.router.post_handle(h, C.LINE_CALLSTATE, state, mode, 0)

    def announce_outgoing(self, req: Request) -> None:
        """The success LINE_REPLY of lineMakeCall: the handle becomes valid (R7); monitors
        get LINE_APPNEWCALL + LINE_CALLSTATE(UNKNOWN); buffered states follow."""
        call = req.call
        h = req.handle
        assert call is not None and h is not None
        self.tree.validate_handle(h)
        self.router.reply(req, 0)
        call.announced = True
        for line in list(call.device.opens):
            # Per HLINE: an app's MONITOR open sees its own calls made on other opens.
            if line.monitor and not any(x.line is line for x in call.handles):
                m = self.tree.add_handle(line, call, _MONITOR, valid=False)
                self.tree.announce_handle(m, C.LINECALLSTATE_UNKNOWN, 0)
        for state, mode in call.buffered:
            for x in call.holders():
                self.router.post_handle(x, C.LINE_CALLSTATE, state, mode, 0)
        call.buffered.clear()
