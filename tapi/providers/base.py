"""The provider interface: what the core asks of a line device, and what it reports back.

It is shaped like TSPI (rules.md §2.26, 3): each method of `LineDevice` is the TSPI
function of the same meaning (``open`` ≙ TSPI_lineOpen, ``make_call`` ≙
TSPI_lineMakeCall, ``close_call`` ≙ TSPI_lineCloseCall …), and `LineEvents` is the
LINEEVENT / ASYNC_COMPLETION callback. The core knows nothing of AT commands; a modem
provider drives its modem with `tapi.providers.modem_at` behind this interface.

Threading contract (keep it, and the core stays simple):

- The core calls the TSPI methods on the application's thread with the core lock
  held. They must not block: a provider that does I/O hands the work to its event
  loop (``loop.call_soon_threadsafe``) and reports the outcome later.
- A provider reports through `LineEvents` from any thread (normally its event-loop
  thread). Events reported from inside a TSPI method are queued by the core and run
  when the current API call has finished, so a provider may complete a request
  synchronously without re-entering the core half-way.
- Asynchronous methods take the core's ``request_id``; they return 0 when accepted
  (the outcome then comes as ``events.completion(request_id, result)``) or a negative
  LINEERR_* for a synchronous failure (no completion follows).
- Calls are named by the core's ``htCall`` (a positive int, never reused). An
  outgoing call gets its htCall in ``make_call``; an incoming one gets it from
  ``events.new_call``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tapi import constants as C

#: The TSPI version range a provider speaks unless it says otherwise.
API_LOW = C.TAPI_VERSION1_0
API_HIGH = C.TAPI_VERSION2_2


@dataclass
class LineCaps:
    """The provider-neutral description of a line device (LINEDEVCAPS, LINEADDRESSCAPS).

    The defaults are the modem values of rules.md §8.5.
    """

    line_name: str
    provider_info: str = "UNIMODEM"
    switch_info: str = ""
    permanent_line_id: int = 0
    media_modes: int = C.LINEMEDIAMODE_DATAMODEM | C.LINEMEDIAMODE_INTERACTIVEVOICE
    bearer_modes: int = C.LINEBEARERMODE_VOICE | C.LINEBEARERMODE_PASSTHROUGH
    dev_cap_flags: int = C.LINEDEVCAPFLAGS_CLOSEDROP
    line_features: int = C.LINEFEATURE_MAKECALL
    num_addresses: int = 1
    max_num_active_calls: int = 1
    num_ring_modes: int = 1
    max_rate: int = 33600
    string_format: int = C.STRINGFORMAT_ASCII
    device_classes: tuple[str, ...] = (
        "tapi/line",
        "comm",
        "comm/datamodem",
        "comm/datamodem/portname",
    )
    address_call_features: int = (
        C.LINECALLFEATURE_ACCEPT
        | C.LINECALLFEATURE_ANSWER
        | C.LINECALLFEATURE_DROP
        | C.LINECALLFEATURE_SETCALLPARAMS
    )
    address_features: int = C.LINEADDRFEATURE_MAKECALL
    caller_id_flags: int = C.LINECALLPARTYID_UNAVAIL
    called_id_flags: int = C.LINECALLPARTYID_UNAVAIL
    disconnect_modes: int = (
        C.LINEDISCONNECTMODE_NORMAL
        | C.LINEDISCONNECTMODE_BUSY
        | C.LINEDISCONNECTMODE_NOANSWER
        | C.LINEDISCONNECTMODE_UNAVAIL
        | C.LINEDISCONNECTMODE_NODIALTONE
    )
    address: str = ""
    api_low: int = API_LOW
    api_high: int = API_HIGH


@dataclass(frozen=True)
class CallParams:
    """The parts of LINECALLPARAMS a provider acts on (lineMakeCall, lineOpen/LINEMAPPER)."""

    media_mode: int = C.LINEMEDIAMODE_INTERACTIVEVOICE
    bearer_mode: int = C.LINEBEARERMODE_VOICE
    address_id: int = 0
    flags: int = 0
    min_rate: int = 0
    max_rate: int = 0


@dataclass
class DeviceID:
    """A lineGetID answer: the VARSTRING's dwStringFormat and its value.

    For "comm/datamodem" the value is ``(hComm, szDeviceName)``, where hComm is a
    pyserial-compatible port object (or None) that the provider relays (rules.md §2.21).
    """

    string_format: int
    value: Any


class LineEvents(Protocol):
    """What a line device reports to the core (TSPI LINEEVENT and ASYNC_COMPLETION)."""

    def completion(self, request_id: int, result: int) -> None:
        """An asynchronous request finished with 0 or a LINEERR_* (ASYNC_COMPLETION)."""

    def new_call(
        self,
        line: LineDevice,
        *,
        address_id: int = 0,
        media_mode: int = C.LINEMEDIAMODE_UNKNOWN,
        origin: int = C.LINECALLORIGIN_EXTERNAL,
        reason: int = C.LINECALLREASON_DIRECT,
    ) -> int:
        """A call the provider found (TSPI LINE_NEWCALL). Returns its htCall, or 0 when
        the core refuses it (nobody can own it; drop it). Must be followed by call_state."""

    def call_state(self, htCall: int, state: int, mode: int = 0, media_mode: int = 0) -> None:
        """The call is now in LINECALLSTATE `state` with `mode` (LINE_CALLSTATE)."""

    def call_info(self, htCall: int, changed: int, **values: Any) -> None:
        """LINECALLINFO fields changed (LINE_CALLINFO); `values` by LINECALLINFO field
        name, e.g. ``dwRate=33600, CallerID="5551234", CallerIDName="Alice"``."""

    def line_devstate(
        self, line: LineDevice, state: int, param2: int = 0, param3: int = 0
    ) -> None:
        """A LINEDEVSTATE_* event (RINGING: param2 ring mode, param3 ring count)."""

    def line_closed(self, line: LineDevice) -> None:
        """The provider closed the device itself (TSPI LINE_CLOSE): port vanished, error."""

    def device_removed(self, line: LineDevice) -> None:
        """The device is gone for good (LINEDEVSTATE_REMOVED, LINE_CLOSE, LINE_REMOVE)."""

    def device_created(self, line: LineDevice) -> None:
        """A new device appeared (LINE_CREATE)."""

    def provider_error(self, line: LineDevice, text: str) -> None:
        """The provider found a fault in itself or its device (an exception in its
        code, a port that failed, a modem that refused its init): the stack records it
        in `Stack.provider_errors`, where tests and operators see it."""


class LineDevice:
    """One line device of a provider. Subclasses override the TSPI methods they support;
    the defaults answer LINEERR_OPERATIONUNAVAIL, as a TSP without that export would."""

    def __init__(self, caps: LineCaps) -> None:
        self._caps = caps
        self.events: LineEvents | None = None
        self.loop_getter: Callable[[], asyncio.AbstractEventLoop] | None = None
        #: Faults this device reported (`report_error`), oldest first.
        self.errors: list[str] = []

    # -- set-up ----------------------------------------------------------------------------
    def attach(
        self, events: LineEvents, loop_getter: Callable[[], asyncio.AbstractEventLoop]
    ) -> None:
        """Called once by the core when the device is registered."""
        self.events = events
        self.loop_getter = loop_getter

    def report_error(self, text: str) -> None:
        """Record a fault in `errors` and report it to the stack (`provider_error`)."""
        self.errors.append(text)
        # An events object written before provider_error existed may lack it.
        report = getattr(self.events, "provider_error", None)
        if report is not None:
            report(self, text)

    def caps(self) -> LineCaps:
        """TSPI_lineGetDevCaps / TSPI_lineGetAddressCaps."""
        return self._caps

    def dev_status_flags(self) -> int:
        """LINEDEVSTATUS.dwDevStatusFlags (TSPI_lineGetLineDevStatus): CONNECTED and
        INSERVICE unless the device says otherwise. A device that is not yet usable
        after lineOpen (a modem being initialised) leaves INSERVICE out until it is,
        and then reports LINEDEVSTATE_INSERVICE."""
        return C.LINEDEVSTATUSFLAGS_CONNECTED | C.LINEDEVSTATUSFLAGS_INSERVICE

    def negotiate_version(self, low: int, high: int) -> int:
        """TSPI_lineNegotiateTSPIVersion: the highest version in [low, high] this device
        speaks, or LINEERR_INCOMPATIBLEAPIVERSION."""
        caps = self.caps()
        best = min(high, caps.api_high)
        if best < max(low, caps.api_low):
            return C.LINEERR_INCOMPATIBLEAPIVERSION
        return best

    # -- line ------------------------------------------------------------------------------
    def open(self) -> int:
        """TSPI_lineOpen, when the first HLINE opens the device. 0, LINEERR_ALLOCATED or
        LINEERR_RESOURCEUNAVAIL."""
        return 0

    def close(self) -> None:
        """TSPI_lineClose, when the last HLINE closes: drop what is left, release the port."""

    def when_drained(self, done: Callable[[], None]) -> None:
        """Call `done()` (from any thread) once the device has finished what closing
        began (see `Provider.when_drained`); at once for a device with no such work."""
        done()

    def set_default_media_detection(self, media_modes: int) -> int:
        """TSPI_lineSetDefaultMediaDetection: the union of the OWNER media modes of all
        opens; 0 means nobody wants incoming calls (rules.md §6.9)."""
        return 0

    # -- calls -----------------------------------------------------------------------------
    def make_call(
        self,
        request_id: int,
        htCall: int,
        dest_address: str | None,
        country_code: int,
        params: CallParams,
    ) -> int:
        """TSPI_lineMakeCall."""
        return C.LINEERR_OPERATIONUNAVAIL

    def dial(self, request_id: int, htCall: int, dest_address: str, country_code: int) -> int:
        """TSPI_lineDial."""
        return C.LINEERR_OPERATIONUNAVAIL

    def answer(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        """TSPI_lineAnswer."""
        return C.LINEERR_OPERATIONUNAVAIL

    def accept(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        """TSPI_lineAccept."""
        return C.LINEERR_OPERATIONUNAVAIL

    def drop(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        """TSPI_lineDrop: the call should be IDLE when it completes."""
        return C.LINEERR_OPERATIONUNAVAIL

    def close_call(self, htCall: int) -> None:
        """TSPI_lineCloseCall: the last handle is gone; drop the call if still active
        (CLOSEDROP) and report nothing more about it."""

    def set_call_params(
        self, request_id: int, htCall: int, bearer_mode: int, min_rate: int, max_rate: int
    ) -> int:
        """TSPI_lineSetCallParams (used for passthrough)."""
        return C.LINEERR_OPERATIONUNAVAIL

    def get_id(self, device_class: str, htCall: int | None) -> DeviceID | int:
        """TSPI_lineGetID for the classes the provider owns ("comm", "comm/datamodem" …).
        `htCall` is None for LINECALLSELECT_LINE/ADDRESS. LINEERR_* on failure."""
        return C.LINEERR_INVALDEVICECLASS


class Provider:
    """A set of line devices (one TSP). The core asks it for its devices once; devices
    added later are reported with ``LineEvents.device_created``."""

    def __init__(self, lines: list[LineDevice] | None = None) -> None:
        self._lines: list[LineDevice] = list(lines or [])

    def lines(self) -> list[LineDevice]:
        """The devices present at start-up, in device-ID order."""
        return list(self._lines)

    def shutdown(self) -> None:
        """TSPI_providerShutdown: the stack is closing."""

    def when_drained(self, done: Callable[[], None]) -> None:
        """Call `done()` (from any thread) once the work begun before `shutdown()` has
        finished: hang-ups with their DTR timers, ports being released. The stack keeps
        its loop running until then (bounded by a time-out on its clock). By default,
        once every line device is drained (`LineDevice.when_drained`)."""
        lines = self.lines()
        remaining = [len(lines)]
        lock = threading.Lock()

        def one_done() -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                done()

        if not lines:
            done()
        for line in lines:
            line.when_drained(one_done)
