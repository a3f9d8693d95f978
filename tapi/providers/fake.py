"""A scripted line device for unit tests of the core: no I/O, no clock, no threads.

`FakeLine` records every TSPI call in `log` and, with ``auto=True`` (the default),
answers each asynchronous request at once the way a well-behaved modem provider
would (lineMakeCall → reply 0, DIALING, PROCEEDING; lineAnswer → CONNECTED; lineDrop →
IDLE …). With ``auto=False`` requests stay in `pending` until the test calls
`complete()`. Remote events are scripted with `incoming()`, `connect()`,
`remote_hangup()`, `busy()`, `ring()`, `force_close()` and `remove()`.
"""

from __future__ import annotations

from typing import Any

from tapi import constants as C
from tapi.providers.base import CallParams, DeviceID, LineCaps, LineDevice, LineEvents, Provider


class FakeLine(LineDevice):
    """A line device whose behaviour the test scripts (see module doc)."""

    def __init__(
        self,
        name: str = "Fake line",
        *,
        caps: LineCaps | None = None,
        auto: bool = True,
        port_name: str = "/dev/fake0",
    ) -> None:
        super().__init__(caps or LineCaps(name))
        self.auto = auto
        self.port_name = port_name
        self.log: list[tuple[Any, ...]] = []
        self.pending: dict[int, tuple[str, int]] = {}
        self.states: dict[int, int] = {}
        self.open_result = 0
        self.is_open = False
        self.media_detection = 0
        self.data_port: object = object()  # stands in for the relayed pyserial port
        self.rings = 0

    # -- plumbing --------------------------------------------------------------------------
    @property
    def ev(self) -> LineEvents:
        if self.events is None:
            raise RuntimeError("FakeLine is not attached to a stack")
        return self.events

    def _accept(self, kind: str, request_id: int, htCall: int) -> int:
        self.pending[request_id] = (kind, htCall)
        return 0

    # -- TSPI ------------------------------------------------------------------------------
    def open(self) -> int:
        self.log.append(("open",))
        if self.open_result == 0:
            self.is_open = True
        return self.open_result

    def close(self) -> None:
        self.log.append(("close",))
        self.is_open = False
        self.states.clear()

    def set_default_media_detection(self, media_modes: int) -> int:
        self.log.append(("media_detection", media_modes))
        self.media_detection = media_modes
        return 0

    def make_call(
        self,
        request_id: int,
        htCall: int,
        dest_address: str | None,
        country_code: int,
        params: CallParams,
    ) -> int:
        self.log.append(("make_call", htCall, dest_address, params.media_mode))
        self._accept("make_call", request_id, htCall)
        if self.auto:
            self.complete(request_id, 0)
            if dest_address is None:
                self.state(htCall, C.LINECALLSTATE_DIALTONE, C.LINEDIALTONEMODE_UNAVAIL)
            else:
                self.state(htCall, C.LINECALLSTATE_DIALING)
                if not dest_address.endswith(";"):
                    self.state(htCall, C.LINECALLSTATE_PROCEEDING)
        return 0

    def dial(self, request_id: int, htCall: int, dest_address: str, country_code: int) -> int:
        self.log.append(("dial", htCall, dest_address))
        self._accept("dial", request_id, htCall)
        if self.auto:
            self.complete(request_id, 0)
            self.state(htCall, C.LINECALLSTATE_DIALING)
            if not dest_address.endswith(";"):
                self.state(htCall, C.LINECALLSTATE_PROCEEDING)
        return 0

    def answer(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        self.log.append(("answer", htCall))
        self._accept("answer", request_id, htCall)
        if self.auto:
            self.complete(request_id, 0)
            self.connect(htCall)
        return 0

    def accept(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        self.log.append(("accept", htCall))
        self._accept("accept", request_id, htCall)
        if self.auto:
            self.complete(request_id, 0)
            self.state(htCall, C.LINECALLSTATE_ACCEPTED)
        return 0

    def drop(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        self.log.append(("drop", htCall))
        self._accept("drop", request_id, htCall)
        if self.auto:
            self.complete(request_id, 0)
            self.state(htCall, C.LINECALLSTATE_IDLE)
        return 0

    def close_call(self, htCall: int) -> None:
        self.log.append(("close_call", htCall))
        # TSPI: complete every outstanding request of the call before forgetting it.
        for rid, (_kind, call) in list(self.pending.items()):
            if call == htCall:
                self.complete(rid, C.LINEERR_OPERATIONFAILED)
        self.states.pop(htCall, None)

    def set_call_params(
        self, request_id: int, htCall: int, bearer_mode: int, min_rate: int, max_rate: int
    ) -> int:
        self.log.append(("set_call_params", htCall, bearer_mode))
        self._accept("set_call_params", request_id, htCall)
        if self.auto:
            self.complete(request_id, 0)
        return 0

    def get_id(self, device_class: str, htCall: int | None) -> DeviceID | int:
        if device_class == "comm":
            return DeviceID(C.STRINGFORMAT_ASCII, self.caps().line_name)
        if device_class == "comm/datamodem":
            connected = htCall is not None and self.states.get(htCall) == C.LINECALLSTATE_CONNECTED
            return DeviceID(C.STRINGFORMAT_BINARY, (self.data_port if connected else None,
                                                    self.port_name))  # fmt: skip
        if device_class == "comm/datamodem/portname":
            return DeviceID(C.STRINGFORMAT_ASCII, self.port_name)
        return C.LINEERR_INVALDEVICECLASS

    # -- scripting -------------------------------------------------------------------------
    def complete(self, request_id: int | None = None, result: int = 0) -> int:
        """Finish a pending request (default: the oldest); returns its ID."""
        if request_id is None:
            request_id = next(iter(self.pending))
        self.pending.pop(request_id, None)
        self.ev.completion(request_id, result)
        return request_id

    def state(self, htCall: int, state: int, mode: int = 0, media_mode: int = 0) -> None:
        """Report a call state."""
        self.states[htCall] = state
        self.ev.call_state(htCall, state, mode, media_mode)

    def connect(self, htCall: int, rate: int = 33600) -> None:
        self.ev.call_info(htCall, 0, dwRate=rate)  # silently, as the spec sequences show
        self.state(htCall, C.LINECALLSTATE_CONNECTED, C.LINECONNECTEDMODE_ACTIVE)

    def busy(self, htCall: int) -> None:
        self.state(htCall, C.LINECALLSTATE_DISCONNECTED, C.LINEDISCONNECTMODE_BUSY)

    def remote_hangup(self, htCall: int) -> None:
        self.state(htCall, C.LINECALLSTATE_DISCONNECTED, C.LINEDISCONNECTMODE_NORMAL)

    def incoming(
        self,
        *,
        caller_id: str = "",
        caller_name: str = "",
        media_mode: int = C.LINEMEDIAMODE_UNKNOWN | C.LINEMEDIAMODE_DATAMODEM,
    ) -> int:
        """A new incoming call: LINE_NEWCALL, caller ID, OFFERING, first ring. Returns
        its htCall (0 when the core refused it)."""
        htCall = self.ev.new_call(self, media_mode=media_mode)
        if not htCall:
            return 0
        if caller_id or caller_name:
            self.ev.call_info(htCall, 0, CallerID=caller_id, CallerIDName=caller_name)
        self.state(htCall, C.LINECALLSTATE_OFFERING, C.LINEOFFERINGMODE_ACTIVE, media_mode)
        self.rings = 0
        self.ring()
        return htCall

    def ring(self) -> None:
        """One ring cycle: LINEDEVSTATE_RINGING with the ring count (first ring is 0)."""
        self.ev.line_devstate(self, C.LINEDEVSTATE_RINGING, 1, self.rings)
        self.rings += 1

    def force_close(self) -> None:
        """The port vanished: complete pending requests as failures, then LINE_CLOSE."""
        for rid in list(self.pending):
            self.complete(rid, C.LINEERR_OPERATIONFAILED)
        self.ev.line_closed(self)

    def remove(self) -> None:
        """The device is removed for good."""
        for rid in list(self.pending):
            self.complete(rid, C.LINEERR_OPERATIONFAILED)
        self.ev.device_removed(self)


class FakeProvider(Provider):
    """A provider of `FakeLine`s that can add devices at run time (LINE_CREATE)."""

    def __init__(self, lines: list[LineDevice] | None = None) -> None:
        super().__init__(lines)
        self.events: LineEvents | None = None
        self.shut_down = False

    def add_line(self, line: FakeLine, events: LineEvents) -> None:
        """Report a new device through the core's events (any attached line's)."""
        self._lines.append(line)
        events.device_created(line)

    def shutdown(self) -> None:
        self.shut_down = True
