"""Which pty masters hung up: one epoll set per event loop for every pty port on it.

A pty master polls POLLHUP exactly while no slave is open, whatever else is asked for.
`HupWatch` holds the masters whose client is open in ONE epoll set, registered for no
events, so the set is readable when one of those clients leaves; the loop then calls
the callback of each master that hung up. A port adds its master when a client
arrives and removes it when the client leaves, so the idle masters of a farm (always
hung up) never wake the loop. One set serves 10 000 ports: one descriptor per loop,
not one per port (`linelab.limits.FDS_PER_LINK`).

`hung_up(fd)` asks the same question of one master, now, without a set.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import threading
import weakref
from collections.abc import Callable

_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HupWatch] = (
    weakref.WeakKeyDictionary()
)
_LOOPS_LOCK = threading.Lock()


def hung_up(fd: int) -> bool:
    """True when pty master `fd` has no slave open (it polls POLLHUP)."""
    poller = select.poll()
    poller.register(fd, 0)
    return bool(poller.poll(0))


class HupWatch:
    """The hang-up watcher shared by every port on one loop (see the module docstring).

    Get it with `for_loop` (each port once) and give it back with `release`; the last
    release closes its descriptor. Loop thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._epoll = select.epoll()
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._users = 0
        self._reading = False
        self.closed = False

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> HupWatch:
        """The watcher of `loop`, made on first use; each caller must `release()` it."""
        with _LOOPS_LOCK:
            watch = _LOOPS.get(loop)
            if watch is None or watch.closed:
                watch = cls(loop)
                _LOOPS[loop] = watch
            watch._users += 1
            return watch

    @property
    def watched(self) -> int:
        """Masters in the set now."""
        return len(self._callbacks)

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        """Call `callback()` (on the loop) when master `fd` hangs up, until `unwatch`."""
        if fd in self._callbacks:
            self._callbacks[fd] = callback
            return
        self._epoll.register(fd, 0)
        self._callbacks[fd] = callback
        if not self._reading and self._loop is not None:
            # Stays on the loop until the last release: an empty set is never
            # readable, and one client coming and going then costs no loop change.
            self._loop.add_reader(self._epoll.fileno(), self._dispatch)
            self._reading = True

    def unwatch(self, fd: int) -> None:
        """Stop watching `fd` (idempotent). Call it before closing `fd`."""
        if self._callbacks.pop(fd, None) is None:
            return
        with contextlib.suppress(OSError):  # closed already: the kernel dropped it
            self._epoll.unregister(fd)

    def _stop_reading(self) -> None:
        if self._reading and self._loop is not None:
            with contextlib.suppress(Exception):  # a loop already closed
                self._loop.remove_reader(self._epoll.fileno())
        self._reading = False

    def _dispatch(self) -> None:
        for fd, _events in self._epoll.poll(0):
            callback = self._callbacks.get(fd)
            if callback is not None:
                callback()

    def release(self) -> None:
        """One user is done; the last one closes the set."""
        self._users -= 1
        if self._users > 0 or self.closed:
            return
        self.closed = True
        self._callbacks.clear()
        self._stop_reading()
        loop, self._loop = self._loop, None
        if loop is not None:
            with _LOOPS_LOCK:
                if _LOOPS.get(loop) is self:
                    del _LOOPS[loop]
        self._epoll.close()


__all__ = ["HupWatch", "hung_up"]
