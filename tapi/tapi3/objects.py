"""The TAPI 3.x objects (TAPI, Address, Call) over the flat TAPI 2.x API.

How it works
============

A `TAPI` object is one application of the 2.x layer: `Initialize` is one
lineInitializeEx (event option), `Shutdown` one lineShutdown. It speaks to a *flat
source*: any object with the flat functions as methods (`tapi.Stack`, or the telephony
server's client proxy), and reads nothing else of it but its clock (``source.time``),
so that the same objects run in process and through the server.

- A pump thread per initialised TAPI object blocks in lineGetMessage(INFINITE) and
  turns each LINEMESSAGE into object state and 3.x events (docs/tapi3.md "Events"): under the
  object's lock, so that every method sees a consistent picture. A lineShutdown (by
  `Shutdown`, by the flat layer, or a server that went away) ends it.
- `RegisterCallNotifications` is one lineOpen (OWNER and/or MONITOR, the media types)
  per registration; an outgoing call (`Address.CreateCall` + `Connect`) goes through
  the address's own line opened with LINECALLPRIVILEGE_NONE. A line is closed once its
  registration is gone (or it is an outgoing line) and no call object made through it
  is alive (docs/rules.md §6.10): released (`release()`, the end of a ``with`` block) or
  garbage-collected. While a call has a live HCALL the layer holds it itself, as TAPI
  holds a call on its address.
- Events pass the event filter (0 until `put_EventFilter`: nothing is delivered, and
  nothing is kept for later) and then go to the advised callbacks, run one at a time
  on a callback thread, or, with no callback advised, to a queue read with
  `get_event(timeout)`. Synchronous methods wait on the source's clock, so that their
  2-minute TAPI_E_TIMEOUT runs in virtual time.

Each method exists twice over one implementation: Microsoft's name returning the
HRESULT, with outputs as a tuple (``hr, lRegister = t.RegisterCallNotifications(...)``),
and a snake_case name that returns the value and raises `TapiError(hr)` on failure
(success codes are returned: ``initialize()`` gives S_OK or S_FALSE). docs/tapi3.md
states every linelab decision this module makes.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from linelab.vtime import RealTime, TimeSource
from tapi import constants as C
from tapi.structs import LINECALLINFO, LINECALLPARAMS, LINEINITIALIZEEXPARAMS, LINEMESSAGE
from tapi.tapi3 import constants as K
from tapi.tapi3.errors import check
from tapi.tapi3.events import (
    AddressEvent,
    CallInfoChangeEvent,
    CallNotificationEvent,
    CallStateEvent,
    TapiEvent,
    TapiObjectEvent,
)

#: The 2.x version the layer initialises and negotiates up to (the core's highest).
API_VERSION = C.TAPI_VERSION2_2
LOW_VERSION = C.TAPI_VERSION1_4

#: Line states the layer enables on its registration lines (TE_ADDRESS events).
_LINE_STATES = C.LINEDEVSTATE_RINGING | C.LINEDEVSTATE_INSERVICE | C.LINEDEVSTATE_OUTOFSERVICE

#: A callback advised with `TAPI.Advise`/`add_callback`: called with the event.
EventCallback = Callable[[TapiEvent], object]

_GONE = (C.LINEERR_INVALAPPHANDLE, C.LINEERR_UNINITIALIZED, C.LINEERR_SERVICE_NOT_RUNNING)


# --------------------------------------------------------------------------------------
# media types <-> media modes
# --------------------------------------------------------------------------------------

_VOICE = C.LINEMEDIAMODE_INTERACTIVEVOICE | C.LINEMEDIAMODE_AUTOMATEDVOICE


def media_types_of(line_modes: int) -> int:
    """TAPIMEDIATYPE_* bits of LINEMEDIAMODE_* bits (either voice mode is AUDIO)."""
    types = line_modes & (K.TAPIMEDIATYPE_DATAMODEM | K.TAPIMEDIATYPE_G3FAX)
    types |= line_modes & K.TAPIMEDIATYPE_VIDEO
    if line_modes & _VOICE:
        types |= K.TAPIMEDIATYPE_AUDIO
    return types


def line_modes_of(media_types: int, supported: int) -> int:
    """LINEMEDIAMODE_* bits for TAPIMEDIATYPE_* bits on a device supporting `supported`
    (AUDIO is interactive voice where the device has it, else automated voice)."""
    modes = media_types & (K.TAPIMEDIATYPE_DATAMODEM | K.TAPIMEDIATYPE_G3FAX)
    modes |= media_types & K.TAPIMEDIATYPE_VIDEO
    if media_types & K.TAPIMEDIATYPE_AUDIO:
        if supported & C.LINEMEDIAMODE_INTERACTIVEVOICE:
            modes |= C.LINEMEDIAMODE_INTERACTIVEVOICE
        else:
            modes |= C.LINEMEDIAMODE_AUTOMATEDVOICE
    return modes


# --------------------------------------------------------------------------------------
# internal records
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Line:
    """An HLINE the layer opened: a registration's, or an address's outgoing line."""

    hLine: int
    device_id: int
    registration: _Registration | None
    # Tokens of the call objects made through this line and not released yet.
    calls: set[int] = field(default_factory=set)


@dataclass(eq=False)
class _Registration:
    cookie: int
    address: Address
    monitor: bool
    owner: bool
    media_types: int
    callback_instance: int
    line: _Line | None
    active: bool = True


def _collected(tapi_ref: weakref.ref[TAPI], gen: int, line: _Line, token: int) -> None:
    """A call object was garbage-collected: its line may close (done by the owner later,
    under its lock, at its next event or method; a finalizer must not take locks)."""
    tapi = tapi_ref()
    if tapi is not None:
        tapi._collected.append((gen, line, token))


# --------------------------------------------------------------------------------------
# TAPI
# --------------------------------------------------------------------------------------


class TAPI:
    """The TAPI object (ITTAPI): see the module docstring.

    `source` is an object with the flat 2.x functions as methods (default: the default
    `tapi.Stack`, looked up at initialisation). `time` is the clock synchronous methods
    and `get_event` wait on (default: ``source.time``, else real time).
    """

    def __init__(
        self,
        source: Any = None,
        *,
        app_name: str = "linelab TAPI 3",
        time: TimeSource | None = None,
    ) -> None:
        self._source = source
        self._app_name = app_name
        self._time = time
        self._cond = threading.Condition(threading.RLock())
        self._gen = 0
        self._initialized = False
        self._ever_initialized = False
        self._h: int | None = None
        self._num_devs = 0
        self._filter = 0
        self._cookies = itertools.count(1)
        self._tokens = itertools.count(1)
        self._sinks: dict[int, EventCallback] = {}
        self._queue: deque[TapiEvent] = deque()
        self._cbqueue: deque[TapiEvent] = deque()
        self._line_messages: deque[LINEMESSAGE] = deque()
        self._addresses: dict[tuple[int, int], Address] = {}
        self._removed: set[int] = set()
        self._lines: dict[int, _Line] = {}
        self._outgoing: dict[int, _Line] = {}
        self._registrations: dict[int, _Registration] = {}
        self._calls: dict[int, Call] = {}  # HCALL -> call: the layer's own reference
        self._requests: dict[int, tuple[Call | None, str]] = {}
        self._unwanted: set[int] = set()
        self._collected: deque[tuple[int, _Line, int]] = deque()
        self._pump_thread: threading.Thread | None = None
        self._callback_thread: threading.Thread | None = None

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def source(self) -> Any:
        """The flat API this object calls (resolved at the first initialisation)."""
        if self._source is None:
            from tapi.stack import get_default_stack

            self._source = get_default_stack()
        return self._source

    @property
    def time(self) -> TimeSource:
        if self._time is None:
            found = getattr(self.source, "time", None)
            self._time = found if found is not None else RealTime()
        return self._time

    @property
    def hLineApp(self) -> int | None:
        """The HLINEAPP under this object (None while not initialised): flat 2.x calls
        may use it; a lineShutdown of it is a Shutdown of this object."""
        return self._h

    @property
    def initialized(self) -> bool:
        return self._initialized

    @property
    def threads(self) -> list[threading.Thread]:
        """The layer's threads of this object still running (pump, callbacks)."""
        return [
            t for t in (self._pump_thread, self._callback_thread) if t is not None and t.is_alive()
        ]

    def _alive(self, gen: int) -> bool:
        return self._initialized and gen == self._gen

    def _failed(self, rc: int) -> int:
        """The HRESULT for a failed flat call. A handle error may mean the HLINEAPP was
        shut down under us (the flat layer, a server that went away): then this object
        is shut down too, and the answer is TAPI_E_NOT_INITIALIZED."""
        if rc in _GONE or rc in (C.LINEERR_INVALLINEHANDLE, C.LINEERR_INVALCALLHANDLE):
            probe = self.source.lineNegotiateAPIVersion(self._h, 0, LOW_VERSION, API_VERSION)[0]
            if probe in _GONE:
                self._teardown()
                return K.TAPI_E_NOT_INITIALIZED
        return K.hresult_of(rc)

    def _sync_wait(self, gen: int, done: Callable[[], bool]) -> bool | None:
        """Wait (lock held) until `done()` or this session ends, at most SYNC_TIMEOUT on
        the clock: True when done, False on time-out, None when shut down meanwhile."""
        finished = self.time.wait(
            self._cond, lambda: not self._alive(gen) or done(), K.SYNC_TIMEOUT
        )
        if not self._alive(gen):
            return None
        return finished

    # -- ITTAPI::Initialize / Shutdown --------------------------------------------------------
    def Initialize(self) -> int:
        """S_OK; S_FALSE when already initialised; E_UNEXPECTED once shut down (a
        linelab decision, rules.md §6.10: a new TAPI object is needed to start again);
        else the failure (TAPI_E_REGISTRY_SETTING_CORRUPT for an unreadable line
        configuration, TAPI_E_SERVICE_NOT_RUNNING without a telephony server …)."""
        with self._cond:
            if self._initialized:
                return K.S_FALSE
            if self._ever_initialized:
                return K.E_UNEXPECTED
            params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
            rc, h, n, _v, _p = self.source.lineInitializeEx(
                None, None, self._app_name, API_VERSION, params
            )
            if rc != 0 or h is None:
                return K.hresult_of(rc)
            self._gen += 1
            self._initialized = self._ever_initialized = True
            self._h, self._num_devs, self._filter = h, n or 0, 0
            self._addresses.clear()
            self._removed.clear()
            gen = self._gen
            self._pump_thread = threading.Thread(
                target=self._pump, args=(h, gen), name=f"tapi3-pump-{h:#x}", daemon=True
            )
            self._pump_thread.start()
            return K.S_OK

    def Shutdown(self) -> int:
        """S_OK; S_FALSE when already shut down (by this object or by a lineShutdown of
        its HLINEAPP); TAPI_E_NOT_INITIALIZED when never initialised (a linelab decision:
        Microsoft documents no code, docs/tapi3.md)."""
        with self._cond:
            if not self._initialized:
                return K.S_FALSE if self._ever_initialized else K.TAPI_E_NOT_INITIALIZED
            h = self._h
            threads = self.threads
            self._teardown()
            rc = self.source.lineShutdown(h)
        me = threading.current_thread()
        for thread in threads:
            if thread is not me:
                thread.join(10.0)  # each ends at once: its wait returns with the shutdown
        return K.S_OK if rc == 0 else K.S_FALSE

    def _teardown(self) -> None:
        """Forget everything of this session (lock held): what lineShutdown did to the
        2.x objects, done to the 3.x ones. Call objects stay, disconnected and dead."""
        if not self._initialized:
            return
        self._initialized = False
        self._h = None
        for call in self._calls.values():
            call._hCall = None
            if call._state != K.CS_DISCONNECTED:
                call._state = K.CS_DISCONNECTED
        for store in (
            self._calls,
            self._lines,
            self._outgoing,
            self._registrations,
            self._requests,
            self._sinks,
        ):
            store.clear()
        for queue in (self._queue, self._cbqueue, self._line_messages, self._collected):
            queue.clear()
        self._unwanted.clear()
        self.time.notify_all(self._cond)

    # -- addresses ----------------------------------------------------------------------------
    def EnumerateAddresses(self) -> tuple[int, list[Address] | None]:
        """(S_OK, addresses); E_INVALIDARG before Initialize (as Microsoft documents)."""
        with self._cond:
            if not self._initialized:
                return K.E_INVALIDARG, None
            self._process_collected()
            out: list[Address] = []
            for dev in range(self._num_devs):
                if dev in self._removed:
                    continue
                out.extend(self._device_addresses(dev))
            return K.S_OK, out

    get_Addresses = EnumerateAddresses

    def _device_addresses(self, dev: int) -> list[Address]:
        api = self.source
        found = [a for (d, _), a in sorted(self._addresses.items()) if d == dev]
        if found:
            return found
        rc, version, _ext = api.lineNegotiateAPIVersion(self._h, dev, LOW_VERSION, API_VERSION)
        if rc != 0 or version is None:
            return []
        rc, caps = api.lineGetDevCaps(self._h, dev, version, 0)
        if rc != 0 or caps is None:
            return []
        for aid in range(caps.dwNumAddresses):
            rc, acaps = api.lineGetAddressCaps(self._h, dev, aid, version, 0)
            dialable = acaps.Address if rc == 0 and acaps is not None else ""
            self._addresses[(dev, aid)] = Address(
                self,
                self._gen,
                dev,
                aid,
                version,
                name=caps.LineName,
                dialable_address=dialable,
                provider=caps.ProviderInfo,
                line_modes=caps.dwMediaModes,
            )
        return [a for (d, _), a in sorted(self._addresses.items()) if d == dev]

    def _address(self, dev: int, aid: int) -> Address | None:
        found = self._addresses.get((dev, aid))
        if found is None:
            self._device_addresses(dev)
            found = self._addresses.get((dev, aid))
        return found

    # -- call notifications -------------------------------------------------------------------
    def RegisterCallNotifications(
        self,
        pAddress: Address | None,
        fMonitor: bool,
        fOwner: bool,
        lMediaTypes: int,
        lCallbackInstance: int,
    ) -> tuple[int, int | None]:
        """(S_OK, lRegister): one lineOpen with the privileges and media types asked.
        TAPI_E_NOT_INITIALIZED before Initialize; E_POINTER for no address; E_INVALIDARG
        for neither monitor nor owner or another TAPI object's address;
        TAPI_E_INVALIDMEDIATYPE for media types the address does not support."""
        with self._cond:
            if not self._initialized:
                return K.TAPI_E_NOT_INITIALIZED, None
            self._process_collected()
            if pAddress is None:
                return K.E_POINTER, None
            if not isinstance(pAddress, Address) or pAddress._tapi is not self:
                return K.E_INVALIDARG, None
            if not self._alive(pAddress._gen):
                return K.TAPI_E_NOT_INITIALIZED, None
            if not (fMonitor or fOwner):
                return K.E_INVALIDARG, None
            if lMediaTypes & ~pAddress.media_types or (fOwner and not lMediaTypes):
                return C.TAPI_E_INVALIDMEDIATYPE, None
            privileges = (C.LINECALLPRIVILEGE_OWNER if fOwner else 0) | (
                C.LINECALLPRIVILEGE_MONITOR if fMonitor else 0
            )
            modes = line_modes_of(lMediaTypes, pAddress._line_modes)
            cookie = next(self._cookies)
            rc, hLine = self.source.lineOpen(
                self._h, pAddress.device_id, pAddress._version, 0, cookie, privileges, modes
            )
            if rc != 0 or hLine is None:
                return self._failed(rc), None
            self.source.lineSetStatusMessages(hLine, _LINE_STATES, 0)
            reg = _Registration(
                cookie,
                pAddress,
                bool(fMonitor),
                bool(fOwner),
                lMediaTypes,
                lCallbackInstance,
                None,
            )
            reg.line = _Line(hLine, pAddress.device_id, reg)
            self._lines[hLine] = reg.line
            self._registrations[cookie] = reg
            return K.S_OK, cookie

    def UnregisterNotifications(self, lRegister: int) -> int:
        """S_OK; E_INVALIDARG for an unknown cookie or before Initialize (as Microsoft
        documents). No more TE_CALLNOTIFICATION for that registration; its calls and
        their events are untouched; its line closes once no call object made through it
        is alive (docs/rules.md §6.10)."""
        with self._cond:
            if not self._initialized:
                return K.E_INVALIDARG
            reg = self._registrations.pop(lRegister, None)
            if reg is None:
                return K.E_INVALIDARG
            reg.active = False
            if reg.line is not None:
                self._maybe_close(reg.line)
            self._process_collected()
            return K.S_OK

    def _maybe_close(self, line: _Line) -> None:
        """Close `line` if nothing keeps it: no active registration, no call object."""
        if line.calls or (line.registration is not None and line.registration.active):
            return
        if self._lines.pop(line.hLine, None) is None:
            return
        if self._outgoing.get(line.device_id) is line:
            del self._outgoing[line.device_id]
        for hCall in [h for h, c in self._calls.items() if c._line is line]:
            # Only calls the app released and the layer still ends (a drop under way).
            self._calls.pop(hCall)._hCall = None
        self.source.lineClose(line.hLine)

    def _outgoing_line(self, address: Address) -> tuple[int, _Line | None]:
        line = self._outgoing.get(address.device_id)
        if line is not None:
            return K.S_OK, line
        rc, hLine = self.source.lineOpen(
            self._h,
            address.device_id,
            address._version,
            0,
            0,
            C.LINECALLPRIVILEGE_NONE,
            address._line_modes,
        )
        if rc != 0 or hLine is None:
            return self._failed(rc), None
        line = _Line(hLine, address.device_id, None)
        self._lines[hLine] = line
        self._outgoing[address.device_id] = line
        return K.S_OK, line

    def _process_collected(self) -> None:
        while self._collected:
            gen, line, token = self._collected.popleft()
            if self._alive(gen) and token in line.calls:
                line.calls.discard(token)
                self._maybe_close(line)

    # -- the event filter and delivery --------------------------------------------------------
    def put_EventFilter(self, lFilterMask: int) -> int:
        """S_OK; E_INVALIDARG for bits that are no TAPI_EVENT; TAPI_E_NOT_INITIALIZED
        before Initialize. The default is 0: no events at all."""
        with self._cond:
            if not self._initialized:
                return K.TAPI_E_NOT_INITIALIZED
            if not isinstance(lFilterMask, int) or lFilterMask & ~K.ALL_TAPI_EVENTS:
                return K.E_INVALIDARG
            self._filter = lFilterMask
            return K.S_OK

    def get_EventFilter(self) -> tuple[int, int | None]:
        with self._cond:
            if not self._initialized:
                return K.TAPI_E_NOT_INITIALIZED, None
            return K.S_OK, self._filter

    def Advise(self, sink: Any) -> tuple[int, int | None]:
        """Connect an event sink (IConnectionPoint::Advise on ITTAPIEventNotification):
        an object with ``Event(TapiEvent, pEvent)``, or a callable taking the event.
        (S_OK, cookie); E_POINTER for None; TAPI_E_NOT_INITIALIZED before Initialize.
        While a sink is advised, events go to the sinks instead of the queue."""
        with self._cond:
            if not self._initialized:
                return K.TAPI_E_NOT_INITIALIZED, None
            if sink is None:
                return K.E_POINTER, None
            method = getattr(sink, "Event", None)
            callback: EventCallback
            if callable(method):
                callback = lambda event: method(event.event_type, event)  # noqa: E731
            elif callable(sink):
                callback = sink
            else:
                return K.E_INVALIDARG, None
            cookie = next(self._cookies)
            self._sinks[cookie] = callback
            thread = self._callback_thread
            if thread is None or not thread.is_alive():
                self._callback_thread = threading.Thread(
                    target=self._run_callbacks,
                    args=(self._gen,),
                    name=f"tapi3-events-{self._h:#x}",
                    daemon=True,
                )
                self._callback_thread.start()
            return K.S_OK, cookie

    def Unadvise(self, dwCookie: int) -> int:
        with self._cond:
            if self._sinks.pop(dwCookie, None) is None:
                return K.E_INVALIDARG
            return K.S_OK

    def _emit(self, event: TapiEvent) -> None:
        if not self._filter & event.event_type:
            return  # filtered out: dropped, not kept for a later filter
        (self._cbqueue if self._sinks else self._queue).append(event)
        self.time.notify_all(self._cond)

    def _run_callbacks(self, gen: int) -> None:
        while True:
            with self._cond:
                self.time.wait(
                    self._cond,
                    lambda: not self._alive(gen) or bool(self._sinks and self._cbqueue),
                    None,
                )
                if not self._alive(gen):
                    return
                event = self._cbqueue.popleft()
                sinks = list(self._sinks.values())
            for sink in sinks:
                sink(event)

    def get_event(self, timeout: float | None = None) -> TapiEvent | None:
        """The next queued event, waiting up to `timeout` seconds on the clock (0 polls,
        None waits until one comes or the object shuts down); None when none came.
        TapiError(TAPI_E_NOT_INITIALIZED) when not initialised."""
        with self._cond:
            if not self._initialized:
                check(K.TAPI_E_NOT_INITIALIZED, "get_event")
            self._process_collected()
            gen = self._gen
            self.time.wait(self._cond, lambda: not self._alive(gen) or bool(self._queue), timeout)
            if not self._alive(gen) or not self._queue:
                return None
            return self._queue.popleft()

    def get_line_message(self, timeout: float | None = 0) -> LINEMESSAGE | None:
        """A LINEMESSAGE for a 2.x object the app opened itself on `hLineApp` (the pump
        reads the HLINEAPP's queue, so such messages are passed on here), waiting up to
        `timeout` seconds on the clock; None when none came."""
        with self._cond:
            gen = self._gen
            self.time.wait(
                self._cond, lambda: not self._alive(gen) or bool(self._line_messages), timeout
            )
            return self._line_messages.popleft() if self._line_messages else None

    # -- the pump -----------------------------------------------------------------------------
    def _pump(self, h: int, gen: int) -> None:
        api = self.source
        while True:
            rc, msg = api.lineGetMessage(h, C.INFINITE)
            with self._cond:
                if not self._alive(gen):
                    return
                if rc == 0 and msg is not None:
                    self._dispatch(msg)
                    self._process_collected()
                    self.time.notify_all(self._cond)
                    continue
                if rc == C.LINEERR_OPERATIONFAILED:
                    continue
                # The HLINEAPP is gone: a lineShutdown from the flat layer, or the
                # telephony server went away. Either way this object is shut down.
                self._teardown()
                return

    def _dispatch(self, msg: LINEMESSAGE) -> None:
        mid = msg.dwMessageID
        if mid == C.LINE_REPLY:
            entry = self._requests.pop(msg.dwParam1, None)
            if entry is None:
                self._line_messages.append(msg)
            elif entry[0] is not None:
                entry[0]._on_reply(entry[1], msg.dwParam1, C._long(msg.dwParam2))
        elif mid == C.LINE_APPNEWCALL:
            line = self._lines.get(msg.hDevice)
            if line is None:
                self._line_messages.append(msg)
            else:
                self._on_new_call(line, msg.dwParam1, msg.dwParam2, msg.dwParam3)
        elif mid in (C.LINE_CALLSTATE, C.LINE_CALLINFO):
            self._on_call_message(msg)
        elif mid == C.LINE_LINEDEVSTATE:
            line = self._lines.get(msg.hDevice)
            if line is None:
                self._line_messages.append(msg)
            else:
                self._on_devstate(line, msg.dwParam1, msg.dwParam3)
        elif mid == C.LINE_CLOSE:
            line = self._lines.get(msg.hDevice)
            if line is None:
                self._line_messages.append(msg)
            else:
                self._on_line_closed(line)
        elif mid == C.LINE_CREATE:
            self._num_devs = max(self._num_devs, msg.dwParam1 + 1)
            address = self._address(msg.dwParam1, 0)
            self._emit(TapiObjectEvent(self, C.TE_ADDRESSCREATE, address))
            self._line_messages.append(msg)
        elif mid == C.LINE_REMOVE:
            self._removed.add(msg.dwParam1)
            address = self._addresses.get((msg.dwParam1, 0))
            self._emit(TapiObjectEvent(self, C.TE_ADDRESSREMOVE, address))
            self._line_messages.append(msg)
        else:
            self._line_messages.append(msg)

    def _on_call_message(self, msg: LINEMESSAGE) -> None:
        hCall = msg.hDevice
        if hCall in self._unwanted:
            if msg.dwMessageID == C.LINE_CALLSTATE and msg.dwParam1 == C.LINECALLSTATE_IDLE:
                self._unwanted.discard(hCall)
                self.source.lineDeallocateCall(hCall)
            return
        call = self._calls.get(hCall)
        if call is None:
            self._line_messages.append(msg)
        elif msg.dwMessageID == C.LINE_CALLSTATE:
            call._on_line_state(msg.dwParam1, msg.dwParam2)
        else:
            call._refresh_info()
            for cause in K.callinfo_causes(msg.dwParam1):
                self._emit(CallInfoChangeEvent(call, cause, call._callback_instance))

    def _on_new_call(self, line: _Line, address_id: int, hCall: int, privilege: int) -> None:
        reg = line.registration
        rc, info = self.source.lineGetCallInfo(hCall)
        known = {c._call_id for c in self._calls.values()}
        if (
            reg is None
            or not reg.active
            or address_id != reg.address.address_id
            or (rc == 0 and info is not None and info.dwCallID in known)
        ):
            # Not for anyone here (unregistered, or a second handle to a call this object
            # already has, e.g. its own outgoing call seen by its monitor line).
            self._get_rid_of(hCall, privilege, info)
            return
        owner = privilege == C.LINECALLPRIVILEGE_OWNER
        call = Call(
            self,
            self._gen,
            reg.address,
            privilege=K.CP_OWNER if owner else K.CP_MONITOR,
            media_types=reg.media_types,
            callback_instance=reg.callback_instance,
        )
        call._attach(line, hCall)
        call._info = info if rc == 0 else None
        call._call_id = info.dwCallID if rc == 0 and info is not None else 0
        event = K.CNE_OWNER if owner else K.CNE_MONITOR
        # Sent with the call's first state (the next message), so that the call object
        # the app gets is already CS_OFFERING (or whatever that state is).
        call._pending_note = CallNotificationEvent(call, event, reg.callback_instance)

    def _get_rid_of(self, hCall: int, privilege: int, info: LINECALLINFO | None) -> None:
        """A call handle nobody here wants: deallocate it, or, as its only owner (a call
        offered to a line kept open after UnregisterNotifications), drop it first (the
        unowned-call rule, rules.md 6.9)."""
        sole = privilege == C.LINECALLPRIVILEGE_OWNER and (info is None or info.dwNumOwners <= 1)
        if sole:
            rid = self.source.lineDrop(hCall)
            if rid > 0:
                self._requests[rid] = (None, "unwanted")
                self._unwanted.add(hCall)
                return
        self.source.lineDeallocateCall(hCall)

    def _on_devstate(self, line: _Line, state: int, param3: int) -> None:
        reg = line.registration
        if reg is None:
            return
        device = line.device_id
        primary = min(
            (x.hLine for x in self._lines.values() if x.registration and x.device_id == device),
            default=None,
        )
        if primary != line.hLine:
            return  # one TE_ADDRESS per device, however many registrations
        if state == C.LINEDEVSTATE_RINGING:
            self._emit(AddressEvent(reg.address, K.AE_RINGING, ring_count=param3))
        elif state == C.LINEDEVSTATE_INSERVICE:
            self._emit(AddressEvent(reg.address, K.AE_STATE, state=K.AS_INSERVICE))
        elif state == C.LINEDEVSTATE_OUTOFSERVICE:
            self._emit(AddressEvent(reg.address, K.AE_STATE, state=K.AS_OUTOFSERVICE))

    def _on_line_closed(self, line: _Line) -> None:
        """LINE_CLOSE: the provider closed a line the layer had open (6.4): its calls end,
        its handles are gone; TE_TAPIOBJECT(TE_ADDRESSCLOSE)."""
        self._lines.pop(line.hLine, None)
        if self._outgoing.get(line.device_id) is line:
            del self._outgoing[line.device_id]
        for hCall, call in list(self._calls.items()):
            if call._line is line:
                del self._calls[hCall]
                call._hCall = None
                if call._state != K.CS_DISCONNECTED:
                    call._set_state(K.CS_DISCONNECTED, K.CEC_DISCONNECT_FAILED)
        if line.registration is not None:
            line.registration.line = None
        address = self._addresses.get((line.device_id, 0))
        self._emit(TapiObjectEvent(self, C.TE_ADDRESSCLOSE, address))

    # -- Pythonic form ------------------------------------------------------------------------
    def initialize(self) -> int:
        """S_OK or S_FALSE (already initialised); TapiError otherwise."""
        return check(self.Initialize(), "initialize")

    def shutdown(self) -> int:
        """S_OK or S_FALSE (already shut down); TapiError(TAPI_E_NOT_INITIALIZED) when
        never initialised."""
        return check(self.Shutdown(), "shutdown")

    def addresses(self) -> list[Address]:
        hr, found = self.EnumerateAddresses()
        check(hr, "addresses")
        assert found is not None
        return found

    def register_call_notifications(
        self,
        address: Address | None,
        monitor: bool = False,
        owner: bool = True,
        media_types: int = K.TAPIMEDIATYPE_DATAMODEM,
        callback_instance: int = 0,
    ) -> int:
        """The registration's cookie (for unregister_notifications)."""
        hr, cookie = self.RegisterCallNotifications(
            address, monitor, owner, media_types, callback_instance
        )
        check(hr, "register_call_notifications")
        assert cookie is not None
        return cookie

    def unregister_notifications(self, cookie: int) -> None:
        check(self.UnregisterNotifications(cookie), "unregister_notifications")

    @property
    def event_filter(self) -> int:
        hr, mask = self.get_EventFilter()
        check(hr, "event_filter")
        assert mask is not None
        return mask

    @event_filter.setter
    def event_filter(self, mask: int) -> None:
        check(self.put_EventFilter(mask), "event_filter")

    def add_callback(self, callback: EventCallback) -> int:
        """Advise a callable taking the event; returns its cookie."""
        hr, cookie = self.Advise(callback)
        check(hr, "add_callback")
        assert cookie is not None
        return cookie

    def remove_callback(self, cookie: int) -> None:
        check(self.Unadvise(cookie), "remove_callback")

    def __enter__(self) -> TAPI:
        self.initialize()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._initialized:
            self.Shutdown()

    def __repr__(self) -> str:
        state = f"hLineApp={self._h:#x}" if self._h is not None else "not initialized"
        return f"<TAPI {state}>"


