"""The +++ escape: S12 guard time before and after, S2, pluses that reach the peer."""

from __future__ import annotations

from engine_helpers import at, connect, quiet_at, two_modems

from emulator.core.engine import ModemEngine
from emulator.network.sim import Sim

OK = b"\r\nOK\r\n"


def online() -> tuple[Sim, ModemEngine, ModemEngine]:
    sim, a, b = two_modems()
    connect(sim, a, b)
    return sim, a, b


def test_guarded_escape() -> None:
    sim, a, b = online()
    sim.run(1.0)  # exactly S12 = 50 x 20 ms of silence
    sim.type(a, "+++")
    sim.run(0.99)
    assert a.state == "online"
    sim.run(0.02)
    assert a.state == "online_command"
    assert sim.output(a) == OK
    assert sim.output(b) == b""  # the escape never reaches the peer
    assert a.signals.dcd


def test_no_guard_before_means_data() -> None:
    sim, a, b = online()
    sim.run(0.5)
    sim.type(a, "+++")
    sim.run(3)
    assert a.state == "online"
    assert sim.output(b) == b"+++"


def test_data_right_after_the_pluses_cancels() -> None:
    sim, a, b = online()
    sim.run(2)
    sim.type(a, "+++")
    sim.run(0.5)
    sim.type(a, "x")
    sim.run(3)
    assert a.state == "online"
    assert sim.output(b) == b"+++x"
    assert sim.output(a) == b""


def test_a_fourth_plus_cancels() -> None:
    sim, a, b = online()
    sim.run(2)
    sim.type(a, "++++")
    sim.run(3)
    assert a.state == "online"
    assert sim.output(b) == b"++++"


def test_pluses_too_far_apart_are_data() -> None:
    sim, a, b = online()
    sim.run(2)
    sim.type(a, "+")
    sim.run(1.5)  # more than S12 before the second plus
    sim.type(a, "+")
    sim.run(0.1)
    sim.type(a, "+")
    sim.run(3)
    assert a.state == "online"
    assert sim.output(b) == b"+++"


def test_pluses_slowly_typed_within_guard_escape() -> None:
    sim, a, b = online()
    sim.run(2)
    for _ in range(3):
        sim.type(a, "+")
        sim.run(0.9)
    sim.run(0.2)
    assert a.state == "online_command"
    assert sim.output(b) == b""


def test_plus_in_the_middle_of_data_reaches_the_peer() -> None:
    sim, a, b = online()
    sim.type(a, "a+++AT\r")
    sim.run(3)
    assert sim.output(b) == b"a+++AT\r"
    assert a.state == "online"


def test_s2_changes_the_escape_character() -> None:
    sim, a, b = online()
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    quiet_at(sim, a, "ATS2=45O")
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    assert a.state == "online"
    assert sim.output(b) == b"+++"
    sim.type(a, "---")
    sim.run(1.5)
    assert a.state == "online_command"
    assert sim.output(b) == b""


def test_s2_above_127_disables_escape() -> None:
    sim, a, b = online()
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    quiet_at(sim, a, "ATS2=200O")
    sim.run(2)
    sim.type(a, "+++")
    sim.run(2)
    assert a.state == "online"
    assert sim.output(b) == b"+++"


def test_s12_changes_the_guard_time() -> None:
    sim, a, _b = online()
    sim.run(1.5)
    sim.type(a, "+++")
    sim.run(1.5)
    quiet_at(sim, a, "ATS12=10O")  # 0.2 s
    sim.run(0.25)
    sim.type(a, "+++")
    sim.run(0.25)
    assert a.state == "online_command"


def test_escape_then_ato_then_escape_again() -> None:
    sim, a, b = online()
    for _ in range(3):
        sim.run(1.5)
        sim.type(a, "+++")
        sim.run(1.5)
        assert a.state == "online_command"
        assert at(sim, a, "ATO").endswith(b"\r\nCONNECT 33600\r\n")
        assert a.state == "online"
    sim.type(a, "z")
    sim.run(0.1)
    assert sim.output(b) == b"z"


def test_carrier_loss_during_candidate_escape() -> None:
    sim, a, b = online()
    sim.run(2)
    sim.type(a, "++")
    sim.type(b, "data")
    sim.run(0.1)
    assert sim.output(a) == b"data"
    b.set_dtr(False)  # &D2: B hangs up
    sim.run(3)
    assert a.state == "command"
    assert sim.output(a).endswith(b"\r\nNO CARRIER\r\n")
