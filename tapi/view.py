"""The hierarchy view: one read-only picture of a TAPI stack.

`tapi.Stack.hierarchy()` returns a `Hierarchy`: a tree of frozen dataclasses (apps >
lines > calls, and each app's pending messages in queue order) copied out of the core
under the stack's lock. It holds no reference to the core's records, so it stays
true to the moment it was taken and is safe to keep, compare, log or send
(`Hierarchy.to_dict()` is JSON-serialisable).

Tests, the telephony server's ``--status`` and the scenario teardown checks read the
stack through this view instead of reaching into private tables. The cleanup rules of
docs/rules.md (R1-R4) show in it directly: after lineShutdown the app is gone, after
lineClose the line and its calls are gone, and `Hierarchy.orphans()` lists any pending
message whose HLINE or HCALL is no longer in the tree (always empty if R4 holds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tapi import constants as C


@dataclass(frozen=True)
class MessageView:
    """One pending LINEMESSAGE in an app's queue, in queue order."""

    hDevice: int
    dwMessageID: int
    name: str  # "LINE_REPLY", "LINE_CALLSTATE", ... (tapi.constants name)
    dwCallbackInstance: int
    dwParam1: int
    dwParam2: int
    dwParam3: int
    hLine: int | None  # the HLINE this message belongs to (for purging), if any
    hCall: int | None  # the HCALL it belongs to, if any
    request_id: int | None  # the request a LINE_REPLY answers, if any
    #: Its HLINE was closed by the provider (LINE_CLOSE, rules.md §6.4): TAPI keeps what
    #: was queued, LINE_CLOSE last, for the app to read, so it is no orphan.
    closed_by_provider: bool = False


@dataclass(frozen=True)
class CallView:
    """One HCALL."""

    hCall: int
    privilege: int  # LINECALLPRIVILEGE_OWNER / _MONITOR
    state: int | None  # LINECALLSTATE_* or None before the first state
    device_id: int
    call_id: int  # the physical call (htCall); two apps' handles to one call share it
    #: False while TAPI holds the handle but the app may not use it yet: a lineMakeCall
    #: handle before its success LINE_REPLY (R7), an incoming call before its first state.
    valid: bool = True


@dataclass(frozen=True)
class LineView:
    """One HLINE."""

    hLine: int
    device_id: int
    privileges: int
    media_modes: int
    calls: tuple[CallView, ...]
    api_version: int = 0


@dataclass(frozen=True)
class AppView:
    """One HLINEAPP."""

    hLineApp: int
    name: str
    api_version: int
    options: int  # LINEINITIALIZEEXOPTION_*
    lines: tuple[LineView, ...]
    messages: tuple[MessageView, ...]
    pending_requests: tuple[int, ...]  # request IDs not yet answered
    request_modes: int  # lineRegisterRequestRecipient modes (0 = none)
    #: The module name lineHandoff targets by (the app name, or argv[0]'s base name).
    handoff_name: str = ""


@dataclass(frozen=True)
class ProviderCallView:
    """A call as its provider knows it (the TSPI htCall), whoever holds handles to it."""

    call_id: int
    state: int | None
    outgoing: bool
    handles: tuple[int, ...]  # every HCALL to it, valid or not

    @property
    def idle(self) -> bool:
        return self.state is not None and self.state & 0x00FFFFFF == C.LINECALLSTATE_IDLE


@dataclass(frozen=True)
class DeviceView:
    """A line device: the provider's side of the tree (only in the whole-stack view)."""

    device_id: int
    name: str  # LINEDEVCAPS LineName
    removed: bool
    provider_open: bool  # TSPI_lineOpen done and not yet closed
    opens: tuple[int, ...]  # the HLINEs open on it, of every app
    calls: tuple[ProviderCallView, ...]


