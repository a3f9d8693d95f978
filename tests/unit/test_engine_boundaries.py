"""Every timing comparison of the engine, at its exact boundary.

Each test puts the clock *exactly* on a limit and one float step before it
(`math.nextafter`), so that changing a comparison (`>=` to `>`, `<` to `<=`, the
timer queue's `when > now`, S0's `count >= S0`) or a deadline's arithmetic fails here.
The property tests draw times as fractions of S12 and cannot promise to land on the
boundary itself."""

from __future__ import annotations

import math

from engine_helpers import at, connect, one_modem, quiet_at, two_modems

from emulator.core.engine import AUTO_ANSWER_DELAY, ModemEngine
from emulator.network.sim import Sim
from emulator.network.subscriberline import CallerId

OK = b"\r\nOK\r\n"
RING = b"\r\nRING\r\n"
GUARD = 1.0  # the default S12 = 50 x 20 ms; 50 * 0.02 == 1.0 exactly in floats


def before(t: float) -> float:
    """The last float before `t`."""
    return math.nextafter(t, -math.inf)


def run_to(sim: Sim, when: float) -> None:
    """Run every timer up to `when` and stop with the clock exactly there."""
    sim.run(when - sim.clock.now())
    assert sim.clock.now() == when


def quiet_online() -> tuple[Sim, ModemEngine, ModemEngine, float]:
    """A connected pair; A sent one data byte at a round instant t0 (returned) and
    no timer is pending, so times from t0 on are exact."""
    sim, a, b = two_modems()
    connect(sim, a, b)
    assert a.next_deadline() is None
    t0 = float(math.ceil(sim.clock.now()) + 64)
    run_to(sim, t0)
    sim.type(a, "x")
    assert sim.output(b) == b"x"
    return sim, a, b, t0


# -- S12 guard time ----------------------------------------------------------------------


def test_s12_silence_before_of_exactly_the_guard_time_starts_an_escape() -> None:
    sim, a, b, t0 = quiet_online()
    run_to(sim, t0 + GUARD)
    sim.type(a, "+++")
    run_to(sim, t0 + 2 * GUARD)
    assert a.state == "online_command"
    assert sim.output(a) == OK
    assert sim.output(b) == b""


def test_s12_silence_before_one_step_short_of_the_guard_time_is_data() -> None:
    sim, a, b, t0 = quiet_online()
    run_to(sim, before(t0 + GUARD))
    sim.type(a, "+++")
    sim.run(3 * GUARD)
    assert a.state == "online"
    assert sim.output(b) == b"+++"


def test_s12_guard_after_ends_exactly_at_the_guard_time() -> None:
    sim, a, _, t0 = quiet_online()
    run_to(sim, t0 + 2 * GUARD)
    sim.type(a, "+++")
    assert a.next_deadline() == t0 + 3 * GUARD
    run_to(sim, before(t0 + 3 * GUARD))
    assert a.state == "online"
    assert sim.output(a) == b""
    run_to(sim, t0 + 3 * GUARD)
    assert a.state == "online_command"
    assert sim.output(a) == OK


def test_s12_next_plus_just_inside_the_guard_time_still_counts() -> None:
    sim, a, b, t0 = quiet_online()
    run_to(sim, t0 + 2 * GUARD)
    sim.type(a, "+")
    run_to(sim, before(t0 + 3 * GUARD))
    sim.type(a, "++")
    sim.run(2 * GUARD)
    assert a.state == "online_command"
    assert sim.output(b) == b""


def test_s12_next_plus_exactly_a_guard_time_later_is_data() -> None:
    # The plus arrives at the instant the first one's guard time ends, before the
    # escape timer has run (a driver may hand over bytes first): the gap is not
    # < S12, so both pluses are data.
    sim, a, b, t0 = quiet_online()
    run_to(sim, t0 + 2 * GUARD)
    sim.type(a, "+")
    sim.clock.advance_to(t0 + 3 * GUARD)
    a.receive_dte(b"++")  # straight to the engine, before tick()
    sim.run(3 * GUARD)
    assert a.state == "online"
    assert sim.output(b) == b"+++"


def test_s12_next_plus_one_step_inside_the_guard_time_counts() -> None:
    sim, a, b, t0 = quiet_online()
    run_to(sim, t0 + 2 * GUARD)
    sim.type(a, "+")
    sim.clock.advance_to(before(t0 + 3 * GUARD))
    a.receive_dte(b"++")
    sim.run(3 * GUARD)
    assert a.state == "online_command"
    assert sim.output(b) == b""


