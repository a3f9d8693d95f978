"""Shared helpers for linelab's benchmarks (not a test module, not a package).

Every benchmark here reports its figures as ratios against a floor measured in the
same run, the way the project's pty floors do (bench/floors/, copied from the shared
floor programs): each round runs every row once, in the same order; a ratio is worked
out inside one round first, and the table shows the median over rounds with the
min-max beside it. Each benchmark prints one markdown section on stdout (logs go to
stderr), so `bench/run.sh` can concatenate them into `bench/out/latest.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import termios
import time
import tty
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
FLOORS_C = os.path.join(BENCH, "floors", "c")
FLOORS_PY = os.path.join(BENCH, "floors", "py")
DEFAULT_BUILD = os.path.join(BENCH, "build")
PY = sys.executable
# Deadline for `linelab modem` to print its READY lines (it imports, then probes AT).
READY_TIMEOUT = 30.0


def log(msg: str) -> None:
    """Progress to stderr (stdout carries only the markdown result)."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# -- building and running the floor programs ---------------------------------------------


def ensure_built(build: str) -> None:
    """Compile bench/floors/c/*.c into `build` (gcc -O2) when missing or out of date."""
    os.makedirs(build, exist_ok=True)
    cc = os.environ.get("CC", "gcc")
    header = os.path.join(FLOORS_C, "common.h")
    for name in sorted(os.listdir(FLOORS_C)):
        if not name.endswith(".c"):
            continue
        src = os.path.join(FLOORS_C, name)
        exe = os.path.join(build, name[:-2])
        newest = max(os.path.getmtime(src), os.path.getmtime(header))
        if os.path.exists(exe) and os.path.getmtime(exe) >= newest:
            continue
        subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", exe, src], check=True)


def pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    """`cmd` under `taskset -c CPU` when a CPU is asked for and taskset exists."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) <= cpu:
        return list(cmd)
    return ["taskset", "-c", str(cpu), *cmd]


def run_json(cmd: Sequence[str], timeout: float = 300.0) -> dict[str, Any]:
    """Run a floor client and parse the JSON object on its last stdout line."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-300:]
        raise RuntimeError(f"{os.path.basename(cmd[0])} exited {proc.returncode}: {tail}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def with_server(
    server_cmd: Sequence[str],
    client_cmd: Callable[[str], Sequence[str]],
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Start a floor server that prints its slave path(s) as its first stdout line, run
    the client built from that line, then reap the server (it exits on the client's
    hang-up)."""
    srv = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout is not None
        line = srv.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"server printed no slave path: {server_cmd}")
        return run_json(client_cmd(line), timeout=timeout)
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()


# -- the virtual modem under test ---------------------------------------------------------


def find_linelab(explicit: str | None) -> list[str]:
    """The `linelab` command: --linelab, else next to this interpreter, else on PATH."""
    if explicit:
        return [explicit]
    beside = os.path.join(os.path.dirname(PY), "linelab")
    if os.access(beside, os.X_OK):
        return [beside]
    found = shutil.which("linelab")
    if found:
        return [found]
    return [PY, "-m", "scenarios.cli"]


@dataclass
class ModemProcess:
    """A running `linelab modem LINK…`; `ready` maps each link to its READY fields."""

    proc: subprocess.Popen[bytes]
    ready: dict[str, dict[str, str]] = field(default_factory=dict)


@contextmanager
def modem_process(
    linelab: list[str], names: Sequence[str], cpu: int | None, extra: Sequence[str] = ()
) -> Iterator[ModemProcess]:
    """Start `linelab modem` with one link per name (in a fresh temporary directory),
    wait for every READY line, and stop it with SIGTERM on exit."""
    with tempfile.TemporaryDirectory(prefix="linelab-bench-") as tmp:
        links = [os.path.join(tmp, name) for name in names]
        cmd = pinned([*linelab, "modem", *extra, *links], cpu)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        running = ModemProcess(proc)
        try:
            assert proc.stdout is not None
            # Unbuffered reads: a buffered readline() could swallow a second READY line
            # that select() then never reports.
            fd = proc.stdout.fileno()
            pending = b""
            deadline = time.monotonic() + READY_TIMEOUT
            while len(running.ready) < len(links):
                left = deadline - time.monotonic()
                readable, _, _ = select.select([fd], [], [], max(0.0, left))
                if not readable:
                    raise RuntimeError(f"no READY from {' '.join(cmd)} in {READY_TIMEOUT} s")
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"{' '.join(cmd)} exited {proc.wait()} before READY")
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    words = line.decode("utf-8", "replace").split()
                    if words and words[0] == "READY":
                        fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
                        running.ready[fields["link"]] = fields
            yield running
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


class SlaveClient:
    """A raw client on a modem's link, for set-up commands (E0, S0=1, ATD…).

    It stays open while a floor client runs against the same pty, so the modem keeps
    DTR and its settings; it reads nothing then, so every reply goes to that client."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd, termios.TCSANOW)
        self.seen = bytearray()

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode("ascii"))

    def expect(self, needle: bytes, timeout: float) -> bytes:
        """Read until `needle` has arrived (RuntimeError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self.fd], [], [], max(0.0, left))
            if not readable:
                raise RuntimeError(f"{self.path}: no {needle!r} in {timeout} s: {self.seen!r}")
            self.seen += os.read(self.fd, 4096)
        end = self.seen.index(needle) + len(needle)
        got = bytes(self.seen[:end])
        del self.seen[:end]
        return got

    def command(self, text: str, timeout: float = 10.0) -> bytes:
        """Send one command line and wait for its OK."""
        self.send(text + "\r")
        return self.expect(b"OK\r\n", timeout)

    def close(self) -> None:
        os.close(self.fd)


# -- rounds, medians and ratios -----------------------------------------------------------


@dataclass
class Results:
    """Per-round figures: key -> {round: value}; failures keep the rest going."""

    values: dict[str, dict[int, float]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def add(self, rnd: int, key: str, value: float) -> None:
        self.values.setdefault(key, {})[rnd] = float(value)

    def attempt(self, rnd: int, what: str, fn: Callable[[], None]) -> None:
        """Run one row; a failure is logged and listed under the table."""
        try:
            fn()
        except Exception as exc:  # one broken row must not hide the others
            self.failed.append(f"round {rnd}: {what}: {exc}")
            log(f"  ! {what} failed: {exc}")

    def measure(self, rnd: int, key: str, fn: Callable[[], float]) -> None:
        """Record `fn()` under `key`, as `attempt` does for a failure."""

        def go() -> None:
            self.add(rnd, key, fn())

        self.attempt(rnd, key, go)

    def series(self, key: str) -> list[float]:
        return list(self.values.get(key, {}).values())

    def ratios(self, num: str, den: str) -> list[float]:
        """num/den within each round that has both."""
        a, b = self.values.get(num, {}), self.values.get(den, {})
        return [a[r] / b[r] for r in sorted(a) if b.get(r)]

    def cell(self, key: str) -> tuple[str, str]:
        """(median, min-max) of a key, formatted."""
        return summary(self.series(key))

    def ratio_cell(self, num: str, den: str) -> tuple[str, str]:
        return summary(self.ratios(num, den))


def fmt(value: float) -> str:
    """Three significant figures, no exponent for the ranges we print."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def summary(values: list[float]) -> tuple[str, str]:
    if not values:
        return "n/a", ""
    med = fmt(statistics.median(values))
    if len(values) == 1:
        return med, ""
    return med, f"{fmt(min(values))}-{fmt(max(values))}"


def times(median: str) -> str:
    """A formatted ratio with its "×" (none on "n/a")."""
    return median if median == "n/a" else f"×{median}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    """A markdown table; columns from `right_from` on are right-aligned."""
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def failures(results: Results) -> str:
    if not results.failed:
        return ""
    return "\n\nFailed:\n\n" + "\n".join(f"- {text}" for text in results.failed)


def common_args(parser: argparse.ArgumentParser, rounds: int) -> None:
    parser.add_argument("--rounds", type=int, default=rounds, help="rounds (median is shown)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, small N")
    parser.add_argument("--json", metavar="FILE", help="also write every per-round figure")


def write_json(path: str | None, name: str, results: Results, settings: dict[str, Any]) -> None:
    if not path:
        return
    with open(path, "w", encoding="utf-8") as out:
        json.dump(
            {
                "benchmark": name,
                "settings": settings,
                "values": results.values,
                "failed": results.failed,
            },
            out,
            indent=1,
        )


# -- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """What the figures depend on: cores, CPU, kernel, Python, load."""
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "n/a"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "taskset": "yes" if shutil.which("taskset") else "no (rows unpinned)",
        "loadavg at start": load,
    }
