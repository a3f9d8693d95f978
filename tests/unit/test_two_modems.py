"""Two engines through the exchange on virtual time: every dial outcome, every X level,
ringing, answering, data, hang-up and carrier loss."""

from __future__ import annotations

import pytest
from engine_helpers import at, connect, profile, quiet_at, two_modems

from emulator.network.subscriberline import CallerId

OK = b"\r\nOK\r\n"
NO_CARRIER = b"\r\nNO CARRIER\r\n"


def dial_result(x: int, setup: str, number: str = "1002", run: float = 70.0) -> bytes:
    """Modem A at X<x> dials `number` after `setup` ran; its final result (V1)."""
    sim, a, b = two_modems()
    if setup == "busy":
        at(sim, b, "ATD999;")  # B off hook for a voice call: busy for others
        sim.run(5)
    elif setup == "nodialtone":
        sim.exchange.set_dialtone("1001", False)
    elif setup.startswith("far:"):
        sim.exchange.set_far(number, setup[4:])
    elif setup == "answer":
        at(sim, b, "ATS0=1")
    quiet_at(sim, a, f"ATX{x}")
    quiet_at(sim, a, f"ATD{number}")
    assert sim.run_until(lambda: a.state in ("command", "online"), run)
    sim.run(0.01)
    return sim.output(a)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0, b"CONNECT"),
        (1, b"CONNECT 33600"),
        (2, b"CONNECT 33600"),
        (3, b"CONNECT 33600"),
        (4, b"CONNECT 33600"),
    ],
)
def test_connect_rate_per_x_level(x: int, expected: bytes) -> None:
    assert dial_result(x, "answer") == b"\r\n" + expected + b"\r\n"


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0, b"NO CARRIER"), (1, b"NO CARRIER"), (2, b"NO CARRIER"), (3, b"BUSY"), (4, b"BUSY")],
)
def test_busy_modem_per_x_level(x: int, expected: bytes) -> None:
    assert dial_result(x, "busy") == b"\r\n" + expected + b"\r\n"


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0, b"NO CARRIER"),
        (1, b"NO CARRIER"),
        (2, b"NO DIALTONE"),
        (3, b"NO CARRIER"),
        (4, b"NO DIALTONE"),
    ],
)
def test_no_dialtone_per_x_level(x: int, expected: bytes) -> None:
    assert dial_result(x, "nodialtone") == b"\r\n" + expected + b"\r\n"


def test_no_dialtone_is_reported_after_s6() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_dialtone("1001", False)
    quiet_at(sim, a, "ATS6=5D1002")
    sim.run(4.9)
    assert sim.output(a) == b""
    sim.run(0.2)
    assert sim.output(a) == b"\r\nNO DIALTONE\r\n"


def test_blind_dial_without_dialtone_times_out_at_s7() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_dialtone("1001", False)
    quiet_at(sim, a, "ATX3S7=10D1002")
    sim.run(2 + 0.76 + 9.9)
    assert sim.output(a) == b""
    sim.run(0.2)
    assert sim.output(a) == NO_CARRIER


def test_w_modifier_needs_a_dialtone_even_blind() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_dialtone("1001", False)
    quiet_at(sim, a, "ATX3D9W1002")
    sim.run(10)
    assert sim.output(a) == b"\r\nNO CARRIER\r\n"  # X3 has no NO DIALTONE


@pytest.mark.parametrize("x", range(5))
def test_busy_far_end_per_x_level(x: int) -> None:
    out = dial_result(x, "far:busy", number="555")
    assert out == (b"\r\nBUSY\r\n" if x >= 3 else NO_CARRIER)


@pytest.mark.parametrize(("x", "quiet"), [(0, False), (1, True), (2, True), (3, True), (4, True)])
def test_no_answer_needs_the_at_modifier(x: int, quiet: bool) -> None:
    assert dial_result(x, "far:noanswer", number="555", run=70) == NO_CARRIER
    sim, a, _ = two_modems()
    sim.exchange.set_far("555", "noanswer")
    quiet_at(sim, a, f"ATX{x}S7=30D@555")
    assert sim.run_until(lambda: a.state == "command", 60)
    sim.run(0.01)
    assert sim.output(a) == (b"\r\nNO ANSWER\r\n" if quiet else NO_CARRIER)


def test_unknown_number_is_busy_at_once_on_reorder() -> None:
    """The default network plays reorder to an unassigned number: BUSY at X3/X4 (and
    the trace says why), NO CARRIER below X3, with no S7 wait."""
    sim, a, _ = two_modems()
    out = quiet_at(sim, a, "ATX4S7=20D999")
    sim.run(5)  # dial tone (S6) and the digits; far less than S7
    assert out + sim.output(a) == b"\r\nBUSY\r\n"
    assert a.state == "command"
    assert "unobtainable 999 (reorder)" in [
        r.data for r in sim.transcript() if r.kind == "exchange"
    ]
    out = quiet_at(sim, a, "ATX0D999")
    sim.run(5)
    assert out + sim.output(a) == NO_CARRIER


