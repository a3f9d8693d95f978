"""emulator.transports.pty on real Linux ptys: raw creation, clients coming and going (inotify,
POLLHUP), DTR and baud through termios (TIOCPKT + EXTPROC, and the cooked-mode
fallback), back-pressure, and the carrier-loss hang-up of a controlling terminal.

The host runs in a service thread on a scaled real-time clock; the test thread is the
DTE and waits only on select()/poll() deadlines.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import termios
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.core.engine import ModemEngine, Signals
from emulator.transports.host import HostedModem, ModemHost
from emulator.transports.pty import OUTPUT_CHUNK, PtyPort
from linelab.dtrwatch import EXTPROC

DEADLINE = 20.0
TIME_SCALE = 10.0


class Client:
    """A DTE on a pty slave: raw fd, non-blocking, every wait a select() deadline."""

    def __init__(self, path: str | Path, *, configure: bool = True) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = bytearray()
        if configure:
            attrs = termios.tcgetattr(self.fd)
            attrs[2] |= termios.CLOCAL
            attrs[4] = attrs[5] = termios.B115200
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def write(self, data: bytes, deadline: float = DEADLINE) -> None:
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.fd], [], deadline)
            assert ready, f"write blocked for {deadline} s"
            view = view[os.write(self.fd, view) :]

    def expect(self, text: bytes, deadline: float = DEADLINE) -> bytes:
        """Read until `text` arrives; return (and consume) everything up to it."""
        while text not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], deadline)
            assert ready, f"expected {text!r} within {deadline} s, got {bytes(self.buf)!r}"
            chunk = os.read(self.fd, 65536)
            assert chunk, f"EOF while expecting {text!r}"
            self.buf += chunk
        end = self.buf.index(text) + len(text)
        got = bytes(self.buf[:end])
        del self.buf[:end]
        return got

    def command(self, line: bytes, final: bytes = b"OK\r\n") -> bytes:
        self.write(line + b"\r")
        return self.expect(final)

    def set_speed(self, speed: int) -> None:
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class Rig:
    host: ModemHost
    modems: list[HostedModem]
    ports: list[PtyPort]
    links: list[Path]

    def on_loop(self, fn: object, *args: object) -> object:
        return self.host.call(fn, *args)  # type: ignore[arg-type]

    def registered(self, fd: int) -> bool:
        """Whether the loop's selector watches `fd` at all."""
        selector = self.host.loop._selector  # type: ignore[attr-defined]

        def check() -> bool:
            try:
                selector.get_key(fd)
            except KeyError:
                return False
            return True

        return self.host.call(check)

    def timers(self) -> int:
        """Live loop timers other than the modem timers the host arms (engine S25 and
        the like): a transport that polls would show up here."""
        loop = self.host.loop

        def count() -> int:
            live = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
            return sum(
                1 for h in live if not h._callback.__qualname__.endswith("_arm.<locals>.fire")
            )

        return self.host.call(count)


def make_rig(tmp_path: Path, count: int, **port_options: bool) -> Rig:
    host = ModemHost.start_in_thread(time_scale=TIME_SCALE)
    rig = Rig(host, [], [], [])
    for i in range(count):
        name = "AB"[i]
        modem = host.add_modem(name)
        link = tmp_path / f"modem{name}"
        rig.modems.append(modem)
        rig.links.append(link)
        rig.ports.append(host.call(lambda m=modem, k=link: PtyPort(m, k, **port_options)))
    return rig


def close_rig(rig: Rig) -> None:
    for port in rig.ports:
        rig.host.call(port.close)
    rig.host.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = make_rig(tmp_path, 2)
    yield rig
    close_rig(rig)
    assert not any(link.is_symlink() for link in rig.links)


def call(rig: Rig, *, configure_a: bool = True) -> tuple[Client, Client]:
    a, b = Client(rig.links[0], configure=configure_a), Client(rig.links[1])
    a.command(b"ATE0")
    b.command(b"ATE0")
    a.write(b"ATD" + rig.modems[1].number.encode() + b"\r")
    b.expect(b"RING\r\n")
    b.write(b"ATA\r")
    for side in (a, b):
        side.expect(b"CONNECT")
        side.expect(b"\r\n")
    return a, b


def test_link_points_at_a_raw_pty(rig: Rig) -> None:
    port = rig.ports[0]
    assert os.readlink(rig.links[0]) == port.path
    assert port.path.startswith("/dev/pts/")
    client = Client(rig.links[0], configure=False)
    try:
        iflag, oflag, _cflag, lflag, _i, _o, cc = termios.tcgetattr(client.fd)
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)
        assert not iflag & (termios.ICRNL | termios.IXON | termios.ISTRIP)
        assert not oflag & termios.OPOST
        assert cc[termios.VMIN] == 1
        assert client.command(b"AT") == b"AT\r\r\nOK\r\n"
    finally:
        client.close()


