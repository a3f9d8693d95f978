"""Audit of issue 2's command list and modems.md d1-d7: the cases the first round of
engine tests left out (each one was checked against the issue text)."""

from __future__ import annotations

import pytest
from engine_helpers import at, connect, one_modem, profile, quiet_at, two_modems

from emulator.core.engine import OUTPUT_LIMIT, XOFF, XON, ModemEngine
from emulator.core.profile import RegisterSpec, load_profile
from emulator.core.tracerecord import TraceRecord
from emulator.network.sim import Sim
from emulator.network.subscriberline import CallerId

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def info(*lines: str) -> bytes:
    return b"\r\n" + "\r\n".join(lines).encode() + b"\r\n" + OK


# -- commands ------------------------------------------------------------------------


def test_conexant_fclass_lists_its_classes_and_accepts_them() -> None:
    sim, a = one_modem("conexant")
    assert quiet_at(sim, a, "AT+FCLASS=?") == info("(0,1,1.0,8)")
    for cls in ("1", "1.0", "8", "0"):
        assert quiet_at(sim, a, f"AT+FCLASS={cls}") == OK
        assert quiet_at(sim, a, "AT+FCLASS?") == info(cls)
    assert quiet_at(sim, a, "AT+FCLASS=2") == ERROR
    generic_sim, g = one_modem("generic")
    assert quiet_at(generic_sim, g, "AT+FCLASS=1") == ERROR
    assert quiet_at(generic_sim, g, "AT+FCLASS=?") == info("(0)")


def test_i_without_a_number_is_i0() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATI") == info(*load_profile("generic").info[0])


def test_s_register_ranges_come_from_the_profile() -> None:
    prof = load_profile("generic")
    regs = dict(prof.registers)
    regs[7] = RegisterSpec(default=30, low=5, high=60)
    sim, a = one_modem(profile(registers=regs))
    assert quiet_at(sim, a, "ATS7?") == info("030")
    assert quiet_at(sim, a, "ATS7=61") == ERROR
    assert quiet_at(sim, a, "ATS7=4") == ERROR
    assert quiet_at(sim, a, "ATS7=60") == OK
    assert a.regs[7] == 60


# -- command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "junk", [b"+++", b"\x1b\x1b\x1b", b"+++\x1b\x1b\x1b", b"\xff\x00garbage "]
)
def test_garbage_before_the_init_string_is_ignored(junk: bytes) -> None:
    sim, a = one_modem()
    sim.type(a, junk + b"ATS7=33E0\r")
    assert sim.output(a) == junk + b"ATS7=33E0\r" + OK
    assert a.regs[7] == 33


def test_s5_edits_without_echo_under_e0() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "ATE0")
    sim.type(a, "ATS7=4\x089\r")
    assert sim.output(a) == OK
    assert a.regs[7] == 9


def test_a_slash_repeats_a_failing_line_with_error_again() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "ATS7=40X9") == ERROR
    sim.type(a, "A/")
    assert sim.output(a) == b"A/" + ERROR


def test_overflow_counts_against_the_profile_buffer_size_after_at() -> None:
    sim, a = one_modem()  # generic: 255
    assert quiet_at(sim, a, "AT" + "E1" * 127 + "S") == OK  # 255 characters
    assert quiet_at(sim, a, "AT" + "E1" * 128) == ERROR  # 256 characters
    sim, a = one_modem(profile(buffer_size=60))
    assert quiet_at(sim, a, "ATS7=9" + "E1" * 28 + "E") == ERROR  # 61 characters
    assert a.regs[7] == 50
    assert quiet_at(sim, a, "ATS7=9" + "E1" * 27 + "E") == OK  # 59, or 61 with "AT"
    assert a.regs[7] == 9


def test_plus_plus_plus_at_in_command_state_is_a_command_line() -> None:
    sim, a = one_modem()
    assert quiet_at(sim, a, "+++ATH0") == OK


# -- numeric CONNECT codes per profile (modems.md d3) -----------------------------------


