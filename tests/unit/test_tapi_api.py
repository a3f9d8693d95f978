"""The flat API's Python calling convention, on the default stack."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tapi_helpers import DATAMODEM, OWNER

import tapi
from tapi import (
    LINEERR_INVALAPPHANDLE,
    LINEINITIALIZEEXOPTION_USEEVENT,
    LINEINITIALIZEEXPARAMS,
    LINEMAPPER,
    lineInitializeEx,
    lineShutdown,
)
from tapi.providers.base import Provider
from tapi.providers.fake import FakeLine
from tapi.stack import Stack


def _init(name: str = "api test") -> int:
    params = LINEINITIALIZEEXPARAMS(dwOptions=LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, _n, v, p = lineInitializeEx(None, None, name, 0x00020002, params)
    assert rc == 0 and h is not None and p is params and p.hEvent is not None
    assert v == 0x00020002
    return h


def test_issue_example_imports_and_signed_codes() -> None:
    assert LINEERR_INVALAPPHANDLE < 0
    assert LINEERR_INVALAPPHANDLE & 0xFFFFFFFF == 0x80000014
    assert LINEMAPPER == 0xFFFFFFFF
    h = _init()
    assert lineShutdown(h) == 0
    assert lineShutdown(h) == tapi.LINEERR_UNINITIALIZED


def test_module_functions_use_the_default_stack(tapi_default_stack: Stack) -> None:
    line = FakeLine()
    tapi_default_stack.add_provider(Provider([line]))
    h = _init()
    assert tapi_default_stack.hierarchy().app(h) is not None
    rc, hLine = tapi.lineOpen(
        hLineApp=h,
        dwDeviceID=0,
        dwAPIVersion=0x00020002,
        dwExtVersion=0,
        dwCallbackInstance=0,
        dwPrivileges=OWNER,
        dwMediaModes=DATAMODEM,
    )
    assert rc == 0 and hLine in tapi_default_stack.hierarchy().hlines()
    rc2, hCall = tapi.lineMakeCall(hLine, lpszDestAddress="5551234")
    assert rc2 > 0 and hCall is not None


def test_set_default_stack_swaps_and_returns_the_old_one(tapi_default_stack: Stack) -> None:
    other = Stack()
    assert tapi.set_default_stack(other) is tapi_default_stack
    assert tapi.get_default_stack() is other
    assert tapi.set_default_stack(tapi_default_stack) is other
    other.close()


def test_every_flat_function_is_a_stack_method_and_exported() -> None:
    expected = {
        "lineInitialize", "lineInitializeEx", "lineShutdown", "lineNegotiateAPIVersion",
        "lineGetDevCaps", "lineOpen", "lineClose", "lineMakeCall", "lineDial", "lineAnswer",
        "lineAccept", "lineDrop", "lineDeallocateCall", "lineGetMessage", "lineGetCallInfo",
        "lineGetCallStatus", "lineGetNewCalls", "lineSetCallPrivilege", "lineHandoff",
        "lineSetStatusMessages", "lineSetCallParams", "lineGetAddressCaps",
        "lineGetLineDevStatus", "lineGetAddressStatus", "lineGetID", "lineSetNumRings",
        "lineGetNumRings", "lineRegisterRequestRecipient", "lineGetRequest",
        "tapiRequestMakeCall",
    }  # fmt: skip
    assert expected == set(tapi.api.FUNCTIONS)
    for name in expected:
        assert name in tapi.__all__
        assert callable(getattr(Stack, name))
        params = inspect.signature(getattr(tapi, name)).parameters
        # output-only pointers are keyword-only; inputs (and the caller-sized variable
        # structures, which carry dwTotalSize in) are positional-or-keyword, in C order
        # (checked against every C prototype in test_tapi_signatures.py)
        for p in params.values():
            if p.name.startswith(("lph", "lpdw")) or p.name in {
                "lpMessage", "lpExtensionID", "lpRequestBuffer",
            }:  # fmt: skip
                assert p.kind is inspect.Parameter.KEYWORD_ONLY, (name, p.name)
            elif p.name != "self":
                assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (name, p.name)


def test_outputs_come_back_in_fixed_length_tuples_with_none_on_failure() -> None:
    s = Stack(lines=[FakeLine()])
    assert s.lineOpen(999, 0, 0x20000, 0, 0, OWNER, DATAMODEM) == (
        tapi.LINEERR_UNINITIALIZED, None,
    )  # fmt: skip
    h = s.lineInitialize(None, lambda *a: None, "x")[1]
    assert h is not None
    assert s.lineGetDevCaps(h, 7, 0x20000, 0) == (tapi.LINEERR_BADDEVICEID, None)
    assert s.lineNegotiateAPIVersion(h, 0, 0x10003, 0x30000) == (
        0, 0x00020002, tapi.LINEEXTENSIONID(),
    )  # fmt: skip
    assert s.lineNegotiateAPIVersion(h, 0, 0x10003, 0x30000, lpdwAPIVersion=None) == (
        tapi.LINEERR_INVALPOINTER, None, None,
    )  # fmt: skip
    s.close()


@pytest.mark.parametrize("garbage", [None, "x", 1.5, [1], {"a": 1}, -1, 2**40, True])
def test_garbage_arguments_return_codes_never_raise(garbage: object) -> None:
    s = Stack(lines=[FakeLine()])
    h = s.lineInitialize(None, lambda *a: None, "x")[1]
    assert h is not None
    hL = s.lineOpen(h, 0, 0x20000, 0, 0, OWNER, DATAMODEM)[1]
    assert hL is not None
    hc = s.lineMakeCall(hL, "555")[1]
    assert hc is not None
    calls: list[Callable[[], object]] = [
        lambda: s.lineShutdown(garbage),  # type: ignore[arg-type]
        lambda: s.lineOpen(h, garbage, 0x20000, 0, 0, OWNER, DATAMODEM),  # type: ignore[arg-type]
        lambda: s.lineOpen(h, 0, garbage, 0, 0, OWNER, DATAMODEM),  # type: ignore[arg-type]
        lambda: s.lineOpen(h, 0, 0x20000, 0, 0, garbage, DATAMODEM),  # type: ignore[arg-type]
        lambda: s.lineOpen(h, 0, 0x20000, 0, 0, OWNER, garbage),  # type: ignore[arg-type]
        lambda: s.lineOpen(h, 0, 0x20000, 0, 0, OWNER, DATAMODEM, garbage),  # type: ignore[arg-type]
        lambda: s.lineMakeCall(hL, garbage),  # type: ignore[arg-type]
        lambda: s.lineMakeCall(hL, "5", garbage),  # type: ignore[arg-type]
        lambda: s.lineMakeCall(hL, "5", 0, garbage),  # type: ignore[arg-type]
        lambda: s.lineDial(hc, garbage),  # type: ignore[arg-type]
        lambda: s.lineDrop(hc, garbage, 0),  # type: ignore[arg-type]
        lambda: s.lineAnswer(hc, None, garbage),  # type: ignore[arg-type]
        lambda: s.lineGetCallInfo(garbage),  # type: ignore[arg-type]
        lambda: s.lineGetCallInfo(hc, lpCallInfo=garbage),
        lambda: s.lineGetDevCaps(h, 0, 0x20000, 0, lpLineDevCaps=garbage),
        lambda: s.lineSetStatusMessages(hL, garbage, 0),  # type: ignore[arg-type]
        lambda: s.lineGetID(hL, 0, 0, 1, lpszDeviceClass=garbage),  # type: ignore[arg-type]
        lambda: s.lineGetID(hL, garbage, 0, 2, lpszDeviceClass="comm"),  # type: ignore[arg-type]
        lambda: s.lineSetNumRings(hL, 0, garbage),  # type: ignore[arg-type]
        lambda: s.lineHandoff(hc, garbage, 0),  # type: ignore[arg-type]
        lambda: s.lineHandoff(hc, None, garbage),  # type: ignore[arg-type]
        lambda: s.lineSetCallPrivilege(hc, garbage),  # type: ignore[arg-type]
        lambda: s.lineSetCallParams(hc, garbage),  # type: ignore[arg-type]
        lambda: s.lineGetNewCalls(hL, garbage, 2),  # type: ignore[arg-type]
        lambda: s.lineRegisterRequestRecipient(h, 0, garbage, 1),  # type: ignore[arg-type]
        lambda: s.lineGetRequest(h, garbage),  # type: ignore[arg-type]
        lambda: s.tapiRequestMakeCall(garbage),  # type: ignore[arg-type]
        lambda: s.lineGetMessage(h, garbage),  # type: ignore[arg-type]
        lambda: s.lineNegotiateAPIVersion(h, 0, garbage, 0x20000),  # type: ignore[arg-type]
        lambda: s.lineGetAddressCaps(h, 0, garbage, 0x20000, 0),  # type: ignore[arg-type]
    ]
    for call in calls:
        result = call()
        rc = result[0] if isinstance(result, tuple) else result
        assert isinstance(rc, int)
    s.close()


def test_default_handoff_name_is_the_basename_of_argv0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(Path("/opt/apps/dialer.exe"))])
    s = Stack(lines=[FakeLine()])
    h = s.lineInitialize(None, lambda *a: None, None)[1]
    assert h is not None
    assert s.hierarchy().app(h).handoff_name == "dialer.exe"  # type: ignore[union-attr]
    h2 = s.lineInitialize(None, lambda *a: None, "Friendly")[1]
    assert h2 is not None and s.hierarchy().app(h2).handoff_name == "Friendly"  # type: ignore[union-attr]
    s.close()