def test_idle_port_watches_only_inotify_and_sets_no_timer(rig: Rig) -> None:
    port = rig.ports[0]
    assert not rig.registered(port.master_fd)
    assert rig.timers() == 0
    assert not rig.modems[0].dtr
    client = Client(rig.links[0])
    client.command(b"AT")  # the open was noticed by an event: no timer was running
    assert rig.registered(port.master_fd)
    assert rig.modems[0].dtr
    left = threading.Event()
    rig.host.call(port.client_listeners.append, lambda is_open: is_open or left.set())
    client.close()
    assert left.wait(DEADLINE), "the close was not noticed"  # a deadline, not a delay
    assert not port.client_open
    assert not rig.registered(port.master_fd)
    assert not rig.modems[0].dtr
    assert rig.timers() == 0


def test_many_reopens_keep_the_port_usable(rig: Rig) -> None:
    for _ in range(25):
        client = Client(rig.links[0])
        try:
            assert client.command(b"AT") == b"AT\r\r\nOK\r\n"  # nothing stale before it
        finally:
            client.close()


def test_b0_drops_dtr_and_baud_changes_reach_the_engine(rig: Rig) -> None:
    a, b = call(rig)
    try:
        a.set_speed(termios.B9600)
        a.write(b"x")
        b.expect(b"x")
        assert rig.modems[0].engine.dte_rate == 9600
        a.set_speed(termios.B0)  # the POSIX DTR drop
        b.expect(b"NO CARRIER\r\n")
        assert not rig.modems[0].dtr
        a.expect(b"OK\r\n")  # &D2: hang up, then OK
        a.set_speed(termios.B57600)
        assert a.command(b"AT") == b"\r\nOK\r\n"
        assert rig.modems[0].dtr and rig.modems[0].engine.dte_rate == 57600
    finally:
        a.close()
        b.close()


def test_client_keeps_extproc_so_termios_changes_are_events(rig: Rig) -> None:
    client = Client(rig.links[0])
    try:
        client.command(b"AT")
        lflag = termios.tcgetattr(client.fd)[3]
        assert lflag & EXTPROC
        assert rig.on_loop(lambda: rig.ports[0]._poll_handle) is None
    finally:
        client.close()


def test_cooked_client_gets_echo_and_b0_is_still_seen(rig: Rig) -> None:
    a, b = call(rig)
    try:
        attrs = termios.tcgetattr(a.fd)
        attrs[3] |= termios.ICANON | termios.ECHO
        termios.tcsetattr(a.fd, termios.TCSANOW, attrs)
        b.write(b"x\n")  # any traffic makes the port re-read termios at once
        assert a.expect(b"\n") == b"x\n"  # a canonical read: one whole line
        assert b.expect(b"x\n") == b"x\n"  # the slave's echo, sent back to B
        assert not termios.tcgetattr(a.fd)[3] & EXTPROC  # canonical editing works again
        b.write(b"hellp\x7fo\n")
        assert a.expect(b"\n") == b"hello\n"  # ERASE (DEL) edited the line
        a.set_speed(termios.B0)  # no traffic: found by the TERMIOS_POLL timer
        b.expect(b"NO CARRIER\r\n", deadline=5)
    finally:
        a.close()
        b.close()


# docs/pty.md states it: what a sending program can write into a data call whose
# receiving program reads nothing, before its writes are held back. The receiving
# modem's output bound, what the pty transport holds, and each pty's kernel buffers
# (Linux: 64 KiB of tty buffers plus the 4 KiB line-discipline buffer).
PTY_KERNEL_BUFFERS = 64 * 1024 + 4096
BACK_PRESSURE_BOUND = ModemEngine.OUTPUT_LIMIT + OUTPUT_CHUNK + 2 * PTY_KERNEL_BUFFERS


def test_back_pressure_reaches_the_sending_program(rig: Rig) -> None:
    a, b = call(rig)
    try:
        chunk = bytes(range(256)) * 64
        sent = bytearray()
        while True:  # B reads nothing: A's writes must stop being accepted
            _, ready, _ = select.select([], [a.fd], [], 0.5)
            if not ready:
                break
            try:
                n = os.write(a.fd, chunk)
            except BlockingIOError:
                continue
            sent += chunk[:n]
            assert len(sent) <= BACK_PRESSURE_BOUND, "back-pressure beyond the stated bound"
        assert len(sent) > 8192
        received = bytearray()
        while len(received) < len(sent):
            ready, _, _ = select.select([b.fd], [], [], DEADLINE)
            assert ready, f"stalled at {len(received)} of {len(sent)}"
            received += os.read(b.fd, 65536)
        assert received == sent
    finally:
        a.close()
        b.close()


