"""`tapi.Stack`: one TAPI "server" with every flat function as a method.

A Stack is the threaded driver of one sans-I/O core (`tapi.core.core.TapiCore`): it
owns the lock that serialises every call into the core (flat functions from any
thread, provider events from the loop), the waiting (lineGetMessage's time-out, a
close waiting for a running callback), the delivery of each app's messages
(`tapi.notify`: callback threads, eventfds, completion ports), its line devices
(providers), its clock (a `linelab.vtime.TimeSource`) and the event loop its providers
run on: by default its own loop in a service thread, started on first use; or an
external ``loop=``, so that a scenario can put the stack and the emulator on one
(virtual-time) loop.

The module-level flat functions (`tapi.api`) call the *default stack*, which
`set_default_stack()` replaces; the test fixture in tests/conftest.py gives every test
a fresh one.

Windows CE behaviour, where it differs from desktop Windows, is selected with
``Stack(ce=True)``. Today that is one rule (rules.md §6.1): lineDeallocateCall discards
the pending LINE_REPLYs of that call, instead of delivering them as desktop TAPI 2.0+
does (desktop discards them too for an app that negotiated a version below 2.0). The
CE rule that a process's exit shuts down its HLINEAPPs (R6) holds in both modes:
`Stack.close()`. See docs/tapi.md.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from linelab.errors import LinelabError
from linelab.vtime import RealTime, TimeSource
from tapi import constants as C
from tapi.core.args import OUT
from tapi.core.core import TapiCore
from tapi.core.state import to_linemessage
from tapi.notify import CallbackSink, CompletionPortSink, EventSink, Sink
from tapi.providers.base import LineDevice, Provider
from tapi.structs import LINEINITIALIZEEXPARAMS, LINEMESSAGE
from tapi.view import Hierarchy

#: The `LineDevice` methods `Stack.watch_events` reports (the core's TSPI requests).
TSPI_REQUESTS = (
    "open",
    "close",
    "set_default_media_detection",
    "make_call",
    "dial",
    "answer",
    "accept",
    "drop",
    "close_call",
    "set_call_params",
    "get_id",
)

#: How long `Stack.close()` lets providers finish hanging up (seconds on the stack's
#: clock): room for the modem provider's whole escalation with default time-outs (CR
#: 3 s, DTR drop 0.6 s and ATH 3 s, +++ with guard times 5 s, ATH 3 s: 14.6 s).
CLOSE_DRAIN_TIMEOUT = 20.0

P = ParamSpec("P")
R = TypeVar("R")


def _driven(
    method: Callable[Concatenate[TapiCore, P], R],
) -> Callable[Concatenate[Stack, P], R]:
    """A flat function of the core as a thread-safe Stack method: one call into the
    core under the lock, then the messages it posted delivered."""

    @functools.wraps(method)
    def call(self: Stack, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._cond:
            try:
                return method(self._core, *args, **kwargs)
            finally:
                self._deliver()

    return call


class Stack:
    """A complete TAPI 2.x line stack (see module doc).

    `providers` supplies the line devices (device IDs in order). `lines` is a shortcut
    for one provider holding those `LineDevice`s. With neither, the stack has no lines
    until `add_provider()`; `tapi.config.default_stack()` builds one from the
    configuration instead.
    """

    def __init__(
        self,
        providers: Iterable[Provider] = (),
        *,
        lines: Iterable[LineDevice] = (),
        time: TimeSource | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        ce: bool = False,
        config_error: str | None = None,
    ) -> None:
        self.time: TimeSource = time if time is not None else RealTime()
        self.ce = ce
        self._cond = threading.Condition(threading.RLock())
        self._events = _StackEvents(self)
        self._core = TapiCore(self.time, ce=ce, attach=self._attach)
        # A configuration that could not be read: lineInitialize(Ex) answer
        # LINEERR_INIFILECORRUPT and log this located message (never raise).
        self._core.config_error = config_error
        self._sinks: dict[int, Sink] = {}
        self._external_loop = loop
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._closed = False
        _LIVE.add(self)
        for provider in providers:
            self.add_provider(provider)
        lines = list(lines)
        if lines:
            self.add_provider(Provider(lines))

    @property
    def provider_errors(self) -> list[str]:
        """Faults the providers reported (an impossible call-state transition, a
        provider exception …), oldest first. Tests fail when one is left over."""
        return self._core.provider_errors

    def add_provider(self, provider: Provider) -> None:
        """Register a provider's devices (device IDs in order; no LINE_CREATE)."""
        with self._cond:
            self._core.add_provider(provider)

    def watch_events(
        self, watcher: Callable[[str, tuple[Any, ...], dict[str, Any]], None]
    ) -> None:
        """Tell `watcher(name, args, kwargs)` every provider event (``call_state``,
        ``completion`` …) before the core takes it, on the provider's thread, and every
        TSPI request the core makes of a line device present now, named ``tspi:open``,
        ``tspi:make_call`` … For reports (the scenario runner's ladder diagrams); it
        must not block or raise."""

        def wrap(target: object, name: str, shown: str) -> None:
            original = getattr(target, name)

            def watched(*args: Any, **kwargs: Any) -> Any:
                with contextlib.suppress(Exception):
                    watcher(shown, args, kwargs)
                return original(*args, **kwargs)

            setattr(target, name, watched)

        for name in _StackEvents.EVENTS:
            wrap(self._events, name, name)
        with self._cond:
            devices = [line for p in self._core.providers for line in p.lines()]
        for line in devices:
            for name in TSPI_REQUESTS:
                if callable(getattr(line, name, None)):
                    wrap(line, name, f"tspi:{name}")

    def _attach(self, obj: Any) -> None:
        obj.attach(self._events, self._loop)

    # -- the flat API (rules.md §2) ---------------------------------------------------
    lineInitialize = _driven(TapiCore.lineInitialize)
    lineShutdown = _driven(TapiCore.lineShutdown)
    lineNegotiateAPIVersion = _driven(TapiCore.lineNegotiateAPIVersion)
    lineGetDevCaps = _driven(TapiCore.lineGetDevCaps)
    lineGetAddressCaps = _driven(TapiCore.lineGetAddressCaps)
    lineOpen = _driven(TapiCore.lineOpen)
    lineClose = _driven(TapiCore.lineClose)
    lineSetStatusMessages = _driven(TapiCore.lineSetStatusMessages)
    lineGetLineDevStatus = _driven(TapiCore.lineGetLineDevStatus)
    lineGetAddressStatus = _driven(TapiCore.lineGetAddressStatus)
    lineGetID = _driven(TapiCore.lineGetID)
    lineSetNumRings = _driven(TapiCore.lineSetNumRings)
    lineGetNumRings = _driven(TapiCore.lineGetNumRings)
    lineMakeCall = _driven(TapiCore.lineMakeCall)
    lineDial = _driven(TapiCore.lineDial)
    lineAnswer = _driven(TapiCore.lineAnswer)
    lineAccept = _driven(TapiCore.lineAccept)
    lineDrop = _driven(TapiCore.lineDrop)
    lineDeallocateCall = _driven(TapiCore.lineDeallocateCall)
    lineGetCallInfo = _driven(TapiCore.lineGetCallInfo)
    lineGetCallStatus = _driven(TapiCore.lineGetCallStatus)
    lineGetNewCalls = _driven(TapiCore.lineGetNewCalls)
    lineSetCallPrivilege = _driven(TapiCore.lineSetCallPrivilege)
    lineHandoff = _driven(TapiCore.lineHandoff)
    lineSetCallParams = _driven(TapiCore.lineSetCallParams)
    lineRegisterRequestRecipient = _driven(TapiCore.lineRegisterRequestRecipient)
    lineGetRequest = _driven(TapiCore.lineGetRequest)
    tapiRequestMakeCall = _driven(TapiCore.tapiRequestMakeCall)

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
        params come back with hEvent (USEEVENT) and the sizes filled in."""
        with self._cond:
            try:
                result = self._core.lineInitializeEx(
                    hInstance,
                    lpfnCallback,
                    lpszFriendlyAppName,
                    dwAPIVersion,
                    lpLineInitializeExParams,
                    lphLineApp=lphLineApp,
                    lpdwNumDevs=lpdwNumDevs,
                )
            finally:
                self._deliver()
            rc, hLineApp, _n, _v, params = result
            sink = self._sinks.get(hLineApp) if rc == 0 and hLineApp is not None else None
            if isinstance(sink, EventSink) and params is not None:
                params.hEvent = sink.hEvent
            return result

    def lineGetMessage(
        self, hLineApp: int, dwTimeout: int, *, lpMessage: Any = OUT
    ) -> tuple[int, LINEMESSAGE | None]:
        """Waits up to dwTimeout ms on the stack's clock (INFINITE = 0xFFFFFFFF) for a
        message; OPERATIONFAILED on time-out; a lineShutdown from another thread ends
        the wait with INVALAPPHANDLE. (The core only answers "here is one" or "none".)"""
        kwargs: dict[str, Any] = {"lpMessage": lpMessage}
        core = self._core
        with self._cond:
            try:
                rc, msg = core.lineGetMessage(hLineApp, dwTimeout, **kwargs)
                if rc != C.LINEERR_OPERATIONFAILED or dwTimeout == 0:
                    return rc, msg
                timeout = None if dwTimeout == C.INFINITE else dwTimeout / 1000.0
                self.time.wait(self._cond, lambda: core.message_ready(hLineApp), timeout)
                return core.lineGetMessage(hLineApp, dwTimeout, **kwargs)
            finally:
                self._deliver()

    def wait_message(self, hLineApp: int, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds of the stack's clock until lineGetMessage(hLineApp)
        would not fail for an empty queue, without taking the message. For a harness
        whose app reads its queue elsewhere (a client of the server, which only ever asks
        with time-out 0): it waits here, in the stack's time, and then asks."""
        core = self._core
        with self._cond:
            return self.time.wait(self._cond, lambda: core.message_ready(hLineApp), timeout)

    # -- delivery: the I/O around the core --------------------------------------------------
    def _deliver(self) -> None:
        """Act on what the core changed (with the lock held, after a call into it)."""
        core = self._core
        if core.busy:
            return  # a provider re-entered from inside a call: that call delivers
        changes = core.changes()
        if not changes:
            return
        for app in changes.started:
            self._sinks[app.hLineApp] = self._new_sink(app)
        for app in changes.apps.values():
            sink = self._sinks.get(app.hLineApp)
            if sink is not None:
                sink.update()
        self.time.notify_all(self._cond)
        for app, doomed in changes.quiesce:
            sink = self._sinks.get(app.hLineApp)
            if sink is not None:
                sink.quiesce(doomed)
        for app in changes.apps.values():
            if not app.alive:
                gone = self._sinks.pop(app.hLineApp, None)
                if gone is not None:
                    gone.close()
        self.time.notify_all(self._cond)

    def _new_sink(self, app: Any) -> Sink:
        take = self._core.take_message
        if app.options == C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW:
            return CallbackSink(self._cond, self.time, app, app.callback, take)
        if app.options == C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT:
            return CompletionPortSink(
                self._cond,
                self.time,
                app,
                app.completion_port,
                app.completion_key,
                take,
                to_linemessage,
            )
        return EventSink(self._cond, self.time, app)

    # -- the event loop --------------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop providers run on (the service loop is started on first use)."""
        return self._loop()

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._external_loop is not None:
            return self._external_loop
        with self._cond:
            if self._own_loop is None:
                loop = self.time.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._own_loop = loop
                self._loop_thread = threading.Thread(target=serve, name="tapi-loop", daemon=True)
                self._loop_thread.start()
                ready.wait(10.0)  # a deadline for start-up, not a delay
            return self._own_loop

    # -- life cycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Shut down every HLINEAPP (as if each process exited, R6) and the providers, let
        the providers finish their hang-ups (`CLOSE_DRAIN_TIMEOUT`), then stop the
        service loop. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            try:
                self._core.close()
            finally:
                self._deliver()
        self._drain_providers()
        loop, thread = self._own_loop, self._loop_thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10.0)
            if not thread.is_alive():
                loop.close()

    def _drain_providers(self) -> None:
        """Let the providers finish what shutting down began (a hang-up's DTR drop, the
        port's release) before the loop stops: wait on the stack's clock, so virtual time
        moves on meanwhile, for at most `CLOSE_DRAIN_TIMEOUT`."""
        loop = self._external_loop or self._own_loop
        if loop is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                return  # closing from the loop itself: nobody else can run its timers
        except RuntimeError:
            pass  # no loop in this thread: the usual case
        providers = list(self._core.providers)
        remaining = [len(providers)]

        def done() -> None:
            with self._cond:
                remaining[0] -= 1
                self.time.notify_all(self._cond)

        for provider in providers:
            provider.when_drained(done)
        with self._cond:
            self.time.wait(self._cond, lambda: remaining[0] <= 0, CLOSE_DRAIN_TIMEOUT)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading the state -----------------------------------------------------------------
    def hierarchy(self, apps: Iterable[int] | None = None) -> Hierarchy:
        """The whole tree, or only the given HLINEAPPs (the server's per-client view): a
        read-only snapshot taken under the stack's lock (`tapi.view`)."""
        with self._cond:
            return self._core.hierarchy(apps)

    def pending_messages(self, hLineApp: int) -> list[object]:
        """Messages queued for `hLineApp` and not yet delivered (for assertions)."""
        with self._cond:
            return [to_linemessage(m) for m in self._core.pending(hLineApp)]


