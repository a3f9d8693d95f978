"""The asyncio host: any number of sans-I/O modems and one exchange on ONE event loop.

`ModemHost` is the only driver the transports (pty, `vmodem://`, RFC 2217, the hub) need.
It owns an `Exchange` and the `ModemEngine`s attached to it, reads time from the loop
(`clock = LoopClock(loop, time_scale)`, scaled for ``--time-scale``), so a
virtual-time loop (`linelab.vtime`) makes every modem timer virtual too, and it turns
engine callbacks into loop work:

- each engine and the exchange get one loop timer (``loop.call_at``) at their
  ``next_deadline()``; it calls ``tick()``;
- engine and exchange listeners only *schedule* one coalesced service pass
  (``loop.call_soon``). A pass hands new DTE output to the attached transport (or
  discards it while none is attached), publishes signal changes, wakes transports
  waiting for input room, and re-arms timers. Exchange work already due (data one
  modem sent to another) is done in the pass, not through a timer, and passes repeat
  (at most MAX_PASSES) while they leave work due, all in one callback;
- a transport runs its I/O callback through ``host.run_held(port, callback)``
  (``hold()`` ... ``run_pending()``), which runs the scheduled pass at its end: an
  AT reply, or data that crossed the exchange, is written in the loop iteration that
  read its cause.

Threads
=======
Everything below runs on the loop thread, except the methods marked *thread-safe*
(`ModemHost.add_modem`, `remove_modem`, `call`, `close`), which hop onto the loop with
``call_soon_threadsafe`` and wait for the result when called from another thread.
`ModemHost.start_in_thread()` builds a host whose loop runs in a daemon service thread
(what `vmodem://` does when no emulator loop is running).

The transport-facing API (stable; other transports build on it)
================================================================
``host.add_modem(name, number=None, profile="generic") -> HostedModem``

A transport attaches one `ModemPort` (a protocol: three callbacks) to a `HostedModem`:

``modem.attach(port)`` / ``modem.detach()``
    One port at a time. While no port is attached the modem's output is discarded, so
    the next client never gets a stale RING or NO CARRIER, and `detach()` drops DTR (a
    port that goes away is a DTE that went away). `attach()` does not raise DTR: the
    transport calls `set_dtr(True)` when its client is really there.
``modem.feed(data) -> int``
    DTE bytes into the modem. Accepts at most ``modem.dte_room()`` bytes and returns how
    many it took. In data mode the room is the far end's free buffer space: read no more
    from your client than ``dte_room()`` and the back-pressure reaches the sending DTE.
    When `feed` was cut short or `dte_room()` returned 0, the port's `room_available()`
    is called once the room is above zero again.
``modem.read(max_bytes) -> bytes`` / ``modem.pending() -> int``
    Pull output for the client. ``port.output_ready()`` says there is some; pull only
    as much as you can write now. What you leave stays in the engine (bounded by
    ``ModemEngine.OUTPUT_LIMIT``), which stops the far end: nothing is lost.
``modem.set_dtr(on)``, ``set_rts(on)``, ``set_dte_rate(bps)``
    Client line state (DTR drop handled per &D; RTS is flow control under &K3).
``modem.release_listeners``
    Callables run (soon, on the loop thread) after a `detach()` leaves the modem free:
    a transport whose client came while another transport had the modem (a pty
    opened during an RFC 2217 session) takes it over then.
``modem.removal_listeners``
    Callables run once, on the loop thread, when the modem is removed from the host
    (`remove_modem`, `close`): ``vmodem://`` ends its port's pipe there, so its user
    (the TAPI modem provider among them) learns that the port is gone.
``modem.signals`` (`emulator.core.engine.Signals`: dcd, ri, dsr, cts) and ``modem.dtr``
    Current state. Changes reach ``port.signals_changed(signals)`` and every callback
    registered with ``modem.watch_signals(cb)`` (returns a function that unregisters).

`ModemPort` callbacks are called on the loop thread from a service pass, never from
inside an engine call, so they may call `feed`, `read` and the setters freely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from emulator.core.engine import ModemEngine, Signals
from emulator.core.profile import DEFAULT_PROFILE, Profile, load_profile
from emulator.core.tracerecord import TraceSink
from emulator.network.exchange import Exchange, ExchangeLine
from linelab.clock import Clock, LoopClock

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a thread-safe call waits for the loop thread before giving up (a deadline,
# not a delay: a healthy loop answers in microseconds).
CALL_TIMEOUT = 10.0

# Most service passes run back to back in one loop callback (ModemHost._service).
MAX_PASSES = 8


class ModemPort(Protocol):
    """What a transport attaches to a `HostedModem` (all called on the loop thread)."""

    def output_ready(self) -> None:
        """The modem has output: pull it with `HostedModem.read()` when you can write."""

    def room_available(self) -> None:
        """`dte_room()` is above zero again after a short `feed()` or a zero room."""

    def signals_changed(self, signals: Signals) -> None:
        """DCD, RI, DSR or CTS changed."""


class _Timer:
    """One loop timer following a component's `next_deadline()`."""

    __slots__ = ("deadline", "handle")

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.handle = None
        self.deadline = None


