"""A serial port driven from an event loop: the I/O half of the modem provider.

`open_driver()` opens a port by path (a pty's symlink, /dev/ttyUSB0) or by any pyserial
URL (``rfc2217://``, ``vmodem://`` …) and returns a `PortDriver`. The driver never
blocks a thread on a port read: it waits for input with ``loop.add_reader`` on the
port's file descriptor, writes without blocking (``add_writer`` takes the rest), and
reports through three callbacks, all called on the loop thread:

- ``on_data(bytes)``: bytes read from the modem;
- ``on_gone(reason)``: the port disappeared (EIO, end-of-file or POLLHUP on the
  descriptor, the path removed, a failing read). Called once; the driver is closed;
- ``on_drained()``: the write backlog has fallen below `WRITE_LOW` again.

Three kinds of port:

- **fd ports** (paths: ttys and ptys). Read and written with ``os.read``/``os.write``
  on pyserial's non-blocking descriptor. DTR: pyserial's ``dtr`` setter (TIOCMBIS) on a
  tty; on a pty, where that ioctl fails with ENOTTY (research/modems.md d8), "DTR low"
  is the POSIX hang-up request instead: output speed B0 in termios, which the
  emulator's pty sees, and the saved speed restored for "DTR high". An inotify watch
  on the path's directory reports the path being removed (a pty's symlink, a USB
  adapter's node).
- **pollable ports** (``vmodem://``): pyserial objects whose ``fileno()`` is readable
  exactly while input is waiting. Read with ``read(in_waiting)``, written with
  ``write_timeout=0``; DTR through pyserial.
- **other URL ports** (``rfc2217://``, ``socket://``): pyserial gives no descriptor to
  wait on. A reader thread blocks in ``read()`` and hands bytes to the loop. This is
  the one place a thread waits on a port, so these ports run on real time only
  (docs/ARCHITECTURE.md: ``rfc2217://`` runs on real time anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import struct
import termios
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import serial

from linelab.inotify import (
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Event,
    Inotify,
    Watch,
)

log = logging.getLogger(__name__)

READ_CHUNK = 4096
# Above this many unwritten bytes, callers should stop handing over data; on_drained()
# fires when the backlog falls below WRITE_LOW again.
WRITE_HIGH = 64 * 1024
WRITE_LOW = 16 * 1024
# How long a pollable port with a full write queue waits before trying again (it has
# no writable descriptor to wait on).
WRITE_RETRY = 0.01

_TIOCMGET = getattr(termios, "TIOCMGET", 0x5415)

DataCallback = Callable[[bytes], None]
GoneCallback = Callable[[str], None]
DrainedCallback = Callable[[], None]


class PortOpenError(OSError):
    """The port could not be opened (missing, locked, refused)."""


def is_url(port: str) -> bool:
    """True for ``scheme://…`` (pyserial URL), False for a device path."""
    return "://" in port


def port_exists(port: str) -> bool:
    """A cheap check before opening: URLs are assumed to exist, paths must."""
    return is_url(port) or os.path.exists(port)


