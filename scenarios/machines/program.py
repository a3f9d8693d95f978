"""What a stack-machine run did, step by step, as a replayable scenario.

Every rule of `StackMachine` appends the steps it took (a TAPI call with the return code
the reference model expects, a far-side action, the settling `advance`) to a `Program`.
On a failure the program is printed and written as a ``*.scenario.yaml`` file that
``linelab run`` replays: handle values are written as numbers, which is sound because
handles and request IDs come from counters that only grow (R9), so the same calls on a
fresh stack give the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Step = dict[str, Any]


@dataclass
class Program:
    """The steps so far, the world they ran in and the apps still live at the end."""

    world: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def text(
        self,
        *,
        name: str,
        failure: str,
        live_apps: list[int | tuple[int, str]],
        trace: str = "",
    ) -> str:
        """The program as a scenario file: the steps, then a lineShutdown of every app the
        model still holds (``finally:``; ``(h, client)`` by that client app), so the
        default teardown checks apply."""
        scenario: dict[str, Any] = {
            "name": name,
            "source": "linelab fuzz (scenarios.machines.stack)",
            "tags": ["fuzz", "regression"],
            "world": self.world,
            "steps": self.steps or [{"advance": "0s"}],
        }
        if live_apps:
            scenario["finally"] = [
                {"call": "lineShutdown", "by": h[1], "args": [h[0]], "returns": "any"}
                if isinstance(h, tuple)
                else {"call": "lineShutdown", "args": [h], "returns": "any"}
                for h in live_apps
            ]
        body = yaml.safe_dump({"spec": "1", "scenarios": [scenario]}, sort_keys=False, width=100)
        head = ["# Written by linelab fuzz: a failing program of the stack machine.", ""]
        head += [f"# failure: {line}" for line in failure.splitlines() or [""]]
        head += [f"# note: {n}" for n in self.notes]
        if trace:
            head += ["#", "# trace (AT transcript, last lines):"]
            head += [f"#   {line}" for line in trace.splitlines()]
        return "\n".join(head) + "\n" + body

    def write(self, directory: str | Path, **kw: Any) -> Path:
        """Write `text(**kw)` under `directory` as NAME.scenario.yaml; its path."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9]+", "-", str(kw.get("name", "fuzz"))).strip("-").lower()
        path = out / f"{stem or 'fuzz'}.scenario.yaml"
        n = 1
        while path.exists():
            n += 1
            path = out / f"{stem}-{n}.scenario.yaml"
        path.write_text(self.text(**kw), encoding="utf-8")
        return path


__all__ = ["Program", "Step"]
