"""State-machine steps per second: the machines of `scenarios/machines` against an
empty `RuleBasedStateMachine` running the same number of examples and steps.

- floor: a machine with one rule that does nothing and one invariant that does nothing
  (hypothesis's own cost per step: choosing rules, drawing arguments);
- the stack machine (`StackMachine`: the real stack, virtual modems, 2 virtual seconds
  settled after every rule, seven invariants);
- the modem machine (`ModemMachine`: the AT engine on `Sim`).

Each row runs with `derandomize` and only the generate phase (no shrinking), so every
round runs the same programs. The table shows steps per second and the ratio to the
floor (median over rounds, min-max beside it).

    python bench/state_machine.py [--rounds 3] [--examples 10] [--steps 30] [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import benchlib as bl
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from scenarios.machines.modem import ModemMachine
from scenarios.machines.stack import StackMachine, configured

COUNT: dict[str, int] = {"steps": 0}


class Empty(RuleBasedStateMachine):
    @rule()
    def nothing(self) -> None:
        COUNT["steps"] += 1

    @invariant()
    def holds(self) -> None:
        pass


def _count_stack(machine: StackMachine) -> None:
    COUNT["steps"] += machine.steps


def _run(machine: Any, examples: int, steps: int) -> float:
    """Steps per second of `machine` over `examples` programs of up to `steps` steps."""
    options = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    COUNT["steps"] = 0
    started = time.perf_counter()
    run_state_machine_as_test(machine, settings=options)
    return COUNT["steps"] / (time.perf_counter() - started)


class CountedModemMachine(ModemMachine):
    """ModemMachine counting its steps: invariants run once before the first step and
    once after each step."""

    def __init__(self) -> None:
        super().__init__()
        COUNT["steps"] -= 1

    @invariant()
    def count(self) -> None:
        COUNT["steps"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    bl.common_args(parser, rounds=3)
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rounds, examples = (1, 3) if args.quick else (args.rounds, args.examples)
    stack = configured(observer=_count_stack)
    modem = CountedModemMachine
    results = bl.Results()
    for rnd in range(rounds):
        bl.log(f"round {rnd + 1}/{rounds}")
        results.measure(rnd, "empty", lambda: _run(Empty, examples, args.steps))
        results.measure(rnd, "stack", lambda: _run(stack, examples, args.steps))
        results.measure(rnd, "modem", lambda: _run(modem, examples, args.steps))
    rows = []
    for key, what in (
        ("empty", "empty RuleBasedStateMachine (floor)"),
        ("stack", "stack machine: real stack, virtual modems"),
        ("modem", "modem machine: AT engine on Sim"),
    ):
        med, spread = results.cell(key)
        ratio, rspread = results.ratio_cell(key, "empty")
        rows.append([what, med, spread, bl.times(ratio), rspread])
    print("## State machines (bench/state_machine.py)\n")
    print(
        f"{examples} examples of up to {args.steps} steps each, generate phase only, "
        f"{rounds} round(s).\n"
    )
    header = ["machine", "steps/s", "min-max", "vs empty", "min-max"]
    print(bl.table(header, rows) + bl.failures(results))
    bl.write_json(args.json, "state_machine", results, {"examples": examples, "steps": args.steps})


if __name__ == "__main__":
    main()
