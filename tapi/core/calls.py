"""Flat functions on calls (rules.md §2.8-2.19, 5.4)."""

from __future__ import annotations

from typing import Any

from tapi import constants as C
from tapi.core.args import OUT, is_dword, is_text, scan_dial_modifiers, single_bit, uui_ok
from tapi.core.callstate import active_calls
from tapi.core.lines import call_params_or_error, out_struct
from tapi.core.records import CallHandle, PhysCall, Request
from tapi.core.state import CoreState
from tapi.structs import LINECALLINFO, LINECALLLIST, LINECALLPARAMS, LINECALLSTATUS, fit

_OWNER = C.LINECALLPRIVILEGE_OWNER
_MONITOR = C.LINECALLPRIVILEGE_MONITOR

# LINECALLSTATUS.dwCallFeatures for an owner, by state (rules.md §5.4); 0 for monitors.
_FEATURES: dict[int, int] = {
    C.LINECALLSTATE_OFFERING: C.LINECALLFEATURE_ACCEPT
    | C.LINECALLFEATURE_ANSWER
    | C.LINECALLFEATURE_DROP
    | C.LINECALLFEATURE_SETCALLPARAMS,
    C.LINECALLSTATE_ACCEPTED: C.LINECALLFEATURE_ANSWER
    | C.LINECALLFEATURE_DROP
    | C.LINECALLFEATURE_SETCALLPARAMS,
    C.LINECALLSTATE_DIALTONE: C.LINECALLFEATURE_DIAL | C.LINECALLFEATURE_DROP,
    C.LINECALLSTATE_DIALING: C.LINECALLFEATURE_DIAL | C.LINECALLFEATURE_DROP,
    C.LINECALLSTATE_PROCEEDING: C.LINECALLFEATURE_DROP,
    C.LINECALLSTATE_RINGBACK: C.LINECALLFEATURE_DROP,
    C.LINECALLSTATE_BUSY: C.LINECALLFEATURE_DROP,
    C.LINECALLSTATE_CONNECTED: C.LINECALLFEATURE_DROP | C.LINECALLFEATURE_SETCALLPARAMS,
    C.LINECALLSTATE_DISCONNECTED: C.LINECALLFEATURE_DROP,
    C.LINECALLSTATE_IDLE: 0,
}

_PARTY_FIELDS = ("CallerID", "CallerIDName", "CalledID", "CalledIDName", "ConnectedID",
                 "ConnectedIDName", "DisplayableAddress", "CalledParty", "Comment")  # fmt: skip


def _base_state(call: PhysCall) -> int:
    return (call.state or 0) & 0x00FFFFFF


