"""Data-mode throughput between two virtual modems, against the pty relay floors.

One client for every row: the C `pty_pipe_bench` (bench/floors/c) opens slave B raw,
forks a writer that pushes N MiB into slave A in 64 KiB writes, reads it all at B
(64 KiB reads) and checks the byte sum. The rows differ in what joins A and B:

- C `pty_relay` (poll, 64 KiB buffer): two modems in data mode, C floor;
- Python asyncio relay (`add_reader`/`add_writer` with back-pressure);
- one `linelab modem A B` process: B set to S0=1, A dials 1002, both report CONNECT,
  then the data crosses A's engine, the exchange and B's engine. The set-up client keeps
  both links open (so DTR stays up) and reads nothing while the bench runs.

No row is pinned (three processes on two cores, as in the shared floors). Every row
moves the same N MiB unless --modem-mib says otherwise (useful if a change makes the
modem slow: MiB/s is a rate, so the ratio stays meaningful).

    /work/venv/bin/python bench/modem_throughput.py [--rounds 3] [--mib 16] [--modem-mib N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from typing import Any

import benchlib as bl

# uvloop rows run when it is installed (pip install 'linelab[fast]').
UVLOOP = importlib.util.find_spec("uvloop") is not None

CHUNK = 65536
# Seconds allowed per MiB through the modem (a deadline, far above what it needs).
MODEM_SECONDS_PER_MIB = 120.0
CONNECT_TIMEOUT = 60.0


def mib_per_s(r: dict[str, Any]) -> float:
    """MiB/s from pty_pipe_bench's bytes and seconds (its MBps has one decimal only)."""
    return float(r["bytes"]) / float(r["secs"]) / 2**20


def floor_row(
    results: bl.Results, rnd: int, key: str, server: list[str], exe: str, mib: int
) -> None:
    def go() -> None:
        def client(line: str) -> list[str]:
            a, b = line.split()
            return [exe, a, b, str(CHUNK), str(mib)]

        r = bl.with_server(server, client)
        if not r["ok"]:
            raise RuntimeError("byte count or sum check failed")
        results.add(rnd, key, mib_per_s(r))

    results.attempt(rnd, key, go)


def modem_row(
    results: bl.Results, rnd: int, linelab: list[str], exe: str, mib: int, loop: str = "asyncio"
) -> None:
    key = "modem" if loop == "asyncio" else f"modem.{loop}"

    def go() -> None:
        extra = ["--loop", loop]
        with bl.modem_process(linelab, ["A=1001", "B=1002"], None, extra) as running:
            link_a, link_b = list(running.ready)
            a, b = bl.SlaveClient(link_a), bl.SlaveClient(link_b)
            try:
                b.command("ATE0S0=1")
                a.command("ATE0")
                started = time.monotonic()
                a.send("ATD1002\r")
                a.expect(b"CONNECT", CONNECT_TIMEOUT)
                b.expect(b"CONNECT", CONNECT_TIMEOUT)
                # the rest of the result line ("CONNECT 33600\r\n")
                a.expect(b"\r\n", 5.0)
                b.expect(b"\r\n", 5.0)
                results.add(rnd, f"{key}.connect_s", time.monotonic() - started)
                r = bl.run_json(
                    [exe, link_a, link_b, str(CHUNK), str(mib)],
                    timeout=60.0 + MODEM_SECONDS_PER_MIB * mib,
                )
            finally:
                a.close()
                b.close()
        if not r["ok"]:
            raise RuntimeError("byte count or sum check failed")
        results.add(rnd, key, mib_per_s(r))

    results.attempt(rnd, key, go)


def report(results: bl.Results, mib: int, modem_mib: int, rounds: int) -> str:
    rows = []
    labels = (
        ("c", f"C pty_relay (poll, 64 KiB buffer), {mib} MiB"),
        ("asyncio", f"Python asyncio relay (add_reader/add_writer), {mib} MiB"),
        ("modem", f"linelab modem A ⇄ exchange ⇄ modem B, online, {modem_mib} MiB"),
        ("modem.uvloop", f"the same, --loop uvloop, {modem_mib} MiB"),
    )
    for key, label in labels:
        rows.append([label, *results.cell(key)])
    ratio_rows = []
    for num, den, label in (
        ("modem", "c", "linelab modem / C relay"),
        ("modem", "asyncio", "linelab modem / asyncio relay"),
        ("modem.uvloop", "c", "linelab modem on uvloop / C relay"),
        ("modem.uvloop", "modem", "linelab modem: uvloop / default loop"),
        ("asyncio", "c", "asyncio relay / C relay"),
    ):
        ratio, span = results.ratio_cell(num, den)
        times, tspan = results.ratio_cell(den, num)
        ratio_rows.append([label, bl.times(ratio), span, bl.times(times), tspan])
    dial, dial_span = results.cell("modem.connect_s")
    return (
        "## Data-mode throughput, modem to modem (bench/modem_throughput.py)\n\n"
        f"pty_pipe_bench: A → B, {CHUNK // 1024} KiB writes, byte-sum checked; "
        f"{rounds} round(s); unpinned. 1 MiB = 2^20 bytes.\n\n"
        + bl.table(["A → B", "MiB/s", "min-max"], rows)
        + "\n\n"
        + bl.table(
            ["ratio (within each round)", "MiB/s ratio", "min-max", "time ×", "min-max"],
            ratio_rows,
        )
        + f"\n\nATD1002 to CONNECT on both ends (S0=1, real time): {dial} s"
        + (f" ({dial_span})" if dial_span else "")
        + bl.failures(results)
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    bl.common_args(parser, rounds=3)
    parser.add_argument("--mib", type=int, default=16, help="MiB per floor row")
    parser.add_argument(
        "--modem-mib", type=int, help="MiB per modem row (default: --mib; lower it if slow)"
    )
    parser.add_argument("--build", default=bl.DEFAULT_BUILD, help="where the C floors are")
    parser.add_argument("--linelab", help="path of the linelab command")
    args = parser.parse_args()
    if args.quick:
        rounds, mib, modem_mib = 1, 4, 4
    else:
        rounds, mib = args.rounds, args.mib
        modem_mib = args.modem_mib if args.modem_mib is not None else mib
    bl.ensure_built(args.build)
    linelab = bl.find_linelab(args.linelab)
    exe = os.path.join(args.build, "pty_pipe_bench")
    servers = {
        "c": [os.path.join(args.build, "pty_relay")],
        "asyncio": [bl.PY, os.path.join(bl.FLOORS_PY, "relay_asyncio.py")],
    }
    results = bl.Results()
    for rnd in range(1, rounds + 1):
        bl.log(f"modem_throughput: round {rnd}/{rounds}")
        for key, cmd in servers.items():
            floor_row(results, rnd, key, cmd, exe, mib)
        modem_row(results, rnd, linelab, exe, modem_mib)
        if UVLOOP:
            modem_row(results, rnd, linelab, exe, modem_mib, "uvloop")
    print(report(results, mib, modem_mib, rounds))
    settings = {"mib": mib, "modem_mib": modem_mib, "rounds": rounds, "chunk": CHUNK}
    bl.write_json(args.json, "modem_throughput", results, settings)
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
