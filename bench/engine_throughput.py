"""In-process engine throughput, no I/O: AT commands and data-mode bytes per second.

Everything runs in this one thread on a `ManualClock`; no pty, no event loop. The
floors are trivial Python loops doing the same byte movements, so each ratio says how
much of the cost is the engine's logic rather than Python itself:

AT round trips (E0, "AT\\r" in, "\\r\\nOK\\r\\n" out, every reply checked)
- floor: ``REPLY * data.count(b"\\r")``, the whole logic of the asyncio responder floor;
- `ModemEngine` direct: ``receive_dte(b"AT\\r")`` then ``read_dte()``;
- `emulator.network.sim.Sim`: ``sim.type(a, "AT\\r")`` then ``sim.output(a)`` (adds the harness's
  settle loop over every actor).

Data mode, A to B through the exchange (4 KiB chunks, byte-sum checked)
- floor, chunk copy: per chunk, copy into a queue, pop into B's output buffer, read it
  out (``deque.append(bytes(chunk))``, ``out += popleft()``, ``bytes(out)``) — what a
  chunk-at-a-time design costs in Python;
- floor, per-byte loop: ``for byte in chunk: out.append(byte)`` then ``bytes(out)`` —
  the least any design that looks at each byte in Python pays;
- engines direct: ``a.receive_dte(chunk)`` (at most ``dte_room()``), ``exchange.tick()``,
  ``b.read_dte()``;
- `Sim`: ``sim.type(a, chunk)`` then ``sim.output(b)``.

Small reads of a full output buffer (B's 64 KiB `OUTPUT_LIMIT`, read 16 bytes at a time)
- floor: 16-byte slices of a 64 KiB ``bytes`` through a ``memoryview`` (linear);
- `ModemEngine.read_dte(16)` until the buffer is empty. A buffer that copied what is
  left on every read would be quadratic: hundreds of times the floor.

    /work/venv/bin/python bench/engine_throughput.py [--rounds 5] [--commands 20000]
        [--kib 512] [--quick]
"""

from __future__ import annotations

import argparse
import collections
import functools
import time
from collections.abc import Callable

import benchlib as bl

from emulator.core.engine import OUTPUT_LIMIT, ModemEngine
from emulator.network.sim import Sim

REPLY = b"\r\nOK\r\n"
AT = b"AT\r"
CHUNK = 4096


def _pattern(n: int) -> bytes:
    # The same pattern as pty_pipe_bench: every byte value, including '+' (never
    # guarded, so never an escape).
    return bytes((i * 131 + 7) & 0xFF for i in range(n))


# -- AT round trips ------------------------------------------------------------------------


def at_floor(n: int) -> float:
    data = AT
    t0 = time.perf_counter_ns()
    for _ in range(n):
        reply = REPLY * data.count(b"\r")
        if reply != REPLY:
            raise RuntimeError("floor reply")
    return n / ((time.perf_counter_ns() - t0) / 1e9)


def _sim_modem() -> tuple[Sim, ModemEngine]:
    sim = Sim()
    modem = sim.add_modem("A", "1001")
    sim.type(modem, "ATE0\r")
    if not sim.output(modem).endswith(b"OK\r\n"):
        raise RuntimeError("ATE0 was not accepted")
    return sim, modem


def at_engine(n: int) -> float:
    _, modem = _sim_modem()
    receive, read = modem.receive_dte, modem.read_dte
    t0 = time.perf_counter_ns()
    for _ in range(n):
        receive(AT)
        if read() != REPLY:
            raise RuntimeError("engine reply")
    return n / ((time.perf_counter_ns() - t0) / 1e9)


def at_sim(n: int) -> float:
    sim, modem = _sim_modem()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        sim.type(modem, AT)
        if sim.output(modem) != REPLY:
            raise RuntimeError("sim reply")
    return n / ((time.perf_counter_ns() - t0) / 1e9)


# -- data mode ------------------------------------------------------------------------------


def data_floor_chunks(total: int) -> float:
    chunk = _pattern(CHUNK)
    queue: collections.deque[bytes] = collections.deque()
    out = bytearray()
    got = total_sum = 0
    t0 = time.perf_counter_ns()
    sent = 0
    while sent < total:
        piece = chunk[: min(CHUNK, total - sent)]
        queue.append(bytes(piece))
        sent += len(piece)
        out += queue.popleft()
        data = bytes(out)
        out.clear()
        got += len(data)
        total_sum += sum(data)
    seconds = (time.perf_counter_ns() - t0) / 1e9
    _check(got, total_sum, total)
    return total / seconds