@dataclass(frozen=True)
class Hierarchy:
    """The tree of a stack's apps (or some of them), taken at one moment.

    `devices` and `requests` describe the provider's side and are filled only in the
    whole-stack view (`Stack.hierarchy()` without ``apps``): a per-client view must not
    show other clients' objects.
    """

    apps: tuple[AppView, ...]
    devices: tuple[DeviceView, ...] = ()
    #: Every asynchronous request the core still waits on, the core's own included
    #: (the drop of a call whose last owner left, rules.md §6.2).
    requests: tuple[int, ...] = ()

    def is_empty(self) -> bool:
        """No HLINEAPP (hence no HLINE, HCALL or message) is left."""
        return not self.apps

    def counts(self) -> dict[str, int]:
        """``{"apps": n, "lines": n, "calls": n, "messages": n}``."""
        lines = [line for app in self.apps for line in app.lines]
        return {
            "apps": len(self.apps),
            "lines": len(lines),
            "calls": sum(len(line.calls) for line in lines),
            "messages": sum(len(app.messages) for app in self.apps),
        }

    def app(self, hLineApp: int) -> AppView | None:
        return next((a for a in self.apps if a.hLineApp == hLineApp), None)

    def line(self, hLine: int) -> LineView | None:
        return next((x for a in self.apps for x in a.lines if x.hLine == hLine), None)

    def call(self, hCall: int) -> CallView | None:
        """The HCALL `hCall`, valid or not."""
        return next(
            (c for a in self.apps for x in a.lines for c in x.calls if c.hCall == hCall), None
        )

    def owner_of(self, handle: int) -> AppView | None:
        """The app holding `handle` (an HLINEAPP, HLINE or HCALL)."""
        for a in self.apps:
            if a.hLineApp == handle:
                return a
            for x in a.lines:
                if x.hLine == handle or any(c.hCall == handle for c in x.calls):
                    return a
        return None

    def line_of(self, hCall: int) -> LineView | None:
        """The HLINE an HCALL was issued through."""
        return next(
            (x for a in self.apps for x in a.lines if any(c.hCall == hCall for c in x.calls)),
            None,
        )

    def hlines(self) -> set[int]:
        return {x.hLine for a in self.apps for x in a.lines}

    def hcalls(self, *, valid_only: bool = True) -> set[int]:
        """Every HCALL in the tree (only those the app may use, unless told otherwise)."""
        return {
            c.hCall
            for a in self.apps
            for x in a.lines
            for c in x.calls
            if c.valid or not valid_only
        }

    def provider_calls(self) -> tuple[ProviderCallView, ...]:
        return tuple(c for d in self.devices for c in d.calls)

    def orphans(self) -> list[MessageView]:
        """Pending messages whose hLine/hCall is not in their app's subtree (R4 says none).

        What a provider-forced close left queued for the app to read (LINE_CLOSE and
        what came before it, `MessageView.closed_by_provider`) is not an orphan."""
        out: list[MessageView] = []
        for a in self.apps:
            lines = {x.hLine for x in a.lines}
            calls = {c.hCall for x in a.lines for c in x.calls}
            for m in a.messages:
                if m.closed_by_provider:
                    continue
                if (m.hLine is not None and m.hLine not in lines) or (
                    m.hCall is not None and m.hCall not in calls
                ):
                    out.append(m)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists, strings, ints and None (``json.dumps`` takes it as is)."""
        return {
            "apps": [_plain(a) for a in self.apps],
            "devices": [_plain(d) for d in self.devices],
            "requests": list(self.requests),
            "counts": self.counts(),
        }

    def render(self) -> str:
        """An indented text tree, for failure reports and ``--status``."""
        if not self.apps and not self.devices:
            return "(no HLINEAPP)"
        out: list[str] = []
        for a in self.apps:
            out.append(
                f"HLINEAPP {a.hLineApp:#x} {a.name!r} api {a.api_version:#x} "
                f"options {a.options:#x}"
                + (f" request_modes {a.request_modes:#x}" if a.request_modes else "")
                + (f" pending {list(a.pending_requests)}" if a.pending_requests else "")
            )
            for x in a.lines:
                out.append(
                    f"  HLINE {x.hLine:#x} device {x.device_id} "
                    f"privileges {_privileges(x.privileges)} media {x.media_modes:#x}"
                )
                for c in x.calls:
                    state = "no state" if c.state is None else C.callstate_name(c.state)
                    out.append(
                        f"    HCALL {c.hCall:#x} {_privileges(c.privilege)} {state} "
                        f"call {c.call_id}" + ("" if c.valid else " (not yet valid)")
                    )
            for m in a.messages:
                about = ", ".join(
                    f"{k} {v:#x}" if k != "request" else f"{k} {v}"
                    for k, v in (("hLine", m.hLine), ("hCall", m.hCall), ("request", m.request_id))
                    if v is not None
                )
                out.append(
                    f"  message {m.name} hDevice {m.hDevice:#x} "
                    f"({m.dwParam1:#x}, {m.dwParam2:#x}, {m.dwParam3:#x})"
                    + (f" [{about}]" if about else "")
                )
        for d in self.devices:
            flags = ("removed " if d.removed else "") + ("open" if d.provider_open else "closed")
            out.append(f"device {d.device_id} {d.name!r} {flags} opens {len(d.opens)}")
            for pc in d.calls:
                state = "no state" if pc.state is None else C.callstate_name(pc.state)
                out.append(f"  call {pc.call_id} {state} handles {len(pc.handles)}")
        if self.requests:
            out.append(f"requests {list(self.requests)}")
        return "\n".join(out)


def _privileges(value: int) -> str:
    names = [n[len("LINECALLPRIVILEGE_") :] for v, n in C.LINECALLPRIVILEGE_NAMES.items()
             if v & value]  # fmt: skip
    return "|".join(names) or f"{value:#x}"


def _plain(obj: object) -> Any:
    """A view dataclass as JSON-ready builtins (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_plain(x) for x in obj]
    return obj


__all__ = [
    "AppView",
    "CallView",
    "DeviceView",
    "Hierarchy",
    "LineView",
    "MessageView",
    "ProviderCallView",
]
