"""Caller ID timing: the block comes in the silence after the first ring burst (Bell 202
FSK is sent between the first and the second ring), never at the instant of RING, and
never once the modem has gone off hook (S0=1, early ATA)."""

from __future__ import annotations

import io

import pytest
from engine_helpers import at, one_modem, profile, quiet_at, two_modems

from emulator.commands import selftest
from emulator.core.engine import CID_GAP, caller_id_delay
from emulator.network import callerid
from emulator.network.subscriberline import CallerId

RING = b"\r\nRING\r\n"
OK = b"\r\nOK\r\n"
WHEN = __import__("datetime").datetime(2026, 3, 21, 14, 5)
BOB = CallerId(number="5551234567", name="BOB")
BLOCK = b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 5551234567\r\nNAME = BOB\r\n"


def bob_delay() -> float:
    return caller_id_delay((2.0, 4.0), len(callerid.wire_message(BOB, WHEN)))


def test_delay_is_burst_gap_and_fsk_time() -> None:
    # 2 s burst, 0.5 s of silence, then (300 + 180 + 10 x 30 bytes) bits at 1200 bit/s.
    assert len(callerid.wire_message(BOB, WHEN)) == 30
    assert bob_delay() == pytest.approx(2.0 + CID_GAP + 780 / 1200)
    # A short first silence (UK-style double ring): the middle of that silence.
    assert caller_id_delay((0.4, 0.2, 0.4, 2.0), 30) == pytest.approx(0.5)


def test_block_comes_after_the_first_burst_not_with_ring() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1")
    sim.exchange.place_call("1001", BOB)
    sim.run(0.001)
    assert sim.output(a) == RING  # not in the same instant as RING
    sim.run(2.0)
    assert not a.signals.ri  # the burst is over, the FSK has not started yet
    sim.run(bob_delay() - 2.0 - 0.01)
    assert sim.output(a) == b""
    sim.run(0.02)
    assert sim.output(a) == BLOCK
    sim.run(6.0 - bob_delay() - 0.05)
    assert sim.output(a) == b""
    sim.run(0.1)
    assert sim.output(a) == RING  # the second ring follows the block


def test_trace_times_ring_then_block_then_ring() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1")
    start, seen = sim.clock.now(), len(sim.transcript())
    sim.exchange.place_call("1001", BOB)
    sim.run(7)
    shown = [
        (r.t - start, r.data)
        for r in sim.transcript()[seen:]
        if r.modem == "A" and r.kind == "modem>dte"
    ]
    assert shown == [
        (0.0, RING),
        (pytest.approx(bob_delay()), BLOCK),
        (pytest.approx(6.0), RING),
    ]


def test_s0_1_answers_before_caller_id_so_none_is_shown() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1;S0=1")
    sim.exchange.place_call("1001", BOB)
    sim.run(10)
    out = sim.output(a)
    assert out == RING + b"\r\nCONNECT 33600\r\n"
    assert a.last_caller is None


def test_s0_2_shows_caller_id_before_answering() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1;S0=2")
    sim.exchange.place_call("1001", BOB)
    sim.run(10)
    assert sim.output(a) == RING + BLOCK + RING + b"\r\nCONNECT 33600\r\n"


def test_ata_during_the_first_burst_gets_no_caller_id() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1")
    sim.exchange.place_call("1001", BOB)
    sim.run(0.5)
    assert at(sim, a, "ATA", run=10) == b"ATA\r\r\nCONNECT 33600\r\n"
    assert a.state == "online"
    assert a.last_caller is None


def test_caller_gone_before_the_fsk_shows_nothing() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "AT+VCID=1")
    quiet_at(sim, a, "ATD1002")
    sim.run(1.0)  # B's first RING at 0.76 s
    sim.type(a, "x")  # A abandons
    sim.run(10)
    assert sim.output(b) == RING
    assert quiet_at(sim, b, "AT+VRID") == OK  # nothing was received


def test_vrid_after_the_block_repeats_it() -> None:
    sim, a = one_modem()
    sim.exchange.place_call("1001", BOB)
    sim.run(1)
    assert quiet_at(sim, a, "AT+VRID") == OK  # not received yet
    sim.run(4)
    sim.output(a)
    assert quiet_at(sim, a, "AT+VRID=0") == BLOCK + OK


def test_short_first_silence_still_precedes_the_second_burst() -> None:
    sim, a = one_modem(profile(ring_cadence=(0.4, 0.2, 0.4, 2.0)))
    quiet_at(sim, a, "AT+VCID=1")
    sim.exchange.place_call("1001", BOB)
    sim.run(0.45)
    assert sim.output(a) == RING
    sim.run(0.1)
    assert sim.output(a) == BLOCK
    sim.run(0.1)
    assert sim.output(a) == RING


def test_selftest_dialogue_shows_the_block_between_the_rings() -> None:
    out = io.StringIO()
    assert selftest.run_selftest(out=out) == 0
    lines = out.getvalue().splitlines()
    rings = [i for i, line in enumerate(lines) if line.endswith("B -> RING")]
    nmbr = next(i for i, line in enumerate(lines) if line.endswith("B -> NMBR = 1001"))
    assert rings[0] < nmbr < rings[1]
    assert lines[rings[0]][:10] != lines[nmbr][:10]  # different timestamps


def test_documented_timing_figures_match_the_engine() -> None:
    from emulator.core import engine
    from emulator.core.states import diagram_document

    doc = diagram_document()
    assert f"{engine.CID_GAP:g} s after the burst ends" in doc
    assert f"{engine.CID_PREAMBLE_BITS - 180} seizure bits, 180 mark bits" in doc
    assert f"at {engine.CID_BAUD} bit/s" in doc
    assert f"S0=n answers {engine.AUTO_ANSWER_DELAY:g} s after" in doc
    assert f"clears {engine.S1_CLEAR_DELAY:g} s after" in doc
    alice = CallerId(number="1001", name="ALICE")  # the selftest's caller
    typical = caller_id_delay((2.0, 4.0), len(callerid.wire_message(alice, WHEN)))
    assert f"about {typical:.1f} s" in doc
