"""Helpers for the interop tests: `linelab modem` as a real process, and real programs.

Every wait here is an event wait with a deadline: select() on a pipe, a pty or an
inotify descriptor, or ``Popen.wait(timeout)``. Nothing sleeps to synchronise. The
tests run as root, one at a time, because the programs insist on ``/dev`` names and on
UUCP lock files in ``/var/lock``, which are machine-wide.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import serial

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "interop"
LOCK_DIR = Path("/var/lock")
INTEROP_LOCK = LOCK_DIR / "linelab-interop.lock"

READY_DEADLINE = 20.0
EXIT_DEADLINE = 5.0  # the promise: links gone and exit 0 within 5 s
DEADLINE = 15.0  # default deadline for one expected reply from a modem or a program


def require_program(name: str) -> str:
    """The path of a required third-party program. A missing one fails the test: the
    interop set must not pass by skipping (only pppd without kernel PPP may skip)."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed (tools/test-all installs it with apt-get)")
    return path


def lock_file(link: str) -> Path:
    """The UUCP lock file programs create for a device (``/var/lock/LCK..ttyLL0``)."""
    return LOCK_DIR / f"LCK..{Path(link).name}"


@dataclass
class Ready:
    """One ``READY`` line of `linelab modem`."""

    fields: dict[str, str]

    @property
    def link(self) -> str:
        return self.fields["link"]

    @property
    def number(self) -> str:
        return self.fields["number"]

    @property
    def pty(self) -> str:
        return self.fields["pty"]

    @property
    def control(self) -> str:
        return self.fields["control"]

    @property
    def rfc2217(self) -> str | None:
        return self.fields.get("rfc2217")


@dataclass
class ModemProcess:
    """A running `linelab modem` and what its READY lines said."""

    proc: subprocess.Popen[bytes]
    modems: list[Ready]
    trace: Path
    stderr: Path
    env: dict[str, str]
    stopped: bool = False

    def __getitem__(self, index: int) -> Ready:
        return self.modems[index]

    def stop(self) -> int:
        """SIGTERM, then wait for the exit status within the issue's 5 s."""
        if not self.stopped:
            self.stopped = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=EXIT_DEADLINE)
                pytest.fail(f"linelab modem did not exit within {EXIT_DEADLINE} s of SIGTERM")
        return self.proc.returncode

    def trace_records(self) -> list[dict[str, object]]:
        """The ``--trace`` transcript read back (first line is the spec header)."""
        lines = self.trace.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        assert records and records[0].get("spec") == "1", records[:1]
        return records[1:]

    def dte_text(self, modem: str, kind: str = "dte>modem") -> str:
        """All trace data of one kind for one modem (by link basename), joined."""
        return "".join(
            str(r["data"])
            for r in self.trace_records()
            if r["modem"] == modem and r["kind"] == kind
        )

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


def read_ready(proc: subprocess.Popen[bytes], count: int, stderr: Path) -> list[Ready]:
    """Read `count` READY lines from `proc`'s stdout, with a deadline."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    lines: list[bytes] = []
    end = time.monotonic() + READY_DEADLINE
    while len(lines) < count:
        left = end - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            pytest.fail(f"only {lines} within {READY_DEADLINE} s; stderr: {stderr.read_text()}")
        chunk = os.read(fd, 4096)
        if not chunk:
            proc.wait(timeout=EXIT_DEADLINE)
            pytest.fail(
                f"linelab modem exited {proc.returncode} after {lines}; "
                f"stderr: {stderr.read_text()}"
            )
        buf += chunk
        *done, buf = buf.split(b"\n")
        lines += done
    out = []
    for line in lines:
        word, *pairs = line.decode().split(" ")
        assert word == "READY", line
        out.append(Ready(dict(pair.split("=", 1) for pair in pairs)))
    return out


def cleanup_link(link: str) -> None:
    """Remove a lock file and a dangling link left by an earlier, crashed run."""
    path = Path(link)
    with contextlib.suppress(FileNotFoundError):
        lock_file(link).unlink()
    if path.is_symlink() and not path.exists():
        path.unlink()  # dangling: left by a crashed run


StartModem = Callable[..., ModemProcess]


@dataclass
class Programs:
    """Third-party processes a test started; all are ended on teardown."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start `argv` in its own session, so that teardown can end exactly its group."""
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[bytes] = subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=EXIT_DEADLINE)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=EXIT_DEADLINE)


