"""emulator.transports.ports: the pyvirtualserialports-compatible hub, on real ptys.

Every wait is an event wait with a deadline (poll on the slave fds, thread joins,
pyserial's total read time-out): nothing sleeps to synchronise.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from emulator.transports import ports as ports_module
from emulator.transports.ports import VirtualSerialPortException, VirtualSerialPorts

DEADLINE = 10.0  # seconds; only reached when something is broken
LINELAB = str(Path(sys.executable).with_name("linelab"))
TIOCVHANGUP = 0x5437  # linux/asm-generic/ioctls.h; not in the termios module
PTS_PATH = re.compile(r"^/dev/pts/[0-9]+$")


@contextmanager
def client(path: str) -> Iterator[int]:
    """Open a hub port as a program would: raw, non-blocking, not our controlling tty."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        yield fd
    finally:
        os.close(fd)


def read_exactly(fd: int, size: int, timeout: float = DEADLINE) -> bytes:
    """Read `size` bytes from `fd`, waiting on poll; whatever arrived by the deadline."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    end = time.monotonic() + timeout
    data = bytearray()
    while len(data) < size:
        left = end - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            break
        try:
            data += os.read(fd, size - len(data))
        except BlockingIOError:
            continue
    return bytes(data)


def read_line(stream: int, timeout: float = DEADLINE) -> str:
    """One line from a subprocess pipe fd, with a deadline."""
    data = bytearray()
    end = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = end - time.monotonic()
        ready, _, _ = select.select([stream], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no complete line before the deadline: {bytes(data)!r}")
        chunk = os.read(stream, 1)
        if not chunk:
            break
        data += chunk
    return data.decode()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# -- the drop-in surface -------------------------------------------------------------


def test_ports_raises_not_opened_before_open_and_after_close() -> None:
    hub = VirtualSerialPorts(2)
    with pytest.raises(VirtualSerialPortException) as before:
        hub.ports  # noqa: B018
    assert before.value is ports_module.not_opened
    hub.open()
    assert len(hub.ports) == 2
    hub.close()
    with pytest.raises(VirtualSerialPortException):
        hub.ports  # noqa: B018
    with pytest.raises(VirtualSerialPortException):
        hub.start()
    assert not hub.running


def test_enter_returns_the_list_of_raw_pty_paths() -> None:
    hub = VirtualSerialPorts(3)
    with hub as paths:
        assert isinstance(paths, list)
        assert paths == hub.ports
        assert len(paths) == 3 and len(set(paths)) == 3
        assert all(PTS_PATH.match(p) for p in paths)
        assert hub.running
        # Created raw: a program opening the slave sees no line discipline tricks.
        fd = os.open(paths[0], os.O_RDWR | os.O_NOCTTY)
        try:
            iflag, oflag, _, lflag, *_ = termios.tcgetattr(fd)
        finally:
            os.close(fd)
        assert lflag & (termios.ICANON | termios.ECHO | termios.ISIG) == 0
        assert iflag & (termios.ICRNL | termios.IXON) == 0
        assert oflag & termios.OPOST == 0
    assert not hub.running


def test_constructor_rejects_no_ports() -> None:
    with pytest.raises(VirtualSerialPortException, match="greater than 0"):
        VirtualSerialPorts(0)


# -- hub semantics -------------------------------------------------------------------


def test_pair_forwards_both_ways() -> None:
    with VirtualSerialPorts(2) as (a_path, b_path), client(a_path) as a, client(b_path) as b:
        os.write(a, b"hello from a")
        assert read_exactly(b, 12) == b"hello from a"
        os.write(b, b"\x00\x03\x11\x13\r\n\xff")  # 8-bit clean: raw, no XON/XOFF, no ISIG
        assert read_exactly(a, 7) == b"\x00\x03\x11\x13\r\n\xff"


def test_three_ports_broadcast_to_all_others_but_not_the_sender() -> None:
    with (
        VirtualSerialPorts(3) as paths,
        client(paths[0]) as a,
        client(paths[1]) as b,
        client(paths[2]) as c,
    ):
        os.write(a, b"foo")
        assert read_exactly(b, 3) == b"foo"
        assert read_exactly(c, 3) == b"foo"
        os.write(c, b"bar")
        assert read_exactly(b, 3) == b"bar"
        # Had a's own bytes come back, they would be queued before c's.
        assert read_exactly(a, 3) == b"bar"


def test_loopback_returns_bytes_to_the_sender_too() -> None:
    with (
        VirtualSerialPorts(2, loopback=True) as paths,
        client(paths[0]) as a,
        client(paths[1]) as b,
    ):
        os.write(a, b"ping")
        assert read_exactly(a, 4) == b"ping"
        assert read_exactly(b, 4) == b"ping"


def test_one_mebibyte_burst_arrives_intact_through_pyserial() -> None:
    payload = os.urandom(1 << 20)
    with (
        VirtualSerialPorts(2) as (a_path, b_path),
        serial.Serial(a_path, 115200, timeout=DEADLINE) as sender,
        serial.Serial(b_path, 115200, timeout=DEADLINE) as receiver,
    ):
        writer = threading.Thread(daemon=True, target=sender.write, args=(payload,))
        writer.start()
        received = receiver.read(len(payload))  # returns early only on the deadline
        writer.join(DEADLINE)
        assert not writer.is_alive()
    assert len(received) == len(payload)
    assert received == payload


def test_back_pressure_holds_the_writer_instead_of_dropping() -> None:
    """B reads nothing: the hub fills B's bounded buffer, stops reading A, and the
    pty then refuses A's writes. Everything arrives once B drains."""
    limit = 16 * 1024
    hub = VirtualSerialPorts(2, buffer_limit=limit)
    with hub as (a_path, b_path), client(a_path) as a, client(b_path) as b:
        poller = select.poll()
        poller.register(a, select.POLLOUT)
        sent = bytearray()
        block = os.urandom(4096)
        while len(sent) < 64 << 20:
            try:
                sent += block[: os.write(a, block)]
                continue
            except BlockingIOError:
                pass
            if hub.buffered()[1] == limit:
                break  # b's buffer is full, so the hub never reads a again
            # Wait for room on a. The pty may not signal room freed by the hub's last,
            # small read (it wakes writers only past a threshold), so the wait is
            # bounded and the loop re-checks; the outcome never depends on timing.
            poller.poll(20)
        assert max(hub.buffered()) <= limit
        assert len(sent) > limit
        assert read_exactly(b, len(sent)) == bytes(sent)