class HostedModem:
    """One engine on the host, as a transport sees it (see the module docstring)."""

    def __init__(self, host: ModemHost, engine: ModemEngine, line: ExchangeLine) -> None:
        self.host = host
        self.engine = engine
        self.line = line
        self.name = engine.name
        self.number = line.number
        self.discarded = 0  # output bytes dropped while no port was attached
        self._port: ModemPort | None = None
        self._watchers: list[Callable[[Signals], None]] = []
        self._published = engine.signals
        self._wants_room = False
        self._timer = _Timer()
        self._closed = False
        # Called (on the loop thread) when `detach()` leaves the modem free, so a
        # transport whose client arrived while another transport had the modem can
        # take it over then.
        self.release_listeners: list[Callable[[], None]] = []
        # Called (on the loop thread, once) when the modem is removed from its host
        # (`remove_modem`, `close`): a transport whose client outlives the modem tells
        # it so (vmodem:// ends its pipe; the TAPI provider then sees the port gone).
        self.removal_listeners: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<HostedModem {self.name} number={self.number} state={self.engine.state}>"

    # -- transport side ----------------------------------------------------------------

    @property
    def port(self) -> ModemPort | None:
        """The attached transport, if any."""
        return self._port

    @property
    def closed(self) -> bool:
        """True once the modem was removed from its host."""
        return self._closed

    def attach(self, port: ModemPort) -> None:
        """Connect a transport. Raises RuntimeError if another one is attached."""
        if self._closed:
            raise RuntimeError(f"modem {self.name} was removed")
        if self._port is not None and self._port is not port:
            raise RuntimeError(f"modem {self.name} already has a transport attached")
        if self._port is None:
            self._discard()  # produced for nobody: stale for this client
        self._port = port
        self.host.touch(self)

    def detach(self) -> None:
        """Disconnect the transport: DTR drops and output is discarded until the next
        `attach()`."""
        self._port = None
        self._wants_room = False
        if not self._closed:
            self._discard()
            self.engine.set_dtr(False)
            self._discard()
            self.host.touch(self)
            for listener in list(self.release_listeners):
                self.host.loop.call_soon(listener)

    def _discard(self) -> None:
        self.discarded += len(self.engine.read_dte())

    def feed(self, data: bytes) -> int:
        """Give DTE bytes to the modem; returns how many it took (at most `dte_room()`)."""
        room = self.engine.dte_room()
        taken = data if len(data) <= room else data[:room]
        if len(taken) < len(data):
            self._want_room()
        if taken:
            self.engine.receive_dte(taken)
        return len(taken)

    def dte_room(self) -> int:
        """How many bytes `feed()` takes now. Zero arms `port.room_available()`."""
        room = self.engine.dte_room()
        if room <= 0:
            self._want_room()
        return room

    def _want_room(self) -> None:
        self._wants_room = True
        self.host._room_waiters[self] = None

    def read(self, max_bytes: int = -1) -> bytes:
        """Pull up to `max_bytes` (all if negative) of the modem's output for the client."""
        data = self.engine.read_dte(max_bytes)
        if data and self.host._room_waiters:
            # Draining our buffer frees room for whoever is sending to us (a pass
            # visits every modem waiting for room, wherever it is). With nobody
            # waiting, a read needs no pass: one AT costs one pass, not two.
            self.host._request()
        return data

    def pending(self) -> int:
        """Output bytes waiting for `read()`."""
        return self.engine.dte_pending()

    def set_dtr(self, on: bool) -> None:
        if on != self.engine.dtr:
            self.engine.set_dtr(on)

    def set_rts(self, on: bool) -> None:
        self.engine.set_rts(on)

    def set_dte_rate(self, bps: int) -> None:
        self.engine.set_dte_rate(bps)

    @property
    def dtr(self) -> bool:
        return self.engine.dtr

    @property
    def signals(self) -> Signals:
        return self.engine.signals

    def watch_signals(self, callback: Callable[[Signals], None]) -> Callable[[], None]:
        """Call `callback(signals)` on every signal change; returns the unsubscriber."""
        self._watchers.append(callback)

        def unwatch() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return unwatch

    # -- host side ---------------------------------------------------------------------

    def _service(self) -> None:
        engine = self.engine
        if engine.dte_pending():
            if self._port is not None:
                self._port.output_ready()
            else:
                self._discard()
        signals = engine.signals
        if signals is not self._published:  # one Signals instance per value
            self._published = signals
            if self._port is not None:
                self._port.signals_changed(signals)
            for watcher in list(self._watchers):
                watcher(signals)
        if self._wants_room and self._port is not None and engine.dte_room() > 0:
            self._wants_room = False
            self._port.room_available()
        self.host._arm(self._timer, engine.next_deadline(), engine.tick, self)


