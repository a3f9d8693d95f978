"""The issue-4 calling convention, checked against the C prototypes of tapi.h (rules.md §2).

Each row is the C parameter list in C order, every parameter tagged:

- ``in``: an input (scalar, string or input structure): positional-or-keyword, same name;
- ``io``: an in/out scalar (``LPDWORD lpdwAPIVersion``): an argument without ``lp``
  (``dwAPIVersion``) and also a returned value;
- ``ios``: an in/out structure (LINEINITIALIZEEXPARAMS): an argument with its C name,
  also returned;
- ``var``: a variable-size structure (the caller sets dwTotalSize): an argument with its
  C name in C order, defaulting to "allocate one big enough" (`tapi.OUT`), returned;
- ``out``: output only: keyword-only, default `tapi.OUT`, returned.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from tapi_helpers import EventApp, stack_with

import tapi
from tapi import constants as C
from tapi.api import FUNCTIONS
from tapi.stack import Stack
from tapi.structs import LINEDEVCAPS, LINEINITIALIZEEXPARAMS, VARSTRING

PROTOTYPES: dict[str, list[tuple[str, str]]] = {
    "lineInitialize": [
        ("lphLineApp", "out"),
        ("hInstance", "in"),
        ("lpfnCallback", "in"),
        ("lpszAppName", "in"),
        ("lpdwNumDevs", "out"),
    ],
    "lineInitializeEx": [
        ("lphLineApp", "out"),
        ("hInstance", "in"),
        ("lpfnCallback", "in"),
        ("lpszFriendlyAppName", "in"),
        ("lpdwNumDevs", "out"),
        ("lpdwAPIVersion", "io"),
        ("lpLineInitializeExParams", "ios"),
    ],
    "lineShutdown": [("hLineApp", "in")],
    "lineNegotiateAPIVersion": [
        ("hLineApp", "in"),
        ("dwDeviceID", "in"),
        ("dwAPILowVersion", "in"),
        ("dwAPIHighVersion", "in"),
        ("lpdwAPIVersion", "out"),
        ("lpExtensionID", "out"),
    ],
    "lineGetDevCaps": [
        ("hLineApp", "in"),
        ("dwDeviceID", "in"),
        ("dwAPIVersion", "in"),
        ("dwExtVersion", "in"),
        ("lpLineDevCaps", "var"),
    ],
    "lineGetAddressCaps": [
        ("hLineApp", "in"),
        ("dwDeviceID", "in"),
        ("dwAddressID", "in"),
        ("dwAPIVersion", "in"),
        ("dwExtVersion", "in"),
        ("lpAddressCaps", "var"),
    ],
    "lineOpen": [
        ("hLineApp", "in"),
        ("dwDeviceID", "in"),
        ("lphLine", "out"),
        ("dwAPIVersion", "in"),
        ("dwExtVersion", "in"),
        ("dwCallbackInstance", "in"),
        ("dwPrivileges", "in"),
        ("dwMediaModes", "in"),
        ("lpCallParams", "in"),
    ],
    "lineClose": [("hLine", "in")],
    "lineSetStatusMessages": [("hLine", "in"), ("dwLineStates", "in"), ("dwAddressStates", "in")],
    "lineGetLineDevStatus": [("hLine", "in"), ("lpLineDevStatus", "var")],
    "lineGetAddressStatus": [("hLine", "in"), ("dwAddressID", "in"), ("lpAddressStatus", "var")],
    "lineGetID": [
        ("hLine", "in"),
        ("dwAddressID", "in"),
        ("hCall", "in"),
        ("dwSelect", "in"),
        ("lpDeviceID", "var"),
        ("lpszDeviceClass", "in"),
    ],
    "lineSetNumRings": [("hLine", "in"), ("dwAddressID", "in"), ("dwNumRings", "in")],
    "lineGetNumRings": [("hLine", "in"), ("dwAddressID", "in"), ("lpdwNumRings", "out")],
    "lineGetMessage": [("hLineApp", "in"), ("lpMessage", "out"), ("dwTimeout", "in")],
    "lineMakeCall": [
        ("hLine", "in"),
        ("lphCall", "out"),
        ("lpszDestAddress", "in"),
        ("dwCountryCode", "in"),
        ("lpCallParams", "in"),
    ],
    "lineDial": [("hCall", "in"), ("lpszDestAddress", "in"), ("dwCountryCode", "in")],
    "lineAnswer": [("hCall", "in"), ("lpsUserUserInfo", "in"), ("dwSize", "in")],
    "lineAccept": [("hCall", "in"), ("lpsUserUserInfo", "in"), ("dwSize", "in")],
    "lineDrop": [("hCall", "in"), ("lpsUserUserInfo", "in"), ("dwSize", "in")],
    "lineDeallocateCall": [("hCall", "in")],
    "lineGetCallInfo": [("hCall", "in"), ("lpCallInfo", "var")],
    "lineGetCallStatus": [("hCall", "in"), ("lpCallStatus", "var")],
    "lineGetNewCalls": [
        ("hLine", "in"),
        ("dwAddressID", "in"),
        ("dwSelect", "in"),
        ("lpCallList", "var"),
    ],
    "lineSetCallPrivilege": [("hCall", "in"), ("dwCallPrivilege", "in")],
    "lineHandoff": [("hCall", "in"), ("lpszFileName", "in"), ("dwMediaMode", "in")],
    "lineSetCallParams": [
        ("hCall", "in"),
        ("dwBearerMode", "in"),
        ("dwMinRate", "in"),
        ("dwMaxRate", "in"),
        ("lpDialParams", "in"),
    ],
    "lineRegisterRequestRecipient": [
        ("hLineApp", "in"),
        ("dwRegistrationInstance", "in"),
        ("dwRequestMode", "in"),
        ("bEnable", "in"),
    ],
    "lineGetRequest": [("hLineApp", "in"), ("dwRequestMode", "in"), ("lpRequestBuffer", "out")],
    "tapiRequestMakeCall": [
        ("lpszDestAddress", "in"),
        ("lpszAppName", "in"),
        ("lpszCalledParty", "in"),
        ("lpszComment", "in"),
    ],
}

ARGUMENT_KINDS = ("in", "io", "ios", "var")
RETURNED_KINDS = ("out", "io", "ios", "var")


def _python_name(name: str, kind: str) -> str:
    return name.replace("lpdw", "dw", 1) if kind == "io" else name


def test_the_table_covers_every_flat_function() -> None:
    assert sorted(PROTOTYPES) == sorted(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(PROTOTYPES))
def test_signature_follows_the_c_prototype(name: str) -> None:
    proto = PROTOTYPES[name]
    for sig in (
        inspect.signature(getattr(Stack, name)),
        inspect.signature(getattr(tapi, name)),
    ):
        params = [p for p in sig.parameters.values() if p.name != "self"]
        positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        keyword_only = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert len(positional) + len(keyword_only) == len(params), "no *args/**kwargs"
        # Inputs in C order, every one by keyword too; in/out scalars drop "lp".
        assert [p.name for p in positional] == [
            _python_name(n, k) for n, k in proto if k in ARGUMENT_KINDS
        ]
        # Output-only pointers are left out, but may be passed (as None: NULL).
        assert [p.name for p in keyword_only] == [n for n, k in proto if k == "out"]
        for p in keyword_only:
            assert p.default is tapi.OUT
        for p in positional:
            kind = dict(proto).get(p.name, "io")
            if kind == "var":  # omitted: one big enough is allocated
                assert p.default is tapi.OUT, p.name
            elif p.name.startswith("lp") or kind == "io":  # pointer arguments
                assert p.default is None, p.name


@pytest.mark.parametrize("name", sorted(PROTOTYPES))
def test_result_shape_is_a_bare_int_or_a_fixed_tuple(name: str) -> None:
    """Stale handles everywhere: the failure still has the full shape, outputs None."""
    outputs = [n for n, k in PROTOTYPES[name] if k in RETURNED_KINDS]
    stack = stack_with()
    try:
        EventApp(stack)  # so that the failures are about the handles, not UNINITIALIZED
        args: dict[str, Any] = {}
        for n, k in PROTOTYPES[name]:
            if k == "out":
                continue
            pname = _python_name(n, k)
            if pname.startswith("h"):
                args[pname] = 0x7FFF_FFF0  # never issued
            elif pname.startswith("dw") or pname == "bEnable":
                args[pname] = 0 if pname != "dwRequestMode" else C.LINEREQUESTMODE_MAKECALL
        if name == "tapiRequestMakeCall":
            args = {"lpszDestAddress": "5551234"}  # no recipient: TAPIERR_NOREQUESTRECIPIENT
        if name == "lineInitialize":
            args = {"lpfnCallback": None}  # NULL callback: LINEERR_INVALPOINTER (case 2)
        if name == "lineInitializeEx":
            args = {
                "lpszFriendlyAppName": "x",
                "dwAPIVersion": 0x00020002,
                "lpLineInitializeExParams": LINEINITIALIZEEXPARAMS(dwOptions=77),
            }
        result = getattr(stack, name)(**args)
        if outputs:
            assert isinstance(result, tuple) and len(result) == 1 + len(outputs), result
            rc, *outs = result
            assert rc < 0 and all(o is None for o in outs), result
        else:
            assert type(result) is int and result < 0, result
    finally:
        stack.close()


def test_null_output_pointers_return_what_c_returns() -> None:
    """lpX=None models a NULL pointer: LINEERR_INVALPOINTER, with the full tuple shape."""
    stack = stack_with()
    try:
        assert stack.lineInitialize(None, lambda *a: None, "a", lphLineApp=None) == (
            C.LINEERR_INVALPOINTER,
            None,
            None,
        )
        assert stack.lineInitialize(None, lambda *a: None, "a", lpdwNumDevs=None) == (
            C.LINEERR_INVALPOINTER,
            None,
            None,
        )
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, *outs = stack.lineInitializeEx(None, None, "a", 0x00020002, params, lpdwNumDevs=None)
        assert rc == C.LINEERR_INVALPOINTER and outs == [None] * 4
        app = EventApp(stack)
        assert stack.lineNegotiateAPIVersion(app.h, 0, 0x10003, 0x20002, lpdwAPIVersion=None) == (
            C.LINEERR_INVALPOINTER,
            None,
            None,
        )
        assert stack.lineOpen(
            app.h,
            0,
            0x20002,
            0,
            0,
            C.LINECALLPRIVILEGE_OWNER,
            C.LINEMEDIAMODE_DATAMODEM,
            lphLine=None,
        ) == (C.LINEERR_INVALPOINTER, None)
        assert stack.lineGetMessage(app.h, 0, lpMessage=None) == (C.LINEERR_INVALPOINTER, None)
        assert stack.lineGetDevCaps(app.h, 0, 0x20002, 0, None) == (C.LINEERR_INVALPOINTER, None)
        hLine = app.open()
        assert stack.lineGetNumRings(hLine, 0, lpdwNumRings=None) == (C.LINEERR_INVALPOINTER, None)
        assert stack.lineMakeCall(hLine, "5551234", 0, None, lphCall=None) == (
            C.LINEERR_INVALPOINTER,
            None,
        )
    finally:
        stack.close()


def test_variable_size_structures_in_c_order_honour_dwtotalsize() -> None:
    stack = stack_with()
    try:
        app = EventApp(stack)
        hLine = app.open()
        # lineGetID in C order: the VARSTRING before the device class (rules.md §7 case 54).
        rc, vs = stack.lineGetID(hLine, 0, 0, C.LINECALLSELECT_LINE, VARSTRING(), "tapi/line")
        # Room for the fixed part only: success, dwNeededSize says how much to allocate.
        assert rc == 0 and vs is not None and vs.dwNeededSize > vs.dwUsedSize
        big = VARSTRING(dwTotalSize=vs.dwNeededSize)
        rc, vs = stack.lineGetID(hLine, 0, 0, C.LINECALLSELECT_LINE, big, "tapi/line")
        assert rc == 0 and vs is not None and vs.dwUsedSize == vs.dwNeededSize
        small = VARSTRING(dwTotalSize=8)
        assert stack.lineGetID(hLine, 0, 0, C.LINECALLSELECT_LINE, small, "tapi/line")[0] == (
            C.LINEERR_STRUCTURETOOSMALL
        )
        rc, caps = stack.lineGetDevCaps(app.h, 0, 0x20002, 0, LINEDEVCAPS(dwTotalSize=8))
        assert (rc, caps) == (C.LINEERR_STRUCTURETOOSMALL, None)
        rc, caps = stack.lineGetDevCaps(app.h, 0, 0x20002, 0)  # omitted: allocated
        assert rc == 0 and caps is not None and caps.dwUsedSize == caps.dwNeededSize
    finally:
        stack.close()
