"""tapi.providers.modem_at: the sans-I/O AT dialogue, driven byte for byte.

The scripted tests play the modem by hand; the last tests run the dialogue against
the emulator's engine on virtual time (tests may import emulator; tapi may not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.core.engine import ModemEngine
from emulator.network.sim import Sim
from linelab.clock import ManualClock
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
from tapi.providers import modem_at
from tapi.providers.modem_at import (
    RESPONSE_STATE,
    CallerID,
    Connected,
    Data,
    DialComplete,
    Dialing,
    DialTone,
    Disconnected,
    Event,
    HangStep,
    HangupFailed,
    HungUp,
    InitDone,
    InitFailed,
    ModemDialogue,
    ModemSettings,
    ModemStateError,
    Result,
    Ring,
    RingsStopped,
    SetDTR,
    State,
    TimerName,
    Unexpected,
    classify,
    disconnect_mode,
    parse_caller_id,
)

OK = b"\r\nOK\r\n"


class Script:
    """A dialogue plus the hand-played modem on a virtual clock."""

    def __init__(self, **settings: object) -> None:
        self.clock = ManualClock()
        self.d = ModemDialogue(ModemSettings(**settings), self.clock)  # type: ignore[arg-type]

    def sent(self) -> bytes:
        return self.d.data_to_send()

    def modem(self, data: bytes) -> list[Event]:
        self.d.receive_data(data)
        return self.d.events()

    def advance(self, seconds: float) -> list[Event]:
        """Move the clock, firing the dialogue's timers on time."""
        end = self.clock.now() + seconds
        while (due := self.d.next_deadline()) is not None and due <= end:
            self.clock.advance_to(due)
            self.d.tick()
        self.clock.advance_to(end)
        return self.d.events()


def idle(**settings: object) -> Script:
    """A dialogue that has been initialised (minimal init: no reset, no caller ID)."""
    s = Script(reset="", init=("ATE0V1",), s7=None, monitor="", caller_id="", **settings)
    s.d.initialize()
    assert s.sent() == b"ATE0V1\r"
    assert s.modem(OK) == [InitDone()]
    return s


def connected(**settings: object) -> Script:
    s = idle(**settings)
    s.d.dial("5551234")
    s.sent()
    assert s.modem(b"\r\nCONNECT 33600\r\n") == [
        Dialing(False),
        DialComplete(False),
        Connected(33600, "CONNECT 33600"),
    ]
    return s


# --- initialisation ---


def test_init_sequence_byte_for_byte() -> None:
    s = Script(user_init="M0", one_line=False)
    s.d.initialize()
    assert s.sent() == b"ATZ\r"
    assert s.modem(b"ATZ\r\r\nOK\r\n") == []  # echo still on after a reset: ignored
    assert s.sent() == b"ATE0V1&C1&D2\r"
    assert s.modem(b"ATE0V1&C1&D2\r\r\nOK\r\n") == []
    assert s.sent() == b"ATS7=60\r"
    assert s.modem(OK) == []
    assert s.sent() == b"ATS0=0\r"
    assert s.modem(OK) == []
    assert s.sent() == b"AT+VCID=1\r"
    assert s.modem(b"\r\nERROR\r\n") == []  # caller ID is best effort
    assert s.sent() == b"ATM0\r"
    assert s.modem(OK) == [InitDone()]
    assert s.d.state == "idle"


def test_the_set_up_goes_out_as_one_command_line_after_the_reset() -> None:
    s = Script(user_init="M0")
    s.d.initialize()
    assert s.sent() == b"ATZ\r"
    assert s.modem(b"ATZ\r\r\nOK\r\n") == []
    assert s.sent() == b"ATE0V1&C1&D2S7=60S0=0+VCID=1\r"
    assert s.modem(b"ATE0V1&C1&D2S7=60S0=0+VCID=1\r\r\nOK\r\n") == []  # its echo too
    assert s.sent() == b"ATM0\r"  # the user's init stays a line of its own
    assert s.modem(OK) == [InitDone()]
    assert s.d.state == "idle"


def test_a_refused_one_line_set_up_is_sent_one_command_at_a_time_from_then_on() -> None:
    """A modem without +VCID (or without extended syntax) answers the joined line with
    ERROR: the set-up goes again command by command, caller ID stays best effort, and
    the next init does not try the joined line again."""
    s = Script()
    s.d.initialize()
    assert s.sent() == b"ATZ\r"
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2S7=60S0=0+VCID=1\r"
    assert s.modem(b"\r\nERROR\r\n") == []
    for command in (b"ATE0V1&C1&D2\r", b"ATS7=60\r", b"ATS0=0\r"):
        assert s.sent() == command
        assert s.modem(OK) == []
    assert s.sent() == b"AT+VCID=1\r"
    assert s.modem(b"\r\nERROR\r\n") == [InitDone()]
    s.d.initialize()  # after the next call, say
    assert s.sent() == b"ATZ\r"
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2\r"


