"""The AT dialogue of a Unimodem-like modem service provider, without I/O (rules.md §8).

How it works
------------
`ModemDialogue` is a sans-I/O state machine in the h11 mould. Its driver (the modem
provider glue) does all I/O and feeds it:

- bytes read from the modem: ``receive_data(data)``;
- requests: ``initialize()``, ``dial(...)``, ``answer()``, ``hang_up(...)``;
- line-signal news: ``carrier_lost()`` (DCD dropped, where the port has DCD);
- time: it reads the injected `Clock`; the driver calls ``tick()`` at
  ``next_deadline()``.

and collects from it (handling ``events()`` before writing ``data_to_send()``, so
that a DTR change reaches the port before the bytes that follow it):

- bytes to write to the modem: ``data_to_send()``;
- events (the dataclasses below): ``next_event()`` / ``events()``. Besides call
  progress, these include ``SetDTR`` (the driver raises or lowers DTR; on a pty it
  sets the output speed to B0 and back) and ``Data`` (data-phase bytes for the
  application's relayed port).

Command mode is parsed line by line (CR and/or LF end a line). After a data-call
``CONNECT`` the modem is in data mode: bytes pass through as ``Data`` events, but the
dialogue still watches for ``<CR><LF>NO CARRIER<CR>`` so that a remote hang-up is never
lost (rules.md §2.21). Bytes that might be the start of that pattern are held back for
at most ``HOLDBACK`` seconds.

Every change of state is a named trigger of one of two `transitions` tables:
`TRANSITIONS` (the dialogue's `State`) and `HANG_TRANSITIONS` (the `HangStep` of a
hang-up). Every request is accepted only in the states where its trigger is listed;
anything else is a bug in the driver and raises `ModemStateError` (and so does a move
of the dialogue's own that its table lacks). A modem that says something odd never
raises: unexpected lines come out as ``Unexpected`` events. docs/modem-provider.md
shows both tables as diagrams generated from them (``python tools/gen_diagrams.py``).

Which TAPI message each event becomes is the driver's business; the mapping of
rules.md §8.4 is given by `disconnect_mode` and by the event docstrings.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from transitions import Machine

from linelab.clock import Clock
from tapi.constants import (
    LINECALLPARTYID_ADDRESS,
    LINECALLPARTYID_BLOCKED,
    LINECALLPARTYID_NAME,
    LINECALLPARTYID_OUTOFAREA,
    LINECALLPARTYID_UNKNOWN,
    LINEDISCONNECTMODE_BLOCKED,
    LINEDISCONNECTMODE_BUSY,
    LINEDISCONNECTMODE_NOANSWER,
    LINEDISCONNECTMODE_NODIALTONE,
    LINEDISCONNECTMODE_NORMAL,
    LINEDISCONNECTMODE_TEMPFAILURE,
    LINEDISCONNECTMODE_UNAVAIL,
)

__all__ = [
    "DOC_BEGIN",
    "DOC_END",
    "HANG_TRANSITIONS",
    "RESPONSE_STATE",
    "TRANSITIONS",
    "CallerID",
    "Connected",
    "Data",
    "DialComplete",
    "DialTone",
    "Dialing",
    "Disconnected",
    "Event",
    "HangStep",
    "HangTrigger",
    "HangupFailed",
    "HungUp",
    "InitDone",
    "InitFailed",
    "ModemDialogue",
    "ModemSettings",
    "ModemStateError",
    "Response",
    "Result",
    "Ring",
    "RingsStopped",
    "SetDTR",
    "State",
    "Trigger",
    "Unexpected",
    "classify",
    "diagram_section",
    "disconnect_mode",
    "mermaid",
    "mermaid_steps",
    "parse_caller_id",
]

# Data held back because it might be the start of "\r\nNO CARRIER\r" is released
# after this many seconds without more input.
HOLDBACK = 0.1
# After raising DTR again, wait this long before the ATH that confirms the hang-up,
# so that the modem sees DTR on before the command.
DTR_SETTLE = 0.1
# A caller-ID block is complete when no tag line came for this long.
CALLER_ID_QUIET = 0.5
NO_CARRIER_PATTERN = b"\r\nNO CARRIER\r"
_MAX_LINE = 256


# --- Response classification (rules.md §8.2) ---


class Result(StrEnum):
    """What one line from the modem is."""

    OK = "OK"
    CONNECT = "CONNECT"
    RING = "RING"
    NO_CARRIER = "NO CARRIER"
    ERROR = "ERROR"
    NO_DIALTONE = "NO DIALTONE"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    BLACKLISTED = "BLACKLISTED"
    DELAYED = "DELAYED"
    PROGRESS = "PROGRESS"  # negotiation progress: CARRIER, PROTOCOL:, COMPRESSION:, RINGING
    CALLER_ID = "CALLER ID"  # a DATE/TIME/NMBR/NAME/MESG/DDN_NMBR item
    ECHO = "ECHO"  # our own command, echoed (before E0 takes effect)
    OTHER = "OTHER"


#: MSS.bResponseState of each result (Responses key, rules.md §8.2).
RESPONSE_STATE: dict[Result, int] = {
    Result.OK: 0x00,
    Result.PROGRESS: 0x01,
    Result.CONNECT: 0x02,
    Result.ERROR: 0x03,
    Result.NO_CARRIER: 0x04,
    Result.NO_DIALTONE: 0x05,
    Result.BUSY: 0x06,
    Result.NO_ANSWER: 0x07,
    Result.RING: 0x08,
    Result.BLACKLISTED: 0x1C,
    Result.DELAYED: 0x1D,
}

_FINAL_FAILURES = (
    Result.NO_CARRIER,
    Result.ERROR,
    Result.NO_DIALTONE,
    Result.BUSY,
    Result.NO_ANSWER,
    Result.BLACKLISTED,
    Result.DELAYED,
)

_WORDS = {
    "OK": Result.OK,
    "RING": Result.RING,
    "NO CARRIER": Result.NO_CARRIER,
    "ERROR": Result.ERROR,
    "NO DIALTONE": Result.NO_DIALTONE,
    "NO DIAL TONE": Result.NO_DIALTONE,
    "BUSY": Result.BUSY,
    "NO ANSWER": Result.NO_ANSWER,
    "BLACKLISTED": Result.BLACKLISTED,
    "DELAYED": Result.DELAYED,
    "RINGING": Result.PROGRESS,
    "RINGBACK": Result.PROGRESS,
}
# Numeric (V0) codes common to every vendor table (modems.md d3); CONNECT codes map
# to their rate.
_NUMERIC: dict[str, tuple[Result, int | None]] = {
    "0": (Result.OK, None),
    "1": (Result.CONNECT, None),
    "2": (Result.RING, None),
    "3": (Result.NO_CARRIER, None),
    "4": (Result.ERROR, None),
    "5": (Result.CONNECT, 1200),
    "6": (Result.NO_DIALTONE, None),
    "7": (Result.BUSY, None),
    "8": (Result.NO_ANSWER, None),
    "10": (Result.CONNECT, 2400),
    "11": (Result.CONNECT, 4800),
    "12": (Result.CONNECT, 9600),
}
_CONNECT = re.compile(r"CONNECT(?:\s+(\d+))?\b.*", re.IGNORECASE)
_CID = re.compile(r"(DATE|TIME|NMBR|NAME|MESG|DDN_NMBR)\s*=\s?(.*)", re.IGNORECASE)
_PROGRESS = re.compile(r"(CARRIER|PROTOCOL|COMPRESSION)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Response:
    """One classified line. `rate` is the CONNECT rate; `tag`/`value` a caller-ID item."""

    kind: Result
    text: str
    rate: int | None = None
    tag: str = ""
    value: str = ""


def classify(line: str, echo_of: str | None = None) -> Response:
    """Classify one line the modem sent (without its CR/LF).

    `echo_of` is the last command written; a line equal to it is its echo.
    """
    text = line.strip()
    upper = text.upper()
    if echo_of is not None and upper == echo_of.strip().upper():
        return Response(Result.ECHO, text)
    if upper in _WORDS:
        return Response(_WORDS[upper], text)
    if upper in _NUMERIC:
        kind, rate = _NUMERIC[upper]
        return Response(kind, text, rate=rate)
    match = _CONNECT.fullmatch(text)
    if match:
        return Response(Result.CONNECT, text, rate=int(match[1]) if match[1] else None)
    match = _CID.fullmatch(text)
    if match:
        return Response(Result.CALLER_ID, text, tag=match[1].upper(), value=match[2].strip())
    if (upper.startswith("RING") and upper[4:5] in ("", " ")) or upper in ("RINGA", "RINGB"):
        return Response(Result.RING, text)  # distinctive rings: "RING 1", "RINGA"
    if _PROGRESS.match(text):
        return Response(Result.PROGRESS, text)
    return Response(Result.OTHER, text)


Phase = Literal["dialing", "answering", "connected"]


def disconnect_mode(result: Result | str, phase: Phase) -> int:
    """The LINEDISCONNECTMODE_* for a call that ended with `result` (rules.md §8.4).

    `result` may also be "TIMEOUT" (no answer within the provider time-out) or "DCD"
    (carrier lost). NO CARRIER before CONNECT is UNAVAIL; after CONNECT it is NORMAL.
    """
    if phase == "connected":
        return LINEDISCONNECTMODE_NORMAL
    try:
        kind = Result(result)
    except ValueError:
        kind = Result.OTHER
    return _FAILURE_MODES.get(kind, LINEDISCONNECTMODE_UNAVAIL)


_FAILURE_MODES = {
    Result.BUSY: LINEDISCONNECTMODE_BUSY,
    Result.NO_ANSWER: LINEDISCONNECTMODE_NOANSWER,
    Result.NO_DIALTONE: LINEDISCONNECTMODE_NODIALTONE,
    Result.BLACKLISTED: LINEDISCONNECTMODE_BLOCKED,
    Result.DELAYED: LINEDISCONNECTMODE_TEMPFAILURE,
}


# --- Events ---


@dataclass(frozen=True)
class InitDone:
    """Every init command answered OK: the modem is idle and reports RING."""


@dataclass(frozen=True)
class InitFailed:
    """An init command failed (`response` is the line, or "TIMEOUT"). A pending
    lineMakeCall/lineAnswer completes with LINEERR_OPERATIONFAILED (rules.md §8.3)."""

    command: str
    response: str


@dataclass(frozen=True)
class Ring:
    """A RING. `ring_count` is 0 for the first ring of a call (LINE_LINEDEVSTATE
    RINGING dwParam3); the first one also means a new call: LINE_NEWCALL + OFFERING."""

    ring_count: int


@dataclass(frozen=True)
class CallerID:
    """A caller-ID block, as LINECALLINFO wants it (see `call_info`).

    ``flags`` is LINECALLPARTYID_ADDRESS and/or _NAME for what is present; when
    neither is, BLOCKED ("P", private), OUTOFAREA ("O", unavailable) or UNKNOWN.
    """

    number: str = ""
    name: str = ""
    flags: int = LINECALLPARTYID_UNKNOWN
    date: str = ""  # MMDD
    time: str = ""  # HHMM
    items: tuple[tuple[str, str], ...] = ()

    def call_info(self) -> dict[str, Any]:
        """LINECALLINFO field values, for ``LineEvents.call_info(..., **values)``."""
        return {"dwCallerIDFlags": self.flags, "CallerID": self.number, "CallerIDName": self.name}


@dataclass(frozen=True)
class RingsStopped:
    """No RING for `ring_timeout` while offering: the caller gave up (IDLE, rules.md §8.4)."""


@dataclass(frozen=True)
class DialTone:
    """``ATD;`` (no destination) answered OK: off-hook with dial tone (DIALTONE)."""


@dataclass(frozen=True)
class Dialing:
    """The first dial command is written: complete lineMakeCall/lineDial with 0, DIALING."""

    partial: bool


@dataclass(frozen=True)
class DialComplete:
    """All digits are out. ``partial=False``: awaiting the result (PROCEEDING).
    ``partial=True``: the modem acknowledged a ';' dial and waits off-hook for more."""

    partial: bool


@dataclass(frozen=True)
class Connected:
    """CONNECT [rate] (LINECONNECTEDMODE_ACTIVE; rate → LINECALLINFO.dwRate). A data
    call is now in data mode. ``voice=True``: a voice dial (';') was acknowledged
    and the modem stays in command mode."""

    rate: int | None
    text: str
    voice: bool = False


@dataclass(frozen=True)
class Disconnected:
    """The call ended without a local hang-up: DISCONNECTED(`mode`). `result` is the
    modem's line, "TIMEOUT" or "DCD"; `phase` says how far the call had got (while
    "answering", lineAnswer completes with LINEERR_OPERATIONFAILED)."""

    mode: int
    result: str
    phase: Phase


@dataclass(frozen=True)
class HungUp:
    """A local hang-up finished (ATH → OK): IDLE, complete lineDrop with 0."""


@dataclass(frozen=True)
class HangupFailed:
    """The modem did not confirm the hang-up; treat the device as failed."""

    reason: str


@dataclass(frozen=True)
class SetDTR:
    """The driver must raise (True) or lower (False) DTR now."""

    on: bool


@dataclass(frozen=True)
class Data:
    """Data-phase bytes from the remote end."""

    data: bytes


@dataclass(frozen=True)
class Unexpected:
    """A line that means nothing in the current state (logged, otherwise ignored)."""

    line: str
    state: str


Event = (
    InitDone
    | InitFailed
    | Ring
    | CallerID
    | RingsStopped
    | DialTone
    | Dialing
    | DialComplete
    | Connected
    | Disconnected
    | HungUp
    | HangupFailed
    | SetDTR
    | Data
    | Unexpected
)


def parse_caller_id(items: list[tuple[str, str]]) -> CallerID:
    """Turn formatted caller-ID items (``("NMBR", "5551234")`` …) into a `CallerID`."""
    values = {tag.upper(): value for tag, value in items}
    raw_number = values.get("NMBR", values.get("DDN_NMBR", ""))
    raw_name = values.get("NAME", "")
    number = "" if raw_number.upper() in ("P", "O") else raw_number
    name = "" if raw_name.upper() in ("P", "O") else raw_name
    flags = (LINECALLPARTYID_ADDRESS if number else 0) | (LINECALLPARTYID_NAME if name else 0)
    if not flags:
        reasons = {raw_number.upper(), raw_name.upper()}
        if "P" in reasons:
            flags = LINECALLPARTYID_BLOCKED
        elif "O" in reasons:
            flags = LINECALLPARTYID_OUTOFAREA
        else:
            flags = LINECALLPARTYID_UNKNOWN
    return CallerID(
        number=number,
        name=name,
        flags=flags,
        date=values.get("DATE", ""),
        time=values.get("TIME", ""),
        items=tuple((tag.upper(), value) for tag, value in items),
    )


# --- Settings ---


#: The longest command-line body (after "AT") the joined set-up may have: V.250 6.1.1
#: requires a DCE to accept at least 40 characters.
MAX_JOINED_BODY = 40


@dataclass(frozen=True)
class ModemSettings:
    """Per-line provider settings (rules.md §8.1), with the time-outs of 8.4 in seconds."""

    reset: str = "ATZ"  # Settings\Reset; "AT&F" also works; "" = no reset
    init: tuple[str, ...] = ("ATE0V1&C1&D2",)  # Init\1..n, each must answer OK
    s7: int | None = 60  # CallSetupFailTimer → "ATS7=<n>"; None leaves S7 alone
    monitor: str = "ATS0=0"  # auto-answer off, so RING reaches us
    caller_id: str = "AT+VCID=1"  # best effort: ERROR is ignored; "" = don't ask
    user_init: str = ""  # extra init string from the line configuration
    # The set-up after the reset as one command line (init, S7, S0, +VCID: one round
    # trip instead of four), with a fall-back to one command each on ERROR.
    one_line: bool = True
    tone: bool = True  # T or P
    blind: bool = False  # X3 (blind) or X4 (wait for dial tone, NO DIALTONE possible)
    max_dial_chunk: int = 40  # longer numbers go out as ';'-terminated chunks
    command_timeout: float = 3.0  # command → OK
    dial_timeout: float = 65.0  # dial → result when s7 is None (else s7 + 5)
    answer_timeout: float = 25.0  # ATA → CONNECT
    ring_timeout: float = 8.0  # no RING for this long: the caller gave up
    guard_time: float = 1.0  # silence before and after "+++"
    dtr_drop_time: float = 0.5  # DTR low for a hang-up

    def setup_commands(self) -> list[tuple[str, bool]]:
        """The provider's own set-up after the reset, one command each: (command, must
        answer OK), in order (init, S7, monitor, caller ID)."""
        cmds = [(c, True) for c in self.init]
        if self.s7 is not None:
            cmds.append((f"ATS7={self.s7}", True))
        if self.monitor:
            cmds.append((self.monitor, True))
        if self.caller_id:
            cmds.append((self.caller_id, False))
        return cmds

    def joined_setup(self) -> str | None:
        """`setup_commands()` as one command line (``ATE0V1&C1&D2S7=60S0=0+VCID=1``), or
        None: `one_line` off, fewer than two commands, a command that must stand alone
        (``Z`` or ``&F``: a modem ignores or resets what follows them), or a line
        longer than V.250's guaranteed command-line length (`MAX_JOINED_BODY`)."""
        cmds = self.setup_commands()
        if not self.one_line or len(cmds) < 2:
            return None
        body = ""
        for command, _required in cmds:
            text = command.strip()
            if text[:2].upper() != "AT" or len(text) == 2:
                return None
            part = text[2:]
            if "Z" in part.upper() or "&F" in part.upper():
                return None
            # V.250 5.2.1: basic commands run straight on, and an extended one may follow
            # them; after an extended command (+VCID=1) the next one needs a ";".
            body += (";" if "+" in body.rpartition(";")[2] else "") + part
        return "AT" + body if len(body) <= MAX_JOINED_BODY else None

    def init_commands(self, *, one_line: bool = True) -> list[tuple[str, bool]]:
        """(command, must answer OK) in the order they are sent: the reset, the set-up
        (as one line when `joined_setup()` gives one and `one_line`), the user's init.
        The joined line must answer OK; when it answers ERROR the dialogue sends the
        set-up again one command at a time (`ModemDialogue`), so a modem without
        +VCID still initialises and a real failure names its command."""
        cmds: list[tuple[str, bool]] = []
        if self.reset:
            cmds.append((self.reset, True))
        joined = self.joined_setup() if one_line else None
        cmds += [(joined, True)] if joined is not None else self.setup_commands()
        if self.user_init.strip():
            text = self.user_init.strip()
            cmds.append((text if text.upper().startswith("AT") else "AT" + text, True))
        return cmds

    def result_timeout(self) -> float:
        """How long a dial may take to produce its result."""
        return self.s7 + 5.0 if self.s7 is not None else self.dial_timeout


