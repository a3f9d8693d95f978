"""A TAPI app that exits while its call is dialling leaves the modem on hook (issue 13
item 3): the default stack is closed at interpreter exit, and the provider's abort
escalates when the modem ignores it.

The modem is tests/responder/oddmodem.py --deaf-dialing on a pty, an independent
responder that, while dialling, ignores every byte (the CR abort and ATH) and DTR, and
stops only for "+++" with guard times. So the app's exit must go through all three
steps: CR, then the DTR drop and ATH, then +++ and ATH. Real processes on real time
(short time-outs in the line configuration); every wait has a deadline.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ODDMODEM = Path(__file__).resolve().parents[1] / "responder" / "oddmodem.py"
DEADLINE = 60.0

APP = """
from tapi import (
    LINE_CALLSTATE, LINEBEARERMODE_VOICE, LINECALLPARAMS, LINECALLPRIVILEGE_NONE,
    LINECALLSTATE_PROCEEDING, LINEINITIALIZEEXOPTION_USEEVENT, LINEINITIALIZEEXPARAMS,
    LINEMEDIAMODE_DATAMODEM, TAPI_VERSION2_2, lineGetMessage, lineInitializeEx,
    lineMakeCall, lineOpen,
)

params = LINEINITIALIZEEXPARAMS(dwOptions=LINEINITIALIZEEXOPTION_USEEVENT)
rc, hApp, _n, _v, params = lineInitializeEx(None, None, "exits", TAPI_VERSION2_2, params)
assert rc == 0, rc
DATA = LINEMEDIAMODE_DATAMODEM
rc, hLine = lineOpen(hApp, 0, TAPI_VERSION2_2, 0, 0, LINECALLPRIVILEGE_NONE, DATA)
assert rc == 0, rc
call_params = LINECALLPARAMS(dwMediaMode=DATA, dwBearerMode=LINEBEARERMODE_VOICE)
rid, hCall = lineMakeCall(hLine, "5551234", 0, call_params)
assert rid > 0, rid
while True:
    rc, msg = lineGetMessage(hApp, 30000)
    assert rc == 0, rc
    if msg.dwMessageID == LINE_CALLSTATE and msg.dwParam1 == LINECALLSTATE_PROCEEDING:
        break
print("PROCEEDING", flush=True)
# The end of the program, with the call still dialling: no lineDrop, no lineShutdown.
"""


class Responder:
    """oddmodem.py with its stdout reports read by a thread into a queue."""

    def __init__(self, link: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ODDMODEM), str(link), "--deaf-dialing", "--report"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self.next() == f"READY {link}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = DEADLINE) -> str:
        line = self.lines.get(timeout=timeout)
        self.seen.append(line)
        return line

    def until(self, wanted: str, timeout: float = DEADLINE) -> list[str]:
        """Every report up to and including `wanted` (queue.Empty past the deadline)."""
        start = len(self.seen)
        while self.next(timeout) != wanted:
            pass
        return self.seen[start:]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=DEADLINE)
        self._reader.join(DEADLINE)  # the pipe's end of file ends it
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def responder(tmp_path: Path) -> Iterator[tuple[Responder, Path]]:
    link = tmp_path / "odd"
    odd = Responder(link)
    try:
        yield odd, link
    finally:
        odd.stop()


def test_an_app_that_exits_mid_dial_leaves_the_modem_on_hook(
    responder: tuple[Responder, Path], tmp_path: Path
) -> None:
    odd, link = responder
    config = tmp_path / "lines.yaml"
    config.write_text(
        'spec: "1"\n'
        "lines:\n"
        "  - name: Deaf modem\n"
        f"    port: {link}\n"
        '    init: "S12=10"\n'  # its guard time: 0.2 s
        "    timeouts: {command: 2, guard: 0.3, dtr_low: 0.1}\n",
        encoding="utf-8",
    )
    env = dict(os.environ, LINELAB_CONFIG=str(config), HOME="/nonexistent-home")
    env.pop("LINELAB_TAPI", None)
    done = subprocess.run(
        [sys.executable, "-c", APP],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "PROCEEDING\n"
    dial = odd.until("DIALING")
    assert dial[-2] == "CMD ATX4DT5551234"
    # The app has exited; everything below happened before it did (at exit).
    after = odd.until("CMD ATH", timeout=1.0)
    assert after == [
        "IGNORED b'\\r'",  # 1. the CR abort: ignored while dialling
        "IGNORED b'ATH\\r'",  # 2. after the DTR drop (which this modem ignores): ATH
        "IGNORED b'+++'",  # 3. +++ after a guard time of silence...
        "ON HOOK",  # ...and another one: the modem stops dialling (OK)
        "CMD ATH",  # the ATH that confirms the hang-up, in command mode
    ]
    with pytest.raises(queue.Empty):
        odd.next(timeout=0.5)  # nothing more: the port was released
