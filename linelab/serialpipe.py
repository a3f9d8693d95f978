"""A bounded two-way byte pipe behind an in-process pyserial port.

Both in-process serial ports of the project are built on this one class: the
``vmodem://`` port (`emulator.transports.vmodem`: the user's thread on one side, the modem host's
loop on the other) and the TAPI data port (`tapi.providers.dataport`: the
application's thread on one side, the modem provider's loop on the other). The port
object keeps pyserial's API and its settings; the pipe keeps the bytes, the waits and
the file descriptor.

Two buffers under one `threading.Condition` (`cond`):

- ``rx``: bytes for the reader (the port's user), filled by the other side with
  `put_rx` up to `rx_limit` (the filler asks `rx_room()` first; beyond the limit its
  bytes stay where they came from, so back-pressure reaches their source: nothing is
  dropped).
- ``tx``: bytes written and not yet taken by the other side (`take_tx`). `write` blocks
  while `tx_limit` bytes wait.

Every wait goes through a `linelab.vtime.TimeSource`, so a blocked read on virtual time
is a linelab wait and the clock can jump meanwhile. `ready` is a `ReadyFd` that is
readable exactly while ``rx`` holds bytes (the port's `fileno()`).

Two ways for the pipe to stop:

- `end()`: the far side is gone (the call's carrier dropped). Reads return what is
  buffered and then ``b""`` at once, as a hung-up tty reads end-of-file; writes raise
  the `SerialException` given to `end()`; unwritten bytes are dropped.
- `close()`: the user's copy is closed. Unread bytes are dropped (unwritten ones too,
  unless asked to keep them for the other side), any blocked read or write returns, and
  later writes raise `PortNotOpenError`. `reopen()` undoes it.

The flush contract (one for both ports)
=======================================
pyserial documents ``flush()`` as "wait until all data is written" and its own POSIX
backend calls ``tcdrain``, which has no time-out: when `flush` returns, the bytes have
left. Our ports keep that promise, and bound the wait by the port's ``write_timeout``
as `write` does:

- `flush(timeout)` returns once ``tx`` is empty (the other side took every byte), or
  once the pipe has ended or closed (there is nobody left to write to; the unwritten
  bytes were dropped, and the next write says so).
- If ``timeout`` (the port's ``write_timeout``) passes first it raises
  `serial.SerialTimeoutException`, exactly as a write that stalls that long does. It
  never returns silently with bytes still queued. ``None`` waits as long as it takes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from serial import PortNotOpenError, SerialException, SerialTimeoutException

from linelab.readyfd import ReadyFd
from linelab.vtime import TimeSource

DEFAULT_LIMIT = 64 * 1024


def _nothing() -> None:
    pass


class SerialPipe:
    """The buffers, waits and ready fd of one in-process serial port (module docstring).

    `on_read` is called (cond held, on the reader's thread) after a read took bytes, so
    the filler can resume; `on_write` after a write queued bytes, so the taker can take
    them. Both must only schedule work, never wait.
    """

    def __init__(
        self,
        time: TimeSource,
        *,
        rx_limit: int = DEFAULT_LIMIT,
        tx_limit: int = DEFAULT_LIMIT,
        on_read: Callable[[], None] = _nothing,
        on_write: Callable[[], None] = _nothing,
    ) -> None:
        self.time = time
        self.rx_limit = rx_limit
        self.tx_limit = tx_limit
        self.on_read = on_read
        self.on_write = on_write
        self.cond = threading.Condition()
        self.rx = bytearray()
        self.tx = bytearray()
        self.ready = ReadyFd()
        self.closed = False
        self.ended: SerialException | None = None
        self.cancelled_read = False
        self.cancelled_write = False

    # -- the other side (the loop) --------------------------------------------------------

    def rx_room(self) -> int:
        """How many more bytes `put_rx` should be given (cond held or not)."""
        return max(0, self.rx_limit - len(self.rx))

    def put_rx(self, data: bytes) -> int:
        """Bytes for the reader (kept even past `rx_limit`; dropped once ended or
        closed). Returns how many bytes are now buffered."""
        with self.cond:
            if data and not self.closed and self.ended is None:
                self.rx += data
                self.ready.set(True)
            self.time.notify_all(self.cond)
            return len(self.rx)

    def take_tx(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` written bytes, for the other side."""
        with self.cond:
            data = bytes(self.tx[: max(0, max_bytes)])
            del self.tx[: len(data)]
            if data:
                self.time.notify_all(self.cond)
            return data

    def end(self, error: SerialException) -> None:
        """The other side is gone: reads drain, writes raise `error` (idempotent)."""
        with self.cond:
            if self.ended is None:
                self.ended = error
            self.tx.clear()
            self.time.notify_all(self.cond)

    def notify(self) -> None:
        """Wake waiters after a change they may wait on (cond held or not)."""
        with self.cond:
            self.time.notify_all(self.cond)

    # -- the user's side ----------------------------------------------------------------

    def close(self, *, drop_output: bool = True) -> None:
        """The user's copy is closed: drop unread bytes (and unwritten ones, unless
        `drop_output` is false) and release blocked calls."""
        with self.cond:
            self.closed = True
            self.rx.clear()
            if drop_output:
                self.tx.clear()
            self.ready.set(False)
            self.time.notify_all(self.cond)

    def reopen(self) -> None:
        """Undo `close()` (the fd must still be open)."""
        with self.cond:
            if self.ready.closed:
                raise SerialException("this port's pipe is released")
            self.closed = False

    def release(self) -> None:
        """Close for good and free the file descriptor (idempotent)."""
        self.close()
        with self.cond:
            self.ready.close()

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes: all of them, or fewer once `timeout` (None: no limit,
        0: do not wait) passes, the pipe ends or closes, or `cancel_read()` is called."""
        if size <= 0:
            return b""
        clock = self.time
        deadline = None if timeout is None else clock.now() + timeout
        out = bytearray()

        def more() -> bool:
            return bool(self.rx) or self._stopped() or self.cancelled_read

        with self.cond:
            while True:
                # Take what is there as it comes: rx is bounded, `size` need not be.
                taken = self.rx[: size - len(out)]
                if taken:
                    out += taken
                    del self.rx[: len(taken)]
                    self.ready.set(bool(self.rx))
                    self.on_read()
                if len(out) >= size or self._stopped() or self.cancelled_read or timeout == 0:
                    break
                remaining = None if deadline is None else deadline - clock.now()
                if remaining is not None and remaining <= 0:
                    break
                clock.wait(self.cond, more, remaining)
            self.cancelled_read = False
        return bytes(out)

    def write(self, data: bytes, timeout: float | None, *, unbounded: bool = False) -> int:
        """Queue `data`; returns how many bytes were queued.

        While `tx_limit` bytes wait it blocks: ``timeout`` 0 returns the count so far,
        None waits, seconds raise `SerialTimeoutException` when one stall lasts that
        long (pyserial's backends restart nothing either, so a time-out bounds each
        stall). `cancel_write()` makes it return the count so far. `unbounded` ignores
        `tx_limit` (for a caller on the thread that drains tx, which must not wait).
        """
        offset = 0

        def room_or_stop() -> bool:
            return len(self.tx) < self.tx_limit or self._stopped() or self.cancelled_write

        with self.cond:
            while offset < len(data):
                self._check_writable()
                room = len(data) - offset if unbounded else self.tx_limit - len(self.tx)
                if room > 0:
                    chunk = data[offset : offset + room]
                    self.tx += chunk
                    offset += len(chunk)
                    self.on_write()
                    continue
                if self.cancelled_write:
                    self.cancelled_write = False
                    break
                if timeout == 0:
                    break  # non-blocking: report what was taken
                if not self.time.wait(self.cond, room_or_stop, timeout):
                    raise SerialTimeoutException("Write timeout")
        return offset

    def flush(self, timeout: float | None) -> None:
        """Wait until the other side took every written byte, or the pipe ended or
        closed; `SerialTimeoutException` if `timeout` passes first (module docstring)."""
        with self.cond:
            if not self.time.wait(self.cond, lambda: not self.tx or self._stopped(), timeout):
                raise SerialTimeoutException(
                    f"Write timeout: flush left {len(self.tx)} bytes unwritten"
                )

    def reset_input(self) -> None:
        """Drop unread bytes."""
        with self.cond:
            self.rx.clear()
            self.ready.set(False)
            self.time.notify_all(self.cond)

    def reset_output(self) -> None:
        """Drop written bytes the other side has not taken."""
        with self.cond:
            self.tx.clear()
            self.time.notify_all(self.cond)

    def cancel_read(self) -> None:
        """Make a blocked `read()` return what it has."""
        with self.cond:
            self.cancelled_read = True
            self.time.notify_all(self.cond)

    def cancel_write(self) -> None:
        """Make a blocked `write()` return what it queued."""
        with self.cond:
            self.cancelled_write = True
            self.time.notify_all(self.cond)

    # -- internals ------------------------------------------------------------------------

    def _stopped(self) -> bool:
        return self.closed or self.ended is not None

    def _check_writable(self) -> None:
        if self.closed:
            raise PortNotOpenError()
        if self.ended is not None:
            raise self.ended


__all__ = ["DEFAULT_LIMIT", "SerialPipe"]