class ModemStateError(RuntimeError):
    """The driver asked for something the dialogue cannot do in its current state (or
    the dialogue itself tried a transition its table does not have: a bug either way)."""


# --- The state tables ---
#
# All state *changes* of the dialogue go through the two `transitions` tables below
# (``Machine(auto_transitions=False)``): a trigger that is not in the table for the
# current state raises `ModemStateError`; nothing is silently ignored. What happens on
# each change (commands written, events, timers) is plain code in `ModemDialogue`,
# which names the trigger it fires. docs/modem-provider.md shows both tables as
# diagrams generated by `mermaid()` (``python tools/gen_diagrams.py``); a unit test
# fails when the page and the tables differ.


class State(StrEnum):
    """Where the dialogue is. A member equals its string value, so ``state == "idle"``
    still works, but code here uses the members."""

    CLOSED = "closed"  # no port, or an init failed
    INITIALIZING = "initializing"  # the init commands are going out
    IDLE = "idle"  # command mode, on-hook, listening
    RINGING = "ringing"  # RINGs coming, not answered
    ANSWERING = "answering"  # ATA sent
    DIALTONE_WAIT = "dialtone_wait"  # ATD; sent, waiting for OK
    DIALING_CHUNK = "dialing_chunk"  # a ';' chunk sent, waiting for OK
    DIALING = "dialing"  # last chunk sent, waiting for CONNECT/BUSY/...
    OFFHOOK = "offhook"  # command mode, off-hook (after ATD; or a partial dial)
    VOICE = "voice"  # voice call up, command mode
    CONNECTED = "connected"  # data mode
    DISCONNECTED = "disconnected"  # the call ended on its own; waiting for hang_up()
    HANGING_UP = "hanging_up"  # see HangStep