class CallFunctions(CoreState):
    """lineMakeCall … lineHandoff."""

    # -- shared ----------------------------------------------------------------------------
    def _owner_call(
        self, hCall: object, uui: Any = None, size: object = 0, *, check_uui: bool = False
    ) -> CallHandle | int:
        h = self.tables.call_or_error(hCall)
        if isinstance(h, int):
            return h
        if check_uui:
            rc = uui_ok(uui, size)
            if rc:
                return rc
        if h.privilege != _OWNER:
            return C.LINEERR_NOTOWNER
        return h

    def _request(self, kind: str, h: CallHandle, **extra: Any) -> Request:
        rid = self.tables.new_request_id()
        req = Request(rid, kind, h.line.app, h.line, h, h.line.callback_instance, call=h.call)
        req.extra.update(extra)
        self.tables.requests[rid] = req
        return req

    def _submit(self, req: Request, rc: int) -> int:
        """The provider's synchronous answer: accepted (→ request ID) or refused."""
        if rc < 0:
            self.tables.requests.pop(req.request_id, None)
            return rc
        return req.request_id

    # -- lineMakeCall ----------------------------------------------------------------------
    def lineMakeCall(
        self,
        hLine: int,
        lpszDestAddress: str | None = None,
        dwCountryCode: int = 0,
        lpCallParams: LINECALLPARAMS | None = None,
        *,
        lphCall: Any = OUT,
    ) -> tuple[int, int | None]:
        """Returns (request ID or LINEERR, hCall). hCall is valid only after the success
        LINE_REPLY (R7); on failure it never becomes valid."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line, None
            if lphCall is None:
                return C.LINEERR_INVALPOINTER, None
            if lpszDestAddress is not None and not is_text(lpszDestAddress):
                return C.LINEERR_INVALPOINTER, None
            if not is_dword(dwCountryCode):
                return C.LINEERR_INVALCOUNTRYCODE, None
            device = line.device
            caps = device.line.caps()
            params = call_params_or_error(lpCallParams, caps)
            if isinstance(params, int):
                return params, None
            if lpszDestAddress is not None:
                rc = scan_dial_modifiers(lpszDestAddress, caps.dev_cap_flags)
                if rc:
                    return rc, None
            if (
                active_calls(device) + sum(1 for c in device.calls if c.state is None)
                >= caps.max_num_active_calls
            ):
                return C.LINEERR_CALLUNAVAIL, None
            call = PhysCall(
                self.tables.new_htcall(),
                device,
                outgoing=True,
                address_id=params.address_id,
                media_mode=params.media_mode,
                bearer_mode=params.bearer_mode,
                origin=C.LINECALLORIGIN_OUTBOUND,
                app_name=line.app.friendly_name,
            )
            if isinstance(lpCallParams, LINECALLPARAMS):
                for name in ("DisplayableAddress", "CalledParty", "Comment"):
                    call.info[name] = getattr(lpCallParams, name)
            if lpszDestAddress:
                call.info.setdefault("DisplayableAddress", lpszDestAddress)
                call.info["CalledID"] = lpszDestAddress.rstrip(";")
            h = self.tree.add_handle(line, call, _OWNER, valid=False)
            self.tables.phys[call.htCall] = call
            device.calls.append(call)
            req = self._request("makecall", h)
            rc = device.line.make_call(
                req.request_id, call.htCall, lpszDestAddress, dwCountryCode, params
            )
            if rc < 0:
                # A synchronous failure: no reply, no TSPI_lineCloseCall (rules.md §2.26).
                self.tables.requests.pop(req.request_id, None)
                line.handles.pop(h.hCall, None)
                call.handles.clear()
                call.closed = True
                self.tables.phys.pop(call.htCall, None)
                device.calls.remove(call)
                return rc, None
            return req.request_id, h.hCall

    # -- lineDial / lineAnswer / lineAccept / lineDrop -------------------------------------
    def lineDial(
        self, hCall: int, lpszDestAddress: str | None = None, dwCountryCode: int = 0
    ) -> int:
        """Owner only; DIALTONE or DIALING (DECISION 2.9)."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h
            if not is_text(lpszDestAddress):
                return C.LINEERR_INVALPOINTER
            assert isinstance(lpszDestAddress, str)
            if not is_dword(dwCountryCode):
                return C.LINEERR_INVALCOUNTRYCODE
            caps = h.call.device.line.caps()
            rc = scan_dial_modifiers(lpszDestAddress, caps.dev_cap_flags)
            if rc:
                return rc
            if h.privilege != _OWNER:
                return C.LINEERR_NOTOWNER
            if _base_state(h.call) not in (C.LINECALLSTATE_DIALTONE, C.LINECALLSTATE_DIALING):
                return C.LINEERR_INVALCALLSTATE
            req = self._request("dial", h)
            return self._submit(
                req,
                h.call.device.line.dial(
                    req.request_id, h.call.htCall, lpszDestAddress, dwCountryCode
                ),
            )

    def _uui_request(
        self, kind: str, hCall: object, uui: Any, size: object, states: tuple[int, ...] | None
    ) -> int:
        h = self._owner_call(hCall, uui, size, check_uui=True)
        if isinstance(h, int):
            return h
        state = _base_state(h.call)
        if states is None:
            if state == C.LINECALLSTATE_IDLE:
                return C.LINEERR_INVALCALLSTATE
        elif state not in states:
            return C.LINEERR_INVALCALLSTATE
        req = self._request(kind, h)
        data = None if uui is None else (uui.encode() if isinstance(uui, str) else bytes(uui))
        provider = h.call.device.line
        method = {"answer": provider.answer, "accept": provider.accept, "drop": provider.drop}[
            kind
        ]
        return self._submit(req, method(req.request_id, h.call.htCall, data))

    def lineAnswer(
        self, hCall: int, lpsUserUserInfo: str | bytes | None = None, dwSize: int = 0
    ) -> int:
        """Owner only; OFFERING or ACCEPTED."""
        with self.op():
            return self._uui_request(
                "answer",
                hCall,
                lpsUserUserInfo,
                dwSize,
                (C.LINECALLSTATE_OFFERING, C.LINECALLSTATE_ACCEPTED),
            )

    def lineAccept(
        self, hCall: int, lpsUserUserInfo: str | bytes | None = None, dwSize: int = 0
    ) -> int:
        """Owner only; OFFERING only."""
        with self.op():
            return self._uui_request(
                "accept", hCall, lpsUserUserInfo, dwSize, (C.LINECALLSTATE_OFFERING,)
            )

    def lineDrop(
        self, hCall: int, lpsUserUserInfo: str | bytes | None = None, dwSize: int = 0
    ) -> int:
        """Owner only; any state but IDLE. The handle stays valid until deallocated."""
        with self.op():
            return self._uui_request("drop", hCall, lpsUserUserInfo, dwSize, None)

    # -- lineDeallocateCall ----------------------------------------------------------------
    def lineDeallocateCall(self, hCall: int) -> int:
        """R3/R4. The sole owner of a non-IDLE call gets INVALCALLSTATE (DECISION 6.8)."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h
            call = h.call
            if h.privilege == _OWNER and not call.idle and len(call.owners()) == 1:
                return C.LINEERR_INVALCALLSTATE
            self.tree.release_handle(h, h.line.app)
            return 0

    # -- queries ---------------------------------------------------------------------------
    def lineGetCallInfo(
        self, hCall: int, lpCallInfo: Any = OUT
    ) -> tuple[int, LINECALLINFO | None]:
        """Returns (rc, LINECALLINFO); any state, IDLE included."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h, None
            s, grow, rc = out_struct(lpCallInfo, LINECALLINFO, h.line.api_version)
            if s is None:
                return rc, None
            call = h.call
            s.hLine = h.line.hLine
            s.dwLineDeviceID = call.device.device_id
            s.dwAddressID = call.address_id
            s.dwBearerMode = call.bearer_mode
            s.dwRate = int(call.info.get("dwRate", 0))
            s.dwMediaMode = call.media_mode
            s.dwCallID = call.htCall
            s.dwCallStates = _FEATURES_STATES
            s.dwOrigin = call.origin
            s.dwReason = call.reason
            s.dwNumOwners = len(call.owners())
            s.dwNumMonitors = len(call.monitors())
            s.dwTrunk = 0xFFFFFFFF
            s.AppName = call.app_name
            for name in _PARTY_FIELDS:
                setattr(s, name, str(call.info.get(name, "")))
            s.dwCallerIDFlags = self._party_flags(call, "CallerID")
            s.dwCalledIDFlags = self._party_flags(call, "CalledID")
            s.dwConnectedIDFlags = C.LINECALLPARTYID_UNAVAIL
            s.dwRedirectionIDFlags = C.LINECALLPARTYID_UNAVAIL
            s.dwRedirectingIDFlags = C.LINECALLPARTYID_UNAVAIL
            return fit(s, api_version=h.line.api_version, grow=grow), s

    @staticmethod
    def _party_flags(call: PhysCall, party: str) -> int:
        explicit = call.info.get(f"dw{party}Flags")
        if isinstance(explicit, int):
            return explicit
        flags = 0
        if call.info.get(party):
            flags |= C.LINECALLPARTYID_ADDRESS
        if call.info.get(party + "Name"):
            flags |= C.LINECALLPARTYID_NAME
        return flags or C.LINECALLPARTYID_UNAVAIL

    def lineGetCallStatus(
        self, hCall: int, lpCallStatus: Any = OUT
    ) -> tuple[int, LINECALLSTATUS | None]:
        """Returns (rc, LINECALLSTATUS): state, mode, this handle's privilege, features."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h, None
            s, grow, rc = out_struct(lpCallStatus, LINECALLSTATUS, h.line.api_version)
            if s is None:
                return rc, None
            call = h.call
            s.dwCallState = call.state or 0
            s.dwCallStateMode = call.state_mode
            s.dwCallPrivilege = h.privilege
            features = _FEATURES.get(_base_state(call), C.LINECALLFEATURE_DROP)
            s.dwCallFeatures = features if h.privilege == _OWNER else 0
            return fit(s, api_version=h.line.api_version, grow=grow), s

    def lineGetNewCalls(
        self, hLine: int, dwAddressID: int, dwSelect: int, lpCallList: Any = OUT
    ) -> tuple[int, LINECALLLIST | None]:
        """Returns (rc, LINECALLLIST): monitor handles to calls the app has none for;
        other holders get LINE_CALLINFO(NUMMONITORS)."""
        with self.op():
            line = self.tables.line_or_error(hLine)
            if isinstance(line, int):
                return line, None
            if dwSelect == C.LINECALLSELECT_ADDRESS:
                if (
                    not is_dword(dwAddressID)
                    or dwAddressID >= line.device.line.caps().num_addresses
                ):
                    return C.LINEERR_INVALADDRESSID, None
            elif dwSelect != C.LINECALLSELECT_LINE:
                return C.LINEERR_INVALCALLSELECT, None
            s, grow, rc = out_struct(lpCallList, LINECALLLIST, line.api_version)
            if s is None:
                return rc, None
            new: list[int] = []
            for call in list(line.device.calls):
                if not call.announced or call.closed:
                    continue
                if dwSelect == C.LINECALLSELECT_ADDRESS and call.address_id != dwAddressID:
                    continue
                if any(x.line.app is line.app for x in call.handles):
                    continue
                h = self.tree.add_handle(line, call, _MONITOR, valid=True)
                new.append(h.hCall)
                self.router.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMMONITORS, line.app)
            s.Calls = new
            rc = fit(s, api_version=line.api_version, grow=grow)
            return rc, s

    # -- privileges and handoff ------------------------------------------------------------
    def lineSetCallPrivilege(self, hCall: int, dwCallPrivilege: int) -> int:
        """MONITOR or OWNER exactly; a sole owner of a non-IDLE call may not become MONITOR."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h
            if dwCallPrivilege not in (_OWNER, _MONITOR):
                return C.LINEERR_INVALCALLPRIVILEGE
            if dwCallPrivilege == h.privilege:
                return 0
            call = h.call
            if dwCallPrivilege == _MONITOR:
                if not call.idle and len(call.owners()) == 1:
                    return C.LINEERR_INVALCALLSTATE
                h.privilege = _MONITOR
                self.router.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMOWNERDECR, h.line.app)
            else:
                h.privilege = _OWNER
                self.router.callinfo_to_others(call, C.LINECALLINFOSTATE_NUMOWNERINCR, h.line.app)
            return 0

    def lineHandoff(
        self, hCall: int, lpszFileName: str | None = None, dwMediaMode: int = 0
    ) -> int:
        """Give ownership to the app named `lpszFileName` (its friendly name, else the
        base name of its sys.argv[0]), or to the highest-priority owner of dwMediaMode."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h
            if lpszFileName is not None and not is_text(lpszFileName):
                return C.LINEERR_INVALPOINTER
            if lpszFileName is None and (
                not is_dword(dwMediaMode) or not single_bit(dwMediaMode) or dwMediaMode & ~0xFFFE
            ):
                return C.LINEERR_INVALMEDIAMODE
            if h.privilege != _OWNER:
                return C.LINEERR_NOTOWNER
            call = h.call
            opens = [o for o in call.device.opens if o.owner]
            if lpszFileName is not None:
                name = lpszFileName.casefold()
                targets = [o for o in opens if o.app.handoff_name.casefold() == name]
                if not targets:
                    return C.LINEERR_TARGETNOTFOUND
                if any(o.app is h.line.app for o in targets):
                    return 0  # handing off to oneself succeeds and changes nothing
                target = targets[0]
            else:
                candidates = [o for o in opens if o.media_modes & dwMediaMode]
                if not candidates:
                    return C.LINEERR_TARGETNOTFOUND
                if candidates[0].app is h.line.app:
                    return C.LINEERR_TARGETSELF
                target = candidates[0]
                call.media_mode = dwMediaMode
            self._give_ownership(call, target, h)
            return 0

    def _give_ownership(self, call: PhysCall, target: Any, giver: CallHandle) -> None:
        existing = next((x for x in call.handles if x.line.app is target.app), None)
        if existing is not None:
            if existing.privilege == _OWNER:
                return
            existing.privilege = _OWNER
            state = call.state or C.LINECALLSTATE_UNKNOWN
            self.router.post_handle(existing, C.LINE_CALLSTATE, state, call.state_mode, _OWNER)
            changed = existing
        else:
            changed = self.tree.add_handle(target, call, _OWNER, valid=False)
            self.tree.announce_handle(
                changed, call.state or C.LINECALLSTATE_UNKNOWN, call.state_mode
            )
        if call.idle:
            return
        # The other holders learn of the new owner; the new owner learnt it from its
        # LINE_CALLSTATE, and the app that handed off caused it (rules.md §3, §6.3).
        for x in call.holders():
            if x.line.app is not changed.line.app and x.line.app is not giver.line.app:
                self.router.post_handle(x, C.LINE_CALLINFO, C.LINECALLINFOSTATE_NUMOWNERINCR)

    # -- lineSetCallParams -----------------------------------------------------------------
    def lineSetCallParams(
        self,
        hCall: int,
        dwBearerMode: int,
        dwMinRate: int = 0,
        dwMaxRate: int = 0,
        lpDialParams: object = None,
    ) -> int:
        """Owner only; OFFERING, ACCEPTED or CONNECTED; passed to the provider (passthrough)."""
        with self.op():
            h = self.tables.call_or_error(hCall)
            if isinstance(h, int):
                return h
            if not (is_dword(dwBearerMode) and single_bit(dwBearerMode)) or dwBearerMode & ~0xFF:
                return C.LINEERR_INVALBEARERMODE
            if not (is_dword(dwMinRate) and is_dword(dwMaxRate)) or (
                dwMaxRate and dwMinRate > dwMaxRate
            ):
                return C.LINEERR_INVALRATE
            caps = h.call.device.line.caps()
            if not dwBearerMode & caps.bearer_modes:
                return C.LINEERR_BEARERMODEUNAVAIL
            if h.privilege != _OWNER:
                return C.LINEERR_NOTOWNER
            if _base_state(h.call) not in (
                C.LINECALLSTATE_OFFERING,
                C.LINECALLSTATE_ACCEPTED,
                C.LINECALLSTATE_CONNECTED,
            ):
                return C.LINEERR_INVALCALLSTATE
            req = self._request("setcallparams", h)
            return self._submit(
                req,
                h.call.device.line.set_call_params(
                    req.request_id, h.call.htCall, dwBearerMode, dwMinRate, dwMaxRate
                ),
            )


_FEATURES_STATES = (
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
