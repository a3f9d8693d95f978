"""Client apps in scenarios: `server` apps (a ServerStack in the runner's process),
`process` apps (a real child process) and the `kill:` step, a real SIGKILL after which
the telephony server must shut the dead process's apps down (rules R6)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from scenario_helpers import run_json, write

from linelab.errors import SpecError
from scenarios import world as world_module
from scenarios.language import load_file
from tapi.server.server import TapiServer

LIBRARY_CLEANUP = (
    Path(__file__).resolve().parents[2] / "scenarios" / "library" / "cleanup.scenario.yaml"
)
DEATH = "a process that ends has its HLINEAPPs shut down"

CLIENT_WORLD = """\
    world:
      modems: {A: {number: "1001"}}
      far: {"5550100": "answer,echo"}
      lines: [A]
      apps: {worker: process, viewer: server}
"""


def init(by: str, var: str) -> str:
    return f"""\
      - call: lineInitializeEx
        by: {by}
        args:
          lpszFriendlyAppName: {by}
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {{dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}}
        save: {{{var}: hLineApp}}
"""


def open_line(by: str, app: str, var: str) -> str:
    return f"""\
      - call: lineOpen
        by: {by}
        args: [${app}, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER, LINEMEDIAMODE_DATAMODEM]
        save: {{{var}: hLine}}
"""


def entry(name: str, steps: str) -> str:
    return f"  - name: {name}\n{CLIENT_WORLD}    steps:\n{steps}"


def only(results: dict[str, Any]) -> dict[str, Any]:
    rows = results["results"]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def test_the_bundled_process_death_scenario_passes_with_a_real_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses: list[int | None] = []
    real_kill = world_module.ProcessApp.kill

    def kill(self: world_module.ProcessApp) -> None:
        real_kill(self)
        statuses.append(self.proc.returncode)

    monkeypatch.setattr(world_module.ProcessApp, "kill", kill)
    status, got = run_json(tmp_path, str(LIBRARY_CLEANUP), "-k", "process")
    row = only(got)
    assert (status, row["status"]) == (0, "passed"), row
    assert statuses == [-signal.SIGKILL]  # killed by the signal, not by an exit


def test_a_server_that_keeps_a_dead_clients_apps_fails_the_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planted defect: the server forgets the client without shutting its apps down."""
    real_drop = TapiServer._drop

    def forgetful_drop(self: TapiServer, client: Any) -> None:
        client.apps.clear()
        real_drop(self, client)

    monkeypatch.setattr(TapiServer, "_drop", forgetful_drop)
    status, got = run_json(tmp_path, str(LIBRARY_CLEANUP), "-k", "process")
    row = only(got)
    assert (status, row["status"]) == (1, "failed")
    assert row["cause"] == "wrong return code", row
    assert "LINEERR_INVALAPPHANDLE" in row["expected"]


def test_a_wrong_expectation_after_a_kill_names_its_step(tmp_path: Path) -> None:
    steps = (
        init("worker", "hW")
        + open_line("worker", "hW", "hLine")
        + """\
      - kill: worker
      - call: lineGetLineDevStatus
        args: [$hLine]
"""
    )
    path = write(tmp_path, "wrong", entry("expects a line the dead process held", steps))
    status, got = run_json(tmp_path, str(path))
    row = only(got)
    assert (status, row["status"], row["cause"]) == (1, "failed", "wrong return code")
    assert row["actual"] == "LINEERR_UNINITIALIZED"  # no app is left at all (R8)
    lines = path.read_text(encoding="utf-8").splitlines()
    step_line = 1 + next(i for i, t in enumerate(lines) if "call: lineGetLineDevStatus" in t)
    assert row["step"] == f"{path}:{step_line}"


def test_a_client_left_holding_an_app_is_a_teardown_leak(tmp_path: Path) -> None:
    path = write(tmp_path, "leak", entry("a worker never shuts down", init("worker", "hW")))
    # $hW is saved and never used: use it once so the file loads.
    text = path.read_text(encoding="utf-8") + "      - call: lineGetMessage\n"
    text += "        by: worker\n        args: [$hW, 0]\n"
    text += "        returns: LINEERR_OPERATIONFAILED\n"
    path.write_text(text, encoding="utf-8")
    status, got = run_json(tmp_path, str(path))
    row = only(got)
    assert (status, row["cause"]) == (1, "teardown leak"), row
    assert "hierarchy is not empty" in row["message"]


