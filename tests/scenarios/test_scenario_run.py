"""`linelab run`: the bundled library, failures by cause, teardown checks, reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
import xmlschema
from scenario_helpers import INIT, OPEN, SHUTDOWN, run_json, scenario, write

from scenarios.cli import main
from scenarios.suite import LIBRARY

ROOT = Path(__file__).resolve().parents[2]
JUNIT_XSD = ROOT / "fixtures" / "junit" / "junit.xsd"

CALL_CONNECTED = """\
      - call: lineMakeCall
        args:
          hLine: $hLine
          lpszDestAddress: "5550100"
          lpCallParams: {dwMediaMode: LINEMEDIAMODE_DATAMODEM, dwBearerMode: LINEBEARERMODE_VOICE}
        save: {rid: return, hCall: hCall}
      - messages:
          - {msg: LINE_REPLY, dwParam1: $rid}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_DIALING}
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_PROCEEDING}
          - msg: LINE_CALLSTATE
            hDevice: $hCall
            dwParam1: LINECALLSTATE_CONNECTED
            dwParam2: any
        app: $hApp
        within: 60s
"""


def one(results: dict[str, object]) -> dict[str, object]:
    rows = results["results"]
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert isinstance(row, dict)
    return row


def test_bundled_library_is_green(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, got = run_json(tmp_path)
    out = capsys.readouterr().out
    assert status == 0, out
    assert got["counts"]["failed"] == 0
    ids = [r["id"] for r in got["results"]]
    assert ids == sorted(ids)
    for expected in (
        "shutdown::lineShutdown ends a connected call and closes its line",
        "shutdown::lineClose drops the call and frees its handle",
        "shutdown::lineRegisterRequestRecipient with bEnable 0 stops the requests",
        "cleanup::freeing an HCALL deletes its pending messages",
        "cleanup::closing an HLINE closes its HCALLs",
        "cleanup::shutting down an HLINEAPP closes its HLINEs",
        "cleanup::a process that ends has its HLINEAPPs shut down",
    ):
        assert expected in ids
        assert next(r for r in got["results"] if r["id"] == expected)["status"] == "passed"
    # The built-in target provides every need: nothing of the library is skipped.
    assert [r["id"] for r in got["results"] if r["status"] == "skipped"] == []
    assert "passed" in out


def test_a_passing_scenario_exits_0(tmp_path: Path) -> None:
    write(tmp_path, "ok", scenario("call and shut down", INIT + OPEN + CALL_CONNECTED + SHUTDOWN))
    status, got = run_json(tmp_path, str(tmp_path))
    assert status == 0
    assert one(got)["status"] == "passed"


def test_leaked_handle_is_a_teardown_leak(tmp_path: Path) -> None:
    write(
        tmp_path,
        "leak",
        scenario("forgets lineShutdown", INIT + OPEN.replace("save: {hLine: hLine}", "")),
    )
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    assert status == 1
    assert (row["status"], row["cause"]) == ("failed", "teardown leak")
    assert "HLINEAPP" in str(row["actual"]) and "HLINE " in str(row["actual"])


def test_modem_left_off_hook_is_a_teardown_leak(tmp_path: Path) -> None:
    body = """\
      - send: "AT&D0\\r"
        modem: A
        expect: OK
      - send: "ATD5550100\\r"
        modem: A
        expect: CONNECT
        within: 60s
"""
    write(tmp_path, "offhook", scenario("dials and walks away", body))
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    assert status == 1
    assert row["cause"] == "teardown leak"
    assert "modem A is off hook" in str(row["message"])
    assert "ATD5550100" in str(row["transcript"])


def test_message_left_for_a_closed_line_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack that forgets R4 (lineClose keeps the line's queued messages): the
    orphan check names the message."""
    from tapi.core.messages import Outbox

    monkeypatch.setattr(Outbox, "purge", lambda self, app, doomed: None)
    body = (
        INIT
        + OPEN
        + """\
      - call: lineMakeCall
        args:
          hLine: $hLine
          lpszDestAddress: "5550100"
          lpCallParams: {dwMediaMode: LINEMEDIAMODE_DATAMODEM, dwBearerMode: LINEBEARERMODE_VOICE}
      - advance: 30s
      - call: lineClose
        args: [$hLine]
"""
    )
    write(
        tmp_path,
        "orphan",
        scenario("closes with messages queued", body, extra="    final: {apps: 1}\n"),
    )
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    assert status == 1
    assert row["cause"] == "teardown leak"
    assert row["message"] == "a pending message belongs to a closed object"
    assert "LINE_CALLSTATE" in str(row["actual"])


