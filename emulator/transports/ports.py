"""A hub of virtual serial ports: a drop-in for PyVirtualSerialPorts 2.0.

`VirtualSerialPorts(N)` opens N ptys and forwards every byte read from one port to
every other port (and back to the sender too with ``loopback``). The class,
constructor, lifecycle (`open`, `start`, `stop`, `close`, `process`), the `ports`
list, the context manager that returns that list, `VirtualSerialPortException`,
`not_opened`, `run()`, `main()` and the command line (`python -m emulator.transports.ports
[-l] [-d] N`, also `linelab ports`) behave as in the `virtualserialports` module, so
code written against it only changes its import line.

What differs, on purpose (docs/ports.md):

- Nothing is lost. Writes to a port are buffered and flushed when the master is
  writable. A port's buffer never holds more than `buffer_limit` bytes (256 KiB by
  default): when a destination is full the hub stops reading the sources that feed
  it, so the writing program is held back by the pty itself (back-pressure), as a
  serial line with hardware flow control would.
- Nothing leaks: `close()` closes every fd it opened (masters, the slave fds the hub
  holds, its wake-up pipe).
- `running` is true as soon as `start()` returns, and `stop()` wakes the hub through a
  pipe instead of waiting out a poll timer, so stop right after start never hangs.
- If a master reads EIO (no slave file left open), the hub reopens its slave rather
  than fail or spin.
- A hub member can be an endpoint instead of a pty (`attach()`): a callable given
  the bytes the hub delivers to it, returning its reply.
- A hub member can be a virtual modem (`add_modem()`, `linelab ports --modem`): every
  pty talks AT to it. A pty has no modem lines, so the modem's DTR is on while a
  client has one of the hub's ptys open and has not set output speed B0. The hub
  then learns of clients from inotify opens and closes of the slaves and of B0 from
  the masters in packet mode (TIOCPKT_IOCTL with EXTPROC: `linelab.dtrwatch`, as
  `emulator.transports.pty`), and a
  port with no client is sent nothing and flushed, so no client reads what was
  written for the one before.

This module only uses the standard library plus `linelab` (errors, the shared DTR
watcher and inotify; `add_modem` imports the emulator when called), so that it also
runs as a file (``python
emulator/transports/ports.py 2``), as the upstream tests do.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import itertools
import os
import selectors
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from linelab.errors import LinelabError

if TYPE_CHECKING:
    # Imported where used: only hubs with a modem need them (keep `--help` start-up lean).
    from emulator.core.engine import Signals
    from emulator.transports.host import HostedModem, ModemHost
    from linelab.dtrwatch import DtrWatcher
    from linelab.inotify import Event, Inotify

__all__ = [
    "BUFFER_LIMIT",
    "Endpoint",
    "EndpointPort",
    "HubModem",
    "VirtualSerialPortException",
    "VirtualSerialPorts",
    "main",
    "not_opened",
    "run",
]

BUFFER_LIMIT = 256 * 1024
"""Default bound, in bytes, of the data waiting to be written to one hub member."""

_READ_SIZE = 64 * 1024

_LINES = object()  # selector key data of the inotify fd

DESCRIPTION = (
    "Create a hub of virtual serial ports, which will stay available until the "
    "program is terminated. Once set up, the port names are printed to stdout, one "
    "per line."
)


class VirtualSerialPortException(LinelabError):
    """Exceptions raised from this module."""


not_opened = VirtualSerialPortException("ports are not yet opened")


Endpoint = Callable[[bytes], bytes]
"""A hub member that is not a pty, such as a virtual modem (see `attach`).

It is called on the hub's thread with the bytes the hub delivers to it, and returns
the bytes it sends into the hub in reply (``b""`` for none). It may also have a
``room() -> int`` method, the number of bytes it accepts now: the hub then holds the
rest (up to `buffer_limit`, then back-pressure) and retries when
`EndpointPort.wake()` is called. Output that is not a reply goes through
`EndpointPort.send()`.

