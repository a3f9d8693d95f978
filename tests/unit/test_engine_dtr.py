"""DTR under &D0-&D3, with the S25 debounce; RTS/CTS under &K3; back-pressure."""

from __future__ import annotations

from engine_helpers import at, connect, one_modem, quiet_at, two_modems

from emulator.core.engine import OUTPUT_LIMIT
from emulator.core.tracerecord import TraceRecord
from emulator.network.subscriberline import CallerId

OK = b"\r\nOK\r\n"


def test_d0_ignores_dtr() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "AT&D0")
    connect(sim, a, b)
    a.set_dtr(False)
    sim.run(1)
    assert a.state == "online"
    assert sim.output(a) == b""


def test_d1_goes_to_online_command() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "AT&D1")
    connect(sim, a, b)
    a.set_dtr(False)
    sim.run(0.1)
    assert a.state == "online_command"
    assert sim.output(a) == OK
    a.set_dtr(True)
    assert at(sim, a, "ATO").endswith(b"CONNECT 33600\r\n")


def test_d2_hangs_up() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    a.set_dtr(False)
    sim.run(0.1)
    assert a.state == "command"
    assert sim.output(a) == OK
    assert not a.signals.dcd
    sim.run(2)
    assert sim.output(b) == b"\r\nNO CARRIER\r\n"


def test_d2_refuses_auto_answer_while_dtr_is_off() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, b, "ATS0=1")
    b.set_dtr(False)
    quiet_at(sim, a, "ATS7=20D1002")
    sim.run(10)
    assert b.state == "ringing"
    b.set_dtr(True)
    sim.run(6)
    assert b.state == "online"


def test_d3_resets_as_atz() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS7=33&W")
    quiet_at(sim, a, "AT&D3S7=44")
    connect(sim, a, b)
    a.set_dtr(False)
    sim.run(0.1)
    assert a.state == "command"
    assert a.regs[7] == 33
    assert a.regs.setting("&D") == 2  # the stored profile had &D2
    sim.run(2)
    assert b"NO CARRIER" in sim.output(b)


def test_dtr_drop_shorter_than_s25_is_ignored() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    a.set_dtr(False)
    sim.run(0.049)  # S25 = 5: 50 ms
    a.set_dtr(True)
    sim.run(1)
    assert a.state == "online"
    a.set_dtr(False)
    sim.run(0.051)
    assert a.state == "command"


def test_s25_sets_the_debounce() -> None:
    sim, a, b = two_modems()
    quiet_at(sim, a, "ATS25=100")
    connect(sim, a, b)
    a.set_dtr(False)
    sim.run(0.9)
    a.set_dtr(True)
    assert a.state == "online"
    a.set_dtr(False)
    sim.run(1.01)
    assert a.state == "command"


def test_dtr_change_while_idle_gives_no_result() -> None:
    sim, a = one_modem()
    for mode in range(4):
        quiet_at(sim, a, f"AT&D{mode}")
        a.set_dtr(False)
        sim.run(1)
        a.set_dtr(True)
        assert sim.output(a) == b""


def test_k3_rts_off_holds_output_to_the_dte() -> None:
    sim, a = one_modem()
    a.set_rts(False)
    sim.type(a, "AT\r")
    assert a.read_dte() == b""
    assert a.dte_pending() > 0
    a.set_rts(True)
    assert a.read_dte().endswith(OK)
    quiet_at(sim, a, "AT&K0")
    a.set_rts(False)
    sim.type(a, "AT\r")
    assert sim.output(a) == b"AT\r" + OK


def test_back_pressure_in_data_mode() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    # B's DTE reads nothing: drive A directly so Sim does not drain B.
    sim.modems.remove(b)
    assert a.dte_room() == OUTPUT_LIMIT
    a.receive_dte(b"x" * OUTPUT_LIMIT)
    sim.exchange.tick()
    assert b.dte_pending() == OUTPUT_LIMIT
    assert a.dte_room() == 0
    assert not a.signals.cts  # &K3: CTS follows back-pressure
    assert b.rx_room() == 0
    assert b.read_dte(100) == b"x" * 100
    assert a.dte_room() == 100
    assert a.signals.cts


def test_peer_data_is_never_dropped_even_past_the_bound() -> None:
    sim, a, b = two_modems()
    connect(sim, a, b)
    sim.modems.remove(b)
    a.receive_dte(b"y" * (OUTPUT_LIMIT + 500))  # a driver ignoring dte_room()
    sim.exchange.tick()
    assert b.read_dte() == b"y" * (OUTPUT_LIMIT + 500)


def test_unsolicited_results_beyond_the_bound_are_dropped_and_counted() -> None:
    sim, a = one_modem()
    records: list[TraceRecord] = []
    a._trace = records.append
    sim.modems.remove(a)
    a.receive_dte(b"AT" + b" " * (OUTPUT_LIMIT - 4) + b"\r")  # fill the buffer with echo
    pending = a.dte_pending()
    sim.exchange.place_call("1001", CallerId(number="555"))
    sim.exchange.tick()
    assert a.state == "ringing"
    assert a.dte_pending() == pending  # RING was dropped
    assert a.dropped > 0
    assert any(r.kind == "line" and "dropped" in str(r.data) for r in records)


def test_listener_fires_on_output_signals_and_deadlines() -> None:
    sim, a = one_modem()
    calls = []
    a.set_listener(lambda: calls.append(1))
    sim.type(a, "AT\r")
    assert calls
    calls.clear()
    sim.exchange.place_call("1001", CallerId(number="555"))
    sim.run(0.1)
    assert calls  # RING, RI and the cadence deadline
