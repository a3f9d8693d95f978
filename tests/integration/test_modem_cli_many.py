"""`linelab modem` with many links (issue 14 item 5): one inotify instance serves every
link, and a real limit is named with how many links fit, exit 2, no traceback.

Real processes and real ptys; every wait is a select() deadline, nothing sleeps.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from linelab.limits import FDS_PER_LINK, Fit, limit_error, too_many

LINKS = 200  # above the default fs.inotify.max_user_instances (128)
DEADLINE = 60.0  # for all READY lines of 200 modems on a loaded 2-core machine


def start(tmp_path: Path, count: int, nofile: int | None = None) -> subprocess.Popen[bytes]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    links = [str(tmp_path / f"m{i}") for i in range(count)]

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "modem", *links],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(run)),
        preexec_fn=limit,
    )


def read_lines(proc: subprocess.Popen[bytes], count: int) -> list[dict[str, str]]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    lines: list[bytes] = []
    while len(lines) < count:
        ready, _, _ = select.select([fd], [], [], DEADLINE)
        assert ready, f"only {len(lines)} READY lines within {DEADLINE} s"
        chunk = os.read(fd, 65536)
        assert chunk, f"stdout closed after {len(lines)} lines"
        buf += chunk
        *done, buf = buf.split(b"\n")
        lines += done
    out = []
    for line in lines:
        word, *pairs = line.decode().split(" ")
        assert word == "READY", line
        out.append(dict(pair.split("=", 1) for pair in pairs))
    return out


def at(link: str) -> bytes:
    fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        os.write(fd, b"AT\r")
        buf = b""
        while b"OK\r\n" not in buf:
            ready, _, _ = select.select([fd], [], [], 20.0)
            assert ready, f"{link}: no OK, got {buf!r}"
            buf += os.read(fd, 4096)
        return buf
    finally:
        os.close(fd)


def inotify_instances(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += "inotify" in os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
    return count


@pytest.mark.timeout(180)
def test_200_links_start_share_one_inotify_and_answer_at(tmp_path: Path) -> None:
    proc = start(tmp_path, LINKS)
    try:
        ready = read_lines(proc, LINKS)
        assert [r["link"] for r in ready] == [str(tmp_path / f"m{i}") for i in range(LINKS)]
        for i in (0, 127, 128, LINKS - 1):  # on both sides of the old 128-instance wall
            assert b"OK" in at(ready[i]["link"])
        assert inotify_instances(proc.pid) == 1
        # Descriptors per link as linelab.limits counts them (plus a fixed few).
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        assert LINKS * FDS_PER_LINK <= fds <= LINKS * FDS_PER_LINK + 64
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")


def test_too_few_descriptors_names_rlimit_nofile_and_how_many_fit(tmp_path: Path) -> None:
    proc = start(tmp_path, LINKS, nofile=256)  # hard limit too: it cannot be raised
    out, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert proc.returncode == 2, text
    assert out == b""  # no READY line for a set that cannot all start
    assert "Traceback" not in text and text.count("\n") == 1, text
    match = re.search(r"RLIMIT_NOFILE is 256 \(hard limit 256\): (\d+) links fit", text)
    assert match, text
    fit = int(match.group(1))
    assert 0 < fit < LINKS
    assert not any(tmp_path.glob("m*"))  # nothing was created

    # And that many do start under the same limit.
    proc = start(tmp_path, fit, nofile=256)
    try:
        ready = read_lines(proc, fit)
        assert b"OK" in at(ready[-1]["link"])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")


def test_the_soft_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.fail(f"this test needs a hard RLIMIT_NOFILE of 2048 or more, not {hard}")
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    links = [str(tmp_path / f"m{i}") for i in range(LINKS)]

    def soft_only() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    proc = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "modem", *links],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(run)),
        preexec_fn=soft_only,
    )
    try:
        assert len(read_lines(proc, LINKS)) == LINKS  # 200 links need more than 256
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_limit_messages_name_the_limit_and_the_fit() -> None:
    emfile = OSError(errno.EMFILE, "openpty: Too many open files")
    text = limit_error(emfile, made=500, wanted=1000, what="/tmp/m500")
    assert "RLIMIT_NOFILE" in text and "500 of 1000 links fit" in text
    nopty = OSError(errno.ENOSPC, "openpty: No space left on device")
    assert "kernel.pty.max" in limit_error(nopty, made=3, wanted=9, what="/tmp/m3")
    watches = OSError(errno.ENOSPC, "inotify on /dev/pts/9: No space left on device")
    assert "max_user_watches" in limit_error(watches, made=3, wanted=9, what="/tmp/m3")
    fit = Fit(by_files=900, nofile_soft=2048, nofile_hard=2048, by_ptys=40, pty_max=4096)
    assert too_many(40, fit) is None
    ptys = too_many(41, fit)
    assert ptys is not None and "kernel.pty.max is 4096): 40 links fit" in ptys