Two more optional methods, both called on the hub's thread, make it a DTE-aware
member (a modem): ``drained()``, called when bytes it `send()`s have moved into the
hub, and ``dte_changed(present: bool, dtr: bool)``, called when a client opens the
first or closes the last of the hub's ptys, or sets output speed B0 (DTR off). With
such a member the hub watches its ptys' clients (see `VirtualSerialPorts.add_modem`).
"""


class _PtyPort:
    """One pty of the hub: its master, the slave fd the hub holds open so that the
    master never sees EIO between clients, and the bytes waiting for the master."""

    __slots__ = ("b0", "clients", "dead", "dtr", "master", "out", "path", "skip", "slave")

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        try:
            # Master and slave share termios, so this makes the slave raw too.
            tty.setraw(self.master)
            os.set_blocking(self.master, False)
            self.path = os.ttyname(self.slave)
        except BaseException:
            self.close()
            raise
        self.out = bytearray()
        self.dead = False
        self.dtr: DtrWatcher | None = None  # packet mode: termios changes are packets
        self.clients = 0  # open slave descriptions other than ours, per inotify
        self.b0 = False  # the client set output speed B0: DTR off
        self.skip = 0  # inotify open/close events of our own slave to ignore

    def watch_lines(self) -> None:
        """Packet mode plus EXTPROC (`linelab.dtrwatch`): Linux then posts
        TIOCPKT_IOCTL to the master on every termios change the client makes, so a B0
        (DTR drop) is an event."""
        if self.dtr is None:
            from linelab.dtrwatch import DtrWatcher

            self.dtr = DtrWatcher(self.master)
            self.check_termios()

    def check_termios(self) -> None:
        """Read the client's DTR (output speed B0 or not); EXTPROC is kept set while the
        client's termios is raw (a cooked-mode client keeps its canonical editing and
        echo, and its B0 is seen only on its next change)."""
        state = self.dtr.check() if self.dtr is not None else None
        if state is not None:
            self.b0 = not state.dtr

    def discard_stale(self) -> None:
        """Drop what was written for a client that is gone: our buffer, and the
        slave's input queue (flip buffers included)."""
        self.out.clear()
        if self.slave >= 0:
            with contextlib.suppress(termios.error):
                termios.tcflush(self.slave, termios.TCIFLUSH)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    def rearm(self) -> None:
        """Reopen the held slave after a hang-up (EIO on the master); give up on the
        port if the path cannot be reopened."""
        os.close(self.slave)
        self.slave = -1
        if self.clients == 0:
            self.skip += 2  # our own close and reopen, if inotify watches the port
        try:
            self.slave = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            self.dead = True
            self.out.clear()


class EndpointPort:
    """An endpoint attached to a hub (returned by `VirtualSerialPorts.attach`)."""

    def __init__(self, hub: VirtualSerialPorts, endpoint: Endpoint, name: str) -> None:
        self.name = name
        self.endpoint = endpoint
        self._hub = hub
        self._room: Callable[[], int] | None = getattr(endpoint, "room", None)
        self.out = bytearray()  # for the endpoint, held while its room() is 0
        self._lock = threading.Lock()
        self._inbox = bytearray()  # from the endpoint, waiting to enter the hub
        self._restart = False  # discard stale pty output before the next inbox bytes
        self._drained: Callable[[], None] | None = getattr(endpoint, "drained", None)
        self._dte_changed: Callable[[bool, bool], None] | None = getattr(
            endpoint, "dte_changed", None
        )

    def send(self, data: bytes) -> None:
        """Send bytes from this endpoint into the hub, as if it had typed them.

        Thread-safe and non-blocking. The bytes enter the hub under the same
        back-pressure as pty input (they wait here while a destination is full).
        """
        if data:
            with self._lock:
                self._inbox += data
            self._hub._wake()

    def wake(self) -> None:
        """Tell the hub that `room()` may have grown. Thread-safe."""
        self._hub._wake()

    def room(self) -> int:
        """Bytes the endpoint accepts now (its own `room()`, else unbounded)."""
        return _READ_SIZE if self._room is None else self._room()

    def backlog(self) -> int:
        """Bytes given to `send()` that have not entered the hub yet. Thread-safe."""
        with self._lock:
            return len(self._inbox)

    def restart(self) -> None:
        """Start a new session: drop what this endpoint sent that has not entered the
        hub, and before its next bytes, what waits for the ptys (in the hub and in
        their slaves' input queues). Thread-safe; ordered with `send()`."""
        with self._lock:
            self._inbox.clear()
            self._restart = True
        self._hub._wake()

    def _take(self, limit: int) -> tuple[bool, bytes]:
        with self._lock:
            restart, self._restart = self._restart, False
            chunk = bytes(self._inbox[:limit])
            del self._inbox[:limit]
        return restart, chunk

    def _put(self, data: bytes) -> None:
        with self._lock:
            self._inbox += data

    def _pending(self) -> bool:
        with self._lock:
            return bool(self._inbox)

    def _reset(self) -> None:
        self.out.clear()
        with self._lock:
            self._inbox.clear()


