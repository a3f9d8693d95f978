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
from collections.abc import Callable

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
    return (
        "## AT round-trip latency (bench/modem_latency.py)\n\n"
        f"{n} timed round trips per row after 1000 warm-up, {rounds} round(s); "
        "same C client for every row.\n\n"
        + bl.table(head, rows)
        + "\n\n"
        + bl.table(ratio_head, ratio_rows)
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
    print(report(results, n, rounds))
    bl.write_json(args.json, "modem_latency", results, {"n": n, "rounds": rounds})
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
