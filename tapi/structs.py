"""TAPI structures as typed Python objects with Microsoft's field names.

Every structure keeps the documented member names (``dwTotalSize``, ``dwNeededSize``,
``dwCallerIDFlags``, ``DialParams`` ...), so code reads like the C it mirrors.

Variably sized structures
-------------------------
In C, a variably sized structure is a fixed part followed by a free area; each
variable member is described by a pair ``dwXSize`` / ``dwXOffset``. Here the value
of such a member lives in a Python attribute named ``X`` (the pair's name without
``dw`` and ``Size``/``Offset``), next to the two DWORDs:

=====================  =============================  ==============================
C pair                 Python value attribute         type
=====================  =============================  ==============================
dwCallerIDSize/Offset  ``LINECALLINFO.CallerID``      str (ASCII string)
dwLineNameSize/Offset  ``LINEDEVCAPS.LineName``       str
dwDeviceClassesSize/…  ``LINEDEVCAPS.DeviceClasses``  list[str] (NUL-separated list)
dwTerminalModesSize/…  ``...TerminalModes``           list[int] (DWORD array)
dwDevSpecificSize/…    ``...DevSpecific``             bytes
dwCallsSize/Offset     ``LINECALLLIST.Calls``         list[int] (HCALLs)
dwStringSize/Offset    ``VARSTRING.String``           str or bytes
=====================  =============================  ==============================

Strings are sized as UTF-8 plus the terminating NUL (``"555"`` → 4 bytes, ``""`` →
size 0). Sizes are those of the 32-bit C structures: every DWORD and handle is 4
bytes, ``LINEDIALPARAMS``, ``GUID`` and ``SYSTEMTIME`` are 16, no padding.

`fit` applies the rules of W32 "variably sized data structures" (rules.md §2.5): the
core fills every field, then calls ``fit(struct, api_version=...)``, which

- returns ``LINEERR_STRUCTURETOOSMALL`` (and touches nothing) when ``dwTotalSize`` is
  smaller than the fixed part for the negotiated API version;
- otherwise sets ``dwNeededSize``; if everything fits, lays the variable members out
  after the fixed part (sizes and offsets set, ``dwUsedSize`` = needed); if not, the
  variable members are emptied and their size/offset zeroed, and ``dwUsedSize`` is the
  fixed size. Either way it returns 0.

``fit(struct, grow=True)`` first raises ``dwTotalSize`` to what is needed: that is the
"parameter omitted, allocate one big enough" case of the flat API.
"""

from __future__ import annotations

import struct as _struct
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from tapi.constants import (
    LINEERR_STRUCTURETOOSMALL,
    STRINGFORMAT_ASCII,
    STRINGFORMAT_BINARY,
    TAPI_CURRENT_VERSION,
    TAPIMAXAPPNAMESIZE,
    TAPIMAXCALLEDPARTYSIZE,
    TAPIMAXCOMMENTSIZE,
    TAPIMAXDESTADDRESSSIZE,
    message_name,
)

__all__ = [
    "LINEADDRESSCAPS",
    "LINEADDRESSSTATUS",
    "LINECALLINFO",
    "LINECALLLIST",
    "LINECALLPARAMS",
    "LINECALLSTATUS",
    "LINEDEVCAPS",
    "LINEDEVSTATUS",
    "LINEDIALPARAMS",
    "LINEEXTENSIONID",
    "LINEINITIALIZEEXPARAMS",
    "LINEMESSAGE",
    "LINEREQMAKECALL",
    "SYSTEMTIME",
    "VARSTRING",
    "VarField",
    "VarStruct",
    "fit",
]

_V1_3 = 0x00010003
_V1_4 = 0x00010004
_V2_0 = 0x00020000
_V2_2 = 0x00020002
_V3_0 = 0x00030000

# Members of the fixed parts that are not 4 bytes wide.
_WIDE = {
    "DialParams": 16,
    "MinDialParams": 16,
    "MaxDialParams": 16,
    "DefaultDialParams": 16,
    "PermanentLineGuid": 16,
    "tStateEntryTime": 16,
}

Kind = Literal["str", "bytes", "dwords", "strlist", "any"]


def _layout(*groups: tuple[int, str]) -> tuple[tuple[str, int, int], ...]:
    """(name, bytes, since API version) for each fixed member, in C order."""
    return tuple(
        (name, _WIDE.get(name, 4), since) for since, names in groups for name in names.split()
    )


@dataclass(frozen=True)
class VarField:
    """One variable member: value in attribute `attr`, described by dw<attr>Size/Offset."""

    attr: str
    kind: Kind
    since: int = _V1_3
    count: str | None = None  # DWORD member holding the number of entries, if any

    @property
    def size_field(self) -> str:
        return f"dw{self.attr}Size"

    @property
    def offset_field(self) -> str:
        return f"dw{self.attr}Offset"


