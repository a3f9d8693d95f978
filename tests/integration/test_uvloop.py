"""`linelab modem --loop uvloop` (the `fast` extra): the same modem on uvloop's event
loop. A call between two modems with data, RFC 2217 and a TCP dial-out all work, and
the default loop stays what it was. (The whole CLI suite also passes with
LINELAB_LOOP=uvloop; this file keeps the uvloop path exercised in every run.)"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
import serial
from test_modem_cli import Port, linelab, read_ready, runtime_dir, stop

from emulator.commands.modem import ModemCommandError, new_loop

__all__ = ["runtime_dir"]  # the fixture, used by name


# pyserial 3.5's rfc2217 client starts its reader with Thread.setDaemon/setName.
@pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning")
def test_a_call_rfc2217_and_tcp_on_uvloop(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    echo = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = echo.accept()
        with conn:
            while chunk := conn.recv(4096):
                conn.sendall(chunk)

    threading.Thread(target=serve, daemon=True).start()
    a, b = tmp_path / "a", tmp_path / "b"
    proc = linelab(
        "modem", str(a), str(b), "--loop", "uvloop", "--rfc2217", "0", "--time-scale", "10",
        "--tcp", f"5557000=127.0.0.1:{echo.getsockname()[1]}", env=runtime_dir,
    )  # fmt: skip
    try:
        ready = read_ready(proc, 2)
        pa, pb = Port(str(a)), Port(str(b))
        try:
            pa.send(b"ATD1002\r")
            pb.expect(b"RING\r\n")
            pb.send(b"ATA\r")
            pa.expect(b"CONNECT 33600\r\n")
            pb.expect(b"CONNECT 33600\r\n")
            pa.send(b"over uvloop")
            pb.expect(b"over uvloop")
        finally:
            pa.close()
        pb.expect(b"NO CARRIER\r\n")  # A's close dropped DTR: &D2 hung up
        pb.close()
        # RFC 2217 on the first modem (free again now that its pty is closed).
        with serial.serial_for_url(f"rfc2217://{ready[0].fields['rfc2217']}", timeout=10) as rp:
            rp.write(b"AT\r")
            assert rp.read_until(b"OK\r\n").endswith(b"OK\r\n")
            rp.write(b"ATD5557000\r")
            assert rp.read_until(b"CONNECT 33600\r\n").endswith(b"CONNECT 33600\r\n")
            rp.write(b"through tcp")
            assert rp.read(11) == b"through tcp"
    finally:
        echo.close()
        code, _, err = stop(proc)
    assert code == 0, err
    assert not os.path.lexists(a)


def test_loop_choice() -> None:
    import asyncio

    import uvloop

    loop = new_loop("asyncio")
    try:
        assert isinstance(loop, asyncio.BaseEventLoop) and not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    fast = new_loop("uvloop")
    try:
        assert isinstance(fast, uvloop.Loop)
    finally:
        fast.close()
    with pytest.raises(ModemCommandError, match="unknown event loop"):
        new_loop("trio")
