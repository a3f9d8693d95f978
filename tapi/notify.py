"""The three notification options of lineInitializeEx (tapi.md 2.2, 6.6).

Each HLINEAPP has one `Sink`, chosen by ``dwOptions``:

- `CallbackSink` (LINEINITIALIZEEXOPTION_USEHIDDENWINDOW, and lineInitialize): the
  hidden window becomes one dedicated thread per HLINEAPP that runs the callback for
  each message, one at a time, outside the core lock, so a callback may call any
  tapi function, lineClose and lineShutdown included.
- `EventSink` (USEEVENT): a queue read with lineGetMessage, and ``hEvent``, an
  eventfd that is readable exactly while the queue is not empty, for select/poll.
- `CompletionPortSink` (USECOMPLETIONPORT): every message is handed at once to the
  caller's object with ``put((dwCompletionKey, LINEMESSAGE))``; it cannot be recalled.

All methods except the dispatcher thread's own loop are called with the core lock
(`cond`) held. Purging (R4) removes queued messages of a closed object; for the
callback option, `quiesce` also waits for a callback already running for that object,
so that no callback for it runs after the close call returns (unless the close was
called from that very callback, which must not deadlock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from linelab.vtime import TimeSource
from tapi.core.records import Msg

log = logging.getLogger(__name__)

#: lineInitialize/lineInitializeEx callback: (hDevice, dwMsg, dwCallbackInstance, p1, p2, p3).
LineCallback = Callable[[int, int, int, int, int, int], object]
#: Turns a routed message into the LINEMESSAGE the application sees.
Converter = Callable[[Msg], Any]


class CompletionPort(Protocol):
    """Anything with ``put()``, e.g. `queue.Queue`."""

    def put(self, item: Any, /) -> object: ...


class Sink:
    """Where one HLINEAPP's messages go."""

    def __init__(self, cond: threading.Condition, time: TimeSource) -> None:
        self.cond = cond
        self.time = time
        self.closed = False

    def post(self, msg: Msg) -> None:
        raise NotImplementedError

    def purge(self, doomed: Callable[[Msg], bool]) -> None:
        """Delete queued messages for which `doomed` is true (R4)."""

    def quiesce(self, doomed: Callable[[Msg], bool]) -> None:
        """Wait until no callback for a `doomed` message is running."""

    def pending(self) -> list[Msg]:
        """Messages queued and not yet delivered."""
        return []

    def close(self) -> None:
        """lineShutdown: drop everything, stop delivering."""
        self.closed = True


class EventSink(Sink):
    """USEEVENT: a queue for lineGetMessage plus a pollable eventfd (``hEvent``)."""

    def __init__(self, cond: threading.Condition, time: TimeSource) -> None:
        super().__init__(cond, time)
        self.queue: deque[Msg] = deque()
        self.hEvent: int = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def _signal(self, nonempty_before: bool) -> None:
        # The counter is 1 exactly while the queue is non-empty, 0 otherwise.
        now = bool(self.queue)
        if now and not nonempty_before:
            os.eventfd_write(self.hEvent, 1)
        elif nonempty_before and not now:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self.hEvent)

    def post(self, msg: Msg) -> None:
        if self.closed:
            return
        before = bool(self.queue)
        self.queue.append(msg)
        self._signal(before)
        self.time.notify_all(self.cond)

    def get(self) -> Msg | None:
        """The oldest message, or None when the queue is empty."""
        if not self.queue:
            return None
        msg = self.queue.popleft()
        self._signal(True)
        return msg

    def purge(self, doomed: Callable[[Msg], bool]) -> None:
        before = bool(self.queue)
        kept = [m for m in self.queue if not doomed(m)]
        self.queue.clear()
        self.queue.extend(kept)
        self._signal(before)

    def pending(self) -> list[Msg]:
        return list(self.queue)

    def close(self) -> None:
        super().close()
        self.queue.clear()
        os.close(self.hEvent)
        self.time.notify_all(self.cond)


class CallbackSink(Sink):
    """Hidden-window option: one dispatcher thread calls `callback` for each message."""

    def __init__(
        self,
        cond: threading.Condition,
        time: TimeSource,
        callback: LineCallback,
        name: str,
    ) -> None:
        super().__init__(cond, time)
        self.callback = callback
        self.queue: deque[Msg] = deque()
        self.in_flight: Msg | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def post(self, msg: Msg) -> None:
        if self.closed:
            return
        self.queue.append(msg)
        self.time.notify_all(self.cond)

    def purge(self, doomed: Callable[[Msg], bool]) -> None:
        kept = [m for m in self.queue if not doomed(m)]
        self.queue.clear()
        self.queue.extend(kept)

    def quiesce(self, doomed: Callable[[Msg], bool]) -> None:
        if threading.current_thread() is self.thread:
            return  # lineClose/lineShutdown from inside a callback: never wait on ourselves

        def idle() -> bool:
            return self.in_flight is None or not doomed(self.in_flight)

        self.time.wait(self.cond, idle, None)

    def pending(self) -> list[Msg]:
        return list(self.queue)

    def close(self) -> None:
        super().close()
        self.queue.clear()
        self.time.notify_all(self.cond)

    def _run(self) -> None:
        with self.cond:
            while True:
                self.time.wait(self.cond, lambda: self.closed or bool(self.queue), None)
                if self.closed:
                    return
                msg = self.queue.popleft()
                self.in_flight = msg
                self.cond.release()
                try:
                    self.callback(
                        msg.hDevice,
                        msg.dwMessageID,
                        msg.dwCallbackInstance,
                        msg.dwParam1,
                        msg.dwParam2,
                        msg.dwParam3,
                    )
                except Exception:  # an application bug must not kill its message pump
                    log.exception("lineCallback raised for message %r", msg)
                finally:
                    self.cond.acquire()
                    self.in_flight = None
                    self.time.notify_all(self.cond)


class CompletionPortSink(Sink):
    """USECOMPLETIONPORT: ``port.put((dwCompletionKey, LINEMESSAGE))`` for each message."""

    def __init__(
        self,
        cond: threading.Condition,
        time: TimeSource,
        port: CompletionPort,
        key: int,
        convert: Converter,
    ) -> None:
        super().__init__(cond, time)
        self.port = port
        self.key = key
        self.convert = convert

    def post(self, msg: Msg) -> None:
        if self.closed:
            return
        try:
            self.port.put((self.key, self.convert(msg)))
        except Exception:  # the application's port is its own business
            log.exception("completion port put() raised for message %r", msg)