def _encode(value: Any, kind: Kind) -> bytes:
    if kind == "dwords":
        return _struct.pack(f"<{len(value)}I", *(v & 0xFFFFFFFF for v in value))
    if kind == "strlist":
        return b"".join(s.encode() + b"\0" for s in value) + b"\0" if value else b""
    if isinstance(value, str):
        return value.encode() + b"\0" if value else b""
    return bytes(value)


def _empty(kind: Kind, value: Any) -> Any:
    if kind in ("dwords", "strlist"):
        return []
    if kind == "str" or (kind == "any" and isinstance(value, str)):
        return ""
    return b""


class VarStruct:
    """Mixin for structures that start with dwTotalSize and may carry variable members.

    Subclasses list their fixed part in ``_LAYOUT`` and their variable members in
    ``_VARS``; ``FIXED_SIZE`` is the C ``sizeof`` at TAPI_CURRENT_VERSION.
    """

    _LAYOUT: ClassVar[tuple[tuple[str, int, int], ...]] = ()
    _VARS: ClassVar[tuple[VarField, ...]] = ()
    FIXED_SIZE: ClassVar[int] = 0

    dwTotalSize: int
    dwNeededSize: int
    dwUsedSize: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.FIXED_SIZE = sum(width for _, width, _ in cls._LAYOUT)

    @classmethod
    def fixed_size(cls, api_version: int = TAPI_CURRENT_VERSION) -> int:
        """sizeof() of the fixed part as an app built for `api_version` sees it."""
        return sum(width for _, width, since in cls._LAYOUT if since <= api_version)

    def variable_parts(
        self, api_version: int = TAPI_CURRENT_VERSION
    ) -> list[tuple[VarField, bytes]]:
        """Each variable member (known at `api_version`) with its C encoding."""
        return [
            (var, _encode(getattr(self, var.attr), var.kind))
            for var in self._VARS
            if var.since <= api_version
        ]


def fit(
    struct: VarStruct,
    needed: int | None = None,
    *,
    api_version: int = TAPI_CURRENT_VERSION,
    grow: bool = False,
) -> int:
    """Honour `struct.dwTotalSize`; return 0 or LINEERR_STRUCTURETOOSMALL (see module doc).

    `needed` overrides the computed dwNeededSize (for callers that account extra
    space themselves); `grow=True` models an omitted parameter that TAPI allocates.
    """
    fixed = struct.fixed_size(api_version)
    parts = struct.variable_parts(api_version)
    need = fixed + sum(len(data) for _, data in parts) if needed is None else needed
    if grow:
        struct.dwTotalSize = max(struct.dwTotalSize, need)
    if struct.dwTotalSize < fixed:
        return LINEERR_STRUCTURETOOSMALL
    if hasattr(struct, "dwNeededSize"):
        struct.dwNeededSize = need
    fits = need <= struct.dwTotalSize
    offset = fixed
    for var, data in parts:
        if fits and data:
            setattr(struct, var.size_field, len(data))
            setattr(struct, var.offset_field, offset)
            offset += len(data)
        else:
            if not fits:
                setattr(struct, var.attr, _empty(var.kind, getattr(struct, var.attr)))
            setattr(struct, var.size_field, 0)
            setattr(struct, var.offset_field, 0)
        if var.count is not None:
            setattr(struct, var.count, len(getattr(struct, var.attr)))
    # Members unknown to the app's version are not reported either.
    for var in struct._VARS:
        if var.since > api_version:
            setattr(struct, var.size_field, 0)
            setattr(struct, var.offset_field, 0)
    if hasattr(struct, "dwUsedSize"):
        struct.dwUsedSize = offset if fits else fixed
    return 0


# --- Fixed-size structures ---


@dataclass
class LINEDIALPARAMS:
    """Dialling parameters, all in milliseconds (16 bytes)."""

    dwDialPause: int = 0
    dwDialSpeed: int = 0
    dwDigitDuration: int = 0
    dwWaitForDialtone: int = 0

    SIZE: ClassVar[int] = 16


@dataclass
class LINEEXTENSIONID:
    """Provider extension ID returned by lineNegotiateAPIVersion (16 bytes)."""

    dwExtensionID0: int = 0
    dwExtensionID1: int = 0
    dwExtensionID2: int = 0
    dwExtensionID3: int = 0

    SIZE: ClassVar[int] = 16


@dataclass
class SYSTEMTIME:
    """Win32 SYSTEMTIME (16 bytes), used by LINECALLSTATUS.tStateEntryTime."""

    wYear: int = 0
    wMonth: int = 0
    wDayOfWeek: int = 0
    wDay: int = 0
    wHour: int = 0
    wMinute: int = 0
    wSecond: int = 0
    wMilliseconds: int = 0


@dataclass(frozen=True)
class LINEMESSAGE:
    """One queued message (lineGetMessage, completion port) or callback argument set.

    For LINE_REPLY, dwParam2 is the signed LONG result (0 or a LINEERR_* value).
    """

    hDevice: int
    dwMessageID: int
    dwCallbackInstance: int = 0
    dwParam1: int = 0
    dwParam2: int = 0
    dwParam3: int = 0

    SIZE: ClassVar[int] = 24

    def __repr__(self) -> str:
        return (
            f"LINEMESSAGE({message_name(self.dwMessageID)}, hDevice={self.hDevice}, "
            f"dwCallbackInstance={self.dwCallbackInstance}, dwParam1={self.dwParam1:#x}, "
            f"dwParam2={self.dwParam2:#x}, dwParam3={self.dwParam3:#x})"
        )