class _StackEvents:
    """The `LineEvents` every line device reports through (from any thread): each
    event is one call into the core under the stack's lock, then delivery."""

    EVENTS = (
        "completion",
        "new_call",
        "call_state",
        "call_info",
        "line_devstate",
        "line_closed",
        "device_removed",
        "device_created",
        "provider_error",
    )

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    @contextmanager
    def _locked(self) -> Iterator[TapiCore]:
        stack = self._stack
        with stack._cond:
            try:
                yield stack._core
            finally:
                stack._deliver()

    def completion(self, request_id: int, result: int) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.completion(request_id, result))

    def new_call(
        self,
        line: LineDevice,
        *,
        address_id: int = 0,
        media_mode: int = C.LINEMEDIAMODE_UNKNOWN,
        origin: int = C.LINECALLORIGIN_EXTERNAL,
        reason: int = C.LINECALLREASON_DIRECT,
    ) -> int:
        # Pure bookkeeping with no messages, so it runs at once even inside a TSPI call.
        with self._stack._cond:
            return self._stack._core.events.new_call(line, address_id, media_mode, origin, reason)

    def call_state(self, htCall: int, state: int, mode: int = 0, media_mode: int = 0) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.call_state(htCall, state, mode, media_mode))

    def call_info(self, htCall: int, changed: int, **values: Any) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.call_info(htCall, changed, values))

    def line_devstate(
        self, line: LineDevice, state: int, param2: int = 0, param3: int = 0
    ) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.line_devstate(line, state, param2, param3))

    def line_closed(self, line: LineDevice) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.line_closed(line))

    def device_removed(self, line: LineDevice) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.device_removed(line))

    def device_created(self, line: LineDevice) -> None:
        with self._locked() as core:
            core.run_event(lambda: core.events.device_created(line))

    def provider_error(self, line: LineDevice, text: str) -> None:
        with self._locked() as core:
            core.events.provider_error(line, text)


