"""Fixtures for the interop tests (helpers are in `interop_helpers`).

The tests run as root, one at a time, because the programs insist on ``/dev`` names
and on UUCP lock files in ``/var/lock``, which are machine-wide.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from interop_helpers import (
    INTEROP_LOCK,
    REPO,
    Dte,
    ModemProcess,
    Programs,
    StartModem,
    Terminal,
    cleanup_link,
    read_ready,
)


@pytest.fixture(autouse=True)
def machine_lock() -> Iterator[None]:
    """Serialise interop tests across processes: they share /dev/ttyLL*, lock files and
    mgetty's log, so a second pytest run waits here (bounded by pytest-timeout)."""
    with INTEROP_LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def linelab_modem(tmp_path: Path) -> Iterator[StartModem]:
    """Start `linelab modem` with links under /dev.

    Call it as ``linelab_modem(["ttyLL0", "ttyLL1=5551234"], "--far", "1003=answer")``.
    It returns once every READY line was read. On teardown the process gets SIGTERM,
    must exit 0 within 5 s, and must have removed its links; stale lock files are
    removed even when the test failed.
    """
    started: list[tuple[ModemProcess, list[str]]] = []
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run))

    def start(links: Sequence[str], *args: str) -> ModemProcess:
        paths = []
        for spec in links:
            name, _, number = spec.partition("=")
            path = name if name.startswith("/") else f"/dev/{name}"
            cleanup_link(path)
            paths.append(path + (f"={number}" if number else ""))
        index = len(started)
        trace = tmp_path / f"trace{index}.jsonl"
        stderr_path = tmp_path / f"modem{index}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "scenarios.cli", "modem", *paths, "--trace", str(trace),
                 *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=REPO,
            )  # fmt: skip
        modem = ModemProcess(proc, [], trace, stderr_path, env)
        links_only = [p.partition("=")[0] for p in paths]
        started.append((modem, links_only))
        modem.modems = read_ready(proc, len(paths), stderr_path)
        return modem

    yield start

    problems = []
    for modem, links in started:
        code = modem.stop()
        if modem.proc.stdout is not None:
            modem.proc.stdout.close()
        if code != 0:
            problems.append(f"linelab modem exited {code}; stderr: {modem.log()[-2000:]}")
        left = [link for link in links if os.path.lexists(link)]
        if left:
            problems.append(f"links not removed: {left}")
        for link in links:
            cleanup_link(link)
    assert not problems, problems


@pytest.fixture
def programs() -> Iterator[Programs]:
    """Start third-party programs; teardown ends any still running (its own group only)."""
    progs = Programs()
    try:
        yield progs
    finally:
        progs.close()


@pytest.fixture
def dte() -> Iterator[Callable[[str], Dte]]:
    """Open pyserial clients on links; all are closed on teardown."""
    opened: list[Dte] = []

    def open_dte(path: str) -> Dte:
        client = Dte(path)
        opened.append(client)
        return client

    yield open_dte
    for client in opened:
        client.close()


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    """A pty to run a terminal program (minicom, picocom) on; the test reads its screen."""
    term = Terminal()
    try:
        yield term
    finally:
        term.close()