def data_floor_bytes(total: int) -> float:
    chunk = _pattern(CHUNK)
    out = bytearray()
    got = total_sum = 0
    t0 = time.perf_counter_ns()
    sent = 0
    while sent < total:
        piece = chunk[: min(CHUNK, total - sent)]
        sent += len(piece)
        for byte in piece:
            out.append(byte)
        data = bytes(out)
        out.clear()
        got += len(data)
        total_sum += sum(data)
    seconds = (time.perf_counter_ns() - t0) / 1e9
    _check(got, total_sum, total)
    return total / seconds


def _connected_pair() -> tuple[Sim, ModemEngine, ModemEngine]:
    sim = Sim()
    a, b = sim.add_modem("A", "1001"), sim.add_modem("B", "1002")
    sim.type(b, "ATE0S0=1\r")
    sim.type(a, "ATE0\r")
    sim.type(a, "ATD1002\r")
    if not sim.run_until(
        lambda: b"CONNECT" in sim.peek(a) and b"CONNECT" in sim.peek(b), timeout=120
    ):
        raise RuntimeError(f"no CONNECT: A {sim.peek(a)!r} B {sim.peek(b)!r}")
    sim.output(a)
    sim.output(b)
    return sim, a, b


def data_engines(total: int) -> float:
    sim, a, b = _connected_pair()
    exchange = sim.exchange
    chunk = _pattern(CHUNK)
    got = total_sum = 0
    t0 = time.perf_counter_ns()
    sent = 0
    while sent < total:
        piece = chunk[: min(CHUNK, total - sent)]
        while piece:
            room = a.dte_room()
            if room <= 0:
                raise RuntimeError("no room although B's buffer was drained")
            a.receive_dte(piece[:room])
            sent += min(room, len(piece))
            piece = piece[room:]
            exchange.tick()
            data = b.read_dte()
            got += len(data)
            total_sum += sum(data)
    seconds = (time.perf_counter_ns() - t0) / 1e9
    _check(got, total_sum, total)
    return total / seconds


def data_sim(total: int) -> float:
    sim, a, b = _connected_pair()
    chunk = _pattern(CHUNK)
    got = total_sum = 0
    t0 = time.perf_counter_ns()
    sent = 0
    while sent < total:
        piece = chunk[: min(CHUNK, total - sent)]
        sim.type(a, piece)
        sent += len(piece)
        data = sim.output(b)
        got += len(data)
        total_sum += sum(data)
    seconds = (time.perf_counter_ns() - t0) / 1e9
    _check(got, total_sum, total)
    return total / seconds


# -- small reads of a full output buffer ---------------------------------------------------

SMALL_READ = 16


def small_reads_floor(repeat: int) -> float:
    payload = _pattern(OUTPUT_LIMIT)
    t0 = time.perf_counter_ns()
    for _ in range(repeat):
        view = memoryview(payload)
        got = bytearray()
        for i in range(0, len(payload), SMALL_READ):
            got += bytes(view[i : i + SMALL_READ])
        if got != payload:
            raise RuntimeError("floor small reads")
    return repeat * OUTPUT_LIMIT / ((time.perf_counter_ns() - t0) / 1e9)


def small_reads_engine(repeat: int) -> float:
    sim, a, b = _connected_pair()
    sim.modems.remove(b)  # B's DTE is read by hand below
    payload = _pattern(OUTPUT_LIMIT)
    elapsed = 0
    for _ in range(repeat):
        a.receive_dte(payload)
        sim.exchange.tick()
        if b.dte_pending() != OUTPUT_LIMIT:
            raise RuntimeError(f"B holds {b.dte_pending()} bytes, not a full buffer")
        got = bytearray()
        t0 = time.perf_counter_ns()
        while b.dte_pending():
            got += b.read_dte(SMALL_READ)
        elapsed += time.perf_counter_ns() - t0
        if got != payload:
            raise RuntimeError("engine small reads")
    return repeat * OUTPUT_LIMIT / (elapsed / 1e9)


