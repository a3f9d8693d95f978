"""The Stack object: its event loop, its clock, closing, default-stack scoping."""

from __future__ import annotations

import asyncio

from tapi_helpers import EventApp, ht_of

import tapi
from linelab.vtime import VirtualTime
from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.stack import Stack, live_stacks, using_stack


def test_providers_run_on_the_stacks_loop_and_time_is_virtual() -> None:
    vt = VirtualTime()
    line = FakeLine()
    s = Stack(lines=[line], time=vt)
    a = EventApp(s)
    a.open()
    loop = s.loop
    assert s.loop is loop
    start = vt.now()
    loop.call_soon_threadsafe(lambda: loop.call_later(30.0, line.incoming))
    rc, msg = s.lineGetMessage(a.h, 60_000)
    assert rc == 0 and msg is not None and msg.dwMessageID == C.LINE_APPNEWCALL
    assert 30.0 <= vt.now() - start < 30.5  # half a minute of ringing wait, no wall time
    s.close()
    assert not loop.is_running()


def test_an_external_loop_is_used_and_left_alone() -> None:
    loop = asyncio.new_event_loop()
    try:
        s = Stack(lines=[FakeLine()], loop=loop)
        assert s.loop is loop
        s.close()
        assert not loop.is_closed()
    finally:
        loop.close()


def test_close_is_idempotent_and_shuts_every_app_down() -> None:
    line = FakeLine()
    s = Stack(lines=[line])
    a = EventApp(s)
    a.open()
    assert s in live_stacks()
    s.close()
    s.close()
    assert s not in live_stacks()
    assert line.log[-1] == ("close",)
    assert s.lineShutdown(a.h) == C.LINEERR_UNINITIALIZED


def test_using_stack_scopes_the_default(tapi_default_stack: Stack) -> None:
    with using_stack() as inner:
        assert tapi.get_default_stack() is inner
        params = tapi.LINEINITIALIZEEXPARAMS(dwOptions=tapi.LINEINITIALIZEEXOPTION_USEEVENT)
        assert tapi.lineInitializeEx(None, None, "x", 0x20000, params)[0] == 0
        assert inner.hierarchy().apps
    assert tapi.get_default_stack() is tapi_default_stack
    assert inner.hierarchy().apps == ()


def test_many_threads_at_once_keep_the_tables_consistent() -> None:
    import threading

    lines = [FakeLine(f"line{i}") for i in range(4)]
    s = Stack(lines=lines)
    errors: list[BaseException] = []

    def worker(device: int) -> None:
        try:
            app = EventApp(s, f"worker{device}")
            hL = app.open(device=device)
            for _ in range(150):
                rid, hc = s.lineMakeCall(hL, "5551234")
                assert rid > 0 and hc is not None
                lines[device].connect(ht_of(s, hc))
                assert s.lineDrop(hc) > 0
                assert s.lineDeallocateCall(hc) == 0
                app.raw()
            app.shutdown()
        except BaseException as exc:  # reported below, on the test thread
            errors.append(exc)

    threads = [threading.Thread(daemon=True, target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60.0)
    assert errors == []
    assert not any(t.is_alive() for t in threads)
    view = s.hierarchy()
    assert view.apps == () and view.hlines() == set() and view.hcalls(valid_only=False) == set()
    assert all(d.opens == () for d in view.devices) and view.provider_calls() == ()
    assert view.requests == ()
    s.close()