def test_unknown_number_is_no_carrier_at_s7_when_the_network_is_silent() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_unassigned("silence")
    quiet_at(sim, a, "ATS7=20D999")
    sim.run(20)
    assert sim.output(a) == b""
    sim.run(1)
    assert sim.output(a) == NO_CARRIER
    assert a.state == "command"


def test_unanswered_modem_is_no_carrier_at_s7_and_stops_ringing() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS7=15D1002")
    sim.run(20)
    assert sim.output(a) == NO_CARRIER
    assert b.state == "command"
    assert not b.signals.ri
    assert sim.output(b).count(b"RING") == 3  # at 0.76, 6.76 and 12.76 s


def test_far_end_answers_after_delay_at_capped_rate() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_far("555", "answer,after=8s,rate=9600")
    quiet_at(sim, a, "ATD555")
    sim.run(0.57 + 7.9)  # three digits of DTMF, then 8 s
    assert sim.output(a) == b""
    sim.run(0.2)
    assert sim.output(a) == b"\r\nCONNECT 9600\r\n"
    assert a.signals.dcd


def test_rate_is_the_highest_both_support() -> None:
    slow = profile(rates=(300, 1200, 2400))
    sim = __import__("emulator.network.sim", fromlist=["Sim"]).Sim()
    a = sim.add_modem("A", "1001")
    b = sim.add_modem("B", "1002", slow)
    quiet_at(sim, b, "ATS0=1")
    quiet_at(sim, a, "ATD1002")
    sim.run(3)
    assert sim.output(a) == b"\r\nCONNECT 2400\r\n"
    assert sim.output(b).endswith(b"\r\nCONNECT 2400\r\n")


def test_v0_connect_uses_the_profile_code() -> None:
    for name, code in (("generic", b"84"), ("hayes", None), ("conexant", None)):
        sim, a, b = two_modems(name)
        quiet_at(sim, b, "ATS0=1")
        quiet_at(sim, a, "ATV0D1002")
        sim.run(3)
        out = sim.output(a)
        rate = int(sim.exchange.line("1001").peer.rate)  # type: ignore[attr-defined]
        expected = code or str(a.profile.result_codes[f"CONNECT {rate}"]).encode()
        assert out == expected + b"\r", name


def test_dial_modifiers_and_pauses() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS8=3X3")
    # blind: S6 2 s, two commas 6 s, flash 0.5 s, then pulses 1 0 0 2 (5.1 s)
    quiet_at(sim, a, "ATDT,,!P1002")
    sim.run(13.5)
    assert b.state == "command"
    sim.run(0.2)
    assert b.state == "ringing"


def test_dial_then_semicolon_returns_to_command_state() -> None:
    sim, a, b = two_modems()
    assert quiet_at(sim, a, "ATD1002;") == b""
    sim.run(2)
    assert sim.output(a) == OK
    assert a.state == "command"
    assert b.state == "ringing"
    assert quiet_at(sim, a, "ATH") == OK
    sim.run(0.1)
    assert b.state == "command"


def test_any_key_while_dialing_aborts() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATD1002")
    sim.run(3)
    assert b.state == "ringing"
    sim.type(a, "x")
    sim.run(0.1)
    assert sim.output(a) == NO_CARRIER
    assert a.state == "command"
    assert b.state == "command"


def test_d_in_online_command_or_ringing_is_error() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATD1002")
    sim.run(1)
    assert quiet_at(sim, b, "ATD1001") == b"\r\nERROR\r\n"
    assert quiet_at(sim, b, "ATO") == NO_CARRIER


def test_ring_cadence_s1_and_ri() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATD1002")
    sim.run(0.76)
    assert b.signals.ri and b.regs[1] == 1
    sim.run(1.9)
    assert b.signals.ri
    sim.run(0.2)
    assert not b.signals.ri
    sim.run(3.8)
    assert not b.signals.ri and b.regs[1] == 1
    sim.run(0.2)
    assert b.signals.ri and b.regs[1] == 2
    assert quiet_at(sim, b, "ATS1?") == b"\r\n002\r\n" + OK
    assert sim.output(b).count(b"RING") == 0
    sim.run(30)
    assert b.regs[1] == 7


def test_sixty_seconds_of_rings_and_s7_on_virtual_time() -> None:
    # How fast this runs is measured by bench/virtual_time.py, not asserted here.
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATD@1002")
    sim.run(60)
    assert sim.clock.now() >= 60
    assert sim.output(a) == b"\r\nNO ANSWER\r\n"  # S7 (50 s) ran out
    assert sim.output(b).count(b"RING") == 9  # 0.76 s + 6 s x 8


