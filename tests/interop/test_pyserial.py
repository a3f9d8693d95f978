"""pyserial, unmodified, on the three ways in: a pty path, vmodem:// and rfc2217://."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
import serial
from interop_helpers import DEADLINE, Dte, StartModem, drop_dtr

import emulator

pytestmark = pytest.mark.interop

PAYLOAD = bytes(range(256)) * 4  # 8-bit clean, includes +, CR, XON/XOFF, NUL


def read_until(port: serial.SerialBase, pattern: bytes, deadline: float = DEADLINE) -> bytes:
    """Read from any pyserial port until `pattern` (a regex) matches; pyserial's own
    read timeout is the deadline for each read."""
    regex = re.compile(pattern)
    port.timeout = deadline
    buf = b""
    while regex.search(buf) is None:
        chunk = port.read(1)
        if not chunk:
            pytest.fail(f"expected {pattern!r} within {deadline} s, got {buf!r}")
        buf += chunk
    return buf


def read_exactly(port: serial.SerialBase, size: int, deadline: float = DEADLINE) -> bytes:
    port.timeout = deadline
    data = port.read(size)
    assert len(data) == size, (len(data), data[-40:])
    return data


def test_pty_path_at_round_trip_and_dial(
    linelab_modem: StartModem, dte: Callable[[str], Dte]
) -> None:
    modems = linelab_modem(["ttyLL0"], "--far", "1003=answer,echo,hangup=1024B")
    port = dte(modems[0].link).serial
    port.write(b"ATE0\r")
    assert read_until(port, rb"OK\r\n").endswith(b"\r\nOK\r\n")
    port.write(b"AT+GCAP\r")
    assert re.search(rb"\r\n\+GCAP:[^\r]*\r\n\r\nOK\r\n$", read_until(port, rb"OK\r\n"))

    port.write(b"ATD1003\r")
    read_until(port, rb"\r\nCONNECT[^\r]*\r\n")
    port.write(PAYLOAD)
    # the far end echoes the 1024 bytes, then hangs up
    assert read_exactly(port, len(PAYLOAD)) == PAYLOAD
    assert read_until(port, rb"NO CARRIER\r\n") == b"\r\nNO CARRIER\r\n"
    port.write(b"AT\r")
    read_until(port, rb"OK\r\n")


def test_pty_path_answer_and_dtr_drop(
    linelab_modem: StartModem, dte: Callable[[str], Dte]
) -> None:
    modems = linelab_modem(["ttyLL0", "ttyLL1"])
    a, b = dte(modems[0].link), dte(modems[1].link)
    a.command("ATE0&D2")
    b.command("ATE0")
    a.send(f"ATD{modems[1].number}\r".encode())
    b.expect(rb"RING\r\n")
    b.send(b"ATA\r")
    b.expect(rb"CONNECT[^\r]*\r\n")
    a.expect(rb"CONNECT[^\r]*\r\n")
    a.send(PAYLOAD)
    assert read_exactly(b.serial, len(PAYLOAD)) == PAYLOAD
    b.send(PAYLOAD[::-1])
    assert read_exactly(a.serial, len(PAYLOAD)) == PAYLOAD[::-1]
    drop_dtr(a.serial.fileno())
    b.expect(rb"\r\nNO CARRIER\r\n")


@pytest.fixture
def vmodem_names() -> Iterator[tuple[str, str]]:
    """Two fresh modem names on this process's default exchange."""
    emulator.register_url_handler()
    tag = uuid.uuid4().hex[:8]
    yield f"interopA{tag}", f"interopB{tag}"


def test_vmodem_url_call_with_line_signals(vmodem_names: tuple[str, str]) -> None:
    name_a, name_b = vmodem_names
    a = serial.serial_for_url(f"vmodem://{name_a}?number=4001", timeout=DEADLINE)
    b = serial.serial_for_url(f"vmodem://{name_b}?number=4002", timeout=DEADLINE)
    try:
        with pytest.raises(serial.SerialException):
            serial.serial_for_url(f"vmodem://{name_a}")  # already open
        a.write(b"ATE0&D2\r")
        read_until(a, rb"OK\r\n")
        b.write(b"ATE0\r")
        read_until(b, rb"OK\r\n")
        assert not a.cd and a.dsr

        a.write(b"ATD4002\r")
        read_until(b, rb"RING\r\n")
        b.write(b"ATA\r")
        read_until(b, rb"CONNECT[^\r]*\r\n")
        read_until(a, rb"CONNECT[^\r]*\r\n")
        assert a.cd and b.cd
        a.write(PAYLOAD)
        assert read_exactly(b, len(PAYLOAD)) == PAYLOAD
        b.write(PAYLOAD[::-1])
        assert read_exactly(a, len(PAYLOAD)) == PAYLOAD[::-1]

        a.dtr = False  # &D2: hang up
        read_until(b, rb"NO CARRIER\r\n")
        assert not b.cd
    finally:
        a.close()
        b.close()


# pyserial 3.5's rfc2217 client starts its reader thread with setDaemon() and setName()
@pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")
def test_rfc2217_url_call(linelab_modem: StartModem, dte: Callable[[str], Dte]) -> None:
    modems = linelab_modem(["ttyLL0", "ttyLL1"], "--rfc2217", "0")
    address = modems[0].rfc2217
    assert address is not None and address.startswith("127.0.0.1:"), modems[0].fields
    assert modems[1].rfc2217 is None
    a = serial.serial_for_url(f"rfc2217://{address}", baudrate=115200, timeout=DEADLINE)
    try:
        b = dte(modems[1].link)
        a.write(b"ATE0&D2\r")
        read_until(a, rb"OK\r\n")
        b.command("ATE0")
        assert not a.cd

        a.write(f"ATD{modems[1].number}\r".encode())
        b.expect(rb"RING\r\n")
        b.send(b"ATA\r")
        b.expect(rb"CONNECT[^\r]*\r\n")
        read_until(a, rb"CONNECT[^\r]*\r\n")
        assert a.cd  # DCD notified by the server (NOTIFY-MODEMSTATE)
        a.write(PAYLOAD)
        assert read_exactly(b.serial, len(PAYLOAD)) == PAYLOAD
        b.send(PAYLOAD[::-1])
        assert read_exactly(a, len(PAYLOAD)) == PAYLOAD[::-1]

        a.dtr = False  # SET-CONTROL DTR off reaches the engine: &D2 hangs up
        b.expect(rb"\r\nNO CARRIER\r\n")
    finally:
        a.close()
