"""``vmodem://NAME[?profile=P&number=N]``: an in-process virtual modem behind pyserial.

After ``import emulator`` (or `emulator.register_url_handler()`), unmodified pyserial
code opens a modem on the process's default exchange::

    port = serial.serial_for_url("vmodem://A", timeout=1)
    port.write(b"ATDT1002\\r")

How it is built
===============
The modems live on a `ModemHost` (`emulator.transports.host`). `default_host()` is the process's
host: the one given to `set_default_host()` (a scenario run puts its own there, so the
modems share its loop and clock), else one started on first use in a daemon service
thread (`ModemHost.start_in_thread()`), on real time. ``LINELAB_TRACE=FILE`` in the
environment makes that host write a transcript.

NAME is created on the first open (``profile`` and ``number`` apply then) and stays on
the exchange after `close()`, so its number is stable across reopen; while no port has
it open its DTR is off and its output is discarded. A second open of a NAME that is
open raises `SerialException`, as does a reopen whose ``profile``/``number`` disagree
with the existing modem.

Each open port has a `_Link`, the `ModemPort` the host drives on its loop thread, and
the pyserial object the user's thread calls. They share a `linelab.serialpipe.SerialPipe`
(the one bounded pipe of the project, also behind the TAPI data port): two buffers under
one `threading.Condition`:

- ``rx``: modem output not yet read. The loop pulls output into it only while it holds
  less than `RX_LIMIT`; beyond that the bytes stay in the engine, which holds back the
  far end. Nothing is dropped.
- ``tx``: bytes written but not yet taken by the modem. The loop feeds the modem no
  more than its `dte_room()`; `write()` blocks (honouring ``write_timeout``) while
  `TX_LIMIT` bytes are queued, so back-pressure reaches the writer.

`read()` waits on the condition (a deadline for a float ``timeout``, forever for
None, not at all for 0): no polling. Waits go through a `linelab.vtime.TimeSource`:
real seconds by default, or the `VirtualTime` given to `set_default_host()`, which
makes a blocked read a linelab wait so that virtual time can advance meanwhile.

`flush()` waits until the modem has taken every written byte; if ``write_timeout``
passes first it raises `SerialTimeoutException`, as a stalled `write()` does (the
contract is `linelab.serialpipe`'s, the same for the TAPI data port).

`fileno()` is a Linux eventfd that is readable exactly while ``rx`` is not empty, so
an event loop can wait for input with ``add_reader`` or ``select``. On the host's own
loop thread a read never blocks (it would stop the loop that fills it) and behaves as
``timeout=0``.

`cd`, `ri`, `dsr` and `cts` come from the signals the loop last published. The loop
updates them before it hands over output bytes, so a program that has read
``CONNECT`` sees `cd` true.

Not modelled: ``inter_byte_timeout`` (ignored), break (accepted, no effect on the
engine), parity/byte size (the data path is 8-bit clean regardless).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from serial import PortNotOpenError, SerialBase, SerialException

from emulator.core.engine import Signals
from emulator.core.profile import load_profile
from emulator.transports.host import HostedModem, ModemHost
from linelab.errors import LinelabError
from linelab.serialpipe import SerialPipe
from linelab.vtime import RealTime, TimeSource

log = logging.getLogger(__name__)

T = TypeVar("T")

RX_LIMIT = 64 * 1024
TX_LIMIT = 64 * 1024
URL_FORM = "vmodem://NAME[?profile=P&number=N]"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NUMBER = re.compile(r"[0-9*#]{1,32}")

_default_lock = threading.Lock()
_default: ModemHost | None = None
_default_time: TimeSource = RealTime()


def default_host() -> ModemHost:
    """The process's modem host, started in a service thread on first use."""
    global _default
    with _default_lock:
        if _default is None or _host_closed(_default):
            trace = None
            path = os.environ.get("LINELAB_TRACE")
            if path:
                from emulator.transcript import TranscriptWriter

                trace = TranscriptWriter(path)
            _default = ModemHost.start_in_thread(trace=trace, name="linelab-vmodem")
        return _default


