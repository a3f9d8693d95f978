"""AT round-trip latency through `linelab modem` on a pty, against the pty floors.

One client for every row: the C `pty_client` (bench/floors/c) on a raw slave sends
"AT\\r" and reads until the 6-byte "\\r\\nOK\\r\\n" (1000 warm-up round trips, then N
timed ones). The rows differ only in who holds the master:

- C `pty_responder`: blocking read/write, answers every CR (the pty floor);
- Python asyncio responder (`add_reader`, no parsing): the best an asyncio emulator
  can hope for;
- `linelab modem LINK` (E0 set first, through a second descriptor held open so DTR
  stays up; that descriptor reads nothing while the client runs).

Placement as in the shared floors: server or modem on cpu0, client on cpu1 (taskset).

    /work/venv/bin/python bench/modem_latency.py [--rounds 5] [--n 20000] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable
from typing import Any

import benchlib as bl

ROWS = (
    ("c", "C pty_responder (blocking read/write)"),
    ("asyncio", "Python asyncio responder (add_reader, no parsing)"),
    ("modem", "linelab modem, generic profile, E0"),
    ("modem.uvloop", "the same, --loop uvloop"),
)
# uvloop rows run when it is installed (pip install 'linelab[fast]').
UVLOOP = importlib.util.find_spec("uvloop") is not None
SERVER_CPU, CLIENT_CPU = 0, 1
PCTS = ("p50", "p90", "p99")


def floor_row(
    results: bl.Results, rnd: int, key: str, server: list[str], client: Callable[[str], list[str]]
) -> None:
    def go() -> None:
        r = bl.with_server(bl.pinned(server, SERVER_CPU), client)
        for p in PCTS:
            results.add(rnd, f"{key}.{p}", r[f"{p}_us"])

    results.attempt(rnd, key, go)


def modem_row(
    results: bl.Results,
    rnd: int,
    linelab: list[str],
    client: Callable[[str], list[str]],
    profile: str | None,
    loop: str = "asyncio",
) -> None:
    key = "modem" if loop == "asyncio" else f"modem.{loop}"

    def go() -> None:
        extra = ["--loop", loop] + (["--profile", profile] if profile else [])
        with bl.modem_process(linelab, ["modem"], SERVER_CPU, extra) as running:
            link = next(iter(running.ready))
            setup = bl.SlaveClient(link)
            try:
                setup.command("ATE0")
                r = bl.run_json(client(link))
            finally:
                setup.close()
        for p in PCTS:
            results.add(rnd, f"{key}.{p}", r[f"{p}_us"])

    results.attempt(rnd, key, go)


# -- linelab's own work per AT, in process --------------------------------------------------

BATCH = 100  # round trips per timed batch; the best batch of each row is kept
MIN_BATCHES = 200  # even in a quick run: fewer, and the best batch is not reliably found


def inprocess_row(results: bl.Results, rnd: int, n: int) -> None:
    """One thread writes `AT\\r` into a pty slave, runs the linelab pty port's read
    callback (read, engine, host pass, write) and reads the `OK`; the floor is the same
    thread doing the same four system calls with no logic (read the master, write the
    reply). Both are timed on the thread's CPU clock (a master's read waits for the tty
    layer's worker, which a loaded machine delays: wall time would measure the load), and
    the best batch of each is kept: the difference is the CPU time linelab adds per AT."""

    def go() -> None:
        import asyncio
        import termios
        import tty

        from emulator.transports.host import ModemHost
        from emulator.transports.pty import PtyPort

        loop = asyncio.new_event_loop()
        try:
            host = loop.run_until_complete(_make_host(ModemHost))
            port = PtyPort(host.modems["A"])
            opened: asyncio.Future[bool] = loop.create_future()

            def client_seen(is_open: bool) -> None:
                if not opened.done():
                    opened.set_result(is_open)

            port.client_listeners.append(client_seen)
            fd = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
            try:
                tty.setraw(fd, termios.TCSANOW)
                loop.run_until_complete(asyncio.wait_for(opened, 10.0))
                master, read_cb = port.master_fd, port._on_readable
                w, r = os.write, os.read
                # A pty slave's write is readable at the master at once (the master's
                # read waits for the tty layer's flush), so no loop is needed from here.
                w(fd, b"ATE0\r")
                read_cb()
                if not r(fd, 100).endswith(b"OK\r\n"):
                    raise RuntimeError("the modem did not answer ATE0 with OK")

                def linelab(count: int) -> float:
                    t = time.thread_time_ns()
                    for _ in range(count):
                        w(fd, b"AT\r")
                        read_cb()
                        r(fd, 100)
                    return (time.thread_time_ns() - t) / count / 1000

                def floor(count: int) -> float:
                    t = time.thread_time_ns()
                    for _ in range(count):
                        w(fd, b"AT\r")
                        r(master, 4097)
                        w(master, b"\r\nOK\r\n")
                        r(fd, 100)
                    return (time.thread_time_ns() - t) / count / 1000

                w(fd, b"AT\r")
                read_cb()
                if r(fd, 100) != b"\r\nOK\r\n":
                    raise RuntimeError("the modem did not answer AT with OK")
                batches = max(MIN_BATCHES, n // BATCH)
                best_linelab = min(linelab(BATCH) for _ in range(batches))
                best_floor = min(floor(BATCH) for _ in range(batches))
            finally:
                os.close(fd)
                port.close()
                host.close()
        finally:
            loop.close()
        results.add(rnd, "inproc.floor", best_floor)
        results.add(rnd, "inproc.modem", best_linelab)
        results.add(rnd, "inproc.extra", best_linelab - best_floor)

    results.attempt(rnd, "inproc", go)


async def _make_host(host_class: Any) -> Any:
    host = host_class()
    host.add_modem("A")
    return host


def report(results: bl.Results, n: int, rounds: int) -> str:
    rows = []
    for key, label in ROWS:
        cells: list[str] = []
        for p in PCTS:
            med, span = results.cell(f"{key}.{p}")
            cells += [med, span]
        rows.append([label, *cells])
    head = ["server (cpu0) / client pty_client raw (cpu1)"]
    for p in PCTS:
        head += [f"{p} µs", "min-max"]
    ratio_rows = []
    for num, den, label in (
        ("modem", "c", "linelab modem / C responder"),
        ("modem", "asyncio", "linelab modem / asyncio responder"),
        ("modem.uvloop", "c", "linelab modem on uvloop / C responder"),
    ):
        cells = []
        for p in PCTS:
            med, span = results.ratio_cell(f"{num}.{p}", f"{den}.{p}")
            cells += [bl.times(med), span]
        ratio_rows.append([label, *cells])
    ratio_head = ["ratio (within each round, median over rounds)"]
    for p in PCTS:
        ratio_head += [p, "min-max"]
    inproc_rows = []
    for key, label in (
        ("inproc.floor", "floor: the same system calls, no logic"),
        ("inproc.modem", "linelab pty port, engine and host"),
        ("inproc.extra", "linelab's own work (difference)"),
    ):
        inproc_rows.append([label, *results.cell(key)])
    return (
        "## AT round-trip latency (bench/modem_latency.py)\n\n"
        f"{n} timed round trips per row after 1000 warm-up, {rounds} round(s); "
        "same C client for every row.\n\n"
        + bl.table(head, rows)
        + "\n\n"
        + bl.table(ratio_head, ratio_rows)
        + "\n\nIn process (one thread writes AT into the slave, runs the port's read callback,"
        f" reads OK; the thread's CPU time, best batch of {BATCH}, µs per AT):\n\n"
        + bl.table(["in process", "µs per AT", "min-max"], inproc_rows)
        + bl.failures(results)
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    bl.common_args(parser, rounds=5)
    parser.add_argument("--n", type=int, default=20000, help="timed round trips per row")
    parser.add_argument("--build", default=bl.DEFAULT_BUILD, help="where the C floors are")
    parser.add_argument("--linelab", help="path of the linelab command")
    parser.add_argument("--profile", help="modem profile (default: linelab's default)")
    args = parser.parse_args()
    rounds, n = (1, 2000) if args.quick else (args.rounds, args.n)
    bl.ensure_built(args.build)
    linelab = bl.find_linelab(args.linelab)
    exe = os.path.join(args.build, "pty_client")

    def client(slave: str) -> list[str]:
        return bl.pinned([exe, slave, str(n), "raw"], CLIENT_CPU)

    results = bl.Results()
    servers = {
        "c": [os.path.join(args.build, "pty_responder")],
        "asyncio": [bl.PY, os.path.join(bl.FLOORS_PY, "responder_asyncio.py")],
    }
    for rnd in range(1, rounds + 1):
        bl.log(f"modem_latency: round {rnd}/{rounds}")
        for key, cmd in servers.items():
            floor_row(results, rnd, key, cmd, client)
        modem_row(results, rnd, linelab, client, args.profile)
        if UVLOOP:
            modem_row(results, rnd, linelab, client, args.profile, "uvloop")
        inprocess_row(results, rnd, n)
    print(report(results, n, rounds))
    bl.write_json(args.json, "modem_latency", results, {"n": n, "rounds": rounds})
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