def test_a_required_command_that_fails_alone_names_itself() -> None:
    s = Script()
    s.d.initialize()
    s.sent()
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2S7=60S0=0+VCID=1\r"
    s.modem(b"\r\nERROR\r\n")
    assert s.sent() == b"ATE0V1&C1&D2\r"
    s.modem(OK)
    assert s.sent() == b"ATS7=60\r"
    assert s.modem(b"\r\nERROR\r\n") == [InitFailed("ATS7=60", "ERROR")]
    assert s.d.state == "closed"


def test_the_reset_retry_after_a_silent_joined_line_sends_it_again() -> None:
    s = Script()
    s.d.initialize()
    s.sent()
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2S7=60S0=0+VCID=1\r"
    assert s.advance(3.1) == []  # no answer: one reset retry, the same plan
    assert s.sent() == b"ATZ\r"
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2S7=60S0=0+VCID=1\r"
    assert s.advance(3.1) == [InitFailed("ATE0V1&C1&D2S7=60S0=0+VCID=1", "TIMEOUT")]


@pytest.mark.parametrize(
    ("settings", "joined"),
    [
        ({}, "ATE0V1&C1&D2S7=60S0=0+VCID=1"),
        ({"caller_id": ""}, "ATE0V1&C1&D2S7=60S0=0"),
        ({"s7": None, "monitor": ""}, "ATE0V1&C1&D2+VCID=1"),
        ({"init": ("AT+FCLASS=0", "ATE0")}, "AT+FCLASS=0;E0S7=60S0=0+VCID=1"),
        ({"one_line": False}, None),
        ({"init": ("ATZ0E0",)}, None),  # Z: the modem ignores the rest of the line
        ({"init": ("AT&FE0",)}, None),  # &F: a reset in the middle of the line
        ({"init": ("ATE0V1&C1&D2&K3&Q5\\N3%C1W2M1",)}, None),  # over 40 characters
        ({"s7": None, "monitor": "", "caller_id": ""}, None),  # one command: nothing to join
    ],
)
def test_which_set_ups_are_joined(settings: dict[str, object], joined: str | None) -> None:
    assert ModemSettings(**settings).joined_setup() == joined  # type: ignore[arg-type]


def test_init_error_fails_with_the_command() -> None:
    s = Script(reset="AT&F", one_line=False)
    s.d.initialize()
    assert s.sent() == b"AT&F\r"
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2\r"
    assert s.modem(b"\r\nERROR\r\n") == [InitFailed("ATE0V1&C1&D2", "ERROR")]
    assert s.d.state == "closed"
    s.d.initialize()  # a retry is allowed
    assert s.sent() == b"AT&F\r"


def test_init_timeout_retries_the_reset_once_then_fails() -> None:
    s = Script()
    s.d.initialize()
    assert s.sent() == b"ATZ\r"
    assert s.d.next_deadline() == 3.0
    assert s.advance(2.9) == []
    assert s.advance(0.2) == []  # one reset retry, as Unimodem does
    assert s.sent() == b"ATZ\r"
    assert s.d.next_deadline() == 6.0  # the retry has its own command time-out
    assert s.advance(2.8) == []
    assert s.advance(0.2) == [InitFailed("ATZ", "TIMEOUT")]
    assert s.d.state == "closed"


def test_a_reset_answered_on_the_retry_initialises() -> None:
    """The lost-ATZ case of docs/benchmarks.md: the first answer never comes."""
    s = Script(one_line=False)
    s.d.initialize()
    assert s.sent() == b"ATZ\r"
    assert s.advance(3.1) == []
    assert s.sent() == b"ATZ\r"
    s.modem(OK)
    assert s.sent() == b"ATE0V1&C1&D2\r"


def test_numeric_responses_are_understood_during_reset() -> None:
    s = Script(one_line=False)
    s.d.initialize()
    s.sent()
    assert s.modem(b"0\r") == []
    assert s.sent() == b"ATE0V1&C1&D2\r"


# --- incoming calls ---


