"""The stack machine's client rules: apps of clients of the world's telephony server,
and a client's connection dropping (its death, docs/rules.md R6). The planted defect is a
server that forgets to shut a dropped client's apps down."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.machines.stack import ANSWER, OWNER, InvariantFailure, StackMachine
from scenarios.world import VirtualWorld
from tapi import constants as C
from tapi.server.server import Client, TapiServer

GOOD_DROP = TapiServer._drop


def forget_the_apps(self: TapiServer, client: Client) -> None:
    """The planted defect: the server notes the connection's end but forgets to shut its
    apps down (R6 says lineShutdown each, as the dead process would have)."""
    for h in list(client.apps):
        self._unwatch(client, h)
    client.apps.clear()
    GOOD_DROP(self, client)


def offhook(machine: StackMachine, name: str) -> bool:
    world = machine.world
    assert isinstance(world, VirtualWorld)
    return world.call(lambda: world.host.modem(name).line.offhook)


def connected_call_then_death(machine: StackMachine) -> tuple[int, int, int]:
    """A client owns a connected call on modem A, a second client monitors line A, an
    in-process app is there too; then the first client's connection drops."""
    machine.initialize(option="event")
    c = machine.connect_client()
    watcher = machine.connect_client()
    (h,) = machine.client_initialize(c=c).values
    (w,) = machine.client_initialize(c=watcher).values
    (hl,) = machine.open(h=h, device=0, privileges=OWNER).values
    machine.open(h=w, device=0, privileges=C.LINECALLPRIVILEGE_MONITOR)
    (hc,) = machine.make_call(h=hl, dest=ANSWER).values
    machine.wait()
    machine.drain(h=h, timeout=0)
    machine.s8_4_modem_on_hook_iff_no_active_call()
    assert offhook(machine, "A")
    machine.drop_client(c=c)
    return h, hl, hc


def check_all(machine: StackMachine) -> None:
    machine.R1_R2_R3_no_child_outlives_its_parent()
    machine.R4_no_message_of_a_closed_object()
    machine.R6_a_dead_clients_apps_are_shut_down()
    machine.R8_stale_handles_get_their_codes()
    machine.R9_handles_never_reused_request_ids_grow()
    machine.s6_1_every_accepted_request_gets_its_reply()
    machine.s6_7_request_recipients()
    machine.s8_4_modem_on_hook_iff_no_active_call()


def test_a_dropped_clients_handles_are_stale_and_its_modem_goes_on_hook() -> None:
    machine = StackMachine()
    try:
        h, hl, hc = connected_call_then_death(machine)
        check_all(machine)
        assert machine.model.stale == {h: "app", hl: "line", hc: "call"}
        assert not offhook(machine, "A")
        # the monitor (another client) saw the dead owner's call go idle
        (w,) = [a for a in machine.model.apps.values() if a.client == 1]
        machine.drain(h=w.h, timeout=0)
        assert any("LINE_CALLSTATE" in s and ", 0x1," in s for s in machine.seen[w.h])
        # a dropped client answers LINEERR_SERVICE_NOT_RUNNING to everything
        dead = machine.conns[0].api
        assert dead.lineGetMessage(h, 0)[0] == C.LINEERR_SERVICE_NOT_RUNNING
        # its stale handles, tried through the survivor, give their R8 codes
        machine.close(h=hl)
        machine.deallocate(h=hc)
        check_all(machine)
        assert machine.rules_hit["client death"] == 1
    finally:
        machine.teardown()


def test_the_planted_forgetful_server_fails_r6(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TapiServer, "_drop", forget_the_apps)
    machine = StackMachine()
    try:
        connected_call_then_death(machine)
        with pytest.raises(InvariantFailure, match=r"R6: client1 dropped its connection"):
            machine.R6_a_dead_clients_apps_are_shut_down()
        with pytest.raises(InvariantFailure, match=r"R1: live apps"):
            machine.R1_R2_R3_no_child_outlives_its_parent()
        # the dead client's call is still up: its modem stays off hook
        assert offhook(machine, "A")
    finally:
        monkeypatch.undo()
        for h in sorted(machine.conns[0].apps):
            machine.stack.lineShutdown(h)  # what the planted server forgot
        machine.teardown()


def test_a_failure_after_a_client_death_replays_with_linelab_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client steps are written as a `process` app's calls (`by:`) and the drop as
    `kill:`; under the planted server the replay leaves the dead app alive, and fails."""
    monkeypatch.setattr(TapiServer, "_drop", forget_the_apps)
    machine = StackMachine()
    try:
        connected_call_then_death(machine)
        with pytest.raises(InvariantFailure) as failure:
            machine.R6_a_dead_clients_apps_are_shut_down()
        path = machine.write_failure(tmp_path, failure.value)
    finally:
        for h in sorted(machine.conns[0].apps):
            machine.stack.lineShutdown(h)
        machine.teardown()
    text = path.read_text()
    assert "kill: client1" in text and "by: client1" in text and "client1: process" in text
    capsys.readouterr()
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    monkeypatch.undo()
    assert main(["run", str(path)]) == 0, capsys.readouterr().out
    assert "FAIL" in out, out