# --------------------------------------------------------------------------------------
# Address
# --------------------------------------------------------------------------------------


class Address:
    """One address of a line device (ITAddress), from `TAPI.addresses()`."""

    def __init__(
        self,
        tapi: TAPI,
        gen: int,
        device_id: int,
        address_id: int,
        version: int,
        *,
        name: str,
        dialable_address: str,
        provider: str,
        line_modes: int,
    ) -> None:
        self._tapi = tapi
        self._gen = gen
        self.device_id = device_id
        self.address_id = address_id
        self._version = version
        self.name = name
        self.dialable_address = dialable_address
        self.service_provider_name = provider
        self._line_modes = line_modes
        self.media_types = media_types_of(line_modes)

    def get_AddressName(self) -> tuple[int, str]:
        return K.S_OK, self.name

    def get_DialableAddress(self) -> tuple[int, str]:
        return K.S_OK, self.dialable_address

    def get_ServiceProviderName(self) -> tuple[int, str]:
        return K.S_OK, self.service_provider_name

    def get_MediaTypes(self) -> tuple[int, int]:
        return K.S_OK, self.media_types

    def CreateCall(
        self, pDestAddress: str | None, lAddressType: int, lMediaTypes: int
    ) -> tuple[int, Call | None]:
        """(S_OK, call) in CS_IDLE; nothing reaches the line until Connect.
        E_INVALIDARG unless exactly one LINEADDRESSTYPE_*; TAPI_E_INVALADDRESSTYPE for a
        type other than a phone number (the only one linelab's lines take);
        TAPI_E_INVALIDMEDIATYPE for no media type or one the address does not support;
        TAPI_E_NOT_INITIALIZED once the TAPI object is shut down."""
        tapi = self._tapi
        with tapi._cond:
            if not tapi._alive(self._gen):
                return K.TAPI_E_NOT_INITIALIZED, None
            tapi._process_collected()
            if (
                not isinstance(lAddressType, int)
                or lAddressType & ~K.ALL_ADDRESS_TYPES
                or lAddressType.bit_count() != 1
            ):
                return K.E_INVALIDARG, None
            if lAddressType != K.LINEADDRESSTYPE_PHONENUMBER:
                return C.TAPI_E_INVALADDRESSTYPE, None
            if not lMediaTypes or lMediaTypes & ~self.media_types:
                return C.TAPI_E_INVALIDMEDIATYPE, None
            if pDestAddress is not None and not isinstance(pDestAddress, str):
                return K.E_POINTER, None
            call = Call(
                tapi,
                self._gen,
                self,
                privilege=K.CP_OWNER,
                media_types=lMediaTypes,
                callback_instance=0,
                destination=pDestAddress,
            )
            return K.S_OK, call

    def EnumerateCalls(self) -> tuple[int, list[Call] | None]:
        """(S_OK, the calls on this address that still have a line handle)."""
        tapi = self._tapi
        with tapi._cond:
            if not tapi._alive(self._gen):
                return K.TAPI_E_NOT_INITIALIZED, None
            return K.S_OK, [c for c in tapi._calls.values() if c._address is self]

    # -- Pythonic form ------------------------------------------------------------------------
    def create_call(
        self,
        destination: str | None,
        address_type: int = K.LINEADDRESSTYPE_PHONENUMBER,
        media_types: int | None = None,
    ) -> Call:
        """A new call in CS_IDLE (media types default to data modem where supported)."""
        if media_types is None:
            media_types = (
                K.TAPIMEDIATYPE_DATAMODEM
                if self.media_types & K.TAPIMEDIATYPE_DATAMODEM
                else self.media_types & -self.media_types
            )
        hr, call = self.CreateCall(destination, address_type, media_types)
        check(hr, "create_call")
        assert call is not None
        return call

    def calls(self) -> list[Call]:
        hr, found = self.EnumerateCalls()
        check(hr, "calls")
        assert found is not None
        return found

    def __repr__(self) -> str:
        return f"<Address {self.name!r} device {self.device_id} address {self.address_id}>"


