"""What a newcomer tries first: `--version`, `python -m linelab`, a mistyped flag, and
Ctrl-C at any moment (issue 13, items 5 and 6)."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"linelab {importlib.metadata.version('linelab')}\n"


def test_python_dash_m_linelab_is_the_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "linelab", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("linelab ")
    done = subprocess.run(
        [sys.executable, "-m", "linelab", "modem", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: linelab modem")


def test_mistyped_flag_shows_the_subcommand_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["modem", "--profle", "hayes", "/tmp/x"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: linelab modem")
    assert "linelab modem: error: unrecognized arguments: --profle" in err


def test_mistyped_top_level_flag_keeps_the_top_level_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--verbsoe", "trace", "x"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith("usage: linelab ")


def _interrupted(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ctrl_c_while_importing_exits_130_quietly() -> None:
    """An interrupt that lands after the console script's module is imported but before
    any command runs (while the subcommands are still being imported)."""
    done = _interrupted(
        "import os, signal, scenarios.cli as cli\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "cli.main(['--version'])\n"
    )
    assert done.returncode == 130
    assert done.stderr == ""
    assert done.stdout == ""


def test_ctrl_c_while_building_the_parser_exits_130_quietly() -> None:
    done = _interrupted(
        "import os, signal, scenarios.cli as cli\n"
        "real = cli.importlib.import_module\n"
        "def slow(name, *a):\n"
        "    if name.endswith('.trace'):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *a)\n"
        "cli.importlib.import_module = slow\n"
        "raise SystemExit(cli.main(['trace', 'x']))\n"
    )
    assert done.returncode == 130
    assert "Traceback" not in done.stderr


def test_ctrl_c_in_a_command_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.commands.trace as trace

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(trace, "run", interrupted)
    assert main(["trace", "x"]) == 130


def test_a_command_imports_only_its_own_module() -> None:
    # `linelab modem` (1000 links in one process) must not pay for the TAPI stack and
    # hypothesis, which other commands need: memory and start-up time.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, scenarios.cli as cli\n"
            "try:\n"
            "    cli.main(['-v', 'modem', '--help'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('hypothesis', 'tapi', 'scenarios') or m.startswith('emulator.commands.')))\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: linelab modem")
    loaded = done.stdout.splitlines()[-1]
    assert loaded == "['emulator.commands.modem', 'scenarios', 'scenarios.cli']", loaded


def test_the_top_level_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["-h", "modem"], ["-v", "--help", "modem"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        for command in ("modem", "run", "fuzz", "tapisrv", "lines", "trace"):
            assert command in out, (argv, command)
    with pytest.raises(SystemExit):
        main(["nosuchcommand"])
    assert "invalid choice: 'nosuchcommand'" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    """`linelab trace FILE | head`: when the pipe's reader has gone, linelab stops with
    the shell's SIGPIPE status and no traceback."""
    trace = tmp_path / "call.jsonl"
    head = '{"spec": "1", "started": "2026-12-05T22:53:12+00:00"}\n'
    record = '{"t": 0.0, "modem": "modemA", "kind": "line", "data": "DTR=1"}\n'
    trace.write_text(head + record * 20000, encoding="utf-8")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "linelab", "trace", str(trace)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 128 + signal.SIGPIPE
    assert "Traceback" not in done.stderr
    assert done.stderr == ""
