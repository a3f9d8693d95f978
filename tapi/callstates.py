"""The LINECALLSTATE transition table (rules.md §5.3) and the diagram generated from it.

TAPI 2 publishes no transition table; this one is derived from the state definitions
in rules.md §5.3. It is the only place call-state logic lives: the core asks
`allowed()` before it accepts a state a provider reports, and docs/call-states.md is
generated from the same `TRANSITIONS` list (run ``python -m tapi.callstates``).

The table is declared in the format of the `transitions` library
(``Machine(..., auto_transitions=False)``): one trigger per destination state, named
after it in lower case. Two pseudo-states stand for a call that has no state yet:
``NEW_OUTGOING`` (created by lineMakeCall) and ``NEW_INCOMING`` (reported by the
provider, or first seen by a monitor).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tapi import constants as C

#: LINECALLSTATE_* name (without prefix) for each value.
STATE_NAMES: dict[int, str] = {
    C.LINECALLSTATE_IDLE: "IDLE",
    C.LINECALLSTATE_OFFERING: "OFFERING",
    C.LINECALLSTATE_ACCEPTED: "ACCEPTED",
    C.LINECALLSTATE_DIALTONE: "DIALTONE",
    C.LINECALLSTATE_DIALING: "DIALING",
    C.LINECALLSTATE_RINGBACK: "RINGBACK",
    C.LINECALLSTATE_BUSY: "BUSY",
    C.LINECALLSTATE_SPECIALINFO: "SPECIALINFO",
    C.LINECALLSTATE_CONNECTED: "CONNECTED",
    C.LINECALLSTATE_PROCEEDING: "PROCEEDING",
    C.LINECALLSTATE_ONHOLD: "ONHOLD",
    C.LINECALLSTATE_CONFERENCED: "CONFERENCED",
    C.LINECALLSTATE_ONHOLDPENDCONF: "ONHOLDPENDCONF",
    C.LINECALLSTATE_ONHOLDPENDTRANSFER: "ONHOLDPENDTRANSFER",
    C.LINECALLSTATE_DISCONNECTED: "DISCONNECTED",
    C.LINECALLSTATE_UNKNOWN: "UNKNOWN",
}
STATE_VALUES: dict[str, int] = {name: value for value, name in STATE_NAMES.items()}

NEW_OUTGOING = "NEW_OUTGOING"
NEW_INCOMING = "NEW_INCOMING"
STATES: list[str] = [NEW_OUTGOING, NEW_INCOMING, *STATE_NAMES.values()]

_HELD = ["ONHOLD", "ONHOLDPENDCONF", "ONHOLDPENDTRANSFER"]
_REAL = list(STATE_NAMES.values())

# From -> allowed next states, exactly rules.md §5.3. The rows for the held and
# conferenced states are not in 5.3 (the modem line never reaches them); they get the
# conservative "back to CONNECTED or down" set.
_NEXT: dict[str, list[str]] = {
    NEW_OUTGOING: [
        "DIALTONE", "DIALING", "PROCEEDING", "RINGBACK", "CONNECTED", "BUSY",
        "SPECIALINFO", "DISCONNECTED", "IDLE", "UNKNOWN",
    ],
    NEW_INCOMING: [s for s in _REAL if s != "IDLE"],
    "OFFERING": ["ACCEPTED", "CONNECTED", "DISCONNECTED", "IDLE"],
    "ACCEPTED": ["CONNECTED", "DISCONNECTED", "IDLE"],
    "DIALTONE": ["DIALING", "PROCEEDING", "DISCONNECTED", "IDLE"],
    "DIALING": ["DIALING", "PROCEEDING", "RINGBACK", "BUSY", "CONNECTED", "DISCONNECTED", "IDLE"],
    "PROCEEDING": ["RINGBACK", "BUSY", "SPECIALINFO", "CONNECTED", "DISCONNECTED", "IDLE"],
    "RINGBACK": ["CONNECTED", "BUSY", "DISCONNECTED", "IDLE"],
    "BUSY": ["DISCONNECTED", "IDLE"],
    "SPECIALINFO": ["DISCONNECTED", "IDLE"],
    "CONNECTED": [*_HELD, "CONFERENCED", "DISCONNECTED", "IDLE"],
    "ONHOLD": ["CONNECTED", "DISCONNECTED", "IDLE"],
    "ONHOLDPENDCONF": ["CONNECTED", "DISCONNECTED", "IDLE"],
    "ONHOLDPENDTRANSFER": ["CONNECTED", "DISCONNECTED", "IDLE"],
    "CONFERENCED": ["CONNECTED", "DISCONNECTED", "IDLE"],
    "DISCONNECTED": ["IDLE"],
    "IDLE": [],
    "UNKNOWN": _REAL,
}  # fmt: skip


def _build_transitions() -> list[dict[str, Any]]:
    by_dest: dict[str, list[str]] = {}
    for source, dests in _NEXT.items():
        for dest in dests:
            by_dest.setdefault(dest, []).append(source)
    return [
        {"trigger": dest.lower(), "source": sources, "dest": dest}
        for dest, sources in sorted(by_dest.items(), key=lambda kv: STATES.index(kv[0]))
    ]


#: The table in `transitions` format: one trigger per destination state.
TRANSITIONS: list[dict[str, Any]] = _build_transitions()

_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    (source, t["dest"]) for t in TRANSITIONS for source in t["source"]
)


def allowed(old: int | None, new: int, *, outgoing: bool = True) -> bool:
    """Whether a call in LINECALLSTATE `old` (None: no state yet) may move to `new`.

    Only the high 8 bits of a state may carry a device-specific sub-state; they are
    ignored here (rules.md §5.1).
    """
    new_name = STATE_NAMES.get(new & 0x00FFFFFF)
    if new_name is None:
        return False
    if old is None:
        old_name = NEW_OUTGOING if outgoing else NEW_INCOMING
    else:
        found = STATE_NAMES.get(old & 0x00FFFFFF)
        if found is None:
            return False
        old_name = found
    return (old_name, new_name) in _ALLOWED


def machine(model: object | None = None, *, graph: bool = False) -> Any:
    """A `transitions` Machine (GraphMachine with mermaid when `graph`) over the table."""
    if graph:
        from transitions.extensions import GraphMachine

        return GraphMachine(
            model=model,
            states=STATES,
            transitions=TRANSITIONS,
            initial=NEW_OUTGOING,
            auto_transitions=False,
            graph_engine="mermaid",
            title="LINECALLSTATE transitions",
            show_state_attributes=False,
        )
    from transitions import Machine

    return Machine(
        model=model,
        states=STATES,
        transitions=TRANSITIONS,
        initial=NEW_OUTGOING,
        auto_transitions=False,
    )


class _Model:
    """A bare model for diagram generation."""


def mermaid() -> str:
    """The mermaid state diagram of `TRANSITIONS`, deterministic text."""
    model = _Model()
    machine(model, graph=True)
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]
    # Highlighting of the "current" state is meaningless in a static diagram.
    lines = [line.rstrip() for line in text.splitlines() if not line.strip().startswith("Class ")]
    return "\n".join(lines).rstrip() + "\n"


DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "call-states.md"


def document() -> str:
    """The full text of docs/call-states.md."""
    return (
        "# Call states (generated)\n\n"
        "Generated from `tapi/callstates.py` by `python -m tapi.callstates`; do not edit.\n"
        "The table is rules.md §5.3. `NEW_OUTGOING` is a call made by lineMakeCall before\n"
        "its first state, `NEW_INCOMING` a call reported by the provider (or first seen by\n"
        "a monitor). IDLE is terminal. The core refuses any other transition a provider\n"
        "reports.\n\n"
        "```mermaid\n" + mermaid() + "```\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write docs/call-states.md (or check it with ``--check``)."""
    args = sys.argv[1:] if argv is None else argv
    text = document()
    if "--check" in args:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        return 0 if current == text else 1
    DOC_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
