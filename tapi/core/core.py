"""`TapiCore`: the whole TAPI core, sans-I/O (see tapi.core.state for how it works).

The core takes API calls (the flat functions, as methods) and provider events
(`run_event` with an ``ev_*`` method) in, and gives return codes out at once. Messages
go into each app's queue; after every call a driver collects `changes()`: the apps
whose queues changed (so it can set an eventfd, wake a lineGetMessage, run a callback
or fill a completion port) and the callbacks it must let finish. The core has no lock,
no thread and never waits: the driver serialises calls into it and does all waiting
(tapi.Stack with threads and a Condition; a telephony server could use its asyncio
loop instead, with no thread per client).
"""

from __future__ import annotations

from collections.abc import Iterable

from tapi.core import snapshot
from tapi.core.assisted import AssistedFunctions
from tapi.core.calls import CallFunctions
from tapi.core.lines import LineFunctions
from tapi.core.messages import Changes
from tapi.core.records import App, Msg
from tapi.view import Hierarchy


class TapiCore(LineFunctions, CallFunctions, AssistedFunctions):
    """Every flat function, the provider-event inputs and the driver's outputs."""

    def changes(self) -> Changes:
        """What changed since the last call: apps whose queues changed, callbacks to
        let finish, apps that started or shut down (the driver acts on each)."""
        return self.outbox.changes()

    def take_message(self, app: App) -> Msg | None:
        """Hand out the oldest message of `app` (a callback dispatcher, a completion
        port); None when its queue is empty."""
        return self.outbox.take(app)

    def pending(self, hLineApp: int) -> list[Msg]:
        """The queue of `hLineApp` (empty for an unknown app)."""
        app = self.tables.apps.get(hLineApp)
        return [] if app is None else list(app.queue)

    def hierarchy(self, apps: Iterable[int] | None = None) -> Hierarchy:
        """The read-only tree (tapi.view) of every app, or of the given HLINEAPPs."""
        return snapshot.hierarchy(self, apps)

    def close(self) -> None:
        """Shut down every HLINEAPP (R6) and every provider."""
        with self.op():
            for app in list(self.tables.apps.values()):
                self.tree.shutdown_app(app)
            for provider in self.providers:
                provider.shutdown()
