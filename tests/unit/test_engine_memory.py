"""Per-modem cost of an engine (issue 12, the farm): what 1000 or 10 000 modems in one
process pay for each. Counted in bytes allocated and machines built, never in time."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
import transitions

from emulator.core import states
from emulator.core.engine import ModemEngine
from emulator.core.profile import load_profile
from emulator.core.states import MACHINE, ModemState, ModemStates
from linelab.clock import ManualClock

# Bytes of Python heap one more engine may take. An engine is about 6 KiB; it was
# 34 KiB when each built its own `transitions` machine (about 25 KiB of it).
ENGINE_BYTES = 12 * 1024


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
