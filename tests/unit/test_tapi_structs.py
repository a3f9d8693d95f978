"""tapi.structs: Microsoft field names, C sizes, and the dwTotalSize rules of `fit`."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapi.constants import (
    LINECALLPARTYID_ADDRESS,
    LINECALLPARTYID_NAME,
    LINEERR_STRUCTURETOOSMALL,
    LINEMEDIAMODE_DATAMODEM,
    STRINGFORMAT_BINARY,
)
from tapi.structs import (
    LINEADDRESSCAPS,
    LINEADDRESSSTATUS,
    LINECALLINFO,
    LINECALLLIST,
    LINECALLPARAMS,
    LINECALLSTATUS,
    LINEDEVCAPS,
    LINEDEVSTATUS,
    LINEINITIALIZEEXPARAMS,
    LINEMESSAGE,
    LINEREQMAKECALL,
    VARSTRING,
    VarStruct,
    fit,
)

V13, V14, V20, V22, V30 = 0x00010003, 0x00010004, 0x00020000, 0x00020002, 0x00030000

# sizeof() of the 32-bit C structures per API version (tapi.h, pack(1)).
SIZES: list[tuple[type[VarStruct], int, int]] = [
    (LINEDEVCAPS, V13, 236),
    (LINEDEVCAPS, V14, 240),
    (LINEDEVCAPS, V20, 252),
    (LINEDEVCAPS, V22, 268),
    (LINECALLINFO, V14, 296),
    (LINECALLINFO, V20, 324),
    (LINECALLINFO, V30, 344),
    (LINEADDRESSCAPS, V13, 176),
    (LINEADDRESSCAPS, V14, 180),
    (LINEADDRESSCAPS, V20, 228),
    (LINECALLPARAMS, V14, 112),
    (LINECALLPARAMS, V20, 176),
    (LINECALLPARAMS, V30, 180),
    (LINECALLSTATUS, V14, 36),
    (LINECALLSTATUS, V20, 56),
    (LINEDEVSTATUS, V14, 76),
    (LINEDEVSTATUS, V20, 88),
    (LINEADDRESSSTATUS, V20, 64),
    (VARSTRING, V20, 24),
    (LINECALLLIST, V20, 24),
    (LINEINITIALIZEEXPARAMS, V20, 24),
]
VAR_STRUCTS = sorted({cls for cls, _, _ in SIZES}, key=lambda c: c.__name__)


@pytest.mark.parametrize(("cls", "version", "size"), SIZES)
def test_fixed_size_matches_c_sizeof(cls: type[VarStruct], version: int, size: int) -> None:
    assert cls.fixed_size(version) == size


@pytest.mark.parametrize("cls", VAR_STRUCTS)
def test_layout_names_are_fields_and_default_total_size_is_sizeof(cls: type[VarStruct]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    union_members = {"hEvent"}
    for name, _, _ in cls._LAYOUT:
        assert name in names or name in union_members, name
    layout = {name for name, _, _ in cls._LAYOUT}
    for var in cls._VARS:
        assert var.attr in names
        assert {var.size_field, var.offset_field} <= layout
    assert cls().dwTotalSize == cls.FIXED_SIZE


def caller_info(**kw: object) -> LINECALLINFO:
    info = LINECALLINFO(
        dwMediaMode=LINEMEDIAMODE_DATAMODEM,
        dwCallerIDFlags=LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME,
        CallerID="5551234",
        CallerIDName="JOHN DOE",
        AppName="dialer",
    )
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def test_too_small_for_fixed_part_is_structuretoosmall_and_touches_nothing() -> None:
    info = caller_info(dwTotalSize=8)
    assert fit(info) == LINEERR_STRUCTURETOOSMALL
    assert (info.dwNeededSize, info.dwUsedSize, info.dwCallerIDSize) == (0, 0, 0)
    assert info.CallerID == "5551234"


def test_fixed_part_only_reports_needed_size_and_zeroes_variable_members() -> None:
    info = caller_info()
    assert info.dwTotalSize == 344
    assert fit(info) == 0
    assert info.dwNeededSize == 344 + len("5551234\0") + len("JOHN DOE\0") + len("dialer\0")
    assert info.dwUsedSize == 344
    assert (info.dwCallerIDSize, info.dwCallerIDOffset) == (0, 0)
    assert (info.CallerID, info.CallerIDName, info.AppName) == ("", "", "")
    assert info.dwCallerIDFlags == LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME
    assert info.dwMediaMode == LINEMEDIAMODE_DATAMODEM


def test_big_enough_lays_out_variable_members_after_fixed_part() -> None:
    info = caller_info(dwTotalSize=1024)
    assert fit(info) == 0
    assert info.dwNeededSize == info.dwUsedSize == 344 + 8 + 9 + 7
    assert (info.dwCallerIDOffset, info.dwCallerIDSize) == (344, 8)
    assert (info.dwCallerIDNameOffset, info.dwCallerIDNameSize) == (352, 9)
    assert (info.dwAppNameOffset, info.dwAppNameSize) == (361, 7)
    assert (info.dwCommentSize, info.dwCommentOffset) == (0, 0)
    assert info.CallerID == "5551234"


def test_grow_models_an_omitted_parameter() -> None:
    info = caller_info()
    assert fit(info, grow=True) == 0
    assert info.dwTotalSize == info.dwNeededSize == info.dwUsedSize == 368
    assert info.CallerIDName == "JOHN DOE"


def test_older_api_version_accepts_its_smaller_struct_and_hides_newer_members() -> None:
    caps = LINEDEVCAPS(
        dwTotalSize=240 + 100, LineName="Modem", DeviceClasses=["comm", "tapi/line"]
    )
    assert fit(caps, api_version=V14) == 0
    assert caps.dwLineNameOffset == 240
    assert caps.dwLineNameSize == 6
    assert (caps.dwDeviceClassesSize, caps.dwDeviceClassesOffset) == (0, 0)
    assert caps.dwNeededSize == 246
    assert fit(LINEDEVCAPS(dwTotalSize=239), api_version=V14) == LINEERR_STRUCTURETOOSMALL


def test_device_classes_are_a_double_nul_terminated_list() -> None:
    caps = LINEDEVCAPS(dwTotalSize=4096, DeviceClasses=["comm", "comm/datamodem"])
    assert fit(caps) == 0
    assert caps.dwDeviceClassesSize == len(b"comm\0comm/datamodem\0\0")


def test_call_list_counts_entries_only_when_they_fit() -> None:
    calls = LINECALLLIST(dwTotalSize=24 + 8, Calls=[0x10001, 0x10002])
    assert fit(calls) == 0
    assert (calls.dwCallsNumEntries, calls.dwCallsSize, calls.dwCallsOffset) == (2, 8, 24)
    small = LINECALLLIST(Calls=[0x10001, 0x10002])
    assert fit(small) == 0
    assert (small.dwNeededSize, small.dwUsedSize, small.dwCallsNumEntries) == (32, 24, 0)
    assert small.Calls == []


def test_varstring_comm_datamodem_carries_the_port_object() -> None:
    port = object()
    vs = VARSTRING(dwTotalSize=200)
    vs.set_comm_datamodem("/dev/pts/7", port)
    assert fit(vs) == 0
    assert vs.dwStringFormat == STRINGFORMAT_BINARY
    assert vs.dwStringSize == 4 + len("/dev/pts/7") + 1
    assert vs.hComm is port
    small = VARSTRING()
    small.set_comm_datamodem("/dev/pts/7", port)
    assert fit(small) == 0
    assert small.String == b""
    assert small.dwNeededSize == 24 + 15


def test_call_params_is_an_input_structure_without_needed_size() -> None:
    params = LINECALLPARAMS(dwMediaMode=LINEMEDIAMODE_DATAMODEM, CalledParty="Bob")
    assert fit(params, grow=True) == 0
    assert params.dwTotalSize == 184
    assert (params.dwCalledPartyOffset, params.dwCalledPartySize) == (180, 4)
    assert not hasattr(params, "dwNeededSize")


def test_reqmakecall_truncates_to_the_c_arrays() -> None:
    req = LINEREQMAKECALL.create("1" * 200, "a" * 50, "b" * 50, "c" * 100)
    assert (len(req.szDestAddress), len(req.szAppName)) == (79, 39)
    assert (len(req.szCalledParty), len(req.szComment)) == (39, 79)
    assert LINEREQMAKECALL.SIZE == 240


def test_linemessage_is_immutable_and_names_itself() -> None:
    msg = LINEMESSAGE(hDevice=5, dwMessageID=2, dwParam1=0x100)
    assert "LINE_CALLSTATE" in repr(msg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.dwParam1 = 1  # type: ignore[misc]
    assert msg == LINEMESSAGE(5, 2, 0, 0x100)


@given(
    total=st.integers(min_value=0, max_value=500),
    caller=st.text(max_size=20),
    name=st.text(max_size=20),
    modes=st.lists(st.integers(min_value=0, max_value=0xFFFFFFFF), max_size=4),
)
def test_fit_invariants(total: int, caller: str, name: str, modes: list[int]) -> None:
    info = LINECALLINFO(dwTotalSize=total, CallerID=caller, CallerIDName=name, TerminalModes=modes)
    rc = fit(info)
    if total < 344:
        assert rc == LINEERR_STRUCTURETOOSMALL
        return
    assert rc == 0
    assert info.dwUsedSize <= info.dwTotalSize
    spans = [
        (info.dwCallerIDOffset, info.dwCallerIDSize),
        (info.dwCallerIDNameOffset, info.dwCallerIDNameSize),
        (info.dwTerminalModesOffset, info.dwTerminalModesSize),
    ]
    if info.dwNeededSize <= total:
        assert info.dwUsedSize == info.dwNeededSize
        assert info.dwTerminalModesSize == 4 * len(modes)
        used = sorted((off, size) for off, size in spans if size)
        end = 344
        for off, size in used:
            assert off >= end
            end = off + size
        assert end == info.dwUsedSize
    else:
        assert info.dwUsedSize == 344
        assert all(span == (0, 0) for span in spans)
