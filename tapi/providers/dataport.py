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

from collections.abc import Callable
from typing import Any

from serial import PortNotOpenError, SerialBase, SerialException

from linelab.serialpipe import SerialPipe
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
        # Its eventfd is readable exactly while rx holds bytes; the application may
        # simply drop its copy of the port: the fd goes with the object.
        self._pipe = SerialPipe(
            time, rx_limit=RX_LIMIT, tx_limit=TX_LIMIT, on_read=wake_provider,
            on_write=wake_provider,
        )  # fmt: skip
        self.cond = self._pipe.cond
        super().__init__(port=None, timeout=None)
        self._port = name  # what `port` and `name` report (the modem's path or URL)
        self.is_open = True

    # -- provider side (the loop thread) --------------------------------------------------
    def feed(self, data: bytes) -> int:
        """Data from the remote end. Returns how many bytes are now buffered."""
        return self._pipe.put_rx(data)

    def take_tx(self, max_bytes: int) -> bytes:
        """Bytes the application wrote, for the modem (at most `max_bytes`)."""
        return self._pipe.take_tx(max_bytes)

    def rx_buffered(self) -> int:
        """Bytes received and not yet read by the application."""
        with self.cond:
            return len(self._pipe.rx)

    def carrier_lost(self) -> None:
        """The call has ended: reads drain and then return b"", writes fail."""
        self._pipe.end(SerialException("no carrier: the call has ended"))

    def release(self) -> None:
        """The provider forgets this port (the call is gone): free the eventfd."""
        self.carrier_lost()
        with self.cond:
            self.is_open = False
            self._pipe.release()

    @property
    def carrier(self) -> bool:
        return self._pipe.ended is None

    # -- application side ----------------------------------------------------------------
    def open(self) -> None:
        """Reopen this copy (lineGetID hands it out again after the application closed it)."""
        with self.cond:
            if self._pipe.ready.closed:
                raise SerialException("the call of this data port has gone")
            self._pipe.reopen()
            self.is_open = True

    def close(self) -> None:
        """Close the application's copy; the call itself goes on."""
        with self.cond:
            self.is_open = False
            # What was written still goes to the modem, as a tty's close drains output.
            self._pipe.close(drop_output=False)

    def _require(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def in_waiting(self) -> int:
        self._require()
        return len(self._pipe.rx)

    @property
    def out_waiting(self) -> int:
        self._require()
        return len(self._pipe.tx)

    def fileno(self) -> int:
        """An fd readable exactly while `in_waiting` > 0 (for select/poll; do not read)."""
        self._require()
        return self._pipe.ready.fileno()

    def read(self, size: int = 1) -> bytes:
        self._require()
        return self._pipe.read(size, self.timeout)

    def write(self, b: Any, /) -> int:
        self._require()
        return self._pipe.write(bytes(memoryview(b).cast("B")), self.write_timeout)

    def flush(self) -> None:
        """Wait until the provider has taken everything written, or the call ended.

        The contract of `linelab.serialpipe`: bounded by ``write_timeout``,
        `SerialTimeoutException` if it passes first (until 2026-12 this port returned
        silently instead); returns at once on a closed copy."""
        if not self.is_open:
            return
        self._pipe.flush(self.write_timeout)

    def reset_input_buffer(self) -> None:
        self._pipe.reset_input()
        self._wake()

    def reset_output_buffer(self) -> None:
        self._pipe.reset_output()

    def cancel_read(self) -> None:
        self._pipe.cancel_read()

    def cancel_write(self) -> None:
        self._pipe.cancel_write()

    # -- modem lines and settings ----------------------------------------------------------
    @property
    def cd(self) -> bool:
        return self.carrier

    @property
    def dsr(self) -> bool:
        return self.carrier

    @property
    def cts(self) -> bool:
        return self.carrier

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
        state = "connected" if self.carrier else "ended"
        return f"<DataPort {self._port} {state} open={self.is_open}>"


__all__ = ["RX_LIMIT", "TX_LIMIT", "DataPort"]
