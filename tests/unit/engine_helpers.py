"""Shared helpers for the engine, exchange and two-modem tests (not a test module)."""

from __future__ import annotations

import dataclasses
from typing import Any

from emulator.core.engine import ModemEngine
from emulator.core.profile import Profile, load_profile
from emulator.network.sim import Sim
from emulator.network.subscriberline import LineEvent


def profile(name: str = "generic", **changes: Any) -> Profile:
    """A bundled profile with some fields replaced (e.g. buffer_size=40)."""
    return dataclasses.replace(load_profile(name), **changes)


def one_modem(prof: str | Profile = "generic") -> tuple[Sim, ModemEngine]:
    """A Sim with a single modem A on number 1001."""
    sim = Sim()
    return sim, sim.add_modem("A", "1001", prof)


def two_modems(
    prof: str | Profile = "generic", *, caller_name: str | None = "ALICE"
) -> tuple[Sim, ModemEngine, ModemEngine]:
    """A Sim with modem A (1001, caller name ALICE) and modem B (1002)."""
    sim = Sim()
    a = sim.add_modem("A", "1001", prof, caller_name=caller_name)
    b = sim.add_modem("B", "1002", prof)
    return sim, a, b


def at(sim: Sim, modem: ModemEngine, line: str, *, run: float = 0.0) -> bytes:
    """Type `line` + CR (S3 must be CR), optionally run, return everything output."""
    sim.output(modem)
    sim.type(modem, line + "\r")
    if run:
        sim.run(run)
    return sim.output(modem)


def quiet_at(sim: Sim, modem: ModemEngine, line: str) -> bytes:
    """`at()` with the echo of the typed line removed."""
    out = at(sim, modem, line)
    echo = (line + "\r").encode("latin-1")
    assert out.startswith(echo), out
    return out[len(echo) :]


def connect(sim: Sim, a: ModemEngine, b: ModemEngine, number: str = "1002") -> None:
    """Dial B from A, answer with ATA, and check both sides report CONNECT."""
    at(sim, a, f"ATD{number}")
    assert sim.run_until(lambda: b.state == "ringing", 10)
    answered = at(sim, b, "ATA")
    assert sim.run_until(lambda: a.state == "online" and b.state == "online", 10)
    sim.run(0.01)
    assert b"CONNECT" in sim.output(a)
    assert b"CONNECT" in answered + sim.output(b)


class RecordingPeer:
    """A LinePeer that records its events (for exchange tests)."""

    def __init__(self, room: int = 1 << 20) -> None:
        self.events: list[LineEvent] = []
        self.room = room

    def line_event(self, event: LineEvent) -> None:
        self.events.append(event)

    def rx_room(self) -> int:
        return self.room

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]
