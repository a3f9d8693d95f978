"""The handle tables of one core, and the look-ups every flat function starts with.

Handles come from one counter that never repeats and never yields 0 (R9), so a stale
handle of any type is simply absent from its table and gets its R8 code. Request IDs
and htCalls have their own counters, also never reused.
"""

from __future__ import annotations

import itertools

from tapi import constants as C
from tapi.core.args import is_dword, lookup
from tapi.core.records import App, CallHandle, Device, LineOpen, PhysCall, Request
from tapi.providers.base import LineDevice


class Tables:
    """HLINEAPPs, HLINEs, HCALLs (valid ones), the provider's calls (htCall), pending
    requests and the line devices (device ID = index)."""

    def __init__(self) -> None:
        self._handle_ids = itertools.count(0x00010001)
        self._htcall_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self.apps: dict[int, App] = {}
        self.lines: dict[int, LineOpen] = {}
        self.calls: dict[int, CallHandle] = {}
        self.phys: dict[int, PhysCall] = {}
        self.requests: dict[int, Request] = {}
        self.devices: list[Device] = []

    # -- ids -------------------------------------------------------------------------------
    def new_handle(self) -> int:
        return next(self._handle_ids) & 0xFFFFFFFF or next(self._handle_ids)

    def new_request_id(self) -> int:
        return next(self._request_ids)

    def new_htcall(self) -> int:
        return next(self._htcall_ids)

    # -- look-ups (the R8 codes) -----------------------------------------------------------
    def app_or_error(self, hLineApp: object) -> App | int:
        if not self.apps:
            return C.LINEERR_UNINITIALIZED
        app = lookup(self.apps, hLineApp)
        return C.LINEERR_INVALAPPHANDLE if app is None else app

    def line_or_error(self, hLine: object) -> LineOpen | int:
        if not self.apps:
            return C.LINEERR_UNINITIALIZED
        line = lookup(self.lines, hLine)
        return C.LINEERR_INVALLINEHANDLE if line is None else line

    def call_or_error(self, hCall: object) -> CallHandle | int:
        if not self.apps:
            return C.LINEERR_UNINITIALIZED
        h = lookup(self.calls, hCall)
        return C.LINEERR_INVALCALLHANDLE if h is None else h

    def device_or_error(self, dwDeviceID: object) -> Device | int:
        if not is_dword(dwDeviceID):
            return C.LINEERR_BADDEVICEID
        assert isinstance(dwDeviceID, int)
        if dwDeviceID >= len(self.devices):
            return C.LINEERR_BADDEVICEID
        device = self.devices[dwDeviceID]
        return C.LINEERR_NODEVICE if device.removed else device

    def device_of(self, line: LineDevice) -> Device | None:
        for device in self.devices:
            if device.line is line and not device.removed:
                return device
        return None
