"""The stack machine: random TAPI orderings over the real stack and virtual modems.

A `RuleBasedStateMachine` whose rules call the flat API of a real `tapi.Stack` whose
modem provider drives virtual modems (the scenario runner's `VirtualWorld`: modems, the
exchange and scripted far ends on one virtual-time loop), or a real line (`PortWorld`,
``linelab fuzz --port``). Beside it runs a reference model of the hierarchy: which
HLINEAPPs, HLINEs and HCALLs are live, which are stale, which requests are owed a
LINE_REPLY. Bundles hold the handles (``consumes`` for lineShutdown, lineClose and
lineDeallocateCall); a handle closed from above (a line of a shut-down app) stays in its
bundle, so every rule also tries handles that are already stale.

After each rule the world runs for `SETTLE` virtual seconds (the ``wait`` rule lets every
provider time-out pass), then the invariants run, each named after the rule of
docs/rules.md it checks. Every step is also recorded in a `Program`, the replayable
scenario a failure is written as.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from scenarios.language import ModemSpec, World
from scenarios.machines.program import Program, Step
from scenarios.world import PortWorld, Transport, VirtualWorld
from tapi import constants as C
from tapi.config import LineConfig
from tapi.server.client import ServerStack
from tapi.structs import LINECALLPARAMS, LINEINITIALIZEEXPARAMS, LINEMESSAGE
from tapi.tapi3 import TAPI, Address
from tapi.tapi3 import constants as K
from tapi.tapi3.objects import line_modes_of
from tapi.view import Hierarchy

V22 = C.TAPI_VERSION2_2
OWNER = C.LINECALLPRIVILEGE_OWNER
MONITOR = C.LINECALLPRIVILEGE_MONITOR
DATAMODEM = C.LINEMEDIAMODE_DATAMODEM
BUSY, NOANSWER, ANSWER, HANGUP = "5550001", "5550002", "5550003", "5550004"
FAR_ENDS = {BUSY: "busy", NOANSWER: "noanswer", ANSWER: "answer,echo", HANGUP: "answer,hangup=10s"}
#: Virtual seconds the world runs after each rule; `wait` runs LONG (past S7 and rings).
SETTLE = 2.0
LONG = 75.0
MAX_APPS = 4
#: Client connections to the world's telephony server a run may open.
MAX_CLIENTS = 3
#: Real seconds the server may take to notice that a dropped connection ended.
DROP_TIMEOUT = 30.0
#: Call states in which the modem of the call is off hook (docs/rules.md §5.2).
OFF_HOOK_STATES = {
    C.LINECALLSTATE_DIALTONE,
    C.LINECALLSTATE_DIALING,
    C.LINECALLSTATE_PROCEEDING,
    C.LINECALLSTATE_RINGBACK,
    C.LINECALLSTATE_CONNECTED,
}
OPTIONS = {
    "event": C.LINEINITIALIZEEXOPTION_USEEVENT,
    "callback": C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW,
    "completion": C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT,
}


def default_world() -> World:
    """Two modems A (1001) and B (1002) as line devices 0 and 1, and far ends that are
    busy, never answer, answer, and answer then hang up after 10 s."""
    return World(
        modems={n: ModemSpec(n, num, "generic") for n, num in (("A", "1001"), ("B", "1002"))},
        far=dict(FAR_ENDS),
        lines=["A", "B"],
        apps={},
    )


def world_dict(world: World) -> dict[str, Any]:
    """`world` as the ``world:`` mapping of a scenario file."""
    return {
        "modems": {
            n: {"number": m.number, **({"profile": m.profile} if m.profile != "generic" else {})}
            for n, m in world.modems.items()
        },
        "far": dict(world.far),
        "lines": list(world.lines),
    }


class InvariantFailure(AssertionError):
    """An invariant failed; `rule` names the docs/rules.md rule, `step` (if any) is the
    scenario step that shows it on replay."""

    def __init__(self, rule: str, message: str, step: Step | None = None) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.step = step


@dataclass
class AppModel:
    h: int
    name: str
    option: str
    registered: bool = False
    lines: set[int] = field(default_factory=set)
    client: int | None = None  # the `ClientModel` it was initialised through, if any


@dataclass
class LineModel:
    h: int
    app: int
    device: int
    privileges: int
    calls: set[int] = field(default_factory=set)


@dataclass
class CallModel:
    h: int
    line: int
    app: int
    made_by: int | None = None  # the lineMakeCall request, until it is answered


@dataclass
class Request:
    rid: int
    app: int
    line: int | None
    call: int | None
    function: str
    suppressed: str | None = None  # why no LINE_REPLY is due (docs/rules.md §6.1)
    answered: int | None = None  # the dwParam2 of its LINE_REPLY once seen


class Model:
    """The reference model of the hierarchy (docs/rules.md §1.2 and §6)."""

    def __init__(self) -> None:
        self.apps: dict[int, AppModel] = {}
        self.lines: dict[int, LineModel] = {}
        self.calls: dict[int, CallModel] = {}
        self.stale: dict[int, str] = {}  # handle -> "app" | "line" | "call"
        self.issued: dict[int, str] = {}
        self.requests: dict[int, Request] = {}
        self.last_rid = 0
        self.removed: set[int] = set()
        #: Handle -> the client (`StackMachine.conns` index) whose app it belongs to.
        self.owner: dict[int, int] = {}
        #: Live HLINEAPPs of TAPI 3 objects (`T3Model`): not the 2.x rules' apps, but
        #: they make a stale handle's code its INVAL* rather than UNINITIALIZED (R8).
        self.others: set[int] = set()

    def issue(self, h: int, kind: str) -> None:
        if h in self.issued:
            raise InvariantFailure(
                "R9",
                f"{kind} handle {h:#x} reuses the value of an earlier {_KIND[self.issued[h]]}",
            )
        self.issued[h] = kind

    def accept(self, rid: int, app: int, line: int | None, call: int | None, fn: str) -> None:
        if rid <= self.last_rid:
            raise InvariantFailure("R9", f"{fn} request ID {rid} after {self.last_rid}")
        self.last_rid = rid
        self.requests[rid] = Request(rid, app, line, call, fn)

    def expected(self, kind: str) -> int:
        """The R8 code of a stale handle of `kind` now."""
        if not self.apps and not self.others:
            return C.LINEERR_UNINITIALIZED
        return {
            "app": C.LINEERR_INVALAPPHANDLE,
            "line": C.LINEERR_INVALLINEHANDLE,
            "call": C.LINEERR_INVALCALLHANDLE,
        }[kind]

    def free_call(self, h: int) -> None:
        call = self.calls.pop(h, None)
        if call is None:
            return
        self.stale[h] = "call"
        line = self.lines.get(call.line)
        if line is not None:
            line.calls.discard(h)

    def close_line(self, h: int, why: str | None) -> None:
        line = self.lines.pop(h, None)
        if line is None:
            return
        self.stale[h] = "line"
        for c in list(line.calls):
            self.free_call(c)
        app = self.apps.get(line.app)
        if app is not None:
            app.lines.discard(h)
        if why is not None:
            for r in self.requests.values():
                if r.line == h and r.answered is None and r.suppressed is None:
                    r.suppressed = why

    def shutdown(self, h: int) -> None:
        app = self.apps.pop(h)
        self.stale[h] = "app"
        for line in list(app.lines):
            self.close_line(line, None)
        for r in self.requests.values():
            if r.app == h and r.answered is None and r.suppressed is None:
                r.suppressed = "R1 lineShutdown"


@dataclass
class ClientModel:
    """A client of the world's telephony server (one connection: a ServerStack). Its
    connection dropping models the death of its process (docs/server.md, R6)."""

    api: ServerStack
    name: str
    alive: bool = True
    #: Every HLINEAPP ever initialised through it.
    apps: set[int] = field(default_factory=set)


@dataclass
class T3Model:
    """One TAPI 3 object (ITTAPI) and what docs/rules.md §6.10 says of it."""

    obj: TAPI
    h: int | None = None  # its HLINEAPP while initialised
    ever: bool = False  # initialised once (then Initialize is E_UNEXPECTED for good)
    shut: bool = False
    #: lRegister -> the HLINE RegisterCallNotifications opened for it.
    regs: dict[int, int] = field(default_factory=dict)
    #: Cookies unregistered or of a shut-down object (UnregisterNotifications: E_INVALIDARG).
    old: set[int] = field(default_factory=set)
    #: HLINEs of unregistered registrations: §6.10 lets them close once no call is alive.
    lingering: set[int] = field(default_factory=set)
    addresses: list[Address] = field(default_factory=list)


_KIND = {"app": "HLINEAPP", "line": "HLINE", "call": "HCALL"}


def _short(m: Any) -> str:
    return (
        f"{C.message_name(m.dwMessageID)}(h={m.hDevice:#x}, {m.dwParam1:#x}, "
        f"{m.dwParam2:#x}, {m.dwParam3:#x})"
    )


class StackMachine(RuleBasedStateMachine):
    """See the module docstring. Configure a subclass with `configured()`."""

    #: Lines to drive instead of the built-in virtual modems (``linelab fuzz --port``).
    configs: ClassVar[list[LineConfig] | None] = None
    #: How the stack reaches the built-in modems: ``vmodem://`` or real ptys (pyserial
    #: on the pty the emulator serves, as ``linelab modem`` does), both on virtual time.
    transport: ClassVar[Transport] = "vmodem"
    #: Called with each finished machine (progress reports of ``linelab fuzz``).
    observer: ClassVar[Callable[[StackMachine], None] | None] = None
    #: Where a failing program is written (None: only printed).
    out_dir: ClassVar[str | None] = None
    #: The machine that ran last: after a failure, the shortest failing program's.
    last_machine: ClassVar[StackMachine | None] = None

    apps = Bundle("apps")
    dead_apps = Bundle("dead_apps")
    lines = Bundle("lines")
    dead_lines = Bundle("dead_lines")
    calls = Bundle("calls")
    dead_calls = Bundle("dead_calls")
    tapis = Bundle("tapis")
    registrations = Bundle("registrations")
    clients = Bundle("clients")
    dead_clients = Bundle("dead_clients")

    def __init__(self) -> None:
        super().__init__()
        self.threads_before = set(threading.enumerate())
        self.fds_before = _fds()
        self.spec = default_world()
        self.world: VirtualWorld | PortWorld
        if self.configs is None:
            self.world = VirtualWorld(self.spec, transport=self.transport)
        else:
            self.spec = World(modems={}, far={}, lines=[c.name for c in self.configs], apps={})
            self.world = PortWorld(self.spec, list(self.configs))
        self.virtual = isinstance(self.world, VirtualWorld)
        self.stack = self.world.stack
        self.devices = len(self.spec.lines)
        self.model = Model()
        self.program = Program(world_dict(self.spec))
        type(self).last_machine = self
        self.seen: dict[int, list[str]] = {}  # app -> messages read (drains, callbacks)
        self.callback_msgs: list[tuple[int, Any]] = []
        self.ports: dict[int, queue.Queue[Any]] = {}
        self.t3: list[T3Model] = []
        self.conns: list[ClientModel] = []
        self.drops = 0  # connections the machine dropped (the server counts them too)
        #: (call, answer, expected R8 code) of each call a rule made on a stale handle,
        #: since the last check; all tries of this run (for the fuzz summary).
        self.stale_tries: list[tuple[str, int, int]] = []
        self.stale_tried = 0
        self.counter = 0
        self.steps = 0
        self.rules_hit: dict[str, int] = {}
        self.checks = 0
        self.settled_long = False
        # Preconditions read only these (set by the rules, whatever the stack answered):
        # a precondition on the stack's answers would make hypothesis's choices flaky.
        self.tried_open = self.tried_call = self.removed_any = False

    # -- plumbing -----------------------------------------------------------------------------
    def _hit(self, name: str) -> None:
        self.steps += 1
        self.rules_hit[name] = self.rules_hit.get(name, 0) + 1

    def _call(self, function: str, args: list[Any], expect: int | None, **kw: Any) -> Any:
        """Call `function` on the stack, record it (with `expect` as its returns, else the
        code it gave) and fail R8 if a stale handle answered something else."""
        api, by = self._via(args[0] if args else None)
        result = getattr(api, function)(*args, **kw)
        rc = result[0] if isinstance(result, tuple) else result
        step: Step = {"call": function, "args": [_arg(a) for a in args]}
        if by is not None:
            step["by"] = by
        if expect is not None:
            step["returns"] = _code(expect)
        elif function == "lineGetMessage":
            step["returns"] = "any"
        else:
            step["returns"] = "async" if rc > 0 and _is_async(function) else _code(rc)
        self.program.add(step)
        if expect is not None and expect != 0:
            self._stale_tried(function, args, rc, expect)
        elif expect == 0 and rc != 0:
            rule = {"lineShutdown": "R1", "lineClose": "R2"}.get(function, "§1.1")
            raise InvariantFailure(
                rule,
                f"{function}({', '.join(map(_show, args))}) on a live handle returned "
                f"{C.result_name(rc)}",
            )
        return result

    def _stale_tried(self, function: str, args: list[Any], rc: int, expect: int) -> None:
        """Note what a rule's call on a stale handle answered, for the invariant
        `R8_every_rule_also_tries_stale_handles`."""
        self.stale_tries.append((f"{function}({', '.join(map(_show, args))})", rc, expect))

    def _via(self, h: Any) -> tuple[Any, str | None]:
        """The flat API a call on handle `h` goes through, and the scenario's ``by:``:
        the ServerStack of the client whose app `h` belongs to while its connection is
        up, else the stack itself (a dead client's handles are tried there: R8)."""
        c = self.model.owner.get(h) if isinstance(h, int) else None
        if c is None or not self.conns[c].alive:
            return self.stack, None
        return self.conns[c].api, self.conns[c].name

    def _own(self, h: int, app: int) -> None:
        """Handle `h` belongs to the client of app `app` (if any)."""
        model = self.model.apps.get(app)
        if model is not None and model.client is not None:
            self.model.owner[h] = model.client

    def _settle(self, seconds: float = SETTLE) -> None:
        self.world.advance(seconds)
        self.program.add({"advance": f"{seconds:g}s"})

    def _observe(self, view: Hierarchy | None = None) -> Hierarchy:
        """Note every LINE_REPLY now visible (queued, called back, posted) as answered."""
        view = view or self.stack.hierarchy()
        for app in view.apps:
            for m in app.messages:
                if m.dwMessageID == C.LINE_REPLY:
                    self._answered(app.hLineApp, m.dwParam1, m.dwParam2)
        while self.callback_msgs:
            h, m = self.callback_msgs.pop(0)
            self._read(h, m)
        for h, q in self.ports.items():
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                m = item[-1] if isinstance(item, tuple) else item
                if hasattr(m, "dwMessageID"):
                    self._read(h, m)
        return view

    def _read(self, h: int, m: Any) -> None:
        self.seen.setdefault(h, []).append(_short(m))
        if m.dwMessageID == C.LINE_REPLY:
            self._answered(h, m.dwParam1, m.dwParam2)

    def _answered(self, app: int, rid: int, result: int) -> None:
        r = self.model.requests.get(rid)
        if r is None:
            return  # a request of the core's own (docs/rules.md §6.2)
        if r.answered is not None:
            if r.answered != result:
                raise InvariantFailure("§6.1", f"request {rid} answered twice")
            return
        if r.suppressed is not None:
            raise InvariantFailure(
                "§6.1",
                f"request {rid} ({r.function}) got a LINE_REPLY after {r.suppressed}, "
                "which suppresses it",
            )
        r.answered = result
        if r.function == "lineMakeCall" and r.call is not None:
            call = self.model.calls.get(r.call)
            if call is not None:
                call.made_by = None
                if result != 0:  # R7: a failed lineMakeCall's handle never becomes valid
                    self.model.free_call(r.call)

    def _learn(self, view: Hierarchy) -> list[int]:
        """HCALLs TAPI created for the apps (R5) that the model does not know yet."""
        new: list[int] = []
        for app in view.apps:
            for line in app.lines:
                if line.hLine not in self.model.lines:
                    continue
                for c in line.calls:
                    if c.hCall not in self.model.calls and c.hCall not in self.model.stale:
                        self.model.issue(c.hCall, "call")
                        self.model.calls[c.hCall] = CallModel(c.hCall, line.hLine, app.hLineApp)
                        self._own(c.hCall, app.hLineApp)
                        self.model.lines[line.hLine].calls.add(c.hCall)
                        new.append(c.hCall)
        return new

    def _unlearned(self) -> bool:
        view = self.stack.hierarchy()
        return any(
            c.hCall not in self.model.calls and c.hCall not in self.model.stale
            for app in view.apps
            for line in app.lines
            if line.hLine in self.model.lines
            for c in line.calls
        )

    def _after(self, seconds: float = SETTLE) -> None:
        self._observe()
        self._settle(seconds)
        view = self._observe()
        self._learn(view)
        self._vanished(view)

    def _vanished(self, view: Hierarchy) -> None:
        """Handles the stack freed on its own: lines and calls of a removed device (§6.4),
        the handle of a lineMakeCall whose request failed (R7)."""
        lines = view.hlines()
        calls = view.hcalls(valid_only=False)
        for h, line in list(self.model.lines.items()):
            if h not in lines and line.device in self.model.removed:
                self.model.close_line(h, None)
        for h, call in list(self.model.calls.items()):
            if h not in calls and call.made_by is not None:
                r = self.model.requests.get(call.made_by)
                if r is not None and r.answered not in (None, 0):
                    self.model.free_call(h)

    # -- rules: apps ----------------------------------------------------------------------------
    @precondition(lambda self: len(self.model.apps) < MAX_APPS)
    @rule(target=apps, option=st.sampled_from(sorted(OPTIONS)))
    def initialize(self, option: str) -> Any:
        """lineInitializeEx with each notification option (§2.2)."""
        self._hit("lineInitializeEx")
        self.counter += 1
        name = f"fuzz{self.counter}"
        params = LINEINITIALIZEEXPARAMS(dwOptions=OPTIONS[option])
        callback = None
        if option == "callback":

            def callback(hDevice: int, msg: int, inst: int, p1: int, p2: int, p3: int) -> None:
                m = LINEMESSAGE(
                    hDevice=hDevice, dwMessageID=msg, dwCallbackInstance=inst,
                    dwParam1=p1, dwParam2=p2, dwParam3=p3,
                )  # fmt: skip
                self.callback_msgs.append((holder[0], m))
        elif option == "completion":
            port: queue.Queue[Any] = queue.Queue()
            params.hCompletionPort = port
            params.dwCompletionKey = self.counter
        holder = [0]
        rc, h, *_ = self.stack.lineInitializeEx(None, callback, name, V22, params)
        self.program.add(
            {
                "call": "lineInitializeEx",
                "args": {
                    "lpszFriendlyAppName": name,
                    "dwAPIVersion": "TAPI_VERSION2_2",
                    "lpLineInitializeExParams": {"dwOptions": "LINEINITIALIZEEXOPTION_USEEVENT"},
                },
            }
        )
        if option != "event":
            self.program.notes.append(f"app {name} used the {option} option (replayed as event)")
        assert rc == 0 and h is not None, C.result_name(rc)
        holder[0] = h
        if option == "completion":
            self.ports[h] = port
        self.model.issue(h, "app")
        self.model.apps[h] = AppModel(h, name, option)
        self._after()
        return h

    @rule(target=dead_apps, h=consumes(apps))
    def shutdown(self, h: int) -> int:
        """lineShutdown (R1): its lines, calls, requests and registration go."""
        self._hit("lineShutdown")
        self._observe()
        live = h in self.model.apps
        expect = 0 if live else self.model.expected("app")
        self._call("lineShutdown", [h], expect)
        if live:
            self.model.shutdown(h)
            self.ports.pop(h, None)
        self._after()
        return h

    @rule(h=st.one_of(apps, dead_apps), timeout=st.sampled_from([0, 0, 100]))
    def drain(self, h: int, timeout: int) -> None:
        """lineGetMessage until the queue is empty (§2.14); a stale app gets R8."""
        self._hit("lineGetMessage")
        self._observe()
        app = self.model.apps.get(h)
        if app is None:
            # §2.14: lineGetMessage answers INVALAPPHANDLE even with no app left.
            self._call("lineGetMessage", [h, timeout], C.LINEERR_INVALAPPHANDLE)
        elif app.option == "event":
            if app.client is not None:
                timeout = 0  # a client waits in real time; the machine lives in virtual time
            for _ in range(200):
                rc, m = self._call("lineGetMessage", [h, timeout], None)
                if rc != 0:
                    break
                self._read(h, m)
        self._after()

    @rule(h=st.one_of(apps, dead_apps), enable=st.booleans())
    def register(self, h: int, enable: bool) -> None:
        """lineRegisterRequestRecipient on and off (§2.22; withdrawn by lineShutdown, §6.7)."""
        self._hit("lineRegisterRequestRecipient")
        app = self.model.apps.get(h)
        expect = None if app is not None else self.model.expected("app")
        mode = C.LINEREQUESTMODE_MAKECALL
        rc = self._call("lineRegisterRequestRecipient", [h, 0, mode, int(enable)], expect)
        if app is not None and rc == 0:
            app.registered = enable
        self._after()

    # -- rules: lines ---------------------------------------------------------------------------
    @rule(
        target=lines,
        h=st.one_of(apps, dead_apps),
        device=st.integers(0, 1),
        privileges=st.sampled_from([OWNER, MONITOR, OWNER | MONITOR]),
    )
    def open(self, h: int, device: int, privileges: int) -> Any:
        """lineOpen as owner or monitor on either line (§2.6)."""
        self._hit("lineOpen")
        self.tried_open = True
        device %= self.devices
        app = self.model.apps.get(h)
        expect: int | None = None
        if app is None:
            expect = self.model.expected("app")
        rc, hl = self._call("lineOpen", [h, device, V22, 0, 0, privileges, DATAMODEM], expect)
        got: list[int] = []
        if rc == 0 and hl is not None and app is not None:
            # A line opened on a removed port may be closed by its provider (§6.4).
            self.model.issue(hl, "line")
            self.model.lines[hl] = LineModel(hl, h, device, privileges)
            self._own(hl, h)
            app.lines.add(hl)
            got.append(hl)
        self._after()
        return multiple(*got)

    @rule(target=dead_lines, h=consumes(lines))
    def close(self, h: int) -> int:
        """lineClose (R2): its calls' handles go, its requests get no LINE_REPLY."""
        self._hit("lineClose")
        self._observe()
        live = h in self.model.lines
        self._call("lineClose", [h], 0 if live else self.model.expected("line"))
        if live:
            self.model.close_line(h, "R2 lineClose")
        self._after()
        return h

    @rule(
        target=calls,
        h=st.one_of(lines, dead_lines),
        dest=st.sampled_from([BUSY, NOANSWER, ANSWER, HANGUP, "1002", "1001"]),
    )
    def make_call(self, h: int, dest: str) -> Any:
        """lineMakeCall to a busy, unanswered, answering or hanging-up far end, or to the
        other modem (§2.8); the handle is valid after the success LINE_REPLY (R7)."""
        self._hit("lineMakeCall")
        self.tried_call = True
        line = self.model.lines.get(h)
        expect = None if line is not None else self.model.expected("line")
        params = LINECALLPARAMS(dwMediaMode=DATAMODEM, dwBearerMode=C.LINEBEARERMODE_VOICE)
        api, by = self._via(h)
        result = api.lineMakeCall(h, dest, 0, params)
        rid, hc = result
        self.program.add(
            {
                "call": "lineMakeCall",
                **({"by": by} if by is not None else {}),
                "args": {
                    "hLine": h,
                    "lpszDestAddress": dest,
                    "lpCallParams": {
                        "dwMediaMode": "LINEMEDIAMODE_DATAMODEM",
                        "dwBearerMode": "LINEBEARERMODE_VOICE",
                    },
                },
                "returns": _code(expect)
                if expect is not None
                else ("async" if rid > 0 else _code(rid)),
            }
        )
        if expect is not None:
            self._stale_tried("lineMakeCall", [h, dest], rid, expect)
        got: list[int] = []
        if rid > 0 and line is not None:
            self.model.accept(rid, line.app, h, hc, "lineMakeCall")
            if hc is not None:
                self.model.issue(hc, "call")
                self.model.calls[hc] = CallModel(hc, h, line.app, made_by=rid)
                self._own(hc, line.app)
                line.calls.add(hc)
                got.append(hc)
        self._after()
        return multiple(*got)

    # -- rules: calls ---------------------------------------------------------------------------
    @precondition(lambda self: self.virtual and self.tried_call)
    @rule(target=calls)
    def learn_calls(self) -> Any:
        """The calls TAPI gave the apps (LINE_APPNEWCALL, R5) join the bundle."""
        self._hit("learn calls")
        view = self._observe()
        self._learn(view)
        known = {c for app in view.apps for line in app.lines for c in line.calls}
        return multiple(*sorted(h for h in self.model.calls if h in {x.hCall for x in known}))

    @rule(
        h=st.one_of(calls, dead_calls),
        action=st.sampled_from(["lineAnswer", "lineDrop", "lineHandoff", "lineGetCallStatus"]),
    )
    def call_action(self, h: int, action: str) -> None:
        """lineAnswer, lineDrop, lineHandoff to another app (§2.10, §2.12, §2.19); a call
        handle that went with its line or app gets R8."""
        self._hit(action)
        self._observe()
        call = self.model.calls.get(h)
        expect = None if call is not None else self.model.expected("call")
        args: list[Any] = [h]
        if action == "lineHandoff":
            others = [a.name for a in self.model.apps.values() if call is None or a.h != call.app]
            args += [others[0] if others else "nobody", 0]
        result = self._call(action, args, expect)
        rc = result[0] if isinstance(result, tuple) else result
        if call is not None and rc > 0 and action in ("lineAnswer", "lineDrop"):
            self.model.accept(rc, call.app, call.line, h, action)
        self._after()

    @rule(target=dead_calls, h=consumes(calls))
    def deallocate(self, h: int) -> Any:
        """lineDeallocateCall (R3; §6.8: an only owner of a live call is refused)."""
        self._hit("lineDeallocateCall")
        self._observe()
        call = self.model.calls.get(h)
        expect = None if call is not None else self.model.expected("call")
        rc = self._call("lineDeallocateCall", [h], expect)
        if call is not None and rc == 0:
            self.model.free_call(h)
        elif call is not None:
            assert rc == C.LINEERR_INVALCALLSTATE, f"lineDeallocateCall: {C.result_name(rc)}"
        self._after()
        return h

    # -- rules: the far side ----------------------------------------------------------------------
    @precondition(lambda self: self.virtual and self.tried_open)
    @rule(
        modem=st.sampled_from(["A", "B"]),
        caller=st.sampled_from([None, "5551234"]),
    )
    def ring(self, modem: str, caller: str | None) -> None:
        """An incoming call, with or without caller ID (§8.4)."""
        self._hit("incoming ring")
        self.tried_call = True
        if self.spec.lines.index(modem) in self.model.removed:
            return
        assert isinstance(self.world, VirtualWorld)
        self.world.ring(modem, caller, None, "answer")
        step: Step = {"ring": modem}
        if caller:
            step["from"] = caller
        self.program.add(step)
        self._after()

    @precondition(lambda self: self.virtual and self.tried_call)
    @rule(modem=st.sampled_from(["A", "B"]), event=st.sampled_from(["hangup", "carrier_loss"]))
    def far_side(self, modem: str, event: str) -> None:
        """The far end hangs up (a call `ring` placed) or the carrier drops (§8.4)."""
        self._hit(f"far-end {event}")
        if self.spec.lines.index(modem) in self.model.removed:
            return
        assert isinstance(self.world, VirtualWorld)
        if event == "hangup":
            if not self.world.hangup(modem):
                return
        else:
            self.world.carrier_loss(modem)
        self.program.add({event: modem})
        self._after()

    @precondition(lambda self: self.virtual and self.tried_open and not self.removed_any)
    @rule(modem=st.sampled_from(["A", "B"]))
    def remove_port(self, modem: str) -> None:
        """The port of a line goes away (§6.4): LINE_CLOSE, its handles stale."""
        self._hit("port removal")
        self.removed_any = True
        assert isinstance(self.world, VirtualWorld)
        device = self.spec.lines.index(modem)
        self.world.remove_port(modem)
        self.program.add({"remove_port": modem})
        self.model.removed.add(device)
        self._after()
        # Removal takes effect when the provider notices; a longer look makes it certain.
        self._after(SETTLE * 5)

    @precondition(lambda self: self.tried_call)
    @rule()
    def wait(self) -> None:
        """Let every provider time-out pass (S7, rings, far-end hang-up timers)."""
        self._hit("wait")
        self._after(LONG if self.virtual else SETTLE)
        self.settled_long = True

    # -- rules: clients of the telephony server (docs/server.md, docs/rules.md R6) ---------------
    @precondition(lambda self: self.virtual and len(self.conns) < MAX_CLIENTS)
    @rule(target=clients)
    def connect_client(self) -> int:
        """A client process connects to the world's `linelab tapisrv` (a ServerStack;
        replayed as a ``process`` app)."""
        self._hit("client connect")
        assert isinstance(self.world, VirtualWorld)
        name = f"client{len(self.conns) + 1}"
        api = ServerStack(self.world.server_path())
        if not api.connect():
            raise InvariantFailure("R6", f"{name} could not connect to the server")
        self.conns.append(ClientModel(api, name))
        self.program.world.setdefault("apps", {})[name] = "process"
        return len(self.conns) - 1

    @precondition(lambda self: len(self.model.apps) < MAX_APPS)
    @rule(target=apps, c=clients)
    def client_initialize(self, c: int) -> Any:
        """lineInitializeEx through a client (event option: the server's own way)."""
        self._hit("lineInitializeEx by a client")
        client = self.conns[c]
        self.counter += 1
        name = f"fuzz{self.counter}"
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, *_ = client.api.lineInitializeEx(None, None, name, V22, params)
        self.program.add(
            {
                "call": "lineInitializeEx",
                "by": client.name,
                "args": {
                    "lpszFriendlyAppName": name,
                    "dwAPIVersion": "TAPI_VERSION2_2",
                    "lpLineInitializeExParams": {"dwOptions": "LINEINITIALIZEEXOPTION_USEEVENT"},
                },
            }
        )
        assert rc == 0 and h is not None, C.result_name(rc)
        self.model.issue(h, "app")
        self.model.apps[h] = AppModel(h, name, "event", client=c)
        self.model.owner[h] = c
        client.apps.add(h)
        self._after()
        return multiple(h)

    @precondition(lambda self: self.virtual)
    @rule(target=dead_clients, c=consumes(clients))
    def drop_client(self, c: int) -> int:
        """A client's connection drops (its process died): the server shuts down every
        HLINEAPP it held, as lineShutdown would (R6), so they, their HLINEs and HCALLs
        are stale and a call they held is dropped."""
        self._hit("client death")
        self._observe()
        client = self.conns[c]
        assert isinstance(self.world, VirtualWorld) and self.world.server is not None
        client.api.close()
        client.alive = False
        self.drops += 1
        if not self._wait_drops():
            raise InvariantFailure(
                "R6", f"the server did not notice that {client.name} dropped its connection"
            )
        for h in sorted(client.apps):
            if h in self.model.apps:
                self.model.shutdown(h)
        self.program.add({"kill": client.name})
        # A lost connection stays lost: every call answers SERVICE_NOT_RUNNING (not replayed).
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc = client.api.lineInitializeEx(None, None, "late", V22, params)[0]
        if rc != C.LINEERR_SERVICE_NOT_RUNNING:
            raise InvariantFailure(
                "R6",
                f"lineInitializeEx through dropped {client.name} returned "
                f"{C.result_name(rc)}, not LINEERR_SERVICE_NOT_RUNNING",
            )
        self._after()
        return c

    # -- rules: TAPI 3 (docs/tapi3.md, docs/rules.md §6.10) ------------------------------------
    def _t3_step(self, what: str, flat: Step | None = None) -> None:
        """Note a TAPI 3 step; `flat` is the 2.x call it made that gave or freed a
        handle, written as a scenario step so the replay's handle values stay the same."""
        if flat is not None:
            self.program.add(flat)
            self.program.notes.append(f"TAPI 3: {what}, replayed as its {flat['call']}")
        else:
            self.program.notes.append(f"TAPI 3: {what} (nothing to replay)")

    @precondition(lambda self: len(self.t3) < MAX_APPS)
    @rule(target=tapis, initialize=st.booleans())
    def tapi3_new(self, initialize: bool) -> Any:
        """A new ITTAPI over the stack; Initialize it now or leave it uninitialised."""
        self._hit("ITTAPI new")
        t = T3Model(TAPI(self.stack, app_name=f"fuzz3-{len(self.t3)}"))
        self.t3.append(t)
        self._t3_step(f"TAPI object {len(self.t3) - 1}")
        if initialize:
            self._tapi3_initialize(t)
        self._after()
        return len(self.t3) - 1

    @rule(i=tapis)
    def tapi3_initialize(self, i: int) -> None:
        """ITTAPI::Initialize: S_OK, S_FALSE again, E_UNEXPECTED once shut down."""
        self._hit("ITTAPI.Initialize")
        self._tapi3_initialize(self.t3[i])
        self._after()

    def _tapi3_initialize(self, t: T3Model) -> None:
        want = K.E_UNEXPECTED if t.shut else K.S_FALSE if t.h is not None else K.S_OK
        hr = t.obj.Initialize()
        flat: Step | None = None
        if hr == K.S_OK:
            flat = {
                "call": "lineInitializeEx",
                "args": {
                    "lpszFriendlyAppName": t.obj._app_name,
                    "dwAPIVersion": "TAPI_VERSION2_2",
                    "lpLineInitializeExParams": {"dwOptions": "LINEINITIALIZEEXOPTION_USEEVENT"},
                },
            }
        self._t3_step(f"Initialize -> {hr:#x}", flat)
        if hr != want:
            raise InvariantFailure("§6.10", f"Initialize returned {hr:#x}, not {want:#x}")
        if hr == K.S_OK:
            h = t.obj.hLineApp
            assert h is not None
            self.model.issue(h, "app")
            self.model.others.add(h)
            t.h, t.ever = h, True
            hr, addresses = t.obj.EnumerateAddresses()
            assert hr == K.S_OK and addresses is not None, hex(hr)
            t.addresses = addresses

    @rule(
        target=registrations,
        i=tapis,
        device=st.integers(0, 1),
        owner=st.booleans(),
    )
    def tapi3_register(self, i: int, device: int, owner: bool) -> Any:
        """RegisterCallNotifications (one lineOpen); TAPI_E_NOT_INITIALIZED when not
        initialised or shut down, also for an address of before the Shutdown."""
        self._hit("ITTAPI.RegisterCallNotifications")
        t = self.t3[i]
        addresses = [a for a in t.addresses if a.device_id == device % self.devices]
        address = addresses[0] if addresses else None
        hr, cookie = t.obj.RegisterCallNotifications(
            address, True, owner, address.media_types if address else 0, 0
        )
        flat = None
        if hr == K.S_OK and cookie is not None and address is not None:
            privileges = (OWNER if owner else 0) | MONITOR
            modes = line_modes_of(address.media_types, address._line_modes)
            flat = {
                "call": "lineOpen",
                "args": [t.h, address.device_id, address._version, 0, cookie, privileges, modes],
                "returns": 0,
            }
        self._t3_step(f"RegisterCallNotifications(device {device}) -> {hr:#x}", flat)
        got: list[tuple[int, int]] = []
        if t.h is None:
            want = K.TAPI_E_NOT_INITIALIZED
            if hr != want:
                raise InvariantFailure(
                    "§6.10", f"RegisterCallNotifications returned {hr:#x}, not {want:#x}"
                )
        elif address is not None and (
            hr == K.S_OK or device % self.devices not in self.model.removed
        ):
            # A line opened on a removed port may be closed by its provider (§6.4).
            if hr != K.S_OK or cookie is None:
                raise InvariantFailure("§6.10", f"RegisterCallNotifications failed: {hr:#x}")
            hl = t.obj._registrations[cookie].line
            assert hl is not None
            self.model.issue(hl.hLine, "line")
            self.model.lines[hl.hLine] = LineModel(
                hl.hLine, t.h, device % self.devices, OWNER if owner else MONITOR
            )
            t.regs[cookie] = hl.hLine
            got.append((i, cookie))
        self._after()
        return multiple(*got)

    @rule(reg=registrations)
    def tapi3_unregister(self, reg: tuple[int, int]) -> None:
        """UnregisterNotifications: S_OK once, then E_INVALIDARG (§6.10)."""
        self._hit("ITTAPI.UnregisterNotifications")
        i, cookie = reg
        t = self.t3[i]
        hr = t.obj.UnregisterNotifications(cookie)
        live = cookie in t.regs
        hl_of = t.regs.get(cookie)
        closed = hl_of is not None and hl_of not in t.obj._lines
        flat = {"call": "lineClose", "args": [hl_of], "returns": 0} if closed and hr == 0 else None
        self._t3_step(f"UnregisterNotifications({cookie}) -> {hr:#x}", flat)
        want = K.S_OK if live else K.E_INVALIDARG
        if hr != want:
            raise InvariantFailure(
                "§6.10", f"UnregisterNotifications({cookie}) returned {hr:#x}, not {want:#x}"
            )
        if live:
            hl = t.regs.pop(cookie)
            t.old.add(cookie)
            if closed and hl in self.model.lines:
                self.model.close_line(hl, None)
            else:  # It may stay open while a call object made through it is alive (§6.10).
                self.model.lines.pop(hl, None)
                t.lingering.add(hl)
        self._after()

    @rule(i=tapis)
    def tapi3_shutdown(self, i: int) -> None:
        """ITTAPI::Shutdown: lineShutdown of its HLINEAPP (§6.1, §6.2); S_FALSE again;
        TAPI_E_NOT_INITIALIZED if never initialised."""
        self._hit("ITTAPI.Shutdown")
        self._observe()
        t = self.t3[i]
        want = K.S_OK if t.h is not None else K.S_FALSE if t.ever else K.TAPI_E_NOT_INITIALIZED
        h = t.h
        hr = t.obj.Shutdown()
        flat = {"call": "lineShutdown", "args": [h], "returns": 0} if h is not None else None
        self._t3_step(f"Shutdown -> {hr:#x}", flat)
        if hr != want:
            raise InvariantFailure("§6.10", f"Shutdown returned {hr:#x}, not {want:#x}")
        if t.h is not None:
            self._tapi3_forget(t)
        self._after()

    def _tapi3_forget(self, t: T3Model) -> None:
        assert t.h is not None
        self.model.others.discard(t.h)
        self.model.stale[t.h] = "app"
        for hl in list(t.regs.values()) + list(t.lingering):
            if hl in self.model.lines:
                self.model.close_line(hl, None)
            else:
                self.model.stale[hl] = "line"
        t.old.update(t.regs)
        t.regs.clear()
        t.lingering.clear()
        t.h, t.shut = None, True

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def R1_R2_R3_no_child_outlives_its_parent(self) -> None:
        """The stack's tree is the model's: the same live apps and lines, no call of a
        closed line, every call the model holds still there (R1-R3, R5)."""
        self.checks += 1
        view = self.stack.hierarchy()
        m = self.model
        apps = {a.hLineApp for a in view.apps}
        if apps != set(m.apps) | m.others:
            raise InvariantFailure("R1", f"live apps {sorted(apps)} != model {sorted(m.apps)}")
        lingering = {h for t in self.t3 for h in t.lingering}
        lines = view.hlines() - lingering
        if lines != set(m.lines):
            raise InvariantFailure(
                "R2", f"live lines {sorted(lines)} != model {sorted(m.lines)}\n{view.render()}"
            )
        calls = view.hcalls(valid_only=False)
        gone = [h for h in m.calls if h not in calls]
        if gone:
            raise InvariantFailure("R3", f"calls {gone} vanished while their line is open")
        for app in view.apps:
            for line in app.lines:
                if line.hLine in lingering:
                    continue
                if self.model.lines[line.hLine].app != app.hLineApp:
                    raise InvariantFailure("R1", f"line {line.hLine:#x} under the wrong app")
        for device in view.devices:
            for pc in device.calls:
                for h in pc.handles:
                    if h in m.stale and h in calls:
                        raise InvariantFailure("R3", f"freed call {h:#x} is still in the tree")

    @invariant()
    def s6_10_tapi3_teardown(self) -> None:
        """A shut-down TAPI 3 object answers what §6.10 and docs/tapi3.md say: Initialize
        E_UNEXPECTED, Shutdown S_FALSE, RegisterCallNotifications (an address of before)
        TAPI_E_NOT_INITIALIZED, UnregisterNotifications E_INVALIDARG, EnumerateAddresses
        E_INVALIDARG; its layer's threads have ended and its HLINEAPP is gone (R8 checks
        the code). A live one's HLINEAPP is in the tree and its registrations answer."""
        self.checks += 1
        apps = {a.hLineApp for a in self.stack.hierarchy().apps}
        for n, t in enumerate(self.t3):
            if t.h is not None:
                if t.h not in apps or not t.obj.initialized:
                    raise InvariantFailure("§6.10", f"TAPI object {n} lost its HLINEAPP")
                continue
            if not t.shut:
                continue
            address = t.addresses[0] if t.addresses else None
            answers = {
                "Initialize": (t.obj.Initialize(), K.E_UNEXPECTED),
                "Shutdown": (t.obj.Shutdown(), K.S_FALSE),
                "EnumerateAddresses": (t.obj.EnumerateAddresses()[0], K.E_INVALIDARG),
                "RegisterCallNotifications": (
                    t.obj.RegisterCallNotifications(address, True, False, 0, 0)[0]
                    if address is not None
                    else K.TAPI_E_NOT_INITIALIZED,
                    K.TAPI_E_NOT_INITIALIZED,
                ),
            }
            for cookie in sorted(t.old):
                answers[f"UnregisterNotifications({cookie})"] = (
                    t.obj.UnregisterNotifications(cookie),
                    K.E_INVALIDARG,
                )
            for name, (got, want) in answers.items():
                if got != want:
                    raise InvariantFailure(
                        "§6.10",
                        f"shut-down TAPI object {n}: {name} returned {got:#x}, not {want:#x}",
                    )
            if t.obj.threads:
                raise InvariantFailure("§6.10", f"TAPI object {n}'s threads outlive Shutdown")

    @invariant()
    def R8_every_rule_also_tries_stale_handles(self) -> None:
        """Every rule that takes a handle draws it from the live or the stale bundle
        (``consumes`` keeps closed handles in a dead_* bundle); a stale one must give
        its R8 code from that function too, not only from the probes of
        `R8_stale_handles_get_their_codes`."""
        self.checks += 1
        tries, self.stale_tries = self.stale_tries, []
        self.stale_tried += len(tries)
        for call, rc, want in tries:
            if rc != want:
                raise InvariantFailure(
                    "R8",
                    f"{call} on a stale handle returned {C.result_name(rc)}, "
                    f"not {C.result_name(want)}",
                )

    @invariant()
    def R6_a_dead_clients_apps_are_shut_down(self) -> None:
        """Once a client's connection has dropped, none of the HLINEAPPs it held is in
        the tree (the server shut them down: R6), and the server lists exactly the
        clients still connected (docs/server.md, `tapisrv --status`)."""
        self.checks += 1
        if not self.conns:
            return
        live = {a.hLineApp for a in self.stack.hierarchy().apps}
        for client in self.conns:
            if client.alive:
                continue
            left = sorted(client.apps & live)
            if left:
                raise InvariantFailure(
                    "R6",
                    f"{client.name} dropped its connection but its apps "
                    f"{', '.join(f'{h:#x}' for h in left)} are alive",
                )
        assert isinstance(self.world, VirtualWorld) and self.world.server is not None
        status = self.world.server_status() or {"clients": []}
        listed = len(status["clients"])
        connected = sum(c.alive for c in self.conns)
        if listed != connected:
            raise InvariantFailure(
                "R6", f"the server lists {listed} clients, {connected} are connected"
            )

    @invariant()
    def R4_no_message_of_a_closed_object(self) -> None:
        self.checks += 1
        orphans = self.stack.hierarchy().orphans()
        if orphans:
            raise InvariantFailure("R4", "pending messages of closed objects: " + str(orphans))

    @invariant()
    def R8_stale_handles_get_their_codes(self) -> None:
        """Every handle the model freed answers its own code (R8, §6.5)."""
        self.checks += 1
        probes: dict[str, tuple[str, Callable[[int], Any]]] = {
            "app": ("lineGetMessage", lambda h: self.stack.lineGetMessage(h, 0)),
            "line": ("lineGetLineDevStatus", lambda h: self.stack.lineGetLineDevStatus(h)),
            "call": ("lineGetCallStatus", lambda h: self.stack.lineGetCallStatus(h)),
        }
        for h, kind in sorted(self.model.stale.items()):
            name, probe = probes[kind]
            result = probe(h)
            rc = result[0] if isinstance(result, tuple) else result
            want = self.model.expected(kind)
            if kind == "app":  # §2.14: lineGetMessage answers INVALAPPHANDLE even then
                want = C.LINEERR_INVALAPPHANDLE
            if rc != want:
                args: list[Any] = [h, 0] if kind == "app" else [h]
                step = {"call": name, "args": args, "returns": _code(want)}
                raise InvariantFailure(
                    "R8",
                    f"stale {kind} handle {h:#x}: {name} returned {C.result_name(rc)}, "
                    f"not {C.result_name(want)}",
                    step,
                )

    @invariant()
    def R9_handles_never_reused_request_ids_grow(self) -> None:
        """Also checked as each handle or request ID is issued (`Model.issue/accept`)."""
        self.checks += 1
        view = self.stack.hierarchy()
        for app in view.apps:
            for line in app.lines:
                for c in line.calls:
                    kind = self.model.issued.get(c.hCall)
                    if kind not in (None, "call"):
                        raise InvariantFailure(
                            "R9", f"call {c.hCall:#x} reuses the value of an earlier {_KIND[kind]}"
                        )
            for rid in app.pending_requests:
                r = self.model.requests.get(rid)
                if r is not None and r.app != app.hLineApp:
                    raise InvariantFailure("R9", f"request ID {rid} reused by another app")

    @invariant()
    def s6_1_every_accepted_request_gets_its_reply(self) -> None:
        """A request that returned an ID gets its LINE_REPLY unless §6.1 suppresses it:
        until then the stack still owes it, and after `wait` nothing is owed."""
        self.checks += 1
        view = self._observe()
        owed = set(view.requests)
        for app in view.apps:
            owed.update(app.pending_requests)
        for r in self.model.requests.values():
            if r.answered is not None or r.suppressed is not None:
                if r.suppressed is not None and r.rid in {
                    x for a in view.apps if a.hLineApp == r.app for x in a.pending_requests
                }:
                    raise InvariantFailure(
                        "§6.1", f"request {r.rid} still owed after {r.suppressed}"
                    )
                continue
            if r.rid not in owed:
                raise InvariantFailure(
                    "§6.1", f"request {r.rid} ({r.function}) was neither answered nor is it owed"
                )
            if self.settled_long:
                raise InvariantFailure(
                    "§6.1", f"request {r.rid} ({r.function}) unanswered after {LONG:g} s"
                )
        self.settled_long = False

    @invariant()
    def s6_7_request_recipients(self) -> None:
        """lineRegisterRequestRecipient on/off holds; lineShutdown withdraws it (§6.7)."""
        self.checks += 1
        for app in self.stack.hierarchy().apps:
            if app.hLineApp in self.model.others:
                continue
            model = self.model.apps[app.hLineApp]
            if bool(app.request_modes) != model.registered:
                raise InvariantFailure(
                    "§6.7", f"app {app.hLineApp:#x} request modes {app.request_modes:#x}"
                )

    @invariant()
    def s8_4_modem_on_hook_iff_no_active_call(self) -> None:
        """Each modem is off hook exactly while a call on its line is in a state that
        holds the line (dialing, proceeding, connected; docs/rules.md §5.2, §8.4)."""
        self.checks += 1
        if not isinstance(self.world, VirtualWorld):
            return
        view = self.stack.hierarchy()
        for device, name in enumerate(self.spec.lines):
            if device in self.model.removed:
                continue
            dv = next((d for d in view.devices if d.device_id == device), None)
            active = dv is not None and any(c.state in OFF_HOOK_STATES for c in dv.calls)
            world = self.world
            offhook = world.call(lambda n=name, w=world: w.host.modem(n).line.offhook)
            if offhook != active:
                states = [C.callstate_name(c.state or 0) for c in dv.calls] if dv else []
                raise InvariantFailure(
                    "§8.4",
                    f"modem {name} is {'off' if offhook else 'on'} hook with calls {states}",
                )

    def teardown(self) -> None:
        failed: BaseException | None = None
        try:
            for t in self.t3:
                t.obj.Shutdown()
            self._close_clients()
            self.world.close()
            faults = [e for e in self.stack.provider_errors if not self._expected_fault(e)]
            self.stack.provider_errors.clear()
            if faults:
                failed = InvariantFailure("§8.4", f"provider faults: {faults}")
            if failed is None:
                try:
                    self.s1_3_no_fd_or_thread_leaks()
                except InvariantFailure as leak:
                    failed = leak
        finally:
            observer = type(self).observer
            if observer is not None:
                observer(self)
        if failed is not None:
            raise failed

    def s1_3_no_fd_or_thread_leaks(self) -> None:
        """Once every app has shut down (teardown: the rest of §1.3's order, then the
        world closed), every descriptor and thread the run opened is gone: each app's
        event (R1), the ports, the server's sockets and eventfds (R6), the TAPI 3 pumps
        and the clients' reader threads. Checked at teardown, when they must be gone."""
        self.checks += 1
        leak = _leaks(self.threads_before, self.fds_before)
        if leak:
            raise InvariantFailure("§1.3", leak)

    def _close_clients(self) -> None:
        """Drop every client still connected and wait until the server has shut their
        apps down (the server then has no connection task to cancel when it closes)."""
        live = [c for c in self.conns if c.alive]
        for client in live:
            client.api.close()
            client.alive = False
        if live and isinstance(self.world, VirtualWorld) and self.world.server is not None:
            self.drops += len(live)
            self._wait_drops()

    def _wait_drops(self) -> bool:
        """Wait (real time, at most DROP_TIMEOUT) until the server has seen `drops`
        connections end and shut their apps down; False if it did not."""
        world = self.world
        assert isinstance(world, VirtualWorld) and world.server is not None
        waiting = asyncio.run_coroutine_threadsafe(world.server.wait_drops(self.drops), world.loop)
        try:
            waiting.result(DROP_TIMEOUT)
        except TimeoutError:
            waiting.cancel()
            return False
        return True

    def _expected_fault(self, error: str) -> bool:
        """A fault of a line whose port the machine removed (commands to it go unanswered:
        the provider is not told of the removal, see docs/fuzz.md)."""
        if _port_went(error):
            return True
        for device in self.model.removed:
            name = self.spec.lines[device]
            if error.startswith((f"device {device}:", f"Modem {name}:")):
                return True
        return False

    # -- failure reports ------------------------------------------------------------------------
    def write_failure(self, directory: str | Path, failure: BaseException) -> Path:
        """Write the replayable scenario of this run, ending with the step that shows
        `failure` (if one does), under `directory`; its path."""
        step = getattr(failure, "step", None)
        if step is not None and (not self.program.steps or self.program.steps[-1] != step):
            self.program.add(step)
        trace = "\n".join(
            f"{r.t:10.3f} {r.modem:>4} {r.kind:<9} {r.data!r}" for r in self.world.records[-40:]
        )
        return self.program.write(
            directory,
            name=f"fuzz {getattr(failure, 'rule', type(failure).__name__)}",
            failure=str(failure).split("\nFailing test case", 1)[0],
            live_apps=[
                (h, self.conns[a.client].name) if a.client is not None else h
                for h, a in sorted(self.model.apps.items())
            ]
            + sorted(self.model.others),
            trace=trace,
        )


def configured(
    configs: list[LineConfig] | None = None,
    *,
    observer: Callable[[StackMachine], None] | None = None,
    out_dir: str | None = None,
    transport: Transport = "vmodem",
) -> type[StackMachine]:
    """A `StackMachine` subclass over `configs` (None: the built-in virtual modems,
    reached over `transport`)."""
    return type(
        "StackMachine",
        (StackMachine,),
        {"configs": configs, "observer": observer, "out_dir": out_dir, "transport": transport},
    )


def _fds() -> set[str]:
    fds: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
    return fds


def _leaks(threads_before: set[threading.Thread], fds_before: set[str]) -> str | None:
    deadline = time.monotonic() + 5.0
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    threads = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    fds = sorted(_fds() - fds_before)
    if threads or fds:
        return f"threads {threads} and fds {fds} outlived the machine"
    return None


def _port_went(error: str) -> bool:
    return "gone" in error or "end of file" in error or "removed" in error


def _is_async(function: str) -> bool:
    return function in {"lineMakeCall", "lineAnswer", "lineDrop", "lineDial", "lineAccept"}


def _code(rc: int) -> int | str:
    """A return code as a scenario writes it: its constant's name, else the number."""
    name = C.result_name(rc)
    return name if name.startswith(("LINEERR_", "TAPIERR_")) else rc


def _arg(a: Any) -> Any:
    return a


def _show(a: Any) -> str:
    return f"{a:#x}" if isinstance(a, int) and a > 9 else repr(a)


__all__ = ["InvariantFailure", "Model", "StackMachine", "configured", "default_world"]
