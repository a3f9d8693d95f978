"""Line functions: lineOpen variants, capabilities, status, lineGetID, rings, devices."""

from __future__ import annotations

from tapi_helpers import DATAMODEM, MONITOR, NONE, OWNER, V20, V22, EventApp, ht_of, stack_with

from tapi import constants as C
from tapi.providers.base import LineCaps
from tapi.providers.fake import FakeLine, FakeProvider
from tapi.stack import Stack
from tapi.structs import LINECALLPARAMS, LINEDEVCAPS


def test_lineopen_error_list() -> None:
    line = FakeLine()
    s = stack_with(line)
    assert s.lineOpen(1, 0, V22, 0, 0, OWNER, DATAMODEM)[0] == C.LINEERR_UNINITIALIZED
    a = EventApp(s)
    cases = [
        ((a.h + 1000, 0, V22, 0, 0, OWNER, DATAMODEM), C.LINEERR_INVALAPPHANDLE),
        ((a.h, 1, V22, 0, 0, OWNER, DATAMODEM), C.LINEERR_BADDEVICEID),
        ((a.h, 0, 0x00040000, 0, 0, OWNER, DATAMODEM), C.LINEERR_INCOMPATIBLEAPIVERSION),
        ((a.h, 0, 0x00010002, 0, 0, OWNER, DATAMODEM), C.LINEERR_INCOMPATIBLEAPIVERSION),
        ((a.h, 0, V22, 1, 0, OWNER, DATAMODEM), C.LINEERR_INCOMPATIBLEEXTVERSION),
        ((a.h, 0, V22, 0, 0, 0, DATAMODEM), C.LINEERR_INVALPRIVSELECT),
        ((a.h, 0, V22, 0, 0, 8, DATAMODEM), C.LINEERR_INVALPRIVSELECT),
        ((a.h, 0, V22, 0, 0, NONE | MONITOR, 0), C.LINEERR_INVALPRIVSELECT),
        ((a.h, 0, V22, 0, 0, OWNER | C.LINEOPENOPTION_PROXY, DATAMODEM),
         C.LINEERR_OPERATIONUNAVAIL),
        ((a.h, 0, V22, 0, 0, OWNER | C.LINEOPENOPTION_SINGLEADDRESS, DATAMODEM),
         C.LINEERR_INVALADDRESSID),
        ((a.h, 0, V22, 0, 0, OWNER, 0), C.LINEERR_INVALMEDIAMODE),
        ((a.h, 0, V22, 0, 0, OWNER, 0x10000), C.LINEERR_INVALMEDIAMODE),
        ((a.h, C.LINEMAPPER, V22, 0, 0, OWNER, DATAMODEM), C.LINEERR_INVALPOINTER),
    ]  # fmt: skip
    for args, code in cases:
        assert s.lineOpen(*args) == (code, None), args
    assert s.lineOpen(a.h, 0, V22, 0, 0, OWNER, DATAMODEM, lphLine=None)[0] == (
        C.LINEERR_INVALPOINTER
    )
    assert line.log == []  # nothing reached the provider
    line.open_result = C.LINEERR_ALLOCATED
    assert s.lineOpen(a.h, 0, V22, 0, 0, OWNER, DATAMODEM) == (C.LINEERR_ALLOCATED, None)
    line.open_result = 0
    single = LINECALLPARAMS(dwAddressMode=C.LINEADDRESSMODE_ADDRESSID, dwAddressID=0)
    rc, hL = s.lineOpen(
        a.h, 0, V22, 0, 0, OWNER | C.LINEOPENOPTION_SINGLEADDRESS, DATAMODEM, single
    )
    assert rc == 0 and hL is not None
    # NONE and MONITOR ignore dwMediaModes; the same app may open a line several times.
    assert s.lineOpen(a.h, 0, V22, 0, 0, NONE, 0xFFFF)[0] == 0
    assert s.lineOpen(a.h, 0, V22, 0, 0, MONITOR, 0)[0] == 0
    assert line.log.count(("open",)) == 2  # the refused attempt, then the first open only


def test_linemapper_picks_the_first_matching_device() -> None:
    voice = FakeLine("voice", caps=LineCaps("voice", media_modes=C.LINEMEDIAMODE_INTERACTIVEVOICE))
    data = FakeLine("data")
    s = stack_with(voice, data)
    a = EventApp(s)
    params = LINECALLPARAMS(dwMediaMode=DATAMODEM)
    rc, hL = s.lineOpen(a.h, C.LINEMAPPER, V22, 0, 0, NONE, 0, params)
    assert rc == 0 and hL is not None
    rc, vs = s.lineGetID(hL, 0, 0, C.LINECALLSELECT_LINE, lpszDeviceClass="TAPI/LINE")
    assert rc == 0 and vs is not None and vs.String == (1).to_bytes(4, "little")
    fax = LINECALLPARAMS(dwMediaMode=C.LINEMEDIAMODE_G3FAX)
    assert s.lineOpen(a.h, C.LINEMAPPER, V22, 0, 0, NONE, 0, fax)[0] == (
        C.LINEERR_LINEMAPPERFAILED
    )