class HangStep(StrEnum):
    """Where a hang-up is (only meaningful while `State.HANGING_UP`)."""

    NONE = "none"  # no hang-up under way
    ABORT = "abort"  # a bare CR written to stop a dial or an answer
    DTR_LOW = "dtr_low"  # DTR dropped for dtr_drop_time
    DTR_HIGH = "dtr_high"  # DTR raised again, settling before ATH
    ATH_AFTER_DTR = "ath_after_dtr"  # ATH after the DTR drop (no OK: DTR did nothing)
    GUARD = "guard"  # silence before "+++"
    ESCAPE = "escape"  # "+++" written, waiting for OK
    ATH = "ath"  # the ATH that confirms the hang-up


(
    CLOSED,
    INITIALIZING,
    IDLE,
    RINGING,
    ANSWERING,
    DIALTONE_WAIT,
    DIALING_CHUNK,
    DIALING,
    OFFHOOK,
    VOICE,
    CONNECTED,
    DISCONNECTED,
    HANGING_UP,
) = State

Trigger = Literal[
    "close",
    "initialize",
    "init_done",
    "init_failed",
    "ring",
    "rings_stopped",
    "answer",
    "off_hook",
    "dial_tone",
    "dial",
    "dial_part",
    "next_part",
    "last_part",
    "partial_ok",
    "voice_ok",
    "connect",
    "call_ended",
    "hang_up",
    "hung_up",
    "hang_up_failed",
]

