"""The three notification options, threads, and time-outs on the stack's clock."""

from __future__ import annotations

import queue
import select
import threading
from collections.abc import Callable

from tapi_helpers import MONITOR, NONE, EventApp, ht_of, stack_with

from linelab.vtime import RealTime, VirtualTime
from tapi import constants as C
from tapi.constants import INFINITE
from tapi.providers.fake import FakeLine
from tapi.stack import Stack
from tapi.structs import LINEINITIALIZEEXPARAMS, LINEMESSAGE

DEADLINE = 10.0  # seconds: a bound for things that should happen at once, never a delay


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_hevent_is_readable_exactly_while_the_queue_is_not_empty() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open()
    assert not _readable(a.hEvent)
    line.incoming()
    assert _readable(a.hEvent)
    assert s.lineGetMessage(a.h, 0)[0] == 0  # LINE_APPNEWCALL: one left
    assert _readable(a.hEvent)
    assert s.lineGetMessage(a.h, 0)[0] == 0
    assert not _readable(a.hEvent)
    line.ring()  # filtered out: nothing queued
    assert not _readable(a.hEvent)
    assert s.lineSetStatusMessages(hL, C.LINEDEVSTATE_RINGING, 0) == 0
    line.ring()
    line.ring()
    assert _readable(a.hEvent)
    assert s.lineClose(hL) == 0  # purges both RINGING messages
    assert not _readable(a.hEvent)
    assert s.pending_messages(a.h) == []


def test_completion_port_receives_key_and_linemessage() -> None:
    line = FakeLine()
    s = stack_with(line)
    port: queue.Queue[tuple[int, LINEMESSAGE]] = queue.Queue()
    params = LINEINITIALIZEEXPARAMS(
        dwOptions=C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT,
        hCompletionPort=port,
        dwCompletionKey=0xC0FFEE,
    )
    rc, h, n, v, p = s.lineInitializeEx(None, None, "cp", C.TAPI_VERSION2_2, params)
    assert rc == 0 and n == 1 and v == C.TAPI_VERSION2_2 and p is params and h is not None
    assert params.dwUsedSize == params.dwNeededSize == 24
    rc, hL = s.lineOpen(h, 0, C.TAPI_VERSION2_2, 0, 42, NONE, 0)
    assert rc == 0 and hL is not None
    rid, _hc = s.lineMakeCall(hL, "555", 0)
    key, msg = port.get_nowait()
    assert key == 0xC0FFEE
    assert msg == LINEMESSAGE(0, C.LINE_REPLY, 42, rid, 0, 0)
    assert s.lineGetMessage(h, 0)[0] == C.LINEERR_INVALAPPHANDLE  # not a USEEVENT app
    bad = LINEINITIALIZEEXPARAMS(
        dwOptions=C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT, hCompletionPort=object()
    )
    assert s.lineInitializeEx(None, None, "x", 0x20000, bad)[0] == C.LINEERR_INVALPOINTER


def test_initializeex_option_and_size_errors() -> None:
    s = stack_with()
    for options in (0, 4, 0x80000000):
        params = LINEINITIALIZEEXPARAMS(dwOptions=options)
        assert s.lineInitializeEx(None, None, "x", 0x20000, params)[0] == C.LINEERR_INVALPARAM
    small = LINEINITIALIZEEXPARAMS(dwTotalSize=12, dwOptions=2)
    assert s.lineInitializeEx(None, None, "x", 0x20000, small) == (
        C.LINEERR_STRUCTURETOOSMALL, None, None, None, None,
    )  # fmt: skip
    assert s.lineInitializeEx(None, None, "x", 0x20000, None)[0] == C.LINEERR_INVALPOINTER
    ok = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT | 0x80000000)
    assert s.lineInitializeEx(None, None, "x", 0x20000, ok)[0] == 0
    hidden = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW)
    assert s.lineInitializeEx(None, None, "x", 0x20000, hidden)[0] == C.LINEERR_INVALPOINTER


