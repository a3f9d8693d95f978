"""The boundary between a modem and the virtual exchange (the "telephone line").

A modem engine never talks to another modem directly. It holds a `Line` handed out by
`Exchange.attach()` and makes requests on it (dial, answer, hang up, send data). The
exchange tells the modem what happens on the line by calling `LinePeer.line_event()`
with one of the events below. Both sides are sans-I/O: nothing here blocks, sleeps or
touches a file descriptor, and results arrive later as events.

Back-pressure: `Line.send_room()` says how many data bytes the far end will accept
now (for a modem, the free space in its DTE output buffer; for a scripted far end,
unbounded). A transport reads no more than that from its DTE, so data-mode bytes are
never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CallerId:
    """Who is calling. `number`/`name` are None when absent; `number_absent` and
    `name_absent` then give the reason: "P" (private) or "O" (out of area/unavailable)."""

    number: str | None = None
    name: str | None = None
    number_absent: str | None = None
    name_absent: str | None = None


# -- events from the exchange to a modem ------------------------------------------


@dataclass(frozen=True)
class IncomingCall:
    """Someone is calling this line: start ringing. `when` is the exchange's wall-clock
    time of the call (what caller ID's DATE and TIME show); None if unknown."""

    caller: CallerId
    when: datetime | None = None


@dataclass(frozen=True)
class CallerGone:
    """The caller gave up before this line answered: stop ringing."""


@dataclass(frozen=True)
class Busy:
    """The dialled number is busy."""


#: What the network plays to a caller who dialled an unassigned number
#: (`Exchange.set_unassigned`): ``reorder`` (the fast busy of real networks, which a
#: modem reports as BUSY, gated by its X level) or ``silence`` (nothing; the modem
#: gives up at S7 with NO CARRIER).
UNASSIGNED_TONES: tuple[str, ...] = ("reorder", "silence")


@dataclass(frozen=True)
class Unobtainable:
    """The dialled number does not exist; `tone` is what the caller hears
    (`UNASSIGNED_TONES`)."""

    tone: str = "reorder"


@dataclass(frozen=True)
class Ringback:
    """The dialled line is ringing (one event per ring cycle at the far end)."""


@dataclass(frozen=True)
class Connected:
    """Carrier is up at `rate` bit/s (after our dial was answered, or after our answer)."""

    rate: int


@dataclass(frozen=True)
class Data:
    """Bytes from the far end of a connected call."""

    data: bytes


@dataclass(frozen=True)
class RemoteHangup:
    """The far end hung up (the call is over; report NO CARRIER after S10)."""


@dataclass(frozen=True)
class CarrierLost:
    """Carrier dropped mid-call without a hang-up (report NO CARRIER after S10)."""


LineEvent = (
    IncomingCall
    | CallerGone
    | Busy
    | Unobtainable
    | Ringback
    | Connected
    | Data
    | RemoteHangup
    | CarrierLost
)


class LinePeer(Protocol):
    """What the exchange needs from a modem attached to it."""

    def line_event(self, event: LineEvent) -> None:
        """Handle one event from the line. Must not call back into the exchange
        synchronously in a way that re-enters the caller (queue if in doubt)."""

    def rx_room(self) -> int:
        """How many more data bytes this modem can take for its DTE right now."""


class Line(Protocol):
    """A modem's handle on the exchange, from `Exchange.attach()`."""

    number: str

    def has_dialtone(self) -> bool:
        """False when this line is set to have no dial tone."""

    def dial(self, digits: str) -> None:
        """Place a call; the outcome arrives as events (Connected, Busy, …)."""

    def answer(self) -> None:
        """Answer the call that is ringing this line; Connected follows."""

    def hangup(self) -> None:
        """Go on hook, ending or refusing any call on this line."""

    def off_hook(self) -> None:
        """Go off hook without a call (ATH1): callers get BUSY until hangup()."""

    def send(self, data: bytes) -> None:
        """Send data to the far end of a connected call (at most send_room() bytes)."""

    def send_room(self) -> int:
        """How many data bytes the far end accepts right now."""

    def drop_carrier(self) -> None:
        """Lose carrier mid-call without a hang-up: both ends get CarrierLost."""
