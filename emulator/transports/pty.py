"""The pty transport: one Linux pseudo-terminal per modem, slave symlinked at a chosen path.

Any program that can open a serial port (minicom, chat, mgetty, pyserial, a TAPI
provider) opens the symlink and talks AT to the modem. docs/pty.md is the manual; the
Linux facts this module relies on are checked by tests/integration/test_pty*.py.

How the port behaves
====================
- The pty is created raw (``cfmakeraw`` on the shared termios).
- **Clients come and go.** The emulator keeps only the master open. It counts the
  slave's open file descriptions from inotify ``IN_OPEN``/``IN_CLOSE_*`` events on the
  slave device node (devpts sends them like any filesystem; one inotify instance per
  event loop serves every pty on it, `linelab.inotify`), and backs that count with
  the kernel's own view: while no slave is open the master polls POLLHUP and reads
  EIO. A first open attaches the modem and raises DTR; the last close drops DTR,
  detaches the modem (its output is discarded, so the next opener never gets a stale
  RING or NO CARRIER) and removes every loop reader on the master, so the loop sleeps
  instead of spinning on the hang-up condition. A close immediately followed by an
  open is seen as a DTR pulse, as on a real port with HUPCL.
- **One DTE per modem.** When another transport has the modem (``linelab modem
  --rfc2217`` serves the same modem over TCP), a program that opens the pty is
  ignored, its input discarded, until that client leaves; then it takes the modem
  over (`HostedModem.release_listeners`), with DTR and rate from its termios.
- **DTR and baud through termios** (`linelab.dtrwatch.DtrWatcher`, shared with the port
  hub). A pty has no modem lines; a client drops DTR the
  POSIX way, by setting the output speed to B0. The master runs in packet mode
  (TIOCPKT) with EXTPROC set in the shared termios: Linux then posts TIOCPKT_IOCTL to
  the master on every termios change the client makes, so DTR drops and baud changes
  are events. EXTPROC also switches off the slave's canonical editing and echo, so it is
  set only while the client's termios is raw (no ICANON, no ECHO), which every serial
  program's is; for a cooked-mode client (a login shell after mgetty) it is cleared and
  termios is re-read on every read and write and every TERMIOS_POLL seconds while that
  client is open (the bound on noticing a B0 in cooked mode).
- **Nothing is lost.** Bytes are read from the master only up to the modem's
  `dte_room()` (in data mode, the far end's free buffer), and the reader is removed
  when the room is zero, so back-pressure reaches the sending program through the
  pty's kernel buffer. A big read is followed by more (`_read_more`), fed as one
  chunk. Output is pulled from the modem only as fast as the master
  takes it (at most OUTPUT_CHUNK bytes held here, plus the kernel's buffer); the
  modem's own bound (`ModemEngine.OUTPUT_LIMIT`) then stops the far end.
- **Carrier loss hangs up the client (option).** With ``hangup_on_carrier_loss``, when
  DCD drops and the client's termios has CLOCAL clear, the slave is hung up as a real
  serial port's would be: the emulator opens the slave and calls ``vhangup``
  (TIOCVHANGUP, needs CAP_SYS_ADMIN). The session leader and foreground process group
  get SIGHUP and every open slave descriptor reads end-of-file, as after a modem hang-up
  on /dev/ttyS0. Without the capability it falls back to sending SIGHUP (and SIGCONT)
  to the slave's session leader and foreground group. TIOCSIG on the master cannot do
  this: Linux only allows SIGINT, SIGQUIT and SIGTSTP there (EINVAL for SIGHUP), and
  TIOCVHANGUP on the master hangs up the master itself.

Everything here runs on the host's loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import struct
import termios
from collections.abc import Callable
from pathlib import Path

from emulator.core.engine import Signals
from emulator.transports.host import HostedModem, ModemHost
from linelab.dtrwatch import DtrWatcher, make_raw
from linelab.hupwatch import HupWatch, hung_up
from linelab.inotify import IN_CLOSE, IN_IGNORED, IN_OPEN, IN_Q_OVERFLOW, Event, Inotify

log = logging.getLogger(__name__)

# Linux constants the termios module does not export.
TIOCVHANGUP = 0x5437
TIOCGSID = 0x5429

READ_CHUNK = 4096  # most bytes taken from the master per read event
OUTPUT_CHUNK = 16384  # most modem output held here waiting for the master
READS_PER_EVENT = 16  # most packets read (and fed as one chunk) per read event
MORE_AFTER = READ_CHUNK // 2  # a read at least this big is followed by another
TERMIOS_POLL = 0.25  # seconds between termios checks for a cooked-mode client


class PtyError(OSError):
    """The pty or its link could not be set up."""


class PtyPort:
    """One pty in front of one `HostedModem` (a `emulator.transports.host.ModemPort`).

    ``PtyPort(modem, link="/tmp/modemA")`` creates the pty at once and points `link`
    at its slave (replacing whatever symlink is there: deciding whether that is allowed
    is the caller's job, see `emulator.commands.modem`). `close()` removes the link if
    it still points at our slave, detaches the modem and closes the master."""

    def __init__(
        self,
        modem: HostedModem,
        link: str | os.PathLike[str] | None = None,
        *,
        hangup_on_carrier_loss: bool = False,
    ) -> None:
        if modem.port is not None:
            raise PtyError(errno.EBUSY, f"modem {modem.name} already has a transport")
        self.modem = modem
        self.host: ModemHost = modem.host
        self.loop = modem.host.loop
        self.hangup_on_carrier_loss = hangup_on_carrier_loss
        self.link = os.path.abspath(link) if link is not None else None
        self.client_open = False
        # A client has the pty open while another transport (an RFC 2217 session) has
        # the modem: its bytes are discarded until that transport lets go.
        self.busy = False
        self.opens = 0  # open slave file descriptions, per inotify
        self.hangups = 0  # carrier-loss hang-ups delivered to clients
        self.closed = False
        # Called with True when a client opens the port and False when the last one
        # closes it (on the loop thread): for status displays and tests.
        self.client_listeners: list[Callable[[bool], None]] = []
        self._reading = False
        self._writing = False
        self._output_soon = False  # an _output_now callback is scheduled
        self._out = bytearray()
        self._clocal = False
        self._event_driven = True
        self._poll_handle: asyncio.TimerHandle | None = None
        self._last_rate: int | None = None
        self._dcd = modem.signals.dcd

        try:
            master, slave = os.openpty()
        except OSError as exc:
            raise PtyError(exc.errno, f"openpty: {exc.strerror}") from None
        try:
            self.path = os.ttyname(slave)
            make_raw(master)
            self._dtr = DtrWatcher(master)
            os.set_blocking(master, False)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        # Keep no slave descriptor: only then does the kernel tell us the client left.
        os.close(slave)
        self._master = master
        try:
            # One inotify instance per loop serves every pty on it (linelab.inotify):
            # the kernel allows few instances per user but many watches.
            self._watch = Inotify.for_loop(self.loop).watch(
                self.path, IN_OPEN | IN_CLOSE, self._on_inotify
            )
        except OSError as exc:
            os.close(master)
            raise PtyError(exc.errno, f"inotify on {self.path}: {exc.strerror}") from None
        # The master polls HUP exactly while no slave is open: one epoll set per loop
        # (linelab.hupwatch) watches the masters whose client is open.
        try:
            self._hups = HupWatch.for_loop(self.loop)
        except OSError as exc:
            self._watch.cancel()
            os.close(master)
            raise PtyError(exc.errno, f"epoll for {self.path}: {exc.strerror}") from None
        modem.detach()  # no client yet: DTR off, output discarded
        modem.release_listeners.append(self._on_modem_released)
        if self.link is not None:
            self._make_link(self.link)
        log.info("%s: pty %s%s", modem.name, self.path, f" at {self.link}" if self.link else "")

    def __repr__(self) -> str:
        state = "open" if self.client_open else "idle"
        return f"<PtyPort {self.modem.name} {self.path} link={self.link} {state}>"

    @property
    def master_fd(self) -> int:
        return self._master

    # -- lifecycle ---------------------------------------------------------------------

    def _make_link(self, link: str) -> None:
        tmp = f"{link}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(self.path, tmp)
        os.replace(tmp, link)  # atomic: a client never sees the link missing

    def close(self) -> None:
        """Remove the link (if still ours), detach the modem, close the pty. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._stop_client_io()
        self._watch.cancel()
        self._hups.release()
        with contextlib.suppress(ValueError):
            self.modem.release_listeners.remove(self._on_modem_released)
        if self.modem.port is self:
            self.modem.detach()
        if self.link is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.path:
                    os.unlink(self.link)
        os.close(self._master)

    # -- clients arriving and leaving --------------------------------------------------

    def _on_inotify(self, events: list[Event]) -> None:
        masks = [event.mask for event in events]
        for i, mask in enumerate(masks):
            if mask & IN_Q_OVERFLOW:
                self.opens = 0 if self._master_hung_up() else max(self.opens, 1)
            elif mask & IN_OPEN:
                self.opens += 1
            elif mask & IN_CLOSE:
                self.opens = max(0, self.opens - 1)
                if not self.client_open or self.opens > 0:
                    continue
                if any(m & IN_OPEN for m in masks[i + 1 :]):
                    # Closed and reopened already: a DTR pulse (which the modem ignores
                    # if shorter than S25). The master may hold the new client's bytes
                    # too, so nothing is drained: it all goes to the new session.
                    self._client_left(drain=False)
                elif self._master_hung_up():
                    self._client_left()
                # Else the tty layer has not released the file yet (inotify reports the
                # close first), or the close was not of a client's open (an O_PATH
                # descriptor): the POLLHUP watcher decides.
            elif mask & IN_IGNORED:
                return  # the slave node is gone: we are closing
        if self.opens > 0 and not self.client_open and not self.closed:
            self._client_arrived()

    def _master_hung_up(self) -> bool:
        return hung_up(self._master)

    def _on_hup(self) -> None:
        if self.client_open and self._master_hung_up():
            self.opens = 0
            self._client_left()

    def _client_arrived(self) -> None:
        self.client_open = True
        self._out.clear()
        # Anything written for the previous client and never read is stale now.
        termios.tcflush(self._master, termios.TCOFLUSH)
        if self.modem.port is None:
            self.modem.attach(self)
        else:
            # Another transport is this modem's DTE (one DTE per modem, as on a real
            # port): this client is ignored until that one leaves (_on_modem_released).
            self.busy = True
            log.warning(
                "%s: %s opened while the modem is in use by another client;"
                " its input is discarded until that client leaves",
                self.modem.name,
                self.path,
            )
        self._check_termios()
        self._hups.watch(self._master, self._on_hup)
        self._start_reading()
        log.debug("%s: client opened %s", self.modem.name, self.path)
        for listener in list(self.client_listeners):
            listener(True)

    def _on_modem_released(self) -> None:
        if self.busy and self.client_open and not self.closed and self.modem.port is None:
            self.busy = False
            self.modem.attach(self)
            self._last_rate = None
            self._check_termios()
            self._start_reading()
            log.info("%s: %s now has the modem", self.modem.name, self.path)

    def _client_left(self, *, drain: bool = True) -> None:
        # Bytes the client wrote before closing reach the modem, as bytes on a wire
        # would; then the port is a DTE that went away: DTR off, output discarded.
        if drain:
            self._drain_input()
        self.client_open = False
        self.busy = False
        self._stop_client_io()
        self._out.clear()
        with contextlib.suppress(OSError):
            termios.tcflush(self._master, termios.TCOFLUSH)
        if self.modem.port is self:
            self.modem.detach()
        self._last_rate = None
        log.debug("%s: client closed %s", self.modem.name, self.path)
        for listener in list(self.client_listeners):
            listener(False)

    def _stop_client_io(self) -> None:
        self._stop_reading()
        if self._writing:
            self.loop.remove_writer(self._master)
            self._writing = False
        self._hups.unwatch(self._master)
        self._stop_termios_poll()

    # -- termios: DTR, baud, EXTPROC -------------------------------------------------------

    def _check_termios(self) -> None:
        if not self.client_open:
            return
        state = self._dtr.check()
        if state is None:
            return
        self._clocal = state.clocal
        self._event_driven = state.raw
        if self.modem.port is not self:
            self._stop_termios_poll()
            return  # busy: this client's DTR and rate mean nothing to the modem
        if state.raw:
            self._stop_termios_poll()
        elif self._poll_handle is None:
            self._poll_handle = self.loop.call_later(TERMIOS_POLL, self._termios_poll)
        self.modem.set_dtr(state.dtr)
        rate = state.rate
        if state.dtr and rate is not None and rate != self._last_rate:
            self._last_rate = rate
            self.modem.set_dte_rate(rate)

    def _termios_poll(self) -> None:
        self._poll_handle = None
        self._check_termios()

    def _stop_termios_poll(self) -> None:
        handle = self._poll_handle
        if handle is not None:
            handle.cancel()
            self._poll_handle = None

    # -- DTE -> modem ------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and self.client_open and not self.closed:
            self.loop.add_reader(self._master, self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self.loop.remove_reader(self._master)
            self._reading = False

    def _on_readable(self) -> None:
        # The reply (or the forwarded data) goes out before this callback returns.
        self.host.run_held(self, self._read_event)

    def _read_event(self) -> None:
        if not self._event_driven:
            self._check_termios()
        self._read_once()

    def _read_once(self, *, leaving: bool = False) -> bool:
        """Read one packet from the master; False when nothing more can be read now."""
        room = READ_CHUNK if self.busy else self.modem.dte_room()
        if room <= 0:
            self._stop_reading()  # room_available() resumes
            return False
        try:
            packet = os.read(self._master, min(room, READ_CHUNK) + 1)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno == errno.EIO:  # no slave open any more
                self._stop_reading()
                if not leaving and self.client_open and self._master_hung_up():
                    self.opens = 0
                    self._client_left()
                return False
            raise
        if not packet:
            return False
        if self.busy:
            return True  # discarded: the modem is another client's
        data, termios_changed = DtrWatcher.split(packet)
        if data:
            if len(data) >= MORE_AFTER and room > len(data):
                data, termios_changed = self._read_more(data, room - len(data))
            self.modem.feed(data)
        if termios_changed:
            self._check_termios()  # after the bytes written before the change
        return True

    def _read_more(self, first: bytes, room: int) -> tuple[bytes, bool]:
        """A big read (the tty layer hands out at most 4095 bytes per read) means more
        may be waiting: take up to READS_PER_EVENT packets within `room`, so the modem,
        the exchange and the far end's port do their per-chunk work once for all of
        them. Stops at the first short read; returns the bytes and whether a termios
        packet (which ends the run, and is handled after these bytes) was read."""
        parts = [first]
        termios_changed = False
        for _ in range(READS_PER_EVENT - 1):
            if room <= 0:
                break
            try:
                packet = os.read(self._master, min(room, READ_CHUNK) + 1)
            except OSError:
                break  # EAGAIN (nothing yet) or EIO: the next read event sees it
            data, termios_changed = DtrWatcher.split(packet)
            if not data:
                break
            parts.append(data)
            room -= len(data)
            if len(data) < MORE_AFTER:
                break
        return b"".join(parts), termios_changed

    def _drain_input(self) -> None:
        if self.client_open and self.modem.port is self:
            while self._read_once(leaving=True):
                pass

    # -- modem -> DTE (ModemPort) ------------------------------------------------------

    def output_ready(self) -> None:
        if not self.client_open:
            return
        holder = self.host.holder
        if holder is not None and holder is not self:
            # A pass run in another port's I/O callback (data that crossed the
            # exchange): write from a callback of our own, after what this loop
            # iteration has for our master, so a client's termios change (a switch to
            # cooked mode, a B0) is read before the bytes it applies to are written.
            if not self._output_soon:
                self._output_soon = True
                self.loop.call_soon(self._output_now)
            return
        if not self._event_driven:
            self._check_termios()
        self._flush()

    def _output_now(self) -> None:
        self._output_soon = False
        if not self.closed:
            self.host.run_held(self, self.output_ready)

    def _flush(self) -> None:
        out = self._out  # what the master did not take last time
        modem = self.modem
        while True:
            data: bytes | bytearray = out if out else modem.read(OUTPUT_CHUNK)
            if not data:
                break
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                out.clear()  # the client is going away; _on_hup handles it
                break
            if data is out:
                del out[:written]
                if out:
                    break
            elif written < len(data):
                out += memoryview(data)[written:]
                break
            if not modem.pending():
                break
        want_writer = bool(out) and self.client_open
        if want_writer != self._writing:
            if want_writer:
                self.loop.add_writer(self._master, self._on_writable)
            else:
                self.loop.remove_writer(self._master)
            self._writing = want_writer

    def _on_writable(self) -> None:
        # The room our read of the engine made reaches the sender now.
        self.host.run_held(self, self._flush)

    def room_available(self) -> None:
        self._start_reading()

    def signals_changed(self, signals: Signals) -> None:
        lost = self._dcd and not signals.dcd
        self._dcd = signals.dcd
        if lost and self.hangup_on_carrier_loss and self.client_open and not self._clocal:
            self.hang_up_client()

    # -- carrier-loss hang-up --------------------------------------------------------------

    def hang_up_client(self) -> None:
        """Hang up the slave as a real serial port does on carrier loss: SIGHUP to the
        session that has it as controlling terminal, end-of-file on every descriptor."""
        self.hangups += 1
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            log.warning("%s: cannot open %s to hang it up: %s", self.modem.name, self.path, exc)
            self._signal_session()
            return
        try:
            fcntl.ioctl(fd, TIOCVHANGUP)
            # A hang-up resets a pty slave's termios to the driver's cooked defaults
            # (TTY_DRIVER_RESET_TERMIOS): the next session must find the port raw again.
            make_raw(self._master)
            log.info("%s: carrier lost, hung up %s", self.modem.name, self.path)
        except OSError as exc:
            log.info("%s: vhangup refused (%s); sending SIGHUP instead", self.modem.name, exc)
            self._signal_session()
        finally:
            os.close(fd)

    def _signal_session(self) -> None:
        targets: list[tuple[str, int]] = []
        for request, kind in ((TIOCGSID, "session"), (termios.TIOCGPGRP, "group")):
            try:
                raw = fcntl.ioctl(self._master, request, struct.pack("i", 0))
            except OSError:
                continue
            (pid,) = struct.unpack("i", raw)
            if pid > 0:
                targets.append((kind, pid))
        for kind, pid in targets:
            for sig in (signal.SIGHUP, signal.SIGCONT):
                with contextlib.suppress(OSError):
                    if kind == "session":
                        os.kill(pid, sig)
                    else:
                        os.killpg(pid, sig)


def is_pty_path(path: str | os.PathLike[str]) -> bool:
    """True when `path` names a Unix98 pty slave (/dev/pts/N), existing or not."""
    p = Path(path)
    return p.parent == Path("/dev/pts") and p.name.isdigit()


__all__ = ["TERMIOS_POLL", "PtyError", "PtyPort", "is_pty_path"]
