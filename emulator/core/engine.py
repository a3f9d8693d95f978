"""The virtual modem: a sans-I/O Hayes/V.250 engine.

How it works
============

`ModemEngine` is a pure state machine in the h11 style. It never reads a file
descriptor and never sleeps. Everything that happens to a modem arrives as a method
call, and everything the modem does is either a byte queued for the DTE, a change of
its line signals, a request on its `Line` to the exchange, or a new deadline:

    DTE bytes ──receive_dte()──▶ ┌─────────────┐ ──read_dte()──▶ bytes for the DTE
    DTR/RTS   ──set_dtr/rts()──▶ │ ModemEngine │ ──signals────▶ DCD RI DSR CTS
    exchange  ──line_event()───▶ │             │ ──line.dial/answer/hangup/send──▶
    the clock ──tick()─────────▶ └─────────────┘ ──next_deadline()──▶ driver's timer

The driver (the `Sim` harness on virtual time, or an asyncio host behind a pty) calls
`tick()` when `next_deadline()` has passed and is told about new output through the
listener callback. Time is read only from the injected clock, so the same engine runs
minutes of ringing in microseconds under `ManualClock`.

Which *state* the modem is in (command, dialing, ringing, answering, online,
online_command, carrier_lost) is declared as a table in `emulator.core.states` (states are
`ModemState` members); this module only fires triggers. Each timer (`TimerName`) runs
the action `_timer_actions` names for it. Per-byte work is plain code, chosen by the
current state:

- In command-like states (command, ringing, online_command) each byte goes through
  `LineAssembler` (finds "AT", handles S5 editing and "A/"); a finished line is split
  into commands by `split_commands` and run by `_run_line`, which stops at the first
  failing command. Information text is framed by `emulator.core.results` as each command
  produces it; the single final result (OK or ERROR) comes last. ATD, ATA and ATO
  defer their final result to the call's outcome.
- While dialing or answering, any byte from the DTE aborts the call (NO CARRIER), as
  real modems do; only a single LF right after the command line's CR is forgiven.
- Online, bytes go to the far end through `Line.send`, except that the escape
  detector holds back up to three S2 characters that *might* be a guarded escape
  (S12 of silence, "+++", S12 of silence). If anything else arrives, or the pluses
  come too slowly, or a fourth arrives, the held pluses are released to the far end
  in order: a plus that is not a guarded escape always reaches the peer. The data
  path is chunk-at-a-time, not per byte: a `receive_dte` call happens at one instant,
  so once a data byte has gone out no escape can start in the rest of that chunk
  (its silence before would be 0 s). `_data_chunk` therefore only inspects the S2
  characters at the head of a chunk (every one, found with `bytes.find`, when S12=0)
  and forwards the rest with ONE `Line.send`; the receiving engine appends each
  `Data` event to its output buffer whole. A 1 MiB burst through `Sim` takes milliseconds.

Off hook without a call: "ATD…;" (voice) and ATH1 leave the line off hook in
command state, busy to callers, until ATH0, ATZ, ATD or DTR under &D2. ATH1 is a
no-op outside command state (ringing, or already in a call). Carrier loss with
S10=255 is ignored, as on Rockwell/USR modems: the modem stays online with DCD on and
the line off hook, data goes nowhere, and the DTE hangs up with +++ ATH or DTR.

Timers are a small dict of name -> deadline (dial progress, S7 carrier wait, ring
cadence, escape guard, S10 loss delay, S25 DTR debounce, S1 clearing). `tick()` runs
every timer that is due, earliest first.

Calls: ATD waits S6 before blind dialling (X0, X1, X3) or checks for dial tone (X2,
X4: NO DIALTONE after S6 without one), spends the dial string's pauses (`,` S8,
`!` flash, digit time), then hands the digits to the exchange and waits S7 for
carrier. The exchange's events decide the outcome; `emulator.core.results.gate` turns it
into what the X level allows. Incoming calls ring on the profile's cadence (RI on
during each burst); S0 answers `AUTO_ANSWER_DELAY` (50 ms) after the S0-th RING
(so RI is seen on for that burst too) unless DTR is off under &D2.

Caller ID is sent by the network in the silence after the first ring burst, so the
modem prints it (+VCID=1 formatted, 2 hex, from `emulator.network.callerid`) after the first
RING and before the second: `caller_id_delay()` after the first RING starts, i.e.
the burst, 0.5 s of silence and the FSK time of the message (about 3.1 s for a named
caller on the default cadence). It is only sent while the line is on hook: with
S0=1 (or an ATA during the first burst) the modem answers before it arrives, shows
no caller ID and +VRID has none for that call, as on real modems. Use S0=2 to see
caller ID before auto-answer.

Back-pressure: in data mode `dte_room()` is the far end's `send_room()` less the
pluses held for a candidate escape (which grows when the *far* DTE reads, without
this engine's listener firing: drivers re-check room after any read, as `Sim` and
`emulator.transports.host` do), and `rx_room()` is what is left of `OUTPUT_LIMIT` (64 KiB) in
our DTE output buffer, so a driver that honours `dte_room()` never makes the far
end's buffer exceed 64 KiB. Peer data is never dropped: if a driver ignores
back-pressure the buffer grows past the bound.
Unsolicited results (RING, caller ID, NO CARRIER) that would overflow the bound are
dropped and counted in a trace "line" record, because a DTE that reads nothing for
that long has lost them on real hardware too.

Faults: a DTE mistake (bad command, bad value, overflowing line) is answered ERROR;
it never raises. An exception out of this module is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import product
from typing import ClassVar, Literal

from emulator.core.commandline import (
    DIGITS,
    Command,
    LineAssembler,
    LineReady,
    Repeat,
    parse_dial,
    split_commands,
)
from emulator.core.profile import Profile
from emulator.core.registers import (
    S_AUTO_ANSWER,
    S_BLIND_WAIT,
    S_CARRIER_WAIT,
    S_COMMA_PAUSE,
    S_DTMF_DURATION,
    S_DTR_DEBOUNCE,
    S_EDIT_CHAR,
    S_ESCAPE_CHAR,
    S_GUARD_TIME,
    S_LINE_END,
    S_LOSS_DELAY,
    S_RESPONSE_CHAR,
    S_RING_COUNT,
    Registers,
)
from emulator.core.results import frame_info, frame_result, gate
from emulator.core.states import (
    ANSWERING,
    CARRIER_LOST,
    COMMAND,
    DIALING,
    ONLINE,
    ONLINE_COMMAND,
    RINGING,
    ModemState,
    ModemStates,
)
from emulator.core.tracerecord import TraceKind, TraceRecord, TraceSink
from emulator.network import callerid
from emulator.network.subscriberline import (
    Busy,
    CallerGone,
    CallerId,
    CarrierLost,
    Connected,
    Data,
    IncomingCall,
    Line,
    LineEvent,
    RemoteHangup,
    Ringback,
    Unobtainable,
)
from linelab.clock import Clock, wall_time

# States in which DTE bytes are AT command lines.
# The engine's timers, by what they wait for (their actions: ModemEngine._timer_actions).
TimerName = Literal["dial", "carrier", "ring", "autoanswer", "cid", "escape", "loss", "s1", "dtr"]

_COMMAND_STATES = frozenset({COMMAND, RINGING, ONLINE_COMMAND})
# States in which a call (or call attempt) holds the line.
_CALL_STATES = frozenset({DIALING, ANSWERING, ONLINE, ONLINE_COMMAND, CARRIER_LOST})
# Bound of the DTE output buffer (bytes). The emulator moves data as fast as the
# drivers do (there is no line-rate pacing), so the bound is sized for chunked
# transports: 64 KiB lets a pty or vmodem:// driver move big chunks per wake-up
# (8 KiB cost about 20 % of burst throughput), and still stops the far end at once
# when a DTE stalls. Unsolicited results beyond it are dropped (see above).
OUTPUT_LIMIT = 65536
# Seconds after the last ring of an unanswered call before S1 clears.
S1_CLEAR_DELAY = 8.0
# &K values: RTS/CTS flow control (3, and 6 = both), XON/XOFF from the DTE (4, 5, 6);
# &K5 is "transparent": XON/XOFF act and still reach the far end.
_HARDWARE_FLOW = frozenset({3, 6})
_SOFTWARE_FLOW = frozenset({4, 5, 6})
XON, XOFF = 0x11, 0x13
_FLOW_BYTES = bytes([XON, XOFF])
# Room advertised for DTE input while the line is dead (bytes are discarded there).
_DISCARD_ROOM = 4096
_FRAMED_KEPT = 64  # framed result codes cached per engine (see ModemEngine._result)
# Caller ID timing (Bellcore GR-30 / Bell 202 on-hook data): the FSK starts at least
# 0.5 s after the first ring burst ends; it is a channel seizure of 300 alternating
# bits and 180 mark bits, then 10 bits (start, 8 data, stop) per message byte at
# 1200 bit/s. The modem prints the block once the whole message is in.
CID_GAP = 0.5
CID_BAUD = 1200
CID_PREAMBLE_BITS = 300 + 180
# Seconds from the S0-th RING to going off hook (RI is on meanwhile).
AUTO_ANSWER_DELAY = 0.05


def caller_id_delay(cadence: tuple[float, ...], message_bytes: int) -> float:
    """Seconds from the start of the first RING to the caller ID block: the first
    burst, `CID_GAP`, and the FSK time of a `message_bytes` message (about 3.1 s for
    a 27-byte MDMF message on the 2 s on, 4 s off cadence). It never comes later
    than the middle of the first silence, so it always precedes the second RING."""
    on = cadence[0]
    off = cadence[1] if len(cadence) > 1 else on
    fsk = (CID_PREAMBLE_BITS + 10 * message_bytes) / CID_BAUD
    return on + min(CID_GAP + fsk, off / 2)


@dataclass(frozen=True)
class Signals:
    """The modem's outputs on the serial interface."""

    dcd: bool
    ri: bool
    dsr: bool
    cts: bool