def test_quick_start_stop_never_hangs() -> None:
    hub = VirtualSerialPorts(2)
    hub.open()
    seen: list[bool] = []

    def cycle() -> None:
        for _ in range(200):
            hub.start()
            seen.append(hub.running)
            hub.stop()

    worker = threading.Thread(daemon=True, target=cycle)
    worker.start()
    worker.join(DEADLINE)
    try:
        assert not worker.is_alive(), "stop() right after start() hung"
        assert seen == [True] * 200
        assert not hub.running
    finally:
        hub.close()


def test_process_runs_on_the_calling_thread_until_stopped() -> None:
    hub = VirtualSerialPorts(2)
    hub.open()
    try:
        worker = threading.Thread(daemon=True, target=hub.process)
        worker.start()
        with client(hub.ports[0]) as a, client(hub.ports[1]) as b:
            os.write(a, b"x")
            assert read_exactly(b, 1) == b"x"
        assert hub.running
        hub.stop()
        worker.join(DEADLINE)
        assert not worker.is_alive()
    finally:
        hub.close()


def test_nothing_leaks_after_close() -> None:
    before = open_fds()
    hub = VirtualSerialPorts(3, loopback=True)
    hub.attach(lambda data: data)
    for _ in range(2):  # reopening must not leak either
        with hub as paths, client(paths[0]) as a:
            os.write(a, b"abc")
            assert read_exactly(a, 6) == b"abcabc"  # loopback + echo endpoint
    hub.open()
    hub.close()
    assert open_fds() == before
    assert not [t for t in threading.enumerate() if t.name == "vsp-hub"]


