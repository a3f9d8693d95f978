"""The modem machine (scenarios.machines.modem) under the `ci` profile."""

from __future__ import annotations

from hypothesis import settings

from scenarios.machines import profiles
from scenarios.machines.modem import ModemMachine

TestModemMachine = ModemMachine.TestCase
TestModemMachine.settings = settings(profiles.ci(), max_examples=60, stateful_step_count=30)
