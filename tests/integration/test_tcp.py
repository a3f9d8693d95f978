"""Calls beyond the process over TCP (issue 13): `linelab modem --tcp NUMBER=HOST:PORT`
dials out to a TCP endpoint, `--listen PORT` makes an incoming connection ring a modem.
Bytes cross unchanged both ways. Real `linelab modem` processes, real ptys, real
sockets; every wait is a deadline on a descriptor, nothing sleeps."""

from __future__ import annotations

import contextlib
import os
import random
import re
import select
import socket
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_modem_cli import DEADLINE, Port, linelab, read_ready, runtime_dir, stop
from test_modem_cli_plan import parse

from emulator.commands.modem import ModemCommandError, make_plan

__all__ = ["runtime_dir"]  # the fixture, used by name


class EchoServer:
    """A TCP server on loopback that echoes each connection, and records what it saw."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()  # a connection ended (the peer closed it)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.sock.accept()
            with conn:
                while chunk := conn.recv(65536):
                    conn.sendall(chunk)
            self.closed.set()

    def close(self) -> None:
        self.sock.close()


class contextlib_suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def drop_dtr(port: Port) -> None:
    """DTR low the POSIX way on a pty: output speed B0 (the modem acts per &D)."""
    attrs = termios.tcgetattr(port.fd)
    attrs[5] = termios.B0
    termios.tcsetattr(port.fd, termios.TCSANOW, attrs)


def read_exactly(port: Port, count: int) -> bytes:
    """`count` bytes from the pty (held back ones first), each read with a deadline."""
    data = bytearray(port.buf)
    port.buf = b""
    while len(data) < count:
        ready, _, _ = select.select([port.fd], [], [], DEADLINE)
        assert ready, f"stalled after {len(data)} of {count} bytes"
        data += os.read(port.fd, 65536)
    port.buf = bytes(data[count:])
    return bytes(data[:count])


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def test_dial_out_to_a_tcp_endpoint(
    tmp_path: Path, runtime_dir: dict[str, str], echo: EchoServer
) -> None:
    link = tmp_path / "a"
    proc = linelab(
        "modem", str(link), "--tcp", f"5557000=127.0.0.1:{echo.port}",
        "--time-scale", "100", env=runtime_dir,
    )  # fmt: skip
    try:
        read_ready(proc, 1)
        port = Port(str(link))
        try:
            port.send(b"ATD5557000\r")
            port.expect(b"CONNECT 33600\r\n")
            # Every byte value, and unguarded +++ runs, both ways through the socket.
            payload = random.Random(1).randbytes(200_000) + b"+++" * 100 + bytes(range(256))
            writer = threading.Thread(target=_write_all, args=(port, payload), daemon=True)
            writer.start()
            assert read_exactly(port, len(payload)) == payload
            writer.join(DEADLINE)
            drop_dtr(port)  # the modem hangs up: the TCP connection closes
            port.expect(b"OK")
            assert echo.closed.wait(DEADLINE)
        finally:
            port.close()
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


def _write_all(port: Port, data: bytes) -> None:
    view = memoryview(data)
    while view:
        select.select([], [port.fd], [], DEADLINE)
        try:
            sent = os.write(port.fd, view[:4096])
        except BlockingIOError:
            continue
        view = view[sent:]


def test_a_refused_connection_is_no_carrier(tmp_path: Path, runtime_dir: dict[str, str]) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    link = tmp_path / "a"
    proc = linelab(
        "modem", str(link), "--tcp", f"5557001=127.0.0.1:{dead_port}", "--time-scale", "100",
        env=runtime_dir,
    )  # fmt: skip
    try:
        read_ready(proc, 1)
        port = Port(str(link))
        try:
            port.send(b"ATD5557001\r")
            assert port.expect(b"NO CARRIER").endswith(b"\r\nNO CARRIER")
        finally:
            port.close()
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


def test_an_incoming_connection_rings_the_modem(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    proc = linelab(
        # Scale 10, not 100: the incoming call gives up after 10 rings (6 s of modem
        # time), which must leave a loaded machine time to answer.
        "modem",
        str(a),
        str(b),
        "--listen",
        f"0={b}",
        "--time-scale",
        "10",
        env=runtime_dir,
    )
    try:
        ready = read_ready(proc, 2)
        assert "listen" not in ready[0].fields
        host, port_number = ready[1].fields["listen"].rsplit(":", 1)
        assert host == "127.0.0.1"
        port = Port(str(b))
        try:
            port.send(b"AT+VCID=1\r")
            port.expect(b"OK")
            client = socket.create_connection((host, int(port_number)), timeout=DEADLINE)
            with client:
                port.expect(b"RING")
                assert re.search(rb"NMBR = O", port.expect(b"RING"))  # out of area
                port.send(b"ATA\r")
                port.expect(b"CONNECT 33600\r\n")
                client.sendall(b"from tcp\x00\xff")
                assert read_exactly(port, 10) == b"from tcp\x00\xff"
                port.send(b"to tcp\r\n")
                got = b""
                while len(got) < 8:
                    chunk = client.recv(100)
                    assert chunk
                    got += chunk
                assert got == b"to tcp\r\n"
            port.expect(b"NO CARRIER")  # the connection closed: the far end hung up
        finally:
            port.close()
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


def test_an_incoming_connection_to_a_busy_modem_is_closed(
    tmp_path: Path, runtime_dir: dict[str, str]
) -> None:
    a = tmp_path / "a"
    proc = linelab("modem", str(a), "--listen", "0", "--time-scale", "100", env=runtime_dir)
    try:
        (ready,) = read_ready(proc, 1)
        host, port_number = ready.fields["listen"].rsplit(":", 1)
        port = Port(str(a))
        try:
            port.send(b"ATH1\r")  # off hook: busy
            port.expect(b"OK")
            client = socket.create_connection((host, int(port_number)), timeout=DEADLINE)
            with client:
                assert client.recv(100) == b""  # closed by the modem process
        finally:
            port.close()
    finally:
        code, _, err = stop(proc)
        assert code == 0, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tcp", "5557000"], "want NUMBER=HOST:PORT"),
        (["--tcp", "x=127.0.0.1:80"], "'x' is not a phone number"),
        (["--tcp", "5557000=host:99999"], "port from 0 to 65535"),
        (["--tcp", "5557000=host:0"], "port 0 is not a port to connect to"),
        (["--listen", "80=/elsewhere"], "'/elsewhere' is not one of the LINKs"),
        (["--listen", "nope"], "want HOST:PORT"),
    ],
)
def test_tcp_options_are_checked(tmp_path: Path, args: list[str], message: str) -> None:
    with pytest.raises(ModemCommandError, match=re.escape(message)):
        make_plan(parse(str(tmp_path / "a"), *args))


def test_tcp_numbers_count_as_given(tmp_path: Path) -> None:
    plan = make_plan(parse(str(tmp_path / "a"), "--tcp", "1001=127.0.0.1:23"))
    assert plan.links[0].number == "1002"
    assert plan.tcp == [("1001", ("127.0.0.1", 23))]
    plan = make_plan(parse(str(tmp_path / "a"), "--listen", "[::1]:2323"))
    assert plan.listen == [(("::1", 2323), str(tmp_path / "a"))]