def test_devcaps_report_the_modem_values_and_honour_sizes() -> None:
    caps = LineCaps("Office modem", dev_cap_flags=C.LINEDEVCAPFLAGS_CLOSEDROP | 0x40)
    s = stack_with(FakeLine(caps=caps))
    a = EventApp(s)
    rc, dc = s.lineGetDevCaps(a.h, 0, V22, 0)
    assert rc == 0 and isinstance(dc, LINEDEVCAPS)
    assert dc.LineName == "Office modem" and dc.ProviderInfo == "UNIMODEM"
    assert dc.dwMediaModes & DATAMODEM
    assert dc.dwBearerModes == C.LINEBEARERMODE_VOICE | C.LINEBEARERMODE_PASSTHROUGH
    assert dc.dwDevCapFlags == C.LINEDEVCAPFLAGS_CLOSEDROP | C.LINEDEVCAPFLAGS_DIALBILLING
    assert dc.dwLineFeatures == C.LINEFEATURE_MAKECALL
    assert (dc.dwNumAddresses, dc.dwMaxNumActiveCalls, dc.dwRingModes) == (1, 1, 1)
    assert dc.dwStringFormat == C.STRINGFORMAT_ASCII
    assert {"comm", "comm/datamodem", "comm/datamodem/portname", "tapi/line"} <= set(
        dc.DeviceClasses
    )
    fixed = LINEDEVCAPS.fixed_size(V22)
    small = LINEDEVCAPS(dwTotalSize=fixed)
    rc, same = s.lineGetDevCaps(a.h, 0, V22, 0, lpLineDevCaps=small)
    assert rc == 0 and same is small and small.LineName == ""
    assert small.dwNeededSize == dc.dwNeededSize > small.dwUsedSize == fixed
    assert s.lineGetDevCaps(a.h, 0, 0x00050000, 0)[0] == C.LINEERR_INCOMPATIBLEAPIVERSION
    rc, ac = s.lineGetAddressCaps(a.h, 0, 0, V22, 0)
    assert rc == 0 and ac is not None
    assert ac.dwCallFeatures == (
        C.LINECALLFEATURE_ACCEPT | C.LINECALLFEATURE_ANSWER | C.LINECALLFEATURE_DROP
        | C.LINECALLFEATURE_SETCALLPARAMS
    )  # fmt: skip
    assert ac.dwAddressFeatures == C.LINEADDRFEATURE_MAKECALL
    assert ac.dwCallerIDFlags == C.LINECALLPARTYID_UNAVAIL
    assert ac.dwMaxNumActiveCalls == 1
    assert s.lineGetAddressCaps(a.h, 0, 1, V22, 0)[0] == C.LINEERR_INVALADDRESSID


def test_negotiate_picks_the_highest_common_version() -> None:
    s = stack_with(FakeLine(caps=LineCaps("old", api_high=C.TAPI_VERSION2_0)))
    a = EventApp(s)
    assert s.lineNegotiateAPIVersion(a.h, 0, 0x00010004, 0x00030000)[:2] == (0, V20)
    assert s.lineNegotiateAPIVersion(a.h, 0, 0x00010003, 0x00010004)[:2] == (0, 0x00010004)
    assert s.lineNegotiateAPIVersion(a.h, 0, 0x00020001, 0x00020000)[0] == (
        C.LINEERR_INCOMPATIBLEAPIVERSION
    )
    assert s.lineNegotiateAPIVersion(a.h, 3, 0x10003, 0x20000)[0] == C.LINEERR_BADDEVICEID


def test_line_and_address_status_follow_the_calls() -> None:
    line = FakeLine()
    s = stack_with(line)
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hL = a.open()
    b.open(privileges=MONITOR, media=0)
    rc, st = s.lineGetLineDevStatus(hL)
    assert rc == 0 and st is not None
    assert (st.dwNumOpens, st.dwNumActiveCalls, st.dwOpenMediaModes) == (2, 0, DATAMODEM)
    assert st.dwLineFeatures == C.LINEFEATURE_MAKECALL
    assert st.dwDevStatusFlags == C.LINEDEVSTATUSFLAGS_CONNECTED | C.LINEDEVSTATUSFLAGS_INSERVICE
    _rid, hc = s.lineMakeCall(hL, "555")
    assert hc is not None
    rc, st = s.lineGetLineDevStatus(hL)
    assert st is not None and st.dwNumActiveCalls == 1 and st.dwLineFeatures == 0
    rc, ast = s.lineGetAddressStatus(hL, 0)
    assert rc == 0 and ast is not None
    assert (ast.dwNumInUse, ast.dwNumActiveCalls, ast.dwAddressFeatures) == (1, 1, 0)
    assert s.lineGetAddressStatus(hL, 1)[0] == C.LINEERR_INVALADDRESSID


