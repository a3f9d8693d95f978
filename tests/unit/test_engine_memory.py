"""Per-modem cost of an engine (issue 12, the farm): what 1000 or 10 000 modems in one
process pay for each. Counted in bytes allocated and machines built, never in time."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
import transitions
from engine_helpers import at, one_modem

from emulator.core import states
from emulator.core.engine import ModemEngine
from emulator.core.profile import load_profile
from emulator.core.states import MACHINE, ModemState, ModemStates
from linelab.clock import ManualClock

# Bytes of Python heap one more engine may take. An engine is about 3.5 KiB; it was
# 34 KiB when each built its own `transitions` machine (about 25 KiB of it), then 5.6
# KiB with a copy of the factory settings as its stored profile and a dict of bound
# methods for its timers.
ENGINE_BYTES = 4608  # 4.5 KiB


def test_an_engine_takes_a_bounded_amount_of_memory() -> None:
    profile, clock = load_profile("generic"), ManualClock()
    ModemEngine(profile, clock)  # first-use caches are not per modem
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        engines = [ModemEngine(profile, clock, name=f"m{i}") for i in range(200)]
        gc.collect()
        each = (tracemalloc.get_traced_memory()[0] - before) / len(engines)
    finally:
        tracemalloc.stop()
    assert each < ENGINE_BYTES, f"{each:.0f} bytes per engine"


def test_modems_share_one_state_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    real = transitions.Machine.__init__

    def counting(self: transitions.Machine, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(transitions.Machine, "__init__", counting)
    profile, clock = load_profile("generic"), ManualClock()
    engines = [ModemEngine(profile, clock, name=f"m{i}") for i in range(5)]
    assert built == []
    assert MACHINE is states.MACHINE and not MACHINE.models
    assert not hasattr(ModemStates(), "__dict__")
    # Each modem still has its own state.
    engines[0]._states.fire("dial")
    assert [e.state for e in engines] == [ModemState.DIALING] + [ModemState.COMMAND] * 4


def test_the_stored_profile_is_the_factory_one_until_w_and_behaves_as_before() -> None:
    sim, modem = one_modem()
    assert modem.regs._stored is None  # no copy held for a modem that never stores
    assert b"S07:050" in at(sim, modem, "AT&V")  # the factory S7 in both profiles
    assert at(sim, modem, "ATS7=33&W").endswith(b"OK\r\n")
    assert modem.regs._stored is not None
    at(sim, modem, "ATS7=44")
    at(sim, modem, "ATZ")
    assert b"\r\n033\r\n" in at(sim, modem, "ATS7?")
    at(sim, modem, "AT&F")
    assert b"\r\n050\r\n" in at(sim, modem, "ATS7?")
    at(sim, modem, "ATZ")  # the stored one is still the &W one
    assert b"\r\n033\r\n" in at(sim, modem, "ATS7?")