def test_port_survives_a_client_hanging_it_up() -> None:
    """A client's vhangup() does not take the port away from the next client."""
    with VirtualSerialPorts(2) as (a_path, b_path), client(b_path) as b:
        with client(a_path) as a:
            try:
                fcntl.ioctl(a, TIOCVHANGUP)
            except PermissionError:
                pytest.skip("TIOCVHANGUP needs CAP_SYS_ADMIN")
        with client(a_path) as a:
            os.write(a, b"still here")
            assert read_exactly(b, 10) == b"still here"
            os.write(b, b"ok")
            assert read_exactly(a, 2) == b"ok"


def test_eio_on_a_master_reopens_the_held_slave(monkeypatch: pytest.MonkeyPatch) -> None:
    """When every slave file is gone the master reads EIO; the hub reopens its slave
    instead of failing or spinning."""
    rearmed = threading.Event()
    original = ports_module._PtyPort.rearm

    def rearm(port: ports_module._PtyPort) -> None:
        original(port)
        rearmed.set()

    monkeypatch.setattr(ports_module._PtyPort, "rearm", rearm)
    hub = VirtualSerialPorts(2)
    with hub as (a_path, b_path):
        assert hub._ptys is not None
        held = hub._ptys[0].slave
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, held)  # drops the hub's slave file: no slave is open any more
        os.close(null)
        assert rearmed.wait(DEADLINE)
        assert os.readlink(f"/proc/self/fd/{hub._ptys[0].slave}") == a_path
        with client(a_path) as a, client(b_path) as b:
            os.write(a, b"back")
            assert read_exactly(b, 4) == b"back"


# -- endpoints (the hook for a modem as a hub member) ---------------------------------


def test_echo_endpoint_is_a_hub_member() -> None:
    hub = VirtualSerialPorts(2)
    echo = hub.attach(lambda data: data, name="echo")
    with hub as (a_path, b_path), client(a_path) as a, client(b_path) as b:
        os.write(a, b"hi")
        assert read_exactly(a, 2) == b"hi"  # the echo, not a's own bytes
        assert read_exactly(b, 4) == b"hihi"  # a's bytes, then the echo
        echo.send(b"RING")  # unsolicited output, from another thread
        assert read_exactly(a, 4) == b"RING"
        assert read_exactly(b, 4) == b"RING"


class Gate:
    """An endpoint that takes only as many bytes as it has room for."""

    def __init__(self, space: int) -> None:
        self.space = space
        self.got = bytearray()
        self.changed = threading.Condition()

    def __call__(self, data: bytes) -> bytes:
        with self.changed:
            assert len(data) <= self.space, "the hub ignored room()"
            self.space -= len(data)
            self.got += data
            self.changed.notify_all()
        return b""

    def room(self) -> int:
        return self.space

    def wait_for(self, size: int) -> bytes:
        with self.changed:
            self.changed.wait_for(lambda: len(self.got) >= size, DEADLINE)
            return bytes(self.got)


def test_endpoint_room_holds_data_until_woken() -> None:
    gate = Gate(space=4)
    hub = VirtualSerialPorts(1)
    port = hub.attach(gate)
    with hub as (a_path,), client(a_path) as a:
        os.write(a, b"0123456789")
        assert gate.wait_for(4) == b"0123"
        with gate.changed:
            gate.space = 100
        port.wake()
        assert gate.wait_for(10) == b"0123456789"


# -- command line --------------------------------------------------------------------


