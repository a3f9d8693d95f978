"""The control registry after a `linelab modem` is killed with SIGKILL (issue 14): the
socket and entry it leaves are removed whenever the registry is read or written, and
an entry whose pid now belongs to another program is never trusted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_modem_cli import DEADLINE, linelab, read_ready, stop

from emulator.transports.control import find_owner, process_start_time, read_registry


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Iterator[dict[str, str]]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    yield dict(os.environ, XDG_RUNTIME_DIR=str(run))


def killed_modem(link: Path, env: dict[str, str]) -> tuple[int, Path, Path]:
    """Start `linelab modem LINK`, wait for READY, SIGKILL it; its leftovers."""
    proc = linelab("modem", str(link), env=env)
    try:
        read_ready(proc, 1)
    except BaseException:
        proc.kill()
        proc.communicate(timeout=DEADLINE)
        raise
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=DEADLINE)
    assert proc.returncode == -signal.SIGKILL
    directory = Path(env["XDG_RUNTIME_DIR"]) / "linelab"
    sock, entry = directory / f"{proc.pid}.sock", directory / f"{proc.pid}.json"
    assert sock.exists() and entry.exists()  # what SIGKILL leaves behind
    return proc.pid, sock, entry


@contextmanager
def running_program() -> Iterator[subprocess.Popen[bytes]]:
    """A running process that is not a linelab (it waits for its stdin to close)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=DEADLINE)


def test_reading_the_registry_removes_a_killed_modems_socket_and_entry(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    link = tmp_path / "modemA"
    _pid, sock, entry = killed_modem(link, runtime_dir)
    directory = sock.parent
    assert find_owner(str(link), directory) is None
    assert not sock.exists() and not entry.exists()
    assert os.listdir(directory) == []


def test_the_next_modem_clears_what_a_killed_one_left(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    _pid, sock, entry = killed_modem(tmp_path / "first", runtime_dir)
    second = linelab("modem", str(tmp_path / "second"), env=runtime_dir)
    try:
        read_ready(second, 1)
        assert not sock.exists() and not entry.exists()
        names = sorted(os.listdir(sock.parent))
        assert names == [f"{second.pid}.json", f"{second.pid}.sock"]
    finally:
        code, _, err = stop(second)
    assert code == 0, err
    assert os.listdir(sock.parent) == []


def test_an_entry_whose_pid_now_belongs_to_another_program_is_not_trusted(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    link = tmp_path / "modemA"
    _pid, sock, entry = killed_modem(link, runtime_dir)
    # Started after the modem died, as a program that gets a reused pid is.
    with running_program() as other_program:
        reused = sock.parent / f"{other_program.pid}.json"
        raw = json.loads(entry.read_text())
        assert isinstance(raw["start_time"], int) and raw["boot_id"]
        raw["pid"] = other_program.pid
        entry.rename(reused)
        reused.write_text(json.dumps(raw))
        assert read_registry(sock.parent) == []
        assert find_owner(str(link), sock.parent) is None
        assert not reused.exists() and not sock.exists()
        assert other_program.poll() is None  # untouched


@pytest.fixture
def other_program() -> Iterator[subprocess.Popen[bytes]]:
    with running_program() as proc:
        yield proc


def test_the_start_time_and_boot_identify_the_process(
    tmp_path: Path, other_program: subprocess.Popen[bytes]
) -> None:
    directory = tmp_path / "registry"
    directory.mkdir(mode=0o700)
    pid = other_program.pid
    start = process_start_time(pid)
    assert start is not None
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()

    def entry(**fields: object) -> Path:
        path = directory / f"{pid}.json"
        body = {"pid": pid, "socket": "/nowhere", "links": [{"link": "/l", "number": "1"}]}
        path.write_text(json.dumps({**body, **fields}))
        return path

    entry(start_time=start, boot_id=boot)
    assert [e.pid for e in read_registry(directory)] == [pid]
    stale = entry(start_time=start, boot_id="another-boot")
    assert read_registry(directory) == [] and not stale.exists()
    legacy = entry()  # an older linelab's entry: no way to tell, so never trusted
    assert read_registry(directory) == [] and legacy.exists()


def test_orphan_sockets_and_half_written_entries_are_removed(tmp_path: Path) -> None:
    import socket

    directory = tmp_path / "registry"
    directory.mkdir(mode=0o700)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.communicate(timeout=DEADLINE)
    dead = directory / f"{child.pid}.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(dead))  # bound, never listening, closed: nothing serves it
    partial = directory / f".{child.pid}.json.tmp"
    partial.write_text("{")
    live = directory / "4194000.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(live))
        server.listen()
        assert read_registry(directory) == []
        assert not dead.exists() and not partial.exists()
        assert live.exists()  # something answers there: not ours to remove
