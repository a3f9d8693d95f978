"""The date and time come from the injected clock (linelab.clock.wall_time)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from emulator.core.engine import ModemEngine
from emulator.core.profile import load_profile
from emulator.network.subscriberline import CallerId, IncomingCall
from linelab.clock import VIRTUAL_EPOCH, LoopClock, ManualClock, wall_time
from linelab.vtime import RealTime


def test_a_virtual_clock_dates_from_the_epoch_and_moves_with_now() -> None:
    clock = ManualClock()
    assert wall_time(clock) == VIRTUAL_EPOCH
    clock.advance(90.5)
    assert wall_time(clock) == VIRTUAL_EPOCH + timedelta(seconds=90.5)


def test_real_clocks_give_the_local_date_and_time() -> None:
    loop = asyncio.new_event_loop()
    try:
        for clock in (RealTime(), RealTime(scale=10), LoopClock(loop), LoopClock(loop, 10)):
            before = datetime.now()
            got = wall_time(clock)
            assert before <= got <= datetime.now()
    finally:
        loop.close()


def test_the_engine_dates_an_undated_call_from_its_clock() -> None:
    # An IncomingCall without a date (a far end that sends none): the caller ID
    # block's DATE and TIME are the engine clock's, not the host's datetime.now().
    clock = ManualClock(start=3600 * 24 * 40 + 3600 * 13 + 60 * 7)  # 10 Feb 13:07
    engine = ModemEngine(load_profile("generic"), clock)
    out = bytearray()
    engine.receive_dte(b"AT+VCID=1\r")
    engine.line_event(IncomingCall(CallerId(number="5551234567", name="BOB")))
    for _ in range(100):
        deadline = engine.next_deadline()
        assert deadline is not None
        clock.advance_to(deadline)
        engine.tick()
        out += engine.read_dte()
        if b"NMBR" in out:
            break
    assert b"DATE = 0210\r\nTIME = 1307\r\n" in bytes(out)
    assert engine.last_caller is not None
    assert engine.last_caller[1] == VIRTUAL_EPOCH + timedelta(days=40, hours=13, minutes=7)
