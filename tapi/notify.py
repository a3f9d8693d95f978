"""The three notification options of lineInitializeEx (rules.md §2.2, 6.6): the I/O side.

The core (tapi.core) only queues each app's messages (`App.queue`) and records which
queues changed; it never signals. A `Sink` per HLINEAPP, owned by the driver
(`tapi.Stack`), turns those changes into what the chosen option promises:

- `CallbackSink` (LINEINITIALIZEEXOPTION_USEHIDDENWINDOW, and lineInitialize): the
  hidden window becomes one dedicated thread per HLINEAPP that takes each message from
  the core's queue and runs the callback for it, one at a time, outside the lock, so a
  callback may call any tapi function, lineClose and lineShutdown included.
- `EventSink` (USEEVENT): ``hEvent``, an eventfd that is readable exactly while the
  app's queue is not empty, for select/poll; lineGetMessage reads the queue.
- `CompletionPortSink` (USECOMPLETIONPORT): every message is handed to the caller's
  object with ``put((dwCompletionKey, LINEMESSAGE))`` when the call that posted it
  ends; it cannot be recalled.

Every method is called with the driver's lock (`cond`) held, after the core call that
changed the queue has finished. Purging (R4) happens in the core; for the callback
option, `quiesce` also waits for a callback already running for a closed object, so
that no callback for it runs after the close call returns (unless the close was called
from that very callback, which must not deadlock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from linelab.vtime import TimeSource
from tapi.core.messages import Doomed
from tapi.core.records import App, Msg

log = logging.getLogger(__name__)

#: lineInitialize/lineInitializeEx callback: (hDevice, dwMsg, dwCallbackInstance, p1, p2, p3).
LineCallback = Callable[[int, int, int, int, int, int], object]
#: Takes the oldest message off an app's queue in the core (None when empty).
Take = Callable[[App], Msg | None]
#: Turns a routed message into the LINEMESSAGE the application sees.
Converter = Callable[[Msg], Any]


class CompletionPort(Protocol):
    """Anything with ``put()``, e.g. `queue.Queue`."""

    def put(self, item: Any, /) -> object: ...


class Sink:
    """How one HLINEAPP's queue reaches the application."""

    def __init__(self, cond: threading.Condition, time: TimeSource, app: App) -> None:
        self.cond = cond
        self.time = time
        self.app = app
        self.closed = False

    def update(self) -> None:
        """The app's queue changed (grew or shrank)."""

    def quiesce(self, doomed: Doomed) -> None:
        """Wait until no callback for a `doomed` message is running."""

    def close(self) -> None:
        """lineShutdown: stop delivering."""
        self.closed = True


class EventSink(Sink):
    """USEEVENT: a pollable eventfd (``hEvent``) set while the queue is not empty."""

    def __init__(self, cond: threading.Condition, time: TimeSource, app: App) -> None:
        super().__init__(cond, time, app)
        self.hEvent: int = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._set = False

    def update(self) -> None:
        # The counter is 1 exactly while the queue is non-empty, 0 otherwise.
        now = bool(self.app.queue)
        if now and not self._set:
            os.eventfd_write(self.hEvent, 1)
        elif self._set and not now:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self.hEvent)
        self._set = now

    def close(self) -> None:
        super().close()
        os.close(self.hEvent)


class CallbackSink(Sink):
    """Hidden-window option: one dispatcher thread calls the callback for each message."""

    def __init__(
        self,
        cond: threading.Condition,
        time: TimeSource,
        app: App,
        callback: LineCallback,
        take: Take,
    ) -> None:
        super().__init__(cond, time, app)
        self.callback = callback
        self.take = take
        self.in_flight: Msg | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"tapi-callback-{app.hLineApp:#x}", daemon=True
        )
        self.thread.start()

    def quiesce(self, doomed: Doomed) -> None:
        if threading.current_thread() is self.thread:
            return  # lineClose/lineShutdown from inside a callback: never wait on ourselves

        def idle() -> bool:
            return self.in_flight is None or not doomed(self.in_flight)

        self.time.wait(self.cond, idle, None)

    def _run(self) -> None:
        with self.cond:
            while True:
                self.time.wait(self.cond, lambda: self.closed or bool(self.app.queue), None)
                if self.closed:
                    return
                msg = self.take(self.app)
                if msg is None:
                    continue
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
        app: App,
        port: CompletionPort,
        key: int,
        take: Take,
        convert: Converter,
    ) -> None:
        super().__init__(cond, time, app)
        self.port = port
        self.key = key
        self.take = take
        self.convert = convert

    def update(self) -> None:
        while (msg := self.take(self.app)) is not None:
            try:
                self.port.put((self.key, self.convert(msg)))
            except Exception:  # the application's port is its own business
                log.exception("completion port put() raised for message %r", msg)

    def close(self) -> None:
        self.update()  # what was posted before lineShutdown was already "delivered"
        super().close()