CHILD = textwrap.dedent(
    """
    import fcntl, os, signal, sys, termios
    os.setsid()
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    attrs = termios.tcgetattr(fd)
    if sys.argv[2] == "clocal":
        attrs[2] |= termios.CLOCAL
    else:
        attrs[2] &= ~termios.CLOCAL
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    hup = []
    signal.signal(signal.SIGHUP, lambda *_: hup.append(os.write(1, b"SIGHUP\\n")))
    os.write(1, b"ready\\n")
    while not hup:  # never read before the hang-up: the test's DTE reads this port
        signal.pause()
    try:
        os.write(1, b"eof\\n" if os.read(fd, 100) == b"" else b"data\\n")
    except OSError as exc:
        os.write(1, f"error {exc.errno}\\n".encode())
    """
)


def child_lines(proc: subprocess.Popen[bytes], count: int) -> list[bytes]:
    assert proc.stdout is not None
    lines: list[bytes] = []
    for _ in range(count):
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        assert ready, f"child said only {lines}, exit {proc.poll()}"
        lines.append(proc.stdout.readline().strip())
    return lines


@pytest.mark.parametrize("clocal", [False, True], ids=["hupcl-port", "clocal-port"])
def test_carrier_loss_hangs_up_the_controlling_terminal(tmp_path: Path, clocal: bool) -> None:
    rig = make_rig(tmp_path, 2, hangup_on_carrier_loss=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(rig.links[0]), "clocal" if clocal else "hupcl"],
        stdout=subprocess.PIPE,
    )
    dte = far = None
    try:
        assert child_lines(proc, 1) == [b"ready"]
        # The test's DTE shares A with the child (and its termios: leave CLOCAL alone).
        dte, far = call(rig, configure_a=False)
        far.set_speed(termios.B0)  # B drops DTR: A loses carrier, DCD drops
        if clocal:
            dte.expect(b"NO CARRIER\r\n")  # CLOCAL set: the port is not hung up
            assert rig.ports[0].hangups == 0
            assert proc.poll() is None
        else:
            assert child_lines(proc, 2) == [b"SIGHUP", b"eof"]
            assert proc.wait(DEADLINE) == 0
            assert rig.ports[0].hangups == 1
            # Our own descriptor was hung up as well, like every fd on a real port.
            ready, _, _ = select.select([dte.fd], [], [], DEADLINE)
            assert ready and os.read(dte.fd, 100) == b""
            dte.close()
            dte = None
            # The port works for the next session, raw again (a hang-up resets termios).
            again = Client(rig.links[0], configure=False)
            assert not termios.tcgetattr(again.fd)[3] & (termios.ICANON | termios.ECHO)
            # Typing during the modem's S10 wait is discarded: retry until it listens.
            for _ in range(20):
                again.write(b"ATE0\r")
                try:
                    again.expect(b"OK\r\n", deadline=0.5)
                    break
                except AssertionError:
                    continue
            else:
                pytest.fail("the port did not answer AT after the hang-up")
            again.close()
    finally:
        for client in (dte, far):
            if client is not None:
                client.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(DEADLINE)
        assert proc.stdout is not None
        proc.stdout.close()
        close_rig(rig)


def thread_cpu_seconds(native_id: int) -> float:
    """user + system CPU time of one thread of this process, from /proc."""
    stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_closed_port_does_not_spin(rig: Rig) -> None:
    """With no client the master is hung up (POLLHUP) for good: a loop that still
    watched it would wake up continuously. Measure the loop thread's CPU time across a
    one-second deadline wait (on a pipe nobody writes) with no client on either port,
    once before any client came and once after one came and went, during a call
    attempt to the closed port (it rings for nobody)."""
    loop_thread = rig.host.call(threading.get_native_id)
    quiet_r, quiet_w = os.pipe()
    try:

        def cpu_over_one_second() -> float:
            before = thread_cpu_seconds(loop_thread)
            ready, _, _ = select.select([quiet_r], [], [], 1.0)  # a deadline, not data
            assert not ready
            return thread_cpu_seconds(loop_thread) - before

        assert cpu_over_one_second() < 0.2
        left = threading.Event()

        def on_client(is_open: bool) -> None:
            if not is_open:
                left.set()

        rig.host.call(rig.ports[0].client_listeners.append, on_client)
        caller = Client(rig.links[1])
        client = Client(rig.links[0])
        client.command(b"AT")
        client.close()
        assert left.wait(DEADLINE)
        ringing = threading.Event()

        def on_signals(signals: Signals) -> None:
            if signals.ri:
                ringing.set()

        rig.host.call(rig.modems[0].watch_signals, on_signals)
        caller.command(b"ATE0")
        caller.write(b"ATD" + rig.modems[0].number.encode() + b"\r")
        assert ringing.wait(DEADLINE)
        assert cpu_over_one_second() < 0.2
        assert rig.modems[0].discarded > 0  # the RINGs went nowhere
        caller.close()
    finally:
        os.close(quiet_r)
        os.close(quiet_w)