_CALL_UP = [ANSWERING, DIALTONE_WAIT, DIALING_CHUNK, DIALING, VOICE, CONNECTED]

#: trigger, source state(s) ("*": any), destination (None: stays, an internal transition)
TRANSITIONS: tuple[tuple[Trigger, State | list[State] | Literal["*"], State | None], ...] = (
    ("close", "*", CLOSED),  # the port is gone or closed: from anywhere
    ("initialize", [CLOSED, IDLE], INITIALIZING),  # request
    ("init_done", INITIALIZING, IDLE),  # every init command answered OK
    ("init_failed", INITIALIZING, CLOSED),  # ERROR or no answer to a required command
    ("ring", IDLE, RINGING),  # the first RING
    ("rings_stopped", RINGING, IDLE),  # no RING for ring_timeout
    ("answer", [RINGING, IDLE], ANSWERING),  # request: ATA
    ("off_hook", IDLE, DIALTONE_WAIT),  # request: dial(None), ATD;
    ("dial_tone", DIALTONE_WAIT, OFFHOOK),  # OK to ATD;
    ("dial", [IDLE, OFFHOOK], DIALING),  # request: a number in one command
    ("dial_part", [IDLE, OFFHOOK], DIALING_CHUNK),  # request: first ';' chunk
    ("next_part", DIALING_CHUNK, DIALING_CHUNK),  # OK to a chunk, more ';' chunks
    ("last_part", DIALING_CHUNK, DIALING),  # OK to a chunk, the last one goes out
    ("partial_ok", DIALING_CHUNK, OFFHOOK),  # OK to the last ';': waits for more digits
    ("voice_ok", DIALING_CHUNK, VOICE),  # OK to a voice dial's ';'
    ("connect", [ANSWERING, DIALING], CONNECTED),  # CONNECT
    ("call_ended", _CALL_UP, DISCONNECTED),  # a failure result, a time-out, NO CARRIER, DCD
    ("hang_up", [RINGING, OFFHOOK, DISCONNECTED, *_CALL_UP], HANGING_UP),  # request
    ("hang_up", IDLE, None),  # request: nothing to hang up, HungUp at once
    ("hung_up", HANGING_UP, IDLE),  # ATH answered OK
    ("hang_up_failed", HANGING_UP, DISCONNECTED),  # ATH answered ERROR or nothing
)

HangTrigger = Literal[
    "abort",
    "drop_dtr",
    "raise_dtr",
    "ath_after_dtr",
    "wait_guard",
    "escape",
    "send_ath",
    "done",
]

