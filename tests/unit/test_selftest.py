"""`linelab selftest`: the dialogue it prints and its verdict."""

from __future__ import annotations

import io

import pytest

from emulator.commands import selftest
from scenarios.cli import main


def test_selftest_passes_and_prints_the_dialogue() -> None:
    out = io.StringIO()
    assert selftest.run_selftest(out=out) == 0
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[-1] == "selftest: PASS"
    for expected in [
        "A <- ATZ",
        "A <- ATE1V1X4 DT1002",
        "B -> RING",
        "B -> NMBR = 1001",
        "B -> NAME = ALICE",
        "B -> CONNECT 33600",
        "A -> CONNECT 33600",
        "B -> hello from A+",
        "A <- +++",
        "A <- ATH",
        "B -> NO CARRIER",
    ]:
        assert any(line.endswith(expected) for line in lines), expected
    assert lines[0].startswith("[   0.000] ")


@pytest.mark.parametrize("profile", ["generic", "hayes", "conexant", "lenient"])
def test_selftest_passes_with_every_bundled_profile(profile: str) -> None:
    out = io.StringIO()
    assert selftest.run_selftest(profile=profile, out=out) == 0, out.getvalue()


def test_selftest_reports_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(sim: object, profile: str) -> None:
        raise selftest.SelftestFailed("A: ATZ: no b'OK' within 1 s")

    monkeypatch.setattr(selftest, "_script", broken)
    out = io.StringIO()
    assert selftest.run_selftest(out=out) == 1
    assert out.getvalue().splitlines()[-1] == "selftest: FAIL: A: ATZ: no b'OK' within 1 s"


def test_cli_runs_selftest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftest"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "selftest: PASS"


def test_render_shows_data_without_line_ends() -> None:
    from emulator.core.tracerecord import TraceRecord

    records = [
        TraceRecord(0.0, "A", "dte>modem", b"AT\r"),
        TraceRecord(0.0, "A", "modem>dte", b"AT\r"),
        TraceRecord(0.0, "A", "modem>dte", b"\r\nOK\r\n"),
        TraceRecord(1.0, "A", "dte>modem", b"\x00ab"),
        TraceRecord(2.0, "1001", "exchange", "dial 1001 -> 1002"),
    ]
    assert selftest.render(records) == [
        "[   0.000] A <- AT",
        "[   0.000] A -> OK",
        "[   1.000] A <- \\x00ab",
        "[   2.000] exchange: dial 1001 -> 1002",
    ]