# --------------------------------------------------------------------------------------
# Call: ITBasicCallControl and ITCallInfo on one object
# --------------------------------------------------------------------------------------

_ACTIVE = (K.CS_INPROGRESS, K.CS_CONNECTED, K.CS_OFFERING, K.CS_HOLD, K.CS_QUEUED)

_INFO_STRINGS = {
    K.CIS_CALLERIDNAME: "CallerIDName",
    K.CIS_CALLERIDNUMBER: "CallerID",
    K.CIS_CALLEDIDNAME: "CalledIDName",
    K.CIS_CALLEDIDNUMBER: "CalledID",
    K.CIS_CONNECTEDIDNAME: "ConnectedIDName",
    K.CIS_CONNECTEDIDNUMBER: "ConnectedID",
    K.CIS_REDIRECTIONIDNAME: "RedirectionIDName",
    K.CIS_REDIRECTIONIDNUMBER: "RedirectionID",
    K.CIS_REDIRECTINGIDNAME: "RedirectingIDName",
    K.CIS_REDIRECTINGIDNUMBER: "RedirectingID",
    K.CIS_CALLEDPARTYFRIENDLYNAME: "CalledParty",
    K.CIS_COMMENT: "Comment",
    K.CIS_DISPLAYABLEADDRESS: "DisplayableAddress",
    K.CIS_CALLINGPARTYID: "",
}