_Member = _PtyPort | EndpointPort

_modem_ids = itertools.count(1)


class HubModem:
    """A virtual modem as a hub member (made by `VirtualSerialPorts.add_modem`).

    The hub calls it on the hub thread; the modem runs on its host's loop thread, so
    bytes cross through two bounded buffers: DTE input waits here (at most
    `INPUT_LIMIT`, the `room()` the hub sees, fed to the modem no faster than its
    `dte_room()`), and modem output is pulled only while the hub holds less than
    `OUTPUT_LIMIT` of it. Nothing is dropped: a full buffer stops the side that fills
    it. As a `emulator.transports.host.ModemPort` it is attached to the modem while a client has
    one of the hub's ptys open.
    """

    INPUT_LIMIT = 64 * 1024
    OUTPUT_LIMIT = 64 * 1024

    port: EndpointPort

    def __init__(self, host: ModemHost, modem: HostedModem) -> None:
        self.host = host
        self.modem = modem
        self.name = modem.name
        self.number = modem.number
        self._loop = host.loop
        self._lock = threading.Lock()
        self._in = bytearray()  # from the hub, not yet taken by the modem
        self._feed_posted = False
        self._want_drain = False
        self._attached = False
        self._seen = threading.Condition()  # notified when `_attached` changes

    @property
    def client_present(self) -> bool:
        """True while the modem serves a client (one has a hub pty open)."""
        return self._attached

    def wait_client(self, present: bool = True, timeout: float | None = None) -> bool:
        """Block until the modem has (or, with `present` False, has no longer) a client
        on the hub's ptys, as far as the modem has been told; False on time-out."""
        with self._seen:
            return self._seen.wait_for(lambda: self._attached == present, timeout)

    def __repr__(self) -> str:
        return f"<HubModem {self.name} number={self.number}>"

    # -- hub thread (the Endpoint protocol) ------------------------------------------

    def __call__(self, data: bytes) -> bytes:
        with self._lock:
            self._in += data
            post, self._feed_posted = not self._feed_posted, True
        if post:
            self._post(self._feed)
        return b""

    def room(self) -> int:
        with self._lock:
            return self.INPUT_LIMIT - len(self._in)

    def drained(self) -> None:
        with self._lock:
            post, self._want_drain = self._want_drain, False
        if post:
            self._post(self._pull)

    def dte_changed(self, present: bool, dtr: bool) -> None:
        self._post(self._lines, present, dtr)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        # The host may be closed under a hub still running: nothing is left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

    # -- loop thread (the ModemPort protocol) -----------------------------------------

    def output_ready(self) -> None:
        self._pull()

    def room_available(self) -> None:
        self._feed()

    def signals_changed(self, signals: Signals) -> None:
        """A pty has no modem lines to show DCD or RI on: nothing to do."""

    def _lines(self, present: bool, dtr: bool) -> None:
        modem = self.modem
        if modem.closed:
            return
        if present and not self._attached:
            self.port.restart()  # output in flight belonged to the previous client
            modem.attach(self)
        elif not present and self._attached:
            modem.detach()
        modem.set_dtr(present and dtr)
        self._set_attached(present)

    def _set_attached(self, attached: bool) -> None:
        with self._seen:
            self._attached = attached
            self._seen.notify_all()

    def _feed(self) -> None:
        with self._lock:
            self._feed_posted = False
            data = bytes(self._in)
        if not data or self.modem.closed:
            return
        taken = self.modem.feed(data)  # what it cannot take now: room_available()
        with self._lock:
            del self._in[:taken]
        if taken:
            self.port.wake()

    def _pull(self) -> None:
        modem = self.modem
        while not modem.closed and self._attached and modem.pending():
            room = self.OUTPUT_LIMIT - self.port.backlog()
            if room > 0:
                self.port.send(modem.read(room))
                continue
            with self._lock:
                self._want_drain = True
            if self.OUTPUT_LIMIT - self.port.backlog() <= 0:
                return  # drained() pulls again
            # The hub took it meanwhile: go on (a second pull later finds nothing).

    def _release(self) -> None:
        """Detach from and remove the modem (the hub is closing). Thread-safe."""
        if self.host.closed or self.modem.closed:
            return
        self.host.call(self._remove)

    def _remove(self) -> None:
        self._set_attached(False)
        if not self.modem.closed:
            self.modem.detach()
            self.host.remove_modem(self.name)


