"""The virtual telephone exchange: numbers, calls between them, scripted far ends.

Every modem (or scripted far end) is a `LinePeer` attached to a numbered line. A line
asks the exchange to dial, answer, hang up, send data or drop carrier; the exchange
answers with `emulator.network.subscriberline` events. Events are never delivered from inside the
request that caused them: they are queued (in order) and delivered by `tick()`, which
a driver calls once `next_deadline()` has passed (the queue makes that "now"). That
keeps every peer free of re-entrant calls, and keeps data in order with the hang-up
that follows it.

Routing: a dialled number that is attached rings that line (IncomingCall with the
caller's number, and name if set, stamped with the exchange's wall-clock time); a busy
line (in a call, dialling, or a scripted end that says busy) gives Busy; an unassigned
number gives Unobtainable with the tone the exchange is set to play (`set_unassigned`):
reorder by default, as real networks answer an unassigned number with a reorder (fast
busy) or intercept tone, which a modem reports as BUSY; or silence, after which the
modem gives up at S7. Answering connects both ends at the highest rate both
support, capped by a scripted end's `rate=`. "No dial tone" is a property of the
calling line (`set_dialtone`): a dial from such a line goes nowhere.

The exchange has its own wall clock (`set_datetime`), which advances with the injected
clock, so that caller ID DATE/TIME are exact in tests.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.core.tracerecord import TraceRecord, TraceSink
from emulator.network.callerid import check_caller
from emulator.network.farend import Behaviour, ScriptedEnd, as_behaviour, validate_for_caller
from emulator.network.subscriberline import (
    UNASSIGNED_TONES,
    Busy,
    CallerGone,
    CallerId,
    CarrierLost,
    Connected,
    Data,
    IncomingCall,
    LineEvent,
    LinePeer,
    RemoteHangup,
    Ringback,
    Unobtainable,
)
from linelab.clock import Clock
from linelab.errors import LinelabError

# Rates a line supports when its peer states none (scripted ends): V.21 to V.90 down.
ALL_RATES: tuple[int, ...] = (
    300, 600, 1200, 2400, 4800, 7200, 9600, 12000, 14400, 16800, 19200, 21600, 24000,
    26400, 28800, 31200, 33600, 38400, 57600, 115200,
)  # fmt: skip
FIRST_NUMBER = 1001
# One ring cycle at the called end (2 s on, 4 s off): how often the caller hears ringback.
RINGBACK_PERIOD = 6.0
#: How many calls placed with `Exchange.place_call` are remembered after they end.
PLACED_CALLS_KEPT = 100


class PlacedCall:
    """A call the exchange places to a modem for a scripted caller (`place_call`): its
    progress, and how it ended, for `linelab call` and tests.

    `state` goes ``dialing`` -> ``ringing`` -> ``answered`` -> ``ended`` (or straight to
    ``ended``). `outcome`, once ended, is one of `PlacedCall.OUTCOMES`. The caller gives
    up after `ring_limit` rings unanswered (outcome ``no answer``), and hangs up after
    `timeout` seconds whatever the state (``timed out``); `cancel()` hangs up at once
    (``cancelled``). Listeners run (on the exchange's thread) after every change.
    """

    OUTCOMES = (
        "busy",
        "unobtainable",
        "no answer",
        "modem hung up",
        "caller hung up",
        "carrier lost",
        "cancelled",
        "timed out",
    )

    def __init__(
        self,
        call_id: int,
        to: str,
        end: ScriptedEnd,
        now: float,
        *,
        ring_limit: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.id = call_id
        self.to = to
        self.end = end
        self.started = now
        self.ring_limit = ring_limit
        self.deadline = None if timeout is None else now + timeout
        self.line: ExchangeLine | None = None
        self.state = "dialing"
        self.outcome: str | None = None
        self.rings = 0
        self.rate: int | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self._give_up: str | None = None  # an outcome to end with at the next tick
        # When the give-up was asked for: it is due then, never at a fresh clock reading
        # (on real time that is always later than the `now` tick() compares with).
        self._give_up_at = now
        self._listeners: list[Callable[[PlacedCall], None]] = []

    def __repr__(self) -> str:
        return f"PlacedCall({self.id}, to={self.to!r}, state={self.state!r})"

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    def add_listener(self, callback: Callable[[PlacedCall], None]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[PlacedCall], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    def cancel(self) -> None:
        """Hang up now (a no-op once ended): the call has ended when this returns.
        Call it from the exchange's thread, outside event delivery."""
        if not self.ended and self.line is not None:
            self._finish("cancelled")
            self.line.exchange._hangup(self.line)
            self._changed()

    def status(self) -> dict[str, object]:
        """A JSON-able summary (the control socket's answer)."""
        return {
            "call": self.id,
            "to": self.to,
            "state": self.state,
            "outcome": self.outcome,
            "rings": self.rings,
            "rate": self.rate,
            "duration": None
            if self.answered_at is None
            else round((self.ended_at or self.answered_at) - self.answered_at, 3),
        }

    # -- LinePeer: the caller's line ---------------------------------------------------------
    def line_event(self, event: LineEvent) -> None:
        self.end.line_event(event)
        if self.ended:
            return
        if isinstance(event, Ringback):
            self.rings += 1
            self.state = "ringing"
            if self.ring_limit is not None and self.rings > self.ring_limit:
                self.rings = self.ring_limit
                self._give_up = "no answer"
                self._give_up_at = self.end.clock.now()
        elif isinstance(event, Busy):
            self._finish("busy")
        elif isinstance(event, Unobtainable):
            self._finish("unobtainable")
        elif isinstance(event, Connected):
            self.state = "answered"
            self.rate = event.rate
            self.answered_at = self.end.clock.now()
        elif isinstance(event, RemoteHangup):
            self._finish("modem hung up")
        elif isinstance(event, CarrierLost):
            self._finish("carrier lost")
        self._changed()

    def rx_room(self) -> int:
        return self.end.rx_room()

    # -- driven by the exchange ----------------------------------------------------------------
    def next_deadline(self) -> float | None:
        if self.ended:
            return None
        if self._give_up is not None:
            return self._give_up_at
        return self.deadline

    def tick(self, now: float) -> None:
        if self.ended:
            return
        if self._give_up is None and self.deadline is not None and self.deadline <= now:
            self._give_up = "timed out"
        if self._give_up is not None and self.line is not None:
            outcome, self._give_up = self._give_up, None
            self._finish(outcome)
            self.line.exchange._hangup(self.line)
            self._changed()

    def ended_by_caller(self, how: str) -> None:
        """The script hung up (``caller hung up``) or dropped carrier (``carrier lost``)."""
        if not self.ended:
            self._finish(how)
            self._changed()

    def _finish(self, outcome: str) -> None:
        self.state = "ended"
        self.outcome = outcome
        self.ended_at = self.end.clock.now()

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback(self)


@dataclass(eq=False)
class _Call:
    caller: ExchangeLine
    callee: ExchangeLine
    caller_id: CallerId
    connected: bool = False
    next_ringback: float | None = None

    def other(self, line: ExchangeLine) -> ExchangeLine:
        return self.callee if line is self.caller else self.caller


@dataclass(eq=False)
class ExchangeLine:
    """One line on the exchange (implements `emulator.network.subscriberline.Line`)."""

    exchange: Exchange
    number: str
    peer: LinePeer
    name: str | None
    rates: tuple[int, ...]
    rate_cap: int | None = None
    dialtone: bool = True
    routable: bool = True
    offhook: bool = False  # dialled (or ATH1) and not yet hung up: busy to callers
    attached: bool = True
    call: _Call | None = field(default=None, repr=False)
    inflight: int = 0  # data bytes queued for this line, not yet delivered

    def has_dialtone(self) -> bool:
        """False when this line is set to have no dial tone."""
        return self.dialtone

    def dial(self, digits: str) -> None:
        """Place a call; the outcome arrives as events."""
        self.exchange._dial(self, digits, CallerId(number=self.number, name=self.name))

    def answer(self) -> None:
        """Answer the call ringing this line."""
        self.exchange._answer(self)

    def hangup(self) -> None:
        """Go on hook, ending or abandoning any call on this line."""
        self.exchange._hangup(self)

    def off_hook(self) -> None:
        """Go off hook without dialling (ATH1, or a modem ignoring carrier loss): the
        line is busy to callers until `hangup()`."""
        self.exchange._off_hook(self)

    def send(self, data: bytes) -> None:
        """Send data to the far end of the connected call."""
        self.exchange._send(self, data)

    def send_room(self) -> int:
        """Free space at the far end for data (0 without a connected call)."""
        call = self.call
        if call is None or not call.connected:
            return 0
        other = call.other(self)
        return max(0, other.peer.rx_room() - other.inflight)

    def reject(self) -> None:
        """Refuse the call ringing this line (a TCP end that could not connect): the
        caller hears the far end hang up (a modem reports NO CARRIER)."""
        self.exchange._reject(self)

    def drop_carrier(self) -> None:
        """Lose carrier mid-call: both ends get CarrierLost."""
        self.exchange._drop(self)


class Exchange:
    """The virtual telephone network for the modems and far ends of one process."""

    def __init__(
        self, clock: Clock, *, trace: TraceSink | None = None, unassigned: str = "reorder"
    ) -> None:
        self.clock = clock
        self._trace = trace
        self._unassigned = "reorder"
        self.set_unassigned(unassigned)
        self._lines: dict[str, ExchangeLine] = {}
        self._far: dict[str, ScriptedEnd] = {}
        self._placed: list[tuple[ExchangeLine, ScriptedEnd]] = []
        self._placed_calls: dict[int, PlacedCall] = {}
        self._calls: list[_Call] = []
        self._queue: list[tuple[float, int, ExchangeLine, LineEvent]] = []
        self._seq = itertools.count()
        self._listener: Callable[[], None] | None = None
        self._placed_seq = itertools.count(1)
        self._dt_base = _dt.datetime.now().replace(second=0, microsecond=0)
        self._dt_at = clock.now()

    # -- lines ---------------------------------------------------------------------------

    def attach(
        self,
        peer: LinePeer,
        number: str | None = None,
        *,
        name: str | None = None,
        rates: tuple[int, ...] = (),
    ) -> ExchangeLine:
        """Plug `peer` into a line. `number` None takes the next free one from 1001.
        `rates` are the line rates the peer supports (default: its profile's, or all).
        Sets `peer.line` when the peer has that attribute (modem engines)."""
        if name is not None:
            check_caller(CallerId(name=name))
        if number is None:
            number = self._free_number()
        elif number in self._lines:
            raise LinelabError(f"number {number} is already attached")
        if not rates:
            profile = getattr(peer, "profile", None)
            rates = tuple(getattr(profile, "rates", ())) or ALL_RATES
        line = ExchangeLine(self, number, peer, name, rates)
        self._lines[number] = line
        if hasattr(peer, "line"):
            setattr(peer, "line", line)  # noqa: B010 - LinePeer does not declare it
        self._record(number, f"attach {number}" + (f" ({name})" if name else ""))
        return line

    def detach(self, line: ExchangeLine) -> None:
        """Unplug a line (its call, if any, ends as if it hung up)."""
        self._hangup(line)
        if line.call is not None:
            self._end(line.call)  # a ringing callee unplugged: the caller hears nothing more
        line.attached = False
        if self._lines.get(line.number) is line:
            del self._lines[line.number]
        self._far.pop(line.number, None)
        self._record(line.number, f"detach {line.number}")

    def numbers(self) -> list[str]:
        """Attached numbers, sorted."""
        return sorted(self._lines)

    def line(self, number: str) -> ExchangeLine:
        """The line of an attached number (LinelabError if none)."""
        try:
            return self._lines[number]
        except KeyError:
            raise LinelabError(f"no line with number {number}") from None

    def set_dialtone(self, number: str, present: bool) -> None:
        """Give or take away the dial tone of a (calling) line."""
        self.line(number).dialtone = present
        self._record(number, f"dialtone {number} {'on' if present else 'off'}")

    def set_unassigned(self, tone: str) -> None:
        """What a caller of an unassigned number hears: ``reorder`` (the default; the
        modem says BUSY, or NO CARRIER below X3) or ``silence`` (NO CARRIER at S7)."""
        if tone not in UNASSIGNED_TONES:
            raise LinelabError(
                f"unassigned-number tone must be one of {', '.join(UNASSIGNED_TONES)}, "
                f"not {tone!r}"
            )
        self._unassigned = tone

    @property
    def unassigned(self) -> str:
        return self._unassigned

    def set_far(self, number: str, behaviour: str | Behaviour) -> ScriptedEnd:
        """Make `number` a scripted far end (replacing an earlier script there).
        Raises BehaviourError for a bad behaviour string."""
        parsed = as_behaviour(behaviour)
        existing = self._lines.get(number)
        if existing is not None:
            if number not in self._far:
                raise LinelabError(f"number {number} is a modem, not a scripted far end")
            self.detach(existing)
        end = ScriptedEnd(parsed, self.clock)
        line = self.attach(end, number, rates=ALL_RATES)
        line.rate_cap = parsed.rate
        end.bind(line)
        end.set_listener(self._notify)
        self._far[number] = end
        self._record(number, f"far {number}: {parsed}")
        self._notify()
        return end

    def place_call(
        self,
        to: str,
        caller: CallerId,
        then: str | Behaviour | None = None,
        *,
        ring_limit: int | None = None,
        timeout: float | None = None,
    ) -> PlacedCall:
        """Call `to` from a scripted far end that presents `caller` as caller ID and,
        once the modem answers, behaves as `then` (default: "answer", discarding data).
        The caller gives up after `ring_limit` unanswered rings and hangs up after
        `timeout` seconds (neither by default). Returns the call's `PlacedCall`."""
        check_caller(caller)
        if ring_limit is not None and ring_limit < 1:
            raise LinelabError(f"ring limit must be at least 1, not {ring_limit}")
        if timeout is not None and not 0 < timeout < float("inf"):
            raise LinelabError(f"time-out must be a positive number of seconds, not {timeout}")
        parsed = validate_for_caller(then if then is not None else "answer")
        end = ScriptedEnd(parsed, self.clock)
        call_id = next(self._placed_seq)
        placed = PlacedCall(
            call_id, to, end, self.clock.now(), ring_limit=ring_limit, timeout=timeout
        )
        number = caller.number or f"placed-{call_id}"
        line = ExchangeLine(
            self, number, placed, caller.name, ALL_RATES, parsed.rate, routable=False
        )
        placed.line = line
        end.bind(line)
        end.set_listener(self._notify)
        self._placed.append((line, end))
        self._placed_calls[call_id] = placed
        for old in [c for c in self._placed_calls.values() if c.ended]:
            if len(self._placed_calls) <= PLACED_CALLS_KEPT:
                break
            del self._placed_calls[old.id]
        self._dial(line, to, caller)
        return placed

    def call_from(self, peer: LinePeer, to: str, caller: CallerId) -> ExchangeLine:
        """Call `to` from `peer`, a line with no number of its own (an incoming TCP
        connection): the modem rings with `caller`; the events go to `peer`. Returns the
        line, on which `peer` sends data and hangs up."""
        check_caller(caller)
        number = caller.number or f"placed-{next(self._placed_seq)}"
        line = ExchangeLine(self, number, peer, caller.name, ALL_RATES, routable=False)
        self._dial(line, to, caller)
        return line

    def placed_call(self, call_id: int) -> PlacedCall | None:
        """A call placed with `place_call` (recent ones are kept after they end)."""
        return self._placed_calls.get(call_id)

    def placed_calls(self) -> list[PlacedCall]:
        return list(self._placed_calls.values())

    # -- wall clock ------------------------------------------------------------------------

    def set_datetime(self, when: _dt.datetime) -> None:
        """Set the exchange's wall-clock time (caller ID DATE and TIME)."""
        self._dt_base, self._dt_at = when, self.clock.now()

    def datetime(self) -> _dt.datetime:
        """The exchange's wall-clock time; it advances with the injected clock."""
        return self._dt_base + _dt.timedelta(seconds=self.clock.now() - self._dt_at)

    # -- driving -----------------------------------------------------------------------------

    def set_listener(self, callback: Callable[[], None] | None) -> None:
        """Called whenever next_deadline() may have changed (only schedule work in it)."""
        self._listener = callback

    def next_deadline(self) -> float | None:
        """When `tick()` next has work (queued events are due at once)."""
        # Asked after every data chunk: no lists, nothing built.
        best = self._queue[0][0] if self._queue else None
        for call in self._calls:
            when = call.next_ringback
            if when is not None and (best is None or when < best):
                best = when
        if self._far or self._placed:
            for end in self._ends():
                when = end.next_deadline()
                if when is not None and (best is None or when < best):
                    best = when
        for placed in self._placed_calls.values():
            when = placed.next_deadline()
            if when is not None and (best is None or when < best):
                best = when
        return best

    def tick(self) -> None:
        """Deliver queued events and run far-end and ringback timers due now."""
        now = self.clock.now()
        for call in list(self._calls):
            if call.next_ringback is not None and call.next_ringback <= now:
                call.next_ringback = now + RINGBACK_PERIOD
                self._post(call.caller, Ringback())
        for end in self._ends() if self._far or self._placed else ():
            deadline = end.next_deadline()
            if deadline is not None and deadline <= now:
                end.tick()
        for placed in list(self._placed_calls.values()) if self._placed_calls else ():
            deadline = placed.next_deadline()
            if deadline is not None and deadline <= now:
                placed.tick(now)
        while self._queue and self._queue[0][0] <= now:
            _, _, line, event = heapq.heappop(self._queue)
            if isinstance(event, Data):
                line.inflight -= len(event.data)
            if line.attached:
                line.peer.line_event(event)
        self._notify()

    # -- requests from lines -----------------------------------------------------------------

    def _dial(self, line: ExchangeLine, digits: str, caller: CallerId) -> None:
        if line.call is not None:
            self._hangup(line)
        line.offhook = True
        self._record(line.number, f"dial {line.number} -> {digits}")
        if not line.dialtone:
            return  # nothing happens on a dead line; the modem times out
        target = self._lines.get(digits)
        if target is None or not target.routable:
            self._record(line.number, f"unobtainable {digits} ({self._unassigned})")
            self._post(line, Unobtainable(self._unassigned))
            return
        far = self._far.get(digits)
        busy = target.call is not None or target.offhook
        if target is line or busy or (far is not None and far.is_busy()):
            self._record(line.number, f"busy {digits}")
            self._post(line, Busy())
            return
        call = _Call(line, target, caller, next_ringback=self.clock.now() + RINGBACK_PERIOD)
        line.call = target.call = call
        self._calls.append(call)
        self._post(target, IncomingCall(caller, when=self.datetime()))
        self._post(line, Ringback())

    def _answer(self, line: ExchangeLine) -> None:
        call = line.call
        if call is None or call.connected or call.callee is not line:
            return
        call.connected = True
        call.next_ringback = None
        rate = _negotiate(call.caller, call.callee)
        self._record(line.number, f"connect {call.caller.number} <-> {line.number} at {rate}")
        self._post(call.callee, Connected(rate))
        self._post(call.caller, Connected(rate))

    def _off_hook(self, line: ExchangeLine) -> None:
        if not line.offhook:
            line.offhook = True
            self._record(line.number, f"off hook {line.number}")

    def _hangup(self, line: ExchangeLine) -> None:
        line.offhook = False
        if isinstance(line.peer, PlacedCall):
            line.peer.ended_by_caller("caller hung up")
            if line.call is None:  # busy or unobtainable: nothing more to hang up
                self._placed = [(ln, end) for ln, end in self._placed if ln is not line]
        call = line.call
        if call is None:
            return
        other = call.other(line)
        if call.connected:
            self._record(line.number, f"hangup {line.number}")
            self._post(other, RemoteHangup())
        elif line is call.caller:
            self._record(line.number, f"abandon {line.number}")
            self._post(other, CallerGone())
        else:
            return  # the called line going on hook while ringing does not stop the ring
        self._end(call)

    def _reject(self, line: ExchangeLine) -> None:
        call = line.call
        if call is None or call.connected or call.callee is not line:
            return
        self._record(line.number, f"reject {call.caller.number} -> {line.number}")
        self._post(call.caller, RemoteHangup())
        self._end(call)

    def _drop(self, line: ExchangeLine) -> None:
        call = line.call
        if call is None or not call.connected:
            return
        if isinstance(line.peer, PlacedCall):
            line.peer.ended_by_caller("carrier lost")
        self._record(line.number, f"carrier lost {call.caller.number} <-> {call.callee.number}")
        self._post(call.caller, CarrierLost())
        self._post(call.callee, CarrierLost())
        self._end(call)

    def _send(self, line: ExchangeLine, data: bytes) -> None:
        call = line.call
        if call is None or not call.connected or not data:
            return
        other = call.other(line)
        other.inflight += len(data)
        self._post(other, Data(bytes(data)))

    # -- helpers -----------------------------------------------------------------------------

    def _end(self, call: _Call) -> None:
        call.caller.call = None
        call.callee.call = None
        if call in self._calls:
            self._calls.remove(call)
        self._placed = [(ln, end) for ln, end in self._placed if ln is not call.caller]

    def _post(self, line: ExchangeLine, event: LineEvent) -> None:
        heapq.heappush(self._queue, (self.clock.now(), next(self._seq), line, event))
        self._notify()

    def _ends(self) -> list[ScriptedEnd]:
        return [*self._far.values(), *(end for _, end in self._placed)]

    def _free_number(self) -> str:
        n = FIRST_NUMBER
        while str(n) in self._lines:
            n += 1
        return str(n)

    def _notify(self) -> None:
        if self._listener is not None:
            self._listener()

    def _record(self, who: str, text: str) -> None:
        if self._trace is not None:
            self._trace(TraceRecord(self.clock.now(), who, "exchange", text))


def _negotiate(a: ExchangeLine, b: ExchangeLine) -> int:
    """The highest rate both ends support, within any far-end cap."""
    caps = [c for c in (a.rate_cap, b.rate_cap) if c is not None]
    cap = min(caps) if caps else None
    common = sorted(set(a.rates) & set(b.rates))
    usable = [r for r in common if cap is None or r <= cap]
    if usable:
        return usable[-1]
    return common[0] if common else min(a.rates)