_INFO_LONGS = {
    K.CIL_MEDIATYPESAVAILABLE: "dwMediaMode",
    K.CIL_BEARERMODE: "dwBearerMode",
    K.CIL_CALLERIDADDRESSTYPE: "dwCallerIDAddressType",
    K.CIL_CALLEDIDADDRESSTYPE: "dwCalledIDAddressType",
    K.CIL_CONNECTEDIDADDRESSTYPE: "dwConnectedIDAddressType",
    K.CIL_REDIRECTIONIDADDRESSTYPE: "dwRedirectionIDAddressType",
    K.CIL_REDIRECTINGIDADDRESSTYPE: "dwRedirectingIDAddressType",
    K.CIL_ORIGIN: "dwOrigin",
    K.CIL_REASON: "dwReason",
    K.CIL_APPSPECIFIC: "dwAppSpecific",
    K.CIL_CALLPARAMSFLAGS: "dwCallParamFlags",
    K.CIL_CALLTREATMENT: "dwCallTreatment",
    K.CIL_MINRATE: "",
    K.CIL_MAXRATE: "",
    K.CIL_COUNTRYCODE: "dwCountryCode",
    K.CIL_CALLID: "dwCallID",
    K.CIL_RELATEDCALLID: "dwRelatedCallID",
    K.CIL_COMPLETIONID: "dwCompletionID",
    K.CIL_NUMBEROFOWNERS: "dwNumOwners",
    K.CIL_NUMBEROFMONITORS: "dwNumMonitors",
    K.CIL_TRUNK: "dwTrunk",
    K.CIL_RATE: "dwRate",
}