class VirtualSerialPorts:
    """A hub of virtual serial ports (ptys).

    :param num_ports: number of ports to create
    :param loopback: whether to echo data back to the sender
    :param debug: whether to print every chunk received to stderr
    :param buffer_limit: bound of the bytes waiting for one port (back-pressure)

    As a context manager it opens the ports, starts forwarding in a background thread
    and returns the list of port paths; on exit it stops and closes everything::

        with VirtualSerialPorts(2) as ports:
            with Serial(ports[0]) as s1, Serial(ports[1]) as s2:
                s1.write(b"hello")
                print(s2.read(5))
    """

    def __init__(
        self,
        num_ports: int,
        loopback: bool = False,
        debug: bool = False,
        *,
        buffer_limit: int = BUFFER_LIMIT,
    ) -> None:
        if num_ports <= 0:
            raise VirtualSerialPortException("number of ports must be greater than 0")
        if buffer_limit <= 0:
            raise VirtualSerialPortException("buffer_limit must be greater than 0")
        self.num_ports = num_ports
        self.loopback = loopback
        self.debug = debug
        self.buffer_limit = buffer_limit
        self.running = False
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()  # clear while a forwarding loop runs
        self._idle.set()
        self._loop_ident: int | None = None
        self._failure: BaseException | None = None
        self._ptys: list[_PtyPort] | None = None
        self._endpoints: list[EndpointPort] = []
        self._modems: list[HubModem] = []
        self._routes: dict[int, list[_Member]] = {}
        self._wake_r = self._wake_w = -1
        self._inotify: Inotify | None = None  # watches pty clients for DTE-aware members
        self._watched: dict[int, _PtyPort] = {}  # id(port) -> port, for watched ports
        self._dte: tuple[bool, bool] | None = None  # (present, dtr) last told to members

    def __enter__(self) -> list[str]:
        self.open()
        self.start()
        return self.ports

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.close()

    # -- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        """Configure and open the ports (closing any opened before)."""
        self._close_ports()
        ptys: list[_PtyPort] = []
        try:
            for _ in range(self.num_ports):
                ptys.append(_PtyPort())
            self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except BaseException:
            for port in ptys:
                port.close()
            raise
        self._ptys = ptys
        if self._dte_aware():
            self._watch_lines()

    def close(self) -> None:
        """Stop forwarding and close every fd the hub opened. Modems added with
        `add_modem()` are detached and removed from their host."""
        self._close_ports()
        for modem in self._modems:
            modem._release()
            with contextlib.suppress(ValueError):
                self._endpoints.remove(modem.port)
        self._modems.clear()

    def _close_ports(self) -> None:
        self.stop()
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
            self._watched.clear()
        if self._ptys is not None:
            for port in self._ptys:
                port.close()
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1
        for endpoint in self._endpoints:
            endpoint._reset()
        self._ptys = None

    def start(self) -> None:
        """Forward data in a background thread (stopping any running one first)."""
        self.stop()
        self._check_open()
        if self._dte_aware():
            self._watch_lines()
        self._failure = None
        self.running = True
        self._idle.clear()
        self._thread = threading.Thread(target=self._serve, name="vsp-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop forwarding, and wait for the loop to end (in the background thread
        or in a `process()` call on another thread)."""
        self.running = False
        self._wake()
        if threading.get_ident() == self._loop_ident:
            return  # called from inside the loop (an endpoint): it ends on return
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._idle.wait()

    def process(self) -> None:
        """Forward data on the calling thread until `stop()` is called (from another
        thread) or the process is terminated."""
        self._check_open()
        if self._thread is not None and self._thread.is_alive():
            raise VirtualSerialPortException("ports are already being processed")
        if self._dte_aware():
            self._watch_lines()
        self.running = True
        self._idle.clear()
        self._serve()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background thread ends; return False on time-out.

        Raises VirtualSerialPortException if the hub stopped because of an error.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        if self._failure is not None:
            failure = self._failure
            raise VirtualSerialPortException(f"hub failed: {failure!r}") from failure
        return True

    @property
    def ports(self) -> list[str]:
        """Paths of the pty slaves, in creation order (endpoints have none)."""
        if self._ptys is None:
            raise not_opened
        return [port.path for port in self._ptys]

    def buffered(self) -> list[int]:
        """Bytes waiting to be written to each port, in `ports` order."""
        if self._ptys is None:
            raise not_opened
        return [len(port.out) for port in self._ptys]

    def attach(self, endpoint: Endpoint, name: str | None = None) -> EndpointPort:
        """Make `endpoint` a member of the hub, alongside the ptys.

        It receives what the ptys send (never its own output), and what it returns or
        `send()`s goes to every pty and other endpoint. `loopback` applies to ptys
        only. Attach while the hub is not running; it stays attached across
        close/open.
        """
        if self.running:
            raise VirtualSerialPortException("stop the hub before attaching an endpoint")
        port = EndpointPort(self, endpoint, name or f"endpoint-{len(self._endpoints)}")
        self._endpoints.append(port)
        return port

    def add_modem(
        self,
        name: str | None = None,
        number: str | None = None,
        profile: str = "generic",
        host: ModemHost | None = None,
    ) -> HubModem:
        """Make a virtual modem a member of the hub: what the ptys send is its DTE
        input, and its output goes to every pty (see docs/ports.md).

        The modem lives on `host` (default: the process's default host,
        `emulator.transports.vmodem.default_host()`), on that host's exchange, so it can call and
        be called by number. `number` None takes the next free one from 1001. Its DTR
        is on while a client has one of the hub's ptys open and has not set output
        speed B0; while no client has any open, DTR is off and its output is
        discarded. Add modems while the hub is stopped; `close()` removes them.
        Raises LinelabError for an unknown profile, ValueError for a name in use.
        """
        if self.running:
            raise VirtualSerialPortException("stop the hub before adding a modem")
        if host is None:
            from emulator.transports.vmodem import default_host

            host = default_host()
        modem = host.add_modem(name or f"ports-{next(_modem_ids)}", number, profile)
        hub_modem = HubModem(host, modem)
        hub_modem.port = self.attach(hub_modem, name=modem.name)
        self._modems.append(hub_modem)
        host.call(modem.detach)  # no client yet: DTR off, output discarded
        if self._ptys is not None:
            self._watch_lines()
        return hub_modem

    @property
    def modems(self) -> list[HubModem]:
        """The modems added with `add_modem()`, in order."""
        return list(self._modems)

    def _check_open(self) -> None:
        if self._ptys is None:
            raise not_opened

    def _dte_aware(self) -> bool:
        return any(ep._dte_changed is not None for ep in self._endpoints)

    def _watch_lines(self) -> None:
        """Watch the ptys' clients (inotify opens and closes) and their termios
        (packet mode), for members that follow the DTE."""
        assert self._ptys is not None
        from linelab.inotify import IN_CLOSE, IN_OPEN, Inotify

        if self._inotify is None:
            try:
                self._inotify = Inotify()
            except OSError as exc:
                raise VirtualSerialPortException(f"inotify_init1: {exc.strerror}") from None
        for port in self._ptys:
            if port.dead or id(port) in self._watched:
                continue
            port.watch_lines()
            try:
                self._inotify.watch(
                    port.path, IN_OPEN | IN_CLOSE, functools.partial(self._on_pty, port)
                )
            except OSError as exc:
                raise VirtualSerialPortException(
                    f"inotify_add_watch {port.path}: {exc.strerror}"
                ) from None
            self._watched[id(port)] = port

    def _wake(self) -> None:
        fd = self._wake_w
        if fd >= 0:
            # A full pipe already holds plenty of wake-ups.
            with contextlib.suppress(BlockingIOError):
                os.write(fd, b"\0")

    # -- the forwarding loop (hub thread) ---------------------------------------------

    def _serve(self) -> None:
        self._loop_ident = threading.get_ident()
        try:
            self._serve_loop()
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            self.running = False
            self._loop_ident = None
            self._idle.set()

    def _serve_loop(self) -> None:
        assert self._ptys is not None
        ptys = self._ptys
        endpoints = self._endpoints
        members: list[_Member] = [*ptys, *endpoints]
        self._routes = {
            id(src): [
                dst
                for dst in members
                if dst is not src or (self.loopback and isinstance(src, _PtyPort))
            ]
            for src in members
        }
        masks: dict[int, int] = {}
        self._dte = None
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            if self._inotify is not None:
                selector.register(self._inotify.fileno(), selectors.EVENT_READ, _LINES)
                self._update_dte()
            while self.running:
                busy = False
                for endpoint in endpoints:
                    self._deliver(endpoint)
                    busy |= self._pump(endpoint)
                for port in ptys:
                    want = 0
                    if not port.dead:
                        if self._room(port) > 0:
                            want |= selectors.EVENT_READ
                        if port.out:
                            want |= selectors.EVENT_WRITE
                    self._set_mask(selector, masks, port, want)
                ready = selector.select(0 if busy else None)
                # Opens before reads: a client's first bytes follow its open, and must
                # not be taken for bytes of the session before it.
                if self._inotify is not None:
                    ready.sort(key=lambda item: item[0].data is not _LINES)
                for key, events in ready:
                    if key.data is None:
                        self._drain_wake()
                        continue
                    if key.data is _LINES:
                        self._on_inotify()
                        continue
                    port = key.data
                    if events & selectors.EVENT_WRITE:
                        self._flush(port)
                    if events & selectors.EVENT_READ:
                        self._read(port)

    @staticmethod
    def _set_mask(
        selector: selectors.BaseSelector, masks: dict[int, int], port: _PtyPort, want: int
    ) -> None:
        have = masks.get(port.master, 0)
        if want == have:
            return
        if not have:
            selector.register(port.master, want, port)
        elif not want:
            selector.unregister(port.master)
        else:
            selector.modify(port.master, want, port)
        masks[port.master] = want

    def _on_inotify(self) -> None:
        assert self._inotify is not None
        self._inotify.dispatch()  # calls _on_pty for each port with events
        self._update_dte()

    def _on_pty(self, port: _PtyPort, events: list[Event]) -> None:
        from linelab.inotify import IN_CLOSE, IN_OPEN

        for event in events:
            mask = event.mask
            if mask & (IN_OPEN | IN_CLOSE) and port.skip:
                port.skip -= 1
            elif mask & IN_OPEN:
                port.clients += 1
                if port.clients == 1:
                    # What was written while nobody had it open is for nobody.
                    port.discard_stale()
                    port.check_termios()
            elif mask & IN_CLOSE:
                port.clients = max(0, port.clients - 1)
                if port.clients == 0:
                    # Flushed now, not at the next open: the next client may read
                    # before the hub sees it open.
                    port.discard_stale()

    def _update_dte(self) -> None:
        """Tell DTE-aware members when a client came or went or changed DTR."""
        assert self._ptys is not None
        live = [p for p in self._ptys if p.clients > 0 and not p.dead]
        state = (bool(live), any(not p.b0 for p in live))
        if state == self._dte:
            return
        self._dte = state
        for endpoint in self._endpoints:
            if endpoint._dte_changed is not None:
                endpoint._dte_changed(*state)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass

    def _room(self, src: _Member) -> int:
        """How many bytes `src` may send now: the least free space among the
        buffers of its destinations (back-pressure)."""
        room = _READ_SIZE
        for dst in self._routes[id(src)]:
            if not (isinstance(dst, _PtyPort) and dst.dead):
                room = min(room, self.buffer_limit - len(dst.out))
        return room

    def _read(self, port: _PtyPort) -> None:
        room = self._room(port)
        if room <= 0 or port.dead:
            return
        try:
            data = os.read(port.master, room + 1 if port.dtr is not None else room)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            port.rearm()
            return
        if port.dtr is not None and data:
            data, termios_changed = port.dtr.split(data)
            if termios_changed:
                port.check_termios()
                self._update_dte()
        if data:
            self._broadcast(port, port.path, data)

    def _flush(self, port: _PtyPort) -> None:
        if not port.out or port.dead:
            return
        try:
            with memoryview(port.out) as view:
                written = os.write(port.master, view)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            port.rearm()
            return
        del port.out[:written]

    def _broadcast(self, src: _Member, name: str, data: bytes) -> None:
        if self.debug:
            print(name, data, file=sys.stderr)
            sys.stderr.flush()
        for dst in self._routes[id(src)]:
            if isinstance(dst, _PtyPort):
                # A watched port without a client gets nothing: it would be stale.
                if not dst.dead and (dst.clients or dst.dtr is None):
                    dst.out += data
                    self._flush(dst)
            else:
                dst.out += data
                self._deliver(dst)

    def _deliver(self, endpoint: EndpointPort) -> None:
        """Hand an endpoint what is waiting for it, as far as its room allows."""
        while endpoint.out:
            size = min(len(endpoint.out), endpoint.room())
            if size <= 0:
                return
            chunk = bytes(endpoint.out[:size])
            del endpoint.out[:size]
            reply = endpoint.endpoint(chunk)
            if reply:
                endpoint._put(reply)

    def _pump(self, endpoint: EndpointPort) -> bool:
        """Move an endpoint's output into the hub; True if more could move now."""
        room = self._room(endpoint)
        if room <= 0:
            return False
        restart, chunk = endpoint._take(room)
        if restart and self._ptys is not None:
            for port in self._ptys:
                port.discard_stale()
        if chunk:
            self._broadcast(endpoint, endpoint.name, chunk)
            if endpoint._drained is not None:
                endpoint._drained()
        return endpoint._pending() and self._room(endpoint) > 0


