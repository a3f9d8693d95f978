"""The port an application gets from lineGetID("comm/datamodem") (rules.md §2.21).

Windows hands the application a duplicate of the provider's comm handle. linelab hands
out a `DataPort` instead: a pyserial-compatible object that the modem provider relays.
The provider keeps reading the real port during the data phase, so it still sees
``NO CARRIER`` (and DCD, where the port has it) and reports the remote hang-up, while
the application reads and writes the call's data as it would on the real port.

Threads: the application calls the pyserial methods from its own thread; the provider
feeds received data and takes written data on its event loop. Blocking waits go through
the stack's `linelab.vtime.TimeSource` (a read with a time-out is a linelab wait, so
virtual time can advance while the application waits for data).

Behaviour the application sees:

- ``read(size)`` honours ``timeout`` (None: wait, 0: don't, seconds: a deadline). Once
  the call has ended (``cd`` false), it returns what is buffered and then ``b""`` at
  once, as a hung-up tty reads end-of-file.
- ``write(data)`` queues the bytes for the modem; it blocks (up to ``write_timeout``)
  while `TX_LIMIT` bytes wait, so back-pressure reaches the writer. After the call has
  ended it raises `serial.SerialException`.
- ``cd`` is true while the call is connected; ``dsr``/``cts`` follow it; ``ri`` is false.
- ``fileno()`` is an eventfd readable exactly while ``in_waiting`` > 0 (do not read it).
- ``close()`` closes this copy only; the call goes on until lineDrop. ``dtr``, ``rts``,
  ``baudrate`` and the like are accepted and have no effect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from serial import PortNotOpenError, SerialBase, SerialException, SerialTimeoutException

from linelab.readyfd import ReadyFd
from linelab.vtime import TimeSource

RX_LIMIT = 64 * 1024  # above this the provider stops reading the modem
TX_LIMIT = 64 * 1024


class DataPort(SerialBase):
    """A relayed data-phase port (see the module docstring).

    `wake_provider` is called (from the application's thread) when the application
    wrote data or made room in the receive buffer; the provider then pulls
    `take_tx()` and resumes reading on its loop.
    """

    def __init__(self, name: str, time: TimeSource, wake_provider: Callable[[], None]) -> None:
        self._time = time
        self._wake = wake_provider
        self.cond = threading.Condition()
        self._rx = bytearray()
        self._tx = bytearray()
        self._carrier = True
        # Readable exactly while rx holds bytes; the application may simply drop its
        # copy of the port: the fd goes with the object.
        self._ready = ReadyFd()
        self._cancel_read = False
        self._cancel_write = False
        super().__init__(port=None, timeout=None)
        self._port = name  # what `port` and `name` report (the modem's path or URL)
        self.is_open = True

    # -- provider side (the loop thread) --------------------------------------------------
    def feed(self, data: bytes) -> int:
        """Data from the remote end. Returns how many bytes are now buffered."""
        with self.cond:
            if self.is_open and self._carrier:
                self._rx += data
                self._sync_fd()
            self._time.notify_all(self.cond)
            return len(self._rx)

    def take_tx(self, max_bytes: int) -> bytes:
        """Bytes the application wrote, for the modem (at most `max_bytes`)."""
        with self.cond:
            data = bytes(self._tx[:max_bytes])
            del self._tx[: len(data)]
            if data:
                self._time.notify_all(self.cond)
            return data

    def rx_buffered(self) -> int:
        """Bytes received and not yet read by the application."""
        with self.cond:
            return len(self._rx)

    def carrier_lost(self) -> None:
        """The call has ended: reads drain and then return b"", writes fail."""
        with self.cond:
            self._carrier = False
            self._tx.clear()
            self._time.notify_all(self.cond)

    def release(self) -> None:
        """The provider forgets this port (the call is gone): free the eventfd."""
        self.carrier_lost()
        with self.cond:
            self.is_open = False
            self._rx.clear()
            self._ready.close()

    @property
    def carrier(self) -> bool:
        return self._carrier

    # -- application side ----------------------------------------------------------------
    def open(self) -> None:
        """Reopen this copy (lineGetID hands it out again after the application closed it)."""
        with self.cond:
            if self._ready.closed:
                raise SerialException("the call of this data port has gone")
            self.is_open = True

    def close(self) -> None:
        """Close the application's copy; the call itself goes on."""
        with self.cond:
            self.is_open = False
            self._rx.clear()
            self._sync_fd()
            self._time.notify_all(self.cond)

    def _sync_fd(self) -> None:
        self._ready.set(bool(self._rx))

    def _require(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def in_waiting(self) -> int:
        self._require()
        return len(self._rx)

    @property
    def out_waiting(self) -> int:
        self._require()
        return len(self._tx)

    def fileno(self) -> int:
        """An fd readable exactly while `in_waiting` > 0 (for select/poll; do not read)."""
        self._require()
        return self._ready.fileno()

    def read(self, size: int = 1) -> bytes:
        self._require()
        if size <= 0:
            return b""
        timeout = self.timeout
        deadline = None if timeout is None else self._time.now() + timeout
        out = bytearray()

        def more() -> bool:
            return bool(self._rx) or not self._carrier or not self.is_open or self._cancel_read

        with self.cond:
            while True:
                taken = self._rx[: size - len(out)]
                if taken:
                    out += taken
                    del self._rx[: len(taken)]
                    self._sync_fd()
                    self._wake()  # room again: the provider may resume reading
                if len(out) >= size or not self._carrier or not self.is_open:
                    break
                if self._cancel_read or timeout == 0:
                    break
                remaining = None if deadline is None else deadline - self._time.now()
                if remaining is not None and remaining <= 0:
                    break
                self._time.wait(self.cond, more, remaining)
            self._cancel_read = False
        return bytes(out)

    def write(self, b: Any, /) -> int:
        self._require()
        data = bytes(memoryview(b).cast("B"))
        offset = 0
        with self.cond:
            while offset < len(data):
                if not self._carrier:
                    raise SerialException("no carrier: the call has ended")
                room = TX_LIMIT - len(self._tx)
                if room > 0:
                    chunk = data[offset : offset + room]
                    self._tx += chunk
                    offset += len(chunk)
                    self._wake()
                    continue
                if self._cancel_write:
                    self._cancel_write = False
                    break
                if self.write_timeout == 0:
                    break
                if not self._time.wait(
                    self.cond,
                    lambda: len(self._tx) < TX_LIMIT or not self._carrier or self._cancel_write,
                    self.write_timeout,
                ):
                    raise SerialTimeoutException("Write timeout")
        return offset

    def flush(self) -> None:
        """Wait until the provider has taken everything written (or the call ended)."""
        with self.cond:
            self._time.wait(
                self.cond, lambda: not self._tx or not self._carrier, self.write_timeout
            )

    def reset_input_buffer(self) -> None:
        with self.cond:
            self._rx.clear()
            self._sync_fd()
        self._wake()

    def reset_output_buffer(self) -> None:
        with self.cond:
            self._tx.clear()
            self._time.notify_all(self.cond)

    def cancel_read(self) -> None:
        with self.cond:
            self._cancel_read = True
            self._time.notify_all(self.cond)

    def cancel_write(self) -> None:
        with self.cond:
            self._cancel_write = True
            self._time.notify_all(self.cond)

    # -- modem lines and settings ----------------------------------------------------------
    @property
    def cd(self) -> bool:
        return self._carrier

    @property
    def dsr(self) -> bool:
        return self._carrier

    @property
    def cts(self) -> bool:
        return self._carrier

    @property
    def ri(self) -> bool:
        return False

    def _reconfigure_port(self, force_update: bool = False) -> None:
        pass  # the modem's port keeps its own settings

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    def __repr__(self) -> str:
        state = "connected" if self._carrier else "ended"
        return f"<DataPort {self._port} {state} open={self.is_open}>"


__all__ = ["RX_LIMIT", "TX_LIMIT", "DataPort"]