@contextmanager
def linelab_ports(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    proc = subprocess.Popen(
        [LINELAB, "ports", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        count = int(args[-1])
        paths = [read_line(proc.stdout.fileno()).rstrip("\n") for _ in range(count)]
        yield proc, paths
    finally:
        if proc.poll() is None:
            proc.terminate()
        if not proc.stdout.closed:
            proc.communicate(timeout=DEADLINE)


def test_cli_prints_paths_and_forwards_until_terminated() -> None:
    with linelab_ports("2") as (proc, paths):
        assert all(PTS_PATH.match(p) for p in paths)
        with client(paths[0]) as a, client(paths[1]) as b:
            os.write(a, b"hello1")
            os.write(b, b"hello2")
            assert read_exactly(b, 6) == b"hello1"
            assert read_exactly(a, 6) == b"hello2"
        born = {p: os.stat(p).st_ctime_ns for p in paths}
        proc.terminate()
        out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0  # SIGTERM closes the ports and exits cleanly
    assert out == b"" and err == b""
    # Each pty is gone. Another process may already have been given the same number,
    # so a path that exists again must be a newer pty.
    for p in paths:
        assert not os.path.exists(p) or os.stat(p).st_ctime_ns != born[p], p


def test_cli_debug_lines_go_to_stderr() -> None:
    with linelab_ports("-l", "-d", "1") as (proc, (path,)):
        assert proc.stderr is not None
        with client(path) as a:
            os.write(a, b"hello")
            assert read_exactly(a, 5) == b"hello"
        line = read_line(proc.stderr.fileno()).rstrip("\n")
    assert line == f"{path} b'hello'"


def test_cli_rejects_zero_ports() -> None:
    done = subprocess.run([LINELAB, "ports", "0"], capture_output=True, timeout=DEADLINE)
    assert done.returncode == 2
    assert b"number of ports must be greater than 0" in done.stderr


def test_python_dash_m_matches_the_upstream_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emulator.transports.ports", "--help"],
        capture_output=True,
        timeout=DEADLINE,
        text=True,
    )
    assert done.returncode == 0
    assert "[-h] [-l] [-d] num_ports" in done.stdout


# -- named links (like socat's link=) --------------------------------------------------


def test_cli_named_links_forward_and_are_removed(tmp_path: Path) -> None:
    a_link, b_link = tmp_path / "a", tmp_path / "b"
    os.symlink(tmp_path / "gone", b_link)  # a dangling link of ours is replaced
    proc = subprocess.Popen(
        [LINELAB, "ports", str(a_link), str(b_link)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        printed = [read_line(proc.stdout.fileno()).rstrip("\n") for _ in range(2)]
        assert printed == [str(a_link), str(b_link)]
        assert all(PTS_PATH.match(os.readlink(link)) for link in (a_link, b_link))
        with client(str(a_link)) as a, client(str(b_link)) as b:
            os.write(a, b"through a link")
            assert read_exactly(b, 14) == b"through a link"
        proc.terminate()
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0
    assert out == b""
    assert b"replacing dangling link" in err
    assert not os.path.lexists(a_link) and not os.path.lexists(b_link)


def test_cli_named_link_in_use_is_refused(tmp_path: Path) -> None:
    live, other = tmp_path / "live", tmp_path / "file"
    master, slave = os.openpty()
    try:
        os.symlink(os.ttyname(slave), live)
        done = subprocess.run(
            [LINELAB, "ports", str(live), str(tmp_path / "new")],
            capture_output=True,
            timeout=DEADLINE,
        )
        assert done.returncode == 2
        assert b"is in use" in done.stderr
        assert os.readlink(live) == os.ttyname(slave)
        assert not os.path.lexists(tmp_path / "new")
    finally:
        os.close(master)
        os.close(slave)
    other.write_text("keep me")
    done = subprocess.run([LINELAB, "ports", str(other)], capture_output=True, timeout=DEADLINE)
    assert done.returncode == 2
    assert b"not a symlink of ours" in done.stderr
    assert other.read_text() == "keep me"
