"""The records of the resource hierarchy (rules.md §1.2): HLINEAPP > HLINE > HCALL > message.

Plain mutable records; all logic lives in the core's parts. The core has no lock: its
driver (tapi.Stack) serialises every call into it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tapi import constants as C
from tapi.providers.base import LineDevice


@dataclass(frozen=True)
class Msg:
    """One LINEMESSAGE as the core routes it, with the objects it belongs to (R4)."""

    hDevice: int
    dwMessageID: int
    dwCallbackInstance: int
    dwParam1: int = 0
    dwParam2: int = 0
    dwParam3: int = 0
    # Ownership, for purging: the HLINE and/or HCALL record the message is about, and
    # the request a LINE_REPLY answers.
    line: LineOpen | None = field(default=None, compare=False, repr=False)
    handle: CallHandle | None = field(default=None, compare=False, repr=False)
    request: Request | None = field(default=None, compare=False, repr=False)

    def belongs_to_line(self, line: LineOpen) -> bool:
        if self.line is line:
            return True
        if self.handle is not None and self.handle.line is line:
            return True
        return self.request is not None and self.request.line is line


@dataclass(eq=False)
class Device:
    """A line device known to the core (device ID = index in the core's table)."""

    device_id: int
    line: LineDevice
    removed: bool = False
    provider_open: bool = False
    opens: list[LineOpen] = field(default_factory=list)
    calls: list[PhysCall] = field(default_factory=list)


@dataclass(eq=False)
class App:
    """An HLINEAPP."""

    hLineApp: int
    friendly_name: str
    handoff_name: str
    api_version: int
    options: int  # LINEINITIALIZEEXOPTION_*: how the driver delivers the queue
    lines: dict[int, LineOpen] = field(default_factory=dict)
    #: Messages posted and not yet handed out, oldest first (changed only by the Outbox).
    queue: deque[Msg] = field(default_factory=deque)
    #: False when a posted message counts as delivered (completion port): never purged.
    recallable: bool = True
    #: The lineCallback (hidden-window option), or the completion port and its key.
    callback: Any = None
    completion_port: Any = None
    completion_key: int = 0
    alive: bool = True
    #: lineShutdown under way: its lines close one by one, but its queue is purged and
    #: its requests are cancelled once, for the whole app, at the end (not per line).
    closing: bool = False
    request_modes: int = 0
    registration_instance: int = 0


@dataclass(eq=False)
class LineOpen:
    """An HLINE: one lineOpen of one device by one app."""

    hLine: int
    app: App
    device: Device
    api_version: int
    ext_version: int
    callback_instance: int
    privileges: int
    media_modes: int
    line_states: int = 0
    address_states: int = 0
    num_rings: dict[int, int] = field(default_factory=dict)
    handles: dict[int, CallHandle] = field(default_factory=dict)
    alive: bool = True
    # Closed by its provider (LINE_CLOSE, rules.md §6.4): its queued messages stay for
    # the app to read.
    closed_by_provider: bool = False

    @property
    def owner(self) -> bool:
        return bool(self.privileges & C.LINECALLPRIVILEGE_OWNER)

    @property
    def monitor(self) -> bool:
        return bool(self.privileges & C.LINECALLPRIVILEGE_MONITOR)


@dataclass(eq=False)
class CallHandle:
    """An HCALL: one app's handle (through one HLINE) to one physical call."""

    hCall: int
    line: LineOpen
    call: PhysCall
    privilege: int
    valid: bool = False


@dataclass(eq=False)
class PhysCall:
    """A call on a device, as the provider knows it (the TSPI htCall)."""

    htCall: int
    device: Device
    outgoing: bool
    address_id: int = 0
    state: int | None = None
    state_mode: int = 0
    media_mode: int = C.LINEMEDIAMODE_UNKNOWN
    bearer_mode: int = C.LINEBEARERMODE_VOICE
    origin: int = C.LINECALLORIGIN_OUTBOUND
    reason: int = C.LINECALLREASON_DIRECT
    app_name: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    handles: list[CallHandle] = field(default_factory=list)
    # False until the call may be talked about: for lineMakeCall, the success reply
    # (R7); for a provider's call, its first LINE_CALLSTATE.
    announced: bool = False
    buffered: list[tuple[int, int]] = field(default_factory=list)
    closed: bool = False
    state_since: float = 0.0

    @property
    def idle(self) -> bool:
        return self.state is not None and self.state & 0x00FFFFFF == C.LINECALLSTATE_IDLE

    def holders(self) -> list[CallHandle]:
        return [h for h in self.handles if h.valid]

    def owners(self) -> list[CallHandle]:
        return [h for h in self.handles if h.privilege == C.LINECALLPRIVILEGE_OWNER]

    def monitors(self) -> list[CallHandle]:
        return [h for h in self.handles if h.privilege == C.LINECALLPRIVILEGE_MONITOR]


@dataclass(eq=False)
class Request:
    """An asynchronous request (positive ID) and what its completion must do."""

    request_id: int
    kind: str
    app: App | None
    line: LineOpen | None
    handle: CallHandle | None
    callback_instance: int
    call: PhysCall | None = None
    suppressed: bool = False
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
