"""The modem service provider: a `LineDevice` that drives an AT modem (rules.md §8).

How it works
------------
`ModemLine` glues three pieces together on the stack's event loop:

- a `tapi.providers.serialport.PortDriver` (the port: a pty, /dev/ttyUSB0,
  ``rfc2217://``, ``vmodem://``), read with ``loop.add_reader`` and never by a blocked
  thread;
- a `tapi.providers.modem_at.ModemDialogue` (what to say to the modem and what its
  answers mean), whose time-outs run on the loop's clock (``LoopClock``), so a
  virtual-time loop makes six rings or an S7 wait take milliseconds;
- the core's `LineEvents`, to which the dialogue's events are reported as TAPI call
  states, LINE_LINEDEVSTATE(RINGING), LINECALLINFO changes and request completions,
  following rules.md §5.2 and 8.4.

Threads: the TSPI methods are called by the core on application threads with the core
lock held (and sometimes on the loop thread, from inside a provider event). They never
block and never touch the port: they hand the work to the loop with
``call_soon_threadsafe`` and return 0, so the outcome of every asynchronous request is
a later ``events.completion()``. All provider state except the published data port is
owned by the loop thread, and events are reported from the loop thread without
holding any provider lock, so there is no lock-order problem with the core.

Life of the port: the first lineOpen (TSPI open) opens it, raises DTR (and, reopening
a port it closed less than `PORT_SETTLE` ago, lets it settle, dropping what the port
hands over meanwhile) and initialises the modem
(ATZ, then ATE0V1&C1&D2S7=60S0=0+VCID=1 as one line, or those one at a time when the
modem refuses the line or `one_line_init` is off, then the configured init string). When that
first init succeeds the line is in service: LINE_LINEDEVSTATE(INSERVICE), and
LINEDEVSTATUS.dwDevStatusFlags has INSERVICE until the port closes. Requests
that arrive meanwhile wait for the init to finish; an init failure fails them with
LINEERR_OPERATIONFAILED. After each call the modem is initialised again, REINIT_DELAY
later (at once for a request that comes sooner; not at all if the line closes first). The last
lineClose drops DTR and closes the port. A port that disappears (end of file, EIO,
its path removed, a vmodem:// modem removed from its host) completes every pending
request with LINEERR_OPERATIONFAILED and then reports ``line_closed``: LINE_CLOSE to
every app that has the line open.

Data calls: after CONNECT the call's data goes through a `DataPort`, handed out by
lineGetID("comm/datamodem"). The provider keeps reading the modem, so NO CARRIER is
still seen and reported as DISCONNECTED(NORMAL); on a port with modem lines it also
polls DCD (`DCD_POLL`), so a modem that hangs up without a word ends the call too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, assert_never

from linelab.clock import LoopClock
from linelab.vtime import RealTime, TimeSource
from tapi import constants as C
from tapi.config import LineConfig
from tapi.providers import modem_at as at
from tapi.providers.base import (
    CallParams,
    DeviceID,
    LineCaps,
    LineDevice,
    LineEvents,
    Provider,
)
from tapi.providers.dataport import RX_LIMIT, DataPort
from tapi.providers.serialport import (
    WRITE_HIGH,
    DataCallback,
    DrainedCallback,
    GoneCallback,
    PathWatcher,
    PortDriver,
    PortOpenError,
    is_url,
    open_driver,
    port_exists,
)

log = logging.getLogger(__name__)

#: The media mode of an incoming call until it is answered (rules.md §8.4).
INCOMING_MEDIA = C.LINEMEDIAMODE_UNKNOWN | C.LINEMEDIAMODE_DATAMODEM
RING_MODE = 1  # LINE_LINEDEVSTATE(RINGING) dwParam2: the only ring mode
#: Seconds between two looks at DCD while a data call is up (rules.md §8.4: a DCD drop
#: ends the call). pyserial has no modem-line event, so the line is polled; a port
#: without modem lines (a pty) is not.
DCD_POLL = 0.5
#: Seconds DCD must stay low, the call still up, before the provider ends the call
#: itself. A modem that loses carrier drops DCD and says NO CARRIER once its S10
#: disconnect delay (1.4 s by default) has run; that line ends the call the usual way.
#: Only a modem that hangs up without a word (a DTR drop under &D2 answers OK) needs this.
DCD_GRACE = 3.0
#: Seconds between reopening the port (DTR raised) and the first command, when this
#: line released it less than PORT_SETTLE ago; whatever the port hands over meanwhile
#: is discarded. A port closed and reopened at once (a lineClose, then a lineOpen)
#: would otherwise reach the modem as one stream: the last session's unanswered command
#: and the new session's first, with the close and the open seen afterwards as a DTR
#: pulse that discards the modem's answer (the lost ATZ of docs/benchmarks.md). A first
#: open, or one long after the last close, starts at once, as before. On virtual time
#: the clock cannot jump over the settle while bytes or the pty's open and close events
#: are still in flight, so the modem has seen the close and the open, and answered or
#: dropped the old command, before the new session's first byte: the same order every
#: run. 50 ms is also what Unimodem leaves a modem around a DTR change (its
#: CompatibilityFlags: DTR low 50 ms before a port closes).
PORT_SETTLE = 0.05
#: Seconds after a call's hang-up before the modem is initialised again (rules.md §8.3:
#: back to a known state, listening for RING). An app that ends a call the usual way
#: (lineDrop, lineDeallocateCall, lineClose) closes the line before then, so the port
#: is released with no command on the wire and no reset that only the next open would
#: repeat; a request in the meantime (the next lineMakeCall) starts the init at once.
#: On virtual time the clock cannot pass it while the app is still busy, so which of
#: the two happens depends only on what the app does, not on the machine's speed.
REINIT_DELAY = 0.1


class DriverFactory(Protocol):
    """Opens a port and wraps it (`tapi.providers.serialport.open_driver` by default)."""

    def __call__(
        self,
        port: str,
        loop: asyncio.AbstractEventLoop,
        on_data: DataCallback,
        on_gone: GoneCallback,
        on_drained: DrainedCallback | None = None,
        *,
        baudrate: int = 115200,
    ) -> PortDriver: ...


def settings_for(config: LineConfig) -> at.ModemSettings:
    """The `ModemSettings` of a configured line (rules.md §8.1)."""
    t = config.timeouts
    return at.ModemSettings(
        reset="ATZ" if config.reset else "",
        one_line=config.one_line_init,
        s7=config.call_setup_fail_timer,
        user_init=config.init,
        tone=config.dial_method != "pulse",
        blind=config.blind,
        command_timeout=t.command,
        dial_timeout=t.dial,
        answer_timeout=t.answer,
        guard_time=t.guard,
        dtr_drop_time=t.dtr_low,
    )


def caps_for(config: LineConfig) -> LineCaps:
    """The LINEDEVCAPS/LINEADDRESSCAPS of a modem line (rules.md §8.5)."""
    return LineCaps(line_name=config.name, dev_cap_flags=config.dev_cap_flags)


@dataclass
class _Call:
    """The provider's view of the one call on the line (loop thread only)."""

    htCall: int
    outgoing: bool
    media_mode: int
    state: int = 0  # last LINECALLSTATE reported (0: none yet)
    closed: bool = False  # TSPI_lineCloseCall: report nothing more
    requests: dict[int, str] = field(default_factory=dict)  # request ID -> kind
    dial_request: int | None = None  # completed when the first digits go out
    more_digits: deque[tuple[int, str]] = field(default_factory=deque)  # lineDial
    data_port: DataPort | None = None