class _Deferred:
    """Marker: the command's final result comes later (ATD, ATA)."""


# The 16 possible Signals, made once (`ModemEngine.signals` returns these).
_SIGNALS = {key: Signals(*key) for key in product((False, True), repeat=4)}

_DEFER = _Deferred()
# What a command handler returns: None to go on, a final word to stop with it, or
# _DEFER when the final result will come from the call.
_Outcome = str | _Deferred | None


class ModemEngine:
    """One virtual V.250 modem (implements `emulator.network.subscriberline.LinePeer`)."""

    OUTPUT_LIMIT = OUTPUT_LIMIT

    # What each timer does when it runs (every name in TimerName has one): one table
    # for the class (filled in below it), not a dict of bound methods per modem.
    _timer_actions: ClassVar[dict[TimerName, Callable[[ModemEngine], None]]]

    def __init__(
        self,
        profile: Profile,
        clock: Clock,
        *,
        name: str = "modem",
        trace: TraceSink | None = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.clock = clock
        self.line: Line | None = None
        self.dtr = True
        self.rts = True
        self.dte_rate: int | None = None
        self.regs = Registers(profile)
        self.fclass = "0"
        self.pulse = False
        self.rate = 0  # line rate of the current call
        self.dropped = 0  # unsolicited bytes dropped at OUTPUT_LIMIT
        self.last_caller: tuple[CallerId, datetime] | None = None
        self._trace = trace
        self._states = ModemStates()
        self._assembler = LineAssembler()
        self._last_line = ""
        self._selected_register = 0
        self._out = bytearray()
        self._echo = bytearray()  # echo of this receive_dte call, traced as one record
        self._rx_hold = bytearray()  # peer data that arrived in online-command state
        self._xoff = False  # the DTE sent XOFF (software flow control, data mode)
        self._carrier_ignored = False  # the call is gone but S10=255 keeps us online
        self._timers: dict[TimerName, float] = {}
        self._listener: Callable[[], None] | None = None
        self._snapshot: tuple[int, Signals, float | None, bool] | None = None
        # Framed result codes by (word, Q, X, V, S3, S4): see _result.
        self._framed: dict[tuple[str, int, int, int, int, int], bytes] = {}
        # call progress
        self._dial = parse_dial("", comma_pause=0.0, dtmf_ms=0, pulse=False)
        self._dial_phase = "digits"
        self._dial_quiet = False
        self._ringback_seen = False
        self._voice_offhook = False
        self._lf_grace = False  # one LF right after ATD/ATA's CR does not abort
        self._ring_step = 0
        self._ring_on = False
        self._caller: CallerId | None = None
        self._caller_when: datetime | None = None
        # escape detector
        self._last_tx = 0.0  # time of the last byte sent (or of going online)
        self._plus_held = 0
        self._last_plus = 0.0
        self._signals_seen = self.signals

    # -- public outputs ------------------------------------------------------------------

    @property
    def state(self) -> ModemState:
        """The current state name (see emulator.core.states)."""
        return self._states.state

    @property
    def signals(self) -> Signals:
        """DCD per &C, RI per ring burst, DSR per &S, CTS per &K."""
        # On every data chunk (several times): one dict of settings, no allocation.
        state = self._states.state
        values = self.regs.active.values
        carrier = state in (ONLINE, ONLINE_COMMAND)
        cts = True
        if state == ONLINE and values["&K"] in _HARDWARE_FLOW:
            cts = self._data_room() > self._plus_held
        return _SIGNALS[
            values["&C"] == 0 or carrier, self._ring_on, values["&S"] == 0 or carrier, cts
        ]

    def read_dte(self, max_bytes: int = -1) -> bytes:
        """Take up to `max_bytes` (all if negative) of the bytes queued for the DTE.
        Nothing is given while RTS is off under &K3/&K6 (hardware flow control) or
        after the DTE sent XOFF under &K4-&K6 (software flow control)."""
        if self._dte_held():
            return b""
        out = self._out
        if max_bytes < 0 or max_bytes >= len(out):
            data = bytes(out)
            out.clear()
        else:
            # Deleting from the front of a bytearray is O(1) in CPython (it moves the
            # start pointer), so small reads of a big buffer stay linear overall.
            data = bytes(out[:max_bytes])
            del out[:max_bytes]
        snapshot = self._snapshot
        if data and snapshot is not None:
            # The driver knows it took these bytes: less output is no news to it, and
            # nothing else `_changed` looks at (signals, deadlines, holding) depends on
            # this buffer, so no listener call.
            self._snapshot = (len(out), *snapshot[1:])
        return data

    def _dte_held(self) -> bool:
        flow = self.regs.setting("&K")
        if flow in _HARDWARE_FLOW and not self.rts:
            return True
        # XOFF holds data-mode output only, so results of an escape still get through.
        return self._xoff and self.state == ONLINE

    def dte_pending(self) -> int:
        """Bytes queued for the DTE."""
        return len(self._out)

    def next_deadline(self) -> float | None:
        """When `tick()` next has work, on the injected clock (None: no timer)."""
        return min(self._timers.values()) if self._timers else None

    def dte_room(self) -> int:
        """How many bytes the driver may feed with `receive_dte` now."""
        if self.state == ONLINE:
            # Held pluses may still go to the far end: they count against its room.
            return max(0, self._data_room() - self._plus_held)
        if self.state == CARRIER_LOST:
            return _DISCARD_ROOM
        return max(0, OUTPUT_LIMIT - len(self._out))

    def rx_room(self) -> int:
        """LinePeer: free space for far-end data (0 outside data mode: the exchange
        holds it, so nothing is lost while escaped)."""
        if self.state != ONLINE:
            return 0
        return max(0, OUTPUT_LIMIT - len(self._out))

    def set_listener(self, callback: Callable[[], None] | None) -> None:
        """Called whenever new output bytes arrived, or the signals, the next deadline or
        whether output is held changed (not when the driver's own `read_dte` only took
        bytes). It may be called re-entrantly; drivers must only schedule work in it."""
        self._listener = callback

    # -- public inputs -------------------------------------------------------------------

    def receive_dte(self, data: bytes) -> None:
        """Bytes typed by the DTE, in any chunking."""
        if not data:
            return
        if type(data) is not bytes:
            data = bytes(data)  # bytearray or memoryview from a driver
        if self._trace is not None:
            self._record("dte>modem", data)
        pos, end = 0, len(data)
        while pos < end:
            state = self.state
            if state == ONLINE:
                # Nothing a data byte does can leave the online state (the escape
                # only completes on the guard timer), so the rest is one chunk.
                self._data_chunk(data[pos:] if pos else data)
                break
            if state == CARRIER_LOST:
                break  # the line is dead; bytes go nowhere
            if state in _COMMAND_STATES:
                pos = self._command_bytes(data, pos, end)
                continue
            byte = data[pos]
            pos += 1
            if state in (DIALING, ANSWERING):
                if byte == 0x0A and self._lf_grace:
                    # 2026-11: DTEs that end lines with CR LF (chat scripts, some TAPI
                    # providers) would otherwise abort their own dial with the LF.
                    self._lf_grace = False
                    continue
                self._abort_call()
        self._flush_echo()
        self._changed()

    def set_dtr(self, on: bool) -> None:
        """DTR from the DTE. An off period shorter than S25 is ignored (debounce)."""
        if on == self.dtr:
            return
        self.dtr = on
        self._record("line", f"DTR={int(on)}")
        if on:
            self._timers.pop("dtr", None)
        else:
            self._timers["dtr"] = self.clock.now() + self.regs[S_DTR_DEBOUNCE] * 0.01
            self.tick()
        self._changed()

    def set_rts(self, on: bool) -> None:
        """RTS from the DTE (flow control toward the DTE under &K3)."""
        if on != self.rts:
            self.rts = on
            self._record("line", f"RTS={int(on)}")
            self._changed()

    def set_dte_rate(self, bps: int) -> None:
        """The DTE's serial speed (informational). Recorded when it changes: pyserial
        reconfigures a port (and says its rate again) whenever its timeout is set, and a
        record per read made transcripts of the same dialogue differ."""
        if bps == self.dte_rate:
            return
        self.dte_rate = bps
        self._record("line", f"DTE rate={bps}")

    def tick(self) -> None:
        """Run every timer that is due at `clock.now()`, earliest first."""
        now = self.clock.now()
        while self._timers:
            name, when = min(self._timers.items(), key=lambda item: item[1])
            if when > now:
                break
            del self._timers[name]
            self._timer_actions[name](self)
        self._changed()

    def line_event(self, event: LineEvent) -> None:
        """An event from the exchange."""
        state = self.state
        if isinstance(event, Data):
            if state == ONLINE:
                self._emit(event.data)
            elif state == ONLINE_COMMAND:
                self._rx_hold += event.data
        elif isinstance(event, IncomingCall):
            if state == COMMAND and not self._voice_offhook:
                self._caller = event.caller
                self._caller_when = event.when if event.when is not None else wall_time(self.clock)
                self._states.fire("incoming")
                self.regs.force(S_RING_COUNT, 0)
                self._timers.pop("s1", None)
                self._ring_step = 0
                self._ring_burst()
        elif isinstance(event, CallerGone):
            if state == RINGING:
                self._stop_ringing()
                self._states.fire("caller_gone")
                # S1 keeps the count for a while, then clears (~8 s on most modems).
                self._timers["s1"] = self.clock.now() + S1_CLEAR_DELAY
            elif state == ANSWERING:
                self._call_failed("NO CARRIER")
        elif isinstance(event, Connected):
            if state in (DIALING, ANSWERING):
                self._timers.pop("carrier", None)
                self._timers.pop("dial", None)
                self.rate = event.rate
                self._states.fire("connect")
                self._go_online()
                self._result(f"CONNECT {event.rate}")
        elif isinstance(event, Busy):
            if state == DIALING:
                self._call_failed("BUSY")
        elif isinstance(event, Ringback):
            self._ringback_seen = True
        elif isinstance(event, Unobtainable):
            # Reorder is heard as busy (BUSY, or NO CARRIER below X3); after silence
            # nobody will answer: S7 runs out and we say NO CARRIER.
            if event.tone == "reorder" and state == DIALING:
                self._call_failed("BUSY")
        elif isinstance(event, RemoteHangup | CarrierLost):
            self._voice_offhook = False
            if state in (ONLINE, ONLINE_COMMAND) and self.regs[S_LOSS_DELAY] == 255:
                self._ignore_carrier_loss()
            elif state in (ONLINE, ONLINE_COMMAND):
                self._states.fire("carrier_loss")
                self._end_escape()
                self._timers["loss"] = self.clock.now() + self.regs[S_LOSS_DELAY] * 0.1
            elif state in (DIALING, ANSWERING):
                self._call_failed("NO CARRIER")
        self._changed()

    # -- output helpers ------------------------------------------------------------------

    def _flush_echo(self) -> None:
        if self._echo:
            echo, self._echo = bytes(self._echo), bytearray()
            self._out += echo
            self._record("modem>dte", echo)

    def _emit(self, data: bytes, *, unsolicited: bool = False) -> None:
        self._flush_echo()
        if not data:
            return
        if unsolicited and len(self._out) + len(data) > OUTPUT_LIMIT:
            self.dropped += len(data)
            self._record("line", f"dropped {len(data)} unsolicited bytes (total {self.dropped})")
            return
        self._out += data
        self._record("modem>dte", bytes(data))

    def _result(self, word: str, *, unsolicited: bool = False) -> None:
        active = self.regs.active
        values, registers = active.values, active.registers
        key = (
            word,
            values["Q"],
            values["X"],
            values["V"],
            registers[S_LINE_END],
            registers[S_RESPONSE_CHAR],
        )
        framed = self._framed.get(key)
        if framed is None:
            # Once per word and setting: the answer to every "AT" costs a lookup.
            if len(self._framed) >= _FRAMED_KEPT:
                self._framed.clear()
            framed = self._framed[key] = (
                b""
                if key[1] == 1
                else frame_result(
                    gate(word, key[2]),
                    verbose=key[3] == 1,
                    codes=self.profile.result_codes,
                    cr=key[4],
                    lf=key[5],
                )
            )
        if framed:
            self._emit(framed, unsolicited=unsolicited)

    def _info(self, lines: list[str] | tuple[str, ...], *, unsolicited: bool = False) -> None:
        self._emit(
            frame_info(
                lines,
                verbose=self.regs.setting("V") == 1,
                cr=self.regs[S_LINE_END],
                lf=self.regs[S_RESPONSE_CHAR],
            ),
            unsolicited=unsolicited,
        )

    def _record(self, kind: TraceKind, data: bytes | str) -> None:
        if self._trace is not None:
            self._trace(TraceRecord(self.clock.now(), self.name, kind, data))

    def _changed(self) -> None:
        signals = self.signals
        if signals is not self._signals_seen:  # one instance per value (_SIGNALS)
            old, self._signals_seen = self._signals_seen, signals
            for field in ("dcd", "ri", "dsr", "cts"):
                if getattr(signals, field) != getattr(old, field):
                    self._record("line", f"{field.upper()}={int(getattr(signals, field))}")
        snapshot = (len(self._out), signals, self.next_deadline(), self._dte_held())
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            if self._listener is not None:
                self._listener()

    # -- command state ------------------------------------------------------------------

    def _command_bytes(self, data: bytes, pos: int, end: int) -> int:
        """Command-state bytes from `pos`, up to and including the one that completes a
        line (running it may change the state or the settings); returns where it
        stopped. Until then nothing changes the settings, so they are read once."""
        active = self.regs.active
        registers = active.registers
        pos, echo, event = self._assembler.feed_bytes(
            data,
            pos,
            end,
            s3=registers[S_LINE_END],
            s5=registers[S_EDIT_CHAR],
            limit=self.profile.buffer_size,
        )
        if active.values["E"] == 1:
            self._echo += echo
        if event is not None:
            self._command_event(event)
        return pos

    def _command_event(self, event: LineReady | Repeat) -> None:
        if isinstance(event, LineReady):
            if event.overflow:
                self._result("ERROR")
            else:
                self._last_line = event.body
                self._run_line(event.body)
        elif isinstance(event, Repeat):
            self._run_line(self._last_line)

    def _run_line(self, body: str) -> None:
        """Run the commands of one line; stop at the first that fails."""
        for command in split_commands(body):
            outcome = self._run_command(command)
            if outcome is _DEFER:
                return
            if isinstance(outcome, str):
                self._result(outcome)
                return
        self._result("OK")

    def _run_command(self, cmd: Command) -> _Outcome:
        handler = _BASIC.get(cmd.name)
        if handler is not None:
            return handler(self, cmd)
        if cmd.name in _SIMPLE_SETTINGS:
            return self._simple_setting(cmd)
        return self._unknown()

    def _unknown(self) -> _Outcome:
        return None if self.profile.unknown_commands == "ok" else "ERROR"

    def _lenient_arguments(self) -> bool:
        """Whether known commands accept the vendor arguments init strings use (&F1,
        &F2): the profile's `lenient_arguments`."""
        return self.profile.lenient_arguments

    def _number(self, cmd: Command, low: int, high: int) -> int | None:
        if cmd.op:
            return None
        value = int(cmd.arg) if cmd.arg else 0
        return value if low <= value <= high else None

    def _simple_setting(self, cmd: Command) -> _Outcome:
        key = cmd.name
        value = self._number(cmd, 0, 255)
        if key == "&K" and value is not None and value not in (0, 3, 4, 5, 6):
            return "ERROR"
        if value is None or not self.regs.set_setting(key, value):
            return "ERROR"
        return None

    # basic commands ------------------------------------------------------------------

    def _cmd_a(self, cmd: Command) -> _Outcome:
        if self.state != RINGING:
            return "NO CARRIER" if self.state == COMMAND else "ERROR"
        self._answer()
        return _DEFER

    def _cmd_d(self, cmd: Command) -> _Outcome:
        if self.state != COMMAND:
            return "ERROR"
        dial = parse_dial(
            cmd.arg,
            comma_pause=float(self.regs[S_COMMA_PAUSE]),
            dtmf_ms=self.regs[S_DTMF_DURATION],
            pulse=self.pulse,
        )
        if self._voice_offhook and self.line is not None:
            self.line.hangup()
            self._voice_offhook = False
        self._states.fire("dial")
        self._assembler.reset()
        self._lf_grace = True
        self._dial = dial
        self._dial_quiet = dial.wait_quiet
        self._ringback_seen = False
        x = self.regs.setting("X")
        blind = x in (0, 1, 3)
        has_tone = self.line is not None and self.line.has_dialtone()
        now = self.clock.now()
        if not has_tone and (not blind or dial.wait_tone):
            # Listening for dial tone and hearing none (X2/X4, or the W modifier).
            self._timers["dial"] = now + float(self.regs[S_BLIND_WAIT])
            self._dial_phase = "nodialtone"
        else:
            pre = float(self.regs[S_BLIND_WAIT]) if blind else 0.0
            self._timers["dial"] = now + pre + dial.delay
            self._dial_phase = "digits"
        return _DEFER

    def _cmd_h(self, cmd: Command) -> _Outcome:
        value = self._number(cmd, 0, 1)
        if value is None:
            return "ERROR"
        if value == 0:
            self._hang_up()
        elif self.state == COMMAND and not self._voice_offhook:
            self._go_off_hook()
        return None

    def _cmd_i(self, cmd: Command) -> _Outcome:
        value = self._number(cmd, 0, 9)
        lines = self.profile.info.get(value) if value is not None else None
        if lines is None:
            return "ERROR"
        self._info(lines)
        return None

    def _cmd_o(self, cmd: Command) -> _Outcome:
        if self._number(cmd, 0, 1) is None:
            return "ERROR"
        if self.state != ONLINE_COMMAND:
            return "NO CARRIER"
        self._states.fire("resume")
        self._go_online()
        self._result(f"CONNECT {self.rate}")
        held, self._rx_hold = bytes(self._rx_hold), bytearray()
        self._emit(held)
        return _DEFER

    def _cmd_p(self, cmd: Command) -> _Outcome:
        if cmd.arg:
            return "ERROR"
        self.pulse = True
        return None

    def _cmd_t(self, cmd: Command) -> _Outcome:
        if cmd.arg:
            return "ERROR"
        self.pulse = False
        return None

    def _cmd_z(self, cmd: Command) -> _Outcome:
        if self._number(cmd, 0, 0) is None:
            return "ERROR"
        self._reset()
        return None

    def _cmd_s(self, cmd: Command) -> _Outcome:
        number = self._selected_register if cmd.register is None else cmd.register
        if not self.regs.has(number):
            return self._unknown()
        if cmd.op == "?":
            self._info([f"{self.regs[number]:03d}"])
        elif cmd.op == "=":
            if not self.regs.set(number, int(cmd.arg) if cmd.arg else 0):
                return "ERROR"
        elif cmd.op == "":
            self._selected_register = number
        else:
            return "ERROR"
        return None

    def _cmd_amp_f(self, cmd: Command) -> _Outcome:
        # &F1/&F2 pick vendor factory profiles (USR, Rockwell: flow-control variants);
        # init strings send them, so a lenient modem loads its one factory profile.
        if self._number(cmd, 0, 2 if self._lenient_arguments() else 0) is None:
            return "ERROR"
        self.regs.factory()
        return None

    def _cmd_amp_w(self, cmd: Command) -> _Outcome:
        if self._number(cmd, 0, 0) is None:
            return "ERROR"
        self.regs.write()
        return None

    def _cmd_amp_v(self, cmd: Command) -> _Outcome:
        if self._number(cmd, 0, 0) is None:
            return "ERROR"
        lines = ["ACTIVE PROFILE:", *self.regs.describe(self.regs.active)]
        lines += ["", "STORED PROFILE 0:", *self.regs.describe(self.regs.stored)]
        self._info(lines)
        return None

    # extended commands -----------------------------------------------------------------

    def _identity(self, text: str, cmd: Command) -> _Outcome:
        if cmd.op == "=?":
            return None
        if cmd.op:
            return "ERROR"
        self._info([text])
        return None

    def _cmd_gmi(self, cmd: Command) -> _Outcome:
        return self._identity(self.profile.manufacturer, cmd)

    def _cmd_gmm(self, cmd: Command) -> _Outcome:
        return self._identity(self.profile.model, cmd)

    def _cmd_gmr(self, cmd: Command) -> _Outcome:
        return self._identity(self.profile.revision, cmd)

    def _cmd_gsn(self, cmd: Command) -> _Outcome:
        return self._identity(self.profile.serial, cmd)

    def _cmd_gcap(self, cmd: Command) -> _Outcome:
        return self._identity(self.profile.capabilities, cmd)

    def _cmd_fclass(self, cmd: Command) -> _Outcome:
        if cmd.op == "=?":
            self._info(["(" + ",".join(self.profile.fclass) + ")"])
        elif cmd.op == "?":
            self._info([self.fclass])
        elif cmd.op == "=" and cmd.arg in self.profile.fclass:
            self.fclass = cmd.arg
        else:
            return "ERROR"
        return None

    def _cmd_vcid(self, cmd: Command) -> _Outcome:
        if cmd.op == "=?":
            self._info(["(0-2)"])
        elif cmd.op == "?":
            self._info([str(self.regs.setting("+VCID"))])
        elif cmd.op == "=" and cmd.arg and set(cmd.arg) <= DIGITS:
            if not self.regs.set_setting("+VCID", int(cmd.arg)):
                return "ERROR"
        else:
            return "ERROR"
        return None

    def _cmd_vrid(self, cmd: Command) -> _Outcome:
        if cmd.op == "=?":
            self._info(["(0,1)"])
            return None
        if cmd.op == "" or (cmd.op == "=" and cmd.arg in ("0", "1", "")):
            if self.last_caller is not None:
                caller, when = self.last_caller
                self._show_caller_id(caller, when, 2 if cmd.arg == "1" else 1, False)
            return None
        return "ERROR"

    # -- dialing and answering ------------------------------------------------------------

    def _carrier_timer(self) -> None:
        """S7 ran out without carrier."""
        if self.state == DIALING:
            quiet = self._dial_quiet and self._ringback_seen
            self._call_failed("NO ANSWER" if quiet else "NO CARRIER")
        elif self.state == ANSWERING:
            self._call_failed("NO CARRIER")

    def _loss_timer(self) -> None:
        """S10 after carrier loss: NO CARRIER."""
        if self.state == CARRIER_LOST:
            self._release_line()
            self._states.fire("no_carrier")
            self._result("NO CARRIER", unsolicited=True)

    def _s1_timer(self) -> None:
        """The ringing stopped a while ago: S1 counts from zero again."""
        if self.state == COMMAND:
            self.regs.force(S_RING_COUNT, 0)

    def _dtr_timer(self) -> None:
        """DTR stayed off for S25: act on it per &D."""
        if not self.dtr:
            self._dtr_dropped()

    def _dial_step(self) -> None:
        if self.state != DIALING:
            return
        if self._dial_phase == "nodialtone":
            self._call_failed("NO DIALTONE")
            return
        dial = self._dial
        if self.line is not None and dial.digits:
            self.line.dial(dial.digits)
        if dial.voice:
            # "ATD…;": stay off hook for a voice call and go back to command state.
            self._voice_offhook = True
            self._states.fire("voice")
            self._result("OK")
            return
        self._timers["carrier"] = self.clock.now() + float(self.regs[S_CARRIER_WAIT])

    def _answer(self) -> None:
        self._stop_ringing()
        self._states.fire("answer")
        self._assembler.reset()
        self._lf_grace = True
        if self.line is not None:
            self.line.answer()
        self._timers["carrier"] = self.clock.now() + float(self.regs[S_CARRIER_WAIT])

    def _call_failed(self, word: str) -> None:
        self._release_line()
        self._states.fire("call_failed")
        self._result(word)

    def _abort_call(self) -> None:
        """A DTE byte while dialing or waiting for carrier: hang up, NO CARRIER."""
        self._call_failed("NO CARRIER")

    def _release_line(self) -> None:
        for name in ("dial", "carrier", "loss", "escape"):
            self._timers.pop(name, None)
        self._plus_held = 0
        self._voice_offhook = False
        if self.line is not None:
            self.line.hangup()
        self._rx_hold.clear()
        self._xoff = False
        self._carrier_ignored = False
        self.rate = 0

    def _hang_up(self) -> None:
        """ATH0 (and DTR under &D2): end any call or voice off-hook."""
        if self.state in _CALL_STATES:
            self._release_line()
            self._states.fire("hangup")
        elif self._voice_offhook:
            self._release_line()

    def _go_off_hook(self) -> None:
        """ATH1: off hook without a call; callers get BUSY until ATH0 (or ATZ, ATD, DTR
        under &D2) puts the line back on hook, as after "ATD…;"."""
        self._voice_offhook = True
        self._line_off_hook()

    def _line_off_hook(self) -> None:
        if self.line is not None:
            self.line.off_hook()

    def _reset(self) -> None:
        """ATZ (and DTR under &D3): hang up and load the stored profile."""
        self._hang_up()
        self.regs.restore()
        self.fclass = "0"

    # -- ringing and caller ID -----------------------------------------------------------

    def _ring_burst(self) -> None:
        cadence = self.profile.ring_cadence
        on = self._ring_step % 2 == 0
        self._ring_on = on
        if on:
            count = self.regs[S_RING_COUNT] + 1
            self.regs.force(S_RING_COUNT, count)
            self._result("RING", unsolicited=True)
            if self._ring_step == 0 and self._caller is not None:
                # Caller ID is sent in the silence after this first burst (d7); it is
                # never sent once the line is off hook, so S0=1 or an early ATA sees none.
                self._timers["cid"] = self.clock.now() + caller_id_delay(
                    cadence, len(callerid.wire_message(self._caller, self._when()))
                )
            auto = self.regs[S_AUTO_ANSWER]
            if auto > 0 and count >= auto and not self._dtr_refuses_calls():
                # Off hook a moment after the RING, so that RI is seen on for this
                # burst too (tcpser#27: RI wrong with S0=1).
                self._timers["autoanswer"] = self.clock.now() + AUTO_ANSWER_DELAY
        self._timers["ring"] = self.clock.now() + cadence[self._ring_step % len(cadence)]

    def _dtr_refuses_calls(self) -> bool:
        return not self.dtr and self.regs.setting("&D") == 2

    def _auto_answer(self) -> None:
        if self.state == RINGING and not self._dtr_refuses_calls():
            self._answer()

    def _ring_tick(self) -> None:
        if self.state != RINGING:
            return
        self._ring_step += 1
        self._ring_burst()

    def _stop_ringing(self) -> None:
        self._timers.pop("ring", None)
        self._timers.pop("cid", None)
        self._timers.pop("autoanswer", None)
        self._ring_on = False

    def _when(self) -> datetime:
        return self._caller_when or wall_time(self.clock)

    def _caller_id_received(self) -> None:
        """The caller ID message has arrived (between the first and second RING)."""
        if self.state != RINGING or self._caller is None:
            return
        when = self._when()
        self.last_caller = (self._caller, when)
        self._show_caller_id(self._caller, when, self.regs.setting("+VCID"), True)

    def _show_caller_id(
        self, caller: CallerId, when: datetime, mode: int, unsolicited: bool
    ) -> None:
        if mode == 1:
            self._info(callerid.formatted_lines(caller, when), unsolicited=unsolicited)
        elif mode == 2:
            self._info([callerid.unformatted_hex(caller, when)], unsolicited=unsolicited)

    # -- online: data and the escape sequence --------------------------------------------

    def _go_online(self) -> None:
        self._assembler.reset()
        self._last_tx = self.clock.now()
        self._plus_held = 0

    def _data_room(self) -> int:
        if self._carrier_ignored:
            return _DISCARD_ROOM
        return self.line.send_room() if self.line is not None else 0

    def _ignore_carrier_loss(self) -> None:
        """S10=255: carrier loss detection is off. The modem stays online (DCD on) and
        off hook; data goes nowhere; +++ and ATH, or DTR under &D2/&D3, hang up."""
        self._carrier_ignored = True
        self._record("line", "carrier lost, ignored (S10=255)")
        self._line_off_hook()

    def _send(self, data: bytes) -> None:
        if self.line is not None and data:
            self.line.send(data)

    def _data_chunk(self, data: bytes) -> None:
        """DTE bytes in data mode, all at one instant: one `Line.send` for the lot.

        The escape detector is exact per byte but only looks at S2 characters: runs
        between them are found with `bytes.find`. Once a data byte has gone out, no
        escape can start again in this chunk while S12 > 0 (the silence before it would
        be 0 s), so the rest of the chunk is forwarded as one slice."""
        now = self.clock.now()
        flow = self.regs.setting("&K")
        if flow in _SOFTWARE_FLOW and (XON in data or XOFF in data):
            # Only the last XON/XOFF matters: nothing reads the flag within the chunk.
            self._xoff = data.rfind(XOFF) > data.rfind(XON)
            if flow != 5:  # &K5 passes them on as data as well
                data = data.translate(None, _FLOW_BYTES)
                if not data:
                    return
        out: list[bytes] = []
        esc = self.regs[S_ESCAPE_CHAR]
        if esc > 127:
            self._take_pluses(out)
            out.append(data)
            self._last_tx = now
            self._send(b"".join(out))
            return
        guard = self.regs[S_GUARD_TIME] * 0.02
        esc_byte = bytes([esc])
        pos, end = 0, len(data)
        while pos < end:
            if data[pos] != esc:
                stop = data.find(esc_byte, pos)
                stop = end if stop < 0 or guard > 0 else stop
            elif self._plus_held == 0 and now - self._last_tx >= guard:
                self._plus_held = 1
                self._hold_plus(now, guard)
                pos += 1
                continue
            elif 0 < self._plus_held < 3 and (guard == 0 or now - self._last_plus < guard):
                self._plus_held += 1
                self._hold_plus(now, guard)
                pos += 1
                continue
            else:
                stop = end if guard > 0 else pos + 1
            # Anything else cancels a candidate escape: the held pluses were data.
            self._take_pluses(out)
            out.append(data[pos:stop])
            self._last_tx = now
            pos = stop
        if out:
            self._send(b"".join(out) if len(out) > 1 else out[0])

    def _hold_plus(self, now: float, guard: float) -> None:
        self._last_plus = now
        self._timers["escape"] = now + guard

    def _take_pluses(self, out: list[bytes]) -> None:
        """Move held pluses (no longer a candidate escape) to `out`, in order."""
        if self._plus_held:
            out.append(bytes([self.regs[S_ESCAPE_CHAR]]) * self._plus_held)
            self._plus_held = 0
            self._timers.pop("escape", None)

    def _flush_pluses(self) -> None:
        out: list[bytes] = []
        self._take_pluses(out)
        if out:
            self._send(out[0])

    def _escape_timer(self) -> None:
        if self.state != ONLINE:
            self._plus_held = 0
            return
        if self._plus_held == 3:
            self._plus_held = 0
            self._states.fire("escape")
            self._result("OK")
        else:
            # Too slow for an escape: the pluses were data after all.
            last = self._last_plus
            self._flush_pluses()
            self._last_tx = last

    def _end_escape(self) -> None:
        self._plus_held = 0
        self._timers.pop("escape", None)

    # -- DTR -----------------------------------------------------------------------------

    def _dtr_dropped(self) -> None:
        mode = self.regs.setting("&D")
        if mode == 1 and self.state == ONLINE:
            self._flush_pluses()
            self._states.fire("escape")
            self._result("OK")
        elif mode == 2 and self.state in _CALL_STATES:
            self._hang_up()
            self._result("OK")
        elif mode == 2 and self._voice_offhook:
            self._hang_up()  # off hook after "ATD…;": hang up, no result (command state)
        elif mode == 3:
            self._reset()


_BasicHandler = Callable[[ModemEngine, Command], _Outcome]

_BASIC: dict[str, _BasicHandler] = {
    "A": ModemEngine._cmd_a,
    "D": ModemEngine._cmd_d,
    "H": ModemEngine._cmd_h,
    "I": ModemEngine._cmd_i,
    "O": ModemEngine._cmd_o,
    "P": ModemEngine._cmd_p,
    "T": ModemEngine._cmd_t,
    "Z": ModemEngine._cmd_z,
    "S": ModemEngine._cmd_s,
    "&F": ModemEngine._cmd_amp_f,
    "&W": ModemEngine._cmd_amp_w,
    "&V": ModemEngine._cmd_amp_v,
    "+GMI": ModemEngine._cmd_gmi,
    "+GMM": ModemEngine._cmd_gmm,
    "+GMR": ModemEngine._cmd_gmr,
    "+GSN": ModemEngine._cmd_gsn,
    "+GCAP": ModemEngine._cmd_gcap,
    "+FCLASS": ModemEngine._cmd_fclass,
    "+VCID": ModemEngine._cmd_vcid,
    "#CID": ModemEngine._cmd_vcid,
    "+VRID": ModemEngine._cmd_vrid,
}

# Basic commands that only store a number within the range the profile module defines.
_SIMPLE_SETTINGS = frozenset({"E", "V", "Q", "X", "L", "M", "&C", "&D", "&K", "&S"})


ModemEngine._timer_actions = {
    "dial": ModemEngine._dial_step,
    "carrier": ModemEngine._carrier_timer,
    "ring": ModemEngine._ring_tick,
    "autoanswer": ModemEngine._auto_answer,
    "cid": ModemEngine._caller_id_received,
    "escape": ModemEngine._escape_timer,
    "loss": ModemEngine._loss_timer,
    "s1": ModemEngine._s1_timer,
    "dtr": ModemEngine._dtr_timer,
}
