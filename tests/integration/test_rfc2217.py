"""RFC 2217 with pyserial's ``rfc2217://`` client as the reference peer.

Real time (a TCP peer cannot share virtual time), scaled 10x on the modem host so ring
cadence and S-register timers stay short. Every wait is a deadline: a pyserial read
time-out, or a threading.Event set from the host's signal watcher. Line-state checks
rely on the server's ordering guarantee: a NOTIFY-MODEMSTATE is sent before the modem
bytes that follow the change, so once the client has read those bytes its cached
cd/ri are current.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import serial

import emulator  # noqa: F401 - registers vmodem://
from emulator.core.engine import Signals
from emulator.transports.host import HostedModem, ModemHost
from emulator.transports.rfc2217 import RFC2217Server, start_rfc2217_server
from emulator.transports.vmodem import VModemSerial, set_default_host
from linelab.errors import LinelabError

# pyserial 3.5's rfc2217 client starts its reader with Thread.setDaemon/setName
# (deprecated since Python 3.10); that is the reference peer's quirk, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:setDaemon.. is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:setName.. is deprecated:DeprecationWarning"),
]

TIME_SCALE = 10.0
_servers: list[RFC2217Server] = []


@pytest.fixture
def host() -> Iterator[ModemHost]:
    modem_host = ModemHost.start_in_thread(time_scale=TIME_SCALE, name="rfc2217-test-host")
    previous = set_default_host(modem_host)
    try:
        yield modem_host
    finally:
        set_default_host(previous)
        while _servers:
            server = _servers.pop()
            modem_host.call(server.close)
            asyncio.run_coroutine_threadsafe(server.wait_closed(), modem_host.loop).result(10)
        modem_host.close()


def serve(host: ModemHost, modem: HostedModem, port: int = 0) -> tuple[RFC2217Server, int]:
    future = asyncio.run_coroutine_threadsafe(start_rfc2217_server(modem, port=port), host.loop)
    server, bound = future.result(10)
    _servers.append(server)
    return server, bound


def client(port: int) -> serial.Serial:
    return serial.serial_for_url(f"rfc2217://127.0.0.1:{port}", timeout=5)


def vmodem(name: str) -> VModemSerial:
    port = serial.serial_for_url(f"vmodem://{name}", timeout=5)
    assert isinstance(port, VModemSerial)
    return port


def expect(port: serial.SerialBase, until: bytes) -> bytes:
    got = port.read_until(until)
    assert got.endswith(until), f"wanted {until!r}, got {got!r}"
    return got


def signal_event(modem: HostedModem, predicate: Callable[[Signals], bool]) -> threading.Event:
    """An Event set (on the host loop) when the modem's signals first satisfy predicate."""
    event = threading.Event()

    def watch(signals: Signals) -> None:
        if predicate(signals):
            event.set()

    modem.host.call(modem.watch_signals, watch)
    return event


def test_at_round_trip_baud_and_lines(host: ModemHost) -> None:
    modem = host.add_modem("A")
    server, port = serve(host, modem)
    assert port > 0
    assert server.host == "127.0.0.1"
    with client(port) as c:
        c.write(b"AT\r")
        assert expect(c, b"OK\r\n") == b"AT\r\r\nOK\r\n"
        assert modem.dtr
        assert modem.engine.dte_rate == 9600
        c.baudrate = 57600  # the client waits for the server's acknowledgement
        assert modem.engine.dte_rate == 57600
        c.rts = False  # SET-CONTROL is acknowledged before the setter returns
        assert modem.engine.rts is False
        c.rts = True
        assert modem.engine.rts is True
        c.write(b"AT\r")
        expect(c, b"OK\r\n")
        assert c.dsr and c.cts and not c.cd and not c.ri


def test_dial_cd_follows_connect_and_hangup(host: ModemHost) -> None:
    a = host.add_modem("A")
    _server, port = serve(host, a)
    with client(port) as c:
        b = vmodem("B")
        c.write(b"ATS10=1\r")
        expect(c, b"OK\r\n")
        c.write(b"ATDT" + b.number.encode() + b"\r")
        expect(b, b"RING\r\n")
        b.write(b"ATA\r")
        expect(b, b"CONNECT 33600\r\n")
        expect(c, b"CONNECT 33600\r\n")
        assert c.cd  # NOTIFY came before CONNECT's bytes
        # 8-bit clean both ways, including telnet's IAC (0xFF)
        c.write(b"\xff\xfe\xfd\x00data\xff")
        assert b.read(9) == b"\xff\xfe\xfd\x00data\xff"
        b.write(b"\xff\xff back \r\n")
        assert c.read(10) == b"\xff\xff back \r\n"
        # the far end drops DTR under &D2: it hangs up and we see NO CARRIER, DCD off
        b.dtr = False
        expect(c, b"NO CARRIER\r\n")
        assert not c.cd
        b.close()