def test_rings_caller_id_and_rings_stopping() -> None:
    s = idle()
    assert s.modem(b"\r\nRING\r\n") == [Ring(0)]
    cid = b"\r\nDATE = 0321\r\n\r\nTIME = 1405\r\n\r\nNMBR = 5551234567\r\n\r\nNAME = DOE JOHN\r\n"
    assert s.modem(cid) == []
    expected = CallerID(
        number="5551234567",
        name="DOE JOHN",
        flags=LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME,
        date="0321",
        time="1405",
        items=(
            ("DATE", "0321"),
            ("TIME", "1405"),
            ("NMBR", "5551234567"),
            ("NAME", "DOE JOHN"),
        ),
    )
    assert s.advance(0.6) == [expected]
    assert expected.call_info() == {
        "dwCallerIDFlags": LINECALLPARTYID_ADDRESS | LINECALLPARTYID_NAME,
        "CallerID": "5551234567",
        "CallerIDName": "DOE JOHN",
    }
    assert s.advance(5.4) == []
    assert s.modem(b"\r\nRING\r\n") == [Ring(1)]
    assert s.advance(7.9) == []
    assert s.advance(0.2) == [RingsStopped()]
    assert s.modem(b"\r\nRING\r\n") == [Ring(0)]  # a new call counts from 0 again


def test_caller_id_is_flushed_by_the_next_ring() -> None:
    s = idle()
    s.modem(b"\r\nRING\r\n\r\nNMBR = 5551234\r\n")
    events = s.modem(b"\r\nRING\r\n")
    assert [type(e) for e in events] == [CallerID, Ring]
    assert isinstance(events[0], CallerID) and events[0].number == "5551234"


@pytest.mark.parametrize(
    ("items", "number", "name", "flags"),
    [
        ([("NMBR", "P")], "", "", LINECALLPARTYID_BLOCKED),
        ([("NMBR", "O"), ("NAME", "O")], "", "", LINECALLPARTYID_OUTOFAREA),
        ([("NMBR", "5551234"), ("NAME", "P")], "5551234", "", LINECALLPARTYID_ADDRESS),
        ([("DDN_NMBR", "18005551234")], "18005551234", "", LINECALLPARTYID_ADDRESS),
        ([("NAME", "ACME")], "", "ACME", LINECALLPARTYID_NAME),
        ([("DATE", "0101")], "", "", LINECALLPARTYID_UNKNOWN),
    ],
)
def test_parse_caller_id(items: list[tuple[str, str]], number: str, name: str, flags: int) -> None:
    cid = parse_caller_id(items)
    assert (cid.number, cid.name, cid.flags) == (number, name, flags)


def test_answer_connect_data_and_remote_hangup() -> None:
    s = idle()
    s.modem(b"\r\nRING\r\n")
    s.d.answer()
    assert s.sent() == b"ATA\r"
    # The CONNECT line and the first data arrive in one read; the LF is not data.
    assert s.modem(b"\r\nCONNECT 33600/ARQ\r\nhello") == [
        Connected(33600, "CONNECT 33600/ARQ"),
        Data(b"hello"),
    ]
    assert s.modem(b" world\r\nNO CARRIER\r\n") == [
        Data(b" world"),
        Disconnected(LINEDISCONNECTMODE_NORMAL, "NO CARRIER", "connected"),
    ]
    s.d.hang_up()
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]
    assert s.d.state == "idle"


def test_lf_after_connect_split_across_reads_is_not_data() -> None:
    s = idle()
    s.modem(b"\r\nRING\r\n")
    s.d.answer()
    assert s.modem(b"\r\nCONNECT 9600\r") == [Connected(9600, "CONNECT 9600")]
    assert s.modem(b"\nabc") == [Data(b"abc")]


def test_answer_fails_on_no_carrier_and_on_timeout() -> None:
    s = idle()
    s.modem(b"\r\nRING\r\n")
    s.d.answer()
    assert s.modem(b"\r\nNO CARRIER\r\n") == [
        Disconnected(LINEDISCONNECTMODE_UNAVAIL, "NO CARRIER", "answering")
    ]
    t = idle()
    t.modem(b"\r\nRING\r\n")
    t.d.answer()
    assert t.advance(24.9) == []
    assert t.advance(0.2) == [Disconnected(LINEDISCONNECTMODE_UNAVAIL, "TIMEOUT", "answering")]
    t.sent()
    t.d.hang_up()  # the modem may still be answering: abort with a bare CR first
    assert t.sent() == b"\r"
    assert t.modem(b"\r\nNO CARRIER\r\n") == []
    assert t.sent() == b"ATH\r"
    assert t.modem(OK) == [HungUp()]


# --- data mode ---


def test_no_carrier_split_across_reads_is_still_detected() -> None:
    s = connected()
    assert s.modem(b"data\r\nNO CAR") == [Data(b"data")]
    assert s.modem(b"RIER\r\n") == [
        Disconnected(LINEDISCONNECTMODE_NORMAL, "NO CARRIER", "connected")
    ]


