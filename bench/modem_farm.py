"""1000 modems in one process: start-up, one AT on each (in turn and all at once), RSS.

Rows, in every round, against a floor measured in the same round:

- *floor*: bench/farm_floor.py N, a bare asyncio pty farm (N masters on one loop,
  `add_reader`, every CR answered with OK, no parsing);
- *linelab*: one `linelab modem L1 … LN` process (generic profile), which answers a
  readiness AT on every link before its READY lines.

For each: *start* is the wall time from the start of the process to the last READY
line; *in turn* opens each link (raw), sends "AT\\r", reads until "OK\\r\\n" and closes
it, one link after another (total and p99 of the per-link times); *all at once* opens
every link first, then writes "AT\\r" to all of them and polls until every OK arrived
(total, and p99 of each link's write-to-OK time); *RSS* is the server's VmRSS after
both. The client raises its own RLIMIT_NOFILE to the hard limit.

    .venv/bin/python bench/modem_farm.py [--rounds 3] [--n 1000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty
from collections.abc import Sequence

import benchlib as bl

START_TIMEOUT = 600.0
IO_TIMEOUT = 120.0


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _start(cmd: Sequence[str], n: int) -> tuple[subprocess.Popen[bytes], list[str], float]:
    """Start `cmd`, wait for N READY lines; (process, slave paths, seconds)."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    links: list[str] = []
    pending = b""
    deadline = time.monotonic() + START_TIMEOUT
    while len(links) < n:
        left = deadline - time.monotonic()
        readable, _, _ = select.select([fd], [], [], max(0.0, left))
        if not readable:
            _stop(proc)
            raise RuntimeError(f"{len(links)} of {n} READY in {START_TIMEOUT} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError(f"exited {proc.wait()} after {len(links)} of {n} READY")
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            words = line.decode("utf-8", "replace").split()
            if words and words[0] == "READY":
                fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
                links.append(fields.get("pty", fields["link"]))
    return proc, links, time.perf_counter() - began


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _open(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd, termios.TCSANOW)
    return fd


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def in_turn(links: list[str]) -> tuple[float, float]:
    """(total s, p99 s): open, AT, OK, close, one link after another."""
    each: list[float] = []
    began = time.perf_counter()
    for path in links:
        t0 = time.perf_counter()
        fd = _open(path)
        try:
            os.write(fd, b"AT\r")
            got = b""
            deadline = time.monotonic() + IO_TIMEOUT
            while b"OK\r\n" not in got:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise RuntimeError(f"{path}: no OK: {got!r}")
                with contextlib.suppress(BlockingIOError):
                    got += os.read(fd, 1024)
        finally:
            os.close(fd)
        each.append(time.perf_counter() - t0)
    return time.perf_counter() - began, _p99(each)


def all_at_once(links: list[str]) -> tuple[float, float]:
    """(total s, p99 s of write-to-OK): every link open, then AT to all at once."""
    fds = [_open(path) for path in links]
    try:
        poller = select.poll()
        got = {fd: b"" for fd in fds}
        sent: dict[int, float] = {}
        done: dict[int, float] = {}
        for fd in fds:
            poller.register(fd, select.POLLIN)
        began = time.perf_counter()
        for fd in fds:
            os.write(fd, b"AT\r")
            sent[fd] = time.perf_counter()
        deadline = time.monotonic() + IO_TIMEOUT
        while len(done) < len(fds):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(fds) - len(done)} links gave no OK")
            for fd, _ in poller.poll(left * 1000):
                try:
                    got[fd] += os.read(fd, 1024)
                except BlockingIOError:
                    continue
                if fd not in done and b"OK\r\n" in got[fd]:
                    done[fd] = time.perf_counter()
                    poller.unregister(fd)
        total = time.perf_counter() - began
        return total, _p99([done[fd] - sent[fd] for fd in fds])
    finally:
        for fd in fds:
            os.close(fd)


def row(results: bl.Results, rnd: int, key: str, cmd: list[str], n: int) -> None:
    def go() -> None:
        proc, links, started = _start(cmd, n)
        try:
            results.add(rnd, f"{key}.start", started)
            total, p99 = in_turn(links)
            results.add(rnd, f"{key}.turn", total)
            results.add(rnd, f"{key}.turn_p99", p99)
            total, p99 = all_at_once(links)
            results.add(rnd, f"{key}.once", total)
            results.add(rnd, f"{key}.once_p99", p99)
            results.add(rnd, f"{key}.rss", _rss_mib(proc.pid))
        finally:
            _stop(proc)

    results.attempt(rnd, key, go)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bl.common_args(parser, rounds=3)
    parser.add_argument("--n", type=int, default=1000, help="modems (default 1000)")
    parser.add_argument("--linelab", help="the linelab command (default: beside python)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.n = 1, 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    linelab = bl.find_linelab(args.linelab)
    results = bl.Results()
    floor = [sys.executable, os.path.join(bl.BENCH, "farm_floor.py"), str(args.n)]
    with tempfile.TemporaryDirectory(prefix="linelab-farm-") as tmp:
        model = [*linelab, "modem", *(os.path.join(tmp, f"m{i}") for i in range(args.n))]
        for rnd in range(1, args.rounds + 1):
            bl.log(f"round {rnd}/{args.rounds}: {args.n} modems")
            row(results, rnd, "floor", floor, args.n)
            row(results, rnd, "modem", model, args.n)
    rows = []
    for what, sub, unit, scale in (
        ("start-up to the last READY", "start", "s", 1.0),
        ("one AT each, in turn: total", "turn", "s", 1.0),
        ("one AT each, in turn: p99 (open, AT, OK, close)", "turn_p99", "ms", 1000.0),
        ("one AT each, all at once: total", "once", "s", 1.0),
        ("one AT each, all at once: p99 (write to OK)", "once_p99", "ms", 1000.0),
        ("RSS after both", "rss", "MiB", 1.0),
    ):
        med_m, rng_m = bl.summary([v * scale for v in results.series(f"modem.{sub}")])
        med_f, _ = bl.summary([v * scale for v in results.series(f"floor.{sub}")])
        ratio, rng = results.ratio_cell(f"modem.{sub}", f"floor.{sub}")
        rows.append([what, f"{med_m} {unit}", rng_m, f"{med_f} {unit}", bl.times(ratio), rng])
    print(f"## {args.n} modems in one process (bench/modem_farm.py)\n")
    print(
        f"{args.rounds} round(s); floor: bench/farm_floor.py, a bare asyncio pty farm of "
        f"{args.n} in the same round.\n"
    )
    print(
        bl.table(["what", "linelab", "min-max", "floor", "ratio", "min-max"], rows, right_from=1)
        + bl.failures(results)
    )
    bl.write_json(args.json, "modem_farm", results, {"n": args.n, "rounds": args.rounds})
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
