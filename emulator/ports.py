"""A hub of virtual serial ports: a drop-in for PyVirtualSerialPorts 2.0.

`VirtualSerialPorts(N)` opens N ptys and forwards every byte read from one port to
every other port (and back to the sender too with ``loopback``). The class,
constructor, lifecycle (`open`, `start`, `stop`, `close`, `process`), the `ports`
list, the context manager that returns that list, `VirtualSerialPortException`,
`not_opened`, `run()`, `main()` and the command line (`python -m emulator.ports
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
- A hub member can be an endpoint instead of a pty (`attach()`), e.g. a virtual
  modem: a callable given the bytes the hub delivers to it, returning its reply.

This module only uses the standard library plus `linelab.errors`, so that it also
runs as a file (``python emulator/ports.py 2``), as the upstream tests do.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and not __package__:
    # Run as a file: its directory is sys.path[0], where sibling modules (emulator's
    # own, e.g. trace.py) would shadow the standard library.
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if _os.path.abspath(p or ".") != _here]

import argparse
import contextlib
import errno
import os
import selectors
import signal
import threading
import tty
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType

from linelab.errors import LinelabError

__all__ = [
    "BUFFER_LIMIT",
    "Endpoint",
    "EndpointPort",
    "VirtualSerialPortException",
    "VirtualSerialPorts",
    "main",
    "not_opened",
    "run",
]

BUFFER_LIMIT = 256 * 1024
"""Default bound, in bytes, of the data waiting to be written to one hub member."""

_READ_SIZE = 64 * 1024

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
"""


class _PtyPort:
    """One pty of the hub: its master, the slave fd the hub holds open so that the
    master never sees EIO between clients, and the bytes waiting for the master."""

    __slots__ = ("dead", "master", "out", "path", "slave")

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

    def _take(self, limit: int) -> bytes:
        with self._lock:
            chunk = bytes(self._inbox[:limit])
            del self._inbox[:limit]
        return chunk

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
        self._routes: dict[int, list[_Member]] = {}
        self._wake_r = self._wake_w = -1

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
        self.close()
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

    def close(self) -> None:
        """Stop forwarding and close every fd the hub opened."""
        self.stop()
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

    def _check_open(self) -> None:
        if self._ptys is None:
            raise not_opened

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
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ, None)
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
                for key, events in selector.select(0 if busy else None):
                    if key.data is None:
                        self._drain_wake()
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
            data = os.read(port.master, room)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            port.rearm()
            return
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
                if not dst.dead:
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
        chunk = endpoint._take(room)
        if chunk:
            self._broadcast(endpoint, endpoint.name, chunk)
        return endpoint._pending() and self._room(endpoint) > 0


# -- command line -----------------------------------------------------------------


class _Terminated(Exception):
    """SIGTERM arrived: leave the context manager so the ports are closed."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def run(num_ports: int, loopback: bool = False, debug: bool = False) -> None:
    """Create the ports, print their paths one per line (flushed), then forward data
    until interrupted.

    :param num_ports: number of ports to create
    :param loopback: whether to echo data back to the sender
    :param debug: whether to print every chunk received to stderr
    """
    hub = VirtualSerialPorts(num_ports, loopback, debug)
    with hub as ports:
        print(*ports, sep="\n")
        # Flush: the paths are usually read through a pipe.
        sys.stdout.flush()
        hub.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `virtualserialports` options (num_ports, -l, -d) to `parser`."""
    parser.add_argument("num_ports", type=int, help="number of ports to create")
    parser.add_argument(
        "-l", "--loopback", action="store_true", help="echo data back to the sending device too"
    )
    parser.add_argument("-d", "--debug", action="store_true", help="log received data to stderr")


def serve(num_ports: int, loopback: bool = False, debug: bool = False) -> None:
    """`run()` for a command line: Ctrl-C ends it with a clean line, as upstream,
    and SIGTERM closes the ports and returns quietly."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        run(num_ports, loopback, debug)
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
