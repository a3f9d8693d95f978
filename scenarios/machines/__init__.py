"""Hypothesis state machines over linelab, shipped as a kit (docs/fuzz.md).

- `scenarios.machines.stack.StackMachine`: random open/close/shutdown orderings over the
  real `tapi.Stack` and its modem provider driving virtual modems, beside a reference
  model of the hierarchy; invariants named after the rules of docs/rules.md (R1-R9).
- `scenarios.machines.modem.ModemMachine`: the AT engine beside a reference model of its
  registers, stored profile, echo, verbosity, quiet mode and command/online state.
- `scenarios.machines.program.Program`: what a stack-machine run did, as a replayable
  ``*.scenario.yaml`` (the scenario language of docs/scenarios.md).
- `scenarios.machines.profiles`: the ``ci`` and ``thorough`` hypothesis profiles.

Run them under pytest (``TestStack = StackMachine.TestCase``) or with ``linelab fuzz``.
"""
