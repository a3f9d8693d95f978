"""Gaps closed after the audit: lenient &F1/&F2, ATH1 busy, S10=255."""

from __future__ import annotations

import dataclasses

import pytest
from engine_helpers import at, connect, one_modem, profile, quiet_at, two_modems

from emulator.core.profile import load_profile

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
BUSY = b"\r\nBUSY\r\n"


# -- (a) lenient arguments: &F1 / &F2 --------------------------------------------------


@pytest.mark.parametrize("command", ["AT&F1", "AT&F2", "AT&F0", "AT&F"])
def test_lenient_profile_accepts_amp_f1_and_f2_as_amp_f(command: str) -> None:
    sim, a = one_modem("lenient")
    quiet_at(sim, a, "ATS7=9X0&C0")
    assert quiet_at(sim, a, command) == OK
    assert (a.regs[7], a.regs.setting("X"), a.regs.setting("&C")) == (50, 4, 1)


def test_lenient_profile_keeps_the_range_of_amp_f() -> None:
    sim, a = one_modem("lenient")
    assert quiet_at(sim, a, "AT&F3") == ERROR


@pytest.mark.parametrize("command", ["AT&F1", "AT&F2"])
def test_generic_profile_stays_strict_about_amp_f(command: str) -> None:
    sim, a = one_modem("generic")
    assert quiet_at(sim, a, command) == ERROR


def test_lenient_arguments_follow_the_profile_not_its_name() -> None:
    custom = dataclasses.replace(load_profile("generic"), name="custom", lenient_arguments=True)
    sim, a = one_modem(custom)
    assert quiet_at(sim, a, "AT&F1") == OK
    sim, b = one_modem(profile("lenient", lenient_arguments=False))
    assert quiet_at(sim, b, "AT&F1") == ERROR


# -- (b) ATH1: off hook, busy to callers --------------------------------------------------


def test_h1_makes_the_line_busy_until_h0() -> None:
    sim, a, b = two_modems()
    assert quiet_at(sim, b, "ATH1") == OK
    assert at(sim, a, "ATD1002", run=10).endswith(BUSY)
    assert b.state == "command"
    assert sim.output(b) == b""  # no RING while off hook
    assert quiet_at(sim, b, "ATH0") == OK
    at(sim, a, "ATD1002")
    assert sim.run_until(lambda: b.state == "ringing", 10)


@pytest.mark.parametrize("release", ["ATH", "ATZ"])
def test_h1_is_released_by_h_and_z(release: str) -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "ATH1")
    assert quiet_at(sim, b, release) == OK
    at(sim, a, "ATD1002")
    assert sim.run_until(lambda: b.state == "ringing", 10)


def test_h1_is_released_by_dtr_under_d2() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "ATH1")
    b.set_dtr(False)
    sim.run(0.5)
    b.set_dtr(True)
    assert sim.output(b) == b""  # on hook again, silently (as after "ATD…;")
    at(sim, a, "ATD1002")
    assert sim.run_until(lambda: b.state == "ringing", 10)


def test_h1_then_dial_places_the_call() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATH1")
    at(sim, a, "ATD1002")
    assert sim.run_until(lambda: b.state == "ringing", 10)


def test_off_hook_line_is_busy_at_the_exchange() -> None:
    sim, a, b = two_modems()
    assert b.line is not None
    sim.exchange.line("1002").off_hook()
    assert at(sim, a, "ATD1002", run=10).endswith(BUSY)
    sim.exchange.line("1002").hangup()
    at(sim, a, "ATD1002")
    assert sim.run_until(lambda: b.state == "ringing", 10)


# -- (c) S10=255: never hang up on carrier loss ------------------------------------------


@pytest.mark.parametrize("name", ["generic", "hayes", "lenient"])
def test_s10_range_allows_255(name: str) -> None:
    sim, a = one_modem(name)
    assert quiet_at(sim, a, "ATS10=255") == OK


def test_s10_255_never_hangs_up_on_carrier_loss() -> None:
    sim, a, b = two_modems()
    c = sim.add_modem("C", "1003")
    quiet_at(sim, a, "ATS10=255")
    connect(sim, a, b)
    b.set_dtr(False)  # &D2: B hangs up
    sim.run(600)
    assert a.state == "online"
    assert a.signals.dcd
    assert sim.output(a) == b""  # no NO CARRIER
    sim.type(a, "data to nowhere")
    assert a.dte_room() > 0 and a.signals.cts  # the DTE is not blocked
    assert at(sim, c, "ATD1001", run=10).endswith(BUSY)  # still off hook
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    assert a.state == "online_command" and sim.output(a) == OK
    assert quiet_at(sim, a, "ATH") == OK
    assert a.state == "command"
    at(sim, c, "ATD1001")
    assert sim.run_until(lambda: a.state == "ringing", 10)


def test_s10_255_and_dtr_under_d2_hang_up() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS10=255")
    connect(sim, a, b)
    b.set_dtr(False)
    sim.run(30)
    a.set_dtr(False)
    sim.run(0.5)
    assert a.state == "command"
    assert sim.output(a) == OK


def test_s10_254_hangs_up_after_25_4_seconds() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS10=254")
    connect(sim, a, b)
    b.set_dtr(False)
    sim.run(25.3)
    assert a.state == "carrier_lost"
    sim.run(0.2)
    assert a.state == "command"
    assert sim.output(a) == b"\r\nNO CARRIER\r\n"