class PortDriver:
    """A port on an event loop (see the module docstring). Loop thread only."""

    #: False when the port has no DTR line the driver can move (the modem dialogue
    #: then hangs up with "+++" and ATH).
    has_dtr = True

    def __init__(
        self,
        port: serial.SerialBase,
        loop: asyncio.AbstractEventLoop,
        on_data: DataCallback,
        on_gone: GoneCallback,
        on_drained: DrainedCallback | None = None,
    ) -> None:
        self.port = port
        self.loop = loop
        self.name = str(port.port)
        self._on_data = on_data
        self._on_gone = on_gone
        self._on_drained = on_drained
        self._out = bytearray()
        self.closed = False
        self._paused = False

    # -- interface -----------------------------------------------------------------------
    def start(self) -> None:
        """Begin reading (call once, on the loop thread)."""

    def write(self, data: bytes) -> None:
        """Queue bytes for the port; never blocks."""
        if self.closed or not data:
            return
        self._out += data
        self._flush()

    def backlog(self) -> int:
        """Bytes queued and not yet accepted by the port."""
        return len(self._out)

    def set_dtr(self, on: bool) -> None:
        """Raise or lower DTR."""
        if self.closed:
            return
        try:
            self.port.dtr = on
        except (OSError, serial.SerialException) as exc:
            log.warning("%s: cannot set DTR: %s", self.name, exc)

    def discard_input(self) -> None:
        """Throw away input the port holds and nothing has read yet."""
        if self.closed:
            return
        reset = getattr(self.port, "reset_input_buffer", None)
        if reset is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                reset()

    def pause_reading(self, paused: bool) -> None:
        """Stop (True) or resume (False) reading: back-pressure towards the modem."""
        if paused != self._paused and not self.closed:
            self._paused = paused
            self._set_reading(not paused)

    def close(self) -> None:
        """Stop I/O and close the port. Idempotent; does not call on_gone."""
        if self.closed:
            return
        self.closed = True
        self._stop()
        with contextlib.suppress(OSError, serial.SerialException):
            self.port.close()

    # -- for subclasses --------------------------------------------------------------------
    def _flush(self) -> None:
        raise NotImplementedError

    def _set_reading(self, on: bool) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def _gone(self, reason: str) -> None:
        if self.closed:
            return
        log.info("%s: port gone: %s", self.name, reason)
        self.close()
        self._on_gone(reason)

    def _wrote(self, count: int) -> None:
        before = len(self._out)
        del self._out[:count]
        if before >= WRITE_LOW > len(self._out) and self._on_drained is not None:
            self._on_drained()


class _ReaderDriver(PortDriver):
    """A driver that reads when the loop says its ``fd`` is readable."""

    fd: int
    _reading = False

    def _set_reading(self, on: bool) -> None:
        if on and not self._reading:
            self.loop.add_reader(self.fd, self._on_readable)
        elif not on and self._reading:
            self.loop.remove_reader(self.fd)
        self._reading = on

    def _on_readable(self) -> None:
        raise NotImplementedError


class FdPortDriver(_ReaderDriver):
    """A tty or pty opened by path (see the module docstring)."""

    def __init__(
        self,
        port: serial.Serial,
        loop: asyncio.AbstractEventLoop,
        on_data: DataCallback,
        on_gone: GoneCallback,
        on_drained: DrainedCallback | None = None,
        *,
        path: str | None = None,
    ) -> None:
        super().__init__(port, loop, on_data, on_gone, on_drained)
        self.fd: int = port.fileno()
        self.is_pty = _lacks_modem_lines(self.fd)
        self._saved_speed: int | None = None
        self._reading = False
        self._writing = False
        self._path = path
        self._watch: PathWatcher | None = None

    def start(self) -> None:
        self._set_reading(True)
        if self._path is not None and self._watch is None:
            self._watch = PathWatcher([self._path], self.loop, self._on_watch)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._gone(f"read failed: {os.strerror(exc.errno or errno.EIO)}")
            return
        if not data:
            # A tty whose other side hung up (a pty master closed, a USB adapter
            # unplugged) reads end-of-file and polls POLLHUP.
            self._gone("end of file (hang-up)")
            return
        self._on_data(data)

    def _on_watch(self, changes: list[tuple[str, bool]]) -> None:
        for path, appeared in changes:
            if not appeared:
                self._gone(f"{path} was removed")
                return

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.fd, self._out[:READ_CHUNK])
            except BlockingIOError:
                break
            except OSError as exc:
                self._gone(f"write failed: {os.strerror(exc.errno or errno.EIO)}")
                return
            self._wrote(n)
        want = bool(self._out)
        if want and not self._writing:
            self.loop.add_writer(self.fd, self._flush)
        elif not want and self._writing:
            self.loop.remove_writer(self.fd)
        self._writing = want

    def set_dtr(self, on: bool) -> None:
        if self.closed:
            return
        if not self.is_pty:
            super().set_dtr(on)
            return
        # A pty has no DTR: B0 is the POSIX way to ask for a hang-up, and the
        # emulator's pty treats it as DTR low.
        try:
            attrs = termios.tcgetattr(self.fd)
            if not on:
                if attrs[5] != termios.B0:
                    self._saved_speed = attrs[5]
                attrs[5] = termios.B0
            else:
                if attrs[5] != termios.B0:
                    return
                attrs[5] = self._saved_speed or termios.B115200
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        except (termios.error, OSError) as exc:
            log.warning("%s: cannot set the output speed for DTR: %s", self.name, exc)

    def _stop(self) -> None:
        self._set_reading(False)
        if self._writing:
            self.loop.remove_writer(self.fd)
            self._writing = False
        if self._watch is not None:
            self._watch.close()
            self._watch = None


