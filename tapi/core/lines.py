"""Flat functions on HLINEAPPs and HLINEs (rules.md §2.1-2.7, 2.14, 2.20, 2.21, 2.25)."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from tapi import constants as C
from tapi.core.args import (
    ALL_ADDRESSSTATES,
    ALL_LINEDEVSTATES,
    ALL_MEDIAMODES,
    OUT,
    is_dword,
    is_text,
    lookup,
)
from tapi.core.callstate import active_calls
from tapi.core.records import App, CallHandle, Device, LineOpen
from tapi.core.state import TAPI_HIGH, TAPI_LOW, CoreState, default_app_name, to_linemessage
from tapi.providers.base import CallParams, DeviceID, LineCaps
from tapi.structs import (
    LINEADDRESSCAPS,
    LINEADDRESSSTATUS,
    LINECALLPARAMS,
    LINEDEVCAPS,
    LINEDEVSTATUS,
    LINEEXTENSIONID,
    LINEINITIALIZEEXPARAMS,
    LINEMESSAGE,
    VARSTRING,
    VarStruct,
    fit,
)

log = logging.getLogger("tapi.core")

S = TypeVar("S", bound=VarStruct)

_CALLSTATES_MODEM = (
    C.LINECALLSTATE_IDLE
    | C.LINECALLSTATE_OFFERING
    | C.LINECALLSTATE_ACCEPTED
    | C.LINECALLSTATE_DIALTONE
    | C.LINECALLSTATE_DIALING
    | C.LINECALLSTATE_PROCEEDING
    | C.LINECALLSTATE_RINGBACK
    | C.LINECALLSTATE_BUSY
    | C.LINECALLSTATE_CONNECTED
    | C.LINECALLSTATE_DISCONNECTED
    | C.LINECALLSTATE_UNKNOWN
)


def out_struct(arg: object, cls: type[S], api_version: int) -> tuple[S | None, bool, int]:
    """Resolve a caller-allocated variable structure: (struct, grow, 0) or (None, _, rc).

    OUT (omitted) allocates one big enough; None is a NULL pointer; a struct whose
    dwTotalSize is below the fixed part is STRUCTURETOOSMALL before anything is filled.
    """
    if arg is OUT:
        return cls(), True, 0
    if not isinstance(arg, cls):
        return None, False, C.LINEERR_INVALPOINTER
    if not is_dword(arg.dwTotalSize) or arg.dwTotalSize < cls.fixed_size(api_version):
        return None, False, C.LINEERR_STRUCTURETOOSMALL
    return arg, False, 0


def call_params_of(params: LINECALLPARAMS | None) -> CallParams:
    if params is None:
        return CallParams()
    return CallParams(
        media_mode=params.dwMediaMode or C.LINEMEDIAMODE_INTERACTIVEVOICE,
        bearer_mode=params.dwBearerMode or C.LINEBEARERMODE_VOICE,
        address_id=params.dwAddressID,
        flags=params.dwCallParamFlags,
        min_rate=params.dwMinRate,
        max_rate=params.dwMaxRate,
    )


def call_params_or_error(params: object, caps: LineCaps) -> CallParams | int:
    """The CallParams of a valid LINECALLPARAMS (NULL: a voice call), or its LINEERR."""
    rc = check_call_params(params, caps)
    if rc:
        return rc
    assert params is None or isinstance(params, LINECALLPARAMS)
    return call_params_of(params)


def check_call_params(params: object, caps: LineCaps) -> int:
    """Validate a LINECALLPARAMS against a device (lineMakeCall, lineOpen LINEMAPPER).
    NULL params mean a 3.1 kHz voice call, which the device must support too."""
    if params is None:
        params = LINECALLPARAMS()
    if not isinstance(params, LINECALLPARAMS):
        return C.LINEERR_INVALPOINTER
    if not is_dword(params.dwTotalSize) or params.dwTotalSize < LINECALLPARAMS.fixed_size(
        C.TAPI_VERSION1_0
    ):
        return C.LINEERR_STRUCTURETOOSMALL
    for name in ("dwBearerMode", "dwMediaMode", "dwAddressMode", "dwAddressID", "dwMinRate",
                 "dwMaxRate", "dwCallParamFlags"):  # fmt: skip
        if not is_dword(getattr(params, name)):
            return C.LINEERR_INVALCALLPARAMS
    bearer = params.dwBearerMode or C.LINEBEARERMODE_VOICE
    media = params.dwMediaMode or C.LINEMEDIAMODE_INTERACTIVEVOICE
    if bearer & (bearer - 1) or bearer & ~0xFF:
        return C.LINEERR_INVALBEARERMODE
    if not bearer & caps.bearer_modes:
        return C.LINEERR_BEARERMODEUNAVAIL
    if media & (media - 1) or media & ~ALL_MEDIAMODES:
        return C.LINEERR_INVALMEDIAMODE
    if not media & caps.media_modes:
        return C.LINEERR_INVALMEDIAMODE
    if params.dwAddressMode not in (
        0,
        C.LINEADDRESSMODE_ADDRESSID,
        C.LINEADDRESSMODE_DIALABLEADDR,
    ):
        return C.LINEERR_INVALADDRESSMODE
    if params.dwAddressID >= caps.num_addresses:
        return C.LINEERR_INVALADDRESSID
    if params.dwMaxRate and params.dwMinRate > params.dwMaxRate:
        return C.LINEERR_INVALRATE
    if params.dwMinRate > caps.max_rate:
        return C.LINEERR_RATEUNAVAIL
    return 0


class LineFunctions(CoreState):
    """lineInitialize(Ex), lineShutdown, lineOpen, lineClose and the line queries."""

    # -- shared checks ---------------------------------------------------------------------
    def version_ok(self, device: Device, dwAPIVersion: object, dwExtVersion: object) -> int:
        if not is_dword(dwAPIVersion):
            return C.LINEERR_INCOMPATIBLEAPIVERSION
        assert isinstance(dwAPIVersion, int)
        caps = device.line.caps()
        if not max(TAPI_LOW, caps.api_low) <= dwAPIVersion <= min(TAPI_HIGH, caps.api_high):
            return C.LINEERR_INCOMPATIBLEAPIVERSION
        if dwExtVersion != 0:
            return C.LINEERR_INCOMPATIBLEEXTVERSION
        return 0

    # -- lineInitialize / lineInitializeEx / lineShutdown ----------------------------------
    def _new_app(self, name: str | None, version: int, options: int, **delivery: Any) -> App:
        handoff = name if name else default_app_name()
        app = App(self.tables.new_handle(), name or default_app_name(), handoff, version, options)
        for key, value in delivery.items():
            setattr(app, key, value)
        app.recallable = options != C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT
        self.tables.apps[app.hLineApp] = app
        self.outbox.opened(app)
        return app

    def lineInitialize(
        self,
        hInstance: object = None,
        lpfnCallback: Any = None,
        lpszAppName: str | None = None,
        *,
        lphLineApp: Any = OUT,
        lpdwNumDevs: Any = OUT,
    ) -> tuple[int, int | None, int | None]:
        """TAPI 1.x initialisation: lineInitializeEx with the hidden-window (callback)
        option. Returns (rc, hLineApp, dwNumDevs)."""
        with self.op():
            if self.config_error is not None:
                log.error("lineInitialize: the line configuration: %s", self.config_error)
                return C.LINEERR_INIFILECORRUPT, None, None
            if lphLineApp is None or lpdwNumDevs is None or not callable(lpfnCallback):
                return C.LINEERR_INVALPOINTER, None, None
            if lpszAppName is not None and not is_text(lpszAppName):
                return C.LINEERR_INVALAPPNAME, None, None
            app = self._new_app(
                lpszAppName,
                C.TAPI_VERSION1_0,
                C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW,
                callback=lpfnCallback,
            )
            return 0, app.hLineApp, len(self.tables.devices)

    def lineInitializeEx(
        self,
        hInstance: object = None,
        lpfnCallback: Any = None,
        lpszFriendlyAppName: str | None = None,
        dwAPIVersion: int | None = None,
        lpLineInitializeExParams: LINEINITIALIZEEXPARAMS | None = None,
        *,
        lphLineApp: Any = OUT,
        lpdwNumDevs: Any = OUT,
    ) -> tuple[int, int | None, int | None, int | None, LINEINITIALIZEEXPARAMS | None]:
        """Returns (rc, hLineApp, dwNumDevs, dwAPIVersion, lpLineInitializeExParams): the
        params come back with the sizes filled in (the driver adds hEvent for USEEVENT)."""
        fail = (None, None, None, None)
        with self.op():
            if self.config_error is not None:
                log.error("lineInitializeEx: the line configuration: %s", self.config_error)
                return (C.LINEERR_INIFILECORRUPT, *fail)
            params = lpLineInitializeExParams
            if lphLineApp is None or lpdwNumDevs is None or not is_dword(dwAPIVersion):
                return (C.LINEERR_INVALPOINTER, *fail)
            assert isinstance(dwAPIVersion, int)
            if not isinstance(params, LINEINITIALIZEEXPARAMS):
                return (C.LINEERR_INVALPOINTER, *fail)
            if not is_dword(params.dwTotalSize) or params.dwTotalSize < (
                LINEINITIALIZEEXPARAMS.fixed_size()
            ):
                return (C.LINEERR_STRUCTURETOOSMALL, *fail)
            if lpszFriendlyAppName is not None and not is_text(lpszFriendlyAppName):
                return (C.LINEERR_INVALAPPNAME, *fail)
            if not is_dword(params.dwOptions):
                return (C.LINEERR_INVALPARAM, *fail)
            option = params.dwOptions & ~C.LINEINITIALIZEEXOPTION_CALLHUBTRACKING
            delivery: dict[str, Any] = {}
            if option == C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW:
                if not callable(lpfnCallback):
                    return (C.LINEERR_INVALPOINTER, *fail)
                delivery["callback"] = lpfnCallback
            elif option == C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT:
                port = params.hCompletionPort
                if port is None or not callable(getattr(port, "put", None)):
                    return (C.LINEERR_INVALPOINTER, *fail)
                key = params.dwCompletionKey
                delivery["completion_port"] = port
                delivery["completion_key"] = key if is_dword(key) else 0
            elif option != C.LINEINITIALIZEEXOPTION_USEEVENT:
                return (C.LINEERR_INVALPARAM, *fail)
            app = self._new_app(lpszFriendlyAppName, dwAPIVersion, option, **delivery)
            params.dwNeededSize = params.dwUsedSize = LINEINITIALIZEEXPARAMS.fixed_size()
            return 0, app.hLineApp, len(self.tables.devices), TAPI_HIGH, params

    def lineShutdown(self, hLineApp: int) -> int:
        """R1: close every line of the app, drop its handles, cancel its requests (no
        LINE_REPLY), deregister assisted telephony, destroy its event/callback thread."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app
            self.tree.shutdown_app(app)
            return 0

    # -- versions and capabilities ---------------------------------------------------------
    def lineNegotiateAPIVersion(
        self,
        hLineApp: int,
        dwDeviceID: int,
        dwAPILowVersion: int,
        dwAPIHighVersion: int,
        *,
        lpdwAPIVersion: Any = OUT,
        lpExtensionID: Any = OUT,
    ) -> tuple[int, int | None, LINEEXTENSIONID | None]:
        """Returns (rc, dwAPIVersion, ExtensionID)."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app, None, None
            if lpdwAPIVersion is None or lpExtensionID is None:
                return C.LINEERR_INVALPOINTER, None, None
            device = self.tables.device_or_error(dwDeviceID)
            if isinstance(device, int):
                return device, None, None
            if not (is_dword(dwAPILowVersion) and is_dword(dwAPIHighVersion)):
                return C.LINEERR_INCOMPATIBLEAPIVERSION, None, None
            low = max(dwAPILowVersion, TAPI_LOW)
            best = device.line.negotiate_version(low, min(dwAPIHighVersion, TAPI_HIGH))
            if best < 0 or low > dwAPIHighVersion:
                return C.LINEERR_INCOMPATIBLEAPIVERSION, None, None
            app.api_version = max(app.api_version, best)
            ext = (
                lpExtensionID
                if isinstance(lpExtensionID, LINEEXTENSIONID)
                else (LINEEXTENSIONID())
            )
            ext.dwExtensionID0 = ext.dwExtensionID1 = ext.dwExtensionID2 = 0
            ext.dwExtensionID3 = 0
            return 0, best, ext

    def lineGetDevCaps(
        self,
        hLineApp: int,
        dwDeviceID: int,
        dwAPIVersion: int,
        dwExtVersion: int,
        lpLineDevCaps: Any = OUT,
    ) -> tuple[int, LINEDEVCAPS | None]:
        """Returns (rc, LINEDEVCAPS); honours a passed struct's dwTotalSize."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app, None
            device = self.tables.device_or_error(dwDeviceID)
            if isinstance(device, int):
                return device, None
            rc = self.version_ok(device, dwAPIVersion, dwExtVersion)
            if rc:
                return rc, None
            caps_s, grow, rc = out_struct(lpLineDevCaps, LINEDEVCAPS, dwAPIVersion)
            if caps_s is None:
                return rc, None
            caps = device.line.caps()
            caps_s.ProviderInfo = caps.provider_info
            caps_s.SwitchInfo = caps.switch_info
            caps_s.LineName = caps.line_name
            caps_s.dwPermanentLineID = caps.permanent_line_id
            caps_s.dwStringFormat = caps.string_format
            caps_s.dwAddressModes = C.LINEADDRESSMODE_ADDRESSID
            caps_s.dwNumAddresses = caps.num_addresses
            caps_s.dwBearerModes = caps.bearer_modes
            caps_s.dwMaxRate = caps.max_rate
            caps_s.dwMediaModes = caps.media_modes
            caps_s.dwDevCapFlags = caps.dev_cap_flags
            caps_s.dwMaxNumActiveCalls = caps.max_num_active_calls
            caps_s.dwAnswerMode = C.LINEANSWERMODE_NONE
            caps_s.dwRingModes = caps.num_ring_modes
            caps_s.dwLineStates = ALL_LINEDEVSTATES & ~C.LINEDEVSTATE_REMOVED
            caps_s.dwLineFeatures = caps.line_features
            caps_s.DeviceClasses = list(caps.device_classes)
            return fit(caps_s, api_version=dwAPIVersion, grow=grow), caps_s

    def lineGetAddressCaps(
        self,
        hLineApp: int,
        dwDeviceID: int,
        dwAddressID: int,
        dwAPIVersion: int,
        dwExtVersion: int,
        lpAddressCaps: Any = OUT,
    ) -> tuple[int, LINEADDRESSCAPS | None]:
        """Returns (rc, LINEADDRESSCAPS) with the modem values of rules.md §8.5."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app, None
            device = self.tables.device_or_error(dwDeviceID)
            if isinstance(device, int):
                return device, None
            caps = device.line.caps()
            if not is_dword(dwAddressID) or dwAddressID >= caps.num_addresses:
                return C.LINEERR_INVALADDRESSID, None
            rc = self.version_ok(device, dwAPIVersion, dwExtVersion)
            if rc:
                return rc, None
            s, grow, rc = out_struct(lpAddressCaps, LINEADDRESSCAPS, dwAPIVersion)
            if s is None:
                return rc, None
            s.dwLineDeviceID = device.device_id
            s.Address = caps.address
            s.dwAddressSharing = C.LINEADDRESSSHARING_PRIVATE
            s.dwCallInfoStates = (
                C.LINECALLINFOSTATE_NUMOWNERINCR
                | C.LINECALLINFOSTATE_NUMOWNERDECR
                | C.LINECALLINFOSTATE_NUMMONITORS
                | C.LINECALLINFOSTATE_CALLERID
                | C.LINECALLINFOSTATE_RATE
                | C.LINECALLINFOSTATE_MEDIAMODE
            )
            s.dwCallerIDFlags = caps.caller_id_flags
            s.dwCalledIDFlags = caps.called_id_flags
            s.dwConnectedIDFlags = C.LINECALLPARTYID_UNAVAIL
            s.dwRedirectionIDFlags = C.LINECALLPARTYID_UNAVAIL
            s.dwRedirectingIDFlags = C.LINECALLPARTYID_UNAVAIL
            s.dwCallStates = _CALLSTATES_MODEM
            s.dwDialToneModes = C.LINEDIALTONEMODE_UNAVAIL
            s.dwBusyModes = C.LINEBUSYMODE_UNAVAIL
            s.dwSpecialInfo = C.LINESPECIALINFO_UNAVAIL
            s.dwDisconnectModes = caps.disconnect_modes
            s.dwMaxNumActiveCalls = caps.max_num_active_calls
            s.dwAddrCapFlags = C.LINEADDRCAPFLAGS_DIALED | C.LINEADDRCAPFLAGS_PARTIALDIAL
            s.dwCallFeatures = caps.address_call_features
            s.dwAddressFeatures = caps.address_features
            s.dwConnectedModes = C.LINECONNECTEDMODE_ACTIVE
            s.dwOfferingModes = C.LINEOFFERINGMODE_ACTIVE
            s.dwAvailableMediaModes = caps.media_modes
            s.DeviceClasses = list(caps.device_classes)
            return fit(s, api_version=dwAPIVersion, grow=grow), s

    # -- lineOpen / lineClose --------------------------------------------------------------
    def _mapper(self, params: LINECALLPARAMS, dwAPIVersion: int) -> Device | int:
        for device in self.tables.devices:
            if device.removed:
                continue
            if self.version_ok(device, dwAPIVersion, 0):
                continue
            if check_call_params(params, device.line.caps()) == 0:
                return device
        return C.LINEERR_LINEMAPPERFAILED

    def lineOpen(
        self,
        hLineApp: int,
        dwDeviceID: int,
        dwAPIVersion: int,
        dwExtVersion: int,
        dwCallbackInstance: int,
        dwPrivileges: int,
        dwMediaModes: int,
        lpCallParams: LINECALLPARAMS | None = None,
        *,
        lphLine: Any = OUT,
    ) -> tuple[int, int | None]:
        """Returns (rc, hLine). NONE, MONITOR, OWNER (+MONITOR), media modes, LINEMAPPER."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app, None
            if lphLine is None:
                return C.LINEERR_INVALPOINTER, None
            if lpCallParams is not None and not isinstance(lpCallParams, LINECALLPARAMS):
                return C.LINEERR_INVALPOINTER, None
            device: Device | int
            if dwDeviceID == C.LINEMAPPER:
                if lpCallParams is None:
                    return C.LINEERR_INVALPOINTER, None
                if not is_dword(lpCallParams.dwTotalSize) or lpCallParams.dwTotalSize < (
                    LINECALLPARAMS.fixed_size(C.TAPI_VERSION1_0)
                ):
                    return C.LINEERR_STRUCTURETOOSMALL, None
                device = self._mapper(lpCallParams, dwAPIVersion)
            else:
                device = self.tables.device_or_error(dwDeviceID)
            if isinstance(device, int):
                return device, None
            rc = self.version_ok(device, dwAPIVersion, dwExtVersion)
            if rc:
                return rc, None
            if not is_dword(dwCallbackInstance) and type(dwCallbackInstance) is not int:
                return C.LINEERR_INVALPARAM, None
            caps = device.line.caps()
            if not is_dword(dwPrivileges):
                return C.LINEERR_INVALPRIVSELECT, None
            options = dwPrivileges & (C.LINEOPENOPTION_SINGLEADDRESS | C.LINEOPENOPTION_PROXY)
            base = dwPrivileges & ~options
            if base not in (
                C.LINECALLPRIVILEGE_NONE,
                C.LINECALLPRIVILEGE_MONITOR,
                C.LINECALLPRIVILEGE_OWNER,
                C.LINECALLPRIVILEGE_OWNER | C.LINECALLPRIVILEGE_MONITOR,
            ):
                return C.LINEERR_INVALPRIVSELECT, None
            if options & C.LINEOPENOPTION_PROXY:
                return C.LINEERR_OPERATIONUNAVAIL, None
            if options & C.LINEOPENOPTION_SINGLEADDRESS:
                p = lpCallParams
                if (
                    p is None
                    or p.dwAddressMode != C.LINEADDRESSMODE_ADDRESSID
                    or not is_dword(p.dwAddressID)
                    or p.dwAddressID >= caps.num_addresses
                ):
                    return C.LINEERR_INVALADDRESSID, None
            if base & C.LINECALLPRIVILEGE_OWNER:
                if not is_dword(dwMediaModes) or dwMediaModes == 0:
                    return C.LINEERR_INVALMEDIAMODE, None
                if dwMediaModes & ~(caps.media_modes | C.LINEMEDIAMODE_UNKNOWN):
                    return C.LINEERR_INVALMEDIAMODE, None
            else:
                dwMediaModes = 0
            if not device.opens and not device.provider_open:
                rc = device.line.open()
                if rc:
                    return rc, None
                device.provider_open = True
            line = LineOpen(
                self.tables.new_handle(),
                app,
                device,
                dwAPIVersion,
                dwExtVersion,
                dwCallbackInstance,
                base,
                dwMediaModes,
            )
            self.tables.lines[line.hLine] = line
            app.lines[line.hLine] = line
            app.api_version = max(app.api_version, dwAPIVersion)
            self.router.post_devstate(device, C.LINEDEVSTATE_OPEN)
            device.opens.append(line)
            device.line.set_default_media_detection(self.tree.owner_media_modes(device))
            return 0, line.hLine

    def lineClose(self, hLine: int) -> int:
        """R2 / rules.md §6.2: the app's call handles on the line go, replies for the line
        are suppressed, its pending messages purged; sole-owned active calls dropped."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line
            self.tree.close_line(line)
            return 0

    # -- status messages, status queries ---------------------------------------------------
    def lineSetStatusMessages(self, hLine: int, dwLineStates: int, dwAddressStates: int) -> int:
        """Per-HLINE filter of LINE_LINEDEVSTATE / LINE_ADDRESSSTATE (default: all off)."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line
            if not is_dword(dwLineStates) or dwLineStates & ~ALL_LINEDEVSTATES:
                return C.LINEERR_INVALLINESTATE
            if not is_dword(dwAddressStates) or dwAddressStates & ~ALL_ADDRESSSTATES:
                return C.LINEERR_INVALADDRESSSTATE
            line.line_states = dwLineStates
            line.address_states = dwAddressStates
            return 0

    def lineGetLineDevStatus(
        self, hLine: int, lpLineDevStatus: Any = OUT
    ) -> tuple[int, LINEDEVSTATUS | None]:
        """Returns (rc, LINEDEVSTATUS)."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line, None
            s, grow, rc = out_struct(lpLineDevStatus, LINEDEVSTATUS, line.api_version)
            if s is None:
                return rc, None
            device = line.device
            caps = device.line.caps()
            active = active_calls(device)
            s.dwNumOpens = len(device.opens)
            s.dwOpenMediaModes = self.tree.owner_media_modes(device)
            s.dwNumActiveCalls = active
            s.dwLineFeatures = caps.line_features if active < caps.max_num_active_calls else 0
            s.dwSignalLevel = 0xFFFF
            s.dwBatteryLevel = 0xFFFF
            s.dwRoamMode = C.LINEROAMMODE_UNAVAIL
            s.dwDevStatusFlags = device.line.dev_status_flags()
            s.dwAvailableMediaModes = caps.media_modes
            return fit(s, api_version=line.api_version, grow=grow), s

    def lineGetAddressStatus(
        self, hLine: int, dwAddressID: int, lpAddressStatus: Any = OUT
    ) -> tuple[int, LINEADDRESSSTATUS | None]:
        """Returns (rc, LINEADDRESSSTATUS)."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line, None
            caps = line.device.line.caps()
            if not is_dword(dwAddressID) or dwAddressID >= caps.num_addresses:
                return C.LINEERR_INVALADDRESSID, None
            s, grow, rc = out_struct(lpAddressStatus, LINEADDRESSSTATUS, line.api_version)
            if s is None:
                return rc, None
            active = active_calls(line.device)
            s.dwNumInUse = 1 if active else 0
            s.dwNumActiveCalls = active
            s.dwAddressFeatures = (
                caps.address_features if active < caps.max_num_active_calls else 0
            )
            return fit(s, api_version=line.api_version, grow=grow), s

    # -- lineGetID -------------------------------------------------------------------------
    def lineGetID(
        self,
        hLine: int,
        dwAddressID: int,
        hCall: int,
        dwSelect: int,
        lpDeviceID: Any = OUT,
        lpszDeviceClass: str | None = None,
    ) -> tuple[int, VARSTRING | None]:
        """Returns (rc, VARSTRING). "comm/datamodem" with LINECALLSELECT_CALL on a
        connected call carries the provider's relayed pyserial-compatible port in
        ``hComm`` (rules.md §2.21)."""
        with self.op():
            if not self.tables.apps:
                return C.LINEERR_UNINITIALIZED, None
            handle: CallHandle | None = None
            if dwSelect == C.LINECALLSELECT_CALL:
                got = self.tables.call_or_error(hCall)
                if isinstance(got, int):
                    return got, None
                handle = got
                line = handle.line
            elif dwSelect in (C.LINECALLSELECT_LINE, C.LINECALLSELECT_ADDRESS):
                found = self.tables.line_or_error(hLine)
                if isinstance(found, int):
                    return found, None
                line = found
            else:
                return C.LINEERR_INVALCALLSELECT, None
            if lpDeviceID is None or not is_text(lpszDeviceClass):
                return C.LINEERR_INVALPOINTER, None
            assert isinstance(lpszDeviceClass, str)
            s, grow, rc = out_struct(lpDeviceID, VARSTRING, line.api_version)
            if s is None:
                return rc, None
            caps = line.device.line.caps()
            if dwSelect == C.LINECALLSELECT_ADDRESS and (
                not is_dword(dwAddressID) or dwAddressID >= caps.num_addresses
            ):
                return C.LINEERR_INVALADDRESSID, None
            cls = lpszDeviceClass.lower()
            if cls not in (c.lower() for c in caps.device_classes):
                return C.LINEERR_INVALDEVICECLASS, None
            if cls == "tapi/line":
                s.dwStringFormat = C.STRINGFORMAT_BINARY
                s.String = line.device.device_id.to_bytes(4, "little")
                s.hComm = None
            else:
                answer = line.device.line.get_id(
                    cls, handle.call.htCall if handle is not None else None
                )
                if isinstance(answer, int):
                    return answer, None
                self._fill_varstring(s, cls, answer)
            return fit(s, api_version=line.api_version, grow=grow), s

    @staticmethod
    def _fill_varstring(s: VARSTRING, cls: str, answer: DeviceID) -> None:
        if cls == "comm/datamodem":
            hComm, name = answer.value
            s.set_comm_datamodem(str(name), hComm)
            return
        s.dwStringFormat = answer.string_format
        s.String = answer.value
        s.hComm = None

    # -- rings -----------------------------------------------------------------------------
    def lineSetNumRings(self, hLine: int, dwAddressID: int, dwNumRings: int) -> int:
        """This HLINE's toll-saver ring count (forgotten when the HLINE closes)."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line
            if not is_dword(dwAddressID) or dwAddressID >= line.device.line.caps().num_addresses:
                return C.LINEERR_INVALADDRESSID
            if not is_dword(dwNumRings):
                return C.LINEERR_INVALPARAM
            line.num_rings[dwAddressID] = dwNumRings
            return 0

    def lineGetNumRings(
        self, hLine: int, dwAddressID: int, *, lpdwNumRings: Any = OUT
    ) -> tuple[int, int | None]:
        """Returns (rc, dwNumRings): the minimum over every open's setting, 0xFFFFFFFF if
        nobody set one."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line, None
            if not is_dword(dwAddressID) or dwAddressID >= line.device.line.caps().num_addresses:
                return C.LINEERR_INVALADDRESSID, None
            if lpdwNumRings is None:
                return C.LINEERR_INVALPOINTER, None
            values = [o.num_rings[dwAddressID] for o in line.device.opens
                      if dwAddressID in o.num_rings]  # fmt: skip
            return 0, min(values, default=0xFFFFFFFF)

    # -- lineGetMessage --------------------------------------------------------------------
    def lineGetMessage(
        self, hLineApp: int, dwTimeout: int, *, lpMessage: Any = OUT
    ) -> tuple[int, LINEMESSAGE | None]:
        """Returns (rc, LINEMESSAGE): the oldest message, or OPERATIONFAILED at once when
        the queue is empty, whatever dwTimeout says. The core never waits: its driver
        waits up to dwTimeout for `message_ready()` and asks again."""
        app = lookup(self.tables.apps, hLineApp)
        if app is None or app.options != C.LINEINITIALIZEEXOPTION_USEEVENT:
            return C.LINEERR_INVALAPPHANDLE, None
        if lpMessage is None:
            return C.LINEERR_INVALPOINTER, None
        if not is_dword(dwTimeout):
            return C.LINEERR_INVALPARAM, None
        msg = self.outbox.take(app)
        if msg is None:
            return C.LINEERR_OPERATIONFAILED, None
        return 0, to_linemessage(msg)

    def message_ready(self, hLineApp: int) -> bool:
        """True when lineGetMessage(hLineApp) would not fail for an empty queue: a
        message is queued, or the app is gone (INVALAPPHANDLE)."""
        app = lookup(self.tables.apps, hLineApp)
        return app is None or not app.alive or bool(app.queue)
