"""Running one scenario case: its steps, its ``finally:`` steps, and the teardown checks.

`run_case()` builds the world, runs the steps in the calling thread (the application
thread, an actor of the world's virtual time), and returns a `Result` that says what
passed or, for a failure, the cause, the step (file:line), what was expected and what
came instead, the messages queued at that moment, the hierarchy tree and the AT
transcript around the step. Nothing here raises for a scenario's failure; a
KeyboardInterrupt still runs ``finally:`` and the cleanup and is then re-raised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from emulator.core.profile import Profile, load_profile
from emulator.core.tracerecord import TraceRecord
from emulator.transcript import escape_bytes, escape_text
from linelab.errors import LinelabError
from scenarios import facts
from scenarios.events import EventLog
from scenarios.language import NUMBER_REF, Case, Pattern, Scenario, Step, Unordered, Where
from scenarios.language import World as WorldSpec
from scenarios.values import ANY, CALLBACK, FUNCTIONS, Expr, resolve
from scenarios.world import PortWorld, VirtualWorld
from tapi import constants as C
from tapi.structs import LINEINITIALIZEEXPARAMS, LINEMESSAGE
from tapi.view import Hierarchy

_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

# Failure causes, as the summary counts them.
WRONG_RETURN = "wrong return code"
UNEXPECTED = "unexpected message"
TIMEOUT = "time-out"
LEAK = "teardown leak"
HARNESS = "harness error"
TARGET = "target difference"
TODO_PASSED = "todo passed"
WRONG_ANSWER = "wrong modem answer"
CAUSES = (WRONG_RETURN, UNEXPECTED, WRONG_ANSWER, TIMEOUT, LEAK, HARNESS, TARGET, TODO_PASSED)

# Virtual seconds teardown lets hang-ups finish (a DTR drop, +++ guard times, ATH).
SETTLE = 20.0
# Real seconds a thread the scenario started may take to end after the world closed.
THREAD_EXIT = 5.0

World = VirtualWorld | PortWorld


class StepFailure(Exception):
    def __init__(
        self, cause: str, message: str, *, expected: str = "", actual: str = "", queued: str = ""
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.expected = expected
        self.actual = actual
        self.queued = queued


@dataclass
class Result:
    """What happened to one case (JSON-able through `to_dict`)."""

    id: str
    path: str
    line: int
    tags: list[str]
    source: str | None
    status: str  # passed | failed | skipped | todo
    cause: str | None = None
    message: str = ""
    step: str | None = None  # file:line of the failing step
    step_title: str | None = None
    expected: str = ""
    actual: str = ""
    queued: str = ""
    hierarchy: str = ""
    transcript: str = ""
    reason: str | None = None  # skip or todo reason
    seconds: float = 0.0  # wall-clock
    telephony_seconds: float = 0.0  # virtual
    interrupted: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)  # for --trace
    events: list[dict[str, Any]] = field(default_factory=list)  # for --report (events.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self) -> str:
        """The failure, as the runner and the pytest plugin show it."""
        out = [f"{self.id}  ({self.path}:{self.line})"]
        if self.source:
            out.append(f"  source: {self.source}")
        out.append(f"  {self.cause}: {self.message}")
        if self.step:
            out.append(f"  at step {self.step}: {self.step_title}")
        if self.expected:
            out.append("  expected: " + self.expected.replace("\n", "\n            "))
        if self.actual:
            out.append("  actual:   " + self.actual.replace("\n", "\n            "))
        if self.queued:
            out.append("  queued messages:")
            out.extend("    " + line for line in self.queued.splitlines())
        if self.hierarchy:
            out.append("  hierarchy:")
            out.extend("    " + line for line in self.hierarchy.splitlines())
        if self.transcript:
            out.append("  AT transcript around the step:")
            out.extend("    " + line for line in self.transcript.splitlines())
        return "\n".join(out)


def same(got: Any, want: Any) -> bool:
    """Whether a value the stack gave is the one a file wrote. Numbers are 32-bit
    values: a LINEERR_* or HRESULT written as the headers write it (0x80000048)
    matches the signed LONG the function returns. A list matches element by element."""
    if isinstance(got, int) and isinstance(want, int):
        return (got - want) % (1 << 32) == 0
    if isinstance(want, list):
        got = list(got) if isinstance(got, list | tuple) else got
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same(g, w) for g, w in zip(got, want, strict=True))
        )
    return bool(got == want)


def out_value(outs: dict[str, Any], what: str) -> Any:
    """An out-value, a member of one or an entry of a list by its index
    (``CallList.Calls.0``); None where there is no such thing."""
    head, *rest = what.split(".")
    got: Any = outs.get(head)
    for part in rest:
        if part.isdigit():
            seq = got if isinstance(got, list | tuple) else ()
            got = seq[int(part)] if int(part) < len(seq) else None
        else:
            got = getattr(got, part, None)
    return got


def _shown(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return repr(value)
    if value < 0:
        value &= 0xFFFFFFFF  # a LONG error code, shown as the headers write it
    return f"{value:#x}" if value > 9 else str(value)


def show_message(m: LINEMESSAGE | Any) -> str:
    """A LINEMESSAGE (or a MessageView) with its names: LINE_CALLSTATE(hDevice=…, …)."""
    name = C.message_name(m.dwMessageID)
    p1: Any = hex(m.dwParam1)
    if m.dwMessageID == C.LINE_CALLSTATE:
        p1 = C.callstate_name(m.dwParam1)
    return (
        f"{name}(hDevice={m.hDevice:#x}, dwCallbackInstance={m.dwCallbackInstance:#x}, "
        f"dwParam1={p1}, dwParam2={m.dwParam2:#x}, dwParam3={m.dwParam3:#x})"
    )


def _record_line(r: TraceRecord) -> str:
    data = escape_bytes(bytes(r.data)) if isinstance(r.data, bytes) else escape_text(r.data)
    return f"{r.t:10.3f} {r.modem:>8} {r.kind:<9} {data}"


def _snapshot_fds() -> set[str]:
    fds: set[str] = set()
    try:
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                fds.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
    except OSError:
        pass
    return fds


class _Run:
    """One case in progress."""

    def __init__(
        self,
        case: Case,
        world: World,
        on_step: Callable[[Step], None] | None = None,
        log: EventLog | None = None,
    ) -> None:
        self.case = case
        self.log = log
        self.on_step = on_step
        self.scenario: Scenario = case.scenario
        self.world = world
        self.stack = world.stack
        self.env: dict[str, Any] = {k: resolve(v, {}) for k, v in case.row.items()}
        self.seen: dict[str, set[int]] = {"apps": set(), "lines": set(), "calls": set()}
        self.step: Step | None = None
        self.step_started = 0.0
        self.com_objects: list[Any] = []
        self.removed: set[str] = set()  # modems whose port a remove_port: step took away
        self.callbacks: list[tuple[int, ...]] = []  # what TAPI gave `callback`

    # -- steps --------------------------------------------------------------------------------
    def run_steps(self, steps: list[Step]) -> None:
        for step in steps:
            self.run_step(step)

    def run_step(self, step: Step) -> None:
        if step.kind == "repeat":
            for _ in range(step.args["times"]):
                self.run_steps(step.steps)
            return
        self.step = step
        self.step_started = self.world.time.now()
        if self.on_step is not None:
            self.on_step(step)
        if self.log is not None:
            self.log.step(step)
        getattr(self, "do_" + step.kind)(step)
        self.note_handles()

    def note_handles(self) -> None:
        h = self.stack.hierarchy()
        for app in h.apps:
            self.seen["apps"].add(app.hLineApp)
            for line in app.lines:
                self.seen["lines"].add(line.hLine)
                for call in line.calls:
                    self.seen["calls"].add(call.hCall)

    def callback(
        self, hDevice: int, dwMsg: int, dwCallbackInstance: int, p1: int, p2: int, p3: int
    ) -> None:
        """The ``lpfnCallback: callback`` of a call step: keeps what TAPI delivers."""
        self.callbacks.append((hDevice, dwMsg, dwCallbackInstance, p1, p2, p3))

    def value(self, v: Any) -> Any:
        if v is CALLBACK:
            return self.callback
        if isinstance(v, dict) and "__struct__" in v:
            cls = v["__struct__"]
            return cls(**{k: self.value(x) for k, x in v.items() if k != "__struct__"})
        if isinstance(v, str):
            return NUMBER_REF.sub(lambda m: self.world.number(m.group(1)), v)
        return resolve(v, self.env)

    def do_call(self, step: Step) -> None:
        a = step.args
        function = FUNCTIONS[a["function"]]
        kwargs = {k: self.value(v) for k, v in a["params"].items()}
        if self.log is not None:
            self.log.call(function.name, kwargs)
        result = getattr(self.api(a.get("by")), function.name)(**kwargs)
        rc = result[0] if isinstance(result, tuple) else result
        outs = (
            dict(zip(function.outputs, result[1:], strict=False))
            if isinstance(result, tuple)
            else {}
        )
        if self.log is not None:
            self.log.returned(function.name, kwargs, rc, outs)
        expected = a["returns"]
        if expected == "async":
            if not (isinstance(rc, int) and rc > 0):
                raise StepFailure(
                    WRONG_RETURN,
                    f"{function.name} returned {C.result_name(rc)}",
                    expected="a request ID (asynchronous, > 0)",
                    actual=C.result_name(rc),
                )
        elif expected is not ANY:
            want = resolve(expected, self.env)
            if not same(rc, want):
                raise StepFailure(
                    WRONG_RETURN,
                    f"{function.name} returned {C.result_name(rc)}, not {C.result_name(want)}",
                    expected=C.result_name(want),
                    actual=C.result_name(rc),
                )
        for var, what in a["save"].items():
            if what == "return":
                self.env[var] = rc
                continue
            self.env[var] = out_value(outs, what)
        self.check_out_values(function.name, a["expect"], outs)

    def check_out_values(self, name: str, expect: dict[str, Any], outs: dict[str, Any]) -> None:
        """The step's ``expect:``: each out-value (or member) equals what the file says."""
        for what, want_raw in expect.items():
            got = out_value(outs, what)
            want = resolve(want_raw, self.env)
            if not same(got, want):
                raise StepFailure(
                    WRONG_RETURN,
                    f"{name} gave {what} = {_shown(got)}, not {_shown(want)}",
                    expected=f"{what} = {_shown(want)}",
                    actual=f"{what} = {_shown(got)}",
                )

    def api(self, by: str | None) -> Any:
        """Who makes a call: the scenario's own stack, or a client app (`by:`)."""
        if by is None:
            return self.stack
        return self._virtual(f"an app of kind {self.scenario.world.apps[by]}").client(by)

    def do_com(self, step: Step) -> None:
        # needs: [tapi3] keeps this step from running in a linelab without the objects.
        tapi3 = importlib.import_module("tapi.tapi3")

        a = step.args
        args = [resolve(v, self.env) for v in a["params"]]
        if self.log is not None:
            self.log.com(a["name"], args)
        if a["object"] is None:
            value: Any = getattr(tapi3, a["name"])(self.stack, *args, time=self.world.time)
            self.com_objects.append(value)
            hr, result = 0, None
        else:
            target = resolve(a["object"], self.env)
            answer = getattr(target, a["name"])(*args)
            hr, result = answer if isinstance(answer, tuple) else (answer, None)
            value = target
        if self.log is not None:
            self.log.com_returned(a["name"], hr)
        want = resolve(a["returns"], self.env)
        if not same(hr, want):
            raise StepFailure(
                WRONG_RETURN,
                f"{a['name']} returned {C.hresult_name(hr)}, not {C.hresult_name(want)}",
                expected=C.hresult_name(want),
                actual=C.hresult_name(hr),
            )
        for var, what in a["save"].items():
            head, *rest = what.split(".")
            got: Any = value if head == "object" else result
            for part in rest:
                got = got[int(part)] if part.isdigit() else getattr(got, part)
            self.env[var] = got
        self.check_out_values(a["name"], a["expect"], {"value": result})

    def _matches(self, p: Pattern, m: LINEMESSAGE, *, strict: bool) -> bool:
        if m.dwMessageID != p.message_id:
            return False
        for f, want in p.fields.items():
            if want is ANY:
                continue
            if not same(getattr(m, f), resolve(want, self.env)):
                return False
        return True

    def _ignored(self, ignore: list[Pattern], m: LINEMESSAGE) -> bool:
        return any(self._matches(p, m, strict=False) for p in ignore)

    def _describe(self, p: Pattern) -> str:
        parts = []
        for f, want in p.fields.items():
            if want is ANY:
                continue
            value = resolve(want, self.env)
            if isinstance(want, Expr):
                parts.append(
                    f"{f}={value:#x} ({want.text})" if isinstance(value, int) else f"{f}={value!r}"
                )
            elif f == "dwParam1" and p.message_id == C.LINE_CALLSTATE:
                parts.append(f"{f}={C.callstate_name(value)}")
            else:
                parts.append(f"{f}={value:#x}" if isinstance(value, int) else f"{f}={value!r}")
        return f"{p.name}({', '.join(parts)})"

    def do_messages(self, step: Step) -> None:
        a = step.args
        h = resolve(a["app"], self.env)
        ignore = a["ignore"] + self.scenario.ignore
        remaining: list[Pattern | list[Pattern]] = [
            list(e.patterns) if isinstance(e, Unordered) else e for e in a["expect"]
        ]
        client = None if a.get("by") is None else self.api(a["by"])
        time_source = self.world.time
        deadline = time_source.now() + a["within"]
        got: list[str] = []

        def expected_now() -> str:
            out = []
            for e in remaining:
                if isinstance(e, list):
                    out.append("in any order: " + "; ".join(self._describe(p) for p in e))
                else:
                    out.append(self._describe(e))
            return "\n".join(out) if out else "no message"

        while True:
            left = deadline - time_source.now()
            if left <= 0:
                if not remaining:
                    return
                raise StepFailure(
                    TIMEOUT,
                    f"no {expected_now().splitlines()[0]} within {a['within']:g} s",
                    expected=expected_now(),
                    actual="\n".join(got) if got else "(nothing)",
                )
            if not remaining and a["expect"]:
                return
            if client is None:
                rc, m = self.stack.lineGetMessage(h, max(1, math.ceil(left * 1000)))
            else:
                # A client only ever takes what is there; the wait is ours, in the
                # stack's time (the server serves this very stack).
                rc, m = client.lineGetMessage(h, 0)
                if rc == C.LINEERR_OPERATIONFAILED:
                    self.stack.wait_message(h, left)
            if rc == C.LINEERR_OPERATIONFAILED:
                continue
            if rc != 0 or m is None:
                raise StepFailure(
                    WRONG_RETURN,
                    f"lineGetMessage on the app's queue returned {C.result_name(rc)}",
                    expected="0",
                    actual=C.result_name(rc),
                )
            if self.log is not None:
                self.log.message(h, m)
            head = remaining[0] if remaining else None
            matched: Pattern | None = None
            if isinstance(head, Pattern) and self._matches(head, m, strict=True):
                matched = head
                remaining.pop(0)
            elif isinstance(head, list):
                for p in head:
                    if self._matches(p, m, strict=True):
                        matched = p
                        head.remove(p)
                        if not head:
                            remaining.pop(0)
                        break
            if matched is not None:
                got.append(show_message(m))
                for var, f in matched.save.items():
                    self.env[var] = getattr(m, f)
                continue
            if self._ignored(ignore, m):
                continue
            raise StepFailure(
                UNEXPECTED,
                f"{show_message(m)} came instead",
                expected=expected_now(),
                actual=show_message(m),
            )

    def profile(self, modem: str) -> Profile:
        return load_profile(self.world.spec.modems[modem].profile)

    def text(self, text: str, modem: str) -> str:
        """`text` with its ``$profile.FACT`` and ``$variable`` references filled in."""
        text = facts.substitute(text, self.profile(modem))
        return _VARIABLE.sub(lambda m: str(self.env[m.group(1)]), text)

    def do_send(self, step: Step) -> None:
        a = step.args
        port: Any = self.world.at_port(a["modem"])
        text = self.text(a["text"], a["modem"])
        if text:  # send: "" only listens
            port.reset_input_buffer()  # what came unread before this step is not its answer
            port.write(text.encode("latin-1"))
        if a["reply"] is not None:
            self.reply(port, self.text(a["reply"], a["modem"]), a["modem"], a["within"])
            return
        want = a["expect"]
        if want is None:
            return
        want = self.text(want, a["modem"])
        time_source = self.world.time
        deadline = time_source.now() + a["within"]
        seen = b""
        target = want.encode("latin-1")
        while target not in seen:
            left = deadline - time_source.now()
            if left <= 0:
                raise StepFailure(
                    TIMEOUT,
                    f"no {want!r} from modem {a['modem']} within {a['within']:g} s",
                    expected=repr(want),
                    actual=repr(seen.decode("latin-1")),
                )
            port.timeout = left
            seen += port.read(max(1, getattr(port, "in_waiting", 1)))

    def reply(self, port: Any, want: str, modem: str, within: float) -> None:
        """Exactly `want` arrives (read until it is as long, or `within` ends); an empty
        `want`: nothing arrives within `within`."""
        time_source = self.world.time
        deadline = time_source.now() + within
        target = want.encode("latin-1")
        seen = b""
        while len(seen) < max(1, len(target)):
            left = deadline - time_source.now()
            if left <= 0:
                break
            port.timeout = left
            seen += port.read(max(1, len(target) - len(seen)))
        if seen != target:
            port.timeout = 0
            seen += port.read(4096)  # the rest of what came, for the report
            short = target.startswith(seen) and len(seen) < len(target)
            cause = TIMEOUT if short else WRONG_ANSWER
            got = escape_bytes(seen) if seen else "nothing"
            raise StepFailure(
                cause,
                f"modem {modem} answered {got} within {within:g} s, not {escape_bytes(target)}"
                if target
                else f"modem {modem} answered {got}; nothing was to come within {within:g} s",
                expected=escape_bytes(target) if target else "nothing",
                actual=got,
            )

    def do_dte(self, step: Step) -> None:
        """Set DTR on the DTE side of the modem's port and/or wait for DCD."""
        a = step.args
        port: Any = self.world.at_port(a["modem"])
        if a["dtr"] is not None:
            port.dtr = a["dtr"]
        if a["dcd"] is None:
            return
        deadline = self.world.time.now() + a["within"]
        while bool(port.cd) != a["dcd"]:
            left = deadline - self.world.time.now()
            if left <= 0:
                want = "on" if a["dcd"] else "off"
                raise StepFailure(
                    TIMEOUT,
                    f"DCD of modem {a['modem']} not {want} within {a['within']:g} s",
                    expected=f"DCD {want}",
                    actual=f"DCD {'on' if port.cd else 'off'}",
                )
            self.world.time.sleep(min(left, 0.05))

    def _virtual(self, what: str) -> VirtualWorld:
        if not isinstance(self.world, VirtualWorld):
            raise StepFailure(TARGET, f"{what} needs the built-in virtual exchange")
        return self.world

    def do_ring(self, step: Step) -> None:
        a = step.args
        self._virtual("ring").ring(a["target"], a["from"], a["name"], a["then"])

    def do_hangup(self, step: Step) -> None:
        if not self._virtual("hangup").hangup(step.args["target"]):
            raise StepFailure(HARNESS, f"no call placed to modem {step.args['target']} to hang up")

    def do_carrier_loss(self, step: Step) -> None:
        self._virtual("carrier_loss").carrier_loss(step.args["target"])

    def do_dtr_drop(self, step: Step) -> None:
        self._virtual("dtr_drop").dtr_drop(step.args["target"])

    def do_remove_port(self, step: Step) -> None:
        self._virtual("remove_port").remove_port(step.args["target"])
        self.removed.add(step.args["target"])

    def do_advance(self, step: Step) -> None:
        self.world.advance(step.args["seconds"])

    def do_kill(self, step: Step) -> None:
        name = step.args["target"]
        world = self._virtual("client processes")
        try:
            world.kill(name)
        except LinelabError as exc:
            raise StepFailure(HARNESS, str(exc)) from None

    # -- teardown ---------------------------------------------------------------------------
    def teardown_checks(self) -> None:
        unchecked = self.scenario.unchecked
        self.world.close_at_ports()
        h = self.stack.hierarchy()
        if "orphans" not in unchecked and h.orphans():
            raise StepFailure(
                LEAK,
                "a pending message belongs to a closed object",
                expected="no message of a closed object",
                actual="\n".join(show_message(m) for m in h.orphans()),
            )
        if "hierarchy" not in unchecked:
            final = self.scenario.final
            if final is None and not h.is_empty():
                raise StepFailure(
                    LEAK,
                    "the hierarchy is not empty after the scenario: " + _counts(h),
                    expected="an empty hierarchy",
                    actual=h.render(),
                )
            if final is not None and h.counts() != final:
                raise StepFailure(
                    LEAK,
                    "the hierarchy is not the scenario's final: tree",
                    expected=", ".join(f"{k} {v}" for k, v in final.items()),
                    actual=_counts(h) + "\n" + h.render(),
                )
            status = self.world.server_status() if isinstance(self.world, VirtualWorld) else None
            held = [c for c in (status or {}).get("clients", []) if c["apps"]]
            if held and final is None:
                raise StepFailure(
                    LEAK,
                    f"the server still holds {held[0]['apps']} app(s) of client pid"
                    f" {held[0]['pid']} (tapisrv --status)",
                    expected="no client of the server holds an app",
                    actual="\n".join(str(c) for c in held),
                )
        if "stale_handles" not in unchecked:
            self.check_stale(h)
        if "modems" not in unchecked:
            open_lines = h.counts()["lines"] > 0
            deadline = self.world.time.now() + SETTLE
            faults = self.world.modem_faults(ports=not open_lines)
            while faults and self.world.time.now() < deadline:
                self.world.advance(0.5)
                faults = self.world.modem_faults(ports=not open_lines)
            if faults:
                raise StepFailure(
                    LEAK,
                    faults[0],
                    expected="every modem on hook, DCD low, every port closed",
                    actual="\n".join(faults),
                )

    def check_stale(self, h: Hierarchy) -> None:
        live: dict[str, set[int]] = {"apps": set(), "lines": set(), "calls": set()}
        for app in h.apps:
            live["apps"].add(app.hLineApp)
            for line in app.lines:
                live["lines"].add(line.hLine)
                live["calls"].update(c.hCall for c in line.calls)
        probes: dict[str, tuple[Callable[[int], int], int]] = {
            "apps": (lambda x: self.stack.lineGetMessage(x, 0)[0], C.LINEERR_INVALAPPHANDLE),
            "lines": (lambda x: self.stack.lineGetLineDevStatus(x)[0], C.LINEERR_INVALLINEHANDLE),
            "calls": (lambda x: self.stack.lineGetCallStatus(x)[0], C.LINEERR_INVALCALLHANDLE),
        }
        stale = {kind: sorted(self.seen[kind] - live[kind]) for kind in probes}
        if not any(stale.values()):
            return
        # Probe from an app of our own: with no HLINEAPP at all the stack rightly answers
        # LINEERR_UNINITIALIZED (rules.md R8), which would hide the handle-specific code.
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, probe_app, *_ = self.stack.lineInitializeEx(
            None, None, "linelab teardown probe", C.TAPI_VERSION2_2, params
        )
        try:
            for kind, (probe, code) in probes.items():
                for handle in stale[kind]:
                    got = probe(handle)
                    if got != code:
                        raise StepFailure(
                            LEAK,
                            f"freed handle {handle:#x} ({kind[:-1]}) answers {C.result_name(got)}",
                            expected=C.result_name(code),
                            actual=C.result_name(got),
                        )
        finally:
            if rc == 0 and probe_app is not None:
                self.stack.lineShutdown(probe_app)


