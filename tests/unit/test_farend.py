"""Far-end behaviours: the one grammar, its errors, and ScriptedEnd timing on virtual
time against a fake Line."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.network.farend import (
    ECHO_POLL,
    Behaviour,
    BehaviourError,
    ScriptedEnd,
    parse_behaviour,
    validate_for_caller,
)
from emulator.network.subscriberline import (
    CallerGone,
    CallerId,
    CarrierLost,
    Connected,
    Data,
    IncomingCall,
    RemoteHangup,
)
from linelab.clock import ManualClock
from linelab.errors import LinelabError

# -- grammar -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busy", Behaviour("busy")),
        ("noanswer", Behaviour("noanswer")),
        ("answer", Behaviour("answer")),
        ("answer,after=3s", Behaviour("answer", after=3.0)),
        ("answer,after=3", Behaviour("answer", after=3.0)),
        ("answer,after=250ms", Behaviour("answer", after=0.25)),
        ("answer,after=1.5s", Behaviour("answer", after=1.5)),
        ("answer,rate=9600", Behaviour("answer", rate=9600)),
        ("answer,echo", Behaviour("answer", data="echo")),
        ("answer,discard", Behaviour("answer", data="discard")),
        ("answer,hangup=30s", Behaviour("answer", hangup_after=30.0)),
        ("answer,hangup=1000B", Behaviour("answer", hangup_bytes=1000)),
        ("answer,hangup=7b", Behaviour("answer", hangup_bytes=7)),
        ("answer,drop=10s", Behaviour("answer", drop_after=10.0)),
        (
            " ANSWER , After=2s , RATE=2400 , Echo , hangup=5s , drop=1s ",
            Behaviour("answer", 2.0, 2400, "echo", 5.0, None, 1.0),
        ),
        (
            "answer,drop=10s,echo,rate=14400,after=3s,hangup=1000B",
            Behaviour("answer", 3.0, 14400, "echo", None, 1000, 10.0),
        ),
    ],
)
def test_parse(text: str, expected: Behaviour) -> None:
    assert parse_behaviour(text) == expected


def test_default_is_discard() -> None:
    assert parse_behaviour("answer").data == "discard"


@pytest.mark.parametrize(
    ("text", "token", "phrase"),
    [
        ("", None, "empty"),
        ("bsy", "bsy", "unknown kind 'bsy'"),
        ("answer,aftr=3s", "aftr=3s", "unknown option 'aftr=3s'"),
        ("answer,echo=1", "echo=1", "unknown option 'echo=1'"),
        ("answer,after", "after", "unknown option 'after'"),
        ("answer,after=3x", "after=3x", "bad value in 'after=3x'"),
        ("answer,after=-1s", "after=-1s", "bad value in 'after=-1s'"),
        ("answer,after=999999s", "after=999999s", "bad value"),
        ("answer,drop=", "drop=", "bad value in 'drop='"),
        ("answer,hangup=lots", "hangup=lots", "1000B"),
        ("answer,hangup=0B", "hangup=0B", "at least 1"),
        ("answer,rate=fast", "rate=fast", "bad rate in 'rate=fast'"),
        ("answer,rate=0", "rate=0", "bad rate"),
        ("answer,rate=\u00b2", "rate=\u00b2", "bad rate"),
        ("answer,echo,discard", "discard", "'discard' conflicts with 'echo'"),
        ("answer,hangup=30s,hangup=1000B", "hangup=1000B", "conflicts with 'hangup=30s'"),
        ("answer,after=1s,after=2s", "after=2s", "given twice"),
        ("answer,echo,echo", "echo", "given twice"),
        ("answer,,echo", "", "empty option"),
        ("busy,echo", "echo", "only applies to answer"),
        ("noanswer,after=3s", "after=3s", "only applies to answer"),
    ],
)
def test_errors_name_the_token(text: str, token: str | None, phrase: str) -> None:
    with pytest.raises(BehaviourError) as info:
        parse_behaviour(text)
    err = info.value
    assert isinstance(err, LinelabError)
    assert err.token == token
    assert str(err).startswith(f"bad far-end behaviour {text!r}: ")
    assert phrase in str(err)


def test_error_message_exact() -> None:
    with pytest.raises(BehaviourError) as info:
        parse_behaviour("answer,aftr=3s")
    assert str(info.value) == "bad far-end behaviour 'answer,aftr=3s': unknown option 'aftr=3s'"


def test_behaviour_rejects_inconsistent_fields() -> None:
    with pytest.raises(ValueError):
        Behaviour("answer", hangup_after=1.0, hangup_bytes=1)
    with pytest.raises(ValueError):
        Behaviour("busy", data="echo")


durations = st.integers(0, 86_400_000_000).map(lambda us: round(us / 1e6, 6))
answers = st.builds(
    Behaviour,
    kind=st.just("answer"),
    after=durations,
    rate=st.none() | st.integers(1, 10_000_000),
    data=st.sampled_from(["echo", "discard"]),
    hangup_after=st.none() | durations,
    drop_after=st.none() | durations,
)
behaviours = (
    st.sampled_from([Behaviour("busy"), Behaviour("noanswer")])
    | answers
    | answers.map(lambda b: Behaviour("answer", b.after, b.rate, b.data, None, 42, b.drop_after))
)


@given(behaviours)
def test_round_trip(behaviour: Behaviour) -> None:
    assert parse_behaviour(str(behaviour)) == behaviour


@given(behaviours, st.randoms(use_true_random=False))
def test_option_order_does_not_matter(behaviour: Behaviour, rnd: random.Random) -> None:
    kind, *options = str(behaviour).split(",")
    rnd.shuffle(options)
    assert parse_behaviour(",".join([kind, *options])) == behaviour


def test_validate_for_caller() -> None:
    assert validate_for_caller("answer,echo,hangup=5s") == Behaviour(
        "answer", data="echo", hangup_after=5.0
    )
    for text, token in [("busy", "busy"), ("noanswer", "noanswer"), ("answer,after=3s", None)]:
        with pytest.raises(BehaviourError) as info:
            validate_for_caller(text)
        assert info.value.token == (token or "after=3s")
        assert "calling far end" in str(info.value)


# -- ScriptedEnd -------------------------------------------------------------------


class FakeLine:
    """Records every request a scripted end makes."""

    number = "1001"

    def __init__(self, room: int = 1000) -> None:
        self.calls: list[tuple[str, bytes | None]] = []
        self.room = room

    def has_dialtone(self) -> bool:
        return True

    def dial(self, digits: str) -> None:
        self.calls.append(("dial", digits.encode()))

    def answer(self) -> None:
        self.calls.append(("answer", None))

    def hangup(self) -> None:
        self.calls.append(("hangup", None))

    def off_hook(self) -> None:
        self.calls.append(("off_hook", None))

    def send(self, data: bytes) -> None:
        assert len(data) <= self.room
        self.room -= len(data)
        self.calls.append(("send", data))

    def send_room(self) -> int:
        return self.room

    def drop_carrier(self) -> None:
        self.calls.append(("drop", None))


def _end(text: str, line: FakeLine | None = None) -> tuple[ScriptedEnd, FakeLine, ManualClock]:
    clock = ManualClock()
    end = ScriptedEnd(text, clock)
    line = line or FakeLine()
    end.bind(line)
    return end, line, clock


def _run_to(end: ScriptedEnd, clock: ManualClock, when: float) -> None:
    """Advance virtual time to `when`, ticking at every deadline on the way."""
    while True:
        due = end.next_deadline()
        if due is None or due > when:
            break
        clock.advance_to(due)
        end.tick()
    clock.advance_to(when)


CALL = IncomingCall(CallerId(number="5551234"))


def test_busy_end() -> None:
    end, line, clock = _end("busy")
    assert end.is_busy()
    end.line_event(CALL)
    _run_to(end, clock, 100)
    assert line.calls == []
    assert end.next_deadline() is None


def test_noanswer_never_answers() -> None:
    end, line, clock = _end("noanswer")
    assert not end.is_busy()
    end.line_event(CALL)
    assert end.is_busy()  # a second caller gets BUSY while this one rings
    _run_to(end, clock, 3600)
    assert line.calls == []
    end.line_event(CallerGone())
    assert not end.is_busy()


def test_answer_after_delay() -> None:
    end, line, clock = _end("answer,after=3s")
    clock.advance(10)
    end.line_event(CALL)
    assert end.next_deadline() == 13
    assert line.calls == []  # nothing happens inside line_event
    clock.advance_to(12.999)
    end.tick()
    assert line.calls == []
    clock.advance_to(13)
    end.tick()
    assert line.calls == [("answer", None)]
    assert end.next_deadline() is None


def test_caller_gone_cancels_answer() -> None:
    end, line, clock = _end("answer,after=5s")
    end.line_event(CALL)
    clock.advance(2)
    end.line_event(CallerGone())
    _run_to(end, clock, 60)
    assert line.calls == []


def test_echo_returns_data_in_order_with_back_pressure() -> None:
    end, line, clock = _end("answer,echo", FakeLine(room=3))
    end.line_event(CALL)
    _run_to(end, clock, 0)
    end.line_event(Connected(9600))
    assert end.rate == 9600
    end.line_event(Data(b"hello"))
    end.line_event(Data(b"\x00\xff+"))
    assert end.next_deadline() == 0  # echo is due now, but sent from tick()
    end.tick()
    assert line.calls[-1] == ("send", b"hel")
    assert end.next_deadline() == pytest.approx(ECHO_POLL)  # held back: poll for room
    line.room = 100
    _run_to(end, clock, 1)
    sent = b"".join(d for op, d in line.calls if op == "send" and d is not None)
    assert sent == b"hello\x00\xff+"
    assert end.next_deadline() is None


def test_discard_sends_nothing() -> None:
    end, line, clock = _end("answer")
    end.line_event(CALL)
    _run_to(end, clock, 1)
    end.line_event(Connected(2400))
    assert end.rx_room() > 1_000_000
    end.line_event(Data(b"x" * 500))
    _run_to(end, clock, 10)
    assert line.calls == [("answer", None)]
    assert end.received == 500


def test_hangup_after_seconds_counts_from_connect() -> None:
    end, line, clock = _end("answer,after=2s,hangup=30s")
    end.line_event(CALL)
    _run_to(end, clock, 2)
    clock.advance(1)
    end.line_event(Connected(14400))
    assert end.next_deadline() == 33
    _run_to(end, clock, 32.9)
    assert line.calls == [("answer", None)]
    _run_to(end, clock, 33)
    assert line.calls == [("answer", None), ("hangup", None)]
    assert not end.is_busy()


def test_hangup_after_bytes() -> None:
    end, line, clock = _end("answer,echo,hangup=10B")
    end.line_event(CALL)
    _run_to(end, clock, 0)
    end.line_event(Connected(9600))
    assert end.rx_room() == 10
    end.line_event(Data(b"0123"))
    assert end.rx_room() == 6
    end.line_event(Data(b"456789abc"))  # more than promised: only 10 count
    assert end.rx_room() == 0
    assert end.next_deadline() == 0
    end.tick()
    assert line.calls == [("answer", None), ("send", b"0123456789"), ("hangup", None)]


def test_drop_carrier() -> None:
    end, line, clock = _end("answer,drop=10s", FakeLine())
    end.line_event(CALL)
    _run_to(end, clock, 0)
    end.line_event(Connected(28800))
    _run_to(end, clock, 9.99)
    assert line.calls == [("answer", None)]
    _run_to(end, clock, 10)
    assert line.calls == [("answer", None), ("drop", None)]


def test_earlier_of_drop_and_hangup_wins() -> None:
    end, line, clock = _end("answer,hangup=5s,drop=3s", FakeLine())
    end.line_event(CALL)
    _run_to(end, clock, 0)
    end.line_event(Connected(2400))
    clock.advance(10)  # both overdue at one tick
    end.tick()
    assert line.calls == [("answer", None), ("drop", None)]


@pytest.mark.parametrize("event", [RemoteHangup(), CarrierLost()])
def test_remote_end_of_call_cancels_script(event: RemoteHangup | CarrierLost) -> None:
    end, line, clock = _end("answer,hangup=5s,echo")
    end.line_event(CALL)
    _run_to(end, clock, 0)
    end.line_event(Connected(2400))
    end.line_event(Data(b"abc"))
    end.line_event(event)
    _run_to(end, clock, 100)
    assert line.calls == [("answer", None)]
    assert not end.is_busy()


def test_each_call_starts_fresh() -> None:
    end, line, clock = _end("answer,after=1s,hangup=3B")
    for _ in range(2):
        end.line_event(CALL)
        _run_to(end, clock, clock.now() + 1)
        end.line_event(Connected(1200))
        end.line_event(Data(b"xyz"))
        _run_to(end, clock, clock.now())
    assert line.calls == [("answer", None), ("hangup", None)] * 2


def test_as_calling_far_end() -> None:
    # place_call(..., then="answer,echo,hangup=2s"): no IncomingCall, the modem answers.
    end, line, clock = _end(str(validate_for_caller("answer,echo,hangup=2s")))
    clock.advance(5)
    end.line_event(Connected(33600))
    end.line_event(Data(b"ping"))
    _run_to(end, clock, 7)
    assert line.calls == [("send", b"ping"), ("hangup", None)]


def test_listener_fires_on_events_and_ticks() -> None:
    end, _line, clock = _end("answer,after=1s")
    fired: list[float | None] = []
    end.set_listener(lambda: fired.append(end.next_deadline()))
    end.line_event(CALL)
    assert fired == [1.0]
    _run_to(end, clock, 1)
    assert fired[-1] is None
    end.set_listener(None)
    end.line_event(CallerGone())
    assert len(fired) == 2


def test_unbound_end_is_inert() -> None:
    end = ScriptedEnd("answer", ManualClock())
    end.line_event(CALL)
    end.tick()
    assert end.rx_room() == 0
    assert "answer" in repr(end)


class _CreepingClock:
    """Real time in miniature: every reading is a little later than the one before."""

    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        self.t += 1e-6
        return self.t


def test_work_due_now_is_due_before_any_later_clock_reading() -> None:
    # Regression: an echo end reported "due at clock.now()", which on real time is
    # always later than the `now` the exchange's tick() had read first, so it never ran.
    clock = _CreepingClock()
    line = FakeLine()
    end = ScriptedEnd(parse_behaviour("answer,echo"), clock)
    end.bind(line)
    end.line_event(IncomingCall(CallerId(number="1001")))
    end.tick()
    end.line_event(Connected(33600))
    end.line_event(Data(b"ping"))
    later = clock.now()
    deadline = end.next_deadline()
    assert deadline is not None and deadline <= later
