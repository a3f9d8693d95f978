"""The TAPI core is sans-I/O: no threads, no locks, no waiting; a driver learns what changed."""

from __future__ import annotations

import ast
import asyncio
import pkgutil
import threading
import time as wallclock
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tapi.core
from tapi import constants as C
from tapi.core.core import TapiCore
from tapi.core.records import Msg
from tapi.providers.base import LineDevice, Provider
from tapi.providers.fake import FakeLine
from tapi.structs import LINEINITIALIZEEXPARAMS

#: Modules a sans-I/O core must not import (threads, locks, blocking I/O, event loops).
FORBIDDEN = {"threading", "_thread", "asyncio", "queue", "select", "selectors", "socket",
             "subprocess", "multiprocessing", "concurrent", "time"}  # fmt: skip
#: Names whose use means waiting or locking (a Condition's wait, a lock's acquire ...).
BLOCKING = {"wait", "wait_for", "sleep", "acquire", "Condition", "RLock", "Lock", "Event",
            "notify_all", "local"}  # fmt: skip


def _core_modules() -> list[Path]:
    root = Path(tapi.core.__file__).parent
    names = [m.name for m in pkgutil.iter_modules([str(root)])]
    assert {"core", "state", "tables", "tree", "routing", "events", "messages"} <= set(names)
    return [root / f"{n}.py" for n in names] + [root / "__init__.py"]


def test_no_core_module_imports_threading_or_blocking_modules() -> None:
    for path in _core_modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        for node in ast.walk(tree):
            used = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
            assert used not in BLOCKING, f"{path.name}:{node.lineno} uses {used}"  # type: ignore[attr-defined]


class _NeverWaits:
    """A time source that fails the test if anyone waits on it."""

    def now(self) -> float:
        return 0.0

    def wait(self, *args: object) -> bool:
        raise AssertionError("the core waited")

    def notify_all(self, *args: object) -> None:
        raise AssertionError("the core signalled a condition")


def _core_with_app() -> tuple[TapiCore, FakeLine, int]:
    attached: list[object] = []
    core = TapiCore(_NeverWaits(), attach=attached.append)  # type: ignore[arg-type]
    line = FakeLine()
    core.add_provider(Provider([line]))
    assert line in attached
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, _n, _v, _p = core.lineInitializeEx(None, None, "core", 0x20002, params)
    assert rc == 0 and h is not None
    return core, line, h


def test_get_message_on_an_empty_queue_returns_at_once_whatever_the_timeout() -> None:
    core, _line, h = _core_with_app()
    core.changes()
    for timeout in (0, 60_000, C.INFINITE):
        start = wallclock.monotonic()
        assert core.lineGetMessage(h, timeout) == (C.LINEERR_OPERATIONFAILED, None)
        assert wallclock.monotonic() - start < 1.0
    assert not core.message_ready(h)
    assert core.lineGetMessage(h + 1, C.INFINITE) == (C.LINEERR_INVALAPPHANDLE, None)


def test_changes_tell_the_driver_which_apps_got_messages() -> None:
    core, line, h = _core_with_app()
    first = core.changes()
    assert [a.hLineApp for a in first.started] == [h] and not first.apps
    assert not core.changes()  # read once
    rc, hL = core.lineOpen(h, 0, 0x20002, 0, 0, C.LINECALLPRIVILEGE_OWNER,
                           C.LINEMEDIAMODE_DATAMODEM)  # fmt: skip
    assert rc == 0 and hL is not None
    assert not core.changes()  # nothing posted: nothing to deliver
    ht = core.events.new_call(line, 0, C.LINEMEDIAMODE_DATAMODEM, 0, 0)  # bookkeeping only
    assert ht in core.tables.phys
    core.run_event(lambda: core.events.call_state(ht, C.LINECALLSTATE_OFFERING, 0, 0))
    changed = core.changes()
    assert list(changed.apps) == [h]
    assert core.message_ready(h)
    rc, msg = core.lineGetMessage(h, 0)
    assert rc == 0 and msg is not None and msg.dwMessageID == C.LINE_APPNEWCALL
    assert list(core.changes().apps) == [h]  # the queue shrank: the eventfd may change
    assert core.lineShutdown(h) == 0
    gone = core.changes()
    assert list(gone.apps) == [h] and not gone.apps[h].alive and gone.quiesce
    assert core.message_ready(h)  # a waiter must wake up (and get INVALAPPHANDLE)


def test_an_event_during_a_call_runs_after_it() -> None:
    core, _line, _h = _core_with_app()
    order: list[str] = []
    with core.op():
        assert core.busy
        core.run_event(lambda: order.append("event"))
        order.append("call")
    assert order == ["call", "event"] and not core.busy