class Call:
    """A call (ITBasicCallControl + ITCallInfo): from `Address.create_call`, or handed
    to the app by a TE_CALLNOTIFICATION. ``with call:`` releases it at the end of the
    block, disconnecting it first if this app is its only owner and it is active."""

    def __init__(
        self,
        tapi: TAPI,
        gen: int,
        address: Address,
        *,
        privilege: int,
        media_types: int,
        callback_instance: int,
        destination: str | None = None,
    ) -> None:
        self._tapi = tapi
        self._gen = gen
        self._address = address
        self._privilege = privilege
        self._media_types = media_types
        self._callback_instance = callback_instance
        self._destination = destination
        self._state = K.CS_IDLE
        self._cause = K.CEC_NONE
        self._hCall: int | None = None
        self._line: _Line | None = None
        self._token = next(tapi._tokens)
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._started = False  # Connect was called (or the call came in)
        self._reached_connected = False
        self._connect_hr = K.S_OK
        self._replies: dict[int, int] = {}
        self._drop_pending = False  # Disconnect before the lineMakeCall reply
        self._released = False
        self._call_id = 0
        self._info: LINECALLINFO | None = None
        self._pending_note: CallNotificationEvent | None = None

    # -- bookkeeping (the TAPI object's lock held) --------------------------------------------
    def _attach(self, line: _Line, hCall: int) -> None:
        tapi = self._tapi
        self._line = line
        self._hCall = hCall
        self._started = True
        tapi._calls[hCall] = self
        line.calls.add(self._token)
        self._finalizer = weakref.finalize(
            self, _collected, weakref.ref(tapi), self._gen, line, self._token
        )

    def _free_handle(self) -> None:
        """The call is over (IDLE): keep its last information, deallocate the HCALL."""
        hCall = self._hCall
        if hCall is None:
            return
        self._refresh_info()
        self._tapi._calls.pop(hCall, None)
        self._hCall = None
        self._tapi.source.lineDeallocateCall(hCall)
        if self._released and self._line is not None:
            self._tapi._maybe_close(self._line)

    def _refresh_info(self) -> None:
        if self._hCall is None:
            return
        rc, info = self._tapi.source.lineGetCallInfo(self._hCall)
        if rc == 0 and info is not None:
            self._info = info
            self._call_id = info.dwCallID

    def _set_state(self, state: int, cause: int) -> None:
        self._state, self._cause = state, cause
        if state == K.CS_CONNECTED:
            self._reached_connected = True
        if self._pending_note is not None:
            note, self._pending_note = self._pending_note, None
            self._tapi._emit(note)
        self._tapi._emit(CallStateEvent(self, state, cause, self._callback_instance))

    def _on_reply(self, kind: str, rid: int, result: int) -> None:
        self._replies[rid] = result
        if kind != "makecall":
            return
        if result == 0:
            self._refresh_info()
            if self._drop_pending and self._hCall is not None:
                self._drop_pending = False
                self._request("drop", self._tapi.source.lineDrop(self._hCall))
            return
        # The call never came to be (R7): its handle never became valid.
        self._connect_hr = K.hresult_of(result)
        if self._hCall is not None:
            self._tapi._calls.pop(self._hCall, None)
            self._hCall = None
        self._set_state(K.CS_DISCONNECTED, K.CEC_DISCONNECT_FAILED)

    def _on_line_state(self, line_state: int, mode: int) -> None:
        base = line_state & 0x00FFFFFF
        if self._state == K.CS_DISCONNECTED:
            if base == C.LINECALLSTATE_IDLE:
                self._free_handle()
            return
        if base == C.LINECALLSTATE_IDLE:
            # A local drop (or a call that simply ended) goes straight to IDLE.
            self._set_state(K.CS_DISCONNECTED, K.CEC_DISCONNECT_NORMAL)
            self._free_handle()
        elif base == C.LINECALLSTATE_DISCONNECTED:
            self._set_state(K.CS_DISCONNECTED, K.cause_of(mode))
            self._end_disconnected()
        else:
            state = K.call_state_of(line_state)
            if state != self._state:
                self._set_state(state, K.CEC_NONE)

    def _end_disconnected(self) -> None:
        """The far end ended the call: CS_DISCONNECTED is final in TAPI 3, so the layer
        takes the 2.x call to IDLE itself (a linelab decision, docs/tapi3.md): the only
        owner drops it (the modem goes on hook), anyone else deallocates its handle."""
        if self._hCall is None:
            return
        if self._privilege == K.CP_OWNER and self._sole_owner():
            rid = self._tapi.source.lineDrop(self._hCall)
            if rid > 0:
                self._tapi._requests[rid] = (self, "autodrop")
                return
        self._free_handle()

    def _sole_owner(self) -> bool:
        if self._hCall is None or self._privilege != K.CP_OWNER:
            return False
        rc, info = self._tapi.source.lineGetCallInfo(self._hCall)
        return rc == 0 and info is not None and info.dwNumOwners <= 1

    def _request(self, kind: str, rid: int) -> int:
        if rid > 0:
            self._tapi._requests[rid] = (self, kind)
        return rid

    def _usable(self) -> int:
        """S_OK, or why this object cannot act: its TAPI object shut down
        (TAPI_E_NOT_INITIALIZED), or it was released (E_UNEXPECTED, linelab's choice)."""
        if not self._tapi._alive(self._gen):
            return K.TAPI_E_NOT_INITIALIZED
        if self._released:
            return K.E_UNEXPECTED
        self._tapi._process_collected()
        return K.S_OK

    # -- ITBasicCallControl -------------------------------------------------------------------
    def Connect(self, fSync: bool) -> int:
        """lineMakeCall on the address's outgoing line. S_OK (async: at once, the rest
        comes as TE_CALLSTATE; sync: once CS_CONNECTED); TAPI_E_INVALCALLSTATE unless the
        call is CS_IDLE and never connected; TAPI_E_TIMEOUT after SYNC_TIMEOUT; a call
        that ends instead gives CONNECT_FAILURES by cause (linelab's choice)."""
        tapi = self._tapi
        with tapi._cond:
            hr = self._usable()
            if hr:
                return hr
            if self._state != K.CS_IDLE or self._started:
                return K.TAPI_E_INVALCALLSTATE
            hr, line = tapi._outgoing_line(self._address)
            if hr or line is None:
                return hr
            params = LINECALLPARAMS(
                dwMediaMode=line_modes_of(self._media_types, self._address._line_modes),
                dwBearerMode=C.LINEBEARERMODE_VOICE,
                dwAddressID=self._address.address_id,
            )
            rid, hCall = tapi.source.lineMakeCall(line.hLine, self._destination, 0, params)
            if rid < 0 or hCall is None:
                tapi._maybe_close(line)
                return tapi._failed(rid)
            self._attach(line, hCall)
            self._request("makecall", rid)
            if not fSync:
                return K.S_OK
            done = self._sync_wait(lambda: self._state in (K.CS_CONNECTED, K.CS_DISCONNECTED))
            if done is None:
                return K.TAPI_E_NOT_INITIALIZED
            if not done:
                return K.TAPI_E_TIMEOUT
            if self._reached_connected:
                return K.S_OK
            if self._connect_hr:
                return self._connect_hr
            return K.CONNECT_FAILURES.get(self._cause, C.TAPI_E_DESTUNAVAIL)

    def Answer(self) -> int:
        """lineAnswer, synchronously. S_OK once CS_CONNECTED; E_UNEXPECTED unless the
        call is CS_OFFERING; TAPI_E_NOTOWNER for a monitor; TAPI_E_TIMEOUT after
        SYNC_TIMEOUT; TAPI_E_DROPPED when the call ends instead."""
        tapi = self._tapi
        with tapi._cond:
            hr = self._usable()
            if hr:
                return hr
            if self._state != K.CS_OFFERING or self._hCall is None:
                return K.E_UNEXPECTED
            rid = self._request("answer", tapi.source.lineAnswer(self._hCall))
            if rid < 0:
                return tapi._failed(rid)
            done = self._sync_wait(
                lambda: (
                    self._replies.get(rid, 0) < 0
                    or self._state in (K.CS_CONNECTED, K.CS_DISCONNECTED)
                )
            )
            if done is None:
                return K.TAPI_E_NOT_INITIALIZED
            if not done:
                return K.TAPI_E_TIMEOUT
            if self._replies.get(rid, 0) < 0:
                return K.hresult_of(self._replies[rid])
            return K.S_OK if self._reached_connected else C.TAPI_E_DROPPED

    def Disconnect(self, code: int) -> int:
        """lineDrop, synchronously (any DISCONNECT_CODE: TAPI 2 has one drop). S_OK once
        CS_DISCONNECTED; S_FALSE for a call that is CS_IDLE (never connected) or already
        disconnected; E_INVALIDARG for an unknown code; TAPI_E_TIMEOUT after
        SYNC_TIMEOUT."""
        tapi = self._tapi
        with tapi._cond:
            hr = self._usable()
            if hr:
                return hr
            if code not in (K.DC_NORMAL, K.DC_NOANSWER, K.DC_REJECTED):
                return K.E_INVALIDARG
            if not self._started or self._state == K.CS_DISCONNECTED or self._hCall is None:
                return K.S_FALSE
            rid = 0
            if self._state == K.CS_IDLE and self._call_id == 0:
                self._drop_pending = True  # the lineMakeCall reply has not come yet
            else:
                rid = self._request("drop", tapi.source.lineDrop(self._hCall))
                if rid < 0:
                    return tapi._failed(rid)
            done = self._sync_wait(
                lambda: self._state == K.CS_DISCONNECTED or self._replies.get(rid, 0) < 0
            )
            if done is None:
                return K.TAPI_E_NOT_INITIALIZED
            if not done:
                return K.TAPI_E_TIMEOUT
            if self._state != K.CS_DISCONNECTED:
                return K.hresult_of(self._replies[rid])
            return K.S_OK

    def _sync_wait(self, done: Callable[[], bool]) -> bool | None:
        return self._tapi._sync_wait(self._gen, done)

    def Release(self) -> int:
        """Let go of the call object (COM Release of the app's last reference): an active
        call of which this app is the only owner is disconnected first (synchronously);
        the layer's handle is deallocated; the line it came through may close (6.10).
        S_OK; S_FALSE when already released."""
        tapi = self._tapi
        with tapi._cond:
            if self._released:
                return K.S_FALSE
            hr = K.S_OK
            if tapi._alive(self._gen) and self._hCall is not None:
                if self._state in _ACTIVE and self._sole_owner():
                    hr = self.Disconnect(K.DC_NORMAL)
                if self._hCall is not None and self._state != K.CS_DISCONNECTED:
                    # Another owner keeps the call, or this app only monitors it.
                    hCall = self._hCall
                    if tapi.source.lineDeallocateCall(hCall) == 0:
                        tapi._calls.pop(hCall, None)
                        self._hCall = None
            self._released = True
            if self._finalizer is not None:
                self._finalizer.detach()
            if tapi._alive(self._gen) and self._line is not None:
                self._line.calls.discard(self._token)
                if self._hCall is None:
                    tapi._maybe_close(self._line)
            return hr if hr < 0 else K.S_OK

    # -- ITCallInfo ---------------------------------------------------------------------------
    def get_CallState(self) -> tuple[int, int]:
        """(S_OK, CALL_STATE). Once the TAPI object is shut down: CS_DISCONNECTED."""
        with self._tapi._cond:
            if not self._tapi._alive(self._gen) and self._state != K.CS_DISCONNECTED:
                return K.S_OK, K.CS_DISCONNECTED
            return K.S_OK, self._state

    def get_Privilege(self) -> tuple[int, int]:
        return K.S_OK, self._privilege

    def get_Address(self) -> tuple[int, Address]:
        return K.S_OK, self._address

    def get_CallInfoString(self, CallInfoString: int) -> tuple[int, str | None]:
        """(S_OK, text) for a CIS_* selector ("" when the line gave none); E_INVALIDARG
        for an unknown selector."""
        with self._tapi._cond:
            if CallInfoString not in _INFO_STRINGS:
                return K.E_INVALIDARG, None
            if self._hCall is not None and self._tapi._alive(self._gen):
                self._refresh_info()
            name = _INFO_STRINGS[CallInfoString]
            if self._info is not None and name:
                return K.S_OK, str(getattr(self._info, name, ""))
            if self._destination is not None and CallInfoString in (
                K.CIS_CALLEDIDNUMBER,
                K.CIS_DISPLAYABLEADDRESS,
            ):
                return K.S_OK, self._destination.rstrip(";")
            return K.S_OK, ""

    def get_CallInfoLong(self, CallInfoLong: int) -> tuple[int, int | None]:
        """(S_OK, value) for a CIL_* selector; E_INVALIDARG for an unknown one."""
        with self._tapi._cond:
            if CallInfoLong not in _INFO_LONGS:
                return K.E_INVALIDARG, None
            if self._hCall is not None and self._tapi._alive(self._gen):
                self._refresh_info()
            if CallInfoLong == K.CIL_MEDIATYPESAVAILABLE:
                modes = self._info.dwMediaMode if self._info is not None else 0
                return K.S_OK, media_types_of(modes) or self._media_types
            name = _INFO_LONGS[CallInfoLong]
            if self._info is None or not name:
                return K.S_OK, 0
            return K.S_OK, int(getattr(self._info, name, 0))

    # -- Pythonic form ------------------------------------------------------------------------
    def connect(self, sync: bool = True) -> int:
        return check(self.Connect(sync), "connect")

    def answer(self) -> int:
        return check(self.Answer(), "answer")

    def disconnect(self, code: int = K.DC_NORMAL) -> int:
        """S_OK, or S_FALSE when there was nothing to disconnect."""
        return check(self.Disconnect(code), "disconnect")

    def release(self) -> int:
        return check(self.Release(), "release")

    @property
    def state(self) -> int:
        return self.get_CallState()[1]

    @property
    def cause(self) -> int:
        """The CALL_STATE_EVENT_CAUSE of the last state change."""
        return self._cause

    @property
    def privilege(self) -> int:
        return self._privilege

    @property
    def address(self) -> Address:
        return self._address

    @property
    def hCall(self) -> int | None:
        """The HCALL under this call while it has one (flat 2.x calls may use it)."""
        return self._hCall

    @property
    def released(self) -> bool:
        return self._released

    def info_string(self, selector: int) -> str:
        hr, text = self.get_CallInfoString(selector)
        check(hr, "info_string")
        assert text is not None
        return text

    def info_long(self, selector: int) -> int:
        hr, value = self.get_CallInfoLong(selector)
        check(hr, "info_long")
        assert value is not None
        return value

    @property
    def caller_id_number(self) -> str:
        return self.info_string(K.CIS_CALLERIDNUMBER)

    @property
    def caller_id_name(self) -> str:
        return self.info_string(K.CIS_CALLERIDNAME)

    @property
    def called_id_number(self) -> str:
        return self.info_string(K.CIS_CALLEDIDNUMBER)

    def __enter__(self) -> Call:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.Release()

    def __repr__(self) -> str:
        states = {
            K.CS_IDLE: "CS_IDLE",
            K.CS_INPROGRESS: "CS_INPROGRESS",
            K.CS_CONNECTED: "CS_CONNECTED",
            K.CS_DISCONNECTED: "CS_DISCONNECTED",
            K.CS_OFFERING: "CS_OFFERING",
            K.CS_HOLD: "CS_HOLD",
            K.CS_QUEUED: "CS_QUEUED",
        }
        return f"<Call {states.get(self.state, self.state)} hCall={self._hCall}>"


#: ITBasicCallControl and ITCallInfo are two interfaces of one object in TAPI 3.
BasicCallControl = Call
CallInfo = Call
