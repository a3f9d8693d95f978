"""mgetty answers calls on a linelab modem: RING, caller ID, ATA, CONNECT, issue, login.

mgetty has no option for another configuration file (``-c`` is gettydefs), so it is
configured entirely by options; the equivalent ``mgetty.config`` section is in
docs/interop.md. It logs to ``/var/log/mgetty/mg_ttyLL0.log`` (compiled in), which the
tests read with inotify waits.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from interop_helpers import (
    FIXTURES,
    Dte,
    FileWatch,
    ModemProcess,
    Programs,
    StartModem,
    drop_dtr,
    require_program,
)

pytestmark = pytest.mark.interop

LOG = Path("/var/log/mgetty/mg_ttyLL0.log")
PROMPT = "linelab-mgetty \\P login: "
# Reset; echo and verbose codes (mgetty's chat expects words); DCD follows the
# carrier; DTR drop hangs up; no auto-answer (mgetty answers); formatted caller ID.
INIT = '"" ATZ OK ATE1V1Q0&C1&D2S0=0+VCID=1 OK'
# Ring cadence and S10 run 4 times faster, so mgetty's second RING comes in ~1.5 s.
TIME_SCALE = "4"


@pytest.fixture
def mgetty_log() -> Iterator[FileWatch]:
    """mgetty's debug log, emptied first, watched for new text."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.unlink(missing_ok=True)
    watch = FileWatch(LOG)
    try:
        yield watch
    finally:
        watch.close()


def start_mgetty(programs: Programs, log: FileWatch) -> subprocess.Popen[bytes]:
    """Start mgetty on ttyLL0 and wait until it initialised the modem and waits for RING."""
    mgetty = require_program("mgetty")
    proc = programs.start(
        [mgetty, "-x", "5", "-s", "38400", "-D", "-n", "2", "-i",
         str(FIXTURES / "issue.mgetty"), "-p", PROMPT, "-m", INIT, "ttyLL0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log.wait_for(r"waiting\.\.\.")
    return proc


def dial_mgetty(modems: ModemProcess, dte: Callable[[str], Dte]) -> tuple[Dte, bytes]:
    """Modem B calls mgetty's modem A; returns B and what arrived up to the login prompt."""
    caller = dte(modems[1].link)
    caller.command("ATE0&D2")
    caller.send(f"ATD{modems[0].number}\r".encode())
    caller.expect(rb"CONNECT[^\r]*\r\n", deadline=20)
    return caller, caller.expect(rb"ttyLL0 login: ", deadline=20)


def test_mgetty_answers_shows_issue_and_sees_caller_id(
    linelab_modem: StartModem,
    programs: Programs,
    dte: Callable[[str], Dte],
    mgetty_log: FileWatch,
) -> None:
    modems = linelab_modem(["ttyLL0", "ttyLL1=5550002"], "--time-scale", TIME_SCALE)
    start_mgetty(programs, mgetty_log)
    _, banner = dial_mgetty(modems, dte)

    text = banner.decode("latin-1")
    assert "Welcome to linelab via mgetty on ttyLL0" in text, text
    # \Y in the issue file is mgetty's idea of the caller ID: the caller's number
    assert "caller=5550002 connect=33600" in text, text

    log = mgetty_log.text()
    assert "CND: found: 5550002" in log, log
    ring = log.index("RING")
    assert log.index("CND: found: 5550002") > ring
    assert log.index("send: ATA[0d]") > log.index("CND: found: 5550002")
    sent = modems.dte_text("ttyLL0")
    # the init string, then nothing but ATA once the call rang; data mode follows
    assert "ATZ\\x0dATE1V1Q0&C1&D2S0=0+VCID=1\\x0dATA\\x0d" in sent, sent


def test_mgetty_sees_caller_id_of_linelab_call(
    linelab_modem: StartModem, programs: Programs, mgetty_log: FileWatch
) -> None:
    modems = linelab_modem(["ttyLL0"], "--time-scale", TIME_SCALE)
    start_mgetty(programs, mgetty_log)
    call = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "call", modems[0].link, "--from", "5551234",
         "--name", "ALICE", "--then", "answer"],
        env=modems.env,
        capture_output=True,
        timeout=20,
        check=False,
    )  # fmt: skip
    assert call.returncode == 0, call.stderr.decode(errors="replace")
    mgetty_log.wait_for(r"CND: found: 5551234")
    mgetty_log.wait_for(r"CND: found: ALICE")
    mgetty_log.wait_for(r"send: ATA\[0d\]")
    mgetty_log.wait_for(r"got: ATA\[0d\]\[0d\]\[0a\]CONNECT")


def test_carrier_loss_hangs_up_mgetty_login_session(
    linelab_modem: StartModem,
    programs: Programs,
    dte: Callable[[str], Dte],
    mgetty_log: FileWatch,
) -> None:
    modems = linelab_modem(
        ["ttyLL0", "ttyLL1"], "--time-scale", TIME_SCALE, "--hangup-on-carrier-loss"
    )
    proc = start_mgetty(programs, mgetty_log)
    caller, _ = dial_mgetty(modems, dte)
    caller.send(b"root\r")
    caller.expect(b"Password: ", deadline=20)
    # mgetty exec'd /bin/login in the same process, the session leader on ttyLL0
    assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == "login"

    drop_dtr(caller.serial.fileno())  # B hangs up (&D2); A loses carrier
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"login still running after carrier loss; log: {modems.log()[-2000:]}")
    assert code != 0, code  # killed by SIGHUP, or exited on the hang-up

    # The port is a fresh, raw port again for the next program. A's modem may still be
    # in its S10 wait (carrier lost, not yet hung up): then the AT is data, and the
    # NO CARRIER that ends the call comes first, as on a real modem.
    after = dte(modems[0].link)
    if b"NO CARRIER" in after.command("AT", rb"(OK|NO CARRIER)\r\n"):
        after.command("AT")
