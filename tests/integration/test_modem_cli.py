"""`linelab modem` as a real process: READY lines, real ptys, SIGTERM, errors.

Every wait is a select() deadline on the process's stdout or a pty; nothing sleeps.
"""

from __future__ import annotations

import importlib.util
import os
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEADLINE = 20.0
EXIT_DEADLINE = 5.0  # the promise: links gone and exit 0 within 5 s


@dataclass
class Ready:
    fields: dict[str, str]

    @property
    def link(self) -> str:
        return self.fields["link"]

    @property
    def number(self) -> str:
        return self.fields["number"]


def linelab(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def read_ready(proc: subprocess.Popen[bytes], count: int) -> list[Ready]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    lines: list[bytes] = []
    while len(lines) < count:
        ready, _, _ = select.select([fd], [], [], DEADLINE)
        assert ready, f"only {lines} within {DEADLINE} s"
        chunk = os.read(fd, 4096)
        assert chunk, f"stdout closed after {lines}; stderr: {stderr_of(proc)}"
        buf += chunk
        *done, buf = buf.split(b"\n")
        lines += done
    assert buf == b""
    out = []
    for line in lines:
        word, *pairs = line.decode().split(" ")
        assert word == "READY", line
        out.append(Ready(dict(pair.split("=", 1) for pair in pairs)))
    return out


def stderr_of(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate(timeout=DEADLINE)
    return err.decode(errors="replace")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=EXIT_DEADLINE)
    return proc.returncode, out.decode(), err.decode(errors="replace")


class Port:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""

    def expect(self, text: bytes, deadline: float = DEADLINE) -> bytes:
        while text not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], deadline)
            assert ready, f"expected {text!r}, got {self.buf!r}"
            self.buf += os.read(self.fd, 4096)
        head, _, self.buf = self.buf.partition(text)
        return head + text

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private XDG_RUNTIME_DIR so control sockets land in the test's own directory."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run))
    yield env


