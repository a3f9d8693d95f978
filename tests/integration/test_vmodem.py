"""``vmodem://`` through unmodified pyserial: AT round trips, a call between two ports,
modem lines, timeouts, fileno() readiness, exclusivity and reopen.

The modems run on a host whose loop is a `linelab.vtime.VirtualTime` loop, and the
ports' time-outs run on that same clock (`set_default_host(host, time_source=vt)`), so
ring cadence, S7, S10 and escape guard times cost no wall time and nothing sleeps.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import serial

import emulator
from emulator.transports.host import ModemHost
from emulator.transports.vmodem import RX_LIMIT, VModemSerial, parse_url, set_default_host
from linelab.vtime import VirtualTime


@dataclass
class VHost:
    vt: VirtualTime
    host: ModemHost

    def open(self, url: str, timeout: float | None = 10.0) -> VModemSerial:
        port = serial.serial_for_url(url, timeout=timeout)
        assert isinstance(port, VModemSerial)
        return port


@pytest.fixture
def vhost() -> Iterator[VHost]:
    vt = VirtualTime()
    loop = vt.new_event_loop()
    started = threading.Event()
    loop.call_soon(started.set)
    thread = threading.Thread(target=loop.run_forever, name="vmodem-test-loop", daemon=True)
    thread.start()
    assert started.wait(10)
    host = ModemHost.call_on(loop, lambda: ModemHost(loop))
    previous = set_default_host(host, time_source=vt)
    try:
        yield VHost(vt, host)
    finally:
        set_default_host(previous)
        host.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def command(port: VModemSerial, line: bytes, until: bytes = b"OK\r\n") -> bytes:
    port.write(line + b"\r")
    reply = port.read_until(until)
    assert reply.endswith(until), f"{line!r} got {reply!r}"
    return reply


def connect(vh: VHost, a: VModemSerial, b: VModemSerial) -> None:
    """A dials B, B answers after the first RING; both see CONNECT and DCD."""
    a.write(b"ATDT" + b.number.encode() + b"\r")
    assert b.read_until(b"RING\r\n").endswith(b"RING\r\n")
    command(b, b"ATA", b"CONNECT 33600\r\n")
    assert b.cd
    assert a.read_until(b"CONNECT 33600\r\n").endswith(b"CONNECT 33600\r\n")
    assert a.cd


def test_registered_at_import_and_idempotent() -> None:
    assert serial.protocol_handler_packages.count("emulator.urlhandler") == 1
    emulator.register_url_handler()
    emulator.register_url_handler()
    assert serial.protocol_handler_packages.count("emulator.urlhandler") == 1


def test_at_round_trip(vhost: VHost) -> None:
    port = vhost.open("vmodem://A")
    assert port.is_open
    assert command(port, b"AT") == b"AT\r\r\nOK\r\n"
    assert command(port, b"ATI3").startswith(b"ATI3\r\r\n")
    assert not port.cd
    assert port.dsr and port.cts and not port.ri
    port.close()
    assert not port.is_open


def test_a_removed_modem_leaves_its_port_dead(vhost: VHost) -> None:
    """As a USB modem pulled out: read() and in_waiting raise SerialException, and
    fileno() turns readable so an event loop finds out."""
    port = vhost.open("vmodem://R")
    assert command(port, b"AT") == b"AT\r\r\nOK\r\n"
    assert select.select([port.fileno()], [], [], 0)[0] == []  # nothing to read
    vhost.host.remove_modem("R")
    assert select.select([port.fileno()], [], [], 0)[0] == [port.fileno()]
    with pytest.raises(serial.SerialException, match="vmodem://R: the modem was removed"):
        _ = port.in_waiting
    with pytest.raises(serial.SerialException, match="the modem was removed"):
        port.read(1)
    with pytest.raises(serial.SerialException, match="the modem was removed"):
        port.write(b"AT\r")
    port.close()


def test_url_options_and_errors(vhost: VHost) -> None:
    assert parse_url("vmodem://A?profile=hayes&number=555") == ("A", "hayes", "555")
    port = vhost.open("vmodem://Hayes1?profile=hayes&number=5550100")
    assert port.number == "5550100"
    assert vhost.host.modem("Hayes1").engine.profile.name == "hayes"
    port.close()
    for bad in (
        "vmodem://",
        "vmodem://A?colour=red",
        "vmodem://A?number=",
        "vmodem://A?number=12x",
        "vmodem://bad name",
        "vmodem://B?profile=no-such-profile",
    ):
        with pytest.raises(serial.SerialException):
            serial.serial_for_url(bad)
    assert "B" not in vhost.host.modems


def test_second_open_fails_and_close_frees_the_name(vhost: VHost) -> None:
    first = vhost.open("vmodem://A")
    number = first.number
    with pytest.raises(serial.SerialException, match="already open"):
        serial.serial_for_url("vmodem://A")
    first.close()
    again = vhost.open("vmodem://A")
    assert again.number == number  # the modem stayed on the exchange
    assert command(again, b"AT") == b"AT\r\r\nOK\r\n"
    again.close()
    with pytest.raises(serial.SerialException, match="number"):
        serial.serial_for_url("vmodem://A?number=9999")


def test_call_data_escape_and_hangup(vhost: VHost) -> None:
    a, b = vhost.open("vmodem://A"), vhost.open("vmodem://B")
    connect(vhost, a, b)
    a.write(b"hello B\xff\x00")
    assert b.read(9) == b"hello B\xff\x00"
    b.write(b"+hi A+")  # single pluses are data
    assert a.read(6) == b"+hi A+"
    # +++ needs S12 (1 s) of silence before and after; let it pass on the virtual clock.
    vhost.vt.sleep(1.5)
    a.write(b"+++")
    assert a.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert a.cd  # still connected, in online command state
    assert command(a, b"ATH") == b"ATH\r\r\nOK\r\n"
    assert not a.cd
    assert b.read_until(b"NO CARRIER\r\n").endswith(b"\r\nNO CARRIER\r\n")
    assert not b.cd


def test_ri_follows_the_ring_cadence(vhost: VHost) -> None:
    a, b = vhost.open("vmodem://A"), vhost.open("vmodem://B")
    a.write(b"ATDT" + b.number.encode() + b"\r")
    assert b.read_until(b"RING\r\n").endswith(b"RING\r\n")
    assert b.ri
    t_on = vhost.vt.now()
    assert b.wait_signals(lambda s: not s.ri, 10)
    t_off = vhost.vt.now()
    assert b.wait_signals(lambda s: s.ri, 10)
    t_on2 = vhost.vt.now()
    assert t_off - t_on == pytest.approx(2.0, abs=0.05)  # generic cadence: 2 s on
    assert t_on2 - t_off == pytest.approx(4.0, abs=0.05)  # then 4 s off
    assert b.read_until(b"RING\r\n").endswith(b"RING\r\n")
    assert not b.cd


def test_dtr_drop_hangs_up_under_d2(vhost: VHost) -> None:
    a, b = vhost.open("vmodem://A"), vhost.open("vmodem://B")
    command(a, b"AT&D2")
    connect(vhost, a, b)
    a.dtr = False
    assert b.read_until(b"NO CARRIER\r\n").endswith(b"NO CARRIER\r\n")
    assert a.wait_signals(lambda s: not s.dcd, 5)
    a.dtr = True
    assert command(a, b"AT").endswith(b"OK\r\n")


def test_baudrate_and_rts_reach_the_engine(vhost: VHost) -> None:
    port = vhost.open("vmodem://A")
    engine = vhost.host.modem("A").engine
    assert engine.dte_rate == 9600
    port.baudrate = 57600
    assert engine.dte_rate == 57600
    port.rts = False
    assert engine.rts is False
    port.dtr = False
    assert engine.dtr is False
    port.close()


def test_read_timeouts(vhost: VHost) -> None:
    port = vhost.open("vmodem://A", timeout=0)
    start = vhost.vt.now()
    assert port.read(10) == b""
    assert vhost.vt.now() == start  # timeout 0 never waits
    port.timeout = 2.5
    assert port.read(10) == b""
    assert vhost.vt.now() - start == pytest.approx(2.5)  # a deadline on the port's clock
    port.timeout = None
    port.write(b"AT\r")
    assert port.read(9) == b"AT\r\r\nOK\r\n"  # None: blocks until all 9 arrived


def test_fileno_is_readable_exactly_when_data_waits(vhost: VHost) -> None:
    port = vhost.open("vmodem://A")
    fd = port.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    port.write(b"AT\r")
    assert select.select([fd], [], [], 10)[0] == [fd]
    assert port.in_waiting > 0
    port.read_until(b"OK\r\n")
    assert port.in_waiting == 0
    assert select.select([fd], [], [], 0)[0] == []
    port.write(b"ATE0\r")
    assert select.select([fd], [], [], 10)[0] == [fd]
    port.reset_input_buffer()
    assert port.in_waiting == 0
    assert select.select([fd], [], [], 0)[0] == []


def test_burst_on_virtual_time_arrives_intact(vhost: VHost) -> None:
    # The 1 MiB burst on real time is in tests/conformance; this one checks that two
    # threads blocked in read() and write() on virtual time move data, not the clock.
    a, b = vhost.open("vmodem://A"), vhost.open("vmodem://B")
    connect(vhost, a, b)
    start = vhost.vt.now()
    payload = bytes((i * 7 + i // 256) & 0xFF for i in range(1 << 18))
    errors: list[BaseException] = []
    registered = threading.Event()

    def send() -> None:
        # The writer is an actor from its first instant: otherwise, on a busy machine,
        # the reader alone counts, the clock jumps to its time-out before the writer
        # has written anything, and the read returns nothing.
        vhost.vt.register_actor()
        registered.set()
        try:
            a.write(payload)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=send, daemon=True)  # a failure must not hang exit
    writer.start()
    assert registered.wait(30)
    got = b.read(len(payload))
    writer.join(30)
    assert not errors
    assert len(got) == len(payload)
    assert got == payload
    assert b.in_waiting == 0
    assert len(payload) >= 4 * RX_LIMIT  # the burst really went through back-pressure
    assert vhost.vt.now() - start < 1.0  # no time-out was needed to make progress


def test_closed_port_refuses_io(vhost: VHost) -> None:
    port = vhost.open("vmodem://A")
    port.close()
    with pytest.raises(serial.PortNotOpenError):
        port.write(b"AT\r")
    with pytest.raises(serial.PortNotOpenError):
        port.read(1)
    with pytest.raises(serial.PortNotOpenError):
        _ = port.cd


FRESH_PROCESS = """
import threading, serial
before = {t.name for t in threading.enumerate()}
import emulator  # nothing else: the import alone registers vmodem://
from emulator.transports import vmodem
port = serial.serial_for_url("vmodem://Fresh?number=7001", timeout=10)
started = {t.name for t in threading.enumerate()} - before
host = vmodem.default_host()
assert started == {"linelab-vmodem"}, started
assert host._thread is not None and host._thread.daemon and host._thread.is_alive()
assert "Fresh" in host.modems and host.modems["Fresh"].number == "7001"
port.write(b"AT\\r")
assert port.read_until(b"OK\\r\\n") == b"AT\\r\\r\\nOK\\r\\n"
try:
    serial.serial_for_url("vmodem://Fresh")
except serial.SerialException as exc:
    assert "already open" in str(exc), exc
else:
    raise AssertionError("second open of vmodem://Fresh succeeded")
port.close()
assert vmodem.default_host() is host  # one process-wide host, not one per open
serial.protocol_handler_packages.remove(emulator.URL_HANDLER_PACKAGE)
try:
    serial.serial_for_url("vmodem://Other")
except ValueError as exc:
    assert "not known" in str(exc), exc
else:
    raise AssertionError("vmodem:// opened without a registered handler")
emulator.register_url_handler()
serial.serial_for_url("vmodem://Other").close()
print("ok")
"""


def test_fresh_process_import_registers_and_first_open_starts_the_service_thread() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout == b"ok\n", result.stderr.decode()
