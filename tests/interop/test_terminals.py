"""minicom (with a runscript) and picocom send ATI and see the profile's identity and OK.

Both are terminal programs: they run on a pty of their own (`Terminal`), which the
test reads as their screen.
"""

from __future__ import annotations

import os
import re
import select
import time
from pathlib import Path

import pytest
from interop_helpers import FIXTURES, FileWatch, Programs, StartModem, Terminal, require_program

from emulator.core.profile import load_profile

pytestmark = pytest.mark.interop


def identity_reply(profile: str, info: int) -> bytes:
    """What ``ATI<info>`` answers under `profile` (E0/E1 aside): its lines, then OK."""
    lines = load_profile(profile).info[info]
    return b"".join(f"\r\n{line}".encode() for line in lines) + b"\r\n\r\nOK\r\n"


def terminal_env(tmp_path: Path) -> dict[str, str]:
    """A plain terminal and an empty home, so no user's minirc or locale interferes."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return dict(os.environ, TERM="vt100", HOME=str(home), LANG="C", LC_ALL="C")


def wait_for_children_to_end(pid: int, name: str, deadline: float) -> None:
    """Wait until no child of `pid` called `name` is left (pidfd events, no polling)."""
    end = time.monotonic() + deadline
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() != name:
                continue
            pidfd = os.pidfd_open(int(child))
        except (FileNotFoundError, ProcessLookupError):
            continue  # already gone
        try:
            left = max(end - time.monotonic(), 0)
            ready, _, _ = select.select([pidfd], [], [], left)
            assert ready, f"{name} (pid {child}) still running after {deadline} s"
        finally:
            os.close(pidfd)


def test_minicom_runscript_sends_ati(
    linelab_modem: StartModem, programs: Programs, terminal: Terminal, tmp_path: Path
) -> None:
    minicom = require_program("minicom")
    require_program("runscript")  # minicom runs -S scripts with it
    modems = linelab_modem(["ttyLL0"], "--profile", "hayes")
    capture = tmp_path / "minicom.cap"
    env = terminal_env(tmp_path)
    verdict = FileWatch(Path(env["HOME"]) / "runscript.result")
    proc = programs.start(
        [minicom, "-o", "-c", "off", "-8", "-b", "115200", "-D", modems[0].link,
         "-S", str(FIXTURES / "minicom-ati.runscript"), "-C", str(capture)],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=env,
    )  # fmt: skip
    terminal.started()
    try:
        result = verdict.wait_for(r"(PASSED|FAILED)\n", deadline=30).group(1)
    finally:
        verdict.close()
    assert result == "PASSED", (capture.read_bytes(), terminal.buf)

    # A Ctrl-A typed while the runscript is still winding down can be swallowed, so
    # wait for the script process to end first (an event: its pidfd turns readable).
    wait_for_children_to_end(proc.pid, "runscript", deadline=15)
    terminal.send(b"\x01q")  # Ctrl-A Q: leave without reset
    terminal.expect(rb"Leave without reset\?")
    terminal.send(b"\r")  # the dialogue's default answer is Yes
    assert terminal.drain_until_exit(proc, deadline=15) == 0, terminal.buf

    # minicom's capture file turns CR LF into LF (and drops lone CRs)
    captured = capture.read_bytes()
    for command, info in (("ATI", 0), ("ATI3", 3)):
        lines = load_profile("hayes").info[info]
        expected = f"{command}\n" + "\n".join(lines) + "\n\nOK"
        assert expected.encode() in captured, captured
    sent = modems.dte_text("ttyLL0")
    assert "ATI\\x0d" in sent and "ATI3\\x0d" in sent, sent


def test_picocom_initstring_sends_ati(
    linelab_modem: StartModem, programs: Programs, terminal: Terminal, tmp_path: Path
) -> None:
    picocom = require_program("picocom")
    modems = linelab_modem(["ttyLL0"], "--profile", "conexant")
    # --exit-after: leave after 1.5 s without input or output, i.e. once the modem
    # has answered; the deadline below bounds the whole run.
    proc = programs.start(
        [picocom, "--baud", "115200", "--noreset", "--initstring", "ATI\rATI3\r",
         "--exit-after", "1500", modems[0].link],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=terminal_env(tmp_path),
    )  # fmt: skip
    terminal.started()
    screen = terminal.expect(re.escape(identity_reply("conexant", 3)), deadline=20)
    assert terminal.drain_until_exit(proc, deadline=20) == 0, terminal.buf

    assert b"Terminal ready" in screen, screen
    assert b"ATI\r" + identity_reply("conexant", 0) in screen, screen
    assert b"ATI3\r" + identity_reply("conexant", 3) in screen, screen
    assert "ATI\\x0dATI3\\x0d" in modems.dte_text("ttyLL0")