def test_unexpected_message_names_expected_and_actual(tmp_path: Path) -> None:
    body = (
        INIT
        + OPEN
        + """\
      - call: lineMakeCall
        args:
          hLine: $hLine
          lpszDestAddress: "5550100"
          lpCallParams: {dwMediaMode: LINEMEDIAMODE_DATAMODEM, dwBearerMode: LINEBEARERMODE_VOICE}
        save: {hCall: hCall}
      - messages:
          - {msg: LINE_CALLSTATE, hDevice: $hCall, dwParam1: LINECALLSTATE_DIALING}
        app: $hApp
"""
    )
    write(tmp_path, "unexpected", scenario("forgets the reply", body, extra=""))
    path = tmp_path / "unexpected.scenario.yaml"
    path.write_text(path.read_text() + "    finally:\n" + SHUTDOWN)
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    assert status == 1
    assert row["cause"] == "unexpected message"
    assert str(row["actual"]).startswith("LINE_REPLY(")
    assert "LINECALLSTATE_DIALING" in str(row["expected"])
    assert str(row["step"]).endswith(f"unexpected.scenario.yaml:{_line_of(path, '- messages:')}")


def _line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(text)


def test_time_out_is_a_failure_and_never_exit_0(tmp_path: Path) -> None:
    body = (
        INIT
        + """\
      - messages:
          - {msg: LINE_REPLY, dwParam1: 1}
        app: $hApp
        within: 2m
"""
        + SHUTDOWN
    )
    write(tmp_path, "timeout", scenario("waits for nothing", body))
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    assert status == 1
    assert row["cause"] == "time-out"
    assert "within 120 s" in str(row["message"])
    assert cast(float, row["telephony_seconds"]) >= 120


def test_wrong_return_code(tmp_path: Path) -> None:
    body = INIT + SHUTDOWN + SHUTDOWN.replace("args: [$hApp]", "args: [$hApp]\n        returns: 0")
    write(tmp_path, "rc", scenario("shuts down twice", body))
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    assert status == 1
    assert row["cause"] == "wrong return code"
    assert row["expected"] == "0" or "0" in str(row["expected"])
    assert row["actual"] in ("LINEERR_INVALAPPHANDLE", "LINEERR_UNINITIALIZED")


def test_expect_checks_out_values_and_names_the_member(tmp_path: Path) -> None:
    caps = (
        "      - call: lineGetDevCaps\n        args: [$hApp, 0, TAPI_VERSION2_2, 0]\n"
        "        expect:\n          LineDevCaps.dwNumAddresses: {n}\n"
        "          LineDevCaps.ProviderInfo: UNIMODEM\n"
        "      - call: lineGetDevCaps\n        args: [$hApp, 9, TAPI_VERSION2_2, 0]\n"
        "        returns: 0x80000002\n"
    )
    write(tmp_path, "good", scenario("caps as they are", INIT + caps.format(n=1) + SHUTDOWN))
    status, got = run_json(tmp_path, str(tmp_path / "good.scenario.yaml"))
    assert (status, one(got)["status"]) == (0, "passed"), one(got)
    write(tmp_path, "bad", scenario("caps as they are not", INIT + caps.format(n=2) + SHUTDOWN))
    status, got = run_json(tmp_path, str(tmp_path / "bad.scenario.yaml"))
    row = one(got)
    assert status == 1
    assert row["cause"] == "wrong return code"
    assert "LineDevCaps.dwNumAddresses = 1, not 2" in str(row["message"])
    assert (row["expected"], row["actual"]) == (
        "LineDevCaps.dwNumAddresses = 2",
        "LineDevCaps.dwNumAddresses = 1",
    )
    assert str(row["step"]).endswith(":15")  # the lineGetDevCaps step


