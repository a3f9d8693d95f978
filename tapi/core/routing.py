"""Message routing: who hears what (rules.md §3, 6.2), posted into the apps' queues."""

from __future__ import annotations

from tapi import constants as C
from tapi.core.messages import Outbox
from tapi.core.records import App, CallHandle, Device, LineOpen, Msg, PhysCall, Request


class Router:
    """Builds each LINEMESSAGE with the objects it belongs to (R4) and posts it."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

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
        after IDLE (rules.md §3)."""
        if call.idle or not call.announced:
            return
        for h in call.holders():
            if h.line.app is not cause:
                self.post_handle(h, C.LINE_CALLINFO, changed)

    def post_line_close(self, line: LineOpen) -> None:
        self.post(
            line.app, Msg(line.hLine, C.LINE_CLOSE, line.callback_instance, 0, 0, 0, line=line)
        )