@dataclass
class LINEREQMAKECALL:
    """Assisted-telephony request (lineGetRequest, LINEREQUESTMODE_MAKECALL), 240 bytes.

    The four members are fixed char arrays in C; `create` truncates to fit them.
    """

    szDestAddress: str = ""
    szAppName: str = ""
    szCalledParty: str = ""
    szComment: str = ""

    SIZE: ClassVar[int] = (
        TAPIMAXDESTADDRESSSIZE + TAPIMAXAPPNAMESIZE + TAPIMAXCALLEDPARTYSIZE + TAPIMAXCOMMENTSIZE
    )

    @classmethod
    def create(
        cls, szDestAddress: str, szAppName: str = "", szCalledParty: str = "", szComment: str = ""
    ) -> LINEREQMAKECALL:
        """Build a request, truncating each string to its C array (room for the NUL)."""
        return cls(
            szDestAddress[: TAPIMAXDESTADDRESSSIZE - 1],
            szAppName[: TAPIMAXAPPNAMESIZE - 1],
            szCalledParty[: TAPIMAXCALLEDPARTYSIZE - 1],
            szComment[: TAPIMAXCOMMENTSIZE - 1],
        )


# --- Structures with dwTotalSize ---


@dataclass
class LINEINITIALIZEEXPARAMS(VarStruct):
    """lineInitializeEx options; hEvent / hCompletionPort share a C union.

    linelab: ``hEvent`` is a pollable file descriptor (readable exactly while the
    app's queue is not empty); ``hCompletionPort`` is any object with ``put()``,
    which receives ``(dwCompletionKey, LINEMESSAGE)``.
    """

    dwTotalSize: int = 24
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwOptions: int = 0
    hEvent: int | None = None
    hCompletionPort: Any = None
    dwCompletionKey: int = 0

    _LAYOUT = _layout(
        (_V1_3, "dwTotalSize dwNeededSize dwUsedSize dwOptions hEvent dwCompletionKey")
    )


@dataclass
class VARSTRING(VarStruct):
    """Variable string returned by lineGetID (and lineGetDevConfig).

    ``String`` is a str for STRINGFORMAT_ASCII and bytes for STRINGFORMAT_BINARY.
    For "comm/datamodem" the C payload is ``{HANDLE hComm; CHAR szDeviceName[]}``;
    here ``hComm`` carries the Python port object and ``String`` the C image
    (see `comm_datamodem`).
    """

    dwTotalSize: int = 24
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwStringFormat: int = STRINGFORMAT_ASCII
    dwStringSize: int = 0
    dwStringOffset: int = 0
    String: str | bytes = ""
    hComm: Any = None

    _LAYOUT = _layout(
        (_V1_3, "dwTotalSize dwNeededSize dwUsedSize dwStringFormat dwStringSize dwStringOffset")
    )
    _VARS = (VarField("String", "any"),)

    def set_comm_datamodem(self, szDeviceName: str, hComm: Any) -> None:
        """Fill in the "comm/datamodem" answer: 4-byte handle slot + NUL-terminated name."""
        self.dwStringFormat = STRINGFORMAT_BINARY
        self.String = b"\0\0\0\0" + szDeviceName.encode() + b"\0"
        self.hComm = hComm


@dataclass
class LINECALLLIST(VarStruct):
    """Call handles returned by lineGetNewCalls (``Calls``; dwCallsNumEntries follows it)."""

    dwTotalSize: int = 24
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwCallsNumEntries: int = 0
    dwCallsSize: int = 0
    dwCallsOffset: int = 0
    Calls: list[int] = field(default_factory=list)

    _LAYOUT = _layout(
        (_V1_3, "dwTotalSize dwNeededSize dwUsedSize dwCallsNumEntries dwCallsSize dwCallsOffset")
    )
    _VARS = (VarField("Calls", "dwords", count="dwCallsNumEntries"),)


@dataclass
class LINECALLSTATUS(VarStruct):
    """Dynamic call status (lineGetCallStatus)."""

    dwTotalSize: int = 56
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwCallState: int = 0
    dwCallStateMode: int = 0
    dwCallPrivilege: int = 0
    dwCallFeatures: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    dwCallFeatures2: int = 0
    tStateEntryTime: SYSTEMTIME = field(default_factory=SYSTEMTIME)
    DevSpecific: bytes = b""

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwNeededSize dwUsedSize dwCallState dwCallStateMode dwCallPrivilege"
            " dwCallFeatures dwDevSpecificSize dwDevSpecificOffset",
        ),
        (_V2_0, "dwCallFeatures2 tStateEntryTime"),
    )
    _VARS = (VarField("DevSpecific", "bytes"),)