class PollablePortDriver(_ReaderDriver):
    """A pyserial port whose ``fileno()`` is readable while input waits (vmodem://)."""

    def __init__(
        self,
        port: serial.SerialBase,
        loop: asyncio.AbstractEventLoop,
        on_data: DataCallback,
        on_gone: GoneCallback,
        on_drained: DrainedCallback | None = None,
    ) -> None:
        super().__init__(port, loop, on_data, on_gone, on_drained)
        self.fd = port.fileno()
        self._reading = False
        self._retry: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._set_reading(True)

    def _on_readable(self) -> None:
        try:
            waiting = int(getattr(self.port, "in_waiting", 0))
            data = self.port.read(max(1, waiting)) if waiting else b""
        except (OSError, serial.SerialException) as exc:
            self._gone(f"read failed: {exc}")
            return
        if data:
            self._on_data(data)

    def _flush(self) -> None:
        self._retry = None
        while self._out and not self.closed:
            try:
                n = self.port.write(bytes(self._out[:READ_CHUNK]))
            except (OSError, serial.SerialException) as exc:
                self._gone(f"write failed: {exc}")
                return
            if not n:
                break
            self._wrote(n)
        if self._out and self._retry is None and not self.closed:
            self._retry = self.loop.call_later(WRITE_RETRY, self._flush)

    def _stop(self) -> None:
        self._set_reading(False)
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None


class ThreadedPortDriver(PortDriver):
    """A pyserial port without a descriptor (rfc2217://): a reader thread feeds the loop."""

    def __init__(
        self,
        port: serial.SerialBase,
        loop: asyncio.AbstractEventLoop,
        on_data: DataCallback,
        on_gone: GoneCallback,
        on_drained: DrainedCallback | None = None,
    ) -> None:
        super().__init__(port, loop, on_data, on_gone, on_drained)
        port.write_timeout = None  # writes go out from the loop, in one call
        self._resume = threading.Event()
        self._resume.set()
        self._thread = threading.Thread(
            target=self._reader, name=f"tapi-port {self.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _reader(self) -> None:
        port = self.port
        port.timeout = None  # block in the thread, not on the loop
        while not self.closed:
            self._resume.wait()
            try:
                data = port.read(1)  # blocks until something comes
                waiting = int(getattr(port, "in_waiting", 0))
                if data and waiting:
                    data += port.read(waiting)
            except (OSError, serial.SerialException, TypeError, AttributeError) as exc:
                if not self.closed:
                    self._call(self._gone, f"read failed: {exc}")
                return
            if data:
                self._call(self._deliver, data)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self.loop.call_soon_threadsafe(fn, *args)

    def _deliver(self, data: bytes) -> None:
        if not self.closed:
            self._on_data(data)

    def _set_reading(self, on: bool) -> None:
        if on:
            self._resume.set()
        else:
            self._resume.clear()

    def _flush(self) -> None:
        data = bytes(self._out)
        try:
            self.port.write(data)  # pyserial's rfc2217 client sends on its socket
        except (OSError, serial.SerialException) as exc:
            self._gone(f"write failed: {exc}")
            return
        self._wrote(len(data))

    def _stop(self) -> None:
        self._resume.set()
        with contextlib.suppress(OSError, serial.SerialException, AttributeError):
            getattr(self.port, "cancel_read")()  # noqa: B009 - not on SerialBase


def open_driver(
    port: str,
    loop: asyncio.AbstractEventLoop,
    on_data: DataCallback,
    on_gone: GoneCallback,
    on_drained: DrainedCallback | None = None,
    *,
    baudrate: int = 115200,
) -> PortDriver:
    """Open `port` (a path or a pyserial URL) and wrap it in the right `PortDriver`.

    Raises `PortOpenError` when the port cannot be opened. Call on the loop thread;
    then call ``start()``. ``vmodem://`` needs its pyserial handler registered (the
    emulator does that when it is imported)."""
    try:
        if is_url(port):
            ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0, write_timeout=0)
        else:
            ser = serial.Serial(
                port, baudrate=baudrate, timeout=0, write_timeout=0, exclusive=True
            )
    except (OSError, ValueError, serial.SerialException) as exc:
        scheme = urlsplit(port).scheme if is_url(port) else ""
        hint = ""
        if scheme == "vmodem" and "vmodem" in str(exc) and "not known" in str(exc):
            hint = " (import emulator first: it registers the vmodem:// handler)"
        raise PortOpenError(errno.EIO, f"cannot open {port}: {exc}{hint}") from exc
    if isinstance(ser, serial.Serial) and not is_url(port):
        return FdPortDriver(ser, loop, on_data, on_gone, on_drained, path=port)
    try:
        ser.fileno()
    except (AttributeError, NotImplementedError, OSError, serial.SerialException):
        return ThreadedPortDriver(ser, loop, on_data, on_gone, on_drained)
    return PollablePortDriver(ser, loop, on_data, on_gone, on_drained)


