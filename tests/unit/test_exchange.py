"""The exchange on its own, with recording peers: routing, busy, rates, far ends,
placed calls, dial tone, wall clock, drop and hang-up."""

from __future__ import annotations

from datetime import datetime

import pytest
from engine_helpers import RecordingPeer

from emulator.core.tracerecord import TraceRecord
from emulator.network.exchange import Exchange
from emulator.network.farend import BehaviourError
from emulator.network.subscriberline import (
    Busy,
    CallerGone,
    CallerId,
    CarrierLost,
    Connected,
    Data,
    IncomingCall,
    RemoteHangup,
    Ringback,
    Unobtainable,
)
from linelab.clock import ManualClock
from linelab.errors import LinelabError


def run(ex: Exchange, clock: ManualClock, seconds: float) -> None:
    end = clock.now() + seconds
    while True:
        ex.tick()
        deadline = ex.next_deadline()
        if deadline is None or deadline > end:
            clock.advance_to(end)
            ex.tick()
            return
        clock.advance_to(deadline)


def setup() -> tuple[Exchange, ManualClock, RecordingPeer, RecordingPeer]:
    clock = ManualClock()
    ex = Exchange(clock)
    a, b = RecordingPeer(), RecordingPeer()
    ex.attach(a, name="ALICE")
    ex.attach(b)
    return ex, clock, a, b


def test_numbers_are_allocated_from_1001() -> None:
    ex, _, _, _ = setup()
    assert ex.numbers() == ["1001", "1002"]
    ex.attach(RecordingPeer(), "7")
    assert ex.attach(RecordingPeer()).number == "1003"
    with pytest.raises(LinelabError):
        ex.attach(RecordingPeer(), "7")


def test_call_rings_with_caller_id_and_connects() -> None:
    ex, clock, a, b = setup()
    ex.set_datetime(datetime(2026, 1, 2, 3, 4))
    ex.line("1001").dial("1002")
    assert b.events == []  # delivered by tick(), never from inside dial()
    run(ex, clock, 0)
    assert b.events == [
        IncomingCall(CallerId(number="1001", name="ALICE"), when=datetime(2026, 1, 2, 3, 4))
    ]
    assert a.events == [Ringback()]
    run(ex, clock, 6)
    assert a.events == [Ringback(), Ringback()]
    ex.line("1002").answer()
    run(ex, clock, 0)
    assert a.events[-1] == Connected(115200) and b.events[-1] == Connected(115200)


def test_data_is_delivered_in_order_and_send_room_counts_in_flight() -> None:
    ex, clock, _a, b = setup()
    b.room = 10
    ex.line("1001").dial("1002")
    run(ex, clock, 0)
    ex.line("1002").answer()
    run(ex, clock, 0)
    line = ex.line("1001")
    assert line.send_room() == 10
    line.send(b"abc")
    assert line.send_room() == 7
    line.send(b"def")
    line.hangup()
    run(ex, clock, 0)
    assert b.events[-3:] == [Data(b"abc"), Data(b"def"), RemoteHangup()]
    assert line.send_room() == 0


def test_busy_and_unobtainable() -> None:
    ex, clock, _a, _b = setup()
    c = RecordingPeer()
    ex.attach(c)
    ex.line("1001").dial("1002")
    ex.line("1003").dial("1002")
    ex.line("1003").dial("1001")  # the caller is busy too
    ex.line("1003").dial("999")
    run(ex, clock, 0)
    assert c.events == [Busy(), Busy(), Unobtainable()]


def test_abandoned_call_gives_caller_gone() -> None:
    ex, clock, _a, b = setup()
    ex.line("1001").dial("1002")
    run(ex, clock, 0)
    ex.line("1001").hangup()
    run(ex, clock, 0)
    assert b.events[-1] == CallerGone()


def test_drop_carrier_reaches_both_ends() -> None:
    ex, clock, a, b = setup()
    ex.line("1001").dial("1002")
    run(ex, clock, 0)
    ex.line("1002").answer()
    run(ex, clock, 0)
    ex.line("1002").drop_carrier()
    run(ex, clock, 0)
    assert a.events[-1] == CarrierLost() and b.events[-1] == CarrierLost()


