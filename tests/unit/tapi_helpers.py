"""Helpers for the TAPI core unit tests: an event-option app and message shorthands."""

from __future__ import annotations

from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.stack import Stack
from tapi.structs import LINEINITIALIZEEXPARAMS, LINEMESSAGE

V20 = C.TAPI_VERSION2_0
V22 = C.TAPI_VERSION2_2
OWNER = C.LINECALLPRIVILEGE_OWNER
MONITOR = C.LINECALLPRIVILEGE_MONITOR
NONE = C.LINECALLPRIVILEGE_NONE
DATAMODEM = C.LINEMEDIAMODE_DATAMODEM

Msg = tuple[str, int, int, int, int]


def short(m: LINEMESSAGE) -> Msg:
    """(message name, hDevice, dwParam1, dwParam2, dwParam3) for readable asserts."""
    return (C.message_name(m.dwMessageID), m.hDevice, m.dwParam1, m.dwParam2, m.dwParam3)


class EventApp:
    """An HLINEAPP initialised with LINEINITIALIZEEXOPTION_USEEVENT."""

    def __init__(self, stack: Stack, name: str = "appA", version: int = V22) -> None:
        self.stack = stack
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, _n, _v, p = stack.lineInitializeEx(None, None, name, version, params)
        assert rc == 0 and h is not None and p is not None and p.hEvent is not None
        self.h: int = h
        self.hEvent: int = p.hEvent

    def raw(self) -> list[LINEMESSAGE]:
        """Every queued message (lineGetMessage with a zero time-out until empty)."""
        out: list[LINEMESSAGE] = []
        while True:
            rc, m = self.stack.lineGetMessage(self.h, 0)
            if rc != 0:
                assert rc == C.LINEERR_OPERATIONFAILED
                return out
            assert m is not None
            out.append(m)

    def messages(self) -> list[Msg]:
        return [short(m) for m in self.raw()]

    def open(
        self,
        device: int = 0,
        privileges: int = OWNER,
        media: int = DATAMODEM,
        *,
        version: int = V22,
        callback_instance: int = 0,
    ) -> int:
        rc, hLine = self.stack.lineOpen(
            self.h, device, version, 0, callback_instance, privileges, media
        )
        assert rc == 0 and hLine is not None, C.result_name(rc)
        return hLine

    def shutdown(self) -> None:
        assert self.stack.lineShutdown(self.h) == 0


def stack_with(*lines: FakeLine, ce: bool = False) -> Stack:
    return Stack(lines=list(lines) or [FakeLine()], ce=ce)


def ht_of(stack: Stack, hCall: int) -> int:
    """The provider's htCall behind an app's hCall."""
    call = stack.hierarchy().call(hCall)
    assert call is not None and call.valid, f"no HCALL {hCall:#x}"
    return call.call_id


def hline_of(stack: Stack, hCall: int) -> int:
    """The HLINE an app's hCall was issued through."""
    line = stack.hierarchy().line_of(hCall)
    assert line is not None, f"no HCALL {hCall:#x}"
    return line.hLine