def test_held_back_bytes_are_released_after_a_pause() -> None:
    s = connected()
    assert s.modem(b"line\r\n") == [Data(b"line")]
    assert s.advance(0.2) == [Data(b"\r\n")]
    assert s.modem(b"NO") == [Data(b"NO")]  # not preceded by CR LF: plain data


def test_carrier_loss_from_dcd_ends_the_call() -> None:
    s = connected()
    s.d.carrier_lost()
    assert s.d.events() == [Disconnected(LINEDISCONNECTMODE_NORMAL, "DCD", "connected")]
    assert s.modem(b"\r\nNO CARRIER\r\n") == []  # the modem's own report comes later


# --- outgoing calls ---


@pytest.mark.parametrize(
    ("line", "mode"),
    [
        (b"BUSY", LINEDISCONNECTMODE_BUSY),
        (b"NO ANSWER", LINEDISCONNECTMODE_NOANSWER),
        (b"NO DIALTONE", LINEDISCONNECTMODE_NODIALTONE),
        (b"NO DIAL TONE", LINEDISCONNECTMODE_NODIALTONE),
        (b"NO CARRIER", LINEDISCONNECTMODE_UNAVAIL),
        (b"ERROR", LINEDISCONNECTMODE_UNAVAIL),
        (b"BLACKLISTED", LINEDISCONNECTMODE_BLOCKED),
        (b"DELAYED", LINEDISCONNECTMODE_TEMPFAILURE),
    ],
)
def test_dial_results_map_to_disconnect_modes(line: bytes, mode: int) -> None:
    s = idle()
    s.d.dial("5551234")
    assert s.sent() == b"ATX4DT5551234\r"
    assert s.d.events() == [Dialing(False), DialComplete(False)]
    assert s.modem(b"\r\n" + line + b"\r\n") == [Disconnected(mode, line.decode(), "dialing")]
    s.d.hang_up()
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]


def test_dial_connects() -> None:
    s = idle()
    s.d.dial("5551234")
    s.d.events()
    assert s.modem(b"\r\nCARRIER 33600\r\n\r\nPROTOCOL: LAPM\r\n\r\nCONNECT 115200\r\n") == [
        Connected(115200, "CONNECT 115200")
    ]


def test_dial_times_out_after_s7_plus_five_seconds() -> None:
    s = Script(reset="", init=(), monitor="", caller_id="", s7=30)
    s.d.initialize()
    assert s.sent() == b"ATS7=30\r"
    s.modem(OK)
    s.d.dial("5551234")
    s.d.events()
    assert s.advance(34.9) == []
    assert s.advance(0.2) == [Disconnected(LINEDISCONNECTMODE_UNAVAIL, "TIMEOUT", "dialing")]


def test_pulse_blind_dialling_and_long_numbers_in_chunks() -> None:
    s = idle(tone=False, blind=True, max_dial_chunk=4)
    s.d.dial("1234567")
    assert s.sent() == b"ATX3DP1234;\r"
    assert s.d.events() == [Dialing(False)]
    assert s.modem(OK) == [DialComplete(False)]
    assert s.sent() == b"ATDP567\r"
    assert s.modem(b"\r\nCONNECT\r\n") == [Connected(None, "CONNECT")]


def test_partial_dial_then_more_digits() -> None:
    s = idle()
    s.d.dial("9", partial=True)
    assert s.sent() == b"ATX4DT9;\r"
    assert s.modem(OK) == [Dialing(True), DialComplete(True)]
    assert s.d.state == "offhook"
    s.d.dial("5551234")
    assert s.sent() == b"ATDT5551234\r"
    assert s.d.events() == [Dialing(False), DialComplete(False)]


def test_no_destination_goes_off_hook_for_dial_tone() -> None:
    s = idle()
    s.d.dial(None)
    assert s.sent() == b"ATX4D;\r"
    assert s.modem(OK) == [DialTone()]
    assert s.d.state == "offhook"


def test_voice_dial_is_connected_on_ok() -> None:
    s = idle()
    s.d.dial("5551234", voice=True)
    assert s.sent() == b"ATX4DT5551234;\r"
    assert s.modem(OK) == [Dialing(False), DialComplete(False), Connected(None, "OK", voice=True)]
    s.d.hang_up()
    assert s.sent() == b"ATH\r"


# --- hang-up ---


