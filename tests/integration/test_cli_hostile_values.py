"""No traceback is reachable from a command-line value (issue 14): bad numbers, huge
numbers, bad paths and files that are not files, given to `linelab modem`, `call`,
`ports` and `trace`, each end with exit status 2 and a one-line message, before
anything is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenarios.cli import main

BIG = "9" * 5000  # more digits than Python converts (4,300)


def cases(tmp: Path) -> list[tuple[list[str], str]]:
    """(argv, a piece of the message) for every value that once raised."""
    link = str(tmp / "L")
    fifo = str(tmp / "fifo")
    return [
        (["modem", str(tmp / ("x" * 300))], "names are at most 200 bytes"),
        (["modem", link, "--profile", fifo], "not a regular file"),
        (["modem", link, "--profile", "/dev/zero"], "not a regular file"),
        (["modem", link, "--profile", str(tmp)], "not a regular file"),
        (["modem", link, "--profile", "a\x00b.yaml"], "cannot read"),
        (["modem", link, "--rfc2217", BIG], "not a port number"),
        (["modem", link, "--time-scale", BIG], "time scale must be positive"),
        (["modem", link, "--time-scale", "nan"], "time scale must be positive"),
        (["modem", link, "--time-scale", "1e-320"], "time scale must be from 0.001"),
        (["modem", link, "--time-scale", "1e9"], "time scale must be from 0.001"),
        (["modem", link, "--control", str(tmp / "no" / "c.sock")], "No such file"),
        (["modem", link, "--control", str(tmp / ("c" * 120))], "too long"),
        (["modem", link, "--control", str(tmp)], "cannot serve the control socket"),
        (["modem", link, "--tcp", "555=host:" + BIG], "want HOST:PORT"),
        (["modem", link, "--tcp", "555=host:²"], "want HOST:PORT"),
        (["modem", link, "--listen", BIG], "want HOST:PORT"),
        (["modem", f"{link}={BIG}"], "is not a phone number"),
        (["modem", link, "--far", "1=answer,rate=" + BIG], "longer than 200"),
        (["modem", link, "--far", "1=answer,hangup=" + "9" * 150 + "B"], "byte count"),
        (["call", link, "--from", "1", "--rings", BIG], "--rings"),
        (["call", link, "--from", "1", "--timeout", "nan"], "--timeout"),
        (["call", link, "--from", BIG], "bad caller number"),
        (["call", link, "--from", "1", "--then", "answer,rate=" + BIG], "longer than 200"),
        (["call", link, "--from", "1", "--control", str(tmp / ("c" * 120))], "control socket"),
        (["call", link, "--from", "1", "--control", fifo], "control socket"),
        (["ports", BIG], "at most 4096 ports"),
        (["ports", "5000"], "at most 4096 ports"),
        (["ports", "2", "--modem", "--number", BIG], "--number"),
        (["ports", "2", "--modem", "--profile", "/dev/zero"], "not a regular file"),
        (["ports", str(tmp / "no" / "a")], "is not a directory"),
        (["trace", fifo], "not a regular file"),
        (["trace", "/dev/zero"], "not a regular file"),
        (["trace", "--diff", fifo, "/dev/zero"], "not a regular file"),
        (["trace", "--diff", link, link, "--tolerance", "nan"], "--tolerance"),
        (["trace", "--diff", link, link, "--tolerance", BIG], "--tolerance"),
        (["trace", str(tmp)], "cannot read"),
    ]


CASE_COUNT = 36


def test_the_table_is_complete(tmp_path: Path) -> None:
    assert len(cases(tmp_path)) == CASE_COUNT


@pytest.mark.parametrize("index", range(CASE_COUNT))
def test_bad_value_exits_2_with_one_line(
    tmp_path: Path,
    index: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    os.mkfifo(tmp_path / "fifo")
    argv, message = cases(tmp_path)[index]
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's own errors
        status = exit.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == ""
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"linelab {argv[0]}"), err
    assert message in last, err
    assert "Traceback" not in err
    # argparse adds its usage lines; our own errors are exactly one line.
    assert "usage:" in err or err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == sorted(
        name for name in ("fifo", "run") if (tmp_path / name).exists()
    )
    assert [n for n in os.listdir(run) if not n.startswith(".")] in ([], ["linelab"])
    if (run / "linelab").exists():
        assert os.listdir(run / "linelab") == []
