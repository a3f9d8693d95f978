"""chat(8) from ppp dials one linelab modem to another, passes data, escapes, hangs up."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from interop_helpers import FIXTURES, Dte, Programs, StartModem, require_program

pytestmark = pytest.mark.interop


def test_chat_dials_passes_data_escapes_and_hangs_up(
    linelab_modem: StartModem, programs: Programs, dte: Callable[[str], Dte], tmp_path: Path
) -> None:
    chat = require_program("chat")
    modems = linelab_modem(["ttyLL0", "ttyLL1=1002"])
    far = dte(modems[1].link)
    far.command("ATE0")

    port = os.open(modems[0].link, os.O_RDWR | os.O_NOCTTY)
    log = tmp_path / "chat.log"
    with log.open("wb") as stderr:
        proc = programs.start(
            [chat, "-v", "-s", "-f", str(FIXTURES / "chat-dial.chat")],
            stdin=port,
            stdout=port,
            stderr=stderr,
        )
    os.close(port)

    far.expect(rb"RING\r\n")
    far.send(b"ATA\r")
    far.expect(rb"CONNECT[^\r]*\r\n")
    far.expect(b"HELLO_FROM_CHAT")
    far.send(b"HELLO_FROM_FAR")
    # The +++ and ATH are commands to chat's own modem and must not reach the far end.
    between = far.expect(rb"NO CARRIER\r\n")
    assert between == b"\r\nNO CARRIER\r\n", between

    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chat still running; log: {log.read_text(errors='replace')}")
    assert code == 0, f"chat exited {code}: {log.read_text(errors='replace')}"

    sent = modems.dte_text("ttyLL0")
    for command in ("ATZ\\x0d", "ATE0V1&C1&D2S12=10\\x0d", "ATDT1002\\x0d", "ATH\\x0d"):
        assert command in sent, (command, sent)
    assert "HELLO_FROM_CHAT+++ATH" in sent.replace("\\x0d", ""), sent
    assert "HELLO_FROM_FAR" in modems.dte_text("ttyLL0", "modem>dte")
    # the modem answered the guarded escape with OK and the ATH with OK
    assert modems.dte_text("ttyLL0", "modem>dte").endswith("OK\\x0d\\x0a")
