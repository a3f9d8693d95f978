"""The stack machine (scenarios.machines.stack) under the `ci` profile."""

from __future__ import annotations

from scenarios.machines import profiles
from scenarios.machines.stack import StackMachine

TestStackMachine = StackMachine.TestCase
TestStackMachine.settings = profiles.ci()
