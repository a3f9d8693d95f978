"""`stty -F LINK 0` (output speed B0, the POSIX DTR drop) hangs up a call under &D2."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from interop_helpers import Dte, StartModem, require_program

pytestmark = pytest.mark.interop


def test_stty_speed_zero_drops_dtr_and_hangs_up(
    linelab_modem: StartModem, dte: Callable[[str], Dte]
) -> None:
    stty = require_program("stty")
    modems = linelab_modem(["ttyLL0", "ttyLL1"])
    caller, answerer = dte(modems[0].link), dte(modems[1].link)
    caller.command("ATE0&D2")
    answerer.command("ATE0")

    caller.send(f"ATD{modems[1].number}\r".encode())
    answerer.expect(rb"RING\r\n")
    answerer.send(b"ATA\r")
    answerer.expect(rb"CONNECT[^\r]*\r\n")
    caller.expect(rb"CONNECT[^\r]*\r\n")
    caller.send(b"ping")
    answerer.expect(b"ping")
    answerer.send(b"pong")
    caller.expect(b"pong")

    # GNU stty exits 1 on any pty after B0 ("unable to perform all requested
    # operations": its read-back disagrees), yet the speed is set; see docs/pty.md.
    result = subprocess.run(
        [stty, "-F", modems[0].link, "0"], capture_output=True, timeout=10, check=False
    )
    assert result.returncode in (0, 1), result

    answerer.expect(rb"\r\nNO CARRIER\r\n")
    caller.expect(rb"\r\nOK\r\n")  # &D2: hang up, back to command state
    records = modems.trace_records()
    ping = next(
        i for i, r in enumerate(records) if r["kind"] == "dte>modem" and r["data"] == "ping"
    )
    assert {"modem": "ttyLL0", "kind": "line", "data": "DTR=0"} in [
        {k: r[k] for k in ("modem", "kind", "data")} for r in records[ping:]
    ], records[ping:]

    caller.serial.baudrate = 115200  # any non-zero speed raises DTR again
    caller.command("AT")
    answerer.command("AT")
