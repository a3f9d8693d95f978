"""The pytest plugin (entry point ``pytest11: linelab``).

- Every ``*.scenario.yaml`` file pytest finds is collected: one item per scenario and
  per ``data:`` row, named as in `linelab run` (``file-stem::name[row]`` is the id; the
  item's name is the part after ``::``), located at the scenario's line, so ``-k``,
  ``-x``, ``--junitxml`` and markers work. ``tags:`` become markers (registered, so
  ``--strict-markers`` accepts them). A bad file is one collection error naming the
  file, the line and the key. ``todo:`` on the virtual target is a strict xfail.
- Fixtures on virtual time for your own tests (synchronous; no sleeps needed):
  ``linelab_clock`` (the `VirtualTime`), ``linelab_exchange`` (the exchange, each
  method run on the emulator's loop), ``linelab_modem`` (a pyserial port on modem A,
  number 1001), ``linelab_modem_pair`` (ports on A and B, 1002), ``linelab_tapi``
  (a fresh `tapi.Stack` whose line devices 0 and 1 are modems A and B). A modem is
  either yours through a port or the stack's line, not both at once.
- A failing test that used them shows the AT transcript and the hierarchy tree.

Items are sorted by id, so pytest-xdist workers collect the same list
(``-n auto --dist loadfile`` keeps each file on one worker).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from linelab.errors import SpecError
from linelab.vtime import VirtualTime
from scenarios.language import DEFAULT_FAR_ENDS, Case, ModemSpec, World, cases, load_file
from scenarios.runner import Result, run_case, skip_reason
from scenarios.world import VirtualWorld
from tapi.stack import Stack

SUFFIXES = (".scenario.yaml", ".scenario.yml")
_WORLD_KEY = pytest.StashKey[VirtualWorld]()


class ScenarioFailure(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if file_path.name.endswith(SUFFIXES):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            found = cases(load_file(self.path))
        except SpecError as exc:
            raise self.CollectError(str(exc)) from None
        for case in found:
            for tag in case.scenario.tags:
                if tag not in _registered(self.config):
                    self.config.addinivalue_line("markers", f"{tag}: linelab scenario tag")
            yield ScenarioItem.from_parent(self, name=case.id.partition("::")[2], case=case)


def _registered(config: pytest.Config) -> set[str]:
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}


class ScenarioItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        for tag in case.scenario.tags:
            self.add_marker(tag)
        reason = skip_reason(case.scenario, VirtualWorld.provides, "virtual")
        if reason is not None:
            self.add_marker(pytest.mark.skip(reason=reason))

    def runtest(self) -> None:
        result = run_case(self.case)
        if result.interrupted:
            raise KeyboardInterrupt
        if result.status == "skipped":
            pytest.skip(result.reason or "skipped")
        if result.status == "todo":
            pytest.xfail(f"todo on virtual: {result.reason}")
        if result.status == "failed":
            raise ScenarioFailure(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            return excinfo.value.result.report()
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.scenario.where.line - 1, self.case.id


# -- fixtures ---------------------------------------------------------------------------


def _fixture_world() -> World:
    return World(
        modems={
            "A": ModemSpec("A", "1001", "generic"),
            "B": ModemSpec("B", "1002", "generic"),
        },
        far=dict(DEFAULT_FAR_ENDS),
        lines=["A", "B"],
        apps={},
    )


@pytest.fixture
def linelab_world(request: pytest.FixtureRequest) -> Iterator[VirtualWorld]:
    """Modems A (1001) and B (1002), the default far ends (5550100 echo, 5550101
    busy, 5550102 no answer, 5550103 hangs up after 10 s) and a stack, on one
    virtual-time loop; the fixtures below hand out its parts."""
    world = VirtualWorld(_fixture_world())
    request.node.stash[_WORLD_KEY] = world
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def linelab_clock(linelab_world: VirtualWorld) -> VirtualTime:
    """The virtual clock: ``now()``, ``sleep(seconds)`` (time passes at once)."""
    return linelab_world.vt


class _OnLoop:
    """An object whose methods run on the emulator's loop thread (thread-safe use)."""

    def __init__(self, target: Any, world: VirtualWorld) -> None:
        self._target = target
        self._world = world

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def on_loop(*args: Any, **kwargs: Any) -> Any:
            return self._world.call(lambda: value(*args, **kwargs))

        return on_loop


@pytest.fixture
def linelab_exchange(linelab_world: VirtualWorld) -> Any:
    """The virtual exchange (`emulator.network.exchange.Exchange`); every method runs on its
    loop: ``linelab_exchange.set_far("5550199", "answer,after=3s")``,
    ``linelab_exchange.place_call("1001", CallerId("5551234", "Alice"))``."""
    return _OnLoop(linelab_world.host.exchange, linelab_world)


@pytest.fixture
def linelab_modem(linelab_world: VirtualWorld) -> serial.SerialBase:
    """A pyserial port on modem A (1001). Reads wait on virtual time."""
    return linelab_world.at_port("A")


@pytest.fixture
def linelab_modem_pair(linelab_world: VirtualWorld) -> tuple[serial.SerialBase, serial.SerialBase]:
    """pyserial ports on modems A (1001) and B (1002), which can call each other."""
    return linelab_world.at_port("A"), linelab_world.at_port("B")


@pytest.fixture
def linelab_tapi(linelab_world: VirtualWorld) -> Stack:
    """A fresh `tapi.Stack`: device 0 is modem A, device 1 modem B."""
    return linelab_world.stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    world = item.stash.get(_WORLD_KEY, None)
    if world is not None and call.when == "call" and report.failed:
        _add_sections(report, world)
    return report


def _add_sections(report: pytest.TestReport, world: VirtualWorld) -> None:
    from scenarios.runner import _record_line

    try:
        tree = world.stack.hierarchy().render()
    except Exception as exc:  # the picture must never hide the failure
        tree = f"(could not read the hierarchy: {exc!r})"
    lines = [_record_line(r) for r in list(world.records)[-60:]]
    report.sections.append(("linelab hierarchy", tree))
    report.sections.append(("linelab AT transcript (last 60 records)", "\n".join(lines)))


__all__ = ["ScenarioFailure", "ScenarioFile", "ScenarioItem"]
