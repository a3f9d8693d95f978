"""Caller ID as the DTE sees it, byte for byte (checksum included), and +VRID."""

from __future__ import annotations

from datetime import datetime

from engine_helpers import one_modem, quiet_at, two_modems

from emulator.network.subscriberline import CallerId

# After the caller ID block of a call placed at t=0, before the second RING (t=6).
CID_SEEN = 5.0
RING = b"\r\nRING\r\n"
OK = b"\r\nOK\r\n"


def _frame(kind: int, payload: bytes) -> bytes:
    body = bytes([kind, len(payload)]) + payload
    return body + bytes([(256 - sum(body) % 256) % 256])


def test_formatted_caller_id_after_the_first_ring_only() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "AT+VCID=1")
    quiet_at(sim, a, "ATD1002")
    sim.run(7)
    assert sim.output(b) == (
        RING + b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 1001\r\nNAME = ALICE\r\n" + RING
    )


def test_formatted_caller_id_without_name() -> None:
    sim, a, b = two_modems(caller_name=None)
    quiet_at(sim, b, "AT#CID=1")
    quiet_at(sim, a, "ATD1002")
    sim.run(5)
    assert sim.output(b) == RING + b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 1001\r\n"


def test_unformatted_mdmf_hex_with_checksum() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "AT+VCID=2")
    quiet_at(sim, a, "ATD1002")
    sim.run(5)
    message = _frame(
        0x80,
        b"\x01\x0803211405" + b"\x02\x041001" + b"\x07\x05ALICE",
    )
    assert sum(message) % 256 == 0
    assert sim.output(b) == RING + b"\r\n" + message.hex().upper().encode() + b"\r\n"


def test_unformatted_sdmf_when_there_is_no_name() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=2")
    sim.exchange.place_call("1001", CallerId(number="5551234567"))
    sim.run(CID_SEEN)
    message = _frame(0x04, b"03211405" + b"5551234567")
    assert sim.output(a) == RING + b"\r\n" + message.hex().upper().encode() + b"\r\n"


def test_private_and_unavailable_markers() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1")
    sim.exchange.place_call("1001", CallerId(number_absent="O", name_absent="P"))
    sim.run(CID_SEEN)
    assert sim.output(a) == RING + b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = O\r\nNAME = P\r\n"


def test_date_and_time_follow_the_exchange_clock() -> None:
    sim, a = one_modem()
    sim.exchange.set_datetime(datetime(2027, 12, 31, 23, 58, 30))
    sim.run(90)  # the exchange's clock advances with virtual time
    quiet_at(sim, a, "AT+VCID=1")
    sim.exchange.place_call("1001", CallerId(number="42", name="X"))
    sim.run(CID_SEEN)
    assert b"DATE = 0101\r\nTIME = 0000\r\n" in sim.output(a)


def test_v0_caller_id_framing() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1;V0")
    sim.exchange.place_call("1001", CallerId(number="42"))
    sim.run(CID_SEEN)
    assert sim.output(a) == b"2\rDATE = 0321\r\nTIME = 1405\r\nNMBR = 42\r\n"


def test_q1_hides_ring_but_not_caller_id() -> None:
    sim, a = one_modem()
    quiet_at(sim, a, "AT+VCID=1;Q1")
    sim.exchange.place_call("1001", CallerId(number="42"))
    sim.run(CID_SEEN)
    assert sim.output(a) == b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 42\r\n"


def test_vcid_0_shows_no_caller_id() -> None:
    sim, a = one_modem()
    sim.exchange.place_call("1001", CallerId(number="42"))
    sim.run(CID_SEEN)
    assert sim.output(a) == RING


def test_vrid_repeats_the_last_caller_id() -> None:
    sim, a = one_modem()
    sim.exchange.place_call("1001", CallerId(number="42", name="BOB"))
    sim.run(CID_SEEN)
    sim.output(a)
    assert quiet_at(sim, a, "AT+VRID=0") == (
        b"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 42\r\nNAME = BOB\r\n" + OK
    )
    message = _frame(0x80, b"\x01\x0803211405\x02\x0242\x07\x03BOB")
    assert quiet_at(sim, a, "AT+VRID=1") == (
        b"\r\n" + message.hex().upper().encode() + b"\r\n" + OK
    )
    assert quiet_at(sim, a, "AT+VRID").startswith(b"\r\nDATE = 0321")