class ModemLine(LineDevice):
    """One modem line device (see the module docstring).

    `time` is the stack's time source (for the data port's blocking reads); by default
    the one the core offers as ``events.time``, else real time. `driver_factory`
    replaces the port opener (unit tests pass a scripted fake port).
    """

    def __init__(
        self,
        config: LineConfig,
        *,
        time: TimeSource | None = None,
        driver_factory: DriverFactory | None = None,
        settings: at.ModemSettings | None = None,
    ) -> None:
        super().__init__(caps_for(config))
        self.config = config
        self.settings = settings if settings is not None else settings_for(config)
        self._time = time
        self._open_driver: DriverFactory = driver_factory or open_driver
        self._lock = threading.Lock()  # guards _published (read by get_id on app threads)
        self._published: tuple[int, DataPort] | None = None
        # Everything below belongs to the loop thread.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dialogue: at.ModemDialogue | None = None
        self.driver: PortDriver | None = None
        self._want_open = False
        self._ready = False
        # In service: the modem has been initialised since the port opened (read by
        # dev_status_flags on app threads: one bool, written on the loop thread).
        self._in_service = False
        self._waiting: list[Callable[[], None]] = []
        self._call: _Call | None = None
        self._caller_id: at.CallerID | None = None
        self._ignore_rings_until = float("-inf")
        self._listen_media = 0  # set_default_media_detection: no owner wants calls yet
        self._timer: asyncio.TimerHandle | None = None
        self._settle: asyncio.TimerHandle | None = None  # PORT_SETTLE after a reopen
        self._released_at: float | None = None  # loop time this line last closed its port
        self._reinit: asyncio.TimerHandle | None = None  # REINIT_DELAY after a call
        self._dcd_timer: asyncio.TimerHandle | None = None
        self._dcd_low = 0  # polls in a row that found DCD low while connected
        self._relay_queued = False
        self._drained: list[Callable[[], None]] = []  # told when the port is released
        self.provider: ModemProvider | None = None
        #: Problems found on the loop (for tests and `linelab trace`): never silent.
        self.errors: list[str] = []
        #: Everything written to and read from the modem, for diagnostics (bounded).
        self.transcript: deque[tuple[str, bytes]] = deque(maxlen=500)

    # -- plumbing ----------------------------------------------------------------------
    def attach(
        self, events: LineEvents, loop_getter: Callable[[], asyncio.AbstractEventLoop]
    ) -> None:
        super().attach(events, loop_getter)
        if self.provider is not None:
            self.provider.attach(events, loop_getter)

    def port_vanished(self, reason: str) -> None:
        """The provider saw the port's path go (loop thread): a forced close, as if the
        port itself had failed."""
        self._port_gone(reason)

    @property
    def time(self) -> TimeSource:
        if self._time is None:
            offered = getattr(self.events, "time", None)
            self._time = offered if offered is not None else RealTime()
        return self._time

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            if self.loop_getter is None:
                raise RuntimeError(f"{self.config.name}: not attached to a stack")
            self._loop = self.loop_getter()
        return self._loop

    def _post(self, fn: Callable[..., None], *args: Any) -> bool:
        """Run `fn(*args)` on the loop thread, soon (from any thread); False if the
        stack's loop has closed and nothing is left to drive it."""
        try:
            self._get_loop().call_soon_threadsafe(self._guarded, fn, *args)
        except RuntimeError as exc:
            log.debug("%s: %s dropped: %s", self.config.name, fn.__name__, exc)
            return False
        return True

    def when_drained(self, done: Callable[[], None]) -> None:
        """Call `done()` once the port is released (after a hang-up under way, with its
        DTR drop): at once if the line never ran or its loop has gone."""
        if self._loop is None or not self._post(self._add_drained, done):
            done()

    def _add_drained(self, done: Callable[[], None]) -> None:
        if self.driver is None:
            done()
        else:
            self._drained.append(done)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # a bug here must not leave apps waiting forever
            log.exception("%s: provider error", self.config.name)
            self.report_error(f"{type(exc).__name__}: {exc}")
            self._port_gone(f"provider error: {exc}")

    @property
    def dialogue(self) -> at.ModemDialogue:
        if self._dialogue is None:
            self._dialogue = at.ModemDialogue(self.settings, LoopClock(self._get_loop()))
        return self._dialogue

    # -- TSPI: line ------------------------------------------------------------------------
    def open(self) -> int:
        if not port_exists(self.config.port):
            return C.LINEERR_RESOURCEUNAVAIL
        self._get_loop()
        _ = self.time  # resolve the time source while the core is attached
        self._post(self._open_port)
        return 0

    def close(self) -> None:
        self._post(self._close_port)

    def dev_status_flags(self) -> int:
        flags = C.LINEDEVSTATUSFLAGS_CONNECTED
        return flags | C.LINEDEVSTATUSFLAGS_INSERVICE if self._in_service else flags

    def set_default_media_detection(self, media_modes: int) -> int:
        # The OWNER media modes of every open. RINGs count only while some owner wants
        # calls the modem can take (rules.md §6.9): with monitors only they are ignored,
        # so no call ever needs dropping for want of an owner.
        self._listen_media = media_modes
        if media_modes and self._loop is not None and self.driver is None:
            # (`driver` belongs to the loop: read here only to skip a needless post.)
            self._post(self._owner_wants_port)
        return 0

    # -- TSPI: calls -------------------------------------------------------------------------
    def make_call(
        self,
        request_id: int,
        htCall: int,
        dest_address: str | None,
        country_code: int,
        params: CallParams,
    ) -> int:
        self._post(self._make_call, request_id, htCall, dest_address, params.media_mode)
        return 0

    def dial(self, request_id: int, htCall: int, dest_address: str, country_code: int) -> int:
        self._post(self._dial_more, request_id, htCall, dest_address)
        return 0

    def answer(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        self._post(self._answer, request_id, htCall)
        return 0

    def accept(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        self._post(self._accept, request_id, htCall)
        return 0

    def drop(self, request_id: int, htCall: int, user_user_info: bytes | None) -> int:
        self._post(self._drop, request_id, htCall)
        return 0

    def close_call(self, htCall: int) -> None:
        self._post(self._close_call, htCall)

    def set_call_params(
        self, request_id: int, htCall: int, bearer_mode: int, min_rate: int, max_rate: int
    ) -> int:
        # Accepted and remembered by the core; a modem has nothing to change mid-call.
        self._post(self._complete, request_id, 0)
        return 0

    def get_id(self, device_class: str, htCall: int | None) -> DeviceID | int:
        cls = device_class.lower()
        if cls == "comm":
            return DeviceID(C.STRINGFORMAT_ASCII, self.config.name)
        if cls == "comm/datamodem/portname":
            return DeviceID(C.STRINGFORMAT_ASCII, self.config.port)
        if cls == "comm/datamodem":
            port: DataPort | None = None
            with self._lock:
                published = self._published
            if htCall is not None and published is not None and published[0] == htCall:
                port = published[1]
                if not port.is_open and port.carrier:
                    port.open()
            return DeviceID(C.STRINGFORMAT_BINARY, (port, self.config.port))
        return C.LINEERR_INVALDEVICECLASS

    # -- loop: the port ----------------------------------------------------------------------
    def _owner_wants_port(self) -> None:
        """An owner has the line open (after its lineOpen's `open`): a port that could
        not be opened for a line without owners gets one more try, which closes the
        line (LINE_CLOSE) if it fails."""
        if self._want_open and self.driver is None and self._listen_media:
            self._open_port()

    def _open_port(self) -> None:
        self._want_open = True
        if self.driver is not None:
            return
        try:
            driver = self._open_driver(
                self.config.port,
                self._get_loop(),
                lambda data: self._guarded(self._on_data, data),
                lambda reason: self._guarded(self._port_gone, reason),
                lambda: self._guarded(self._on_drained),
                baudrate=self.config.baudrate,
            )
        except (PortOpenError, OSError) as exc:
            reason = f"cannot open {self.config.port}: {exc}"
            if self._listen_media:
                self._fail(reason, C.LINEERR_RESOURCEUNAVAIL)
            else:
                # No owner (rules.md §8.3): the line stays open without its port, and
                # the next lineMakeCall tries again and fails in its LINE_REPLY.
                log.info("%s: %s", self.config.name, reason)
            return
        self.driver = driver
        driver.start()
        driver.set_dtr(True)
        loop = self._get_loop()
        if self._released_at is not None and loop.time() - self._released_at < PORT_SETTLE:
            # Reopened right after this line released it: let the last session's bytes
            # and the close and open settle first (PORT_SETTLE).
            self._settle = loop.call_later(PORT_SETTLE, self._guarded, self._settled)
        else:
            self._initialize()

    def _settled(self) -> None:
        """PORT_SETTLE after the open: drop what came meanwhile, initialise the modem."""
        self._settle = None
        if self.driver is None:
            return
        self.driver.discard_input()
        self._initialize()

    def _close_port(self) -> None:
        self._want_open = False
        self._waiting.clear()
        call = self._call
        dialogue = self._dialogue
        if call is not None:
            self._fail_requests(call, C.LINEERR_OPERATIONFAILED)
            call.closed = True
            if (
                call.state != C.LINECALLSTATE_IDLE
                and self.driver is not None
                and dialogue is not None
                and dialogue.state not in (at.State.CLOSED, at.State.INITIALIZING)
            ):
                # CLOSEDROP, done properly (DTR low for its full time, or +++ and ATH):
                # HungUp or HangupFailed releases the port afterwards.
                self._hang_up(call)
                return
            self._end_call()
        if (
            self.driver is not None
            and dialogue is not None
            and dialogue.state == at.State.HANGING_UP
        ):
            return  # a drop is under way: the port goes when it ends
        self._stop_port()

    def _stop_port(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            self._released_at = self._get_loop().time()
            driver.set_dtr(False)  # hangs up whatever is left (&D2)
            driver.close()
        if self._dialogue is not None:
            self._dialogue.close()
        self._ready = False
        self._in_service = False
        self._ignore_rings_until = float("-inf")
        self._caller_id = None
        self._cancel_timer()
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None
        self._cancel_reinit()
        self._stop_dcd_watch()
        drained, self._drained = self._drained, []
        for done in drained:
            done()

    def _port_gone(self, reason: str) -> None:
        """The port vanished or failed: complete everything, then LINE_CLOSE."""
        if not self._want_open:
            if self.driver is not None:  # gone while closing: nothing left to hang up
                self._end_call()
                self._stop_port()
            return
        self._fail(reason, C.LINEERR_OPERATIONFAILED)

    def _fail(self, reason: str, error: int) -> None:
        log.warning("%s: %s", self.config.name, reason)
        self.report_error(reason)
        self._want_open = False
        call = self._call
        if call is not None:
            self._fail_requests(call, error)
            self._end_call()
        self._waiting.clear()
        self._stop_port()
        if self.events is not None:
            self.events.line_closed(self)

    def _on_data(self, data: bytes) -> None:
        if self._settle is not None:
            # Settling after the open: what the last session left (PORT_SETTLE).
            self.transcript.append(("rx dropped", data))
            return
        self.transcript.append(("rx", data))
        self.dialogue.receive_data(data)
        self._service()

    def _on_drained(self) -> None:
        self._relay_out()

    def _write(self, data: bytes) -> None:
        if data and self.driver is not None:
            self.transcript.append(("tx", data))
            self.driver.write(data)

    # -- loop: the dialogue --------------------------------------------------------------------
    def _initialize(self) -> None:
        self._ready = False
        self._cancel_reinit()
        dialogue = self.dialogue
        if dialogue.state not in (at.State.CLOSED, at.State.IDLE):
            dialogue.close()
        dialogue.initialize()
        self._service()

    def _when_ready(self, action: Callable[[], None]) -> None:
        """Run `action` once the modem is initialised (now, if it is)."""
        if self._ready:
            action()
            return
        self._waiting.append(action)
        if self._reinit is not None:
            self._initialize()  # the re-init after the last call: now, not later
        elif (
            self.driver is not None
            and self._settle is None
            and self.dialogue.state == at.State.CLOSED
        ):
            self._initialize()  # an earlier init failed: try again for this request

    def _reinit_later(self) -> None:
        """Initialise the modem again REINIT_DELAY after a call, unless something does
        it sooner or the port closes first."""
        self._ready = False
        self._cancel_reinit()
        self._reinit = self._get_loop().call_later(REINIT_DELAY, self._guarded, self._reinit_now)

    def _reinit_now(self) -> None:
        self._reinit = None
        if self.driver is None or self._ready:
            return
        if self._call is not None or self.dialogue.state != at.State.IDLE:
            return  # a call came meanwhile (a RING answered): its own hang-up re-inits
        self._initialize()

    def _cancel_reinit(self) -> None:
        if self._reinit is not None:
            self._reinit.cancel()
            self._reinit = None

    def _service(self) -> None:
        """Handle the dialogue's events, write its bytes, re-arm its timer."""
        dialogue = self._dialogue
        if dialogue is None:
            return
        while True:
            events = dialogue.events()
            for event in events:
                self._handle(event)
            data = dialogue.data_to_send()
            self._write(data)
            if not events and not data:
                break
        self._arm(dialogue.next_deadline())

    def _arm(self, deadline: float | None) -> None:
        if (
            deadline is not None
            and self._timer is not None
            and self._timer.when() == deadline
            and self.driver is not None
        ):
            return  # already set for that time (most passes do not move the deadline)
        self._cancel_timer()
        if deadline is not None and self.driver is not None:
            self._timer = self._get_loop().call_at(deadline, self._guarded, self._tick)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        if self._dialogue is not None:
            self._dialogue.tick()
            self._service()

    def _handle(self, event: at.Event) -> None:
        match event:
            case at.InitDone():
                self._on_InitDone(event)
            case at.InitFailed():
                self._on_InitFailed(event)
            case at.Ring():
                self._on_Ring(event)
            case at.CallerID():
                self._on_CallerID(event)
            case at.RingsStopped():
                self._on_RingsStopped(event)
            case at.DialTone():
                self._on_DialTone(event)
            case at.Dialing():
                self._on_Dialing(event)
            case at.DialComplete():
                self._on_DialComplete(event)
            case at.Connected():
                self._on_Connected(event)
            case at.Disconnected():
                self._on_Disconnected(event)
            case at.HungUp():
                self._on_HungUp(event)
            case at.HangupFailed():
                self._on_HangupFailed(event)
            case at.SetDTR():
                self._on_SetDTR(event)
            case at.Data():
                self._on_Data(event)
            case at.Unexpected():
                self._on_Unexpected(event)
            case _:
                assert_never(event)

    # -- loop: dialogue events (rules.md §8.4) ----------------------------------------------------
    def _on_InitDone(self, event: at.InitDone) -> None:
        self._ready = True
        if not self._in_service:
            # The first init since the port opened: the line is usable now. A RING
            # during that init would have lost its caller ID to the modem's reset, so
            # apps wait for this (LINEDEVSTATUSFLAGS_INSERVICE) before expecting calls.
            self._in_service = True
            if self.events is not None:
                self.events.line_devstate(self, C.LINEDEVSTATE_INSERVICE)
        waiting, self._waiting = self._waiting, []
        for action in waiting:
            action()

    def _on_InitFailed(self, event: at.InitFailed) -> None:
        reason = f"init failed: {event.command} -> {event.response}"
        log.warning("%s: %s", self.config.name, reason)
        self.report_error(reason)
        self._ready = False
        self._waiting.clear()
        call = self._call
        if call is not None:
            self._fail_requests(call, C.LINEERR_OPERATIONFAILED)
            if call.outgoing and not call.state:
                call.closed = True  # the failed reply makes the core close the call
            self._end_call()

    def _ignore_rings(self) -> None:
        """Ignore RINGs until none came for ``ring_timeout``: the caller we dropped or
        that nobody wanted is still ringing, and it is not a new call."""
        self._ignore_rings_until = self._get_loop().time() + self.settings.ring_timeout

    def _on_Ring(self, event: at.Ring) -> None:
        if self.events is None:
            return
        if self._get_loop().time() < self._ignore_rings_until:
            self._ignore_rings()
            return
        call = self._call
        if call is None and not self._listen_media & INCOMING_MEDIA:
            self._ignore_rings()  # not listening: no owner for a mode the modem takes
            return
        if call is None:
            htCall = self.events.new_call(self, media_mode=INCOMING_MEDIA)
            if not htCall:
                self._ignore_rings()  # the core refused it: nobody can own or watch it
                return
            call = self._call = _Call(htCall, outgoing=False, media_mode=INCOMING_MEDIA)
            if self._caller_id is not None:
                self.events.call_info(htCall, 0, **self._caller_id.call_info())
            self._report(call, C.LINECALLSTATE_OFFERING, C.LINEOFFERINGMODE_ACTIVE, INCOMING_MEDIA)
        if not call.outgoing and not call.closed:
            self.events.line_devstate(self, C.LINEDEVSTATE_RINGING, RING_MODE, event.ring_count)

    def _on_CallerID(self, event: at.CallerID) -> None:
        self._caller_id = event
        call = self._call
        if call is not None and not call.outgoing and not call.closed and self.events:
            self.events.call_info(call.htCall, C.LINECALLINFOSTATE_CALLERID, **event.call_info())

    def _on_RingsStopped(self, event: at.RingsStopped) -> None:
        self._ignore_rings_until = float("-inf")
        self._caller_id = None
        call = self._call
        if call is not None and not call.outgoing:
            self._report(call, C.LINECALLSTATE_IDLE)
            self._end_call()

    def _on_DialTone(self, event: at.DialTone) -> None:
        call = self._call
        if call is not None:
            self._report(call, C.LINECALLSTATE_DIALTONE, C.LINEDIALTONEMODE_UNAVAIL)
            self._next_digits(call)

    def _on_Dialing(self, event: at.Dialing) -> None:
        call = self._call
        if call is None:
            return
        if call.dial_request is not None:
            self._complete_request(call, call.dial_request, 0)
            call.dial_request = None
        self._report(call, C.LINECALLSTATE_DIALING)

    def _on_DialComplete(self, event: at.DialComplete) -> None:
        call = self._call
        if call is None:
            return
        if event.partial:
            self._next_digits(call)
        elif call.state != C.LINECALLSTATE_PROCEEDING:
            self._report(call, C.LINECALLSTATE_PROCEEDING)

    def _on_Connected(self, event: at.Connected) -> None:
        call = self._call
        if call is None:
            return
        media = C.LINEMEDIAMODE_INTERACTIVEVOICE if event.voice else C.LINEMEDIAMODE_DATAMODEM
        call.media_mode = media
        if event.rate and not call.closed and self.events is not None:
            self.events.call_info(call.htCall, 0, dwRate=event.rate)
        if not event.voice:
            port = DataPort(self.config.port, self.time, self._wake_relay)
            call.data_port = port
            with self._lock:
                self._published = (call.htCall, port)
        self._report(call, C.LINECALLSTATE_CONNECTED, C.LINECONNECTEDMODE_ACTIVE, media)
        if not event.voice and self._carrier() is True:
            self._dcd_low = 0
            self._watch_dcd()

    # -- DCD (rules.md §8.4: a DCD drop while connected is DISCONNECTED(NORMAL)) ----------
    def _carrier(self) -> bool | None:
        """DCD as the port reports it; None for a port without modem lines."""
        driver = self.driver
        port = getattr(driver, "port", None)
        if port is None or getattr(driver, "is_pty", False):
            return None
        try:
            return bool(port.cd)
        except (OSError, ValueError, AttributeError):  # SerialException is an OSError
            return None

    def _watch_dcd(self) -> None:
        self._stop_dcd_watch()
        if self._call is None or self._dialogue is None:
            return
        self._dcd_timer = self._get_loop().call_later(DCD_POLL, self._guarded, self._poll_dcd)

    def _stop_dcd_watch(self) -> None:
        if self._dcd_timer is not None:
            self._dcd_timer.cancel()
            self._dcd_timer = None

    def _poll_dcd(self) -> None:
        self._dcd_timer = None
        dialogue = self._dialogue
        if dialogue is None or dialogue.state != at.State.CONNECTED or self._call is None:
            return  # the call ended (or is ending) some other way
        if self._carrier() is False:
            # Give the modem's NO CARRIER time to arrive (DCD_GRACE); still low and
            # still connected after that: the modem said nothing.
            self._dcd_low += 1
            if self._dcd_low * DCD_POLL > DCD_GRACE:
                dialogue.carrier_lost()
                self._service()
                return
        else:
            self._dcd_low = 0
        self._watch_dcd()

    def _on_Disconnected(self, event: at.Disconnected) -> None:
        call = self._call
        if call is None:
            return
        if call.data_port is not None:
            call.data_port.carrier_lost()
        rid = call.dial_request
        if rid is not None:
            call.dial_request = None
            first = call.requests.get(rid) == "make_call"
            self._complete_request(call, rid, C.LINEERR_OPERATIONFAILED)
            if first:  # the call never started (8.4: ERROR to ATD): no hCall, no states
                call.closed = True
                return
        self._report(call, C.LINECALLSTATE_DISCONNECTED, event.mode)

    def _on_HungUp(self, event: at.HungUp) -> None:
        call = self._call
        if call is not None:
            for rid, kind in list(call.requests.items()):
                if kind == "drop":
                    self._complete_request(call, rid, 0)
            self._fail_requests(call, C.LINEERR_OPERATIONFAILED)
            self._report(call, C.LINECALLSTATE_IDLE)
            self._end_call()
        if self.driver is None:
            return
        if self._want_open:
            self._reinit_later()  # back to a known state, listening for RING (8.3)
        else:
            self._stop_port()  # the line closed while hanging up: release the port now

    def _on_HangupFailed(self, event: at.HangupFailed) -> None:
        if not self._want_open:  # closing anyway: DTR low and close is all that is left
            self.report_error(f"hang-up failed while closing: {event.reason}")
            self._end_call()
            self._stop_port()
            return
        self._fail(f"hang-up failed: {event.reason}", C.LINEERR_OPERATIONFAILED)

    def _on_SetDTR(self, event: at.SetDTR) -> None:
        if self.driver is not None:
            self.driver.set_dtr(event.on)

    def _on_Data(self, event: at.Data) -> None:
        call = self._call
        port = call.data_port if call is not None else None
        if port is None:
            log.debug("%s: %d data bytes with no data port", self.config.name, len(event.data))
            return
        if port.feed(event.data) >= RX_LIMIT and self.driver is not None:
            self.driver.pause_reading(True)  # resumed when the application reads

    def _on_Unexpected(self, event: at.Unexpected) -> None:
        if (
            at.classify(event.line).kind == at.Result.RING
            and self._get_loop().time() < self._ignore_rings_until
        ):
            self._ignore_rings()  # a RING seen while busy still belongs to that caller
        log.debug("%s: unexpected %r while %s", self.config.name, event.line, event.state)

    # -- loop: requests -------------------------------------------------------------------------
    def _make_call(self, request_id: int, htCall: int, dest: str | None, media_mode: int) -> None:
        if self.driver is None and self._want_open:
            self._open_port()  # a line without owners whose port was held at lineOpen
        if self.driver is None:
            self._complete(request_id, C.LINEERR_RESOURCEUNAVAIL)
            return
        if self._call is not None and not self._call.closed:
            self._complete(request_id, C.LINEERR_CALLUNAVAIL)
            return
        call = _Call(htCall, outgoing=True, media_mode=media_mode)
        call.requests[request_id] = "make_call"
        call.dial_request = request_id
        self._call = call
        self._when_ready(lambda: self._start_dial(call, dest))

    def _start_dial(self, call: _Call, dest: str | None) -> None:
        if call.closed or call is not self._call:
            return
        voice = not call.media_mode & C.LINEMEDIAMODE_DATAMODEM
        number = (dest or "").strip()
        partial = number.endswith(";")
        number = number.rstrip(";")
        try:
            self.dialogue.dial(number or None, partial=partial, voice=voice)
        except at.ModemStateError as exc:
            self.report_error(str(exc))
            self._complete_request(call, call.dial_request or 0, C.LINEERR_OPERATIONFAILED)
            call.dial_request = None
            call.closed = True
            self._end_call()
            return
        if not number and call.dial_request is not None:
            # Off-hook for dial tone: accepted now; DIALTONE or DISCONNECTED follows.
            self._complete_request(call, call.dial_request, 0)
            call.dial_request = None
        self._service()

    def _dial_more(self, request_id: int, htCall: int, dest: str) -> None:
        call = self._call
        if call is None or call.htCall != htCall or call.closed:
            self._complete(request_id, C.LINEERR_INVALCALLSTATE)
            return
        call.requests[request_id] = "dial"
        call.more_digits.append((request_id, dest))
        self._next_digits(call)

    def _next_digits(self, call: _Call) -> None:
        if not call.more_digits or self.dialogue.state != at.State.OFFHOOK:
            return  # a partial dial still waits for its OK; DialComplete comes back here
        request_id, dest = call.more_digits.popleft()
        number = dest.strip()
        partial = number.endswith(";")
        number = number.rstrip(";")
        if not number:
            self._complete_request(call, request_id, 0)
            return
        voice = not call.media_mode & C.LINEMEDIAMODE_DATAMODEM
        call.dial_request = request_id
        self.dialogue.dial(number, partial=partial, voice=voice)
        self._service()

    def _answer(self, request_id: int, htCall: int) -> None:
        call = self._call
        if (
            call is None
            or call.htCall != htCall
            or call.outgoing
            or call.closed
            or self.dialogue.state not in (at.State.RINGING, at.State.IDLE)
        ):
            self._complete(request_id, C.LINEERR_INVALCALLSTATE)
            return
        self.dialogue.answer()
        self._service()
        # rules.md §5.2, a linelab decision: the reply comes once the modem has gone off-hook (ATA
        # written); a failure to connect is then DISCONNECTED(UNAVAIL).
        self._complete(request_id, 0)

    def _accept(self, request_id: int, htCall: int) -> None:
        call = self._call
        if call is None or call.htCall != htCall or call.outgoing or call.closed:
            self._complete(request_id, C.LINEERR_INVALCALLSTATE)
            return
        self._complete(request_id, 0)
        self._report(call, C.LINECALLSTATE_ACCEPTED)

    def _drop(self, request_id: int, htCall: int) -> None:
        call = self._call
        if call is None or call.htCall != htCall or call.closed:
            self._complete(request_id, 0)  # already idle: nothing left to drop
            return
        call.requests[request_id] = "drop"
        self._hang_up(call)

    def _close_call(self, htCall: int) -> None:
        call = self._call
        if call is None or call.htCall != htCall:
            return
        # TSPI_lineCloseCall: finish every request, drop the call if active (CLOSEDROP),
        # and report nothing more about it.
        self._fail_requests(call, C.LINEERR_OPERATIONFAILED)
        call.closed = True
        if call.state == C.LINECALLSTATE_IDLE:
            self._end_call()
            return
        self._hang_up(call)

    def _hang_up(self, call: _Call) -> None:
        dialogue = self.dialogue
        if call.data_port is not None:
            call.data_port.carrier_lost()
        if dialogue.state == at.State.HANGING_UP:
            return  # HungUp completes every drop
        if dialogue.state in (at.State.CLOSED, at.State.INITIALIZING):
            # Nothing is happening on the modem for this call (its dial never started).
            for rid, kind in list(call.requests.items()):
                self._complete_request(
                    call, rid, 0 if kind == "drop" else C.LINEERR_OPERATIONFAILED
                )
            self._report(call, C.LINECALLSTATE_IDLE)
            self._end_call()
            return
        if not call.outgoing and dialogue.state in (at.State.RINGING, at.State.IDLE):
            # An analogue modem cannot reject a ringing call: forget it, and ignore the
            # rest of its rings.
            self._ignore_rings()
        dialogue.hang_up(dtr=self.driver is not None and self.driver.has_dtr)
        self._service()

    # -- loop: data relay ---------------------------------------------------------------------
    def _wake_relay(self) -> None:
        """From the application's thread: data to send, or room to receive."""
        loop = self._loop
        if loop is None or self._relay_queued:
            return
        self._relay_queued = True
        try:
            loop.call_soon_threadsafe(self._guarded, self._relay_out)
        except RuntimeError:  # the loop has closed
            self._relay_queued = False

    def _relay_out(self) -> None:
        self._relay_queued = False
        call = self._call
        port = call.data_port if call is not None else None
        driver = self.driver
        if port is None or driver is None:
            return
        if port.rx_buffered() < RX_LIMIT:
            driver.pause_reading(False)
        if self.dialogue.state != at.State.CONNECTED:
            return
        while driver.backlog() < WRITE_HIGH:
            data = port.take_tx(WRITE_HIGH - driver.backlog())
            if not data:
                break
            self._write(data)
            self.dialogue.note_dte_write()

    # -- loop: bookkeeping ----------------------------------------------------------------------
    def _report(self, call: _Call, state: int, mode: int = 0, media_mode: int = 0) -> None:
        if call.state == state and state != C.LINECALLSTATE_DIALING:
            return
        call.state = state
        if not call.closed and self.events is not None:
            self.events.call_state(call.htCall, state, mode, media_mode)

    def _complete(self, request_id: int, result: int) -> None:
        if self.events is not None:
            self.events.completion(request_id, result)

    def _complete_request(self, call: _Call, request_id: int, result: int) -> None:
        if call.requests.pop(request_id, None) is not None:
            self._complete(request_id, result)

    def _fail_requests(self, call: _Call, error: int) -> None:
        for rid in list(call.requests):
            self._complete_request(call, rid, error)
        call.dial_request = None
        call.more_digits.clear()

    def _end_call(self) -> None:
        self._stop_dcd_watch()
        call, self._call = self._call, None
        self._caller_id = None
        if call is not None and call.data_port is not None:
            call.data_port.carrier_lost()
        with self._lock:
            published = self._published
            if published is not None and (call is None or published[0] == call.htCall):
                self._published = None


class ModemProvider(Provider):
    """The modem TSP: one `ModemLine` per configured line, device IDs in config order.

    With `hotplug` (the default), configured ports given by path are watched (inotify
    on their directories, from the stack's loop): a port whose path goes away is
    removed (LINE_CLOSE for the apps that had it open, then LINE_REMOVE; its device ID
    answers LINEERR_NODEVICE from then on), and when it comes back it is a new device
    (LINE_CREATE). A port missing at start-up is still listed (lineOpen answers
    LINEERR_RESOURCEUNAVAIL until it is there). URL ports (vmodem://, rfc2217://) are
    not watched. Watching starts when the core attaches the provider's first line, or
    when the core calls `attach()` itself.
    """

    def __init__(
        self,
        configs: Iterable[LineConfig],
        *,
        time: TimeSource | None = None,
        hotplug: bool = True,
        driver_factory: DriverFactory | None = None,
    ) -> None:
        self.configs = list(configs)
        self.hotplug = hotplug
        self._time = time
        self._driver_factory = driver_factory
        self._present: dict[str, ModemLine] = {}  # config name -> its current device
        # Names whose port has existed since its device was created: only those can go.
        self._seen = {c.name for c in self.configs if port_exists(c.port)}
        super().__init__([self._new_line(config) for config in self.configs])
        self._events: LineEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: PathWatcher | None = None
        self._closed = False

    def _new_line(self, config: LineConfig) -> ModemLine:
        line = ModemLine(config, time=self._time, driver_factory=self._driver_factory)
        line.provider = self
        self._present[config.name] = line
        return line

    def attach(
        self, events: LineEvents, loop_getter: Callable[[], asyncio.AbstractEventLoop]
    ) -> None:
        """Start watching the configured paths (once; any thread)."""
        if self._events is not None:
            return
        self._events = events
        paths = [c.port for c in self.configs if not is_url(c.port)]
        if not (self.hotplug and paths):
            return
        self._loop = loop_getter()
        with contextlib.suppress(RuntimeError):  # a loop already closed: no hot-plug
            self._loop.call_soon_threadsafe(self._start_watch, paths)

    def _start_watch(self, paths: list[str]) -> None:
        if self._closed or self._loop is None:
            return
        try:
            self._watcher = PathWatcher(paths, self._loop, self._on_watch)
        except OSError as exc:
            log.warning("cannot watch the modem ports for hot-plug: %s", exc)
            return
        self._rescan()  # paths that changed before the watch began

    def _on_watch(self, changes: list[tuple[str, bool]]) -> None:
        self._rescan()

    def _rescan(self) -> None:
        """Compare the configured paths with the present devices (loop thread)."""
        events = self._events
        if events is None or self._closed:
            return
        for config in self.configs:
            if is_url(config.port):
                continue
            exists = port_exists(config.port)
            line = self._present.get(config.name)
            if exists:
                self._seen.add(config.name)
                if line is None:
                    line = self._new_line(config)
                    self._lines.append(line)
                    events.device_created(line)
            elif line is not None and config.name in self._seen:
                self._seen.discard(config.name)
                del self._present[config.name]
                line.port_vanished(f"{config.port} was removed")
                events.device_removed(line)

    def shutdown(self) -> None:
        self._closed = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(self._stop_watch)
        for line in self.lines():
            if isinstance(line, ModemLine) and line._loop is not None:
                with contextlib.suppress(RuntimeError):
                    line.close()

    def _stop_watch(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()


def provider_for(
    configs: Iterable[LineConfig], *, time: TimeSource | None = None, hotplug: bool = True
) -> ModemProvider:
    """The modem provider for configured lines (what `tapi.config.default_stack` uses);
    `time` is the stack's time source (``stack.time``)."""
    return ModemProvider(configs, time=time, hotplug=hotplug)


__all__ = [
    "INCOMING_MEDIA",
    "ModemLine",
    "ModemProvider",
    "caps_for",
    "provider_for",
    "settings_for",
]
