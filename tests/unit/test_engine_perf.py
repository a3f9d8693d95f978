"""The data path is chunk-at-a-time: one `Data` event per send, bounded memory.

These tests assert behaviour (bytes intact, chunks, back-pressure, bounds); how fast the
data path and small reads are is measured by bench/engine_throughput.py, against floors
measured in the same run, not asserted here.
"""

from __future__ import annotations

from engine_helpers import connect, two_modems

from emulator.core.engine import OUTPUT_LIMIT, ModemEngine
from emulator.network.sim import Sim
from emulator.network.subscriberline import Data, LineEvent

MIB = 1 << 20
CHUNK = 4096


def _payload(n: int) -> bytes:
    # Every byte value, '+' included: never guarded inside a burst, so never an escape.
    return bytes((i * 131 + 7) & 0xFF for i in range(n))


def _count_data_events(modem: ModemEngine) -> list[int]:
    """Record the size of every Data event `modem` receives (the exchange calls
    `line_event` on the instance, so an instance attribute intercepts it)."""
    sizes: list[int] = []
    original = modem.line_event

    def line_event(event: LineEvent) -> None:
        if isinstance(event, Data):
            sizes.append(len(event.data))
        original(event)

    modem.line_event = line_event  # type: ignore[method-assign]
    return sizes


def _online_pair() -> tuple[Sim, ModemEngine, ModemEngine]:
    sim, a, b = two_modems()
    connect(sim, a, b)
    return sim, a, b


def test_one_mib_burst_through_sim_is_intact_and_in_chunks() -> None:
    sim, a, b = _online_pair()
    sizes = _count_data_events(b)
    payload = _payload(MIB)
    got = bytearray()
    for i in range(0, MIB, CHUNK):
        sim.type(a, payload[i : i + CHUNK])
        got += sim.output(b)
    sim.run(0.1)
    got += sim.output(b)
    assert bytes(got) == payload
    assert len(sizes) <= 2 * (MIB // CHUNK), "data is not forwarded in chunks"
    assert a.state == "online" and b.state == "online"


def test_a_chunk_of_data_is_one_send_and_one_data_event() -> None:
    sim, a, b = _online_pair()
    sizes = _count_data_events(b)
    sim.type(a, _payload(CHUNK))
    assert sizes == [CHUNK]
    assert sim.output(b) == _payload(CHUNK)


def test_held_pluses_and_the_data_after_them_are_one_send() -> None:
    sim, a, b = _online_pair()
    sizes = _count_data_events(b)
    sim.run(2)
    sim.type(a, "++")
    assert sizes == []  # held: they might be an escape
    sim.type(a, "x" * 100)
    assert sizes == [102]
    assert sim.output(b) == b"++" + b"x" * 100


def test_pluses_after_data_in_one_chunk_are_data_at_once() -> None:
    sim, a, b = _online_pair()
    sim.run(2)
    sim.type(a, "x+++")  # no silence before these pluses: not a candidate escape
    assert sim.output(b) == b"x+++"
    assert a.next_deadline() is None  # no escape timer was armed


def test_back_pressure_holds_with_a_slow_reader() -> None:
    sim, a, b = _online_pair()
    sim.modems.remove(b)  # drive B's DTE by hand: it reads 3000 bytes per round
    payload = _payload(OUTPUT_LIMIT * 4)
    got = bytearray()
    sent = 0
    while len(got) < len(payload):
        room = a.dte_room()
        take = min(room, 5000, len(payload) - sent)
        if take:
            a.receive_dte(payload[sent : sent + take])
            sent += take
        sim.exchange.tick()
        assert b.dte_pending() <= OUTPUT_LIMIT
        got += b.read_dte(3000)
    assert bytes(got) == payload


def test_held_pluses_count_against_the_room() -> None:
    sim, a, b = _online_pair()
    sim.modems.remove(b)
    a.receive_dte(b"x" * (OUTPUT_LIMIT - 10))
    sim.exchange.tick()
    sim.run(2)
    a.receive_dte(b"+++")  # held for the guard time after them
    assert a.dte_room() == 7
    a.receive_dte(b"y" * 7)  # cancels the escape: the pluses go too
    sim.exchange.tick()
    assert b.dte_pending() == OUTPUT_LIMIT
    assert b.read_dte().endswith(b"x+++yyyyyyy")


def test_small_reads_of_a_full_buffer_return_every_byte_in_order() -> None:
    sim, a, b = _online_pair()
    sim.modems.remove(b)
    payload = _payload(OUTPUT_LIMIT)
    a.receive_dte(payload)
    sim.exchange.tick()
    assert b.dte_pending() == OUTPUT_LIMIT
    got = bytearray()
    reads = 0
    while b.dte_pending():
        piece = b.read_dte(16)
        assert len(piece) == 16
        got += piece
        reads += 1
    assert reads == OUTPUT_LIMIT // 16
    assert bytes(got) == payload