def test_hang_up_by_dtr() -> None:
    s = connected()
    s.d.hang_up()
    assert s.d.events() == [SetDTR(False)]
    assert s.sent() == b""
    assert s.advance(0.49) == []
    assert s.advance(0.02) == [SetDTR(True)]
    assert s.sent() == b""
    s.advance(0.1)
    assert s.sent() == b"ATH\r"
    assert s.modem(b"\r\nNO CARRIER\r\n\r\nOK\r\n") == [HungUp()]


def test_hang_up_falls_back_to_escape_when_dtr_does_nothing() -> None:
    s = connected()
    s.d.hang_up()
    s.advance(0.6)
    assert s.sent() == b"ATH\r"  # goes to the far end as data: no OK
    t0 = s.clock.now()
    s.advance(3.0)
    assert s.sent() == b""
    s.advance(1.0)  # one guard time of silence after the time-out...
    assert s.sent() == b"+++"
    assert s.clock.now() - t0 >= 1.0
    assert s.modem(OK) == []
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]


def test_hang_up_by_escape_respects_the_guard_time_after_app_data() -> None:
    s = connected()
    s.advance(0.7)
    s.d.note_dte_write()  # the application just wrote data through the relay
    s.d.hang_up(dtr=False)
    assert s.d.events() == []
    assert s.advance(0.99) == []
    assert s.sent() == b""
    s.advance(0.02)
    assert s.sent() == b"+++"
    s.advance(4.0)  # no OK to +++ at all: ATH anyway
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]


def test_hang_up_while_dialing_aborts_first() -> None:
    s = idle()
    s.d.dial("5551234")
    s.sent()
    s.d.events()
    s.d.hang_up()
    assert s.sent() == b"\r"
    assert s.modem(b"\r\nNO CARRIER\r\n") == []
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]


# --- abort escalation: a modem that ignores the CR while dialling (issue 13 item 3) ---


def step(s: Script) -> HangStep:
    return s.d.hang_step  # (a call: mypy keeps no narrowing across it)


def dialing_then_hang_up(*, dtr: bool = True) -> Script:
    """A dial under way (no result yet), then hang_up(): the CR goes out at once."""
    s = idle()
    s.d.dial("5551234")
    s.sent()
    s.d.events()
    s.d.hang_up(dtr=dtr)
    assert s.sent() == b"\r"
    assert step(s) is HangStep.ABORT
    return s


def test_abort_answered_needs_no_escalation() -> None:
    s = dialing_then_hang_up()
    assert s.advance(2.9) == []  # within the CR's time-out (command_timeout, 3 s)
    assert s.modem(b"\r\nNO CARRIER\r\n") == []
    assert s.sent() == b"ATH\r"
    assert step(s) is HangStep.ATH
    assert s.modem(OK) == [HungUp()]  # no SetDTR, no +++ at any point


def test_abort_ignored_escalates_to_a_dtr_drop() -> None:
    s = dialing_then_hang_up()
    assert s.advance(2.99) == [] and s.sent() == b""  # the CR still has time
    assert s.advance(0.02) == [SetDTR(False)]  # its time-out: step 2
    assert step(s) is HangStep.DTR_LOW and s.sent() == b""
    assert s.advance(0.48) == []
    assert s.advance(0.02) == [SetDTR(True)]  # low for dtr_drop_time (0.5 s)
    s.advance(0.1)
    assert s.sent() == b"ATH\r"
    assert step(s) is HangStep.ATH_AFTER_DTR
    assert s.modem(b"\r\nNO CARRIER\r\n\r\nOK\r\n") == [HungUp()]
    assert s.advance(10.0) == [] and s.sent() == b""  # no +++ after all


def test_abort_ignored_and_dtr_ignored_escalate_to_escape_and_ath() -> None:
    s = dialing_then_hang_up()
    s.advance(3.01)
    s.advance(0.6)
    assert s.sent() == b"ATH\r"  # after the DTR drop; this modem ignores that too
    assert s.advance(2.9) == [] and s.sent() == b""  # the ATH's own time-out (3 s)...
    s.advance(0.11)
    assert step(s) is HangStep.GUARD and s.sent() == b""  # ...then step 3
    s.advance(0.96)
    assert s.sent() == b""  # a guard time (1 s) of silence first
    s.advance(0.04)
    assert s.sent() == b"+++"
    assert step(s) is HangStep.ESCAPE
    assert s.modem(OK) == []
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]


def test_abort_ignored_without_dtr_goes_straight_to_escape() -> None:
    s = dialing_then_hang_up(dtr=False)
    s.advance(3.01)
    assert step(s) is HangStep.GUARD
    s.advance(1.0)
    assert s.sent() == b"+++"
    s.advance(5.0)  # no OK to +++ either: ATH anyway
    assert s.sent() == b"ATH\r"
    events = s.advance(3.1)  # and no OK to that: the hang-up failed, said so
    assert len(events) == 1 and isinstance(events[0], HangupFailed)


