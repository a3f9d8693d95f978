"""The modem's states and the triggers that move between them: all state logic of
`ModemEngine` that is about *which* state the modem is in lives in this table.

Per-byte work (the command-line assembler, the escape detector, the data path) is
plain code in the engine that looks at `state`; only state *changes* go through the
`transitions` machine, because a transition costs ~100 times a dict lookup.

`docs/modem-states.md` is generated from `TRANSITIONS` by `mermaid()` (run
`python tools/gen_diagrams.py`); a unit test fails when the two disagree.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from transitions import Machine


class ModemState(StrEnum):
    """The modem's states. A member equals its string value ("online"), so callers
    may compare with either, but code in emulator/ uses the members so that mypy and
    grep see every use, and a misspelt state is an AttributeError, not a silent False."""

    COMMAND = "command"  # on hook (or off hook after `ATD…;`), the DTE types AT commands
    DIALING = "dialing"  # ATD: waiting for dial tone, dialling, then waiting S7 for carrier
    RINGING = "ringing"  # an incoming call rings this line (RING on the profile's cadence)
    ANSWERING = "answering"  # ATA or S0: off hook, waiting S7 for carrier
    ONLINE = "online"  # carrier up, bytes from the DTE go to the far end (data mode)
    ONLINE_COMMAND = "online_command"  # carrier up, escaped with +++ (or DTR, &D1)
    CARRIER_LOST = "carrier_lost"  # the far end hung up or carrier dropped; NO CARRIER after S10


COMMAND, DIALING, RINGING, ANSWERING, ONLINE, ONLINE_COMMAND, CARRIER_LOST = ModemState
STATES: tuple[ModemState, ...] = tuple(ModemState)

Trigger = Literal[
    "dial",
    "incoming",
    "caller_gone",
    "answer",
    "connect",
    "call_failed",
    "voice",
    "escape",
    "resume",
    "carrier_loss",
    "no_carrier",
    "hangup",
]

# trigger, source(s), destination
TRANSITIONS: tuple[tuple[Trigger, ModemState | list[ModemState], ModemState], ...] = (
    ("dial", COMMAND, DIALING),
    ("incoming", COMMAND, RINGING),
    ("caller_gone", RINGING, COMMAND),
    ("answer", RINGING, ANSWERING),
    ("connect", [DIALING, ANSWERING], ONLINE),
    ("call_failed", [DIALING, ANSWERING], COMMAND),
    ("voice", DIALING, COMMAND),
    ("escape", ONLINE, ONLINE_COMMAND),
    ("resume", ONLINE_COMMAND, ONLINE),
    ("carrier_loss", [ONLINE, ONLINE_COMMAND], CARRIER_LOST),
    ("no_carrier", CARRIER_LOST, COMMAND),
    ("hangup", [DIALING, ANSWERING, ONLINE, ONLINE_COMMAND, CARRIER_LOST], COMMAND),
)


def _machine() -> Machine:
    """The one `transitions` machine of `TRANSITIONS`, shared by every modem.

    It has no models of its own: an event is triggered *for* a `ModemStates`
    (``event.trigger(states)``), which holds its state in ``.state``. Building a machine
    per modem cost about 0.6 ms and 25 KiB each (bound trigger methods and callback
    lists for every model), which a farm of 1000 modems paid 1000 times."""
    return Machine(
        model=None,
        states=list(STATES),
        transitions=[{"trigger": t, "source": src, "dest": dest} for t, src, dest in TRANSITIONS],
        initial=COMMAND,
        auto_transitions=False,
        send_event=False,
    )


MACHINE = _machine()


class ModemStates:
    """The state of one modem, driven by the shared `MACHINE` (the `TRANSITIONS` table)."""

    __slots__ = ("state",)

    state: ModemState

    def __init__(self, initial: ModemState = COMMAND) -> None:
        self.state = ModemState(initial)

    def fire(self, trigger: Trigger) -> None:
        """Run one trigger; an invalid one is a bug (transitions raises MachineError)."""
        MACHINE.events[trigger].trigger(self)

    def can(self, trigger: Trigger) -> bool:
        """True if `trigger` is valid in the current state."""
        event: Any = MACHINE.events[trigger]
        return self.state.name in event.transitions


def mermaid() -> str:
    """A mermaid stateDiagram of `TRANSITIONS`, as written into docs/modem-states.md."""
    lines = ["stateDiagram-v2", "  direction LR", "  [*] --> command"]
    for trigger, sources, dest in TRANSITIONS:
        for source in [sources] if isinstance(sources, str) else sources:
            lines.append(f"  {source} --> {dest}: {trigger}")
    return "\n".join(lines) + "\n"


def diagram_document() -> str:
    """The full text of docs/modem-states.md."""
    return (
        "# Modem states\n\n"
        "Generated from `emulator/core/states.py` (`TRANSITIONS`) by `tools/gen_diagrams.py`;"
        " do not edit by hand.\n\n"
        "```mermaid\n" + mermaid() + "```\n" + _TIMING
    )


# Figures from emulator.core.engine (a unit test checks that they agree).
_TIMING = """
## Ringing and caller ID

- RING is reported at the start of each ring burst of the profile's cadence (default
  2 s on, 4 s off); RI is on during each burst only, and S1 counts the RINGs (it
  clears 8 s after the ringing stops).
- Caller ID (`+VCID=1` formatted, `+VCID=2` hex) is sent by the network in the silence
  after the *first* burst, so it is printed after the first RING and before the
  second: 0.5 s after the burst ends plus the Bell 202 FSK time of the message
  (300 seizure bits, 180 mark bits and 10 bits per byte at 1200 bit/s), about 3.1 s
  after the first RING for a caller with a name. It never comes later than the
  middle of the first silence. `+VRID` repeats the last one received.
- S0=n answers 0.05 s after the n-th RING (RI is on meanwhile). Caller ID is only
  sent on hook, so with S0=1 (or ATA during the first burst) no caller ID is shown
  and `+VRID` has none for that call; use S0=2 to see it before auto-answer.
"""