def default_time_source() -> TimeSource:
    """The clock that pyserial time-outs of new ``vmodem://`` ports are measured on."""
    return _default_time


def set_default_host(
    host: ModemHost | None, time_source: TimeSource | None = None
) -> ModemHost | None:
    """Make `host` the one new ``vmodem://`` ports use (None: start one on next open).

    `time_source` is what their ``timeout``/``write_timeout`` run on: by default real
    seconds, as pyserial means them; pass the `linelab.vtime.VirtualTime` whose loop
    runs `host`, and a port's blocking read becomes a linelab wait, so virtual time can
    jump while a test waits for ``CONNECT``. Returns the previous default host; the
    caller keeps ownership of both."""
    global _default, _default_time
    with _default_lock:
        previous, _default = _default, host
        _default_time = time_source if time_source is not None else RealTime()
    return previous


def _host_closed(host: ModemHost) -> bool:
    return host.closed


def parse_url(url: str) -> tuple[str, str | None, str | None]:
    """(NAME, profile, number) from a vmodem:// URL; SerialException when malformed."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "vmodem":
        raise SerialException(f"expected {URL_FORM}, not {url!r}")
    name = parts.netloc or parts.path.lstrip("/")
    if not _NAME.fullmatch(name) or (parts.netloc and parts.path not in ("", "/")):
        raise SerialException(
            f"expected {URL_FORM}: NAME must be letters, digits, '_', '.' or '-' in {url!r}"
        )
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise SerialException(f"expected {URL_FORM}: bad query in {url!r}") from None
    options: dict[str, str] = {}
    for key, values in query.items():
        if key not in ("profile", "number"):
            raise SerialException(f"expected {URL_FORM}: unknown option {key!r} in {url!r}")
        if len(values) != 1 or not values[0]:
            raise SerialException(f"expected {URL_FORM}: give {key} once, with a value")
        options[key] = values[0]
    number = options.get("number")
    if number is not None and not _NUMBER.fullmatch(number):
        raise SerialException(f"expected {URL_FORM}: bad number {number!r}")
    return name, options.get("profile"), number


class _Link:
    """The loop side of one open port (a `ModemPort`) and the pipe it shares."""

    def __init__(self, host: ModemHost, modem: HostedModem, clock: TimeSource) -> None:
        self.host = host
        self.modem = modem
        self.time = clock
        self.signals: Signals = modem.signals
        self._starved = False  # output left in the engine because rx was full
        self._pull_queued = False
        self._pump_queued = False
        # rx: modem output for the user; tx: bytes for the modem. A read that made room
        # asks for more output; a write asks the loop to feed the modem.
        self.pipe = SerialPipe(
            clock,
            rx_limit=RX_LIMIT,
            tx_limit=TX_LIMIT,
            on_read=self._after_read,
            on_write=self.queue_pump,
        )
        self.cond = self.pipe.cond

    @property
    def closed(self) -> bool:
        return self.pipe.closed

    # -- loop thread: the ModemPort callbacks ------------------------------------------

    def output_ready(self) -> None:
        self._pull()

    def room_available(self) -> None:
        self._pump()

    def signals_changed(self, signals: Signals) -> None:
        with self.cond:
            self.signals = signals
            self.pipe.notify()

    def _pull(self) -> None:
        with self.cond:
            self._pull_queued = False
            if self.closed:
                return
            # Signals first: whoever reads these bytes must see the lines as they are now.
            self.signals = self.modem.signals
            room = self.pipe.rx_room()
            data = self.modem.read(room) if room > 0 else b""
            self._starved = self.modem.pending() > 0
            self.pipe.put_rx(data)

    def _pump(self) -> None:
        with self.cond:
            self._pump_queued = False
            fed = False
            tx = self.pipe.tx
            while tx and not self.closed:
                # dte_room() of 0 arms room_available(), which brings us back here.
                room = self.modem.dte_room()
                taken = self.modem.feed(bytes(tx[:room])) if room > 0 else 0
                if not taken:
                    break
                del tx[:taken]
                fed = True
            if fed:
                self.pipe.notify()

    # -- any thread --------------------------------------------------------------------

    def _after_read(self) -> None:
        if self._starved:
            self.queue_pull()
        if self.pipe.ended is not None:
            self.pipe.ready.set(True)  # drained after a removal: the next read raises

    def queue_pull(self) -> None:
        """Ask the loop to pull more output (cond held)."""
        if not self._pull_queued and not self.closed:
            self._pull_queued = True
            self._post(self._pull)

    def queue_pump(self) -> None:
        """Ask the loop to feed tx to the modem (cond held)."""
        if not self._pump_queued and not self.closed:
            self._pump_queued = True
            self._post(self._pump)

    def _post(self, callback: Callable[[], None]) -> None:
        try:
            self.host.loop.call_soon_threadsafe(callback)
        except RuntimeError:
            # The host's loop is gone (shut down under an open port): the port is dead.
            # What was read stays readable; writes now fail.
            with self.cond:
                self.pipe.closed = True
                self.pipe.notify()

    def modem_removed(self) -> None:
        """The modem left its host (loop thread): the port is dead, as a USB modem
        pulled out is. What was read stays readable; then `read()` and `in_waiting`
        raise `SerialException`, and the fd turns readable so an event loop finds out."""
        with self.cond:
            self.pipe.end(SerialException(f"vmodem://{self.modem.name}: the modem was removed"))
            if not self.pipe.ready.closed:
                self.pipe.ready.set(True)

    def check_gone(self) -> None:
        """Raise the removal's `SerialException` once nothing is left to read (cond held)."""
        if self.pipe.ended is not None and not self.pipe.rx:
            raise self.pipe.ended

    def close(self) -> None:
        self.pipe.release()


