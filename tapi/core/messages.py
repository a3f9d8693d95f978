"""The message queues of every HLINEAPP, and what changed since the driver last looked.

Sans-I/O: the core appends to an app's queue (`post`), deletes the messages of a closed
object (`purge`, R4), and hands the oldest out (`take`). It never signals anybody.
Instead it records *which* apps' queues changed and which callbacks a driver must let
finish (`quiesce`); the driver (tapi.Stack, or a telephony server on its own loop)
collects both with `changes()` after each call into the core and does the I/O: set an
eventfd, wake a lineGetMessage, run callbacks, put to a completion port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tapi.core.records import App, Msg

#: A predicate over queued messages: "this one is about an object that just closed".
Doomed = Callable[[Msg], bool]


@dataclass
class Changes:
    """What a driver must act on after one call into the core."""

    #: Apps whose queue grew, shrank or closed (by HLINEAPP, in first-change order).
    apps: dict[int, App] = field(default_factory=dict)
    #: Apps initialised since: the driver sets up their delivery (an eventfd, a
    #: callback thread, the completion port).
    started: list[App] = field(default_factory=list)
    #: (app, doomed): once the call returns, no callback for a `doomed` message may still
    #: be running for `app` (lineClose, lineDeallocateCall, lineShutdown).
    quiesce: list[tuple[App, Doomed]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.apps or self.quiesce or self.started)


class Outbox:
    """Every app's queue lives on its `App` record (`App.queue`); this is the one place
    that changes them, so that every change is recorded for the driver."""

    def __init__(self) -> None:
        self._changes = Changes()

    def opened(self, app: App) -> None:
        """`app` was just initialised: the driver starts its delivery."""
        self._changes.started.append(app)

    def post(self, app: App, msg: Msg) -> None:
        """Queue `msg` for `app` (nothing once the app has shut down)."""
        if app.alive:
            app.queue.append(msg)
            self._changes.apps[app.hLineApp] = app

    def purge(self, app: App, doomed: Doomed) -> None:
        """Delete the queued messages for which `doomed` is true (R4). A queue whose
        messages count as delivered once posted (the completion-port option) keeps them."""
        if not app.recallable or app.closing:
            return
        kept = [m for m in app.queue if not doomed(m)]
        if len(kept) != len(app.queue):
            app.queue.clear()
            app.queue.extend(kept)
            self._changes.apps[app.hLineApp] = app

    def quiesce(self, app: App, doomed: Doomed) -> None:
        """Ask the driver to let a running callback for a `doomed` message finish."""
        if app.closing:
            return  # lineShutdown asks once for everything
        self._changes.quiesce.append((app, doomed))

    def take(self, app: App) -> Msg | None:
        """The oldest message of `app`, removed from its queue; None when it is empty."""
        if not app.queue:
            return None
        self._changes.apps[app.hLineApp] = app
        return app.queue.popleft()

    def closed(self, app: App) -> None:
        """`app` has shut down: the driver ends its delivery."""
        if app.recallable:
            app.queue.clear()
        self._changes.apps[app.hLineApp] = app

    def changes(self) -> Changes:
        """What changed since the last call (and forget it)."""
        changes, self._changes = self._changes, Changes()
        return changes