def _provider_faults(world: World | None, run: _Run | None) -> list[str]:
    """The faults the providers reported during the case (`Stack.provider_errors`),
    taken from the stack, so each is examined once. Those of a line whose port a
    ``remove_port:`` step removed are expected (its reads fail) and left out."""
    if world is None:
        return []
    errors = list(world.stack.provider_errors)
    world.stack.provider_errors.clear()
    lines = world.spec.lines
    removed = tuple(
        f"device {lines.index(name)}:"
        for name in (run.removed if run is not None else ())
        if name in lines
    )
    return [e for e in errors if not (removed and e.startswith(removed))]


def _counts(h: Hierarchy) -> str:
    return ", ".join(f"{k} {v}" for k, v in h.counts().items())


def with_profile(world: WorldSpec, profile: str) -> WorldSpec:
    """`world` with every modem's profile replaced by `profile` (a name or a path)."""
    modems = {n: dataclasses.replace(m, profile=profile) for n, m in world.modems.items()}
    return dataclasses.replace(world, modems=modems)


def skip_reason(scenario: Scenario, provides: frozenset[str], target: str) -> str | None:
    missing = sorted(scenario.needs - provides)
    if not missing:
        return None
    why = {
        "exchange": "a scripted exchange (ring, far-end hang-up, carrier loss)",
        "far-end": "scripted far ends",
        "server": "the telephony server (linelab tapisrv)",
        "process": "client processes",
        "tapi3": "the TAPI 3.x objects",
        "numbers": "the number of each line (--port URL,number=N, or number: in the line config)",
        "signals": "DTE signal control (DTR, DCD)",
    }
    what = ", ".join(why[n] for n in missing)
    if target == "virtual":
        return f"needs {what}: not in this linelab yet"
    return f"needs {what}, which the {target} target cannot provide"