def test_no_dialtone_dial_goes_nowhere() -> None:
    ex, clock, a, b = setup()
    ex.set_dialtone("1001", False)
    assert not ex.line("1001").has_dialtone()
    ex.line("1001").dial("1002")
    run(ex, clock, 10)
    assert a.events == [] and b.events == []


def test_scripted_far_ends() -> None:
    ex, clock, a, _ = setup()
    ex.set_far("555", "busy")
    ex.line("1001").dial("555")
    run(ex, clock, 0)
    assert a.events == [Busy()]
    ex.line("1001").hangup()
    ex.set_far("555", "answer,after=3s,rate=9600,echo,hangup=4B")
    ex.line("1001").dial("555")
    run(ex, clock, 2.9)
    assert a.kinds() == ["Busy", "Ringback"]
    run(ex, clock, 0.2)
    assert a.events[-1] == Connected(9600)
    ex.line("1001").send(b"ping")
    run(ex, clock, 0.1)
    assert a.events[-2:] == [Data(b"ping"), RemoteHangup()]


def test_set_far_errors() -> None:
    ex, _, _, _ = setup()
    with pytest.raises(BehaviourError, match="bogus"):
        ex.set_far("555", "answer,bogus")
    with pytest.raises(LinelabError):
        ex.set_far("1001", "busy")


def test_place_call_with_caller_id() -> None:
    ex, clock, a, _ = setup()
    ex.set_datetime(datetime(2026, 5, 6, 7, 8))
    ex.place_call("1001", CallerId(number="5551234", name="DOE JOHN"), "answer,echo")
    run(ex, clock, 0)
    assert a.events == [
        IncomingCall(CallerId("5551234", "DOE JOHN"), when=datetime(2026, 5, 6, 7, 8))
    ]
    ex.line("1001").answer()
    run(ex, clock, 0)
    ex.line("1001").send(b"hi")
    run(ex, clock, 0.1)
    assert a.events[-1] == Data(b"hi")
    with pytest.raises(LinelabError):
        ex.place_call("1001", CallerId(number_absent="X"))


def test_datetime_advances_with_the_clock() -> None:
    ex, clock, _, _ = setup()
    ex.set_datetime(datetime(2026, 1, 1, 0, 0))
    clock.advance(3600.5)
    assert ex.datetime() == datetime(2026, 1, 1, 1, 0, 0, 500000)


def test_detach_ends_the_call() -> None:
    ex, clock, a, _b = setup()
    ex.line("1001").dial("1002")
    run(ex, clock, 0)
    ex.line("1002").answer()
    run(ex, clock, 0)
    ex.detach(ex.line("1002"))
    run(ex, clock, 0)
    assert a.events[-1] == RemoteHangup()
    assert ex.numbers() == ["1001"]


def test_trace_records_exchange_events() -> None:
    records: list[TraceRecord] = []
    clock = ManualClock()
    ex = Exchange(clock, trace=records.append)
    ex.attach(RecordingPeer())
    ex.line("1001").dial("999")
    assert [r.data for r in records] == [
        "attach 1001",
        "dial 1001 -> 999",
        "unobtainable 999 (reorder)",
    ]
    assert {r.kind for r in records} == {"exchange"}


def test_unassigned_numbers_get_the_configured_tone() -> None:
    """Real networks answer an unassigned number with reorder (or an intercept); the
    tone is the exchange's setting, reorder by default."""
    ex, clock, _a, _b = setup()
    assert ex.unassigned == "reorder"
    c = RecordingPeer()
    ex.attach(c)
    ex.line("1003").dial("999")
    ex.set_unassigned("silence")
    ex.line("1003").dial("998")
    run(ex, clock, 0)
    assert c.events == [Unobtainable("reorder"), Unobtainable("silence")]
    with pytest.raises(LinelabError, match="must be one of reorder, silence, not 'beep'"):
        ex.set_unassigned("beep")
    assert ex.unassigned == "silence"
    assert Exchange(ManualClock(), unassigned="silence").unassigned == "silence"