class VModemSerial(SerialBase):
    """The pyserial class behind ``vmodem://`` (see the module docstring)."""

    BAUDRATES = (
        300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._link: _Link | None = None
        self._loop_thread: int | None = None
        super().__init__(*args, **kwargs)

    # -- opening and closing -----------------------------------------------------------

    def open(self) -> None:
        """Attach to (creating if needed) the modem NAME on the default host."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self.port is None:
            raise SerialException("Port must be configured before it can be used.")
        name, profile, number = parse_url(self.port)
        host = default_host()
        clock = default_time_source()
        try:
            link = host.call(_attach, host, name, profile, number, clock)
        except (LinelabError, ValueError, RuntimeError) as exc:
            raise SerialException(f"cannot open {self.port}: {exc}") from None
        self._link = link
        self._loop_thread = host.call(threading.get_ident)
        self.is_open = True
        try:
            self._reconfigure_port()
            if not self.dsrdtr:
                self._update_dtr_state()
            if not self.rtscts:
                self._update_rts_state()
            self.reset_input_buffer()
            self.reset_output_buffer()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Detach from the modem (its DTR drops) and free NAME for the next open."""
        link, self._link = self._link, None
        self.is_open = False
        if link is not None:
            try:
                link.host.call(_detach, link)
            except (RuntimeError, TimeoutError) as exc:  # a host already shut down
                log.debug("vmodem close: %s", exc)
            link.close()
        super().close()

    # -- settings (pyserial's backend hooks) -------------------------------------------

    def _reconfigure_port(self, force_update: bool = False) -> None:
        link = self._require()
        link.host.call(link.modem.set_dte_rate, int(self.baudrate))

    def _update_dtr_state(self) -> None:
        link = self._require()
        link.host.call(link.modem.set_dtr, bool(self.dtr))

    def _update_rts_state(self) -> None:
        link = self._require()
        link.host.call(link.modem.set_rts, bool(self.rts))

    def _update_break_state(self) -> None:
        self._require()  # a break has no meaning to the engine

    # -- data ------------------------------------------------------------------------

    def _require(self) -> _Link:
        if not self.is_open or self._link is None:
            raise PortNotOpenError()
        return self._link

    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    @property
    def in_waiting(self) -> int:
        """Bytes that `read()` returns without waiting (`SerialException` once the modem
        was removed and nothing is left)."""
        link = self._require()
        with link.cond:
            link.check_gone()
            return len(link.pipe.rx)

    @property
    def out_waiting(self) -> int:
        """Bytes written but not yet taken by the modem."""
        return len(self._require().pipe.tx)

    def fileno(self) -> int:
        """An fd that is readable exactly while `in_waiting` > 0 (do not read it)."""
        return self._require().pipe.ready.fileno()

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes, waiting per pyserial's ``timeout`` (None, 0 or seconds).
        Once the modem was removed: what is buffered, then `SerialException` (as
        pyserial's POSIX port raises for a device that disconnected)."""
        link = self._require()
        with link.cond:
            link.check_gone()
        return link.pipe.read(size, 0 if self._on_loop() else self.timeout)

    def write(self, b: Any, /) -> int:
        """Queue bytes for the modem; blocks while `TX_LIMIT` bytes wait (write_timeout)."""
        link = self._require()
        data = bytes(memoryview(b).cast("B"))
        return link.pipe.write(data, self.write_timeout, unbounded=self._on_loop())

    def flush(self) -> None:
        """Wait until the modem has taken everything written.

        The contract of `linelab.serialpipe` (docs/vmodem.md): bounded by
        ``write_timeout``, `SerialTimeoutException` if it passes first; returns at once
        on a closed port (`io.IOBase.close` calls flush) and on the host's loop thread
        (which is what empties the buffer)."""
        link = self._link
        if not self.is_open or link is None or self._on_loop():
            return
        link.pipe.flush(self.write_timeout)

    def reset_input_buffer(self) -> None:
        """Drop unread input, including output the modem has not handed over yet."""
        link = self._require()
        link.host.call(_discard_output, link)

    def reset_output_buffer(self) -> None:
        """Drop written bytes the modem has not taken yet."""
        self._require().pipe.reset_output()

    def cancel_read(self) -> None:
        """Make a blocked `read()` return what it has."""
        self._require().pipe.cancel_read()

    def cancel_write(self) -> None:
        """Make a blocked `write()` return what it queued."""
        self._require().pipe.cancel_write()

    # -- modem lines -------------------------------------------------------------------

    @property
    def cts(self) -> bool:
        return self._require().signals.cts

    @property
    def dsr(self) -> bool:
        return self._require().signals.dsr

    @property
    def ri(self) -> bool:
        return self._require().signals.ri

    @property
    def cd(self) -> bool:
        return self._require().signals.dcd

    # -- extensions (not pyserial API) -------------------------------------------------

    @property
    def number(self) -> str:
        """The modem's number on the exchange."""
        return self._require().modem.number

    def wait_signals(self, predicate: Callable[[Signals], bool], timeout: float) -> bool:
        """Wait until `predicate(signals)` holds, at most `timeout` seconds of the port's
        time source; returns whether it holds."""
        link = self._require()
        with link.cond:
            return link.time.wait(
                link.cond, lambda: predicate(link.signals) or link.closed, timeout
            ) and predicate(link.signals)


# -- run on the loop thread ------------------------------------------------------------


def _attach(
    host: ModemHost, name: str, profile: str | None, number: str | None, clock: TimeSource
) -> _Link:
    modem = host.modems.get(name)
    if modem is None:
        modem = host.add_modem(name, number, profile if profile is not None else "generic")
    else:
        if number is not None and number != modem.number:
            raise ValueError(f"{name} already exists with number {modem.number}")
        have = modem.engine.profile.name
        if profile is not None and profile != have and load_profile(profile).name != have:
            raise ValueError(f"{name} already exists with profile {have}")
        if modem.port is not None:
            raise ValueError(f"vmodem://{name} is already open")
    link = _Link(host, modem, clock)
    modem.attach(link)
    modem.removal_listeners.append(link.modem_removed)
    return link


def _detach(link: _Link) -> None:
    if link.modem_removed in link.modem.removal_listeners:
        link.modem.removal_listeners.remove(link.modem_removed)
    if link.modem.port is link:
        link.modem.detach()


def _discard_output(link: _Link) -> None:
    with link.cond:
        link.pipe.reset_input()
        link.modem.read()
        link._starved = False


__all__ = [
    "RX_LIMIT",
    "TX_LIMIT",
    "VModemSerial",
    "default_host",
    "parse_url",
    "set_default_host",
]