class _Recorder:
    """A lineCallback that records messages and the thread each ran on."""

    def __init__(self, on_message: Callable[[tuple[int, ...]], None] | None = None) -> None:
        self.got: list[tuple[int, ...]] = []
        self.threads: set[int] = set()
        self.running = 0
        self.overlap = False
        self.cond = threading.Condition()
        self.on_message = on_message

    def __call__(self, *args: int) -> None:
        with self.cond:
            self.running += 1
            self.overlap |= self.running > 1
        self.threads.add(threading.get_ident())
        if self.on_message is not None:
            self.on_message(args)
        with self.cond:
            self.running -= 1
            self.got.append(args)
            self.cond.notify_all()

    def wait_for(self, count: int) -> list[tuple[int, ...]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.got) >= count, DEADLINE)
            return list(self.got)


def test_callbacks_run_one_at_a_time_on_one_dedicated_thread_per_app() -> None:
    line = FakeLine()
    s = stack_with(line)
    ra, rb = _Recorder(), _Recorder()
    rc, hA, _ = s.lineInitialize(None, ra, "A")
    rc2, hB, _ = s.lineInitialize(None, rb, "B")
    assert rc == rc2 == 0 and hA is not None and hB is not None
    hLA = s.lineOpen(hA, 0, 0x20000, 0, 5, C.LINECALLPRIVILEGE_OWNER, C.LINEMEDIAMODE_DATAMODEM)[1]
    s.lineOpen(hB, 0, 0x20000, 0, 6, MONITOR, 0)
    assert hLA is not None
    assert s.lineSetStatusMessages(hLA, C.LINEDEVSTATE_RINGING, 0) == 0
    line.incoming()
    for _ in range(20):
        line.ring()
    got = ra.wait_for(23)
    rb.wait_for(2)
    assert got[0][1] == C.LINE_APPNEWCALL and got[0][2] == 5
    assert [g[5] for g in got[2:]] == list(range(21))  # ring counts in order, from 0
    assert len(ra.threads) == 1 and len(rb.threads) == 1
    assert ra.threads != rb.threads and threading.get_ident() not in ra.threads
    assert not ra.overlap


def test_lineshutdown_and_lineclose_inside_a_callback_do_not_deadlock() -> None:
    line = FakeLine()
    s = stack_with(line)
    results: list[int] = []
    done = threading.Event()
    handles: dict[str, int] = {}

    def react(args: tuple[int, ...]) -> None:
        if args[1] == C.LINE_APPNEWCALL:
            results.append(s.lineClose(handles["line"]))
            results.append(s.lineShutdown(handles["app"]))
            done.set()

    rec = _Recorder(react)
    rc, hA, _ = s.lineInitialize(None, rec, "A")
    assert rc == 0 and hA is not None
    rc, hL = s.lineOpen(hA, 0, 0x20000, 0, 0, C.LINECALLPRIVILEGE_OWNER, C.LINEMEDIAMODE_DATAMODEM)
    assert rc == 0 and hL is not None
    handles.update(app=hA, line=hL)
    line.incoming()
    assert done.wait(DEADLINE)
    assert results == [0, 0]
    # The OFFERING LINE_CALLSTATE was purged by the close: it never ran.
    assert [g[1] for g in rec.wait_for(1)] == [C.LINE_APPNEWCALL]
    assert s.lineShutdown(hA) == C.LINEERR_UNINITIALIZED


