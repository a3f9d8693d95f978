"""Telephony-time compression: 60 s of dialling, ringing and S7 in how much wall time.

The scenario: modem A dials modem B, which rings and is never answered; A gives up when
S7 (50 s) runs out, and the run goes on to 60 s of telephony time. B rings 9 times
(0.76 s, then every 6 s). Every row checks those results before its time counts.

- *Sim, in process*: `emulator.network.sim.Sim` on a `ManualClock`: no I/O, no loop. It is the
  floor for the pty row (the same engines and exchange, nothing else).
- *ptys, virtual-time loop*: two `emulator.transports.pty.PtyPort` modems on one `ModemHost`, on a
  loop from `linelab.vtime.VirtualTime`; the two DTEs are raw clients on the pty slaves,
  read with `add_reader` on the same loop. Every clock jump has to decide that no byte
  is still in a pty, which is what this row measures.

Figures: wall time per run, *compression* (telephony seconds per wall second: the ratio
against real time, which is what any run on a real clock gets), the number of clock
jumps and the wall time per jump, and the pty row's time × the Sim row's.

    .venv/bin/python bench/virtual_time.py [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import termios
import time
import tty
from collections.abc import Callable

import benchlib as bl

from emulator.network.sim import Sim
from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort
from linelab.vtime import VirtualTime

SCENARIO_SECONDS = 60.0
RINGS = 9  # 0.76 s + 6 s x 8 < 50 s


def sim_row() -> tuple[float, int]:
    """(wall seconds, clock steps) for the scenario in `Sim`."""
    sim = Sim()
    a, b = sim.add_modem("A", "1001"), sim.add_modem("B", "1002")
    sim.type(a, "ATE0D1002\r")
    t0 = time.perf_counter()
    sim.run(SCENARIO_SECONDS)
    wall = time.perf_counter() - t0
    out_a, out_b = sim.output(a), sim.output(b)
    if not out_a.endswith(b"\r\nNO CARRIER\r\n") or out_b.count(b"RING") != RINGS:
        raise RuntimeError(f"Sim scenario: A {out_a!r}, B {out_b!r}")
    return wall, 0


def pty_row() -> tuple[float, int]:
    """(wall seconds, clock jumps) for the scenario over ptys on virtual time."""
    vt = VirtualTime()
    vt.unregister_actor()  # this thread only runs the loop
    loop = vt.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="linelab-bench-vt-") as tmp:

        async def body() -> tuple[bytes, bytes]:
            host = ModemHost()
            ports = [
                PtyPort(host.add_modem(name, number), os.path.join(tmp, name))
                for name, number in (("A", "1001"), ("B", "1002"))
            ]
            fds = [
                os.open(os.path.join(tmp, name), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                for name in ("A", "B")
            ]
            got = [bytearray(), bytearray()]
            changed = asyncio.Event()

            def reader(i: int) -> None:
                got[i].extend(os.read(fds[i], 4096))
                changed.set()

            async def until(i: int, needle: bytes) -> None:
                while needle not in got[i]:
                    changed.clear()
                    await changed.wait()

            try:
                for i, fd in enumerate(fds):
                    tty.setraw(fd, termios.TCSANOW)
                    loop.add_reader(fd, reader, i)
                async with asyncio.timeout(SCENARIO_SECONDS * 2):  # virtual seconds
                    os.write(fds[1], b"ATE0\r")
                    await until(1, b"OK\r\n")
                    del got[1][:]
                    start = loop.time()
                    os.write(fds[0], b"ATE0D1002\r")
                    await until(0, b"NO CARRIER")
                    await asyncio.sleep(start + SCENARIO_SECONDS - loop.time())
                return bytes(got[0]), bytes(got[1])
            finally:
                for fd in fds:
                    loop.remove_reader(fd)
                    os.close(fd)
                for port in ports:
                    port.close()
                host.close()

        t0 = time.perf_counter()
        try:
            out_a, out_b = loop.run_until_complete(body())
        finally:
            loop.close()
        wall = time.perf_counter() - t0
    if b"NO CARRIER" not in out_a or out_b.count(b"RING") != RINGS:
        raise RuntimeError(f"pty scenario: A {out_a!r}, B {out_b!r}")
    return wall, vt.jumps


def record(results: bl.Results, rnd: int, key: str, fn: Callable[[], tuple[float, int]]) -> None:
    wall, jumps = fn()
    results.add(rnd, f"{key}.wall", wall)
    results.add(rnd, f"{key}.compression", SCENARIO_SECONDS / wall)
    if jumps:
        results.add(rnd, f"{key}.jumps", jumps)
        results.add(rnd, f"{key}.per_jump_ms", wall * 1000 / jumps)


ROWS = (("sim", "Sim, in process (floor)", sim_row), ("pty", "ptys, virtual-time loop", pty_row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    bl.common_args(parser, rounds=5)
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    results = bl.Results()
    for rnd in range(1, rounds + 1):
        bl.log(f"virtual_time: round {rnd}/{rounds}")
        for key, _, fn in ROWS:
            results.attempt(rnd, key, functools.partial(record, results, rnd, key, fn))
    rows = []
    for key, label, _ in ROWS:
        wall, wspan = bl.summary([v * 1000 for v in results.series(f"{key}.wall")])
        comp, cspan = results.cell(f"{key}.compression")
        jumps, _ = results.cell(f"{key}.jumps")
        per_jump, _ = results.cell(f"{key}.per_jump_ms")
        ratio, rspan = results.ratio_cell(f"{key}.wall", "sim.wall")
        rows.append(
            [label, wall, wspan, bl.times(comp), cspan, jumps, per_jump, bl.times(ratio), rspan]
        )
    print(
        "## Telephony-time compression (bench/virtual_time.py)\n\n"
        f"{SCENARIO_SECONDS:.0f} s of telephony time: A dials B, B rings {RINGS} times "
        f"unanswered, S7 (50 s) ends the call; {rounds} round(s). *compression* = "
        "telephony seconds per wall second (real time is ×1).\n\n"
        + bl.table(
            [
                "row",
                "wall ms",
                "min-max",
                "compression",
                "min-max",
                "clock jumps",
                "ms/jump",
                "time × Sim",
                "min-max",
            ],
            rows,
        )
        + bl.failures(results)
        + "\n"
    )
    bl.write_json(args.json, "virtual_time", results, {"rounds": rounds})
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