def _check(got: int, total_sum: int, total: int) -> None:
    chunk = _pattern(CHUNK)
    expect = sum(chunk) * (total // CHUNK) + sum(chunk[: total % CHUNK])
    if got != total or total_sum != expect:
        raise RuntimeError(f"data check failed: {got} of {total} bytes, sum {total_sum}")


# -- report ----------------------------------------------------------------------------------

AT_ROWS: tuple[tuple[str, str, Callable[[int], float]], ...] = (
    ("at.floor", 'floor: REPLY * data.count(b"\\r")', at_floor),
    ("at.engine", "ModemEngine.receive_dte + read_dte", at_engine),
    ("at.sim", "Sim.type + Sim.output", at_sim),
)
DATA_ROWS: tuple[tuple[str, str, Callable[[int], float]], ...] = (
    ("data.floor_chunks", "floor: chunk copy through a deque", data_floor_chunks),
    ("data.floor_bytes", "floor: per-byte Python loop", data_floor_bytes),
    ("data.engines", "engines + exchange.tick, direct", data_engines),
    ("data.sim", "Sim.type(A) + Sim.output(B)", data_sim),
)

SMALL_READ_ROWS: tuple[tuple[str, str, Callable[[int], float]], ...] = (
    ("reads.floor", "floor: 16-byte memoryview slices of bytes", small_reads_floor),
    ("reads.engine", "ModemEngine.read_dte(16) of a full buffer", small_reads_engine),
)


def report(results: bl.Results, commands: int, kib: int, rounds: int) -> str:
    at_rows = []
    for key, label, _ in AT_ROWS:
        med, span = bl.summary([v / 1000 for v in results.series(key)])
        per, _ = bl.summary([1e6 / v for v in results.series(key)])
        slower, sspan = results.ratio_cell("at.floor", key)
        at_rows.append([label, med, span, per, bl.times(slower), sspan])
    data_rows = []
    for key, label, _ in DATA_ROWS:
        med, span = bl.summary([v / 2**20 for v in results.series(key)])
        per, _ = bl.summary([1e9 / v for v in results.series(key)])
        r1, s1 = results.ratio_cell("data.floor_chunks", key)
        r2, s2 = results.ratio_cell("data.floor_bytes", key)
        data_rows.append([label, med, span, per, bl.times(r1), s1, bl.times(r2), s2])
    reads_rows = []
    for key, label, _ in SMALL_READ_ROWS:
        med, span = bl.summary([v / 2**20 for v in results.series(key)])
        slower, sspan = results.ratio_cell("reads.floor", key)
        reads_rows.append([label, med, span, bl.times(slower), sspan])
    return (
        "## Engine throughput in process, no I/O (bench/engine_throughput.py)\n\n"
        f"{commands} AT round trips and {kib} KiB of data per row, {rounds} round(s), "
        "one thread, ManualClock. *time ×* = how many times longer than the floor "
        "each item takes (floor rate / row rate, within each round).\n\n"
        + bl.table(
            ["AT round trips (E0)", "k cmd/s", "min-max", "µs/cmd", "time × floor", "min-max"],
            at_rows,
        )
        + "\n\n"
        + bl.table(
            [
                "data A → B, 4 KiB chunks",
                "MiB/s",
                "min-max",
                "ns/byte",
                "time × chunk floor",
                "min-max",
                "time × per-byte floor",
                "min-max",
            ],
            data_rows,
        )
        + "\n\n"
        + bl.table(
            [
                "16-byte reads of a full 64 KiB buffer",
                "MiB/s",
                "min-max",
                "time × floor",
                "min-max",
            ],
            reads_rows,
        )
        + bl.failures(results)
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    bl.common_args(parser, rounds=5)
    parser.add_argument("--commands", type=int, default=20000, help="AT round trips per row")
    parser.add_argument("--kib", type=int, default=512, help="KiB of data per row")
    args = parser.parse_args()
    rounds, commands, kib = (
        (1, 2000, 128) if args.quick else (args.rounds, args.commands, args.kib)
    )
    results = bl.Results()
    for rnd in range(1, rounds + 1):
        bl.log(f"engine_throughput: round {rnd}/{rounds}")
        for key, _, fn in AT_ROWS:
            results.measure(rnd, key, functools.partial(fn, commands))
        for key, _, fn in DATA_ROWS:
            results.measure(rnd, key, functools.partial(fn, kib * 1024))
        for key, _, fn in SMALL_READ_ROWS:
            results.measure(rnd, key, functools.partial(fn, max(1, kib // 64)))
    print(report(results, commands, kib, rounds))
    settings = {"commands": commands, "kib": kib, "rounds": rounds, "chunk": CHUNK}
    bl.write_json(args.json, "engine_throughput", results, settings)
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