#: The hang-up steps: trigger, source step(s) ("*": any), destination.
HANG_TRANSITIONS: tuple[
    tuple[HangTrigger, HangStep | list[HangStep] | Literal["*"], HangStep], ...
] = (
    # While dialling or answering: a bare CR, waiting for any result (command time-out).
    ("abort", HangStep.NONE, HangStep.ABORT),
    # In data mode, or when the CR got no answer, with DTR: drop it for dtr_drop_time,
    # raise it, ATH (command time-out).
    ("drop_dtr", [HangStep.NONE, HangStep.ABORT], HangStep.DTR_LOW),
    ("raise_dtr", HangStep.DTR_LOW, HangStep.DTR_HIGH),
    ("ath_after_dtr", HangStep.DTR_HIGH, HangStep.ATH_AFTER_DTR),
    # Without DTR, or when the ATH after the DTR drop had no OK: +++ with guard times
    # (guard time of silence, +++, a guard time plus the command time-out for OK).
    ("wait_guard", [HangStep.NONE, HangStep.ABORT, HangStep.ATH_AFTER_DTR], HangStep.GUARD),
    ("escape", HangStep.GUARD, HangStep.ESCAPE),
    # ATH: at once (on-hook calls), after a CR that was answered, or after +++ (OK or
    # time-out).
    ("send_ath", [HangStep.NONE, HangStep.ABORT, HangStep.ESCAPE], HangStep.ATH),
    ("done", "*", HangStep.NONE),  # the hang-up ended (HungUp, HangupFailed, close)
)


def _machine(states: type[StrEnum], table: tuple[tuple[str, Any, Any], ...]) -> Machine:
    """A model-less `transitions` Machine over `table`; every `_Table` shares it."""
    return Machine(
        model=None,
        states=list(states),
        transitions=[{"trigger": t, "source": src, "dest": dest} for t, src, dest in table],
        initial=next(iter(states)),
        auto_transitions=False,
    )


def _moves(machine: Machine, states: type[StrEnum]) -> dict[str, dict[Any, Any]]:
    """What `machine` does, read back from it: trigger -> {source member: destination
    member, or None for an internal transition}. The Machine stays the one definition
    of the table; firing through this dict does exactly what ``Event.trigger`` does on
    a model-less Machine without callbacks or conditions (sets the model's state), at a
    dict lookup instead of ~12 us per trigger (docs/benchmarks.md, the TAPI call cycle).
    `tests/unit/test_modem_at.py` checks the two agree for every state and trigger."""
    moves: dict[str, dict[Any, Any]] = {}
    for name, event in machine.events.items():
        by_source = moves.setdefault(name, {})
        for source, transitions in event.transitions.items():
            (transition,) = transitions  # no conditions: one transition per source
            dest = transition.dest
            by_source[states[source]] = None if dest is None else states[dest]
    return moves


class _Table:
    """One model of a shared `transitions` Machine: `state` is the member it is in.
    `fire()` refuses (loudly) a trigger the table lacks. (One Machine per table, not
    per dialogue: building one costs ~0.5 ms. A trigger runs through `_moves`, the
    Machine's transitions read back into a dict: a lookup, not ~12 us of
    ``Event.trigger``.)"""

    def __init__(self, moves: dict[str, dict[Any, Any]], initial: StrEnum) -> None:
        self._moves = moves
        self.state: Any = initial

    def allows(self, trigger: str) -> bool:
        """True if `trigger` is in the table for the current state."""
        return self.state in self._moves[trigger]

    def fire(self, trigger: str, what: str | None = None) -> None:
        """Run `trigger`; `ModemStateError` ("`what`: not possible while …") if the
        table has no such transition from the current state."""
        by_source = self._moves[trigger]
        state = self.state
        if state not in by_source:
            raise ModemStateError(f"{what or trigger}: not possible while {state}")
        dest = by_source[state]
        if dest is not None:
            self.state = dest


_STATE_MACHINE = _machine(State, TRANSITIONS)
_STEP_MACHINE = _machine(HangStep, HANG_TRANSITIONS)
_STATE_MOVES = _moves(_STATE_MACHINE, State)
_STEP_MOVES = _moves(_STEP_MACHINE, HangStep)


def _mermaid(table: tuple[tuple[str, Any, Any], ...], initial: StrEnum) -> str:
    lines = ["stateDiagram-v2", "  direction LR"]
    if any(src == "*" for _, src, _ in table):
        lines.append('  state "any" as any')
    lines.append(f"  [*] --> {initial}")
    for trigger, sources, dest in table:
        for source in [sources] if isinstance(sources, str) else sources:
            name = "any" if source == "*" else source
            lines.append(f"  {name} --> {source if dest is None else dest}: {trigger}")
    return "\n".join(lines) + "\n"


def mermaid() -> str:
    """The mermaid diagram of `TRANSITIONS` (``any``: from every state; an arrow
    back to the same state with no change of state is an internal transition)."""
    return _mermaid(TRANSITIONS, CLOSED)


def mermaid_steps() -> str:
    """The mermaid diagram of `HANG_TRANSITIONS`."""
    return _mermaid(HANG_TRANSITIONS, HangStep.NONE)


DOC_BEGIN = "<!-- begin generated by tools/gen_diagrams.py from tapi/providers/modem_at.py -->"
DOC_END = "<!-- end generated -->"


def diagram_section() -> str:
    """The generated part of docs/modem-provider.md, between DOC_BEGIN and DOC_END."""
    return (
        f"{DOC_BEGIN}\n"
        "`State` (`TRANSITIONS`), the dialogue:\n\n"
        "```mermaid\n" + mermaid() + "```\n\n"
        "`HangStep` (`HANG_TRANSITIONS`), the steps of a hang-up while `hanging_up`:\n\n"
        "```mermaid\n" + mermaid_steps() + "```\n"
        f"{DOC_END}"
    )


# The dialogue's timers (their actions: ModemDialogue._expiry).
TimerName = Literal["cid", "command", "holdback", "ring", "step"]


@dataclass
class _Dial:
    chunks: list[str]
    partial: bool
    voice: bool
    started: bool = False


@dataclass
class _Timers:
    due: dict[TimerName, float] = field(default_factory=dict)

    def next(self) -> float | None:
        return min(self.due.values()) if self.due else None


