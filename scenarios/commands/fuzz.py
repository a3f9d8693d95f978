"""`linelab fuzz`: random open/close/shutdown orderings against a line (docs/fuzz.md).

Runs the stack machine (`scenarios.machines.stack`) against the built-in virtual modems,
or a real modem (``--port``, ``--config``), shows progress, and on a failure prints the
shortest failing program hypothesis found and writes it as a ``*.scenario.yaml`` file
under ``--out`` that ``linelab run`` replays.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import TextIO

from hypothesis import HealthCheck, settings
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from linelab.errors import LinelabError
from scenarios.machines.stack import StackMachine, configured
from scenarios.world import check_reachable
from tapi.config import LineConfig, load_lines

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
STEPS_PER_RUN = 50


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fuzz",
        help="random TAPI open/close/shutdown orderings against a line (hypothesis)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="Exit status: 0 no invariant failed; 1 a failure (its program is printed and "
        "written under --out); 2 bad usage; 3 the --port/--config target could not be "
        "opened; 130 interrupted.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--port", metavar="URL", help="fuzz a real modem on this port")
    source.add_argument("--config", metavar="FILE", help="fuzz the lines of this file")
    parser.add_argument(
        "--pty",
        action="store_true",
        help="serve the built-in modems on real ptys and open them with pyserial "
        "(default: in-process vmodem:// ports); still on virtual time",
    )
    parser.add_argument("--steps", type=int, default=300, metavar="N", help="rule steps in all")
    parser.add_argument("--seed", type=int, default=None, metavar="S", help="random seed")
    parser.add_argument(
        "--max-time", type=float, default=None, metavar="T", help="stop starting runs after T s"
    )
    parser.add_argument(
        "--out", default="fuzz-failures", metavar="DIR", help="where a failing program goes"
    )
    parser.set_defaults(func=run)


class Progress:
    """Steps, rules hit and invariants checked, one line per finished run."""

    def __init__(self, out: TextIO, budget: int, deadline: float | None) -> None:
        self.out = out
        self.budget = budget
        self.deadline = deadline
        self.runs = self.steps = self.checks = self.stale = 0
        self.rules: dict[str, int] = {}

    def __call__(self, machine: StackMachine) -> None:
        self.runs += 1
        self.steps += machine.steps
        self.checks += machine.checks
        self.stale += machine.stale_tried
        for name, n in machine.rules_hit.items():
            self.rules[name] = self.rules.get(name, 0) + n
        self.out.write(
            f"\rruns {self.runs}  steps {self.steps}/{self.budget}  "
            f"rules hit {len(self.rules)}  invariants checked {self.checks}   "
        )
        self.out.flush()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeUp(f"--max-time reached after {self.steps} steps")

    def summary(self) -> str:
        rules = ", ".join(f"{k} {v}" for k, v in sorted(self.rules.items()))
        return (
            f"{self.runs} runs, {self.steps} steps, {self.checks} invariant checks, "
            f"{self.stale} calls on stale handles\n"
            f"rules hit: {rules}"
        )


class TimeUp(Exception):
    """--max-time ran out (not a failure)."""


def run(args: argparse.Namespace) -> int:
    if args.pty and (args.port is not None or args.config is not None):
        print("linelab fuzz: --pty serves the built-in modems; not with --port/--config",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if args.steps < 1:
        print("linelab fuzz: --steps must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    configs: list[LineConfig] | None = None
    try:
        if args.port is not None:
            configs = [LineConfig(name=f"Modem on {args.port}", port=args.port, source="--port")]
        elif args.config is not None:
            configs = load_lines(args.config)
    except LinelabError as exc:
        print(f"linelab fuzz: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if configs:
        problem = check_reachable(configs)
        if problem is not None:
            print(f"linelab fuzz: {problem}", file=sys.stderr)
            return EXIT_UNREACHABLE
    deadline = None if args.max_time is None else time.monotonic() + args.max_time
    progress = Progress(sys.stdout, args.steps, deadline)
    machine = configured(
        configs, observer=progress, out_dir=args.out, transport="pty" if args.pty else "vmodem"
    )
    per_run = min(STEPS_PER_RUN, args.steps)
    options = settings(
        max_examples=max(1, math.ceil(args.steps / per_run)),
        stateful_step_count=per_run,
        deadline=None,
        database=None,
        # Hypothesis loads its "ci" profile (derandomize=True) when $CI is set, which
        # would ignore --seed: a CI run must draw what the same seed draws elsewhere.
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    target = "the built-in virtual modems" if configs is None else f"{len(configs)} line(s)"
    if args.pty:
        target += " on ptys"
    print(f"linelab fuzz: {args.steps} steps against {target}, seed {args.seed}")
    try:
        _run(machine, options, args.seed)
    except TimeUp as done:
        print(f"\n{done}")
    except KeyboardInterrupt:
        print("\ninterrupted\n" + progress.summary())
        return EXIT_INTERRUPTED
    except (AssertionError, HypothesisException, Exception) as exc:
        print("\n\nFAILED: " + str(exc).splitlines()[0])
        print(progress.summary())
        last = machine.last_machine
        if last is not None:
            path = last.write_failure(args.out, exc)
            print(f"\nshortest failing program (hypothesis):\n{_program_of(exc)}")
            print(f"scenario written: {path} (replay: linelab run {path})")
        return EXIT_FAILED
    print("\n" + progress.summary())
    print("no invariant failed")
    return EXIT_OK


def _run(machine: type[StackMachine], options: settings, seed: int | None) -> None:
    """Run the machine; with a seed, hypothesis draws from ``Random(seed)`` (what
    pytest's ``--hypothesis-seed`` does)."""
    import hypothesis.core

    previous = hypothesis.core.global_force_seed
    hypothesis.core.global_force_seed = seed  # type: ignore[assignment]
    try:
        run_state_machine_as_test(machine, settings=options)
    finally:
        hypothesis.core.global_force_seed = previous


def _program_of(exc: BaseException) -> str:
    notes = getattr(exc, "__notes__", [])
    return "\n".join(n for n in notes if not n.startswith("You can reproduce")) or str(exc)