def run_case(
    case: Case,
    make_world: Callable[[Scenario], World] | None = None,
    *,
    provides: frozenset[str] | None = None,
    target: str = "virtual",
    keep_records: bool = False,
    on_step: Callable[[Step], None] | None = None,
    profile: str | None = None,
) -> Result:
    """Run one case (see module doc). `make_world` builds its world (default: the
    built-in virtual one) from the scenario's world (with every modem's profile
    replaced by `profile` if given); `on_step` is told each step as it starts.
    `keep_records` keeps the transcript and the report's events (`scenarios.events`) in
    the result."""
    s = case.scenario
    result = Result(
        id=case.id,
        path=s.path,
        line=s.where.line,
        tags=list(s.tags),
        source=s.source,
        status="passed",
    )
    if make_world is None:
        make_world = lambda sc: VirtualWorld(sc.world)  # noqa: E731
        provides = VirtualWorld.provides
    reason = skip_reason(s, provides if provides is not None else VirtualWorld.provides, target)
    if profile is not None:
        s = dataclasses.replace(s, world=with_profile(s.world, profile))
        case = dataclasses.replace(case, scenario=s)
    if reason is None and s.relies:
        for spec in s.world.modems.values():
            reason = reason or facts.missing(load_profile(spec.profile), s.relies)
    if reason is not None:
        result.status, result.reason = "skipped", reason
        return result
    started = time.monotonic()
    threads_before: set[threading.Thread] = set()
    fds_before: set[str] = set()
    failure: StepFailure | None = None
    where: Where | None = None
    title: str | None = None
    interrupted: BaseException | None = None
    world: World | None = None
    run: _Run | None = None
    log: EventLog | None = None
    try:
        threads_before = set(threading.enumerate())
        fds_before = _snapshot_fds()
        world = make_world(s)
        if keep_records:
            log = _event_log(s, world)
        run = _Run(case, world, on_step, log)
        try:
            run.run_steps(s.steps)
        except StepFailure as exc:
            failure = exc
        except KeyboardInterrupt as exc:
            interrupted = exc
            failure = StepFailure(HARNESS, "interrupted (Ctrl-C)")
        except Exception as exc:  # a bug in linelab or in a provider: say so, keep going
            failure = StepFailure(
                HARNESS, f"{type(exc).__name__}: {exc}", actual=traceback.format_exc()
            )
        if failure is not None and run.step is not None:
            where, title = run.step.where, run.step.title()
            _context(result, run, world)
        for step in s.finally_steps:
            try:
                if any(v not in run.env for v in _step_vars(step)):
                    continue  # its handle was never saved: the step that saves it failed
                run.run_step(step)
            except KeyboardInterrupt as exc:
                interrupted = interrupted or exc
            except Exception as exc:
                if failure is None:
                    failure = (
                        exc if isinstance(exc, StepFailure) else StepFailure(HARNESS, repr(exc))
                    )
                    where, title = step.where, step.title()
                    _context(result, run, world)
        if failure is None:
            try:
                run.teardown_checks()
            except StepFailure as exc:
                failure = exc
                where, title = None, "teardown"
                _context(result, run, world, queued_only=True)
            except KeyboardInterrupt as exc:
                interrupted = exc
                failure = StepFailure(HARNESS, "interrupted (Ctrl-C) during teardown")
    except StepFailure as exc:
        failure = exc
    except KeyboardInterrupt as exc:
        interrupted = exc
        failure = failure or StepFailure(HARNESS, "interrupted (Ctrl-C)")
    except Exception as exc:
        failure = failure or StepFailure(
            HARNESS, f"{type(exc).__name__}: {exc}", actual=traceback.format_exc()
        )
    finally:
        if world is not None:
            result.telephony_seconds = world.time.now() if world.vt is not None else 0.0
            try:
                world.close()
            except KeyboardInterrupt as exc:
                interrupted = interrupted or exc
            if keep_records:  # after close: the hang-ups it finished are part of the run
                result.records = [
                    {"t": r.t, "modem": r.modem, "kind": r.kind, "data": r.data}
                    for r in world.records
                ]
                result.events = list(log.events) if log is not None else []
    faults = _provider_faults(world, run)
    if failure is None and faults and "faults" not in s.unchecked:
        failure = StepFailure(
            LEAK,
            f"provider fault: {faults[0]}",
            expected="no provider fault (but those of a port a remove_port: step removed)",
            actual="\n".join(faults),
        )
    if failure is None and "leaks" not in s.unchecked:
        leak = _leaks(threads_before, fds_before)
        if leak is not None:
            failure = leak
    result.seconds = time.monotonic() - started
    if failure is not None:
        result.status = "failed"
        result.cause = failure.cause
        result.message = failure.message
        result.expected = result.expected or failure.expected
        result.actual = result.actual or failure.actual
        result.queued = result.queued or failure.queued
        if where is not None:
            result.step = str(where)
        result.step_title = title
    todo = s.todo.get(target)
    if todo is not None and interrupted is None:
        if result.status == "failed":
            result.status, result.reason = "todo", todo
        elif result.status == "passed":
            result.status, result.cause = "failed", TODO_PASSED
            result.message = f"marked todo on {target} ({todo}) but it passed: remove the todo"
    if interrupted is not None:
        result.interrupted = True
    return result


