"""The TAPI core: its parts, how they fit, and one call at a time.

How it works
============

The core has no lock, no thread and never waits: its driver (tapi.Stack) serialises
every call into it and does all waiting and signalling. `CoreState` puts together small
parts, each in its own module, that hold no reference to the driver:

- `tapi.core.tables.Tables`: HLINEAPPs, HLINEs, HCALLs, the provider's calls (htCall),
  asynchronous requests, line devices; handle counters (R9) and the R8 look-ups.
- `tapi.core.messages.Outbox`: each app's message queue (`App.queue`) and the record of
  which queues changed, and which running callbacks a close must let finish; the
  driver collects that with `changes()` after each call and delivers (tapi.notify).
- `tapi.core.routing.Router`: who hears what; each message remembers the HLINE, HCALL
  or request it belongs to, so that closing any object purges exactly its pending
  messages (R4).
- `tapi.core.tree.HandleTree`: the HLINEAPP > HLINE > HCALL hierarchy and the cleanup
  rules R1-R4 (lineShutdown, lineClose, lineDeallocateCall, a call's last handle).
- `tapi.core.callstate.CallStates`: the call-state table's checks, R7's buffering,
  LINE_CALLSTATE to holders, NUMCALLS.
- `tapi.core.recipients.Recipients`: assisted telephony's recipients and queue.
- `tapi.core.events.ProviderEvents`: what a line device reports (completion, new call,
  call state …) applied through the parts above.

The flat functions (grouped in `tapi.core.lines`, `tapi.core.calls`,
`tapi.core.assisted`, put together as `tapi.core.core.TapiCore`) check their arguments
in the order of rules.md §2 (UNINITIALIZED, handle, pointer/size, values,
privilege, state, resources), then act through the parts.

Provider events arrive through the driver's `LineEvents`, which calls `run_event` with
the matching `ProviderEvents` method. An event raised by a provider from inside one of
its TSPI methods (the driver's lock is re-entrant, so the same thread gets in) is
queued and run when the API call that called the provider finishes, so no function
ever sees the tables change half-way through.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from linelab.vtime import TimeSource
from tapi import constants as C
from tapi.core.callstate import CallStates
from tapi.core.events import ProviderEvents
from tapi.core.messages import Outbox
from tapi.core.recipients import Recipients
from tapi.core.records import Msg
from tapi.core.routing import Router
from tapi.core.tables import Tables
from tapi.core.tree import HandleTree
from tapi.providers.base import Provider
from tapi.structs import LINEMESSAGE

#: The TAPI versions this stack speaks (TAPI 2.x line API).
TAPI_LOW = C.TAPI_VERSION1_0
TAPI_HIGH = C.TAPI_VERSION2_2


def to_linemessage(msg: Msg) -> LINEMESSAGE:
    """The application's view of a routed message."""
    return LINEMESSAGE(
        msg.hDevice,
        msg.dwMessageID,
        msg.dwCallbackInstance,
        msg.dwParam1,
        msg.dwParam2,
        msg.dwParam3,
    )


def default_app_name() -> str:
    """The module name TAPI uses when lpszAppName/lpszFriendlyAppName is NULL."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    return os.path.basename(argv0)


class CoreState:
    """The parts of one core (see module doc) and its one-call-at-a-time discipline."""

    def __init__(
        self,
        time: TimeSource,
        *,
        ce: bool = False,
        attach: Callable[[Any], None] | None = None,
    ) -> None:
        self.time = time  # read (now()) for call-state times; never waited on
        self.ce = ce
        self.provider_errors: list[str] = []
        #: Why the line configuration could not be read (file, line and key), when it
        #: could not: lineInitialize(Ex) then answer LINEERR_INIFILECORRUPT, as TAPI
        #: does for a corrupt telephony configuration.
        self.config_error: str | None = None
        self.providers: list[Provider] = []
        self.tables = Tables()
        self.outbox = Outbox()
        self.router = Router(self.outbox)
        self.recipients = Recipients(self.router)
        self.tree = HandleTree(
            self.tables, self.router, self.outbox, self.recipients, self.provider_errors, ce=ce
        )
        self.states = CallStates(self.tree, self.router, self.provider_errors, time)
        self.events = ProviderEvents(
            self.tables, self.router, self.tree, self.states, self.provider_errors, attach
        )
        self._attach = attach
        self._depth = 0
        self._deferred: deque[Callable[[], None]] = deque()

    # -- one call at a time, and deferred provider events ----------------------------------
    @contextmanager
    def op(self) -> Iterator[None]:
        """One API call; provider events it triggered run afterwards. The driver
        serialises calls, so a call that starts while another runs is a provider
        re-entering from inside a TSPI method on the same thread."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._run_deferred()

    @property
    def busy(self) -> bool:
        """An API call or provider event is under way (its driver must not deliver yet)."""
        return self._depth > 0

    def _run_deferred(self) -> None:
        while self._deferred:
            event = self._deferred.popleft()
            self._depth = 1
            try:
                event()
            finally:
                self._depth = 0

    def run_event(self, event: Callable[[], None]) -> None:
        """Run a provider event now, or after the API call under way."""
        if self._depth:
            self._deferred.append(event)
            return
        with self.op():
            event()

    # -- devices ---------------------------------------------------------------------------
    def add_provider(self, provider: Provider) -> None:
        """Register a provider's devices (device IDs in order; no LINE_CREATE)."""
        with self.op():
            self.providers.append(provider)
            # A provider with no lines yet must still learn where to report, or it
            # could never announce a device with LINE_CREATE.
            if self._attach is not None and hasattr(provider, "attach"):
                self._attach(provider)
            for line in provider.lines():
                self.events.register_device(line)