_LIVE: weakref.WeakSet[Stack] = weakref.WeakSet()


def live_stacks() -> list[Stack]:
    """Every Stack not yet closed (test fixtures close what a test left open)."""
    return [s for s in list(_LIVE) if not s._closed]


_default: Stack | None = None
_default_lock = threading.Lock()


def get_default_stack() -> Stack:
    """The stack the module-level flat functions use (created from the configuration
    on first use: `tapi.config.default_stack`)."""
    global _default
    with _default_lock:
        if _default is None:
            from tapi.config import default_stack

            try:
                _default = default_stack()
            except LinelabError as exc:
                # The flat API never raises for a caller's mistake: a bad or missing
                # configuration is LINEERR_INIFILECORRUPT from lineInitialize(Ex).
                logging.getLogger("tapi").error("line configuration: %s", exc)
                _default = Stack(config_error=str(exc))
        return _default


def _close_default_at_exit() -> None:
    """At interpreter exit, close the default stack as lineShutdown of every app would:
    a call still up (or dialling) is hung up properly and the port released, instead
    of leaving the modem off-hook (docs/tapi-modem-line.md). Non-daemon threads have
    been joined by then; the stack's loop thread is a daemon and still runs."""
    with _default_lock:
        stack = _default
    if stack is None:
        return
    try:
        stack.close()
    except Exception:  # at exit, a failure can only be reported
        logging.getLogger("tapi").exception("closing the default stack at exit")


atexit.register(_close_default_at_exit)


def set_default_stack(stack: Stack | None) -> Stack | None:
    """Make `stack` the default (None: build a new one on next use); returns the old one."""
    global _default
    with _default_lock:
        old, _default = _default, stack
        return old


@contextmanager
def using_stack(stack: Stack | None = None) -> Iterator[Stack]:
    """Make `stack` (default: a new empty Stack) the default for the block, then restore
    the previous default and close `stack`: a fresh stack per test or per hypothesis
    example."""
    stack = stack if stack is not None else Stack()
    old = set_default_stack(stack)
    try:
        yield stack
    finally:
        set_default_stack(old)
        stack.close()