def test_a_result_during_the_abort_stops_the_escalation() -> None:
    s = dialing_then_hang_up()
    s.advance(1.0)
    assert s.modem(b"\r\nBUSY\r\n") == []  # the dial ended on its own: CR not needed
    assert s.sent() == b"ATH\r"
    assert s.modem(OK) == [HungUp()]


def test_hang_up_that_is_never_confirmed_fails() -> None:
    s = idle()
    s.modem(b"\r\nRING\r\n")
    s.d.hang_up()
    assert s.sent() == b"ATH\r"
    events = s.advance(3.1)
    assert len(events) == 1 and isinstance(events[0], HangupFailed)


def test_hang_up_when_idle_is_immediate() -> None:
    s = idle()
    s.d.hang_up()
    assert s.d.events() == [HungUp()]
    assert s.sent() == b""


def test_requests_in_the_wrong_state_are_driver_bugs() -> None:
    s = idle()
    s.d.dial("1")
    with pytest.raises(ModemStateError):
        s.d.answer()
    with pytest.raises(ModemStateError):
        s.d.initialize()
    with pytest.raises(ModemStateError):
        Script().d.hang_up()


def test_unexpected_lines_are_reported_not_raised() -> None:
    s = idle()
    assert s.modem(b"\r\nHELLO\r\n") == [Unexpected("HELLO", "idle")]


# --- classification and mapping ---


@pytest.mark.parametrize(
    ("line", "kind", "rate"),
    [
        ("OK", Result.OK, None),
        ("0", Result.OK, None),
        ("CONNECT", Result.CONNECT, None),
        ("CONNECT 33600", Result.CONNECT, 33600),
        ("CONNECT 115200/V42BIS", Result.CONNECT, 115200),
        ("5", Result.CONNECT, 1200),
        ("RING", Result.RING, None),
        ("2", Result.RING, None),
        ("NO CARRIER", Result.NO_CARRIER, None),
        ("ERROR", Result.ERROR, None),
        ("NO DIALTONE", Result.NO_DIALTONE, None),
        ("BUSY", Result.BUSY, None),
        ("7", Result.BUSY, None),
        ("NO ANSWER", Result.NO_ANSWER, None),
        ("NMBR = 5551234", Result.CALLER_ID, None),
        ("DDN_NMBR= 5551234", Result.CALLER_ID, None),
        ("RINGING", Result.PROGRESS, None),
        ("CARRIER 28800", Result.PROGRESS, None),
        ("garbage", Result.OTHER, None),
    ],
)
def test_classify(line: str, kind: Result, rate: int | None) -> None:
    resp = classify(line)
    assert (resp.kind, resp.rate) == (kind, rate)


def test_classify_recognises_echo() -> None:
    assert classify("atz", echo_of="ATZ").kind == Result.ECHO
    assert classify("NMBR = 1").value == "1"


def test_response_state_codes() -> None:
    assert RESPONSE_STATE[Result.OK] == 0x00
    assert RESPONSE_STATE[Result.CONNECT] == 0x02
    assert RESPONSE_STATE[Result.RING] == 0x08
    assert RESPONSE_STATE[Result.BLACKLISTED] == 0x1C
    assert RESPONSE_STATE[Result.DELAYED] == 0x1D


def test_disconnect_mode_depends_on_the_phase() -> None:
    assert disconnect_mode(Result.NO_CARRIER, "dialing") == LINEDISCONNECTMODE_UNAVAIL
    assert disconnect_mode(Result.NO_CARRIER, "connected") == LINEDISCONNECTMODE_NORMAL
    assert disconnect_mode("TIMEOUT", "answering") == LINEDISCONNECTMODE_UNAVAIL
    assert disconnect_mode("BUSY", "dialing") == LINEDISCONNECTMODE_BUSY


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=40), max_size=10),
    start=st.sampled_from(["idle", "connected", "ringing", "dialing"]),
)
def test_arbitrary_modem_output_never_raises(chunks: list[bytes], start: str) -> None:
    s = connected() if start == "connected" else idle()
    if start == "ringing":
        s.modem(b"\r\nRING\r\n")
    elif start == "dialing":
        s.d.dial("1")
    seen: list[Event] = []
    for chunk in chunks:
        s.d.receive_data(chunk)
        seen += s.advance(0.3)
    data = b"".join(e.data for e in seen if isinstance(e, Data))
    if start == "connected" and s.d.state == "connected":
        # Nothing is lost in data mode: every byte comes out (after the hold-back).
        assert data == b"".join(chunks)