def test_no_callback_for_a_closed_line_runs_after_lineclose_returns() -> None:
    line = FakeLine()
    s = stack_with(line)
    entered, release = threading.Event(), threading.Event()

    def slow(args: tuple[int, ...]) -> None:
        if args[1] == C.LINE_APPNEWCALL:
            entered.set()
            assert release.wait(DEADLINE)

    rec = _Recorder(slow)
    _rc, hA, _ = s.lineInitialize(None, rec, "A")
    assert hA is not None
    _rc, hL = s.lineOpen(
        hA, 0, 0x20000, 0, 0, C.LINECALLPRIVILEGE_OWNER, C.LINEMEDIAMODE_DATAMODEM
    )
    assert hL is not None
    line.incoming()
    assert entered.wait(DEADLINE)
    closer_rc: list[int] = []
    closer = threading.Thread(daemon=True, target=lambda: closer_rc.append(s.lineClose(hL)))
    closer.start()
    release.set()
    closer.join(DEADLINE)
    assert closer_rc == [0]
    # The callback that was running finished before lineClose returned; the queued
    # OFFERING for the closed line never ran.
    assert [g[1] for g in rec.got] == [C.LINE_APPNEWCALL]


class _NotingTime(RealTime):
    """Real time that tells the test when a thread has started waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(
        self, cond: threading.Condition, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        self.waiting.set()
        return super().wait(cond, predicate, timeout)


def test_lineshutdown_on_another_thread_wakes_a_blocked_linegetmessage() -> None:
    clock = _NotingTime()
    s = Stack(lines=[FakeLine()], time=clock)
    a = EventApp(s)
    got: list[tuple[int, object]] = []
    t = threading.Thread(daemon=True, target=lambda: got.append(s.lineGetMessage(a.h, INFINITE)))
    t.start()
    assert clock.waiting.wait(DEADLINE)
    assert s.lineShutdown(a.h) == 0
    t.join(DEADLINE)
    assert not t.is_alive()
    assert got == [(C.LINEERR_INVALAPPHANDLE, None)]


def test_a_message_wakes_a_blocked_linegetmessage() -> None:
    clock = _NotingTime()
    line = FakeLine()
    s = Stack(lines=[line], time=clock)
    a = EventApp(s)
    a.open()
    got: list[tuple[int, LINEMESSAGE | None]] = []
    t = threading.Thread(daemon=True, target=lambda: got.append(s.lineGetMessage(a.h, 60_000)))
    t.start()
    assert clock.waiting.wait(DEADLINE)
    line.incoming()
    t.join(DEADLINE)
    assert got and got[0][0] == 0 and got[0][1] is not None
    assert got[0][1].dwMessageID == C.LINE_APPNEWCALL


def test_linegetmessage_timeout_runs_on_virtual_time() -> None:
    vt = VirtualTime()
    s = Stack(lines=[FakeLine()], time=vt)
    a = EventApp(s)
    start = vt.now()
    assert s.lineGetMessage(a.h, 90_000) == (C.LINEERR_OPERATIONFAILED, None)
    assert vt.now() - start == 90.0  # a minute and a half of waiting, no wall time
    assert s.lineGetMessage(a.h, 0) == (C.LINEERR_OPERATIONFAILED, None)
    assert vt.now() - start == 90.0


def test_linegetmessage_error_list() -> None:
    s = stack_with()
    a = EventApp(s)
    assert s.lineGetMessage(a.h, 0, lpMessage=None) == (C.LINEERR_INVALPOINTER, None)
    assert s.lineGetMessage(12345, 0) == (C.LINEERR_INVALAPPHANDLE, None)
    assert s.lineGetMessage(a.h, -1)[0] == C.LINEERR_INVALPARAM
    a.shutdown()
    assert s.lineGetMessage(a.h, 0) == (C.LINEERR_INVALAPPHANDLE, None)


def test_monitor_and_owner_messages_carry_their_callback_instances() -> None:
    line = FakeLine()
    s = stack_with(line)
    a = EventApp(s)
    hL = a.open(callback_instance=0xABCDEF)
    _rid, hc = s.lineMakeCall(hL, "555", 0)
    assert hc is not None
    line.connect(ht_of(s, hc))
    assert {m.dwCallbackInstance for m in a.raw()} == {0xABCDEF}
