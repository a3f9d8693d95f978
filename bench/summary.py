"""The one table of issue 12: every row's figure, its floor, the ratio, the goal, met or not.

Reads the per-round figures that `bench/run.sh` had each benchmark write to
bench/out/*.json and prints one markdown table (ratios worked out inside each round,
median over the rounds, as everywhere in bench/), with the machine and the date.

    python bench/summary.py [--no-machine] [OUT_DIR]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

import benchlib as bl


@dataclass
class Figures:
    """One benchmark's per-round values: key -> {round: value}."""

    values: dict[str, dict[str, float]]
    settings: dict[str, object]

    def median(self, key: str) -> float | None:
        got = list(self.values.get(key, {}).values())
        return statistics.median(got) if got else None

    def ratio(self, num: str, den: str) -> float | None:
        a, b = self.values.get(num, {}), self.values.get(den, {})
        per_round = [a[r] / b[r] for r in a if b.get(r)]
        return statistics.median(per_round) if per_round else None


def load(out: str, name: str) -> Figures:
    try:
        with open(os.path.join(out, f"{name}.json"), encoding="utf-8") as f:
            data = json.load(f)
            return Figures(data["values"], data.get("settings", {}))
    except (OSError, ValueError, KeyError):
        return Figures({}, {})


def _num(value: float | None, unit: str = "") -> str:
    return "not measured" if value is None else f"{bl.fmt(value)}{unit}"


def rows(out: str) -> list[list[str]]:
    lat = load(out, "modem_latency")
    thr = load(out, "modem_throughput")
    stack = load(out, "tapi_stack")
    farm = load(out, "modem_farm")
    server = load(out, "tapi_server")
    table: list[list[str]] = []

    def add(
        what: str,
        figure: str,
        floor: str,
        ratio: float | None,
        goal: str,
        met: Callable[[float], bool],
    ) -> None:
        verdict = "—" if ratio is None else ("met" if met(ratio) else "not met")
        table.append(
            [
                what,
                figure,
                floor,
                "n/a" if ratio is None else bl.times(bl.fmt(ratio)),
                goal,
                verdict,
            ]
        )

    for loop, label in (("modem", ""), ("modem.uvloop", ", uvloop")):
        if not lat.values.get(f"{loop}.p50") and loop != "modem":
            continue
        for p, goal in (("p50", 1.2), ("p90", 1.4), ("p99", 1.4)):
            add(
                f"AT round trip over the pty, {p}{label}",
                _num(lat.median(f"{loop}.{p}"), " µs"),
                f"C responder {_num(lat.median(f'c.{p}'), ' µs')}",
                lat.ratio(f"{loop}.{p}", f"c.{p}"),
                f"≤ ×{goal}",
                lambda r, g=goal: r <= g,
            )
    if lat.values.get("inproc.modem"):
        add(
            "AT: linelab's own work per AT, in process (best batch)",
            _num(lat.median("inproc.extra"), " µs"),
            f"same system calls, no logic {_num(lat.median('inproc.floor'), ' µs')}",
            lat.ratio("inproc.modem", "inproc.floor"),
            "(no goal)",
            lambda r: True,
        )
    for loop, label in (("modem", ""), ("modem.uvloop", ", uvloop")):
        if not thr.values.get(loop) and loop != "modem":
            continue
        add(
            f"data mode A → exchange → B, ptys{label}",
            _num(thr.median(loop), " MiB/s"),
            f"C relay {_num(thr.median('c'), ' MiB/s')}",
            thr.ratio(loop, "c"),
            "≥ ×0.9",
            lambda r: r >= 0.9,
        )
    n = farm.settings.get("n")
    for sub, what, unit in (
        ("start", "start-up", " s"),
        ("turn", "one AT each in turn, total", " s"),
        ("turn_p99", "one AT each in turn, p99", " s"),
        ("once", "one AT each all at once, total", " s"),
        ("once_p99", "one AT each all at once, p99", " s"),
        ("rss", "RSS", " MiB"),
    ):
        add(
            f"modems in one process{f' ({n})' if n else ''}: {what}",
            _num(farm.median(f"modem.{sub}"), unit),
            f"bare asyncio pty farm {_num(farm.median(f'floor.{sub}'), unit)}",
            farm.ratio(f"modem.{sub}", f"floor.{sub}"),
            "≤ ×2",
            lambda r: r <= 2,
        )
    tpw = stack.median("telephony_per_wall")
    add(
        "telephony time per wall time, 60 s dial-ring-S7 over a pty",
        _num(tpw, "×"),
        "real time",
        tpw,
        "≥ ×1000",
        lambda r: r >= 1000,
    )
    fake, pty = stack.median("cycle.fake"), stack.median("cycle.pty")
    add(
        "TAPI call cycle over the pty (time per cycle)",
        _num(pty, " cycles/s"),
        f"fake provider {_num(fake, ' cycles/s')}",
        stack.ratio("cycle.fake", "cycle.pty"),
        "≤ ×3",
        lambda r: r <= 3,
    )
    ms1000, ms100 = stack.median("shutdown.1000"), stack.median("shutdown.100")
    add(
        "lineShutdown, 1000 lines vs 100, CPU time (linear: ×10)",
        _num(None if ms1000 is None else ms1000 * 1e3, " ms"),
        f"100 lines {_num(None if ms100 is None else ms100 * 1e3, ' ms')}",
        stack.ratio("shutdown.1000", "shutdown.100"),
        "≤ ×20",
        lambda r: r <= 20,
    )
    add(
        "one flat TAPI call through tapisrv",
        _num(server.median("call.server"), " µs"),
        f"in process {_num(server.median('call.local'), ' µs')}",
        server.ratio("call.server", "call.local"),
        "(no goal)",
        lambda r: True,
    )
    return table


def main(argv: list[str]) -> int:
    machine = "--no-machine" not in argv
    argv = [a for a in argv if a != "--no-machine"]
    out = argv[0] if argv else os.path.join(bl.BENCH, "out")
    print("## Issue 12: every figure against its floor (same run)\n")
    if machine:
        for key, value in bl.machine().items():
            print(f"- {key}: {value}")
        print()
    print(bl.table(["what", "linelab", "floor (same run)", "ratio", "goal", "met"], rows(out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
