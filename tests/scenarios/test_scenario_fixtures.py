"""The plugin's fixtures for users' own tests (loaded here through the entry point)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import serial
from scenario_helpers import pytest_in

from emulator.network.subscriberline import CallerId
from linelab.vtime import VirtualTime
from tapi import constants as C
from tapi.stack import Stack
from tapi.structs import LINEINITIALIZEEXPARAMS


def read_until(port: serial.SerialBase, text: bytes, seconds: float, clock: VirtualTime) -> bytes:
    """Read until `text` arrives, within `seconds` of the port's (virtual) clock: each
    read waits on virtual time (pyserial's own read_until counts real seconds)."""
    deadline = clock.now() + seconds
    got = b""
    while text not in got:
        left = deadline - clock.now()
        assert left > 0, got
        port.timeout = left
        # Every port here has in_waiting; the stubs give it only to serial.Serial.
        got += port.read(max(1, cast(Any, port).in_waiting))
    return got


def test_linelab_modem_answers_at(
    linelab_modem: serial.SerialBase, linelab_clock: VirtualTime
) -> None:
    linelab_modem.write(b"ATI3\r")
    assert b"OK" in read_until(linelab_modem, b"OK\r\n", 2, linelab_clock)


def test_linelab_clock_runs_a_minute_at_once(
    linelab_clock: VirtualTime, linelab_modem: serial.SerialBase
) -> None:
    start = linelab_clock.now()
    linelab_clock.sleep(60)
    assert linelab_clock.now() - start == pytest.approx(60)


def test_linelab_modem_pair_calls_and_rings_on_virtual_time(
    linelab_modem_pair: tuple[serial.SerialBase, serial.SerialBase], linelab_clock: VirtualTime
) -> None:
    a, b = linelab_modem_pair
    a.write(b"ATD1002\r")
    read_until(b, b"RING", 30, linelab_clock)
    b.write(b"ATA\r")
    assert b"CONNECT" in read_until(a, b"CONNECT", 60, linelab_clock)
    assert linelab_clock.now() > 0


def test_linelab_exchange_places_a_call_with_caller_id(
    linelab_exchange: Any, linelab_modem: serial.SerialBase, linelab_clock: VirtualTime
) -> None:
    linelab_modem.write(b"AT+VCID=1\r")
    read_until(linelab_modem, b"OK", 2, linelab_clock)
    linelab_exchange.place_call("1001", CallerId(number="5551234", name="Alice"))
    got = read_until(linelab_modem, b"NMBR = 5551234", 30, linelab_clock)
    assert b"RING" in got


def test_linelab_tapi_sees_both_modems(linelab_tapi: Stack) -> None:
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, n, _v, _p = linelab_tapi.lineInitializeEx(None, None, "t", C.TAPI_VERSION2_2, params)
    assert (rc, n) == (0, 2) and h is not None
    rc, hLine = linelab_tapi.lineOpen(
        h, 1, C.TAPI_VERSION2_2, 0, 0, C.LINECALLPRIVILEGE_OWNER, C.LINEMEDIAMODE_DATAMODEM
    )
    assert rc == 0 and hLine is not None
    assert linelab_tapi.hierarchy().counts()["lines"] == 1
    assert linelab_tapi.lineShutdown(h) == 0
    assert linelab_tapi.hierarchy().is_empty()


def test_failing_fixture_test_shows_transcript_and_tree(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text(
        "def test_fails(linelab_modem):\n"
        "    linelab_modem.write(b'ATI3\\r')\n"
        "    linelab_modem.timeout = 2\n"
        "    linelab_modem.read_until(b'OK')\n"
        "    assert False, 'on purpose'\n"
    )
    got = pytest_in(tmp_path, "-q")
    assert got.returncode == 1, got.stdout
    assert "on purpose" in got.stdout
    assert "linelab hierarchy" in got.stdout
    assert "linelab AT transcript" in got.stdout and "ATI3" in got.stdout