def test_header_values_match_signed_return_codes() -> None:
    from scenarios.runner import same

    assert same(-2147483576, 0x80000048)  # LINEERR_OPERATIONFAILED as a LONG and in tapi.h
    assert not same(-2147483576, 0x80000047)
    assert same(["comm", "tapi/line"], ["comm", "tapi/line"])
    assert not same(["comm"], ["comm", "tapi/line"])
    assert not same("UNIMODEM", "unimodem")


def test_todo_that_fails_is_todo_and_one_that_passes_fails(tmp_path: Path) -> None:
    todo = '    todo: {virtual: "known gap"}\n'
    failing = (
        INIT
        + "      - call: lineShutdown\n        args: [$hApp]\n        returns: LINEERR_NOMEM\n"
    )
    write(
        tmp_path,
        "todo",
        scenario("a known gap", failing, extra=todo),
        scenario("a fixed gap", INIT + SHUTDOWN, extra=todo),
    )
    status, got = run_json(tmp_path, str(tmp_path))
    by_id = {r["id"]: r for r in got["results"]}
    assert by_id["todo::a known gap"]["status"] == "todo"
    assert by_id["todo::a known gap"]["reason"] == "known gap"
    fixed = by_id["todo::a fixed gap"]
    assert (fixed["status"], fixed["cause"]) == ("failed", "todo passed")
    assert status == 1


FINALLY_MARK = """\
    finally:
      - send: "ATI3\\r"
        modem: A
        expect: OK
""" + SHUTDOWN.replace("      -", "      -", 1)


def test_finally_runs_after_a_failure(tmp_path: Path) -> None:
    body = INIT + "      - call: lineGetMessage\n        args: [$hApp, 0]\n        returns: 0\n"
    write(tmp_path, "fin", scenario("fails then cleans up", body) + FINALLY_MARK)
    trace = tmp_path / "run.trace"
    status, got = run_json(tmp_path, str(tmp_path), "--trace", str(trace))
    row = one(got)
    assert status == 1 and row["cause"] == "wrong return code"
    assert row["actual"] == "LINEERR_OPERATIONFAILED"
    assert "ATI3" in trace.read_text()


def test_list_and_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--list", "-k", "shutdown and not lineClose", "--tag", "tapi2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all("::" in line and "lineClose" not in line for line in lines)
    assert any("lineShutdown" in line for line in lines)


def test_jobs_2_gives_the_same_results_as_jobs_1(tmp_path: Path) -> None:
    one_dir, two_dir = tmp_path / "j1", tmp_path / "j2"
    one_dir.mkdir()
    two_dir.mkdir()
    s1, r1 = run_json(one_dir, "--jobs", "1")
    s2, r2 = run_json(two_dir, "--jobs", "2")
    keep = ("id", "status", "cause", "message", "reason")
    assert s1 == s2
    assert [{k: r[k] for k in keep} for r in r1["results"]] == [
        {k: r[k] for k in keep} for r in r2["results"]
    ]
    # Telephony time agrees to within one provider poll (the DCD poll runs every 0.5 s of
    # virtual time, and where the clock stands when the runner sees a message depends on
    # how the app's thread and the loop interleave).
    for a, b in zip(r1["results"], r2["results"], strict=True):
        assert abs(a["telephony_seconds"] - b["telephony_seconds"]) <= 1.0, a["id"]