class _LoopDriver:
    """A minimal single-threaded driver: the core on an asyncio loop, one asyncio.Event
    per app instead of a thread (what a telephony server does for its clients)."""

    def __init__(self) -> None:
        self.core = TapiCore(_NeverWaits(), attach=self._attach)  # type: ignore[arg-type]
        self.ready: dict[int, asyncio.Event] = {}

    def _attach(self, obj: Any) -> None:
        obj.attach(self, asyncio.get_running_loop)

    def deliver(self) -> None:
        if self.core.busy:
            return
        changes = self.core.changes()
        for app in changes.started:
            self.ready[app.hLineApp] = asyncio.Event()
        for app in changes.apps.values():
            event = self.ready[app.hLineApp]
            if app.queue or not app.alive:
                event.set()
            else:
                event.clear()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.core, name)(*args, **kwargs)
        self.deliver()
        return result

    async def get_message(self, hLineApp: int) -> tuple[int, Any]:
        while True:
            rc, msg = self.call("lineGetMessage", hLineApp, 0)
            if rc != C.LINEERR_OPERATIONFAILED:
                return rc, msg
            await asyncio.wait_for(self.ready[hLineApp].wait(), 10.0)

    # -- LineEvents ------------------------------------------------------------------------
    def _event(self, event: Callable[[], None]) -> None:
        self.core.run_event(event)
        self.deliver()

    def completion(self, request_id: int, result: int) -> None:
        self._event(lambda: self.core.events.completion(request_id, result))

    def new_call(self, line: LineDevice, **kw: int) -> int:
        return self.core.events.new_call(
            line,
            kw.get("address_id", 0),
            kw.get("media_mode", C.LINEMEDIAMODE_UNKNOWN),
            kw.get("origin", C.LINECALLORIGIN_EXTERNAL),
            kw.get("reason", C.LINECALLREASON_DIRECT),
        )

    def call_state(self, htCall: int, state: int, mode: int = 0, media_mode: int = 0) -> None:
        self._event(lambda: self.core.events.call_state(htCall, state, mode, media_mode))

    def call_info(self, htCall: int, changed: int, **values: Any) -> None:
        self._event(lambda: self.core.events.call_info(htCall, changed, values))

    def line_devstate(self, line: LineDevice, state: int, p2: int = 0, p3: int = 0) -> None:
        self._event(lambda: self.core.events.line_devstate(line, state, p2, p3))


def test_an_asyncio_loop_drives_the_core_with_no_thread_per_app() -> None:
    threads_before = set(threading.enumerate())

    async def main() -> list[list[str]]:
        driver = _LoopDriver()
        line = FakeLine()
        driver.core.add_provider(Provider([line]))
        apps = []
        for name, privileges in (("owner", C.LINECALLPRIVILEGE_OWNER),
                                 ("watcher", C.LINECALLPRIVILEGE_MONITOR)):  # fmt: skip
            params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
            rc, h, *_ = driver.call("lineInitializeEx", None, None, name, 0x20002, params)
            assert rc == 0
            rc, _hL = driver.call(
                "lineOpen", h, 0, 0x20002, 0, 0, privileges, C.LINEMEDIAMODE_DATAMODEM
            )
            assert rc == 0
            apps.append(h)

        async def first_two(h: int) -> list[str]:
            got = [await driver.get_message(h) for _ in range(2)]
            return [C.message_name(m.dwMessageID) for rc, m in got if rc == 0]

        waiters = [asyncio.create_task(first_two(h)) for h in apps]
        await asyncio.sleep(0)  # one pass of the loop (no time passes): both tasks wait
        assert not any(w.done() for w in waiters)
        asyncio.get_running_loop().call_soon(line.incoming)
        names = await asyncio.gather(*waiters)
        assert set(threading.enumerate()) <= threads_before  # no thread per app (or at all)
        return names

    names = asyncio.run(main())
    assert names == [["LINE_APPNEWCALL", "LINE_CALLSTATE"]] * 2


def test_lineshutdown_scans_the_queue_once_not_once_per_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """lineShutdown of an app with many lines is linear: its queue is purged in one pass
    at the end (bench/tapi_stack.py measures the time; this counts the work)."""
    core = _LoopDriver().core  # FakeLines report to it (no loop is needed)
    lines = [FakeLine(f"line {i}") for i in range(30)]
    core.add_provider(Provider(list(lines)))
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, *_ = core.lineInitializeEx(None, None, "big", 0x20002, params)
    assert rc == 0 and h is not None
    for device in range(30):
        rc, hL = core.lineOpen(h, device, 0x20002, 0, 0, C.LINECALLPRIVILEGE_OWNER,
                               C.LINEMEDIAMODE_DATAMODEM)  # fmt: skip
        assert rc == 0 and hL is not None
        assert core.lineMakeCall(hL, "1")[0] > 0
    queued = len(core.pending(h))
    assert queued >= 60
    scans = [0]
    belongs = Msg.belongs_to_line

    def counting(self: Msg, line: Any) -> bool:
        scans[0] += 1
        return belongs(self, line)

    monkeypatch.setattr(Msg, "belongs_to_line", counting)
    assert core.lineShutdown(h) == 0
    assert scans[0] == 0  # no per-line purge (30 lines x the queue before)
    assert core.hierarchy(apps=[h]).is_empty() and all(not x.is_open for x in lines)
