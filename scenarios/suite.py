"""Finding, selecting and running many cases: what `linelab run` and its workers share.

- `discover(paths)`: ``*.scenario.yaml`` files under the paths (the bundled library,
  `LIBRARY`, when none), loaded and checked before anything runs;
- `select(cases, keyword, tags)`: ``-k`` expressions (``and``, ``or``, ``not``,
  parentheses; a word matches a substring of the id or a tag, case-insensitively) and
  ``--tag``;
- `Target`: the built-in virtual modem, or the lines of ``--port``/``--config``;
- `run_cases()`: one after another in this process, or in N worker processes
  (``--jobs``). Each worker loads the file again and runs the case by id; results come
  back in the cases' order, so ``--jobs 2`` reports exactly what ``--jobs 1`` does.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linelab.errors import LinelabError, SpecError
from scenarios.language import Case, Scenario, Step, cases, load_file
from scenarios.runner import Result, run_case
from scenarios.world import (
    VIRTUAL_PROVIDES,
    PortWorld,
    VirtualWorld,
    port_numbers,
    port_provides,
)
from tapi.config import LineConfig

LIBRARY = Path(__file__).parent / "library"
PATTERNS = ("*.scenario.yaml", "*.scenario.yml")


def scenario_files(paths: list[str]) -> list[Path]:
    """The scenario files named or under the directories named (sorted, no repeats)."""
    roots = [Path(p) for p in paths] if paths else [LIBRARY]
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            for pattern in PATTERNS:
                found.extend(root.rglob(pattern))
        elif root.exists():
            found.append(root)
        else:
            raise SpecError(str(root), None, None, "no such file or directory")
    unique = sorted({p.resolve(): p for p in found}.values(), key=lambda p: str(p))
    if not unique:
        raise LinelabError(f"no *.scenario.yaml files under {', '.join(map(str, roots))}")
    return unique


def display_path(path: Path) -> str:
    """Paths relative to the working directory when below it (stable report lines)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def discover(paths: list[str]) -> list[Case]:
    """Every case of the files, sorted by id; the first bad file raises SpecError."""
    scenarios: list[Scenario] = []
    for path in scenario_files(paths):
        scenarios.extend(load_file(display_path(path)))
    found = cases(scenarios)
    seen: dict[str, Case] = {}
    for case in found:
        if case.id in seen:
            other = seen[case.id].scenario
            raise SpecError(
                case.scenario.path,
                case.scenario.where.line,
                "name",
                f"id {case.id!r} is also used by {other.path}:{other.where.line}",
            )
        seen[case.id] = case
    return found


# -- -k expressions ----------------------------------------------------------------------

_TOKENS = re.compile(r"\s*(\(|\)|[^\s()]+)")


def keyword_matcher(expr: str) -> Callable[[str, list[str]], bool]:
    """A predicate over (id, tags) for a pytest-like ``-k`` expression."""
    tokens = _TOKENS.findall(expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise LinelabError(f"-k {expr!r}: the expression ends too early")
        pos += 1
        return str(tokens[pos - 1])

    Pred = Callable[[str], bool]

    def parse_or() -> Pred:
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda t: a(t) or b(t))(left, right)
        return left

    def parse_and() -> Pred:
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda t: a(t) and b(t))(left, right)
        return left

    def parse_not() -> Pred:
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda t: not inner(t)
        token = take()
        if token == "(":
            inner = parse_or()
            if take() != ")":
                raise LinelabError(f"-k {expr!r}: a ( without its )")
            return inner
        if token in (")", "and", "or"):
            raise LinelabError(f"-k {expr!r}: unexpected {token!r}")
        word = token.lower()
        return lambda t: word in t

    if not tokens:
        raise LinelabError("-k needs an expression")
    predicate = parse_or()
    if pos != len(tokens):
        raise LinelabError(f"-k {expr!r}: unexpected {tokens[pos]!r}")

    def match(case_id: str, tags: list[str]) -> bool:
        return predicate(" ".join([case_id.lower(), *tags]))

    return match