# --- against the emulator engine ---


class Wired:
    """A ModemDialogue driving an emulated modem inside `emulator.network.sim.Sim`."""

    def __init__(self, sim: Sim, modem: ModemEngine, settings: ModemSettings) -> None:
        self.sim = sim
        self.modem = modem
        self.d = ModemDialogue(settings, sim.clock)
        self.seen: list[Event] = []

    def pump(self) -> bool:
        progress = False
        for event in self.d.events():
            if isinstance(event, SetDTR):
                self.modem.set_dtr(event.on)
            self.seen.append(event)
            progress = True
        out = self.d.data_to_send()
        if out:
            self.sim.type(self.modem, out)
            progress = True
        data = self.sim.output(self.modem)
        if data:
            self.d.receive_data(data)
            progress = True
        return progress


def run(sim: Sim, wired: list[Wired], until: Callable[[], bool], timeout: float) -> bool:
    """Drive dialogues and emulator together on virtual time until `until()` holds."""
    end = sim.clock.now() + timeout
    while True:
        while any([w.pump() for w in wired]):
            pass
        if until():
            return True
        now = sim.clock.now()
        if now >= end:
            return False
        due = [d for w in wired if (d := w.d.next_deadline()) is not None]
        if due and min(due) <= now:
            for w in wired:
                w.d.tick()
            continue
        target = min([end, *due])
        sim.run_until(lambda: any(sim.peek(w.modem) for w in wired), target - now)


def events_of(w: Wired, kind: type) -> list[Event]:
    return [e for e in w.seen if isinstance(e, kind)]


def test_init_and_call_between_two_emulated_modems() -> None:
    sim = Sim()
    a = Wired(sim, sim.add_modem("A", "1001", caller_name="ALICE"), ModemSettings())
    b = Wired(sim, sim.add_modem("B", "1002"), ModemSettings())
    a.d.initialize()
    b.d.initialize()
    assert run(sim, [a, b], lambda: InitDone() in a.seen and InitDone() in b.seen, 10)
    assert not events_of(a, InitFailed) and not events_of(b, InitFailed)

    a.d.dial("1002")
    assert run(sim, [a, b], lambda: bool(events_of(b, CallerID)), 30)
    assert b.seen[1] == Ring(0)
    cid = events_of(b, CallerID)[0]
    assert isinstance(cid, CallerID)
    assert cid.number == "1001"
    assert cid.flags & LINECALLPARTYID_ADDRESS

    b.d.answer()
    assert run(sim, [a, b], lambda: bool(events_of(a, Connected) and events_of(b, Connected)), 60)

    sim.type(a.modem, b"hello B")  # the application's data, through the relay
    a.d.note_dte_write()
    assert run(
        sim,
        [a, b],
        lambda: b"hello B" in b"".join(e.data for e in events_of(b, Data) if isinstance(e, Data)),
        10,
    )

    a.d.hang_up()  # by DTR
    assert run(sim, [a, b], lambda: HungUp() in a.seen and bool(events_of(b, Disconnected)), 30)
    assert events_of(b, Disconnected) == [
        Disconnected(LINEDISCONNECTMODE_NORMAL, "NO CARRIER", "connected")
    ]
    b.d.hang_up()
    assert run(sim, [a, b], lambda: HungUp() in b.seen, 10)
    assert not events_of(a, HangupFailed) and not events_of(b, HangupFailed)


def test_unanswered_call_rings_then_fails_when_s7_expires() -> None:
    sim = Sim()
    a = Wired(sim, sim.add_modem("A", "1001"), ModemSettings(s7=20))
    b = Wired(sim, sim.add_modem("B", "1002"), ModemSettings())
    a.d.initialize()
    b.d.initialize()
    assert run(sim, [a, b], lambda: InitDone() in a.seen and InitDone() in b.seen, 10)
    a.d.dial("1002")
    assert run(sim, [a, b], lambda: bool(events_of(a, Disconnected)), 40)
    (ended,) = events_of(a, Disconnected)
    assert isinstance(ended, Disconnected)
    assert ended.phase == "dialing"
    assert ended.mode in (LINEDISCONNECTMODE_UNAVAIL, LINEDISCONNECTMODE_NOANSWER)
    rings = events_of(b, Ring)
    assert rings[:2] == [Ring(0), Ring(1)]
    assert run(sim, [a, b], lambda: RingsStopped() in b.seen, 20)


def one_modem(settings: ModemSettings | None = None) -> tuple[Sim, Wired]:
    sim = Sim()
    a = Wired(sim, sim.add_modem("A", "1001"), settings or ModemSettings())
    a.d.initialize()
    assert run(sim, [a], lambda: InitDone() in a.seen, 10)
    return sim, a