@dataclass
class LINEDEVCAPS(VarStruct):
    """Line device capabilities (lineGetDevCaps)."""

    dwTotalSize: int = 268
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwProviderInfoSize: int = 0
    dwProviderInfoOffset: int = 0
    dwSwitchInfoSize: int = 0
    dwSwitchInfoOffset: int = 0
    dwPermanentLineID: int = 0
    dwLineNameSize: int = 0
    dwLineNameOffset: int = 0
    dwStringFormat: int = STRINGFORMAT_ASCII
    dwAddressModes: int = 0
    dwNumAddresses: int = 0
    dwBearerModes: int = 0
    dwMaxRate: int = 0
    dwMediaModes: int = 0
    dwGenerateToneModes: int = 0
    dwGenerateToneMaxNumFreq: int = 0
    dwGenerateDigitModes: int = 0
    dwMonitorToneMaxNumFreq: int = 0
    dwMonitorToneMaxNumEntries: int = 0
    dwMonitorDigitModes: int = 0
    dwGatherDigitsMinTimeout: int = 0
    dwGatherDigitsMaxTimeout: int = 0
    dwMedCtlDigitMaxListSize: int = 0
    dwMedCtlMediaMaxListSize: int = 0
    dwMedCtlToneMaxListSize: int = 0
    dwMedCtlCallStateMaxListSize: int = 0
    dwDevCapFlags: int = 0
    dwMaxNumActiveCalls: int = 0
    dwAnswerMode: int = 0
    dwRingModes: int = 0
    dwLineStates: int = 0
    dwUUIAcceptSize: int = 0
    dwUUIAnswerSize: int = 0
    dwUUIMakeCallSize: int = 0
    dwUUIDropSize: int = 0
    dwUUISendUserUserInfoSize: int = 0
    dwUUICallInfoSize: int = 0
    MinDialParams: LINEDIALPARAMS = field(default_factory=LINEDIALPARAMS)
    MaxDialParams: LINEDIALPARAMS = field(default_factory=LINEDIALPARAMS)
    DefaultDialParams: LINEDIALPARAMS = field(default_factory=LINEDIALPARAMS)
    dwNumTerminals: int = 0
    dwTerminalCapsSize: int = 0
    dwTerminalCapsOffset: int = 0
    dwTerminalTextEntrySize: int = 0
    dwTerminalTextSize: int = 0
    dwTerminalTextOffset: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    dwLineFeatures: int = 0
    dwSettableDevStatus: int = 0
    dwDeviceClassesSize: int = 0
    dwDeviceClassesOffset: int = 0
    PermanentLineGuid: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=0))
    ProviderInfo: str = ""
    SwitchInfo: str = ""
    LineName: str = ""
    TerminalCaps: bytes = b""
    TerminalText: bytes = b""
    DevSpecific: bytes = b""
    DeviceClasses: list[str] = field(default_factory=list)

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwNeededSize dwUsedSize dwProviderInfoSize dwProviderInfoOffset"
            " dwSwitchInfoSize dwSwitchInfoOffset dwPermanentLineID dwLineNameSize"
            " dwLineNameOffset dwStringFormat dwAddressModes dwNumAddresses dwBearerModes"
            " dwMaxRate dwMediaModes dwGenerateToneModes dwGenerateToneMaxNumFreq"
            " dwGenerateDigitModes dwMonitorToneMaxNumFreq dwMonitorToneMaxNumEntries"
            " dwMonitorDigitModes dwGatherDigitsMinTimeout dwGatherDigitsMaxTimeout"
            " dwMedCtlDigitMaxListSize dwMedCtlMediaMaxListSize dwMedCtlToneMaxListSize"
            " dwMedCtlCallStateMaxListSize dwDevCapFlags dwMaxNumActiveCalls dwAnswerMode"
            " dwRingModes dwLineStates dwUUIAcceptSize dwUUIAnswerSize dwUUIMakeCallSize"
            " dwUUIDropSize dwUUISendUserUserInfoSize dwUUICallInfoSize MinDialParams"
            " MaxDialParams DefaultDialParams dwNumTerminals dwTerminalCapsSize"
            " dwTerminalCapsOffset dwTerminalTextEntrySize dwTerminalTextSize"
            " dwTerminalTextOffset dwDevSpecificSize dwDevSpecificOffset",
        ),
        (_V1_4, "dwLineFeatures"),
        (_V2_0, "dwSettableDevStatus dwDeviceClassesSize dwDeviceClassesOffset"),
        (_V2_2, "PermanentLineGuid"),
    )
    _VARS = (
        VarField("ProviderInfo", "str"),
        VarField("SwitchInfo", "str"),
        VarField("LineName", "str"),
        VarField("TerminalCaps", "bytes"),
        VarField("TerminalText", "bytes"),
        VarField("DevSpecific", "bytes"),
        VarField("DeviceClasses", "strlist", since=_V2_0),
    )