@pytest.mark.parametrize(
    ("name", "cap", "code"),
    [
        ("generic", 33600, b"84"), ("generic", 28800, b"15"), ("generic", 16800, b"59"),
        ("generic", 7200, b"24"), ("generic", 12000, b"25"), ("generic", 19200, b"14"),
        ("hayes", 33600, b"15"), ("hayes", 19200, b"14"), ("hayes", 16800, b"13"),
        ("hayes", 7200, b"24"), ("hayes", 12000, b"25"), ("hayes", 1200, b"5"),
        ("conexant", 600, b"9"), ("conexant", 7200, b"13"), ("conexant", 12000, b"14"),
        ("conexant", 14400, b"15"), ("conexant", 19200, b"16"), ("conexant", 28800, b"64"),
        ("conexant", 33600, b"84"), ("conexant", 300, b"1"),
    ],
)  # fmt: skip
def test_v0_connect_codes_per_profile(name: str, cap: int, code: bytes) -> None:
    sim, a = one_modem(name)
    sim.exchange.set_far("555", f"answer,rate={cap}")
    quiet_at(sim, a, "ATV0D555")
    assert sim.run_until(lambda: a.state == "online", 10)
    assert sim.output(a) == code + b"\r"


# -- far ends and outcomes ------------------------------------------------------------


def test_far_end_discards_and_hangs_up_after_seconds() -> None:
    sim, a = one_modem()
    sim.exchange.set_far("555", "answer,discard,hangup=5s")
    quiet_at(sim, a, "ATD555")
    assert sim.run_until(lambda: a.state == "online", 10)
    sim.output(a)
    sim.type(a, "nobody echoes this")
    sim.run(4.9)
    assert sim.output(a) == b""
    assert a.signals.dcd
    sim.run(0.2)
    assert not a.signals.dcd  # carrier gone at once (5 s), NO CARRIER after S10 (1.4 s)
    sim.run(1.2)
    assert sim.output(a) == b""
    sim.run(0.2)
    assert sim.output(a) == b"\r\nNO CARRIER\r\n"


# -- flow control (&K) ---------------------------------------------------------------


def _stalled_pair(k: int) -> tuple[Sim, ModemEngine, ModemEngine]:
    sim, a, b = two_modems()
    quiet_at(sim, a, f"AT&K{k}")
    connect(sim, a, b)
    sim.modems.remove(b)  # B's DTE reads nothing
    a.receive_dte(b"x" * OUTPUT_LIMIT)
    sim.exchange.tick()
    return sim, a, b


@pytest.mark.parametrize(("k", "cts"), [(0, True), (3, False), (4, True), (5, True), (6, False)])
def test_cts_follows_back_pressure_only_under_hardware_flow(k: int, cts: bool) -> None:
    _sim, a, _b = _stalled_pair(k)
    assert a.dte_room() == 0  # back-pressure holds either way
    assert a.signals.cts is cts


@pytest.mark.parametrize("k", [4, 6])
def test_xoff_from_the_dte_holds_data_and_xon_releases_it(k: int) -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, f"AT&K{k}")
    connect(sim, a, b)
    calls: list[int] = []
    a.set_listener(lambda: calls.append(1))
    sim.type(a, bytes([XOFF]))
    sim.type(b, "held")
    assert sim.output(a) == b""
    assert a.dte_pending() == 4
    calls.clear()
    sim.type(a, bytes([XON]) + b"go")
    assert calls  # the driver is told that output can flow again
    assert sim.output(a) == b"held"
    assert sim.output(b) == b"go"  # XON/XOFF were flow control, not data


def test_k5_transparent_xon_xoff_also_reach_the_far_end() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "AT&K5")
    connect(sim, a, b)
    sim.type(a, bytes([XOFF, XON]) + b"z")
    assert sim.output(b) == bytes([XOFF, XON]) + b"z"


def test_k3_xon_xoff_are_data() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    sim.type(a, bytes([XOFF]))
    sim.type(b, "flows")
    assert sim.output(a) == b"flows"
    assert sim.output(b) == bytes([XOFF])


def test_xoff_does_not_hide_the_escape_ok() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "AT&K4")
    connect(sim, a, b)
    sim.type(a, bytes([XOFF]))
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    assert sim.output(a) == OK