def test_set_status_messages_rejects_unknown_bits() -> None:
    s = stack_with()
    a = EventApp(s)
    hL = a.open()
    assert s.lineSetStatusMessages(hL, 0x02000000, 0) == C.LINEERR_INVALLINESTATE
    assert s.lineSetStatusMessages(hL, 0, 0x200) == C.LINEERR_INVALADDRESSSTATE
    assert s.lineSetStatusMessages(hL + 99, 0, 0) == C.LINEERR_INVALLINEHANDLE
    assert s.lineSetStatusMessages(hL, C.LINEDEVSTATE_RINGING, C.LINEADDRESSSTATE_INUSEZERO) == 0


def test_num_rings_default_minimum_and_forgotten_on_close() -> None:
    s = stack_with()
    a, b = EventApp(s, "A"), EventApp(s, "B")
    hLA, hLB = a.open(), b.open(privileges=MONITOR, media=0)
    assert s.lineGetNumRings(hLA, 0) == (0, 0xFFFFFFFF)
    assert s.lineSetNumRings(hLB, 0, 2) == 0
    assert s.lineSetNumRings(hLA, 0, 4) == 0
    assert s.lineGetNumRings(hLA, 0) == (0, 2)
    assert s.lineClose(hLB) == 0
    assert s.lineGetNumRings(hLA, 0) == (0, 4)
    assert s.lineSetNumRings(hLA, 1, 4) == C.LINEERR_INVALADDRESSID
    assert s.lineGetNumRings(hLA, 0, lpdwNumRings=None) == (C.LINEERR_INVALPOINTER, None)


def test_getid_classes_and_the_data_port_of_a_connected_call() -> None:
    line = FakeLine(port_name="vmodem://m0")
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    rc, vs = s.lineGetID(
        hL, 0, 0, C.LINECALLSELECT_ADDRESS, lpszDeviceClass="comm/datamodem/portname"
    )
    assert rc == 0 and vs is not None and vs.String == "vmodem://m0"
    assert vs.dwStringFormat == C.STRINGFORMAT_ASCII
    _rid, hc = s.lineMakeCall(hL, "555")
    assert hc is not None
    rc, vs = s.lineGetID(0, 0, hc, C.LINECALLSELECT_CALL, lpszDeviceClass="comm/datamodem")
    assert rc == 0 and vs is not None and vs.hComm is None  # not connected yet
    line.connect(ht_of(s, hc))
    rc, vs = s.lineGetID(0, 0, hc, C.LINECALLSELECT_CALL, lpszDeviceClass="Comm/DataModem")
    assert rc == 0 and vs is not None and vs.hComm is line.data_port
    assert vs.String == b"\0\0\0\0vmodem://m0\0"
    assert s.lineGetID(hL, 0, 0, 0x8, lpszDeviceClass="comm")[0] == C.LINEERR_INVALCALLSELECT
    assert (
        s.lineGetID(hL, 0, 0, C.LINECALLSELECT_LINE, lpszDeviceClass=None)[0]
        == C.LINEERR_INVALPOINTER
    )
    assert (
        s.lineGetID(0, 0, 77, C.LINECALLSELECT_CALL, lpszDeviceClass="comm")[0]
        == C.LINEERR_INVALCALLHANDLE
    )


def test_device_created_reaches_new_and_old_apps() -> None:
    first = FakeLine()
    provider = FakeProvider([first])
    s = Stack([provider])
    new = EventApp(s, "new", version=V20)
    old = EventApp(s, "old", version=C.TAPI_VERSION1_0)
    second = FakeLine("second")
    assert first.events is not None
    provider.add_line(second, first.events)
    assert new.messages() == [("LINE_CREATE", 0, 1, 0, 0)]
    assert old.messages() == [("LINE_LINEDEVSTATE", 0, C.LINEDEVSTATE_REINIT, C.LINE_CREATE, 1)]
    assert new.open(device=1) > 0
    rc, _h, n = s.lineInitialize(None, lambda *a: None, "late")
    assert rc == 0 and n == 2
    s.close()
    assert provider.shut_down