@dataclass
class LINEDEVSTATUS(VarStruct):
    """Line device status (lineGetLineDevStatus)."""

    dwTotalSize: int = 88
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwNumOpens: int = 0
    dwOpenMediaModes: int = 0
    dwNumActiveCalls: int = 0
    dwNumOnHoldCalls: int = 0
    dwNumOnHoldPendCalls: int = 0
    dwLineFeatures: int = 0
    dwNumCallCompletions: int = 0
    dwRingMode: int = 0
    dwSignalLevel: int = 0
    dwBatteryLevel: int = 0
    dwRoamMode: int = 0
    dwDevStatusFlags: int = 0
    dwTerminalModesSize: int = 0
    dwTerminalModesOffset: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    dwAvailableMediaModes: int = 0
    dwAppInfoSize: int = 0
    dwAppInfoOffset: int = 0
    TerminalModes: list[int] = field(default_factory=list)
    DevSpecific: bytes = b""
    AppInfo: bytes = b""  # packed LINEAPPINFO entries, one per app with the line open

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwNeededSize dwUsedSize dwNumOpens dwOpenMediaModes dwNumActiveCalls"
            " dwNumOnHoldCalls dwNumOnHoldPendCalls dwLineFeatures dwNumCallCompletions"
            " dwRingMode dwSignalLevel dwBatteryLevel dwRoamMode dwDevStatusFlags"
            " dwTerminalModesSize dwTerminalModesOffset dwDevSpecificSize dwDevSpecificOffset",
        ),
        (_V2_0, "dwAvailableMediaModes dwAppInfoSize dwAppInfoOffset"),
    )
    _VARS = (
        VarField("TerminalModes", "dwords"),
        VarField("DevSpecific", "bytes"),
        VarField("AppInfo", "bytes", since=_V2_0),
    )


@dataclass
class LINEADDRESSCAPS(VarStruct):
    """Address capabilities (lineGetAddressCaps)."""

    dwTotalSize: int = 228
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwLineDeviceID: int = 0
    dwAddressSize: int = 0
    dwAddressOffset: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    dwAddressSharing: int = 0
    dwAddressStates: int = 0
    dwCallInfoStates: int = 0
    dwCallerIDFlags: int = 0
    dwCalledIDFlags: int = 0
    dwConnectedIDFlags: int = 0
    dwRedirectionIDFlags: int = 0
    dwRedirectingIDFlags: int = 0
    dwCallStates: int = 0
    dwDialToneModes: int = 0
    dwBusyModes: int = 0
    dwSpecialInfo: int = 0
    dwDisconnectModes: int = 0
    dwMaxNumActiveCalls: int = 0
    dwMaxNumOnHoldCalls: int = 0
    dwMaxNumOnHoldPendingCalls: int = 0
    dwMaxNumConference: int = 0
    dwMaxNumTransConf: int = 0
    dwAddrCapFlags: int = 0
    dwCallFeatures: int = 0
    dwRemoveFromConfCaps: int = 0
    dwRemoveFromConfState: int = 0
    dwTransferModes: int = 0
    dwParkModes: int = 0
    dwForwardModes: int = 0
    dwMaxForwardEntries: int = 0
    dwMaxSpecificEntries: int = 0
    dwMinFwdNumRings: int = 0
    dwMaxFwdNumRings: int = 0
    dwMaxCallCompletions: int = 0
    dwCallCompletionConds: int = 0
    dwCallCompletionModes: int = 0
    dwNumCompletionMessages: int = 0
    dwCompletionMsgTextEntrySize: int = 0
    dwCompletionMsgTextSize: int = 0
    dwCompletionMsgTextOffset: int = 0
    dwAddressFeatures: int = 0
    dwPredictiveAutoTransferStates: int = 0
    dwNumCallTreatments: int = 0
    dwCallTreatmentListSize: int = 0
    dwCallTreatmentListOffset: int = 0
    dwDeviceClassesSize: int = 0
    dwDeviceClassesOffset: int = 0
    dwMaxCallDataSize: int = 0
    dwCallFeatures2: int = 0
    dwMaxNoAnswerTimeout: int = 0
    dwConnectedModes: int = 0
    dwOfferingModes: int = 0
    dwAvailableMediaModes: int = 0
    Address: str = ""
    DevSpecific: bytes = b""
    CompletionMsgText: bytes = b""
    CallTreatmentList: bytes = b""
    DeviceClasses: list[str] = field(default_factory=list)

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwNeededSize dwUsedSize dwLineDeviceID dwAddressSize dwAddressOffset"
            " dwDevSpecificSize dwDevSpecificOffset dwAddressSharing dwAddressStates"
            " dwCallInfoStates dwCallerIDFlags dwCalledIDFlags dwConnectedIDFlags"
            " dwRedirectionIDFlags dwRedirectingIDFlags dwCallStates dwDialToneModes"
            " dwBusyModes dwSpecialInfo dwDisconnectModes dwMaxNumActiveCalls"
            " dwMaxNumOnHoldCalls dwMaxNumOnHoldPendingCalls dwMaxNumConference"
            " dwMaxNumTransConf dwAddrCapFlags dwCallFeatures dwRemoveFromConfCaps"
            " dwRemoveFromConfState dwTransferModes dwParkModes dwForwardModes"
            " dwMaxForwardEntries dwMaxSpecificEntries dwMinFwdNumRings dwMaxFwdNumRings"
            " dwMaxCallCompletions dwCallCompletionConds dwCallCompletionModes"
            " dwNumCompletionMessages dwCompletionMsgTextEntrySize dwCompletionMsgTextSize"
            " dwCompletionMsgTextOffset",
        ),
        (_V1_4, "dwAddressFeatures"),
        (
            _V2_0,
            "dwPredictiveAutoTransferStates dwNumCallTreatments dwCallTreatmentListSize"
            " dwCallTreatmentListOffset dwDeviceClassesSize dwDeviceClassesOffset"
            " dwMaxCallDataSize dwCallFeatures2 dwMaxNoAnswerTimeout dwConnectedModes"
            " dwOfferingModes dwAvailableMediaModes",
        ),
    )
    _VARS = (
        VarField("Address", "str"),
        VarField("DevSpecific", "bytes"),
        VarField("CompletionMsgText", "bytes"),
        VarField("CallTreatmentList", "bytes", since=_V2_0),
        VarField("DeviceClasses", "strlist", since=_V2_0),
    )