def test_junit_is_valid_against_the_schema_ci_reads(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mixed",
        scenario("passes", INIT + SHUTDOWN),
        scenario(
            "fails", INIT + SHUTDOWN.replace("[$hApp]", "[$hApp]\n        returns: LINEERR_NOMEM")
        ),
        scenario(
            "known gap",
            INIT + SHUTDOWN.replace("[$hApp]", "[$hApp]\n        returns: 1"),
            extra='    todo: {virtual: "a known gap is reported as skipped"}\n',
        ),
    )
    junit = tmp_path / "junit.xml"
    assert main(["run", str(tmp_path), "--junit", str(junit)]) == 1
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    schema.validate(str(junit))
    doc = cast(dict[str, Any], schema.to_dict(str(junit)))
    suite = doc["testsuite"][0]
    assert (suite["@tests"], suite["@failures"], suite["@skipped"]) == ("3", "1", "1")
    failing = next(c for c in suite["testcase"] if c["@name"] == "fails")
    assert failing["failure"][0]["@message"].startswith("wrong return code at ")


def test_trace_is_a_transcript_linelab_trace_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "run.trace"
    assert main(["run", "-k", "lineShutdown", "--trace", str(trace)]) == 0
    capsys.readouterr()
    assert main(["trace", str(trace)]) == 0
    shown = capsys.readouterr().out
    assert "ATX4DT5550100" in shown or "DT5550100" in shown


def test_bad_file_is_exit_2_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "a_good", scenario("fine", INIT + SHUTDOWN))
    write(
        tmp_path, "b_bad", scenario("typo", INIT.replace("lineInitializeEx", "lineInitialiseEx"))
    )
    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr()
    assert "b_bad.scenario.yaml:" in err.err and "lineInitialiseEx" in err.err
    assert "PASS" not in err.out
    assert good.exists()


def test_unreachable_port_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--port", str(tmp_path / "no-such-tty")]) == 3
    assert "cannot open" in capsys.readouterr().err


def test_library_files_are_package_data() -> None:
    names = sorted(p.name for p in LIBRARY.glob("*.scenario.yaml"))
    assert "shutdown.scenario.yaml" in names and "cleanup.scenario.yaml" in names
    text = (ROOT / "pyproject.toml").read_text()
    assert "library/*.scenario.yaml" in text


def test_json_counts_match_results(tmp_path: Path) -> None:
    status, got = run_json(tmp_path)
    counted = {k: 0 for k in ("passed", "failed", "skipped", "todo")}
    for r in got["results"]:
        counted[r["status"]] += 1
    assert got["counts"] == counted
    assert got["exit_status"] == status
    json.dumps(got)


def test_ctrl_c_runs_finally_and_teardown_and_prints_the_summary(tmp_path: Path) -> None:
    """A real `linelab run` process gets SIGINT in the middle of a scenario that would
    run for hours: it runs that scenario's finally steps (the ATI3 in the trace), closes
    its world, prints the summary so far and exits 130."""
    import signal
    import subprocess
    import sys

    forever = (
        INIT
        + """\
      - repeat: 10000
        steps:
          - repeat: 10000
            steps:
              - advance: 1s
"""
    )
    write(
        tmp_path,
        "ctrl_c",
        scenario("a quick one", INIT + SHUTDOWN),
        scenario("b endless", forever) + FINALLY_MARK,
    )
    trace = tmp_path / "run.trace"
    errors = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenarios.cli",
            "-vv",
            "run",
            str(tmp_path),
            "--trace",
            str(trace),
        ],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # -vv prints each scenario and step as it starts: interrupt once b repeats.
        while "advance 1 s" not in (line := proc.stdout.readline()):
            assert line, "the run ended before the endless scenario started"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errors.close()
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 130, out + err
    assert "FAIL ctrl_c::b endless (harness error)" in out, out + err
    assert "interrupted (Ctrl-C)" in out
    assert "(interrupted: the summary so far)" in out
    assert "Traceback" not in err
    assert "ATI3" in trace.read_text()