# -- command line -----------------------------------------------------------------


class _Terminated(Exception):
    """SIGTERM arrived: leave the context manager so the ports are closed."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def run(
    num_ports: int,
    loopback: bool = False,
    debug: bool = False,
    *,
    modem: bool = False,
    number: str | None = None,
    profile: str = "generic",
    links: Sequence[str] = (),
) -> None:
    """Create the ports, print their paths one per line (flushed), then forward data
    until interrupted.

    :param num_ports: number of ports to create
    :param loopback: whether to echo data back to the sender
    :param debug: whether to print every chunk received to stderr
    :param modem: also make a virtual modem a hub member (`add_modem`), reported on
        stderr so that stdout stays the list of paths
    :param number: the modem's number (default: the next free from 1001)
    :param profile: the modem's profile
    :param links: one symlink path per port (like socat's ``link=``), created once the
        ports exist, printed instead of the pty paths, and removed at exit; the caller
        checks beforehand that each may be created
    """
    if links and len(links) != num_ports:
        raise VirtualSerialPortException(f"{len(links)} links for {num_ports} ports")
    hub = VirtualSerialPorts(num_ports, loopback, debug)
    hub_modem = hub.add_modem(number=number, profile=profile) if modem else None
    made: list[tuple[str, str]] = []
    try:
        with hub as ports:
            for link, pty in zip(links, ports, strict=False):
                if os.path.islink(link):
                    os.unlink(link)  # dangling: checked by the caller
                os.symlink(pty, link)
                made.append((link, pty))
            print(*(links or ports), sep="\n")
            # Flush: the paths are usually read through a pipe.
            sys.stdout.flush()
            if hub_modem is not None:
                print(
                    f"modem {hub_modem.name} number={hub_modem.number} profile={profile}",
                    file=sys.stderr,
                    flush=True,
                )
            hub.wait()
    finally:
        for link, pty in made:
            with contextlib.suppress(OSError):
                if os.readlink(link) == pty:  # still ours
                    os.unlink(link)
        hub.close()  # also removes the modem when the ports never opened


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `virtualserialports` options (num_ports, -l, -d) to `parser`."""
    parser.add_argument("num_ports", type=int, help="number of ports to create")
    parser.add_argument(
        "-l", "--loopback", action="store_true", help="echo data back to the sending device too"
    )
    parser.add_argument("-d", "--debug", action="store_true", help="log received data to stderr")


def serve(num_ports: int, loopback: bool = False, debug: bool = False, **modem: Any) -> None:
    """`run()` for a command line: Ctrl-C ends it with a clean line, as upstream,
    and SIGTERM closes the ports and returns quietly. `modem` takes `run()`'s
    keyword-only modem options."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        run(num_ports, loopback, debug, **modem)
    except KeyboardInterrupt:
        print()  # clean line for the prompt
    except _Terminated:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def main(args_list: Sequence[str] | None = None) -> None:
    """The `virtualserialports` command line.

    :param args_list: argument strings; None uses the command line
    """
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(args_list)
    serve(args.num_ports, args.loopback, args.debug)


if __name__ == "__main__":
    main()