@dataclass
class LINEADDRESSSTATUS(VarStruct):
    """Address status (lineGetAddressStatus)."""

    dwTotalSize: int = 64
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    dwNumInUse: int = 0
    dwNumActiveCalls: int = 0
    dwNumOnHoldCalls: int = 0
    dwNumOnHoldPendCalls: int = 0
    dwAddressFeatures: int = 0
    dwNumRingsNoAnswer: int = 0
    dwForwardNumEntries: int = 0
    dwForwardSize: int = 0
    dwForwardOffset: int = 0
    dwTerminalModesSize: int = 0
    dwTerminalModesOffset: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    Forward: bytes = b""  # packed LINEFORWARD entries (dwForwardNumEntries of them)
    TerminalModes: list[int] = field(default_factory=list)
    DevSpecific: bytes = b""

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwNeededSize dwUsedSize dwNumInUse dwNumActiveCalls dwNumOnHoldCalls"
            " dwNumOnHoldPendCalls dwAddressFeatures dwNumRingsNoAnswer dwForwardNumEntries"
            " dwForwardSize dwForwardOffset dwTerminalModesSize dwTerminalModesOffset"
            " dwDevSpecificSize dwDevSpecificOffset",
        ),
    )
    _VARS = (
        VarField("Forward", "bytes"),
        VarField("TerminalModes", "dwords"),
        VarField("DevSpecific", "bytes"),
    )


_PARTY_IDS = ("CallerID", "CalledID", "ConnectedID", "RedirectionID", "RedirectingID")


