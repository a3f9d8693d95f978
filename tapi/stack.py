"""`tapi.Stack`: one TAPI "server" with every flat function as a method.

A Stack owns the handle tables (tapi.core), its line devices (providers), its clock
(a `linelab.vtime.TimeSource`) and the event loop its providers run on: by default
its own loop in a service thread, started on first use; or an external ``loop=``, so
that a scenario can put the stack and the emulator on one (virtual-time) loop.

The module-level flat functions (`tapi.api`) call the *default stack*, which
`set_default_stack()` replaces; the test fixture in tests/conftest.py gives every test
a fresh one.

Windows CE behaviour, where it differs from desktop Windows, is selected with
``Stack(ce=True)``. Today that is one rule (tapi.md 6.1): lineDeallocateCall discards
the pending LINE_REPLYs of that call, instead of delivering them as desktop TAPI 2.0+
does (desktop discards them too for an app that negotiated a version below 2.0). The
CE rule that a process's exit shuts down its HLINEAPPs (R6) holds in both modes:
`Stack.close()`. See docs/tapi.md.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from linelab.vtime import RealTime, TimeSource
from tapi.core import snapshot
from tapi.core.assisted import AssistedFunctions
from tapi.providers.base import LineDevice, Provider
from tapi.view import Hierarchy

#: How long `Stack.close()` lets providers finish hanging up (seconds on the stack's
#: clock): room for a +++ escape with its guard times, OK and ATH.
CLOSE_DRAIN_TIMEOUT = 15.0


class Stack(AssistedFunctions):
    """A complete TAPI 2.x line stack (see module doc).

    `providers` supplies the line devices (device IDs in order). `lines` is a shortcut
    for one provider holding those `LineDevice`s. With neither, the stack has no lines
    until `add_provider()`; `tapi.config.default_stack()` builds one from the
    configuration instead.
    """

    def __init__(
        self,
        providers: Iterable[Provider] = (),
        *,
        lines: Iterable[LineDevice] = (),
        time: TimeSource | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        ce: bool = False,
    ) -> None:
        super().__init__(time if time is not None else RealTime(), ce=ce, loop_getter=self._loop)
        self._external_loop = loop
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._closed = False
        _LIVE.add(self)
        for provider in providers:
            self.add_provider(provider)
        lines = list(lines)
        if lines:
            self.add_provider(Provider(lines))

    # -- the event loop --------------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop providers run on (the service loop is started on first use)."""
        return self._loop()

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._external_loop is not None:
            return self._external_loop
        with self.cond:
            if self._own_loop is None:
                loop = self.time.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._own_loop = loop
                self._loop_thread = threading.Thread(target=serve, name="tapi-loop", daemon=True)
                self._loop_thread.start()
                ready.wait(10.0)  # a deadline for start-up, not a delay
            return self._own_loop

    # -- life cycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Shut down every HLINEAPP (as if each process exited, R6) and the providers, let
        the providers finish their hang-ups (`CLOSE_DRAIN_TIMEOUT`), then stop the
        service loop. Idempotent."""
        with self.op():
            if self._closed:
                return
            self._closed = True
            for app in list(self.apps.values()):
                self.shutdown_app(app)
            for provider in self.providers:
                provider.shutdown()
        self._drain_providers()
        loop, thread = self._own_loop, self._loop_thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10.0)
            if not thread.is_alive():
                loop.close()

    def _drain_providers(self) -> None:
        """Let the providers finish what shutting down began (a hang-up's DTR drop, the
        port's release) before the loop stops: wait on the stack's clock, so virtual time
        moves on meanwhile, for at most `CLOSE_DRAIN_TIMEOUT`."""
        loop = self._external_loop or self._own_loop
        if loop is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                return  # closing from the loop itself: nobody else can run its timers
        except RuntimeError:
            pass  # no loop in this thread: the usual case
        remaining = [len(self.providers)]

        def done() -> None:
            with self.cond:
                remaining[0] -= 1
                self.time.notify_all(self.cond)

        for provider in self.providers:
            provider.when_drained(done)
        with self.cond:
            self.time.wait(self.cond, lambda: remaining[0] <= 0, CLOSE_DRAIN_TIMEOUT)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hierarchy(self, apps: Iterable[int] | None = None) -> Hierarchy:
        """The whole tree, or only the given HLINEAPPs (the server's per-client view): a
        read-only snapshot taken under the stack's lock (`tapi.view`)."""
        with self.cond:
            return snapshot.hierarchy(self, apps)

    def pending_messages(self, hLineApp: int) -> list[object]:
        """Messages queued for `hLineApp` and not yet delivered (for assertions)."""
        from tapi.core.state import to_linemessage

        with self.cond:
            app = self.apps.get(hLineApp)
            return [] if app is None else [to_linemessage(m) for m in app.sink.pending()]


_LIVE: weakref.WeakSet[Stack] = weakref.WeakSet()


def live_stacks() -> list[Stack]:
    """Every Stack not yet closed (test fixtures close what a test left open)."""
    return [s for s in list(_LIVE) if not s._closed]


_default: Stack | None = None
_default_lock = threading.Lock()


def get_default_stack() -> Stack:
    """The stack the module-level flat functions use (created from the configuration
    on first use: `tapi.config.default_stack`)."""
    global _default
    with _default_lock:
        if _default is None:
            from tapi.config import default_stack

            _default = default_stack()
        return _default


def set_default_stack(stack: Stack | None) -> Stack | None:
    """Make `stack` the default (None: build a new one on next use); returns the old one."""
    global _default
    with _default_lock:
        old, _default = _default, stack
        return old


@contextmanager
def using_stack(stack: Stack | None = None) -> Iterator[Stack]:
    """Make `stack` (default: a new empty Stack) the default for the block, then restore
    the previous default and close `stack`: a fresh stack per test or per hypothesis
    example."""
    stack = stack if stack is not None else Stack()
    old = set_default_stack(stack)
    try:
        yield stack
    finally:
        set_default_stack(old)
        stack.close()
