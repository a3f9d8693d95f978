"""Copy the core's tables into a `tapi.view.Hierarchy` (read-only, no shared records)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tapi import constants as C
from tapi.core.records import App, CallHandle, Device, LineOpen, Msg, Request
from tapi.view import (
    AppView,
    CallView,
    DeviceView,
    Hierarchy,
    LineView,
    MessageView,
    ProviderCallView,
)

if TYPE_CHECKING:
    from tapi.core.state import CoreState


def message_view(m: Msg) -> MessageView:
    line: LineOpen | None = m.line
    handle: CallHandle | None = m.handle
    request: Request | None = m.request
    if line is None and handle is not None:
        line = handle.line
    if line is None and request is not None:
        line = request.line
    return MessageView(
        m.hDevice,
        m.dwMessageID,
        C.message_name(m.dwMessageID),
        m.dwCallbackInstance,
        m.dwParam1,
        m.dwParam2,
        m.dwParam3,
        hLine=None if line is None else line.hLine,
        hCall=None if handle is None else handle.hCall,
        request_id=None if request is None else request.request_id,
        closed_by_provider=line is not None and line.closed_by_provider,
    )


def _call_view(h: CallHandle) -> CallView:
    return CallView(
        h.hCall, h.privilege, h.call.state, h.call.device.device_id, h.call.htCall, h.valid
    )


def _line_view(line: LineOpen) -> LineView:
    return LineView(
        line.hLine,
        line.device.device_id,
        line.privileges,
        line.media_modes,
        tuple(_call_view(h) for h in line.handles.values()),
        line.api_version,
    )


def _app_view(app: App, requests: Iterable[Request]) -> AppView:
    return AppView(
        app.hLineApp,
        app.friendly_name,
        app.api_version,
        app.options,
        tuple(_line_view(x) for x in app.lines.values()),
        tuple(message_view(m) for m in app.queue),
        tuple(r.request_id for r in requests if r.app is app and not r.done and not r.suppressed),
        app.request_modes,
        app.handoff_name,
    )


def _device_view(device: Device) -> DeviceView:
    return DeviceView(
        device.device_id,
        device.line.caps().line_name,
        device.removed,
        device.provider_open,
        tuple(x.hLine for x in device.opens),
        tuple(
            ProviderCallView(c.htCall, c.state, c.outgoing, tuple(h.hCall for h in c.handles))
            for c in device.calls
        ),
    )


def hierarchy(core: CoreState, apps: Iterable[int] | None = None) -> Hierarchy:
    """The tree of `core` (the caller holds its lock): every app, or the given HLINEAPPs
    (unknown ones are left out) without the provider side."""
    requests = list(core.tables.requests.values())
    if apps is None:
        return Hierarchy(
            tuple(_app_view(a, requests) for a in core.tables.apps.values()),
            tuple(_device_view(d) for d in core.tables.devices),
            tuple(core.tables.requests),
        )
    wanted = [core.tables.apps[h] for h in apps if type(h) is int and h in core.tables.apps]
    return Hierarchy(tuple(_app_view(a, requests) for a in wanted))
