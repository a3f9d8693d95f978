"""The pytest plugin, run as users run it: pytest in a separate directory (a real
subprocess, the plugin loaded through its ``pytest11`` entry point), also under
pytest-xdist."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from scenario_helpers import INIT, SHUTDOWN, pytest_in, scenario, write

from scenarios.suite import LIBRARY, discover


def outcomes(junit: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kind = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kind = child.tag
        out[f"{case.get('classname')}::{case.get('name')}"] = kind
    return out


def test_collects_one_item_per_scenario_and_row_at_its_line(tmp_path: Path) -> None:
    extra = "    tags: [calls]\n    data:\n      - {id: one, who: a}\n      - {id: two, who: b}\n"
    body = INIT.replace("lpszFriendlyAppName: test", "lpszFriendlyAppName: $who") + SHUTDOWN
    write(
        tmp_path, "rows", scenario("named", body, extra=extra), scenario("plain", INIT + SHUTDOWN)
    )
    got = pytest_in(tmp_path, "--collect-only", "-q")
    assert got.returncode == 0, got.stdout + got.stderr
    assert got.stdout.splitlines()[:3] == [
        "rows.scenario.yaml::named[one]",
        "rows.scenario.yaml::named[two]",
        "rows.scenario.yaml::plain",
    ]
    ran = pytest_in(tmp_path, "-m", "calls", "--strict-markers", "-q", "-rA")
    assert ran.returncode == 0, ran.stdout
    assert "2 passed, 1 deselected" in ran.stdout
    located = pytest_in(tmp_path, "-k", "plain", "-q", "--junitxml", "j.xml")
    assert located.returncode == 0
    assert outcomes(tmp_path / "j.xml") == {"rows.scenario.yaml::plain": "passed"}


def test_failure_report_shows_step_tree_and_transcript(tmp_path: Path) -> None:
    leaking_open = (
        "      - call: lineOpen\n"
        "        args: [$hApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_OWNER,"
        " LINEMEDIAMODE_DATAMODEM]\n"
    )
    write(tmp_path, "fails", scenario("leaks", INIT + leaking_open))
    got = pytest_in(tmp_path, "-q")
    assert got.returncode == 1
    assert "teardown leak: the hierarchy is not empty" in got.stdout
    assert "HLINEAPP 0x" in got.stdout
    assert "AT transcript around the step" in got.stdout
    assert "fails.scenario.yaml::leaks" in got.stdout


def test_todo_is_a_strict_xfail(tmp_path: Path) -> None:
    todo = '    todo: {virtual: "known gap"}\n'
    failing = INIT + "      - call: lineShutdown\n        args: [$hApp]\n        returns: 1\n"
    write(
        tmp_path,
        "todo",
        scenario("gap", failing, extra=todo),
        scenario("fixed", INIT + SHUTDOWN, extra=todo),
    )
    got = pytest_in(tmp_path, "-q", "-rA")
    assert got.returncode == 1
    assert "XFAIL todo.scenario.yaml::gap" in got.stdout
    assert "FAILED todo.scenario.yaml::fixed" in got.stdout
    assert "todo passed" in got.stdout


def test_bad_file_is_a_collection_error_naming_line_and_key(tmp_path: Path) -> None:
    write(tmp_path, "bad", scenario("x", INIT.replace("lineInitializeEx", "lineInitialiseEx")))
    got = pytest_in(tmp_path, "-q")
    assert got.returncode == 2
    assert "bad.scenario.yaml:9: key 'scenarios[0].steps[0].call'" in got.stdout


def test_xdist_loadfile_collects_and_runs_the_same_items(tmp_path: Path) -> None:
    for path in LIBRARY.glob("*.scenario.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    write(tmp_path, "extra", scenario("one more", INIT + SHUTDOWN))
    serial_run = pytest_in(tmp_path, "-q", "-p", "no:xdist", "--junitxml", "serial.xml")
    parallel = pytest_in(
        tmp_path, "-q", "-n", "2", "--dist", "loadfile", "--junitxml", "xdist.xml"
    )
    assert serial_run.returncode == 0, serial_run.stdout
    assert parallel.returncode == 0, parallel.stdout
    assert "bringing up nodes" in parallel.stdout
    one, two = outcomes(tmp_path / "serial.xml"), outcomes(tmp_path / "xdist.xml")
    assert one == two
    assert len(one) == len(discover([])) + 1
    assert list(one.values()).count("failure") == 0