class ModemHost:
    """Modems and one exchange on one asyncio loop (see the module docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        time_scale: float = 1.0,
        trace: TraceSink | None = None,
    ) -> None:
        """`loop` defaults to the running loop; `trace` goes to every engine and the
        exchange."""
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.time_scale = time_scale
        self.clock: Clock = LoopClock(self.loop, time_scale)
        self.trace = trace
        self.exchange = Exchange(self.clock, trace=trace)
        self.modems: dict[str, HostedModem] = {}
        self._service_handle: asyncio.Handle | None = None
        self._in_pass = False  # a pass is running: requests set _again instead
        self._held = False  # a transport's I/O callback runs: the same, see hold()
        self.holder: object = None  # the port whose I/O callback holds the passes
        self._again = False
        # What the next pass visits: every modem (`schedule_service`), or only those
        # touched since the last pass plus those waiting for room, so a pass costs what
        # changed, not the number of modems (1000 links start in linear time).
        self._all_due = False
        self._due: dict[HostedModem, None] = {}
        self._room_waiters: dict[HostedModem, None] = {}
        self._exchange_timer = _Timer()
        self._thread: threading.Thread | None = None
        self._closed = False
        # The exchange's deadline is looked at in a pass only after it said it may have
        # changed (its listener, or its timer firing).
        self._exchange_changed = True
        self.exchange.set_listener(self._on_exchange)

    # -- building ----------------------------------------------------------------------

    @classmethod
    def start_in_thread(
        cls, *, time_scale: float = 1.0, trace: TraceSink | None = None, name: str = "linelab-host"
    ) -> ModemHost:
        """A host whose new event loop runs forever in a daemon service thread."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
            loop.close()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        if not started.wait(CALL_TIMEOUT):
            raise RuntimeError("the emulator loop thread did not start")
        host = cls.call_on(loop, lambda: cls(loop, time_scale=time_scale, trace=trace))
        host._thread = thread
        return host

    def add_modem(
        self, name: str, number: str | None = None, profile: str | Profile = DEFAULT_PROFILE
    ) -> HostedModem:
        """Create a modem, plug it into the exchange (number None: next free from 1001).
        Thread-safe. Raises LinelabError for an unknown profile, ValueError for a name
        already in use."""
        return self.call(self._add_modem, name, number, profile)

    def remove_modem(self, name: str) -> None:
        """Unplug and forget a modem (its transport should have detached). Thread-safe."""
        self.call(self._remove_modem, name)

    def close(self) -> None:
        """Remove every modem; stop the service thread if this host owns one.
        Thread-safe and idempotent."""
        if self._closed:
            return
        self.call(self._close)
        thread, self._thread = self._thread, None
        if thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if thread is not threading.current_thread():
                thread.join(CALL_TIMEOUT)

    @property
    def closed(self) -> bool:
        """True once `close()` has run."""
        return self._closed

    def modem(self, name: str) -> HostedModem:
        """The modem called `name` (KeyError if none)."""
        return self.modems[name]

    # -- thread hopping ----------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the loop thread and return its result. Thread-safe."""
        return self.call_on(self.loop, fn, *args)

    @staticmethod
    def call_on(loop: asyncio.AbstractEventLoop, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on `loop`'s thread: directly when we are on it or it is not
        running, else through ``call_soon_threadsafe`` (waiting at most CALL_TIMEOUT)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(CALL_TIMEOUT)

    # -- loop work ---------------------------------------------------------------------

    def schedule_service(self) -> None:
        """Ask for one service pass over every modem soon (coalesced; safe to call
        re-entrantly)."""
        self._all_due = True
        self._request()

    def touch(self, modem: HostedModem) -> None:
        """Ask for a service pass soon that visits `modem` (coalesced)."""
        self._due[modem] = None
        self._request()

    def _request(self) -> None:
        if self._in_pass or self._held:
            # The running pass loops once more, or the transport's run_pending() runs
            # it: either way no loop handle is made.
            self._again = True
        elif self._service_handle is None and not self._closed:
            self._service_handle = self.loop.call_soon(self._service)

    def _on_exchange(self) -> None:
        self._exchange_changed = True
        self._request()

    def hold(self, holder: object = None) -> None:
        """A transport's I/O callback starts (loop thread only): passes asked for from
        now on wait for its `run_pending()`, which it must call (in a ``finally``).
        `holder` (the port) is `self.holder` until then: a port called from a pass run
        in another port's callback can tell (the pty port then writes in a callback of
        its own, after its own events of that loop iteration)."""
        self._held = True
        self.holder = holder

    def run_held(self, holder: object, callback: Callable[[], None]) -> None:
        """Run a transport's I/O callback between `hold(holder)` and `run_pending()`:
        what it causes is written before it returns (loop thread only)."""
        self.hold(holder)
        try:
            callback()
        finally:
            self.run_pending()

    def run_pending(self) -> None:
        """Run the service pass now if one is due (loop thread only; ends a `hold()`).

        A transport calls this at the end of its I/O callback, so an AT reply, or data
        that crossed the exchange to the other modem, is written in the same loop
        iteration as the read that caused it. A no-op inside a pass."""
        self._held = False
        if self._in_pass:
            return
        try:
            handle, self._service_handle = self._service_handle, None
            if handle is not None:
                handle.cancel()
            if (handle is not None or self._again) and not self._closed:
                self._service()
        finally:
            self.holder = None

    def _service(self) -> None:
        # Passes run back to back while a pass leaves work due now (the exchange
        # delivering what one modem sent, the other modem's new output), at most
        # MAX_PASSES in one callback; the rest waits for the next loop iteration.
        self._service_handle = None
        self._in_pass = True
        try:
            for _ in range(MAX_PASSES):
                self._again = False
                self._pass()
                if not self._again:
                    break
        finally:
            self._in_pass = False
            if self._again:
                self._again = False
                self._request()

    def _pass(self) -> None:
        if self._all_due:
            self._all_due = False
            self._due.clear()
            modems = list(self.modems.values())
        else:
            due, self._due = self._due, {}
            for waiter in self._room_waiters:
                due[waiter] = None
            modems = list(due)
        for modem in modems:
            if not modem._closed:
                modem._service()
        if self._room_waiters:
            for modem in [m for m in self._room_waiters if m._closed or not m._wants_room]:
                del self._room_waiters[modem]
        if not self._exchange_changed:
            return  # its deadline is what the timer (if any) already follows
        self._exchange_changed = False
        deadline = self.exchange.next_deadline()
        if deadline is not None and deadline <= self.clock.now():
            # Due already (data or an event posted during this pass): deliver it now
            # rather than through a loop timer; the tick asks for the next pass.
            self._exchange_timer.cancel()
            self.exchange.tick()
        else:
            self._arm(self._exchange_timer, deadline, self.exchange.tick)

    def _loop_time(self, deadline: float) -> float:
        """The loop time at which the clock reads at least `deadline`."""
        scale = self.time_scale
        if scale == 1.0:
            return deadline
        when = deadline / scale
        # Rounding must never fire a timer a hair early: tick() would find nothing due
        # and, on a virtual-time loop, the timer would re-arm at the same instant forever.
        while when * scale < deadline:
            when = math.nextafter(when, math.inf)
        return when

    def _arm(
        self,
        timer: _Timer,
        deadline: float | None,
        tick: Callable[[], None],
        modem: HostedModem | None = None,
    ) -> None:
        if deadline == timer.deadline and (deadline is None or timer.handle is not None):
            return
        timer.cancel()
        if deadline is None or self._closed:
            return
        timer.deadline = deadline

        def fire() -> None:
            timer.handle = None
            timer.deadline = None
            tick()
            if modem is None:
                self._on_exchange()  # the exchange: its pass re-arms its timer
            else:
                self.touch(modem)

        timer.handle = self.loop.call_at(self._loop_time(deadline), fire)

    def _add_modem(self, name: str, number: str | None, profile: str | Profile) -> HostedModem:
        if self._closed:
            raise RuntimeError("the modem host is closed")
        if name in self.modems:
            raise ValueError(f"a modem called {name!r} already exists")
        if not isinstance(profile, Profile):
            profile = load_profile(profile)
        engine = ModemEngine(profile, self.clock, name=name, trace=self.trace)
        line = self.exchange.attach(engine, number, name=name)
        modem = HostedModem(self, engine, line)
        self.modems[name] = modem
        engine.set_listener(lambda: self.touch(modem))
        self.touch(modem)
        return modem

    def _remove_modem(self, name: str) -> None:
        modem = self.modems.pop(name)
        modem._port = None
        modem._closed = True
        modem._timer.cancel()
        modem.engine.set_listener(None)
        self.exchange.detach(modem.line)
        self.schedule_service()
        listeners, modem.removal_listeners = modem.removal_listeners, []
        for listener in listeners:
            listener()

    def _close(self) -> None:
        for name in list(self.modems):
            self._remove_modem(name)
        self._closed = True
        self._exchange_timer.cancel()
        self.exchange.set_listener(None)
        if self._service_handle is not None:
            self._service_handle.cancel()
            self._service_handle = None


__all__ = ["HostedModem", "ModemHost", "ModemPort"]