@dataclass
class LINECALLINFO(VarStruct):
    """Mostly static call information (lineGetCallInfo).

    Caller ID: ``dwCallerIDFlags`` (LINECALLPARTYID_*), number in ``CallerID``,
    name in ``CallerIDName``; likewise for Called/Connected/Redirection/Redirecting.
    """

    dwTotalSize: int = 344
    dwNeededSize: int = 0
    dwUsedSize: int = 0
    hLine: int = 0
    dwLineDeviceID: int = 0
    dwAddressID: int = 0
    dwBearerMode: int = 0
    dwRate: int = 0
    dwMediaMode: int = 0
    dwAppSpecific: int = 0
    dwCallID: int = 0
    dwRelatedCallID: int = 0
    dwCallParamFlags: int = 0
    dwCallStates: int = 0
    dwMonitorDigitModes: int = 0
    dwMonitorMediaModes: int = 0
    DialParams: LINEDIALPARAMS = field(default_factory=LINEDIALPARAMS)
    dwOrigin: int = 0
    dwReason: int = 0
    dwCompletionID: int = 0
    dwNumOwners: int = 0
    dwNumMonitors: int = 0
    dwCountryCode: int = 0
    dwTrunk: int = 0xFFFFFFFF
    dwCallerIDFlags: int = 0
    dwCallerIDSize: int = 0
    dwCallerIDOffset: int = 0
    dwCallerIDNameSize: int = 0
    dwCallerIDNameOffset: int = 0
    dwCalledIDFlags: int = 0
    dwCalledIDSize: int = 0
    dwCalledIDOffset: int = 0
    dwCalledIDNameSize: int = 0
    dwCalledIDNameOffset: int = 0
    dwConnectedIDFlags: int = 0
    dwConnectedIDSize: int = 0
    dwConnectedIDOffset: int = 0
    dwConnectedIDNameSize: int = 0
    dwConnectedIDNameOffset: int = 0
    dwRedirectionIDFlags: int = 0
    dwRedirectionIDSize: int = 0
    dwRedirectionIDOffset: int = 0
    dwRedirectionIDNameSize: int = 0
    dwRedirectionIDNameOffset: int = 0
    dwRedirectingIDFlags: int = 0
    dwRedirectingIDSize: int = 0
    dwRedirectingIDOffset: int = 0
    dwRedirectingIDNameSize: int = 0
    dwRedirectingIDNameOffset: int = 0
    dwAppNameSize: int = 0
    dwAppNameOffset: int = 0
    dwDisplayableAddressSize: int = 0
    dwDisplayableAddressOffset: int = 0
    dwCalledPartySize: int = 0
    dwCalledPartyOffset: int = 0
    dwCommentSize: int = 0
    dwCommentOffset: int = 0
    dwDisplaySize: int = 0
    dwDisplayOffset: int = 0
    dwUserUserInfoSize: int = 0
    dwUserUserInfoOffset: int = 0
    dwHighLevelCompSize: int = 0
    dwHighLevelCompOffset: int = 0
    dwLowLevelCompSize: int = 0
    dwLowLevelCompOffset: int = 0
    dwChargingInfoSize: int = 0
    dwChargingInfoOffset: int = 0
    dwTerminalModesSize: int = 0
    dwTerminalModesOffset: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    dwCallTreatment: int = 0
    dwCallDataSize: int = 0
    dwCallDataOffset: int = 0
    dwSendingFlowspecSize: int = 0
    dwSendingFlowspecOffset: int = 0
    dwReceivingFlowspecSize: int = 0
    dwReceivingFlowspecOffset: int = 0
    dwCallerIDAddressType: int = 0
    dwCalledIDAddressType: int = 0
    dwConnectedIDAddressType: int = 0
    dwRedirectionIDAddressType: int = 0
    dwRedirectingIDAddressType: int = 0
    CallerID: str = ""
    CallerIDName: str = ""
    CalledID: str = ""
    CalledIDName: str = ""
    ConnectedID: str = ""
    ConnectedIDName: str = ""
    RedirectionID: str = ""
    RedirectionIDName: str = ""
    RedirectingID: str = ""
    RedirectingIDName: str = ""
    AppName: str = ""
    DisplayableAddress: str = ""
    CalledParty: str = ""
    Comment: str = ""
    Display: str = ""
    UserUserInfo: bytes = b""
    HighLevelComp: bytes = b""
    LowLevelComp: bytes = b""
    ChargingInfo: bytes = b""
    TerminalModes: list[int] = field(default_factory=list)
    DevSpecific: bytes = b""
    CallData: bytes = b""
    SendingFlowspec: bytes = b""
    ReceivingFlowspec: bytes = b""

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwNeededSize dwUsedSize hLine dwLineDeviceID dwAddressID dwBearerMode"
            " dwRate dwMediaMode dwAppSpecific dwCallID dwRelatedCallID dwCallParamFlags"
            " dwCallStates dwMonitorDigitModes dwMonitorMediaModes DialParams dwOrigin"
            " dwReason dwCompletionID dwNumOwners dwNumMonitors dwCountryCode dwTrunk "
            + " ".join(
                f"dw{p}Flags dw{p}Size dw{p}Offset dw{p}NameSize dw{p}NameOffset"
                for p in _PARTY_IDS
            )
            + " dwAppNameSize dwAppNameOffset dwDisplayableAddressSize"
            " dwDisplayableAddressOffset dwCalledPartySize dwCalledPartyOffset dwCommentSize"
            " dwCommentOffset dwDisplaySize dwDisplayOffset dwUserUserInfoSize"
            " dwUserUserInfoOffset dwHighLevelCompSize dwHighLevelCompOffset"
            " dwLowLevelCompSize dwLowLevelCompOffset dwChargingInfoSize dwChargingInfoOffset"
            " dwTerminalModesSize dwTerminalModesOffset dwDevSpecificSize dwDevSpecificOffset",
        ),
        (
            _V2_0,
            "dwCallTreatment dwCallDataSize dwCallDataOffset dwSendingFlowspecSize"
            " dwSendingFlowspecOffset dwReceivingFlowspecSize dwReceivingFlowspecOffset",
        ),
        (
            _V3_0,
            " ".join(f"dw{p}AddressType" for p in _PARTY_IDS),
        ),
    )
    _VARS = (
        *(VarField(name, "str") for p in _PARTY_IDS for name in (p, p + "Name")),
        VarField("AppName", "str"),
        VarField("DisplayableAddress", "str"),
        VarField("CalledParty", "str"),
        VarField("Comment", "str"),
        VarField("Display", "str"),
        VarField("UserUserInfo", "bytes"),
        VarField("HighLevelComp", "bytes"),
        VarField("LowLevelComp", "bytes"),
        VarField("ChargingInfo", "bytes"),
        VarField("TerminalModes", "dwords"),
        VarField("DevSpecific", "bytes"),
        VarField("CallData", "bytes", since=_V2_0),
        VarField("SendingFlowspec", "bytes", since=_V2_0),
        VarField("ReceivingFlowspec", "bytes", since=_V2_0),
    )