def test_ready_lines_call_between_modems_and_clean_exit(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    links = [tmp_path / "x", tmp_path / "y", tmp_path / "z"]
    proc = linelab(
        "modem", str(links[0]), f"{links[1]}=1001", str(links[2]), "--time-scale", "10",
        env=runtime_dir,
    )  # fmt: skip
    try:
        ready = read_ready(proc, 3)
        assert [r.link for r in ready] == [str(p) for p in links]  # argument order
        assert [r.number for r in ready] == ["1002", "1001", "1003"]  # 1001 was taken
        for r, link in zip(ready, links, strict=True):
            assert os.readlink(link) == r.fields["pty"]
        control = ready[0].fields["control"]
        assert control == str(tmp_path / "run" / "linelab" / f"{proc.pid}.sock")
        assert stat.S_ISSOCK(os.stat(control).st_mode)
        assert stat.S_IMODE(os.stat(control).st_mode) == 0o600

        a, b = Port(str(links[0])), Port(str(links[1]))
        a.send(b"ATE0\r")
        a.expect(b"OK\r\n")
        a.send(b"ATD1001\r")
        b.expect(b"RING\r\n")
        b.send(b"ATA\r")
        a.expect(b"CONNECT")
        b.expect(b"CONNECT")
        a.send(b"over the exchange")
        b.expect(b"over the exchange")
        a.close()
        b.expect(b"NO CARRIER\r\n")  # A's close dropped DTR: &D2 hung up
        b.close()
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert out == ""  # nothing but the READY lines, all read already
    assert not any(os.path.lexists(p) for p in links)
    assert not os.path.exists(control)


def test_time_scale_makes_timers_faster(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    link = tmp_path / "m"
    proc = linelab(
        "modem", str(link), "--time-scale", "10", "--far", "5550000=noanswer", env=runtime_dir
    )
    try:
        read_ready(proc, 1)
        port = Port(str(link))
        port.send(b"ATE0S7=20\r")
        port.expect(b"OK\r\n")
        started = time.monotonic()
        port.send(b"ATD5550000\r")
        port.expect(b"NO CARRIER\r\n")
        elapsed = time.monotonic() - started
        port.close()
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert 1.5 <= elapsed < 10  # S7 = 20 s of modem time is 2 s of wall time


def test_dangling_links_are_replaced_with_a_warning(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    dangling = tmp_path / "dangling"
    os.symlink(tmp_path / "gone", dangling)
    master, slave = os.openpty()
    pts = os.ttyname(slave)
    os.close(master)
    os.close(slave)
    closed = tmp_path / "closed"  # a pty whose program has gone: the node is gone too
    os.symlink(pts, closed)
    proc = linelab("modem", str(dangling), str(closed), env=runtime_dir)
    try:
        ready = read_ready(proc, 2)
        assert os.readlink(dangling) == ready[0].fields["pty"]
        assert os.readlink(closed) == ready[1].fields["pty"]
    finally:
        code, _, err = stop(proc)
    assert code == 0
    assert err.count("replacing dangling link") == 2
    assert not os.path.lexists(dangling) and not os.path.lexists(closed)


def test_a_live_link_of_another_program_is_refused(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    """Another program (here: this test) serves LINK -> /dev/pts/N: `linelab modem LINK`
    must not take the link over, nor delete it on exit."""
    live = tmp_path / "live"
    master, slave = os.openpty()
    try:
        pts = os.ttyname(slave)
        os.symlink(pts, live)
        expect_error([str(live)], runtime_dir, f"{live} -> {pts} is in use: pid {os.getpid()}")
        assert os.readlink(live) == pts  # untouched
    finally:
        os.close(master)
        os.close(slave)


def expect_error(args: list[str], env: dict[str, str], message: str) -> None:
    proc = linelab("modem", *args, env=env)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 2, err
    assert out == b""
    assert message in err.decode(), err


def test_existing_file_is_an_error(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    path = tmp_path / "precious"
    path.write_text("keep me")
    expect_error([str(path)], runtime_dir, "not a symlink of ours")
    assert path.read_text() == "keep me"
    other = tmp_path / "other-link"
    os.symlink(path, other)
    expect_error([str(other)], runtime_dir, "not to a pty")


def test_link_of_a_running_modem_is_an_error(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    link = tmp_path / "busy"
    first = linelab("modem", str(link), env=runtime_dir)
    try:
        read_ready(first, 1)
        expect_error([str(link)], runtime_dir, "belongs to a running linelab modem")
        assert os.path.islink(link)
    finally:
        code, _, _ = stop(first)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "no-such-profile"], "no-such-profile"),
        (["--far", "5550000=answer,bogus"], "bogus"),
        (["--far", "nonsense"], "NUMBER=BEHAVIOUR"),
        (["--rfc2217", "0", "--rfc2217", "0"], "2 --rfc2217 ports for 1 links"),
    ],
    ids=["unknown-profile", "bad-behaviour", "bad-far", "too-many-ports"],
)
def test_bad_options_exit_2(
    tmp_path: Path, runtime_dir: dict[str, str], args: list[str], message: str
) -> None:
    link = tmp_path / "m"
    expect_error([str(link), *args], runtime_dir, message)
    assert not os.path.lexists(link)


def test_rfc2217_port_in_use_is_an_error(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    link = tmp_path / "m"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if importlib.util.find_spec("emulator.transports.rfc2217") is not None:
            message = str(port)
        else:
            message = "no RFC 2217 server in this build"
        expect_error([str(link), "--rfc2217", str(port)], runtime_dir, message)
    assert not os.path.lexists(link)


def test_sigint_also_removes_links_and_exits_0(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    link = tmp_path / "m"
    proc = linelab("modem", str(link), env=runtime_dir)
    try:
        read_ready(proc, 1)
        port = Port(str(link))  # a client still holding the port does not delay the exit
    finally:
        code, _, err = stop(proc, signal.SIGINT)
    port.close()
    assert code == 0, err
    assert not os.path.lexists(link)


# -- the READY contract, the control registry and link ownership (audit) -------------

READY_LINE = re.compile(
    r"READY link=(?P<link>\S+) pty=(?P<pty>/dev/pts/\d+) number=(?P<number>\d+)"
    r"(?: rfc2217=(?P<rfc2217>127\.0\.0\.1:\d+))? control=(?P<control>\S+)"
)


def raw_ready_lines(proc: subprocess.Popen[bytes], count: int) -> list[str]:
    """Exactly `count` complete stdout lines, read with select() deadlines."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    while buf.count(b"\n") < count:
        ready, _, _ = select.select([fd], [], [], DEADLINE)
        assert ready, f"only {buf!r} within {DEADLINE} s"
        chunk = os.read(fd, 4096)
        assert chunk, f"stdout closed after {buf!r}; stderr: {stderr_of(proc)}"
        buf += chunk
    lines = buf.decode().split("\n")
    assert lines[-1] == "", f"more than {count} lines: {buf!r}"
    return lines[:-1]


@pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning")
def test_ready_line_format_rfc2217_and_trace(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    import json

    import serial

    a, b, trace = tmp_path / "a", tmp_path / "b", tmp_path / "t.jsonl"
    proc = linelab(
        "modem", str(a), str(b), "--rfc2217", "0", "--trace", str(trace), "--time-scale", "10",
        env=runtime_dir,
    )  # fmt: skip
    try:
        lines = raw_ready_lines(proc, 2)
        found = [READY_LINE.fullmatch(line) for line in lines]
        assert all(found), lines
        first, second = (m.groupdict() for m in found if m is not None)
        assert (first["link"], second["link"]) == (str(a), str(b))
        assert (first["number"], second["number"]) == ("1001", "1002")
        assert first["rfc2217"] is not None and second["rfc2217"] is None
        assert int(first["rfc2217"].rpartition(":")[2]) > 0  # port 0 became a real port
        assert first["control"] == second["control"]

        remote = serial.serial_for_url(f"rfc2217://{first['rfc2217']}", timeout=DEADLINE)
        port = Port(str(b))
        try:
            remote.write(b"ATE0\r")
            assert remote.read_until(b"OK\r\n").endswith(b"OK\r\n")
            remote.write(b"ATD1002\r")
            port.expect(b"RING\r\n")
            port.send(b"ATA\r")
            port.expect(b"CONNECT")
            assert remote.read_until(b"CONNECT").endswith(b"CONNECT")
            remote.write(b"\xffbytes\x00")
            port.expect(b"\xffbytes\x00")
        finally:
            remote.close()
            port.close()
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert out == ""
    text = trace.read_text(encoding="utf-8").splitlines()
    header = json.loads(text[0])
    assert header["spec"] == "1" and list(header) == ["spec", "started"], header
    records = [json.loads(line) for line in text[1:]]
    assert all(list(r) == ["t", "modem", "kind", "data"] for r in records), records[:3]
    assert {r["kind"] for r in records} == {"dte>modem", "modem>dte", "line", "exchange"}
    sent = "".join(r["data"] for r in records if r["modem"] == "a" and r["kind"] == "dte>modem")
    assert "ATD1002\\x0d" in sent and "\\xffbytes\\x00" in sent, sent


def test_port_in_use_on_a_later_link_prints_no_ready_line(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        expect_error([str(a), str(b), "--rfc2217", "0", "--rfc2217", port], runtime_dir, "in use")
    assert not os.path.lexists(a) and not os.path.lexists(b)


def test_control_path_is_registered_for_call_and_ownership(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    link, control = tmp_path / "m", tmp_path / "ctl.sock"
    proc = linelab("modem", str(link), "--control", str(control), env=runtime_dir)
    try:
        (ready,) = read_ready(proc, 1)
        assert ready.fields["control"] == str(control)
        assert stat.S_IMODE(os.stat(control).st_mode) == 0o600
        port = Port(str(link))
        try:
            # No --control: `linelab call` finds the owner in the registry.
            call = subprocess.run(
                [sys.executable, "-m", "scenarios.cli", "call", str(link), "--from", "5551234"],
                env=runtime_dir, capture_output=True, timeout=DEADLINE, check=False,
            )  # fmt: skip
            assert call.returncode == 0, call.stderr
            port.expect(b"RING\r\n")
        finally:
            port.close()
        # And a second `linelab modem` sees that the link is taken.
        expect_error([str(link)], runtime_dir, "belongs to a running linelab modem")
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert not os.path.exists(control)


def test_link_of_another_user_is_an_error(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    link = tmp_path / "theirs"
    os.symlink(tmp_path / "gone", link)  # dangling, but not ours to replace
    other = os.getuid() + 1 if os.getuid() else 65534
    os.lchown(link, other, other)
    expect_error([str(link)], runtime_dir, f"belonging to uid {other}")
    assert os.lstat(link).st_uid == other and os.readlink(link) == str(tmp_path / "gone")
