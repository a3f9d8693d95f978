"""Assisted telephony (rules.md §2.22-2.24, 6.7): request recipients and their queue.

The highest-priority recipient is the first app (in registration order) still
registered for LINEREQUESTMODE_MAKECALL. One LINE_REQUEST covers every request queued
until the recipient has drained the queue with lineGetRequest; it is never repeated.
"""

from __future__ import annotations

from typing import Any

from tapi import constants as C
from tapi.core.args import OUT, is_dword, is_text
from tapi.core.state import CoreState
from tapi.structs import LINEREQMAKECALL

_MODES = C.LINEREQUESTMODE_MAKECALL | C.LINEREQUESTMODE_DROP
#: Requests queued at most (then TAPIERR_REQUESTQUEUEFULL).
QUEUE_LIMIT = 32


class AssistedFunctions(CoreState):
    """lineRegisterRequestRecipient, lineGetRequest, tapiRequestMakeCall."""

    def lineRegisterRequestRecipient(
        self, hLineApp: int, dwRegistrationInstance: int, dwRequestMode: int, bEnable: int
    ) -> int:
        """Register (bEnable true) or deregister the app for LINEREQUESTMODE_* requests."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app
            if not is_dword(dwRequestMode) or not dwRequestMode or dwRequestMode & ~_MODES:
                return C.LINEERR_INVALREQUESTMODE
            if bEnable:
                app.request_modes |= dwRequestMode
                app.registration_instance = (
                    dwRegistrationInstance if is_dword(dwRegistrationInstance) else 0
                )
                if app not in self.recipients.registered:
                    self.recipients.registered.append(app)
                self.recipients.notify()
            else:
                app.request_modes &= ~dwRequestMode
                if not app.request_modes and app in self.recipients.registered:
                    self.recipients.registered.remove(app)
            return 0

    def lineGetRequest(
        self, hLineApp: int, dwRequestMode: int, *, lpRequestBuffer: Any = OUT
    ) -> tuple[int, LINEREQMAKECALL | None]:
        """Returns (rc, LINEREQMAKECALL); loop until LINEERR_NOREQUEST."""
        with self.op():
            app = self.tables.app_or_error(hLineApp)
            if isinstance(app, int):
                return app, None
            if lpRequestBuffer is None:
                return C.LINEERR_INVALPOINTER, None
            if dwRequestMode not in (C.LINEREQUESTMODE_MAKECALL, C.LINEREQUESTMODE_DROP):
                return C.LINEERR_INVALREQUESTMODE, None
            if not app.request_modes & dwRequestMode:
                return C.LINEERR_NOTREGISTERED, None
            if dwRequestMode == C.LINEREQUESTMODE_DROP:
                return C.LINEERR_NOREQUEST, None
            if self.recipients.recipient(dwRequestMode) is not app or not self.recipients.queue:
                return C.LINEERR_NOREQUEST, None
            dest, name, party, comment = self.recipients.queue.popleft()
            if not self.recipients.queue:
                self.recipients.notified = None
            return 0, LINEREQMAKECALL.create(dest, name, party, comment)

    def tapiRequestMakeCall(
        self,
        lpszDestAddress: str | None = None,
        lpszAppName: str | None = None,
        lpszCalledParty: str | None = None,
        lpszComment: str | None = None,
    ) -> int:
        """Queue a call request for the highest-priority MAKECALL recipient (no
        HLINEAPP needed). 0 or TAPIERR_*."""
        with self.op():
            if not is_text(lpszDestAddress):
                return C.TAPIERR_INVALPOINTER
            assert isinstance(lpszDestAddress, str)
            for opt in (lpszAppName, lpszCalledParty, lpszComment):
                if opt is not None and not is_text(opt):
                    return C.TAPIERR_INVALPOINTER
            if not lpszDestAddress or len(lpszDestAddress) >= C.TAPIMAXDESTADDRESSSIZE:
                return C.TAPIERR_INVALDESTADDRESS
            if self.recipients.recipient(C.LINEREQUESTMODE_MAKECALL) is None:
                return C.TAPIERR_NOREQUESTRECIPIENT
            if len(self.recipients.queue) >= QUEUE_LIMIT:
                return C.TAPIERR_REQUESTQUEUEFULL
            self.recipients.queue.append(
                (lpszDestAddress, lpszAppName or "", lpszCalledParty or "", lpszComment or "")
            )
            self.recipients.notify()
            return 0