def test_ri_during_ringing(host: ModemHost) -> None:
    b = host.add_modem("B")
    _server, port = serve(host, b)
    with client(port) as c:
        a = vmodem("A")
        ri_off = signal_event(b, lambda s: not s.ri)
        a.write(b"ATDT" + b.number.encode() + b"\r")
        expect(c, b"RING\r\n")
        assert c.ri
        assert ri_off.wait(10)  # 2 s of cadence, scaled
        c.write(b"AT\r")  # the modem still rings; its OK follows the RI-off NOTIFY
        expect(c, b"OK\r\n")
        assert not c.ri
        expect(c, b"RING\r\n")  # the next burst
        assert c.ri
        a.close()


def test_client_dtr_drop_hangs_up_under_d2(host: ModemHost) -> None:
    a = host.add_modem("A")
    _server, port = serve(host, a)
    with client(port) as c:
        b = vmodem("B")
        c.write(b"AT&D2\r")
        expect(c, b"OK\r\n")
        c.write(b"ATDT" + b.number.encode() + b"\r")
        expect(b, b"RING\r\n")
        b.write(b"ATA\r")
        expect(c, b"CONNECT 33600\r\n")
        expect(b, b"CONNECT 33600\r\n")
        c.dtr = False
        expect(b, b"NO CARRIER\r\n")
        assert not b.cd
        c.dtr = True
        c.reset_input_buffer()
        c.write(b"AT\r")
        expect(c, b"OK\r\n")
        assert not c.cd
        b.close()


def test_reconnect_after_close(host: ModemHost) -> None:
    modem = host.add_modem("A")
    _server, port = serve(host, modem)
    with client(port) as c:
        c.write(b"AT\r")
        expect(c, b"OK\r\n")
    # The first client's close freed the modem: a second one is not turned away.
    with client(port) as c:
        c.write(b"ATE0\r")
        expect(c, b"OK\r\n")
        c.write(b"AT\r")
        assert expect(c, b"OK\r\n") == b"\r\nOK\r\n"


def test_second_client_is_turned_away(host: ModemHost) -> None:
    modem = host.add_modem("A")
    _server, port = serve(host, modem)
    with client(port) as c:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
            assert other.recv(100) == b""  # closed at once
        c.write(b"AT\r")
        expect(c, b"OK\r\n")


def test_port_in_use_is_a_clear_error(host: ModemHost) -> None:
    a, b = host.add_modem("A"), host.add_modem("B")
    _server, port = serve(host, a)
    with pytest.raises(LinelabError, match=f"port {port} .* already in use"):
        serve(host, b, port)


NOTIFY_MODEMSTATE = b"\xff\xfa\x2c\x6b"  # IAC SB COM-PORT-OPTION SERVER-NOTIFY-MODEMSTATE
RI, RI_CHANGED = 0x40, 0x04


def other_loop_timers(host: ModemHost) -> int:
    """Live loop timers other than the modem timers the host itself arms: an RFC 2217
    server that polled the modem lines would show up here."""

    def count() -> int:
        live = [h for h in host.loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        return sum(1 for h in live if not h._callback.__qualname__.endswith("_arm.<locals>.fire"))

    return host.call(count)


def test_line_state_is_notified_on_every_change_without_a_poll_timer(host: ModemHost) -> None:
    """A raw telnet peer (no data traffic of its own) gets a NOTIFY-MODEMSTATE for RI on
    and for RI off, while the loop has no timer of the server's: notifications come
    from the signal change itself."""
    modem = host.add_modem("B")
    _server, port = serve(host, modem)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"\xff\xfd\x2c")  # IAC DO COM-PORT-OPTION: we speak RFC 2217
        got = b""

        def next_state() -> int:
            nonlocal got
            while True:
                start = got.find(NOTIFY_MODEMSTATE)
                if start >= 0 and len(got) >= start + 7:
                    assert got[start + 5 : start + 7] == b"\xff\xf0", got  # IAC SE
                    state = got[start + 4]
                    got = got[start + 7 :]
                    return state
                chunk = raw.recv(4096)  # the socket time-out is the deadline
                assert chunk, f"connection closed; got {got!r}"
                got += chunk

        next_state()  # the forced notification once the client said DO COM-PORT
        assert other_loop_timers(host) == 0
        a = vmodem("A")
        a.write(b"ATDT" + modem.number.encode() + b"\r")
        state = next_state()
        while not state & RI:  # DSR/CTS updates may come first
            state = next_state()
        assert state & RI_CHANGED
        assert other_loop_timers(host) == 0
        state = next_state()  # the ring burst ends: RI off, with nothing else sent
        assert not state & RI and state & RI_CHANGED
        assert other_loop_timers(host) == 0
        a.close()
