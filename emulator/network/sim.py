"""`Sim`: modems, the exchange and scripted far ends in one process on virtual time.

The harness is the driver the sans-I/O engines need, in its simplest form: it feeds
typed bytes (never more than `dte_room()` at a time), ticks every actor whose
deadline has come, captures what each modem gives its DTE, and moves the
`ManualClock` straight to the next deadline. Six rings and an S7 time-out take
milliseconds.

    sim = Sim()
    a, b = sim.add_modem("A", "1001"), sim.add_modem("B", "1002")
    sim.type(a, "ATD1002\\r")
    sim.run(20)
    sim.output(b)   # b"\\r\\nRING\\r\\n…"
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from emulator.core.engine import ModemEngine
from emulator.core.profile import Profile, load_profile
from emulator.core.tracerecord import TraceRecord
from emulator.network.exchange import Exchange
from linelab.clock import ManualClock

DEFAULT_START = datetime(2026, 3, 21, 14, 5)
# Rounds of ticking at one instant before the harness calls it a livelock (a bug).
_MAX_ROUNDS = 100_000


class SimLivelock(RuntimeError):
    """Some actor keeps asking to run at the same instant without making progress."""


class Sim:
    """In-process modems on one exchange and one virtual clock."""

    def __init__(
        self, *, start: datetime = DEFAULT_START, clock: ManualClock | None = None
    ) -> None:
        self.clock = clock if clock is not None else ManualClock()
        self._records: list[TraceRecord] = []
        self.exchange = Exchange(self.clock, trace=self._records.append)
        self.exchange.set_datetime(start)
        self.modems: list[ModemEngine] = []
        self._pending: dict[int, bytearray] = {}
        self._captured: dict[int, bytearray] = {}

    def add_modem(
        self,
        name: str,
        number: str | None = None,
        profile: str | Profile = "generic",
        *,
        caller_name: str | None = None,
    ) -> ModemEngine:
        """A new modem on the exchange (profile by name, path or object)."""
        loaded = profile if isinstance(profile, Profile) else load_profile(profile)
        modem = ModemEngine(loaded, self.clock, name=name, trace=self._records.append)
        self.exchange.attach(modem, number, name=caller_name, rates=loaded.rates)
        self.modems.append(modem)
        self._pending[id(modem)] = bytearray()
        self._captured[id(modem)] = bytearray()
        return modem

    def type(self, modem: ModemEngine, text: str | bytes) -> None:
        """DTE input for `modem`, fed now (as fast as back-pressure allows)."""
        data = text.encode("latin-1") if isinstance(text, str) else text
        self._pending[id(modem)] += data
        self._settle()

    def run(self, seconds: float) -> None:
        """Advance virtual time by `seconds`, firing every timer in order."""
        self._run_to(self.clock.now() + seconds, None)

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Advance virtual time until `predicate()` holds (True) or `timeout` seconds
        of virtual time have passed (False)."""
        return self._run_to(self.clock.now() + timeout, predicate)

    def output(self, modem: ModemEngine) -> bytes:
        """What `modem` gave its DTE since the last call."""
        self._settle()
        buf = self._captured[id(modem)]
        data = bytes(buf)
        buf.clear()
        return data

    def peek(self, modem: ModemEngine) -> bytes:
        """Like `output()` but leaves the bytes for the next call."""
        self._settle()
        return bytes(self._captured[id(modem)])

    def transcript(self) -> list[TraceRecord]:
        """Every trace record so far (modems and exchange), in order."""
        return list(self._records)

    # -- the driver loop ---------------------------------------------------------------

    def _run_to(self, end: float, predicate: Callable[[], bool] | None) -> bool:
        while True:
            self._settle()
            if predicate is not None and predicate():
                return True
            deadline = self._next_deadline()
            if deadline is None or deadline > end:
                self.clock.advance_to(end)
                self._settle()
                return predicate() if predicate is not None else True
            self.clock.advance_to(deadline)

    def _next_deadline(self) -> float | None:
        times = [m.next_deadline() for m in self.modems]
        times.append(self.exchange.next_deadline())
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def _settle(self) -> None:
        """Do everything due at the current instant until nothing changes."""
        for _ in range(_MAX_ROUNDS):
            progress = False
            now = self.clock.now()
            for modem in self.modems:
                pending = self._pending[id(modem)]
                if pending:
                    room = modem.dte_room()
                    if room > 0:
                        chunk = bytes(pending[:room])
                        del pending[:room]
                        modem.receive_dte(chunk)
                        progress = True
                deadline = modem.next_deadline()
                if deadline is not None and deadline <= now:
                    modem.tick()
                    progress = True
                if modem.dte_pending():
                    data = modem.read_dte()
                    if data:
                        self._captured[id(modem)] += data
                        progress = True
            deadline = self.exchange.next_deadline()
            if deadline is not None and deadline <= now:
                self.exchange.tick()
                progress = True
            if not progress:
                return
        raise SimLivelock(f"no progress after {_MAX_ROUNDS} rounds at t={self.clock.now()}")
