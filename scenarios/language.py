"""The scenario language (``spec: "1"``): the model and its loader.

A file holds a list of scenarios::

    spec: "1"
    scenarios:
      - name: lineClose frees the call handles of its line
        source: https://learn.microsoft.com/en-us/windows/win32/api/tapi/nf-tapi-lineclose
        world: {modems: {A: {number: "1001"}}, lines: [A]}
        steps:
          - call: lineInitializeEx
            ...

`load_file()` reads one through `linelab.specfile` (safe loading: plain scalars only)
and checks everything that can be checked before anything runs: keys, constants,
function and argument names, durations, far-end behaviours, profiles, and the flow of
``$variables`` (used before saved, or saved and never used). The first problem is one
`SpecError` naming the file, the line, the key and what was expected. docs/scenarios.md
is the manual.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.core.profile import load_profile
from emulator.network.farend import parse_behaviour, validate_for_caller
from linelab.errors import LinelabError, SpecError
from linelab.specfile import SpecItem, SpecMap, load_spec, parse_spec
from scenarios import facts
from scenarios.coverage import unknown as unknown_coverage_id
from scenarios.values import (
    ANY,
    CALLBACK,
    FUNCTIONS,
    Expr,
    constant,
    parse_duration,
    parse_expr,
    struct_fields,
    variables_in,
)

KIND = "scenario"
#: What a scenario may need from its target (`needs:`).
NEEDS = ("exchange", "far-end", "server", "process", "tapi3", "signals")
#: The teardown checks run after every scenario (opt out with `unchecked:`).
CHECKS = ("hierarchy", "orphans", "stale_handles", "modems", "faults", "leaks")
#: Targets a `todo:` may name.
TARGETS = ("virtual", "port")
MESSAGE_FIELDS = ("hDevice", "dwCallbackInstance", "dwParam1", "dwParam2", "dwParam3")
DEFAULT_WITHIN = 30.0
ACTIONS = ("ring", "hangup", "carrier_loss", "dtr_drop", "remove_port", "kill", "advance")
KINDS = ("call", "com", "messages", "send", "dte", "repeat", *ACTIONS)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.,:()'/+-]{0,119}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_MODEM = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_NUMBER = re.compile(r"[0-9*#]{1,32}")
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

DEFAULT_FAR_ENDS: dict[str, str] = {
    "5550100": "answer,echo",
    "5550101": "busy",
    "5550102": "noanswer",
    "5550103": "answer,hangup=10s",
}


@dataclass(frozen=True)
class Where:
    """Where something was written (for reports: file:line and the key path)."""

    path: str
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class ModemSpec:
    name: str
    number: str | None
    profile: str
    dialtone: bool = True  # False: the exchange gives this line no dial tone


@dataclass
class World:
    modems: dict[str, ModemSpec]
    far: dict[str, str]
    lines: list[str]  # modem names that are the stack's line devices, device IDs in order
    apps: dict[str, str]  # name -> how it runs: "flat" | "tapi3" | "server" | "process"


@dataclass
class Pattern:
    """One expected (or ignored) message. `fields` holds what is checked; in an
    expectation an unnamed field must be 0, in an ``ignore:`` entry it is not checked."""

    name: str
    message_id: int
    fields: dict[str, Any]
    save: dict[str, str]  # variable -> field
    where: Where
    source: str | None = None

    def describe(self) -> str:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.fields.items())
        saved = ", ".join(f"{k}=>${v}" for v, k in self.save.items())
        inner = ", ".join(x for x in (shown, saved) if x)
        return f"{self.name}({inner})" if inner else self.name


@dataclass
class Unordered:
    patterns: list[Pattern]
    where: Where


@dataclass
class Step:
    """One step. `kind` is the action key (call, messages, send, repeat, or one of
    `ACTIONS`); `args` holds its parsed arguments."""

    kind: str
    where: Where
    args: dict[str, Any]
    source: str | None = None
    steps: list[Step] = field(default_factory=list)  # repeat:

    def title(self) -> str:
        a = self.args
        by = f" by {a['by']}" if a.get("by") else ""
        if self.kind == "call":
            return f"call {a['function']}{by}"
        if self.kind == "com":
            return f"com {a['name']}"
        if self.kind == "messages":
            shown = [
                p.describe() if isinstance(p, Pattern) else "unordered{…}" for p in a["expect"]
            ]
            return f"messages{by} " + (", ".join(shown) if shown else "(none)")
        if self.kind == "send":
            return f"send {a['text']!r} to {a['modem']}"
        if self.kind == "dte":
            shown = [f"{k}={'on' if a[k] else 'off'}" for k in ("dtr", "dcd") if a[k] is not None]
            return f"dte {a['modem']} " + " ".join(shown)
        if self.kind == "repeat":
            return f"repeat {a['times']}"
        if self.kind == "advance":
            return f"advance {a['seconds']:g} s"
        return f"{self.kind} {a.get('target', '')}".strip()


@dataclass
class Scenario:
    path: str
    name: str
    where: Where
    description: str
    source: str | None
    tags: list[str]
    needs: set[str]
    world: World
    steps: list[Step]
    finally_steps: list[Step]
    ignore: list[Pattern]
    unchecked: dict[str, str]
    final: dict[str, int] | None
    todo: dict[str, str]
    rows: list[tuple[str | None, dict[str, Any]]]  # (row id, values); (None, {}) without data:
    covers: list[str] = field(default_factory=list)  # coverage ids (scenarios/coverage.py)
    relies: list[str] = field(default_factory=list)  # profile facts (scenarios.facts)

    @property
    def stem(self) -> str:
        name = Path(self.path).name
        for suffix in (".scenario.yaml", ".scenario.yml", ".yaml", ".yml"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name

    @property
    def id(self) -> str:
        return f"{self.stem}::{self.name}"


@dataclass(frozen=True)
class Case:
    """One runnable item: a scenario with one `data:` row."""

    scenario: Scenario
    row_id: str | None
    row: dict[str, Any]

    @property
    def id(self) -> str:
        return self.scenario.id if self.row_id is None else f"{self.scenario.id}[{self.row_id}]"


def _show(value: Any) -> str:
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, int) and value > 9:
        return hex(value)
    return repr(value) if isinstance(value, str) else str(value)


# -- loading ---------------------------------------------------------------------------


def load_file(path: str | Path) -> list[Scenario]:
    """Every scenario of one file, checked; `SpecError` for the first problem."""
    return _Loader(load_spec(path, kind=KIND).root).scenarios()


def load_text(text: str, path: str) -> list[Scenario]:
    """Like `load_file` for text that claims to come from `path`."""
    return _Loader(parse_spec(text, path, kind=KIND).root).scenarios()


def cases(scenarios: list[Scenario]) -> list[Case]:
    """One `Case` per scenario and data row, sorted by id (stable across processes)."""
    out = [Case(s, rid, row) for s in scenarios for rid, row in s.rows]
    return sorted(out, key=lambda c: c.id)


def _arg_error(m: SpecMap, arg: str) -> Callable[[str], SpecError]:
    def fail(message: str) -> SpecError:
        return m.error("args", f"{arg}: {message}")

    return fail


def _at(m: SpecMap, key: str) -> Callable[[str], SpecError]:
    """A builder of the located error about `key` of `m`."""

    def fail(message: str) -> SpecError:
        return m.error(key, message)

    return fail


class _Flow:
    """The ``$variable`` check: used only after saved, every saved one used."""

    def __init__(self, given: dict[str, Where]) -> None:
        self.saved: dict[str, Where] = dict(given)
        self.used: set[str] = set()

    def use(self, names: list[str], fail: Any) -> None:
        for name in names:
            if name not in self.saved:
                raise fail(f"${name} is used but never saved before this step")
            self.used.add(name)

    def save(self, name: str, where: Where) -> None:
        self.saved.setdefault(name, where)

    def finish(self, rows: set[str]) -> None:
        for name, where in self.saved.items():
            if name not in self.used and name not in rows:
                raise SpecError(
                    where.path, where.line, where.key, f"${name} is saved but never used"
                )


class _Loader:
    def __init__(self, root: SpecMap) -> None:
        self.root = root
        self.path = root.path
        self.relies: list[str] = []

    def scenarios(self) -> list[Scenario]:
        root = self.root
        items = root.items("scenarios")
        root.reject_unknown({"spec"})
        if not items:
            raise root.error("scenarios", "must list at least one scenario")
        out: list[Scenario] = []
        names: dict[str, int] = {}
        for item in items:
            scenario = self.scenario(item)
            if scenario.name in names:
                raise item.error(
                    f"a second scenario named {scenario.name!r} (the first is on line "
                    f"{names[scenario.name]}); ids must be unique in a file"
                )
            names[scenario.name] = scenario.where.line
            out.append(scenario)
        return out

    def where(self, m: SpecMap | SpecItem, key: str | None = None) -> Where:
        if isinstance(m, SpecItem):
            return Where(self.path, m.line, m.key)
        line = m.line_of(key) if key is not None else m.line
        full = f"{m.prefix}.{key}" if key and m.prefix else (key or m.prefix)
        return Where(self.path, line, full)

    def scenario(self, item: SpecItem) -> Scenario:
        m = item.as_map()
        name = m.text("name")
        if not _NAME.fullmatch(name):
            raise m.error(
                "name",
                "must be 1-120 characters: letters, digits, space and _ . , : ( ) ' / + -"
                f" (starting with a letter or digit), not {name!r}",
            )
        description = m.text("description", "")
        source = m.text("source", None)
        tags = [self.tag(t) for t in m.items("tags", [])]
        covers: list[str] = []
        for c in m.items("covers", []):
            problem = unknown_coverage_id(c.value)
            if problem is not None:
                raise c.error(problem)
            if c.value in covers:
                raise c.error(f"{c.value!r} is listed twice")
            covers.append(c.value)
        needs: set[str] = set()
        for n in m.items("needs", []):
            if n.value not in NEEDS:
                raise n.error(f"must be one of {', '.join(NEEDS)}, not {n.value!r}")
            needs.add(n.value)
        world = self.world(m.mapping("world", None), m)
        for kind in world.apps.values():  # a client app needs its server (and processes)
            needs.update({"server": ("server",), "process": ("server", "process")}.get(kind, ()))
        if world.far:
            needs.add("far-end")  # a real line cannot script the numbers it calls
        if any(not spec.dialtone for spec in world.modems.values()):
            needs.add("exchange")  # only the exchange can take a line's dial tone away
        self.relies = self.relied(m)
        rows = self.rows(m)
        row_names = {k: Where(self.path, m.line_of("data"), "data") for _, r in rows for k in r}
        flow = _Flow(row_names)
        ignore = [self.pattern(i, strict=False, flow=None) for i in m.items("ignore", [])]
        steps = self.steps(m, "steps", world, flow, needs, required=True)
        finally_steps = self.steps(m, "finally", world, flow, needs, required=False)
        flow.finish(set(row_names))
        unchecked: dict[str, str] = {}
        um = m.mapping("unchecked", {})
        for key in um:
            if key not in CHECKS:
                raise um.error(key, f"not a teardown check; the checks are {', '.join(CHECKS)}")
            reason = um.text(key)
            if not reason.strip():
                raise um.error(key, "give the reason this check does not apply")
            unchecked[key] = reason
        final = None
        fm = m.mapping("final", None)
        if fm is not None:
            final = {k: fm.integer(k, 0, low=0, high=1000) for k in ("apps", "lines", "calls")}
            final["messages"] = fm.integer("messages", 0, low=0, high=100_000)
            fm.reject_unknown()
            if "hierarchy" in unchecked:
                raise m.error("final", "a final tree and unchecked: hierarchy contradict")
        todo: dict[str, str] = {}
        tm = m.mapping("todo", {})
        for key in tm:
            if key not in TARGETS:
                raise tm.error(key, f"must be a target: {', '.join(TARGETS)}")
            todo[key] = tm.text(key)
        m.reject_unknown()
        return Scenario(
            path=self.path,
            name=name,
            where=self.where(item),
            description=description,
            source=source,
            tags=tags,
            needs=needs,
            world=world,
            steps=steps,
            finally_steps=finally_steps,
            ignore=ignore,
            unchecked=unchecked,
            final=final,
            todo=todo,
            rows=rows,
            covers=covers,
            relies=self.relies,
        )

    def relied(self, m: SpecMap) -> list[str]:
        out: list[str] = []
        for item in m.items("relies", []):
            name = item.value
            problem = (
                facts.check(name, value=False)
                if isinstance(name, str)
                else "a fact name such as result.BUSY"
            )
            if problem is not None:
                raise item.error(problem)
            if name in out:
                raise item.error(f"{name} is listed twice")
            out.append(name)
        return out

    def profile_refs(self, m: SpecMap, key: str, text: str) -> None:
        for name in facts.references(text):
            problem = facts.check(name, value=True)
            if problem is None and name not in self.relies:
                problem = f"$profile.{name} is used but not listed in the scenario's relies:"
            if problem is not None:
                raise m.error(key, problem)

    def tag(self, item: SpecItem) -> str:
        value = item.value
        if not isinstance(value, str) or not _TAG.fullmatch(value):
            raise item.error(
                f"a tag is 1-40 lower-case letters, digits, _ or - (it becomes a pytest "
                f"marker), not {value!r}"
            )
        return value

    def rows(self, m: SpecMap) -> list[tuple[str | None, dict[str, Any]]]:
        items = m.items("data", None)
        if items is None:
            return [(None, {})]
        if not items:
            raise m.error("data", "must list at least one row")
        rows: list[tuple[str | None, dict[str, Any]]] = []
        keys: set[str] | None = None
        for i, item in enumerate(items):
            row = item.as_map()
            rid = str(row.text("id", i))
            values: dict[str, Any] = {}
            for key in row:
                if key == "id":
                    continue
                if not _IDENT.fullmatch(key):
                    raise row.error(key, "a data column is a variable name (letters, digits, _)")
                raw = row.raw(key)
                if isinstance(raw, dict | list):
                    raise row.error(key, "a data value is a number, text or constant")
                values[key] = parse_expr(raw, _at(row, key))
            if keys is not None and set(values) != keys:
                raise item.error(
                    f"every row needs the same columns: {', '.join(sorted(keys))}, "
                    f"not {', '.join(sorted(values))}"
                )
            keys = set(values)
            if any(rid == r for r, _ in rows):
                raise item.error(f"a second row with id {rid!r}")
            rows.append((rid, values))
        return rows

    def world(self, w: SpecMap | None, parent: SpecMap) -> World:
        if w is None:
            return World(
                {"A": ModemSpec("A", "1001", "generic")}, dict(DEFAULT_FAR_ENDS), ["A"], {}
            )
        modems: dict[str, ModemSpec] = {}
        mm = w.mapping("modems", {})
        for name in mm:
            if not _MODEM.fullmatch(name):
                raise mm.error(name, "a modem name is 1-32 letters, digits, _ . -")
            spec = mm.mapping(name)
            number = spec.text("number", None)
            if number is not None and not _NUMBER.fullmatch(number):
                raise spec.error("number", f"a number is digits, * and #, not {number!r}")
            profile = spec.text("profile", "generic")
            try:
                load_profile(profile)
            except LinelabError as exc:
                raise spec.error("profile", f"cannot load this profile: {exc}") from None
            dialtone = spec.flag("dialtone", True)
            spec.reject_unknown()
            modems[name] = ModemSpec(name, number, profile, dialtone)
        far: dict[str, str] = {}
        fm = w.mapping("far", {})
        for number in fm:
            if not _NUMBER.fullmatch(number):
                raise fm.error(number, "a far end's number is digits, * and #")
            text = fm.text(number)
            try:
                far[number] = str(parse_behaviour(text))
            except LinelabError as exc:
                raise fm.error(number, f"not a far-end behaviour: {exc}") from None
        lines: list[str] = []
        for item in w.items("lines", []):
            if item.value not in modems:
                raise item.error(f"a line is one of the world's modems, not {item.value!r}")
            lines.append(item.value)
        apps: dict[str, str] = {}
        am = w.mapping("apps", {})
        for name in am:
            apps[name] = am.choice(name, ("flat", "tapi3", "server", "process"))
        w.reject_unknown()
        return World(modems, far, lines, apps)

    # -- steps ---------------------------------------------------------------------------

    def steps(
        self,
        m: SpecMap,
        key: str,
        world: World,
        flow: _Flow,
        needs: set[str],
        *,
        required: bool,
    ) -> list[Step]:
        items = m.items(key) if required else m.items(key, None)
        if items is None:
            return []
        if required and not items:
            raise m.error(key, "must list at least one step")
        return [self.step(i, world, flow, needs) for i in items]

    def step(self, item: SpecItem, world: World, flow: _Flow, needs: set[str]) -> Step:
        m = item.as_map()
        kinds = [k for k in KINDS if k in m]
        if len(kinds) != 1:
            raise item.error(
                "a step has exactly one of "
                + ", ".join(KINDS)
                + (f"; this one has {', '.join(kinds)}" if kinds else "")
            )
        kind = kinds[0]
        where = self.where(item)
        source = m.text("source", None)
        fail = _at(m, kind)
        args: dict[str, Any] = {}
        sub: list[Step] = []
        if kind == "call":
            args = self.call(m, flow, where)
            args["by"] = self.app_ref(m, world, needs)
            for ref in number_refs(args["params"]):
                if ref not in world.modems:
                    known = ", ".join(world.modems) or "none"
                    raise m.error("args", f"$number.{ref} names a modem of the world ({known})")
                needs.add("numbers")
        elif kind == "com":
            args = self.com(m, flow)
            needs.add("tapi3")
        elif kind == "messages":
            app = parse_expr(m.raw("app"), _at(m, "app"))
            if not isinstance(app, Expr):
                raise m.error("app", "name the HLINEAPP whose queue to read: $variable")
            flow.use(app.variables(), _at(m, "app"))
            args["app"] = app
            args["by"] = self.app_ref(m, world, needs)
            args["within"] = parse_duration(m.raw("within", DEFAULT_WITHIN), _at(m, "within"))
            args["ignore"] = [
                self.pattern(i, strict=False, flow=None) for i in m.items("ignore", [])
            ]
            expect: list[Pattern | Unordered] = []
            for entry in m.items("messages"):
                if isinstance(entry.value, str):
                    expect.append(self.pattern(entry, strict=True, flow=flow))
                    continue
                em = entry.as_map()
                if "unordered" in em:
                    group = [
                        self.pattern(i, strict=True, flow=flow) for i in em.items("unordered")
                    ]
                    em.reject_unknown()
                    if len(group) < 2:
                        raise em.error("unordered", "an unordered group holds two or more")
                    expect.append(Unordered(group, self.where(entry)))
                else:
                    expect.append(self.pattern(entry, strict=True, flow=flow))
            args["expect"] = expect
        elif kind == "send":
            args["text"] = m.text("send")
            args["modem"] = self.modem_ref(m, "modem", world)
            args["expect"] = m.text("expect", None)
            args["reply"] = m.text("reply", None)
            if args["expect"] is not None and args["reply"] is not None:
                raise m.error("reply", "a step has expect: (text somewhere in the answer) or "
                              "reply: (exactly the answer), not both")  # fmt: skip
            for key, text in (("send", args["text"]), ("expect", args["expect"]),
                              ("reply", args["reply"])):  # fmt: skip
                if text is not None:
                    self.profile_refs(m, key, text)
                    flow.use(variables_of(text), _at(m, key))
            args["within"] = parse_duration(m.raw("within", 5), _at(m, "within"))
        elif kind == "dte":
            args["modem"] = self.modem_ref(m, "dte", world)
            args["dtr"] = m.flag("dtr", None)
            args["dcd"] = m.flag("dcd", None)
            if args["dtr"] is None and args["dcd"] is None:
                raise m.error("dte", "say dtr: (set it) and/or dcd: (expect it)")
            args["within"] = parse_duration(m.raw("within", 5), _at(m, "within"))
            needs.add("signals")
        elif kind == "repeat":
            args["times"] = m.integer("repeat", low=1, high=10_000)
            sub = self.steps(m, "steps", world, flow, needs, required=True)
        elif kind == "advance":
            args["seconds"] = parse_duration(m.raw("advance"), fail)
        elif kind == "kill":
            target = m.text("kill")
            if world.apps.get(target) != "process":
                known = ", ".join(n for n, k in world.apps.items() if k == "process") or "none"
                raise fail(
                    "kill names a client process: an app of world.apps of kind process"
                    f" ({known}), not {target!r}"
                )
            args["target"] = target
            needs.update(("server", "process"))
        else:
            args["target"] = self.modem_ref(m, kind, world)
            needs.add("exchange")
            if kind == "ring":
                caller = m.text("from", None)
                if caller is not None and not _NUMBER.fullmatch(caller):
                    raise m.error("from", "a caller number is digits, * and #")
                args["from"] = caller
                args["name"] = m.text("name", None)
                then = m.text("then", "answer")
                try:
                    args["then"] = str(validate_for_caller(then))
                except LinelabError as exc:
                    raise m.error("then", f"not a far-end behaviour for a caller: {exc}") from None
                needs.add("far-end")
        m.reject_unknown()
        return Step(kind, where, args, source, sub)

    def app_ref(self, m: SpecMap, world: World, needs: set[str]) -> str | None:
        """`by: NAME`: which app of world.apps makes the call or reads the queue (none:
        the scenario's own in-process stack). Only `server` and `process` apps are
        separate clients; naming one adds what it needs."""
        name = m.text("by", None)
        if name is None:
            return None
        kind = world.apps.get(name)
        if kind not in ("server", "process"):
            clients = ", ".join(n for n, k in world.apps.items() if k in ("server", "process"))
            raise m.error(
                "by",
                "names a client app of world.apps (kind server or process:"
                f" {clients or 'none declared'}), not {name!r}",
            )
        needs.update(("server", "process") if kind == "process" else ("server",))
        return str(name)

    def modem_ref(self, m: SpecMap, key: str, world: World) -> str:
        name = str(m.text(key))
        if name not in world.modems:
            known = ", ".join(world.modems) or "none"
            raise m.error(key, f"names a modem of the world ({known}), not {name!r}")
        return name

    def call(self, m: SpecMap, flow: _Flow, where: Where) -> dict[str, Any]:
        name = m.text("call")
        function = FUNCTIONS.get(name)
        if function is None:
            raise m.error("call", f"not a TAPI function this stack has: {name!r}")
        params = function.parameters
        raw = m.raw("args", {})
        if isinstance(raw, list):
            if len(raw) > len(params):
                raise m.error("args", f"{name} takes at most {len(params)} arguments")
            raw = dict(zip(params, raw, strict=False))
        if not isinstance(raw, dict):
            raise m.error("args", "must be a mapping of parameter names (or a list in order)")
        args: dict[str, Any] = {}
        for key, value in raw.items():
            fail = _arg_error(m, key)
            sized = function.sized.get(key)
            if key not in params and sized is None:
                takes = ", ".join([*params, *function.sized])
                raise fail(f"{name} has no parameter {key!r}; it takes {takes}")
            struct = function.structs.get(key) or sized
            if sized is not None and not isinstance(value, dict):
                raise fail(
                    f"a {sized.__name__} the caller sizes: a mapping of its members"
                    " ({dwTotalSize: 8})"
                )
            if key == "lpfnCallback" and value == "callback":
                args[key] = CALLBACK  # the runner's function (docs/scenarios.md)
            elif isinstance(value, dict):
                if struct is None:
                    raise fail("takes a value, not a mapping")
                known = struct_fields(struct)
                parsed: dict[str, Any] = {}
                for f, v in value.items():
                    if f not in known:
                        raise fail(f"{struct.__name__} has no member {f!r}")
                    parsed[f] = parse_expr(v, fail)
                args[key] = {"__struct__": struct, **parsed}
            elif isinstance(value, list):
                raise fail("takes a value, not a list")
            else:
                args[key] = parse_expr(value, fail)
            if args[key] is ANY:
                raise fail("'any' only matches messages; an argument needs a value")
            flow.use(variables_in(args[key]), fail)
        try:
            function.signature.bind(None, **args)
        except TypeError as exc:
            missing = [
                p
                for p in params
                if p not in args and function.signature.parameters[p].default is _EMPTY
            ]
            detail = f"missing {', '.join(missing)}" if missing else str(exc)
            raise m.error("args", f"{name}: {detail}") from None
        returns: Any = "async" if function.is_async else 0
        if "returns" in m:
            raw_ret = m.raw("returns")
            returns = raw_ret if raw_ret == "async" else parse_expr(raw_ret, _at(m, "returns"))
            if isinstance(returns, str) and returns != "async":
                raise m.error("returns", "a return code: a number, a constant or async")
            flow.use(variables_in(returns), _at(m, "returns"))
        save: dict[str, str] = {}
        sm = m.mapping("save", {})
        for var in sm:
            if not _IDENT.fullmatch(var):
                raise sm.error(var, "a variable name is letters, digits and _")
            what = sm.text(var)
            head = what.split(".", 1)[0]
            if what != "return" and head not in function.outputs:
                outs = ", ".join(("return", *function.outputs))
                raise sm.error(var, f"{name} gives {outs}, not {what!r}")
            save[var] = what
            flow.save(var, Where(self.path, sm.line_of(var), f"{sm.prefix}.{var}"))
        expect = self.expectations(m, flow, function.outputs, function.output_type, name)
        return {
            "function": name,
            "params": args,
            "returns": returns,
            "save": save,
            "expect": expect,
        }

    def expectations(
        self,
        m: SpecMap,
        flow: _Flow,
        outputs: tuple[str, ...],
        type_of: Callable[[str], type | None] | None,
        name: str,
    ) -> dict[str, Any]:
        """``expect: {Out.member: value}``: out-values (or members of an out-structure)
        the step must give, each a number, constant, text, ``$variable`` or a list.
        `type_of` gives each out-value's structure type (None: members not checked)."""
        expect: dict[str, Any] = {}
        em = m.mapping("expect", {})
        for what in em:
            head, *members = what.split(".")
            if head not in outputs:
                gives = ", ".join(outputs) or "no out-value"
                raise em.error(what, f"{name} gives {gives}, not {what!r}")
            struct = type_of(head) if type_of is not None else None
            if members and struct is None and type_of is not None:
                raise em.error(what, f"{head} is a plain value, it has no member {members[0]!r}")
            if struct is not None and dataclasses.is_dataclass(struct):
                if not members:
                    raise em.error(what, f"name a member of {struct.__name__}: {head}.dwX")
                if members[0] not in struct_fields(struct):
                    raise em.error(what, f"{struct.__name__} has no member {members[0]!r}")
            raw = em.raw(what)
            fail = _at(em, what)
            if isinstance(raw, dict):
                raise fail("expects a value (or a list of values), not a mapping")
            value = (
                [parse_expr(x, fail) for x in raw]
                if isinstance(raw, list)
                else parse_expr(raw, fail)
            )
            if value is ANY or (isinstance(value, list) and ANY in value):
                raise fail("'any' checks nothing: leave the member out")
            flow.use(variables_in(value), fail)
            expect[what] = value
        return expect

    def com(self, m: SpecMap, flow: _Flow) -> dict[str, Any]:
        """A TAPI 3.x step: ``com: TAPI`` makes an object of that class on the world's
        stack (``save: {t: object}``); with ``object: $t`` it calls that method
        (``args:`` in order; ``returns:`` an HRESULT, S_OK by default; ``save:``
        ``value`` or ``value.0``/``value.member`` of an (hr, value) answer)."""
        name = m.text("com")
        if not _IDENT.fullmatch(name):
            raise m.error(
                "com", f"a class or method name (ITTAPI::Shutdown is Shutdown), not {name!r}"
            )
        obj = None
        if "object" in m:
            obj = parse_expr(m.raw("object"), _at(m, "object"))
            if not isinstance(obj, Expr) or len(obj.parts) != 1:
                raise m.error("object", "the object to call: one $variable")
            flow.use(obj.variables(), _at(m, "object"))
        raw = m.raw("args", [])
        if not isinstance(raw, list):
            raise m.error("args", "the method's arguments, in order, as a list")
        params = []
        for value in raw:
            if isinstance(value, dict | list):
                raise m.error("args", "an argument is a number, text, true/false or $variable")
            params.append(parse_expr(value, _at(m, "args")))
            flow.use(variables_in(params[-1]), _at(m, "args"))
        returns = parse_expr(m.raw("returns", 0), _at(m, "returns"))
        if isinstance(returns, str):
            raise m.error("returns", "an HRESULT: a number or a constant such as S_FALSE")
        save: dict[str, str] = {}
        sm = m.mapping("save", {})
        for var in sm:
            what = sm.text(var)
            head = what.split(".", 1)[0]
            if head not in ("object", "value") or (head == "object") != (obj is None):
                allowed = "object" if obj is None else "value (value.0, value.member)"
                raise sm.error(var, f"this step gives {allowed}, not {what!r}")
            save[var] = what
            flow.save(var, Where(self.path, sm.line_of(var), f"{sm.prefix}.{var}"))
        expect = self.expectations(m, flow, ("value",), None, name) if obj else {}
        if "expect" in m and obj is None:
            raise m.error("expect", "making an object gives no value to check")
        return {
            "name": name,
            "object": obj,
            "params": params,
            "returns": returns,
            "save": save,
            "expect": expect,
        }

    def pattern(self, item: SpecItem, *, strict: bool, flow: _Flow | None) -> Pattern:
        if isinstance(item.value, str):
            m = None
            name = item.value
        else:
            m = item.as_map()
            name = m.text("msg")
        value = constant(name) if name.startswith("LINE_") else None
        if value is None:
            raise item.error(f"not a message name (LINE_REPLY, LINE_CALLSTATE …): {name!r}")
        fields: dict[str, Any] = {}
        save: dict[str, str] = {}
        source = None
        if m is not None:
            for f in MESSAGE_FIELDS:
                if f in m:
                    fields[f] = parse_expr(m.raw(f), _at(m, f))
                    if flow is not None:
                        flow.use(variables_in(fields[f]), _at(m, f))
            sm = m.mapping("save", {})
            for var in sm:
                what = sm.choice(var, MESSAGE_FIELDS)
                if what in fields:
                    raise sm.error(var, f"{what} is both matched and saved")
                if flow is None:
                    raise sm.error(var, "an ignored message cannot save a value")
                save[var] = what
                flow.save(var, Where(self.path, sm.line_of(var), f"{sm.prefix}.{var}"))
            source = m.text("source", None)
            m.reject_unknown()
        if strict:
            for f in MESSAGE_FIELDS:
                if f not in fields and f not in save.values():
                    fields[f] = 0
        fields = {f: fields[f] for f in MESSAGE_FIELDS if f in fields}
        return Pattern(name, value, fields, save, self.where(item), source)


_EMPTY = __import__("inspect").Parameter.empty


#: ``$number.B`` in a call's text argument: modem B's number on the target (the world's
#: number on the virtual exchange, the line's configured number on real lines).
NUMBER_REF = re.compile(r"\$number\.([A-Za-z0-9_]+)")


def number_refs(value: Any) -> list[str]:
    """The modem names of the ``$number.X`` references in a parsed argument."""
    if isinstance(value, str):
        return NUMBER_REF.findall(value)
    if isinstance(value, dict):
        return [n for v in value.values() for n in number_refs(v)]
    return []


def variables_of(text: str) -> list[str]:
    return _VARIABLE.findall(facts.REFERENCE.sub("", text))


__all__ = [
    "CHECKS",
    "NEEDS",
    "Case",
    "ModemSpec",
    "Pattern",
    "Scenario",
    "Step",
    "Unordered",
    "Where",
    "World",
    "cases",
    "load_file",
    "load_text",
]