@dataclass
class LINECALLPARAMS(VarStruct):
    """Call parameters passed to lineMakeCall, lineOpen (LINEMAPPER) and friends.

    This is an input structure: it has dwTotalSize but no dwNeededSize/dwUsedSize.
    Callers set the value attributes (``DisplayableAddress``, ``CalledParty``,
    ``Comment`` ...); `fit` fills the matching size/offset pairs.
    """

    dwTotalSize: int = 180
    dwBearerMode: int = 0
    dwMinRate: int = 0
    dwMaxRate: int = 0
    dwMediaMode: int = 0
    dwCallParamFlags: int = 0
    dwAddressMode: int = 0
    dwAddressID: int = 0
    DialParams: LINEDIALPARAMS = field(default_factory=LINEDIALPARAMS)
    dwOrigAddressSize: int = 0
    dwOrigAddressOffset: int = 0
    dwDisplayableAddressSize: int = 0
    dwDisplayableAddressOffset: int = 0
    dwCalledPartySize: int = 0
    dwCalledPartyOffset: int = 0
    dwCommentSize: int = 0
    dwCommentOffset: int = 0
    dwUserUserInfoSize: int = 0
    dwUserUserInfoOffset: int = 0
    dwHighLevelCompSize: int = 0
    dwHighLevelCompOffset: int = 0
    dwLowLevelCompSize: int = 0
    dwLowLevelCompOffset: int = 0
    dwDevSpecificSize: int = 0
    dwDevSpecificOffset: int = 0
    dwPredictiveAutoTransferStates: int = 0
    dwTargetAddressSize: int = 0
    dwTargetAddressOffset: int = 0
    dwSendingFlowspecSize: int = 0
    dwSendingFlowspecOffset: int = 0
    dwReceivingFlowspecSize: int = 0
    dwReceivingFlowspecOffset: int = 0
    dwDeviceClassSize: int = 0
    dwDeviceClassOffset: int = 0
    dwDeviceConfigSize: int = 0
    dwDeviceConfigOffset: int = 0
    dwCallDataSize: int = 0
    dwCallDataOffset: int = 0
    dwNoAnswerTimeout: int = 0
    dwCallingPartyIDSize: int = 0
    dwCallingPartyIDOffset: int = 0
    dwAddressType: int = 0
    OrigAddress: str = ""
    DisplayableAddress: str = ""
    CalledParty: str = ""
    Comment: str = ""
    UserUserInfo: bytes = b""
    HighLevelComp: bytes = b""
    LowLevelComp: bytes = b""
    DevSpecific: bytes = b""
    TargetAddress: str = ""
    SendingFlowspec: bytes = b""
    ReceivingFlowspec: bytes = b""
    DeviceClass: str = ""
    DeviceConfig: bytes = b""
    CallData: bytes = b""
    CallingPartyID: str = ""

    _LAYOUT = _layout(
        (
            _V1_3,
            "dwTotalSize dwBearerMode dwMinRate dwMaxRate dwMediaMode dwCallParamFlags"
            " dwAddressMode dwAddressID DialParams dwOrigAddressSize dwOrigAddressOffset"
            " dwDisplayableAddressSize dwDisplayableAddressOffset dwCalledPartySize"
            " dwCalledPartyOffset dwCommentSize dwCommentOffset dwUserUserInfoSize"
            " dwUserUserInfoOffset dwHighLevelCompSize dwHighLevelCompOffset"
            " dwLowLevelCompSize dwLowLevelCompOffset dwDevSpecificSize dwDevSpecificOffset",
        ),
        (
            _V2_0,
            "dwPredictiveAutoTransferStates dwTargetAddressSize dwTargetAddressOffset"
            " dwSendingFlowspecSize dwSendingFlowspecOffset dwReceivingFlowspecSize"
            " dwReceivingFlowspecOffset dwDeviceClassSize dwDeviceClassOffset"
            " dwDeviceConfigSize dwDeviceConfigOffset dwCallDataSize dwCallDataOffset"
            " dwNoAnswerTimeout dwCallingPartyIDSize dwCallingPartyIDOffset",
        ),
        (_V3_0, "dwAddressType"),
    )
    _VARS = (
        VarField("OrigAddress", "str"),
        VarField("DisplayableAddress", "str"),
        VarField("CalledParty", "str"),
        VarField("Comment", "str"),
        VarField("UserUserInfo", "bytes"),
        VarField("HighLevelComp", "bytes"),
        VarField("LowLevelComp", "bytes"),
        VarField("DevSpecific", "bytes"),
        VarField("TargetAddress", "str", since=_V2_0),
        VarField("SendingFlowspec", "bytes", since=_V2_0),
        VarField("ReceivingFlowspec", "bytes", since=_V2_0),
        VarField("DeviceClass", "str", since=_V2_0),
        VarField("DeviceConfig", "bytes", since=_V2_0),
        VarField("CallData", "bytes", since=_V2_0),
        VarField("CallingPartyID", "str", since=_V2_0),
    )
