"""A virtual modem as a hub member (`VirtualSerialPorts.add_modem`, `linelab ports
--modem`), on real ptys.

Clients are raw, non-blocking fds (no pyserial: its open flushes the input queue, which
would hide stale output). Every wait is an event wait with a deadline (poll on the client
fd, `HubModem.wait_client`, pipe reads with select): nothing sleeps to synchronise.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from emulator.core.engine import Signals
from emulator.network.subscriberline import CallerId
from emulator.transports.host import ModemHost
from emulator.transports.ports import HubModem, VirtualSerialPortException, VirtualSerialPorts
from emulator.transports.vmodem import default_host
from linelab.errors import LinelabError

DEADLINE = 10.0  # seconds; only reached when something is broken
LINELAB = str(Path(sys.executable).with_name("linelab"))


@contextmanager
def client(path: str) -> Iterator[int]:
    """Open a hub port as a serial program would: raw, non-blocking, no controlling tty.
    TCSANOW: unlike pyserial or tty.setraw's default, it flushes nothing, so stale
    output would show."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield fd
    finally:
        os.close(fd)


def read_until(fd: int, text: bytes, timeout: float = DEADLINE) -> bytes:
    """Read from `fd` until the data ends with `text`; fail at the deadline."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    end = time.monotonic() + timeout
    data = bytearray()
    while not data.endswith(text):
        left = end - time.monotonic()
        assert left > 0 and poller.poll(left * 1000), f"no {text!r} in time: {bytes(data)!r}"
        try:
            data += os.read(fd, 1 if text else 4096)
        except BlockingIOError:
            continue
    return bytes(data)


def command(fd: int, line: bytes, final: bytes = b"OK\r\n") -> bytes:
    os.write(fd, line + b"\r")
    return read_until(fd, final)


@pytest.fixture
def host() -> Iterator[ModemHost]:
    host = ModemHost.start_in_thread(time_scale=10.0, name="ports-modem-test")
    try:
        yield host
    finally:
        host.close()


@contextmanager
def hub_with_modem(host: ModemHost, num_ports: int = 1) -> Iterator[tuple[list[str], HubModem]]:
    hub = VirtualSerialPorts(num_ports)
    modem = hub.add_modem(host=host)
    try:
        with hub as ports:
            yield ports, modem
    finally:
        hub.close()


def test_at_round_trip_through_a_hub_port(host: ModemHost) -> None:
    with hub_with_modem(host) as (ports, modem), client(ports[0]) as fd:
        assert command(fd, b"ATE0").endswith(b"\r\nOK\r\n")
        assert command(fd, b"AT") == b"\r\nOK\r\n"
        assert command(fd, b"ATS7?") == b"\r\n050\r\n\r\nOK\r\n"
        assert command(fd, b"ATBOGUS", final=b"ERROR\r\n") == b"\r\nERROR\r\n"
        assert modem.number == host.modem(modem.name).number


def test_ring_reaches_the_port_when_the_exchange_calls_the_modem(host: ModemHost) -> None:
    with hub_with_modem(host) as (ports, modem), client(ports[0]) as fd:
        command(fd, b"ATE0")
        host.call(host.exchange.place_call, modem.number, CallerId("5551234", None))
        read_until(fd, b"RING\r\n")
        os.write(fd, b"ATA\r")
        assert b"CONNECT" in read_until(fd, b"CONNECT")


def test_every_port_of_the_hub_talks_to_the_modem(host: ModemHost) -> None:
    with (
        hub_with_modem(host, 2) as (ports, _modem),
        client(ports[0]) as one,
        client(ports[1]) as two,
    ):
        command(one, b"ATE0")
        read_until(two, b"OK\r\n")  # the hub broadcasts the modem's output
        os.write(two, b"ATS7?\r")
        # `one` sees the other port's command too (hub semantics), then the answer.
        assert read_until(one, b"OK\r\n").endswith(b"ATS7?\r\r\n050\r\n\r\nOK\r\n")


def test_dtr_follows_clients_and_b0(host: ModemHost) -> None:
    with hub_with_modem(host) as (ports, modem):
        assert not modem.client_present
        assert host.call(lambda: modem.modem.dtr) is False
        with client(ports[0]) as fd:
            assert modem.wait_client(True, DEADLINE)
            command(fd, b"AT")
            assert host.call(lambda: modem.modem.dtr) is True
            # Output speed B0 drops DTR: seen through the hub's packet-mode master.
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = termios.B0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            # The termios packet reaches the hub before the bytes written after it, and
            # the hub tells the modem in the same order: this OK is the sync point.
            command(fd, b"AT")
            assert host.call(lambda: modem.modem.dtr) is False
            attrs[4] = attrs[5] = termios.B115200
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            command(fd, b"AT")
            assert host.call(lambda: modem.modem.dtr) is True
        assert modem.wait_client(False, DEADLINE)
        assert host.call(lambda: modem.modem.dtr) is False


def test_output_left_by_one_client_never_reaches_the_next(host: ModemHost) -> None:
    with hub_with_modem(host) as (ports, modem):
        for round_ in range(4):
            with client(ports[0]) as fd:
                assert modem.wait_client(True, DEADLINE)
                os.write(fd, b"ATE0\r")
                first = read_until(fd, b"OK\r\n")
                assert first in (b"ATE0\r\r\nOK\r\n", b"\r\nOK\r\n"), (round_, first)
                # Leave a long answer mostly unread for nobody.
                os.write(fd, b"ATI\r")
                assert read_until(fd, b"\r") == b"\r"
            assert modem.wait_client(False, DEADLINE)
        # A call that rings while nobody has the port open, and is abandoned, rings
        # for nobody: no stale RING for the next client.
        ringing = threading.Event()

        def on_signals(signals: Signals) -> None:
            if signals.ri:
                ringing.set()

        unwatch = modem.modem.watch_signals(on_signals)
        try:
            far = host.call(host.exchange.place_call, modem.number, CallerId("5551234", None))
            assert ringing.wait(DEADLINE)
        finally:
            unwatch()
        assert far.line is not None
        host.call(far.line.hangup)
        with client(ports[0]) as fd:
            os.write(fd, b"ATE0\r")
            first = read_until(fd, b"OK\r\n")
            assert first in (b"ATE0\r\r\nOK\r\n", b"\r\nOK\r\n"), first


def test_add_modem_rules(host: ModemHost) -> None:
    hub = VirtualSerialPorts(1)
    try:
        with pytest.raises(LinelabError):
            hub.add_modem(profile="no-such-profile", host=host)
        first = hub.add_modem("hubA", number="4242", host=host)
        assert (first.name, first.number) == ("hubA", "4242")
        with pytest.raises(ValueError):
            hub.add_modem("hubA", host=host)
        hub.open()
        hub.start()
        with pytest.raises(VirtualSerialPortException):
            hub.add_modem(host=host)
        assert hub.modems == [first]
    finally:
        hub.close()
    assert hub.modems == []
    assert "hubA" not in host.modems


def test_default_host_when_none_is_given() -> None:
    hub = VirtualSerialPorts(1)
    modem = hub.add_modem()
    try:
        assert modem.host is default_host()
        with hub as ports, client(ports[0]) as fd:
            assert command(fd, b"ATE0").endswith(b"OK\r\n")
    finally:
        hub.close()
    assert modem.name not in default_host().modems


def test_nothing_leaks_after_close() -> None:
    fds = set(os.listdir("/proc/self/fd"))
    threads = set(threading.enumerate())
    host = ModemHost.start_in_thread(name="ports-leak-test")
    for _ in range(3):
        hub = VirtualSerialPorts(2)
        modem = hub.add_modem(host=host)
        with hub as ports:
            with client(ports[0]) as fd:
                command(fd, b"ATE0")
            assert modem.wait_client(False, DEADLINE)
        assert not host.modems
    host.close()
    # Nothing new is left open. (An fd of an earlier test that the garbage collector closes
    # meanwhile is not this test's concern: the check is one-sided.)
    assert set(threading.enumerate()) - threads == set()
    assert set(os.listdir("/proc/self/fd")) - fds == set()


def _read_line(stream: int, timeout: float = DEADLINE) -> str:
    data = bytearray()
    end = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([stream], [], [], max(end - time.monotonic(), 0))
        assert ready, f"no complete line before the deadline: {bytes(data)!r}"
        chunk = os.read(stream, 1)
        assert chunk, f"end of output after {bytes(data)!r}"
        data += chunk
    return data.decode()


def test_cli_modem_keeps_stdout_to_the_paths() -> None:
    proc = subprocess.Popen(
        [LINELAB, "ports", "--modem", "--number", "7777", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        paths = [_read_line(proc.stdout.fileno()).strip() for _ in range(2)]
        assert all(p.startswith("/dev/pts/") for p in paths), paths
        info = _read_line(proc.stderr.fileno())
        assert "number=7777" in info, info
        with client(paths[1]) as fd:
            assert command(fd, b"ATE0").endswith(b"OK\r\n")
            assert command(fd, b"ATS7?") == b"\r\n050\r\n\r\nOK\r\n"
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0
        assert out == b""  # nothing on stdout beyond the paths
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_unknown_profile_is_a_clear_error() -> None:
    proc = subprocess.run(
        [LINELAB, "ports", "--modem", "--profile", "no-such-profile", "1"],
        capture_output=True,
        timeout=DEADLINE,
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert b"no-such-profile" in proc.stderr