class Dte:
    """A pyserial client on a link with deadline-bounded `expect`."""

    def __init__(self, path: str, baudrate: int = 115200) -> None:
        self.serial = serial.Serial(path, baudrate, timeout=0)
        self.buf = b""
        self.seen = b""

    def send(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def command(self, line: str, result: bytes = b"OK\r\n", deadline: float = DEADLINE) -> bytes:
        """Send an AT command line and wait for its final result code."""
        self.send(line.encode("ascii") + b"\r")
        return self.expect(result, deadline)

    def expect(self, pattern: bytes, deadline: float = DEADLINE) -> bytes:
        """Wait for `pattern` (a regular expression); return everything up to its end."""
        regex = re.compile(pattern)
        end = time.monotonic() + deadline
        while (match := regex.search(self.buf)) is None:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.serial.fileno()], [], [], max(left, 0))
            if not ready:
                pytest.fail(f"expected {pattern!r} within {deadline} s, got {self.buf!r}")
            # os.read: whatever is there now, whatever pyserial's timeout was set to
            chunk = os.read(self.serial.fileno(), 4096)
            self.buf += chunk
            self.seen += chunk
        head = self.buf[: match.end()]
        self.buf = self.buf[match.end() :]
        return head

    def close(self) -> None:
        self.serial.close()


class Terminal:
    """A pty pair to run a full-screen or terminal-bound program (minicom, picocom) on.

    The program gets the slave as stdin, stdout and stderr (and its controlling
    terminal, when started in a new session); the test reads the master.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # a 24x80 screen: curses programs (minicom) misbehave on a 0x0 window
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        os.set_blocking(self.master, False)
        self.buf = b""

    def expect(self, pattern: bytes, deadline: float = DEADLINE) -> bytes:
        regex = re.compile(pattern)
        end = time.monotonic() + deadline
        while (match := regex.search(self.buf)) is None:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            if not ready:
                pytest.fail(f"expected {pattern!r} within {deadline} s, screen: {self.buf!r}")
            self.read_some()
        return self.buf[: match.end()]

    def read_some(self) -> bytes | None:
        """Append what the screen has now; None once the program side is gone (EIO)."""
        try:
            chunk = os.read(self.master, 4096)
        except BlockingIOError:
            return b""
        except OSError:
            return None  # EIO: no slave descriptor is open any more
        self.buf += chunk
        return chunk

    def started(self) -> None:
        """Drop the test's copy of the slave once the program has its own, so that the
        master reports EIO, an event, when the program is gone."""
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1  # never close a reused descriptor number later

    def drain_until_exit(self, proc: subprocess.Popen[bytes], deadline: float) -> int:
        """Keep reading the screen (so the program never blocks writing) until it has
        closed the terminal, then reap it."""
        end = time.monotonic() + deadline
        while True:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            if not ready:
                pytest.fail(f"{proc.args!r} still running after {deadline} s: {self.buf!r}")
            if self.read_some() is None:
                break
        try:
            return proc.wait(timeout=EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{proc.args!r} closed its terminal but did not exit")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1


_IN_MODIFY = 0x002
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100


class FileWatch:
    """Wait for text to appear in a file (a program's log) on inotify events.

    The watch is on the file's directory, so it also sees the file being created.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        if libc.inotify_add_watch(self.fd, os.fsencode(path.parent), ctypes.c_uint32(mask)) < 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, f"inotify_add_watch {path.parent}")

    def text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern: str, deadline: float = DEADLINE) -> re.Match[str]:
        """Wait until `pattern` (a regular expression) matches the file's text."""
        regex = re.compile(pattern)
        end = time.monotonic() + deadline
        while (match := regex.search(self.text())) is None:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                pytest.fail(f"{pattern!r} not in {self.path} within {deadline} s: {self.text()}")
            with contextlib.suppress(BlockingIOError):
                while os.read(self.fd, 4096):
                    pass
        return match

    def close(self) -> None:
        os.close(self.fd)


def drop_dtr(fd: int) -> None:
    """Drop DTR the POSIX way on a pty: output speed B0 (a pty has no TIOCMBIC)."""
    attrs = termios.tcgetattr(fd)
    attrs[5] = termios.B0  # ospeed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
