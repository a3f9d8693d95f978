"""Assisted telephony's state (rules.md §2.22-2.24, 6.7): request recipients and their queue.

The highest-priority recipient is the first app (in registration order) still
registered for LINEREQUESTMODE_MAKECALL. One LINE_REQUEST covers every request queued
until the recipient has drained the queue with lineGetRequest; it is never repeated.
"""

from __future__ import annotations

from collections import deque

from tapi import constants as C
from tapi.core.records import App, Msg
from tapi.core.routing import Router


class Recipients:
    """Registered request recipients, queued tapiRequestMakeCall requests."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.registered: list[App] = []
        self.queue: deque[tuple[str, str, str, str]] = deque()
        self.notified: App | None = None

    def forget(self, app: App) -> None:
        """`app` shut down: no longer a recipient."""
        if app in self.registered:
            self.registered.remove(app)
        if self.notified is app:
            self.notified = None

    def recipient(self, mode: int) -> App | None:
        """The highest-priority app registered for `mode` (first registered wins)."""
        return next((a for a in self.registered if a.alive and a.request_modes & mode), None)

    def notify(self) -> None:
        """One LINE_REQUEST per batch of queued requests, never repeated."""
        app = self.recipient(C.LINEREQUESTMODE_MAKECALL)
        if app is None or not self.queue or self.notified is app:
            return
        self.notified = app
        self.router.post(
            app, Msg(0, C.LINE_REQUEST, app.registration_instance, C.LINEREQUESTMODE_MAKECALL)
        )