def select(found: list[Case], keyword: str | None, tags: list[str]) -> list[Case]:
    out = found
    if keyword:
        match = keyword_matcher(keyword)
        out = [c for c in out if match(c.id, c.scenario.tags)]
    if tags:
        out = [c for c in out if set(tags) & set(c.scenario.tags)]
    return out


# -- targets -----------------------------------------------------------------------------


@dataclass
class Target:
    """Where cases run: the built-in virtual modem (no configs) or real lines."""

    configs: list[LineConfig] = field(default_factory=list)
    # The modems' profile: on the virtual target it replaces every modem's; on a port
    # it declares what the real modem is (the facts scenarios rely on). Name or path.
    profile: str | None = None

    @property
    def name(self) -> str:
        return "port" if self.configs else "virtual"

    def describe(self) -> str:
        shown = f" (profile {self.profile})" if self.profile else ""
        if not self.configs:
            return "the built-in virtual modem" + shown
        return (
            ", ".join(
                (c.name if c.name.endswith(f" on {c.port}") else f"{c.name} on {c.port}")
                + (f" (number {c.number})" if c.number else "")
                for c in self.configs
            )
            + shown
        )

    def run(
        self,
        case: Case,
        *,
        keep_records: bool = False,
        on_step: Callable[[Step], None] | None = None,
    ) -> Result:
        if not self.configs:
            return run_case(
                case,
                lambda s: VirtualWorld(s.world),
                provides=VIRTUAL_PROVIDES,
                target="virtual",
                keep_records=keep_records,
                on_step=on_step,
                profile=self.profile,
            )
        configs = self.configs
        if len(case.scenario.world.lines) > len(configs):
            result = run_case(case, provides=frozenset({"-"}), target="port")
            result.status = "skipped"
            result.reason = (
                f"needs {len(case.scenario.world.lines)} lines; the target has {len(configs)}"
            )
            return result
        return run_case(
            case,
            lambda s: PortWorld(s.world, configs),
            provides=port_provides(configs) | port_numbers(configs),
            target="port",
            keep_records=keep_records,
            on_step=on_step,
            profile=self.profile or "generic",
        )


# -- running -----------------------------------------------------------------------------


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: the parent decides; a worker finishes
    # the case it has (steps, finally, teardown) and takes no new one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_run(path: str, case_id: str, target: Target, keep_records: bool) -> dict[str, Any]:
    for case in cases(load_file(path)):
        if case.id == case_id:
            return target.run(case, keep_records=keep_records).to_dict()
    raise LinelabError(f"{path}: no case {case_id!r} (did the file change?)")


def run_cases(
    todo: list[Case],
    target: Target,
    *,
    jobs: int = 1,
    keep_records: bool = False,
    on_start: Callable[[Case], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Iterator[Result]:
    """Results in the order of `todo`. A KeyboardInterrupt stops after the running
    cases finished cleanly (their results are yielded), then propagates. `on_step`
    is only called when the cases run in this process (jobs 1)."""
    if jobs <= 1:
        for case in todo:
            if on_start:
                on_start(case)
            result = target.run(case, keep_records=keep_records, on_step=on_step)
            if on_result:
                on_result(result)
            yield result
            if result.interrupted:
                raise KeyboardInterrupt
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_worker_init
    ) as pool:
        futures = [
            pool.submit(_worker_run, c.scenario.path, c.id, target, keep_records) for c in todo
        ]
        done = 0
        try:
            for case, future in zip(todo, futures, strict=True):
                if on_start:
                    on_start(case)
                result = Result(**future.result())
                done += 1
                if on_result:
                    on_result(result)
                yield result
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            # The cases already running finish cleanly (workers ignore SIGINT); report them.
            for future in futures[done:]:
                if future.cancelled():
                    continue
                result = Result(**future.result())
                if on_result:
                    on_result(result)
                yield result
            raise


__all__ = ["LIBRARY", "Target", "discover", "keyword_matcher", "run_cases", "select"]
