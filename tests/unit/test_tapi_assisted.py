"""Assisted telephony: request recipients, LINE_REQUEST, lineGetRequest (rules.md §2.22-2.24)."""

from __future__ import annotations

from tapi_helpers import EventApp, stack_with

from tapi import constants as C
from tapi.structs import LINEREQMAKECALL

MAKECALL = C.LINEREQUESTMODE_MAKECALL


def test_request_flow_one_line_request_per_batch() -> None:
    s = stack_with()
    a = EventApp(s, "dialer")
    assert s.lineRegisterRequestRecipient(a.h, 0x77, MAKECALL, 1) == 0
    assert s.tapiRequestMakeCall("5551234", "Outlook", "Bob", "call back") == 0
    assert s.tapiRequestMakeCall("5550000", None, None, None) == 0
    assert a.messages() == [("LINE_REQUEST", 0, MAKECALL, 0, 0)]
    assert a.raw() == []
    rc, req = s.lineGetRequest(a.h, MAKECALL)
    assert rc == 0 and req == LINEREQMAKECALL("5551234", "Outlook", "Bob", "call back")
    assert s.lineGetRequest(a.h, MAKECALL) == (0, LINEREQMAKECALL("5550000", "", "", ""))
    assert s.lineGetRequest(a.h, MAKECALL) == (C.LINEERR_NOREQUEST, None)
    assert s.tapiRequestMakeCall("5551111", "x", "y", "z") == 0
    [m] = a.raw()
    assert m.dwMessageID == C.LINE_REQUEST and m.dwCallbackInstance == 0x77


def test_error_lists() -> None:
    s = stack_with()
    a = EventApp(s)
    assert s.lineRegisterRequestRecipient(a.h, 0, 0, 1) == C.LINEERR_INVALREQUESTMODE
    assert s.lineRegisterRequestRecipient(a.h + 5, 0, MAKECALL, 1) == C.LINEERR_INVALAPPHANDLE
    assert s.lineGetRequest(a.h, MAKECALL) == (C.LINEERR_NOTREGISTERED, None)
    assert s.lineRegisterRequestRecipient(a.h, 0, MAKECALL, 1) == 0
    assert s.lineGetRequest(a.h, MAKECALL | C.LINEREQUESTMODE_DROP)[0] == (
        C.LINEERR_INVALREQUESTMODE
    )
    assert s.lineGetRequest(a.h, MAKECALL, lpRequestBuffer=None)[0] == C.LINEERR_INVALPOINTER
    assert s.tapiRequestMakeCall(None) == C.TAPIERR_INVALPOINTER
    assert s.tapiRequestMakeCall("") == C.TAPIERR_INVALDESTADDRESS
    assert s.tapiRequestMakeCall("5" * 80) == C.TAPIERR_INVALDESTADDRESS
    for _ in range(32):
        assert s.tapiRequestMakeCall("555") == 0
    assert s.tapiRequestMakeCall("555") == C.TAPIERR_REQUESTQUEUEFULL
    assert s.lineRegisterRequestRecipient(a.h, 0, MAKECALL, 0) == 0
    assert s.tapiRequestMakeCall("555") == C.TAPIERR_NOREQUESTRECIPIENT


def test_queued_requests_wait_for_the_next_recipient_after_shutdown() -> None:
    s = stack_with()
    a, b = EventApp(s, "A"), EventApp(s, "B")
    assert s.lineRegisterRequestRecipient(a.h, 1, MAKECALL, 1) == 0
    assert s.lineRegisterRequestRecipient(b.h, 2, MAKECALL, 1) == 0
    assert s.tapiRequestMakeCall("5551234") == 0
    assert a.messages() == [("LINE_REQUEST", 0, MAKECALL, 0, 0)]
    assert s.lineGetRequest(b.h, MAKECALL) == (C.LINEERR_NOREQUEST, None)  # not highest
    a.shutdown()
    assert b.messages() == [("LINE_REQUEST", 0, MAKECALL, 0, 0)]
    assert s.lineGetRequest(b.h, MAKECALL)[1] == LINEREQMAKECALL("5551234")