def _event_log(s: Scenario, world: World) -> EventLog:
    log = EventLog(s.world, world.records, world.time.now)
    if world.vt is None:
        log.start_clock(getattr(world, "t0", world.time.now()))
    watch = getattr(world.stack, "watch_events", None)  # a stack without the hook: no arrows
    if watch is not None:
        watch(log.provider)
    return log


def _step_vars(step: Step) -> list[str]:
    from scenarios.values import variables_in

    names: list[str] = []
    for key in ("params", "app", "returns", "expect"):
        if key in step.args:
            names += variables_in(step.args[key])
    return names


def _context(result: Result, run: _Run, world: World, *, queued_only: bool = False) -> None:
    """The moment of failure: queued messages, the tree, the AT transcript nearby."""
    try:
        h = run.stack.hierarchy()
        result.hierarchy = h.render()
        queued = [show_message(m) for app in h.apps for m in app.messages]
        result.queued = "\n".join(queued)
    except Exception as exc:  # the picture must never hide the failure
        result.hierarchy = f"(could not read the hierarchy: {exc!r})"
    records = list(world.records)
    since = run.step_started - 5.0
    near = [r for r in records if r.t >= since][-40:]
    result.transcript = "\n".join(_record_line(r) for r in near)


def _leaks(threads_before: set[threading.Thread], fds_before: set[str]) -> StepFailure | None:
    deadline = time.monotonic() + THREAD_EXIT
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    threads = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    fds = sorted(_snapshot_fds() - fds_before)
    if threads or fds:
        what = [f"thread {n}" for n in sorted(threads)] + [f"fd {f}" for f in fds]
        return StepFailure(
            LEAK,
            f"{len(threads)} thread(s) and {len(fds)} fd(s) outlived the scenario",
            expected="the threads and fds of the snapshot before the scenario",
            actual="\n".join(what),
        )
    return None


__all__ = ["CAUSES", "Result", "StepFailure", "run_case", "show_message", "skip_reason"]