def test_server_and_process_apps_read_their_own_queues(tmp_path: Path) -> None:
    """A call made by a client process, its messages read by that process in virtual
    time (a 60 s answer delay costs no wall time), the viewer isolated from its handles."""
    steps = (
        init("worker", "hW")
        + open_line("worker", "hW", "hLine")
        + init("viewer", "hV")
        + """\
      - call: lineMakeCall
        by: worker
        args:
          hLine: $hLine
          lpszDestAddress: "5550100"
          lpCallParams: {dwMediaMode: LINEMEDIAMODE_DATAMODEM, dwBearerMode: LINEBEARERMODE_VOICE}
        save: {rid: return, hCall: hCall}
      - messages:
          - {msg: LINE_REPLY, dwParam1: $rid}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_DIALING}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_PROCEEDING}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_CONNECTED,
             dwParam2: any}
        ignore: [{msg: LINE_CALLINFO}]
        by: worker
        app: $hW
        within: 60s
      - call: lineGetCallStatus
        by: viewer
        args: [$hCall]
        returns: LINEERR_INVALCALLHANDLE
      - call: lineShutdown
        by: viewer
        args: [$hV]
      - call: lineShutdown
        by: worker
        args: [$hW]
"""
    )
    path = write(tmp_path, "queues", entry("a worker calls out", steps))
    status, got = run_json(tmp_path, str(path))
    row = only(got)
    assert (status, row["status"]) == (0, "passed"), row


def test_jobs_2_runs_server_scenarios_as_jobs_1_does(tmp_path: Path) -> None:
    first = run_json(tmp_path, str(LIBRARY_CLEANUP), "--jobs", "1")
    second = run_json(tmp_path, str(LIBRARY_CLEANUP), "--jobs", "2")

    def outcome(got: dict[str, Any]) -> list[tuple[str, str]]:
        return [(r["id"], r["status"]) for r in got["results"]]

    assert first[0] == second[0] == 0
    assert outcome(first[1]) == outcome(second[1])


BAD_STEPS = [
    ("kill an unknown app", "      - kill: nobody\n", "kill", "of kind process (worker)"),
    ("kill a server app", "      - kill: viewer\n", "kill", "not 'viewer'"),
    (
        "by an unknown app",
        "      - call: lineShutdown\n        by: ghost\n        args: [0]\n",
        "by",
        "names a client app of world.apps",
    ),
]


@pytest.mark.parametrize(("label", "step", "key", "words"), BAD_STEPS)
def test_bad_client_steps_are_located_load_errors(
    tmp_path: Path, label: str, step: str, key: str, words: str
) -> None:
    path = write(tmp_path, "bad", entry(label, step))
    with pytest.raises(SpecError) as info:
        load_file(path)
    err = info.value
    assert err.path == str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next(i for i, t in enumerate(lines) if t.startswith("      - "))
    assert err.line == 1 + next(i for i in range(first, len(lines)) if f"{key}:" in lines[i])
    assert err.key is not None and err.key.endswith(f"steps[0].{key}"), err
    assert words in err.message


def test_a_process_that_died_by_itself_is_a_harness_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client process dies on its own before the runner asks it anything more."""
    real_init = world_module.ProcessApp.__init__

    def init_then_die(self: world_module.ProcessApp, name: str, path: str) -> None:
        real_init(self, name, path)
        self.proc.kill()
        self.proc.wait()

    monkeypatch.setattr(world_module.ProcessApp, "__init__", init_then_die)
    path = write(tmp_path, "died", entry("the worker is gone", init("worker", "hW")))
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "      - call: lineShutdown\n        args: [$hW]\n", encoding="utf-8")
    status, got = run_json(tmp_path, str(path))
    row = only(got)
    assert (status, row["cause"]) == (1, "harness error"), row
    assert "client process worker" in row["message"]