def test_rts_on_again_tells_the_driver_output_can_flow() -> None:
    sim, a = one_modem()
    sim.modems.remove(a)
    a.set_rts(False)
    a.receive_dte(b"AT\r")
    assert a.read_dte() == b""
    calls: list[int] = []
    a.set_listener(lambda: calls.append(1))
    a.set_rts(True)
    assert calls
    assert a.read_dte().endswith(OK)


# -- DTR ---------------------------------------------------------------------------------


def test_d2_dtr_drop_hangs_up_a_voice_call_silently() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATD1002;")
    sim.run(3)
    assert sim.output(a) == OK
    assert b.state == "ringing"
    a.set_dtr(False)
    sim.run(0.1)
    assert b.state == "command"  # the caller went on hook
    assert sim.output(a) == b""


def test_d1_dtr_drop_outside_data_mode_does_nothing() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "AT&D1")
    connect(sim, a, b)
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    sim.output(a)
    a.set_dtr(False)
    sim.run(0.1)
    assert a.state == "online_command"
    assert sim.output(a) == b""


# -- trace records -----------------------------------------------------------------------


def test_trace_has_both_byte_directions_line_signals_and_exchange_events() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "ATS0=1")
    at(sim, a, "ATD1002")
    sim.run(5)
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    at(sim, a, "ATH")
    sim.run(3)
    records = sim.transcript()
    by_b = [r.data for r in records if r.modem == "B" and r.kind == "line"]
    assert "RI=1" in by_b and "RI=0" in by_b
    assert by_b.index("RI=1") < by_b.index("RI=0") < by_b.index("DCD=1") < by_b.index("DCD=0")
    by_a = [(r.kind, r.data) for r in records if r.modem == "A"]
    assert ("dte>modem", b"ATD1002\r") in by_a
    assert ("modem>dte", b"\r\nCONNECT 33600\r\n") in by_a
    assert ("dte>modem", b"+++") in by_a
    assert ("line", "DCD=1") in by_a and ("line", "DCD=0") in by_a
    events = [r.data for r in records if r.kind == "exchange"]
    assert "dial 1001 -> 1002" in events
    assert "connect 1001 <-> 1002 at 33600" in events
    assert "hangup 1001" in events


def test_dropped_unsolicited_results_are_counted_in_a_line_record() -> None:
    sim, a = one_modem()
    records: list[TraceRecord] = []
    a._trace = records.append
    sim.modems.remove(a)
    a.receive_dte(b"AT" + b" " * (OUTPUT_LIMIT - 4) + b"\r")
    sim.exchange.place_call("1001", CallerId(number="555"))
    sim.exchange.tick()
    ring = len(b"\r\nRING\r\n")
    lines = [r.data for r in records if r.kind == "line"]
    assert f"dropped {ring} unsolicited bytes (total {ring})" in lines
    assert "RI=1" in lines


# -- dialing edge cases --------------------------------------------------------------------


def test_no_line_plugged_in_is_no_dialtone_at_x4_and_no_carrier_at_x3() -> None:
    from linelab.clock import ManualClock

    clock = ManualClock()
    modem = ModemEngine(load_profile("generic"), clock)
    assert modem.line is None
    for x, word in ((4, b"NO DIALTONE"), (3, b"NO CARRIER")):
        modem.receive_dte(f"ATE0X{x}\r".encode())
        modem.read_dte()
        modem.receive_dte(b"ATD1002\r")
        while modem.state == "dialing":
            deadline = modem.next_deadline()
            assert deadline is not None
            clock.advance_to(deadline)
            modem.tick()
        assert modem.read_dte() == b"\r\n" + word + b"\r\n"


def test_a_slash_redials_the_last_number() -> None:
    sim, a = one_modem()
    sim.exchange.set_far("555", "busy")
    quiet_at(sim, a, "ATD555")
    assert sim.run_until(lambda: a.state == "command", 10)
    assert sim.output(a) == b"\r\nBUSY\r\n"
    sim.exchange.set_far("555", "answer")
    sim.type(a, "A/")
    assert sim.run_until(lambda: a.state == "online", 10)
    assert sim.output(a) == b"A/\r\nCONNECT 33600\r\n"