def test_detached_peer_gets_no_more_events() -> None:
    ex, clock, a, b = setup()
    ex.line("1001").dial("1002")
    ex.detach(ex.line("1002"))
    run(ex, clock, 10)
    assert b.events == []
    assert a.events == [Ringback()]  # no more ringback: the caller times out


# -- placed calls: how a scripted caller's call ends (linelab call) ---------------------


def test_placed_call_to_a_busy_modem_ends_busy() -> None:
    ex, clock, _a, _b = setup()
    ex.line("1001").dial("1002")  # 1001 and 1002 talk: both are busy
    placed = ex.place_call("1001", CallerId(number="555"))
    seen: list[str] = []
    placed.add_listener(lambda c: seen.append(c.state))
    run(ex, clock, 0)
    assert (placed.state, placed.outcome) == ("ended", "busy")
    assert seen[-1] == "ended"
    assert ex.placed_call(placed.id) is placed


def test_placed_call_gives_up_after_its_ring_limit() -> None:
    ex, clock, a, _ = setup()
    placed = ex.place_call("1001", CallerId(number="555"), ring_limit=3)
    run(ex, clock, 17.9)
    assert (placed.state, placed.rings) == ("ringing", 3)
    run(ex, clock, 0.2)  # the 4th ringback would be at 18 s: the caller hangs up
    assert (placed.state, placed.outcome, placed.rings) == ("ended", "no answer", 3)
    assert a.events[-1] == CallerGone()  # the modem stops ringing
    assert ex.next_deadline() is None  # nothing left running


def test_placed_call_times_out_whatever_its_state() -> None:
    ex, clock, a, _ = setup()
    placed = ex.place_call("1001", CallerId(number="555"), timeout=30)
    run(ex, clock, 1)
    ex.line("1001").answer()
    run(ex, clock, 1)
    assert placed.state == "answered" and placed.rate is not None
    run(ex, clock, 28.5)
    assert (placed.state, placed.outcome) == ("ended", "timed out")
    assert a.events[-1] == RemoteHangup()
    assert placed.status()["duration"] == 29.0  # answered at 1 s, ended at 30 s


def test_placed_call_outcomes_after_answer() -> None:
    ex, clock, _a, _ = setup()
    by_modem = ex.place_call("1001", CallerId(number="555"))
    run(ex, clock, 1)
    ex.line("1001").answer()
    run(ex, clock, 5)
    ex.line("1001").hangup()
    run(ex, clock, 0)
    assert by_modem.outcome == "modem hung up"
    assert by_modem.status()["duration"] == 5.0

    by_script = ex.place_call("1001", CallerId(number="555"), "answer,hangup=2s")
    run(ex, clock, 1)
    ex.line("1001").answer()
    run(ex, clock, 3)
    assert by_script.outcome == "caller hung up"

    dropped = ex.place_call("1001", CallerId(number="555"), "answer,drop=2s")
    run(ex, clock, 1)
    ex.line("1001").answer()
    run(ex, clock, 3)
    assert dropped.outcome == "carrier lost"


def test_cancel_a_placed_call() -> None:
    ex, clock, a, _ = setup()
    placed = ex.place_call("1001", CallerId(number="555"))
    run(ex, clock, 7)
    placed.cancel()
    run(ex, clock, 0)
    assert (placed.outcome, placed.rings) == ("cancelled", 2)
    assert a.events[-1] == CallerGone()
    placed.cancel()  # no-op once ended
    assert placed.outcome == "cancelled"


def test_placed_call_limits_are_checked() -> None:
    ex, _, _, _ = setup()
    with pytest.raises(LinelabError, match="ring limit"):
        ex.place_call("1001", CallerId(number="555"), ring_limit=0)
    with pytest.raises(LinelabError, match="time-out"):
        ex.place_call("1001", CallerId(number="555"), timeout=float("nan"))
