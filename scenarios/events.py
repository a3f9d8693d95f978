"""What the runner notes for a report: API calls and returns, TAPI messages, provider
events and steps, in order with the AT transcript.

Only kept when `linelab run --report`/`--record` asks for it (`run_case(keep_records=
True)`); otherwise the runner has no `EventLog` and notes nothing. Each event is a
JSON-able dict (it crosses from a ``--jobs`` worker as part of the `Result`):

- ``t``: telephony seconds (the world's clock; real time since the start on a port);
- ``at``: how many transcript records existed when it happened, so `scenarios.ladder`
  puts it between the right AT records even when both have the same ``t``;
- ``kind``: ``world`` (first: the modems, lines and far ends), ``step``, ``call`` and
  ``return`` (flat API), ``com`` and ``comreturn`` (TAPI 3.x), ``message`` (what
  lineGetMessage gave the app), ``provider`` (a provider's event into TAPI), ``tspi``
  (a request of TAPI to the provider: ``open``, ``make_call``, ``drop`` …);
- ``actor``: the app (``app 1 NAME``), for calls, returns and messages;
- ``label``: the text to draw; ``step``: the number of the step it belongs to and
  ``where`` (file:line) on step events.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from scenarios.language import Step, World
from tapi import constants as C

#: Events a world records into (the transcript) and its clock: what `EventLog` needs.
APP = "app"


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return f"{value:#x}" if value > 9 else str(value)
    if isinstance(value, str):
        return repr(value)
    name = type(value).__name__
    return name if name.isupper() else f"<{name}>"


class EventLog:
    """The events of one case (see module doc). Thread-safe: provider events arrive on
    the world's loop thread, the rest on the scenario's."""

    def __init__(self, world: World, records: Sequence[Any], now: Any) -> None:
        self._records = records
        self._now = now
        self._lock = threading.Lock()
        self._t0 = 0.0
        self.step_no = 0
        self.apps: dict[int, str] = {}  # hLineApp -> column name
        self.owner: dict[int, int] = {}  # hLine / hCall -> hLineApp
        self.events: list[dict[str, Any]] = [
            {
                "kind": "world",
                "t": 0.0,
                "at": 0,
                "modems": {m.name: m.number for m in world.modems.values()},
                "lines": list(world.lines),
                "far": sorted(world.far),
            }
        ]

    def start_clock(self, t0: float) -> None:
        """Times are since `t0` (a real-time target; virtual time starts at 0)."""
        self._t0 = t0

    def _add(self, kind: str, label: str, **extra: Any) -> None:
        with self._lock:
            self.events.append(
                {
                    "kind": kind,
                    "t": round(float(self._now()) - self._t0, 6),
                    "at": len(self._records),
                    "step": self.step_no,
                    "label": label,
                    **extra,
                }
            )

    # -- the app's side ----------------------------------------------------------------------
    def app_of(self, handles: Sequence[Any]) -> str:
        for h in handles:
            if not isinstance(h, int) or isinstance(h, bool):
                continue
            if h in self.apps:
                return self.apps[h]
            if h in self.owner and self.owner[h] in self.apps:
                return self.apps[self.owner[h]]
        return next(iter(self.apps.values()), APP)

    def step(self, step: Step) -> None:
        self.step_no += 1
        self._add("step", f"{step.where}: {step.title()}", where=str(step.where))

    def _new_app(self, params: dict[str, Any]) -> str:
        name = params.get("lpszFriendlyAppName") or params.get("lpszAppName") or ""
        return f"{APP} {len(self.apps) + 1}" + (f" {name}" if name else "")

    def call(self, function: str, params: dict[str, Any]) -> str:
        app = self.app_of(list(params.values()))
        if function in _INIT:  # drawn from the app it makes
            app = self._new_app(params)
        args = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        self._add("call", f"{function}({args})", actor=app)
        return app

    def returned(
        self, function: str, params: dict[str, Any], rc: Any, outs: dict[str, Any]
    ) -> None:
        app = self.app_of(list(params.values()))
        if function in _INIT:
            app = self._new_app(params)
            if isinstance(outs.get("hLineApp"), int):
                self.apps[outs["hLineApp"]] = app
        owner = next(
            (
                self.owner.get(v, v)
                for v in params.values()
                if isinstance(v, int) and (v in self.apps or v in self.owner)
            ),
            None,
        )
        for key in ("hLine", "hCall"):
            if owner is not None and isinstance(outs.get(key), int):
                self.owner[outs[key]] = owner
        shown = C.result_name(rc) if isinstance(rc, int) else _short(rc)
        if isinstance(rc, int) and rc > 0 and function in _ASYNC:
            shown = f"request {rc}"
        extra = ", ".join(f"{k}={_short(v)}" for k, v in outs.items() if isinstance(v, int))
        self._add("return", f"{function}: {shown}" + (f" ({extra})" if extra else ""), actor=app)

    def com(self, name: str, args: Sequence[Any]) -> None:
        self._add("com", f"{name}({', '.join(_short(a) for a in args)})", actor=self.app_of([]))

    def com_returned(self, name: str, hr: int) -> None:
        self._add("comreturn", f"{name}: {C.hresult_name(hr)}", actor=self.app_of([]))

    def message(self, h_app: Any, m: Any) -> None:
        if m.dwMessageID in (C.LINE_CALLSTATE, C.LINE_APPNEWCALL, C.LINE_CALLINFO):
            call = m.dwParam2 if m.dwMessageID == C.LINE_APPNEWCALL else m.hDevice
            if isinstance(h_app, int) and call:
                self.owner.setdefault(call, h_app)
        name = C.message_name(m.dwMessageID)
        p1 = (
            C.callstate_name(m.dwParam1)
            if m.dwMessageID == C.LINE_CALLSTATE
            else f"{m.dwParam1:#x}"
        )
        label = f"{name}(hDevice={m.hDevice:#x}, {p1}, {m.dwParam2:#x}, {m.dwParam3:#x})"
        self._add("message", label, actor=self.app_of([h_app]))

    # -- the provider's side -----------------------------------------------------------------
    def provider(self, event: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A provider event into TAPI, or a TSPI request (``tspi:NAME``) of TAPI to the
        provider (`tapi.Stack.watch_events`)."""
        shown = []
        for i, a in enumerate(args):
            if event == "call_state" and i == 1 and isinstance(a, int):
                shown.append(C.callstate_name(a))
            elif isinstance(a, int | str | bytes) or a is None:
                shown.append(_short(a))
            else:  # a line device by its name, a struct by its type
                caps = getattr(a, "caps", None)
                shown.append(str(getattr(caps, "line_name", "") or type(a).__name__))
        shown += [f"{k}={_short(v)}" for k, v in kwargs.items()]
        kind, _, name = event.rpartition(":")
        self._add(kind or "provider", f"{name}({', '.join(shown)})")


_INIT = frozenset({"lineInitialize", "lineInitializeEx"})
_ASYNC = frozenset(
    {"lineMakeCall", "lineDial", "lineAnswer", "lineAccept", "lineDrop", "lineSetCallParams"}
)

__all__ = ["APP", "EventLog"]
