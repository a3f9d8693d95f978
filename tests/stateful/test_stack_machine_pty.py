"""The stack machine with its modems on real ptys (the emulator's PtyPort, as
`linelab modem` serves them), opened by the stack over pyserial, on virtual time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from scenarios.cli import main
from scenarios.machines import profiles
from scenarios.machines.stack import ANSWER, OWNER, configured
from scenarios.world import VirtualWorld

PtyMachine = configured(transport="pty")

# The ci profile's size, halved: each example opens two ptys.
TestStackMachineOnPtys = PtyMachine.TestCase
TestStackMachineOnPtys.settings = settings(profiles.ci(), max_examples=4)


def test_the_stack_drives_the_modems_through_ptys_on_virtual_time() -> None:
    machine = PtyMachine()
    try:
        world = machine.world
        assert isinstance(world, VirtualWorld)
        links = [world.port_of(n) for n in ("A", "B")]
        assert all(os.path.islink(p) and os.readlink(p).startswith("/dev/pts/") for p in links)
        h = machine.initialize(option="event")
        assert not world.call(lambda: world.ptys["A"].client_open)
        (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
        # The provider opened the pty's slave (pyserial by path): the modem's DTE is the pty.
        assert world.call(lambda: world.ptys["A"].client_open)
        assert world.call(lambda: world.host.modem("A").port is world.ptys["A"])
        (hc,) = machine.make_call(h=hl, dest=ANSWER).values
        start = world.vt.now()
        machine.wait()  # 75 virtual seconds
        assert world.vt.now() - start >= 75
        machine.s8_4_modem_on_hook_iff_no_active_call()
        assert world.call(lambda: world.host.modem("A").line.offhook)
        assert any(r.modem == "A" and isinstance(r.data, bytes) and b"DT5550003" in r.data
                   for r in world.records)  # fmt: skip
        machine.call_action(h=hc, action="lineDrop")
        machine.wait()
        machine.s6_1_every_accepted_request_gets_its_reply()
        machine.s8_4_modem_on_hook_iff_no_active_call()
        assert not world.call(lambda: world.host.modem("A").line.offhook)
        machine.remove_port(modem="A")  # the pty closes under the open line
        machine.R1_R2_R3_no_child_outlives_its_parent()
        machine.R8_stale_handles_get_their_codes()
        assert hl in machine.model.stale
        machine.drain(h=h, timeout=0)
        seen = [m for messages in machine.seen.values() for m in messages]
        assert any(m.startswith("LINE_CLOSE") for m in seen), seen
    finally:
        machine.teardown()


def test_linelab_fuzz_pty_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--pty", "--steps", "30", "--seed", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "on ptys" in printed and "no invariant failed" in printed, printed


def test_fuzz_pty_is_for_the_built_in_modems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--pty", "--port", "/dev/null"]) == 2
    assert "--pty serves the built-in modems" in capsys.readouterr().err