def test_readme_shows_the_real_output_of_linelab_run(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/linelab run"
        in (readme.split("\n\n## ", 1)[0])
    )
    shown = readme.split("`linelab run` prints one line per scenario", 1)[1]
    shown = shown.split("```\n", 2)[1]
    assert main(["run"]) == 0
    real = capsys.readouterr().out

    def scenarios(text: str) -> list[str]:  # the per-scenario lines
        return [line for line in text.splitlines() if line[:5] in ("PASS ", "FAIL ", "SKIP ")]

    assert len(scenarios(shown)) == len(scenarios(real))
    for said, got in zip(scenarios(shown), scenarios(real), strict=True):
        # A scenario skipped for a part this linelab did not have yet may run once that
        # part lands (refresh the README then); anything else must be as shown.
        if said.startswith("SKIP") and said.endswith("not in this linelab yet"):
            assert got[5:].split(": needs ")[0].split(" (")[0] == said[5:].split(": needs ")[0]
        else:
            assert said == got
    if scenarios(shown) == scenarios(real):
        steady = [line for line in shown.splitlines() if not line.startswith("telephony time")]
        assert steady == [line for line in real.splitlines() if not line.startswith("telephony")]


def test_save_takes_a_list_entry_by_its_index(tmp_path: Path) -> None:
    # lineGetNewCalls gives the latecomer's handle in CallList.Calls; `.0` saves the first
    # entry, which then works as a handle (a wrong entry, or None, would not).
    steps = (
        INIT
        + OPEN
        + CALL_CONNECTED
        + """\
      - call: lineInitializeEx
        args:
          lpszFriendlyAppName: late
          dwAPIVersion: TAPI_VERSION2_2
          lpLineInitializeExParams: {dwOptions: LINEINITIALIZEEXOPTION_USEEVENT}
        save: {hLate: hLineApp}
      - call: lineOpen
        args: [$hLate, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_NONE, 0]
        save: {hLateLine: hLine}
      - call: lineGetNewCalls
        args: [$hLateLine, 0, LINECALLSELECT_LINE]
        save: {first: CallList.Calls.0, past: CallList.Calls.1}
      - call: lineDeallocateCall
        args: [$first]
      - call: lineDeallocateCall
        args: [$past]
        returns: LINEERR_INVALCALLHANDLE
      - call: lineShutdown
        args: [$hLate]
"""
        + SHUTDOWN
    )
    write(
        tmp_path,
        "index",
        scenario("save by index", steps, extra="    ignore: [LINE_CALLINFO, LINE_LINEDEVSTATE]\n"),
    )
    status, got = run_json(tmp_path, str(tmp_path))
    assert one(got)["status"] == "passed", one(got)
    assert status == 0


HELD_PORT = """\
      - send: "AT\\r"
        modem: A
        expect: OK
"""
# An owner's open: a line without owners keeps going without its port (rules.md §8.3),
# an owner's is closed, with the provider fault this needs.
OPEN_HELD = """\
      - call: lineOpen
        args: [$hApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER, LINEMEDIAMODE_DATAMODEM]
        save: {hLine: hLine}
      - messages:
          - {msg: LINE_CLOSE, hDevice: $hLine}
        app: $hApp
"""


@pytest.mark.parametrize("waived", [False, True])
def test_a_provider_fault_fails_the_teardown(tmp_path: Path, waived: bool) -> None:
    # The runner holds the port, so the provider cannot open it: a fault it reports.
    extra = '    unchecked: {faults: "the port is held on purpose"}\n' if waived else ""
    write(
        tmp_path, "fault", scenario("held", HELD_PORT + INIT + OPEN_HELD + SHUTDOWN, extra=extra)
    )
    status, got = run_json(tmp_path, str(tmp_path))
    row = one(got)
    if waived:
        assert (status, row["status"]) == (0, "passed"), row
        return
    assert status == 1
    assert row["cause"] == "teardown leak"
    assert str(row["message"]).startswith("provider fault: device 0: cannot open vmodem://A")


def test_the_faults_of_a_removed_port_are_expected(tmp_path: Path) -> None:
    steps = (
        INIT
        + OPEN
        + """\
      - advance: 1s
      - remove_port: A
      - messages:
          - {msg: LINE_CLOSE, hDevice: $hLine}
        app: $hApp
        ignore: [LINE_LINEDEVSTATE]
"""
        + SHUTDOWN
    )
    write(tmp_path, "removed", scenario("removed", steps))
    status, got = run_json(tmp_path, str(tmp_path))
    assert (status, one(got)["status"]) == (0, "passed"), one(got)