def _lacks_modem_lines(fd: int) -> bool:
    """True for a pty: TIOCMGET fails with ENOTTY/EINVAL where there are no modem lines."""
    try:
        fcntl.ioctl(fd, _TIOCMGET, struct.pack("I", 0))
    except OSError as exc:
        return exc.errno in (errno.ENOTTY, errno.EINVAL)
    return False


class PathWatcher:
    """inotify on the directories of some paths: which of them appeared or went away.

    Only the names matter: a path counts as gone when its directory entry is deleted or
    moved away (a pty's symlink removed, a USB adapter's node taken away by udev), and
    as appeared when one is created or moved in (``os.replace`` of a symlink).
    `on_change` gets ``[(path, appeared), ...]`` on `loop`'s thread. The watches share
    the loop's one inotify instance (`linelab.inotify`), so a stack with many lines
    uses one. Create and `close()` it on the loop's thread."""

    def __init__(
        self,
        paths: list[str],
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[list[tuple[str, bool]]], None],
    ) -> None:
        self._on_change = on_change
        self._watches: list[Watch] = []
        mask = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF
        mask |= IN_MOVE_SELF
        by_dir: dict[str, dict[str, str]] = {}  # directory -> {name: path}
        for path in paths:
            directory, name = os.path.split(os.path.abspath(path))
            by_dir.setdefault(directory, {})[name] = path
        inotify = Inotify.for_loop(loop)
        try:
            for directory, names in by_dir.items():
                try:
                    watch = inotify.watch(
                        directory, mask, functools.partial(self._on_events, names)
                    )
                except OSError as exc:
                    raise PortOpenError(
                        exc.errno or errno.EIO, f"cannot watch {directory}: {exc.strerror}"
                    ) from None
                self._watches.append(watch)
        except BaseException:
            self.close()
            raise

    def _on_events(self, names: dict[str, str], events: list[Event]) -> None:
        out: list[tuple[str, bool]] = []
        for event in events:
            if event.mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                out += [(path, False) for path in names.values()]  # the directory went
                continue
            if event.mask & IN_Q_OVERFLOW:
                # Events were lost: report each path as it is now.
                out += [(path, os.path.lexists(path)) for path in names.values()]
                continue
            path = names.get(event.name)
            if path is not None:
                out.append((path, bool(event.mask & (IN_CREATE | IN_MOVED_TO))))
        if out:
            self._on_change(out)

    def close(self) -> None:
        for watch in self._watches:
            watch.cancel()
        self._watches.clear()


__all__ = [
    "FdPortDriver",
    "PathWatcher",
    "PollablePortDriver",
    "PortDriver",
    "PortOpenError",
    "ThreadedPortDriver",
    "is_url",
    "open_driver",
    "port_exists",
]