class ModemDialogue:
    """The AT dialogue for one modem line (see the module docstring)."""

    def __init__(self, settings: ModemSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._states = _Table(_STATE_MOVES, CLOSED)
        self._steps = _Table(_STEP_MOVES, HangStep.NONE)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._timers = _Timers()
        # What each timer does when it runs out (every TimerName has one).
        self._expiry: dict[TimerName, Callable[[], None]] = {
            "holdback": self._expire_holdback,
            "cid": self._expire_cid,
            "ring": self._expire_ring,
            "step": self._expire_step,
            "command": self._expire_command,
        }
        # Who reads a response line in each state (every State has one).
        self._line_handlers: dict[State, Callable[[Response], None]] = {
            CLOSED: self._line_closed,
            INITIALIZING: self._line_initializing,
            IDLE: self._line_idle,
            RINGING: self._line_ringing,
            ANSWERING: self._line_answering,
            DIALTONE_WAIT: self._line_dialtone_wait,
            DIALING_CHUNK: self._line_dialing_chunk,
            DIALING: self._line_dialing,
            OFFHOOK: self._line_offhook,
            VOICE: self._line_voice,
            CONNECTED: self._line_connected,
            DISCONNECTED: self._line_disconnected,
            HANGING_UP: self._line_hanging_up,
        }
        self._line = bytearray()
        self._after_cr = False
        self._skip_lf = False  # the LF after a CONNECT<CR> that switched to data mode
        self._held = b""  # data-mode bytes that may start NO_CARRIER_PATTERN
        self._last_command: str | None = None
        self._init_queue: list[tuple[str, bool]] = []
        self._init_retried = False  # one reset retry per initialize()
        # The set-up goes out as one command line until the modem refuses it once; then
        # one command at a time for the rest of this dialogue.
        self._one_line = True
        self._current: tuple[str, bool] | None = None
        self._dial: _Dial | None = None
        self._ring_count = 0
        self._cid_items: list[tuple[str, str]] = []
        self._maybe_busy = False  # the modem may still be dialling/answering
        self._hang_dtr = True  # this hang-up may drop DTR
        self._last_write = float("-inf")

    # -- state -----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current `State` (moved only by `_fire`, through `TRANSITIONS`)."""
        state: State = self._states.state
        return state

    @property
    def hang_step(self) -> HangStep:
        """The current `HangStep` (moved only by `_step`, through `HANG_TRANSITIONS`)."""
        step: HangStep = self._steps.state
        return step

    def _fire(self, trigger: Trigger, what: str | None = None) -> None:
        self._states.fire(trigger, what)

    def _step(self, trigger: HangTrigger) -> None:
        self._steps.fire(trigger)

    # -- outputs ---------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Bytes to write to the modem now (and forget)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        """The oldest unread event, or None."""
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        """Every unread event, oldest first."""
        out = list(self._events)
        self._events.clear()
        return out

    def next_deadline(self) -> float | None:
        """When `tick()` must be called next (clock time), or None."""
        return self._timers.next()

    # -- inputs: time and signals ----------------------------------------------------

    def tick(self) -> None:
        """Fire every timer that is due."""
        while True:
            now = self.clock.now()
            due = [(when, name) for name, when in self._timers.due.items() if when <= now]
            if not due:
                return
            _, name = min(due)
            del self._timers.due[name]
            self._expiry[name]()

    def note_dte_write(self) -> None:
        """The driver wrote application data to the modem (for the +++ guard time)."""
        self._last_write = self.clock.now()

    def carrier_lost(self) -> None:
        """DCD dropped (ports with DCD): a connected call has ended remotely."""
        if self.state == CONNECTED:
            self._flush_held()
            self._call_ended("DCD", "connected")

    def close(self) -> None:
        """The port is gone or closed: forget everything in progress."""
        self._fire("close")
        self._step("done")
        self._timers.due.clear()
        self._line.clear()
        self._held = b""
        self._dial = None
        self._current = None
        self._init_queue = []

    # -- inputs: requests ------------------------------------------------------------

    def initialize(self) -> None:
        """Reset and configure the modem; ends with InitDone or InitFailed."""
        self._fire("initialize")
        self._init_retried = False
        self._init_queue = self.settings.init_commands(one_line=self._one_line)
        self._next_init()

    def dial(self, number: str | None, *, partial: bool = False, voice: bool = False) -> None:
        """Dial `number` (lineMakeCall from idle, lineDial from off-hook).

        None or "" from idle goes off-hook for dial tone (``ATD;``). `partial` keeps
        the modem off-hook in command mode for more digits (';'); `voice` dials with
        ';' too and reports Connected(voice=True) on OK.
        """
        if not self._states.allows("dial"):
            raise ModemStateError(f"dial: not possible while {self.state}")
        s = self.settings
        method = "T" if s.tone else "P"
        first = "AT" + ("X3" if s.blind else "X4") + "D" if self.state == IDLE else "ATD"
        if not number:
            if self.state == OFFHOOK:
                raise ModemStateError("dial: no digits for a call that is already off-hook")
            self._fire("off_hook")
            self._send(first + ";", s.command_timeout)
            return
        size = max(1, s.max_dial_chunk)
        parts = [number[i : i + size] for i in range(0, len(number), size)]
        chunks = [
            (first if i == 0 else "ATD") + method + part + (";" if i < len(parts) - 1 else "")
            for i, part in enumerate(parts)
        ]
        if partial or voice:
            chunks[-1] += ";"
        self._dial = _Dial(chunks, partial, voice)
        self._next_chunk()

    def answer(self) -> None:
        """Answer a ringing call with ATA; ends with Connected or Disconnected."""
        if not self._states.allows("answer"):
            raise ModemStateError(f"answer: not possible while {self.state}")
        self._flush_caller_id()
        self._timers.due.pop("ring", None)
        self._fire("answer")
        self._maybe_busy = True
        self._send("ATA", self.settings.answer_timeout)

    def hang_up(self, *, dtr: bool = True) -> None:
        """Hang up whatever is going on; ends with HungUp or HangupFailed.

        In data mode DTR is dropped for ``dtr_drop_time`` (``dtr=False``: ``+++`` with
        guard times instead), then ``ATH``. While the modem may still be dialling or
        answering, a bare CR aborts it first; a modem may ignore that CR, so when no
        result comes within the command time-out the hang-up escalates: DTR drop and
        ATH (with `dtr`), then, if that ATH gets no OK either, ``+++`` with guard times
        and ATH. Each step starts only when the one before it failed (`HANG_TRANSITIONS`).
        """
        if not self._states.allows("hang_up"):
            raise ModemStateError(f"hang_up: not possible while {self.state}")
        self._timers.due.clear()
        self._dial = None
        self._cid_items.clear()
        was = self.state
        self._hang_dtr = dtr
        self._fire("hang_up")
        if was == IDLE:
            self._events.append(HungUp())
            return
        if was == CONNECTED:
            self._flush_held()
            self._drop_dtr_or_escape()
        elif was in (ANSWERING, DIALING, DIALING_CHUNK, DIALTONE_WAIT) or self._maybe_busy:
            self._step("abort")
            self._send("", self.settings.command_timeout)
        else:
            self._send_ath()

    # -- inputs: bytes ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the modem."""
        if self.state == CONNECTED:
            self._receive_data_mode(data)
            return
        for i, byte in enumerate(data):
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = byte == 0x0D
                text = self._line.decode("latin-1")
                self._line.clear()
                if text.strip():
                    self._on_line(text)
                if self._data_mode():
                    self._skip_lf = self._after_cr
                    self._after_cr = False
                    self._receive_data_mode(data[i + 1 :])
                    return
            else:
                self._after_cr = False
                self._line.append(byte)
                if len(self._line) >= _MAX_LINE:
                    text = self._line.decode("latin-1")
                    self._line.clear()
                    self._on_line(text)

    # -- data mode -------------------------------------------------------------------

    def _data_mode(self) -> bool:
        # A method, so that mypy does not narrow `state` across _on_line().
        return self.state == CONNECTED

    def _receive_data_mode(self, data: bytes) -> None:
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        buf = self._held + data
        self._held = b""
        self._timers.due.pop("holdback", None)
        at = buf.find(NO_CARRIER_PATTERN)
        if at >= 0:
            if at:
                self._events.append(Data(buf[:at]))
            self._call_ended(Result.NO_CARRIER.value, "connected")
            self._line.clear()
            self._after_cr = False
            self.receive_data(buf[at + 2 :])
            return
        keep = 0
        for n in range(min(len(NO_CARRIER_PATTERN) - 1, len(buf)), 0, -1):
            if buf.endswith(NO_CARRIER_PATTERN[:n]):
                keep = n
                break
        if len(buf) > keep:
            self._events.append(Data(buf[: len(buf) - keep]))
        if keep:
            self._held = buf[len(buf) - keep :]
            self._timers.due["holdback"] = self.clock.now() + HOLDBACK

    def _flush_held(self) -> None:
        if self._held:
            self._events.append(Data(self._held))
            self._held = b""
        self._timers.due.pop("holdback", None)

    def _expire_holdback(self) -> None:
        self._flush_held()

    # -- command mode ----------------------------------------------------------------

    def _on_line(self, text: str) -> None:
        resp = classify(text, self._last_command)
        if resp.kind == Result.ECHO:
            return
        if resp.kind == Result.CALLER_ID and self.state in (IDLE, RINGING):
            self._cid_items.append((resp.tag, resp.value))
            self._timers.due["cid"] = self.clock.now() + CALLER_ID_QUIET
            return
        if self._cid_items:
            self._flush_caller_id()
        self._line_handlers[self.state](resp)

    def _unexpected(self, resp: Response) -> None:
        self._events.append(Unexpected(resp.text, self.state))

    def _line_closed(self, resp: Response) -> None:
        self._unexpected(resp)

    def _line_initializing(self, resp: Response) -> None:
        if self._current is None:
            self._unexpected(resp)
            return
        command, required = self._current
        if resp.kind == Result.OK or (resp.kind == Result.ERROR and not required):
            self._timers.due.pop("command", None)
            self._next_init()
        elif resp.kind == Result.ERROR and self._one_line and command == self._joined():
            # The joined set-up refused (a modem without +VCID, or one that wants its
            # commands one per line): send them one by one, now and from now on.
            self._timers.due.pop("command", None)
            self._one_line = False
            self._init_queue[:0] = self.settings.setup_commands()
            self._next_init()
        elif resp.kind == Result.ERROR:
            self._init_failed(command, resp.text)
        else:
            self._unexpected(resp)

    def _line_idle(self, resp: Response) -> None:
        if resp.kind == Result.RING:
            self._fire("ring")
            self._ring_count = 0
            self._line_ringing(resp)
        else:
            self._unexpected(resp)

    def _line_ringing(self, resp: Response) -> None:
        if resp.kind == Result.RING:
            self._events.append(Ring(self._ring_count))
            self._ring_count += 1
            self._timers.due["ring"] = self.clock.now() + self.settings.ring_timeout
        else:
            self._unexpected(resp)

    def _line_answering(self, resp: Response) -> None:
        if resp.kind == Result.CONNECT:
            self._connected(resp)
        elif resp.kind in _FINAL_FAILURES:
            self._maybe_busy = False
            self._call_ended(resp.text, "answering", resp.kind)
        elif resp.kind not in (Result.RING, Result.PROGRESS):
            self._unexpected(resp)

    def _line_dialtone_wait(self, resp: Response) -> None:
        if resp.kind == Result.OK:
            self._timers.due.pop("command", None)
            self._fire("dial_tone")
            self._events.append(DialTone())
        elif resp.kind in _FINAL_FAILURES:
            self._call_ended(resp.text, "dialing", resp.kind)
        else:
            self._unexpected(resp)

    def _line_dialing_chunk(self, resp: Response) -> None:
        if resp.kind == Result.OK:
            self._dial_acknowledged(resp)
        elif resp.kind in _FINAL_FAILURES:
            self._call_ended(resp.text, "dialing", resp.kind)
        else:
            self._unexpected(resp)

    def _line_dialing(self, resp: Response) -> None:
        if resp.kind == Result.CONNECT:
            self._connected(resp)
        elif resp.kind in _FINAL_FAILURES:
            self._maybe_busy = False
            self._call_ended(resp.text, "dialing", resp.kind)
        elif resp.kind not in (Result.PROGRESS, Result.RING):
            self._unexpected(resp)

    def _line_offhook(self, resp: Response) -> None:
        self._unexpected(resp)

    def _line_voice(self, resp: Response) -> None:
        if resp.kind == Result.NO_CARRIER:
            self._call_ended(resp.text, "connected")
        else:
            self._unexpected(resp)

    def _line_connected(self, resp: Response) -> None:
        self._unexpected(resp)  # not reached: data mode bypasses line parsing

    def _line_disconnected(self, resp: Response) -> None:
        if resp.kind not in _FINAL_FAILURES and resp.kind != Result.OK:
            self._unexpected(resp)

    def _line_hanging_up(self, resp: Response) -> None:
        step = self.hang_step
        if step == HangStep.ABORT:
            if resp.kind == Result.OK or resp.kind in _FINAL_FAILURES:
                self._timers.due.pop("command", None)
                self._send_ath()
        elif step == HangStep.ESCAPE:
            if resp.kind == Result.OK:
                self._timers.due.pop("command", None)
                self._send_ath()
        elif step in (HangStep.ATH, HangStep.ATH_AFTER_DTR):
            if resp.kind == Result.OK:
                self._timers.due.pop("command", None)
                self._maybe_busy = False
                self._fire("hung_up")
                self._step("done")
                self._events.append(HungUp())
            elif resp.kind == Result.ERROR:
                self._timers.due.pop("command", None)
                self._hang_failed("ATH answered ERROR")

    # -- steps -----------------------------------------------------------------------

    def _send(self, command: str, timeout: float) -> None:
        self._out += command.encode("latin-1") + b"\r"
        self._last_command = command or None
        self._last_write = self.clock.now()
        self._timers.due["command"] = self.clock.now() + timeout

    def _next_init(self) -> None:
        if not self._init_queue:
            self._current = None
            self._fire("init_done")
            self._events.append(InitDone())
            return
        self._current = self._init_queue.pop(0)
        self._send(self._current[0], self.settings.command_timeout)

    def _joined(self) -> str | None:
        return self.settings.joined_setup()

    def _init_failed(self, command: str, response: str) -> None:
        self._timers.due.clear()
        self._current = None
        self._init_queue = []
        self._fire("init_failed")
        self._events.append(InitFailed(command, response))

    def _next_chunk(self) -> None:
        dial = self._dial
        assert dial is not None and dial.chunks
        command = dial.chunks.pop(0)
        last = not dial.chunks
        final = last and not (dial.partial or dial.voice)
        # Every chunk may carry pauses (',') and a dial-tone wait: give each the
        # whole call-setup time rather than the short command time-out.
        if self.state == DIALING_CHUNK:
            self._fire("last_part" if final else "next_part")
        else:
            self._fire("dial" if final else "dial_part")
        self._maybe_busy = True
        self._send(command, self.settings.result_timeout())
        if not dial.started:
            dial.started = True
            self._events.append(Dialing(dial.partial))
        if final:
            self._dial = None
            self._events.append(DialComplete(False))

    def _dial_acknowledged(self, resp: Response) -> None:
        """OK to a ';' chunk: send the next one, or finish a partial or voice dial."""
        self._timers.due.pop("command", None)
        dial = self._dial
        if dial is not None and dial.chunks:
            self._next_chunk()
            return
        self._dial = None
        self._maybe_busy = False
        if dial is not None and dial.voice and not dial.partial:
            self._fire("voice_ok")
            self._events.append(DialComplete(False))
            self._events.append(Connected(None, resp.text, voice=True))
        else:
            self._fire("partial_ok")
            self._events.append(DialComplete(True))

    def _connected(self, resp: Response) -> None:
        self._timers.due.pop("command", None)
        self._maybe_busy = False
        self._dial = None
        self._fire("connect")
        self._events.append(Connected(resp.rate, resp.text))

    def _call_ended(self, result: str, phase: Phase, kind: Result | None = None) -> None:
        self._timers.due.pop("command", None)
        self._dial = None
        self._fire("call_ended")
        mode = disconnect_mode(kind if kind is not None else result, phase)
        self._events.append(Disconnected(mode, result, phase))

    def _flush_caller_id(self) -> None:
        self._timers.due.pop("cid", None)
        if self._cid_items:
            self._events.append(parse_caller_id(self._cid_items))
            self._cid_items = []

    def _drop_dtr_or_escape(self) -> None:
        if self._hang_dtr:
            self._step("drop_dtr")
            self._events.append(SetDTR(False))
            self._timers.due["step"] = self.clock.now() + self.settings.dtr_drop_time
        else:
            self._start_escape()

    def _start_escape(self) -> None:
        self._step("wait_guard")
        quiet_since = max(self._last_write, self.clock.now())
        self._timers.due["step"] = quiet_since + self.settings.guard_time

    def _send_ath(self) -> None:
        self._step("send_ath")
        self._send("ATH", self.settings.command_timeout)

    def _hang_failed(self, reason: str) -> None:
        self._timers.due.clear()
        self._fire("hang_up_failed")
        self._step("done")
        self._events.append(HangupFailed(reason))

    # -- timers ----------------------------------------------------------------------

    def _expire_cid(self) -> None:
        self._flush_caller_id()

    def _expire_ring(self) -> None:
        if self.state == RINGING:  # (always, as the ring timer lives only while ringing)
            self._flush_caller_id()
            self._fire("rings_stopped")
            self._ring_count = 0
            self._events.append(RingsStopped())

    def _expire_step(self) -> None:
        step = self.hang_step
        if step == HangStep.DTR_LOW:
            self._events.append(SetDTR(True))
            self._step("raise_dtr")
            self._timers.due["step"] = self.clock.now() + DTR_SETTLE
        elif step == HangStep.DTR_HIGH:
            self._send_ath_after_dtr()
        elif step == HangStep.GUARD:
            self._out += b"+++"
            self._last_command = "+++"
            self._last_write = self.clock.now()
            self._step("escape")
            self._timers.due["command"] = (
                self.clock.now() + self.settings.guard_time + self.settings.command_timeout
            )

    def _send_ath_after_dtr(self) -> None:
        # If DTR did nothing (&D0, or no DTR line), ATH goes to the far end as data and
        # no OK comes back: the command time-out then falls back to the escape sequence.
        self._step("ath_after_dtr")
        self._send("ATH", self.settings.command_timeout)

    def _expire_command(self) -> None:
        state = self.state
        if state == INITIALIZING and self._current is not None:
            if not self._init_retried:
                # One reset retry, as Unimodem does: an answer can be lost when a port is
                # closed and reopened while the modem still answers the last session
                # (docs/benchmarks.md, "the lost ATZ"). A second silence fails the init.
                self._init_retried = True
                self._init_queue = self.settings.init_commands(one_line=self._one_line)
                self._next_init()
                return
            self._init_failed(self._current[0], "TIMEOUT")
        elif state == ANSWERING:
            self._call_ended("TIMEOUT", "answering")
            self._maybe_busy = True
        elif state in (DIALING, DIALING_CHUNK, DIALTONE_WAIT):
            self._call_ended("TIMEOUT", "dialing")
            self._maybe_busy = True
        elif state == HANGING_UP:
            step = self.hang_step
            if step == HangStep.ATH_AFTER_DTR:
                self._start_escape()
            elif step == HangStep.ABORT:
                self._drop_dtr_or_escape()  # the CR was ignored: escalate
            elif step == HangStep.ESCAPE:
                self._send_ath()
            else:
                self._hang_failed(f"no answer to {self._last_command or 'ATH'}")
