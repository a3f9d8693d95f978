"""Trace records: what a modem saw and said, as one timestamped stream.

The JSON-lines file format (`--trace FILE`, `linelab trace`, fixtures/transcripts, the
scenario runner's failure reports) is written and read by `emulator.transcript`; this
module only defines the in-memory record and the sink type that engines, the exchange
and transports emit to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

TraceKind = Literal["dte>modem", "modem>dte", "line", "exchange"]


@dataclass(frozen=True)
class TraceRecord:
    """One event. `t` is seconds on the modem's clock. `data` is bytes for the two byte
    directions and text for `line` (e.g. "DCD=1") and `exchange` (e.g. "dial 1002")."""

    t: float
    modem: str
    kind: TraceKind
    data: bytes | str


TraceSink = Callable[[TraceRecord], None]