@pytest.mark.parametrize(
    ("far", "result", "mode"),
    [
        ("busy", "BUSY", LINEDISCONNECTMODE_BUSY),
        ("noanswer", "NO CARRIER", LINEDISCONNECTMODE_UNAVAIL),
    ],
)
def test_emulated_far_end_results(far: str, result: str, mode: int) -> None:
    sim, a = one_modem(ModemSettings(s7=20))
    sim.exchange.set_far("5550000", far)
    a.d.dial("5550000")
    assert run(sim, [a], lambda: bool(events_of(a, Disconnected)), 40)
    assert events_of(a, Disconnected) == [Disconnected(mode, result, "dialing")]
    a.d.hang_up()
    assert run(sim, [a], lambda: HungUp() in a.seen, 10)


def test_emulated_no_dial_tone() -> None:
    sim, a = one_modem()
    sim.exchange.set_dialtone("1001", False)
    a.d.dial("5550000")
    assert run(sim, [a], lambda: bool(events_of(a, Disconnected)), 40)
    assert events_of(a, Disconnected) == [
        Disconnected(LINEDISCONNECTMODE_NODIALTONE, "NO DIALTONE", "dialing")
    ]


def test_emulated_remote_hangup_after_connect() -> None:
    sim, a = one_modem()
    sim.exchange.set_far("5550000", "answer,echo,hangup=5s")
    a.d.dial("5550000")
    assert run(sim, [a], lambda: bool(events_of(a, Connected)), 60)
    sim.type(a.modem, b"ping")
    a.d.note_dte_write()
    assert run(sim, [a], lambda: bool(events_of(a, Disconnected)), 30)
    echoed = b"".join(e.data for e in events_of(a, Data) if isinstance(e, Data))
    assert echoed == b"ping"
    assert events_of(a, Disconnected) == [
        Disconnected(LINEDISCONNECTMODE_NORMAL, "NO CARRIER", "connected")
    ]


def test_emulated_escape_hangup_without_dtr() -> None:
    sim, a = one_modem()
    sim.exchange.set_far("5550000", "answer,discard")
    a.d.dial("5550000")
    assert run(sim, [a], lambda: bool(events_of(a, Connected)), 60)
    a.d.hang_up(dtr=False)
    assert run(sim, [a], lambda: HungUp() in a.seen, 20)
    assert not events_of(a, SetDTR)
    sent = [r.data for r in sim.transcript() if r.kind == "dte>modem"]
    assert sent[-2:] == [b"+++", b"ATH\r"]


def test_init_commands_order_and_user_init_prefix() -> None:
    settings = ModemSettings(
        reset="AT&F", s7=None, caller_id="", user_init=" at&k3 ", one_line=False
    )
    assert settings.init_commands() == [
        ("AT&F", True),
        ("ATE0V1&C1&D2", True),
        ("ATS0=0", True),
        ("at&k3", True),
    ]
    assert ModemSettings(s7=45).result_timeout() == 50.0
    assert ModemSettings(s7=None, dial_timeout=70.0).result_timeout() == 70.0


def test_every_state_and_timer_has_an_entry_in_the_dispatch_tables() -> None:
    dialogue = ModemDialogue(ModemSettings(), ManualClock())
    assert set(dialogue._line_handlers) == set(State)
    assert set(dialogue._expiry) == set(get_args(TimerName))


@pytest.mark.parametrize(
    ("machine", "moves", "states"),
    [
        (modem_at._STATE_MACHINE, modem_at._STATE_MOVES, State),
        (modem_at._STEP_MACHINE, modem_at._STEP_MOVES, HangStep),
    ],
)
def test_the_fast_table_does_what_the_transitions_machine_does(
    machine: object, moves: dict[str, dict[object, object]], states: type[State]
) -> None:
    """`_Table.fire` looks the move up in a dict read back from the Machine: for every
    state and every trigger, it must end where ``Event.trigger`` ends, or refuse where
    the Machine has no transition."""
    for trigger, event in machine.events.items():  # type: ignore[attr-defined]
        for state in states:
            fast = modem_at._Table(moves, state)
            if state.name not in event.transitions:
                assert not fast.allows(trigger)
                with pytest.raises(ModemStateError):
                    fast.fire(trigger)
                continue

            class Model:
                pass

            model = Model()
            model.state = state  # type: ignore[attr-defined]
            event.trigger(model)
            assert fast.allows(trigger)
            fast.fire(trigger)
            assert fast.state is model.state, (trigger, state)  # type: ignore[attr-defined]
