"""inotify(7) for the whole project: one instance serves every watch of a process.

The kernel caps inotify *instances* per user (``fs.inotify.max_user_instances``, 128 by
default) far below the number of *watches* (``max_user_watches``, thousands). So the
pty transport, the port hub and the TAPI provider never make an instance per port:
they subscribe watches to a shared `Inotify`, which reads the one descriptor and hands
each subscriber the events of its own watch.

- `Inotify.for_loop(loop)` is the instance of an asyncio event loop: created on the
  first watch, read by ``loop.add_reader``, closed when its last watch is cancelled.
  Every link of a ``linelab modem`` process (one loop) shares it. Call it, and cancel
  its watches, on the loop's thread.
- ``Inotify()`` is a free-standing instance for a thread of its own (the port hub runs
  a selector): wait for `fileno()` to be readable and call `dispatch()`.

Two subscribers may watch the same inode (the kernel gives both the same watch
descriptor): masks are merged with ``IN_MASK_ADD`` and each subscriber only gets the
events it asked for. The kernel's queue overflowing (``IN_Q_OVERFLOW``: events were
lost) is passed to every subscriber, which must then re-check what it watches.

The system calls come from `inotify_simple` (PyPI), a thin, maintained ctypes binding;
this module adds the sharing, the dispatch and types.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import inotify_simple

if TYPE_CHECKING:
    import asyncio

IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_MASK_ADD = 0x20000000
IN_CLOSE = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a watch: its mask and, for a watched directory, the entry's name."""

    mask: int
    name: str = ""


Callback = Callable[[list[Event]], None]


class Watch:
    """One subscriber's watch (returned by `Inotify.watch`); `cancel()` ends it."""

    __slots__ = ("_owner", "callback", "mask", "path", "wd")

    def __init__(self, owner: Inotify, wd: int, path: str, mask: int, callback: Callback):
        self._owner: Inotify | None = owner
        self.wd = wd
        self.path = path
        self.mask = mask
        self.callback = callback

    @property
    def active(self) -> bool:
        return self._owner is not None

    def cancel(self) -> None:
        """Stop delivering events to this subscriber (idempotent)."""
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._remove(self)


_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Inotify] = weakref.WeakKeyDictionary()
_LOOPS_LOCK = threading.Lock()


class Inotify:
    """One inotify instance with any number of subscribed watches (module docstring)."""

    def __init__(self) -> None:
        # OSError (EMFILE when the user's instances or the process's descriptors are
        # used up) goes to the caller, who knows what it was setting up.
        self._ino: Any = inotify_simple.INotify(nonblocking=True)
        self._watches: dict[int, list[Watch]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> Inotify:
        """The instance shared by everything on `loop` (created and registered on
        first use; call on the loop's thread)."""
        with _LOOPS_LOCK:
            ino = _LOOPS.get(loop)
            if ino is None or ino.closed:
                ino = cls()
                ino._loop = loop
                loop.add_reader(ino.fileno(), ino.dispatch)
                _LOOPS[loop] = ino
            return ino

    def fileno(self) -> int:
        fd: int = self._ino.fileno()
        return fd

    @property
    def watch_count(self) -> int:
        return sum(len(subs) for subs in self._watches.values())

    def watch(self, path: str | os.PathLike[str], mask: int, callback: Callback) -> Watch:
        """Subscribe `callback` to the events of `mask` on `path`; OSError if the
        kernel refuses the watch (ENOENT, ENOSPC when max_user_watches is reached)."""
        if self.closed:
            raise ValueError("inotify instance is closed")
        try:
            wd: int = self._ino.add_watch(path, mask | IN_MASK_ADD)
        except OSError:
            self._close_if_idle()
            raise
        watch = Watch(self, wd, os.fspath(path), mask, callback)
        self._watches.setdefault(wd, []).append(watch)
        return watch

    def dispatch(self) -> None:
        """Read every queued event and give each subscriber the events of its watch,
        oldest first, in one call."""
        if self.closed:
            return
        batches: dict[int, tuple[Watch, list[Event]]] = {}
        try:
            raw = list(self._ino.read(timeout=0))
        except (BlockingIOError, OSError, ValueError):
            return
        for wd, mask, _cookie, name in raw:
            if mask & IN_Q_OVERFLOW:
                targets = [w for subs in self._watches.values() for w in subs]
            else:
                targets = [w for w in self._watches.get(wd, ()) if mask & (w.mask | IN_IGNORED)]
            for w in targets:
                batches.setdefault(id(w), (w, []))[1].append(Event(mask, name))
            if mask & IN_IGNORED and not mask & IN_Q_OVERFLOW:
                self._watches.pop(wd, None)  # the kernel dropped the watch (node gone)
        for w, events in batches.values():
            if w.active:
                w.callback(events)

    def _remove(self, watch: Watch) -> None:
        subs = self._watches.get(watch.wd)
        if subs is not None and watch in subs:
            subs.remove(watch)
            if not subs:
                del self._watches[watch.wd]
                with contextlib.suppress(OSError):  # gone already (IN_IGNORED)
                    self._ino.rm_watch(watch.wd)
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._loop is not None and not self._watches:
            self.close()

    def close(self) -> None:
        """Close the descriptor; every watch stops (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for subs in self._watches.values():
            for w in subs:
                w._owner = None
        self._watches.clear()
        loop, self._loop = self._loop, None
        if loop is not None:
            with _LOOPS_LOCK:
                if _LOOPS.get(loop) is self:
                    del _LOOPS[loop]
            with contextlib.suppress(Exception):  # a loop already closed
                loop.remove_reader(self.fileno())
        self._ino.close()


__all__ = [
    "IN_CLOSE",
    "IN_CLOSE_NOWRITE",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_OPEN",
    "IN_Q_OVERFLOW",
    "Event",
    "Inotify",
    "Watch",
]