def test_s0_auto_answers_on_the_nth_ring() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "ATS0=3")
    quiet_at(sim, a, "ATD1002")
    sim.run(12.7)
    assert b.state == "ringing"
    sim.run(0.07)  # the third RING (12.76 s): RI is on before the modem goes off hook
    assert b.state == "ringing" and b.signals.ri and b.regs[1] == 3
    sim.run(0.05)
    assert b.state == "online" and a.state == "online"
    assert sim.output(b) == b"\r\nRING\r\n" * 3 + b"\r\nCONNECT 33600\r\n"
    assert b.signals.dcd and not b.signals.ri


def test_ata_answers_and_both_have_dcd() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    assert a.signals.dcd and b.signals.dcd


def test_caller_gone_stops_ringing() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATD1002")
    sim.run(1)
    sim.type(a, "x")  # any key abandons the call
    sim.run(0.1)
    assert b.state == "command" and not b.signals.ri
    assert b.regs[1] == 1
    sim.run(7.8)
    assert b.regs[1] == 1  # S1 keeps the count for a while
    sim.run(0.3)
    assert b.regs[1] == 0


def test_data_both_ways_is_8_bit_clean() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    payload = bytes(range(256)) * 4
    sim.type(a, payload)
    sim.run(0.1)
    assert sim.output(b) == payload
    sim.type(b, payload[::-1])
    sim.run(0.1)
    assert sim.output(a) == payload[::-1]


def test_ath_after_escape_far_end_sees_no_carrier_after_s10() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    assert sim.output(a) == OK
    assert a.state == "online_command" and a.signals.dcd
    assert at(sim, a, "ATH") == b"ATH\r" + OK
    assert not a.signals.dcd
    sim.run(0.01)
    assert not b.signals.dcd  # &C1: DCD follows carrier at once
    sim.run(1.3)
    assert sim.output(b) == b""
    sim.run(0.2)
    assert sim.output(b) == NO_CARRIER
    assert b.state == "command"


def test_ato_returns_online_and_keeps_data_that_arrived_meanwhile() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    sim.output(a)
    sim.type(b, "while you were out")
    sim.run(0.5)
    assert sim.output(a) == b""
    assert at(sim, a, "ATO") == b"ATO\r\r\nCONNECT 33600\r\nwhile you were out"
    sim.type(a, "back")
    sim.run(0.1)
    assert sim.output(b) == b"back"


def test_far_end_hangup_after_bytes_gives_no_carrier_after_s10() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_far("555", "answer,echo,hangup=10B")
    quiet_at(sim, a, "ATS10=20D555")
    sim.run(2)
    assert sim.output(a) == b"\r\nCONNECT 33600\r\n"
    sim.type(a, "0123456789")
    sim.run(0.1)
    assert sim.output(a) == b"0123456789"
    assert not a.signals.dcd
    sim.run(1.85)
    assert sim.output(a) == b""
    sim.run(0.1)
    assert sim.output(a) == NO_CARRIER


def test_far_end_carrier_drop_gives_no_carrier() -> None:
    sim, a, _ = two_modems()
    sim.exchange.set_far("555", "answer,drop=5s")
    quiet_at(sim, a, "ATD555")
    sim.run(3)
    assert a.state == "online"
    sim.run(5)
    assert a.state == "command"
    assert sim.output(a).endswith(NO_CARRIER)
    assert not a.signals.dcd


def test_amp_c0_keeps_dcd_on() -> None:
    sim, a, _ = two_modems()
    quiet_at(sim, a, "AT&C0")
    assert a.signals.dcd
    quiet_at(sim, a, "AT&C1")
    assert not a.signals.dcd


def test_amp_s1_dsr_only_in_data_mode() -> None:
    sim, a, b = two_modems()
    assert a.signals.dsr
    quiet_at(sim, a, "AT&S1")
    assert not a.signals.dsr
    connect(sim, a, b)
    assert a.signals.dsr


def test_placed_call_with_caller_name_and_private() -> None:
    sim, a, _ = two_modems()
    quiet_at(sim, a, "AT+VCID=1")
    sim.exchange.place_call("1001", CallerId(number_absent="P", name_absent="P"))
    sim.run(5)
    assert sim.output(a) == (
        b"\r\nRING\r\n\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = P\r\nNAME = P\r\n"
    )


def test_lf_after_the_dial_line_does_not_abort() -> None:
    sim, a, b = two_modems()
    sim.type(a, "ATD1002\r\n")
    sim.run(2)
    assert a.state == "dialing" and b.state == "ringing"
    sim.type(a, "\n")  # a second LF is a key press
    sim.run(0.1)
    assert a.state == "command"


def test_trace_records_bytes_and_line_signals() -> None:
    sim, a, b = two_modems()
    a.set_dte_rate(115200)
    connect(sim, a, b)
    records = [r for r in sim.transcript() if r.modem == "A"]
    kinds = {r.kind for r in records}
    assert {"dte>modem", "modem>dte", "line"} <= kinds
    lines = [r.data for r in records if r.kind == "line"]
    assert "DTE rate=115200" in lines and "DCD=1" in lines
    assert any(r.kind == "exchange" and r.data == "dial 1001 -> 1002" for r in sim.transcript())