# -- S7, S10, S25, S8 ------------------------------------------------------------------


def dialled(sim: Sim, a: ModemEngine, command: str) -> float:
    """Type `command` (an ATD) and run until the dial string is spent: the one engine
    timer left is then the S7 carrier wait; its deadline is returned."""
    at(sim, a, command)
    assert sim.run_until(lambda: "carrier" in a._timers, 60)
    deadline = a.next_deadline()
    assert deadline is not None
    assert deadline == a._timers["carrier"]
    return deadline


def test_s7_gives_up_exactly_s7_seconds_after_the_dial_string() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS7=5")
    deadline = dialled(sim, a, "ATDT1002")  # B rings and nobody answers
    assert deadline == sim.clock.now() + 5.0
    run_to(sim, before(deadline))
    assert a.state == "dialing"
    assert b.state == "ringing"
    run_to(sim, deadline)
    assert a.state == "command"


def test_s8_comma_pause_is_exactly_s8_seconds() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "ATX1S6=2S8=3")  # blind dialling: S6 = 2 s, then the string
    t0 = float(math.ceil(sim.clock.now()) + 8)
    run_to(sim, t0)
    at(sim, a, "ATDT,")
    assert a.next_deadline() == t0 + 2.0 + 3.0
    run_to(sim, before(t0 + 5.0))
    assert "carrier" not in a._timers
    run_to(sim, t0 + 5.0)
    assert "carrier" in a._timers


# -- S10 carrier-loss delay, S25 DTR debounce ----------------------------------------------


def test_s10_no_carrier_exactly_s10_tenths_after_the_loss() -> None:
    sim, a, b, _ = quiet_online()
    b.set_dtr(False)  # &D2 default: B hangs up after S25
    assert sim.run_until(lambda: a.state == "carrier_lost", 5)
    lost = sim.clock.now()
    deadline = a.next_deadline()
    assert deadline == lost + a.regs[10] * 0.1
    sim.output(a)
    run_to(sim, before(deadline))
    assert a.state == "carrier_lost"
    assert sim.output(a) == b""
    run_to(sim, deadline)
    assert a.state == "command"
    assert sim.output(a) == b"\r\nNO CARRIER\r\n"


def test_s25_dtr_drop_counts_exactly_after_s25_hundredths() -> None:
    sim, a, _, t0 = quiet_online()
    quiet = a.regs[25] * 0.01
    a.set_dtr(False)
    assert a.next_deadline() == t0 + quiet
    run_to(sim, before(t0 + quiet))
    assert a.state == "online"
    run_to(sim, t0 + quiet)
    assert a.state != "online"


# -- ringing: cadence, S0 ----------------------------------------------------------------


def ringing(s0: int) -> tuple[Sim, ModemEngine, float]:
    sim, a = one_modem()
    quiet_at(sim, a, f"ATS0={s0}")
    t0 = float(math.ceil(sim.clock.now()) + 8)
    run_to(sim, t0)
    sim.exchange.place_call("1001", CallerId("5551234"))
    assert sim.run_until(lambda: a.state == "ringing", 1)
    return sim, a, sim.clock.now()


def test_ring_cadence_rings_again_exactly_one_period_later() -> None:
    sim, a, first = ringing(0)
    on, off = a.profile.ring_cadence[:2]
    assert sim.output(a) == RING
    assert a.signals.ri
    run_to(sim, before(first + on))
    assert a.signals.ri
    run_to(sim, first + on)
    assert not a.signals.ri
    second = first + on + off
    run_to(sim, before(second))
    assert sim.output(a) == b""
    run_to(sim, second)
    assert sim.output(a) == RING
    assert a.regs[1] == 2


def test_s0_answers_exactly_after_the_s0th_ring() -> None:
    sim, a, first = ringing(2)
    on, off = a.profile.ring_cadence[:2]
    answer = first + on + off + AUTO_ANSWER_DELAY
    run_to(sim, before(first + AUTO_ANSWER_DELAY))
    run_to(sim, first + AUTO_ANSWER_DELAY)
    assert a.state == "ringing"  # S0=2: not after the first RING
    run_to(sim, before(answer))
    assert a.state == "ringing"
    assert a.regs[1] == 2
    run_to(sim, answer)
    assert a.state != "ringing"


def test_s0_equal_to_the_ring_count_answers_not_only_above_it() -> None:
    sim, a, first = ringing(1)
    run_to(sim, first + AUTO_ANSWER_DELAY)
    assert a.regs[1] == 1
    assert a.state != "ringing"
