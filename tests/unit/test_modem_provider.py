"""The modem provider (tapi.providers.modem) against a scripted fake port: no I/O.

The provider runs on a virtual-time loop driven from the test thread (which is not an
actor), so `run(seconds)` processes every callback and timer due in that much virtual
time: S7 and ring time-outs cost nothing. The core is replaced by `Recorder`, a minimal
`LineEvents` that records what the provider reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linelab.vtime import VirtualTime
from tapi import constants as C
from tapi.config import LineConfig
from tapi.providers.base import CallParams, DeviceID, LineDevice
from tapi.providers.dataport import DataPort
from tapi.providers.modem import (
    DCD_GRACE,
    INCOMING_MEDIA,
    PORT_SETTLE,
    REINIT_DELAY,
    ModemLine,
)
from tapi.providers.serialport import PortDriver, PortOpenError

DATA = CallParams(media_mode=C.LINEMEDIAMODE_DATAMODEM)
INIT = ["ATZ", "ATE0V1&C1&D2", "ATS7=60", "ATS0=0", "AT+VCID=1"]


class FakeDriver(PortDriver):
    """A scripted modem behind the PortDriver interface: answers OK to every command
    except those in `silent` (ATD…, ATA: the test injects their results)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_data: Callable[[bytes], None],
        on_gone: Callable[[str], None],
    ) -> None:
        self.loop = loop
        self.on_data = on_data
        self.on_gone = on_gone
        self.commands: list[str] = []
        self.raw = bytearray()
        self.dtr: list[bool] = []
        self.discards = 0  # discard_input() calls
        self.closed = False
        self.started = False
        self.silent: tuple[str, ...] = ("ATD", "ATX3D", "ATX4D", "ATA")
        self.replies: dict[str, str] = {}
        self.data_mode = False
        self._line = bytearray()

    def start(self) -> None:
        self.started = True

    def backlog(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.raw += data
        if self.data_mode:
            return
        for byte in data:
            if byte == 0x0D:
                command = self._line.decode()
                self._line.clear()
                self.commands.append(command)
                self._reply(command)
            else:
                self._line.append(byte)

    def _reply(self, command: str) -> None:
        upper = command.upper()
        if upper in self.replies:
            reply = self.replies[upper]
        elif upper.startswith(self.silent) or upper == "":
            return
        else:
            reply = "OK"
        if reply:
            self.inject(f"\r\n{reply}\r\n")

    def inject(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.loop.call_soon(self.on_data, data)

    def set_dtr(self, on: bool) -> None:
        self.dtr.append(on)

    def discard_input(self) -> None:
        self.discards += 1

    def pause_reading(self, paused: bool) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def vanish(self) -> None:
        self.closed = True
        self.loop.call_soon(self.on_gone, "end of file (hang-up)")


class Recorder:
    """A LineEvents that records every report; new_call hands out htCalls from 100."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.errors: list[str] = []
        self.refuse = False
        self._next = 100

    def completion(self, request_id: int, result: int) -> None:
        self.log.append(("reply", request_id, result))

    def new_call(self, line: LineDevice, **kw: Any) -> int:
        if self.refuse:
            return 0
        self._next += 1
        self.log.append(("new_call", self._next, kw.get("media_mode")))
        return self._next

    def call_state(self, htCall: int, state: int, mode: int = 0, media_mode: int = 0) -> None:
        self.log.append(("state", htCall, C.callstate_name(state), mode))

    def call_info(self, htCall: int, changed: int, **values: Any) -> None:
        self.log.append(("info", htCall, changed, values))

    def line_devstate(
        self, line: LineDevice, state: int, param2: int = 0, param3: int = 0
    ) -> None:
        self.log.append(("devstate", state, param2, param3))

    def line_closed(self, line: LineDevice) -> None:
        self.log.append(("line_closed",))

    def provider_error(self, line: LineDevice, text: str) -> None:
        self.errors.append(text)  # kept apart: the tests compare `log` exactly

    def device_removed(self, line: LineDevice) -> None:
        self.log.append(("removed",))

    def device_created(self, line: LineDevice) -> None:
        self.log.append(("created",))

    def take(self) -> list[tuple[Any, ...]]:
        out, self.log = self.log, []
        return out


class Rig:
    def __init__(self, config: LineConfig | None = None, *, open_error: bool = False) -> None:
        self.vt = VirtualTime()
        self.vt.unregister_actor()  # this thread only drives the loop
        self.loop = self.vt.new_event_loop()
        self.drivers: list[FakeDriver] = []
        self.open_error = open_error
        self.replies: dict[str, str] = {}  # shared by every driver the line opens

        def factory(
            port: str,
            loop: asyncio.AbstractEventLoop,
            on_data: Callable[[bytes], None],
            on_gone: Callable[[str], None],
            on_drained: Callable[[], None] | None = None,
            *,
            baudrate: int = 115200,
        ) -> PortDriver:
            if self.open_error:
                raise PortOpenError(2, f"cannot open {port}")
            driver = FakeDriver(loop, on_data, on_gone)
            driver.replies = self.replies
            self.drivers.append(driver)
            return driver

        self.factory = factory
        self.line = ModemLine(
            # One command at a time: the tests below follow the init command by command
            # (the one-line set-up has its own tests at the end of this file).
            config or LineConfig(name="M", port="fake://m", one_line_init=False),
            time=self.vt,
            driver_factory=factory,
        )
        self.ev = Recorder()
        self.line.attach(self.ev, lambda: self.loop)

    @property
    def port(self) -> FakeDriver:
        return self.drivers[-1]

    def run(self, seconds: float = 0.5) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def open(self) -> None:
        assert self.line.open() == 0
        # As the core does after an owner's lineOpen: it wants data calls.
        self.line.set_default_media_detection(C.LINEMEDIAMODE_DATAMODEM)
        self.run()
        assert self.port.commands == INIT
        self.port.commands.clear()
        # Initialised: the line is in service (once per port open).
        assert self.ev.take() == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0)]

    def close(self) -> None:
        self.loop.close()

    def make_call(self, dest: str | None = "5551234", rid: int = 1, htCall: int = 7) -> None:
        assert self.line.make_call(rid, htCall, dest, 0, DATA) == 0
        self.run()

    def connect(self) -> None:
        self.make_call()
        self.port.inject("\r\nCONNECT 33600\r\n")
        self.port.data_mode = True
        self.run()
        self.ev.take()


def ident(line: ModemLine, device_class: str, htCall: int | None) -> Any:
    """The value of a successful get_id."""
    answer = line.get_id(device_class, htCall)
    assert isinstance(answer, DeviceID), answer
    return answer.value


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def test_the_line_is_in_service_only_once_the_modem_is_initialised() -> None:
    """lineGetLineDevStatus/LINE_LINEDEVSTATE(INSERVICE): what an app waits for before
    expecting calls (a RING during the init would lose its caller ID)."""
    r = Rig()
    try:
        assert r.line.open() == 0
        flags = r.line.dev_status_flags()
        assert flags == C.LINEDEVSTATUSFLAGS_CONNECTED  # the port is not even open yet
        r.replies["ATZ"] = ""  # the modem takes its time over the reset
        r.run()
        assert r.port.commands == ["ATZ"]  # initialising: still not in service
        assert not r.line.dev_status_flags() & C.LINEDEVSTATUSFLAGS_INSERVICE
        assert r.ev.take() == []
        r.port.inject("\r\nOK\r\n")
        r.run()
        assert r.line.dev_status_flags() & C.LINEDEVSTATUSFLAGS_INSERVICE
        assert r.ev.take() == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0)]
        r.line.close()
        r.run()
        assert not r.line.dev_status_flags() & C.LINEDEVSTATUSFLAGS_INSERVICE
    finally:
        r.close()


def test_open_initialises_the_modem_with_the_configured_init_string() -> None:
    r = Rig(
        LineConfig(
            name="M", port="fake://m", init="M0L0", call_setup_fail_timer=45, one_line_init=False
        )
    )
    try:
        assert r.line.open() == 0
        r.run()
        assert r.port.started and r.port.dtr == [True]
        assert r.port.commands == ["ATZ", "ATE0V1&C1&D2", "ATS7=45", "ATS0=0", "AT+VCID=1",
                                   "ATM0L0"]  # fmt: skip
        # The modem is ready: the line is in service (announced once, not per call).
        assert r.ev.take() == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0)]
        assert r.line.dev_status_flags() & C.LINEDEVSTATUSFLAGS_INSERVICE
    finally:
        r.close()


def test_outgoing_data_call_connect_remote_hangup_and_drop(rig: Rig) -> None:
    rig.open()
    rig.make_call()
    assert rig.port.commands == ["ATX4DT5551234"]
    assert rig.ev.take() == [
        ("reply", 1, 0),
        ("state", 7, "LINECALLSTATE_DIALING", 0),
        ("state", 7, "LINECALLSTATE_PROCEEDING", 0),
    ]
    rig.port.inject("\r\nCONNECT 33600\r\n")
    rig.port.data_mode = True
    rig.run()
    assert rig.ev.take() == [
        ("info", 7, 0, {"dwRate": 33600}),
        ("state", 7, "LINECALLSTATE_CONNECTED", C.LINECONNECTEDMODE_ACTIVE),
    ]
    # The data phase goes through the relayed port, which the provider keeps reading.
    answer = rig.line.get_id("comm/datamodem", 7)
    assert not isinstance(answer, int)
    port, name = answer.value
    assert isinstance(port, DataPort) and name == "fake://m" and port.cd
    rig.port.inject(b"hello \x00\xff")
    rig.run()
    port.timeout = 0
    assert port.read(100) == b"hello \x00\xff"
    port.write(b"+ATH0\r")  # data, not a command: it goes to the modem as it is
    rig.run()
    assert rig.port.raw.endswith(b"+ATH0\r")
    rig.port.inject(b"bye\r\nNO CARRIER\r\n")
    rig.port.data_mode = False
    rig.run()
    assert rig.ev.take() == [
        ("state", 7, "LINECALLSTATE_DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL)
    ]
    assert port.read(100) == b"bye" and not port.cd
    assert port.read(100) == b""  # end of file once the call has ended
    assert rig.line.drop(2, 7, None) == 0
    rig.run()
    assert rig.port.commands[-6:] == ["ATH", *INIT]  # hung up, then re-initialised
    assert rig.ev.take() == [("reply", 2, 0), ("state", 7, "LINECALLSTATE_IDLE", 0)]
    assert ident(rig.line, "comm/datamodem", 7)[0] is None


@pytest.mark.parametrize(
    ("result", "mode"),
    [
        ("BUSY", C.LINEDISCONNECTMODE_BUSY),
        ("NO ANSWER", C.LINEDISCONNECTMODE_NOANSWER),
        ("NO DIALTONE", C.LINEDISCONNECTMODE_NODIALTONE),
        ("NO CARRIER", C.LINEDISCONNECTMODE_UNAVAIL),
        ("BLACKLISTED", C.LINEDISCONNECTMODE_BLOCKED),
    ],
)
def test_dial_failures_map_to_disconnect_modes(rig: Rig, result: str, mode: int) -> None:
    rig.open()
    rig.make_call()
    rig.ev.take()
    rig.port.inject(f"\r\n{result}\r\n")
    rig.run()
    assert rig.ev.take() == [("state", 7, "LINECALLSTATE_DISCONNECTED", mode)]
    rig.line.drop(2, 7, None)
    rig.run()
    assert rig.ev.take() == [("reply", 2, 0), ("state", 7, "LINECALLSTATE_IDLE", 0)]


def test_no_result_within_s7_plus_5_is_unavail_on_virtual_time(rig: Rig) -> None:
    rig.open()
    rig.make_call()
    rig.ev.take()
    start = rig.loop.time()
    rig.run(64.0)
    assert rig.ev.take() == []
    rig.run(1.5)
    assert rig.ev.take() == [
        ("state", 7, "LINECALLSTATE_DISCONNECTED", C.LINEDISCONNECTMODE_UNAVAIL)
    ]
    assert rig.loop.time() - start == pytest.approx(65.5)


def test_incoming_call_rings_caller_id_answer(rig: Rig) -> None:
    rig.open()
    rig.port.inject("\r\nRING\r\n")
    rig.run(0.1)
    assert rig.ev.take() == [
        ("new_call", 101, INCOMING_MEDIA),
        ("state", 101, "LINECALLSTATE_OFFERING", C.LINEOFFERINGMODE_ACTIVE),
        ("devstate", C.LINEDEVSTATE_RINGING, 1, 0),
    ]
    rig.port.inject("\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 5551234\r\nNAME = ALICE\r\n")
    rig.run(1.0)
    rig.port.inject("\r\nRING\r\n")
    rig.run(0.1)
    assert rig.ev.take() == [
        ("info", 101, C.LINECALLINFOSTATE_CALLERID,
         {"dwCallerIDFlags": C.LINECALLPARTYID_ADDRESS | C.LINECALLPARTYID_NAME,
          "CallerID": "5551234", "CallerIDName": "ALICE"}),
        ("devstate", C.LINEDEVSTATE_RINGING, 1, 1),
    ]  # fmt: skip
    assert rig.line.answer(5, 101, None) == 0
    rig.run(0.1)
    assert rig.port.commands == ["ATA"]
    assert rig.ev.take() == [("reply", 5, 0)]  # off-hook: the reply (rules.md §5.2)
    rig.port.inject("\r\nCONNECT 14400\r\n")
    rig.run(0.1)
    assert rig.ev.take() == [
        ("info", 101, 0, {"dwRate": 14400}),
        ("state", 101, "LINECALLSTATE_CONNECTED", C.LINECONNECTEDMODE_ACTIVE),
    ]


def test_unanswered_call_goes_idle_when_the_rings_stop(rig: Rig) -> None:
    rig.open()
    for _ in range(6):
        rig.port.inject("\r\nRING\r\n")
        rig.run(6.0)
    log = rig.ev.take()
    assert [e for e in log if e[0] == "devstate"] == [
        ("devstate", C.LINEDEVSTATE_RINGING, 1, n) for n in range(6)
    ]
    rig.run(3.0)
    assert rig.ev.take() == [("state", 101, "LINECALLSTATE_IDLE", 0)]


def test_a_refused_call_is_ignored_until_its_rings_stop(rig: Rig) -> None:
    rig.open()
    rig.ev.refuse = True
    rig.port.inject("\r\nRING\r\n")
    rig.run(6.0)
    rig.ev.refuse = False
    rig.port.inject("\r\nRING\r\n")
    rig.run(6.0)
    assert rig.ev.take() == []
    rig.run(10.0)  # the rings stopped: the next RING is a new call
    rig.port.inject("\r\nRING\r\n")
    rig.run(0.1)
    assert rig.ev.take()[0][0] == "new_call"


def test_rings_are_ignored_while_no_owner_wants_calls(rig: Rig) -> None:
    """rules.md §6.9: with monitors only (no owner media modes) a RING makes no call."""
    rig.open()
    rig.line.set_default_media_detection(0)  # the owner closed; a monitor remains
    for _ in range(3):
        rig.port.inject("\r\nRING\r\n")
        rig.run(6.0)
    assert rig.ev.take() == []
    rig.line.set_default_media_detection(C.LINEMEDIAMODE_DATAMODEM)  # an owner opens
    rig.run(10.0)  # that caller gave up; the next RING is a new call, reported
    rig.port.inject("\r\nRING\r\n")
    rig.run(0.1)
    assert rig.ev.take()[0] == ("new_call", 101, INCOMING_MEDIA)


class _Lines:
    """The modem lines of a fake port (pyserial's ``cd``)."""

    cd = True


def test_a_dcd_drop_ends_a_connected_data_call(rig: Rig) -> None:
    """rules.md §8.4: DCD dropping while connected is DISCONNECTED(NORMAL), even when
    the modem says nothing (a DTR-drop hang-up under &D2 answers OK, not NO CARRIER)."""
    rig.open()
    lines = _Lines()
    rig.port.port = lines  # type: ignore[assignment]
    rig.connect()
    rig.run(5.0)
    assert rig.ev.take() == []  # carrier up: the call stays
    lines.cd = False
    rig.run(DCD_GRACE - 0.2)
    assert rig.ev.take() == []  # time for the modem's NO CARRIER (its S10 delay)
    rig.run(1.0)
    ended = ("state", 7, "LINECALLSTATE_DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL)
    assert rig.ev.take() == [ended]


def test_a_no_carrier_after_the_dcd_drop_ends_the_call_once(rig: Rig) -> None:
    """DCD drops first, NO CARRIER follows after the modem's S10 delay: one
    DISCONNECTED, from the NO CARRIER, and the drop that follows succeeds."""
    rig.open()
    lines = _Lines()
    rig.port.port = lines  # type: ignore[assignment]
    rig.connect()
    lines.cd = False
    rig.run(1.4)
    rig.port.data_mode = False
    rig.port.inject("\r\nNO CARRIER\r\n")
    rig.run(DCD_GRACE * 2)
    ended = ("state", 7, "LINECALLSTATE_DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL)
    assert rig.ev.take() == [ended]


def test_drop_in_data_mode_lowers_dtr_for_half_a_second(rig: Rig) -> None:
    rig.open()
    rig.connect()
    rig.line.drop(2, 7, None)
    rig.run(0.2)
    assert rig.port.dtr == [True, False]
    rig.port.data_mode = False
    rig.run(0.5)
    assert rig.port.dtr == [True, False, True]
    assert "ATH" in rig.port.commands
    rig.run(0.5)
    assert rig.ev.take() == [("reply", 2, 0), ("state", 7, "LINECALLSTATE_IDLE", 0)]


def test_port_gone_fails_pending_requests_then_closes_the_line(rig: Rig) -> None:
    rig.open()
    rig.make_call(dest=None)  # ATX4D; waits for OK, which never comes
    rig.ev.take()
    rig.line.dial(3, 7, "555", 0)
    rig.run(0.1)
    rig.port.vanish()
    rig.run(0.1)
    assert rig.ev.take() == [("reply", 3, C.LINEERR_OPERATIONFAILED), ("line_closed",)]
    rig.line.close()  # the core's TSPI_lineClose after LINE_CLOSE: harmless
    rig.run(0.1)
    assert rig.ev.take() == []


def test_init_failure_fails_the_pending_make_call(rig: Rig) -> None:
    rig.replies["ATE0V1&C1&D2"] = "ERROR"
    assert rig.line.open() == 0
    rig.line.make_call(1, 7, "5551234", 0, DATA)
    rig.run()
    assert rig.ev.take() == [("reply", 1, C.LINEERR_OPERATIONFAILED)]
    assert "ATX4DT5551234" not in rig.port.commands
    assert rig.line.errors == ["init failed: ATE0V1&C1&D2 -> ERROR"]
    # The next request tries the init again.
    del rig.replies["ATE0V1&C1&D2"]
    rig.port.commands.clear()
    rig.make_call(rid=2, htCall=8)
    assert rig.port.commands == [*INIT, "ATX4DT5551234"]
    # The first init that succeeds puts the line in service; then the dial goes out.
    assert rig.ev.take()[:2] == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0), ("reply", 2, 0)]


def test_open_failure_replies_resourceunavail_and_closes_the_line() -> None:
    r = Rig(open_error=True)
    try:
        assert r.line.open() == 0
        r.line.set_default_media_detection(C.LINEMEDIAMODE_DATAMODEM)  # an owner's open
        r.line.make_call(1, 7, "5551234", 0, DATA)
        r.run()
        assert r.ev.take() == [("line_closed",), ("reply", 1, C.LINEERR_RESOURCEUNAVAIL)]
    finally:
        r.close()


def test_a_held_port_fails_the_make_call_of_a_line_without_owners_in_its_reply() -> None:
    """rules.md §8.3: opened without owners (LINECALLPRIVILEGE_NONE or MONITOR), the line
    stays open when its port is held elsewhere; lineMakeCall tries the port again and
    fails in its LINE_REPLY with LINEERR_RESOURCEUNAVAIL. Once the port is free, the
    next lineMakeCall opens it and dials."""
    r = Rig(open_error=True)
    try:
        assert r.line.open() == 0
        r.line.set_default_media_detection(0)  # no owner
        r.run()
        assert r.drivers == [] and r.ev.take() == []
        r.line.make_call(1, 7, "5551234", 0, DATA)
        r.run()
        assert r.ev.take() == [("reply", 1, C.LINEERR_RESOURCEUNAVAIL)]
        assert r.line.errors == []  # a held port is the app's answer, not a fault
        r.open_error = False  # the other program lets go of the port
        r.line.make_call(2, 8, "5551234", 0, DATA)
        r.run()
        assert r.port.commands == [*INIT, "ATX4DT5551234"]
        assert r.ev.take()[:2] == [
            ("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0),
            ("reply", 2, 0),
        ]
    finally:
        r.close()


def test_an_owner_opening_a_line_whose_port_is_held_closes_it() -> None:
    r = Rig(open_error=True)
    try:
        assert r.line.open() == 0
        r.line.set_default_media_detection(0)  # a monitor first: the line stays open
        r.run()
        assert r.ev.take() == []
        r.line.set_default_media_detection(C.LINEMEDIAMODE_DATAMODEM)  # then an owner
        r.run()
        assert r.ev.take() == [("line_closed",)]
    finally:
        r.close()


def test_open_of_a_missing_path_is_resourceunavail() -> None:
    line = ModemLine(LineConfig(name="M", port="/dev/does-not-exist-linelab"))
    assert line.open() == C.LINEERR_RESOURCEUNAVAIL


def test_close_call_while_connected_hangs_up_silently(rig: Rig) -> None:
    rig.open()
    rig.connect()
    rig.line.close_call(7)
    rig.port.data_mode = False
    rig.run(2.0)
    assert "ATH" in rig.port.commands
    assert rig.ev.take() == []  # TSPI_lineCloseCall: nothing more about that call


def test_partial_dial_then_linedial(rig: Rig) -> None:
    rig.open()
    rig.make_call(dest="9;")
    assert rig.port.commands == ["ATX4DT9;"]
    rig.port.inject("\r\nOK\r\n")
    rig.run(0.1)
    assert rig.ev.take() == [("reply", 1, 0), ("state", 7, "LINECALLSTATE_DIALING", 0)]
    rig.line.dial(2, 7, "5551234", 0)
    rig.run(0.1)
    assert rig.port.commands[-1] == "ATDT5551234"
    assert rig.ev.take() == [
        ("reply", 2, 0),
        ("state", 7, "LINECALLSTATE_DIALING", 0),
        ("state", 7, "LINECALLSTATE_PROCEEDING", 0),
    ]


def test_get_id_classes(rig: Rig) -> None:
    assert ident(rig.line, "comm", None) == "M"
    assert ident(rig.line, "comm/datamodem/portname", None) == "fake://m"
    assert ident(rig.line, "comm/datamodem", None) == (None, "fake://m")
    assert rig.line.get_id("wave/in", None) == C.LINEERR_INVALDEVICECLASS


def test_a_port_without_a_descriptor_is_read_by_a_thread() -> None:
    """pyserial's loop:// (like rfc2217://) has no fileno(): a reader thread feeds the
    loop. A real-time loop, with a deadline on the wait."""
    from tapi.providers.serialport import ThreadedPortDriver, open_driver

    loop = asyncio.new_event_loop()
    try:
        got: asyncio.Future[bytes] = loop.create_future()
        buffer = bytearray()

        def on_data(data: bytes) -> None:
            buffer.extend(data)
            if len(buffer) >= 4 and not got.done():
                got.set_result(bytes(buffer))

        driver = open_driver("loop://", loop, on_data, lambda reason: None)
        assert isinstance(driver, ThreadedPortDriver)
        driver.start()
        driver.write(b"ATZ\r")
        assert loop.run_until_complete(asyncio.wait_for(got, 5.0)) == b"ATZ\r"
        driver.close()
        assert driver.closed
    finally:
        loop.close()


def test_drop_without_dtr_uses_the_escape_sequence(rig: Rig) -> None:
    rig.open()
    rig.connect()
    rig.port.has_dtr = False  # a port with no DTR line (socket://, a 3-wire cable)
    rig.line.drop(2, 7, None)
    rig.run(0.9)
    assert not rig.port.raw.endswith(b"+++")  # 1 s of silence first
    rig.run(0.2)
    assert rig.port.raw.endswith(b"+++") and rig.port.dtr == [True]
    rig.port.data_mode = False
    rig.port.inject("\r\nOK\r\n")
    rig.run(0.5)
    assert "ATH" in rig.port.commands
    assert rig.ev.take() == [("reply", 2, 0), ("state", 7, "LINECALLSTATE_IDLE", 0)]


def test_lineaccept_and_a_drop_while_offering(rig: Rig) -> None:
    rig.open()
    rig.port.inject("\r\nRING\r\n")
    rig.run(0.1)
    rig.ev.take()
    rig.line.accept(3, 101, None)
    rig.run(0.1)
    assert rig.ev.take() == [("reply", 3, 0), ("state", 101, "LINECALLSTATE_ACCEPTED", 0)]
    rig.line.drop(4, 101, None)
    rig.run(0.5)
    assert rig.port.commands[0] == "ATH"
    assert rig.ev.take() == [("reply", 4, 0), ("state", 101, "LINECALLSTATE_IDLE", 0)]
    rig.port.inject("\r\nRING\r\n")  # the same caller, still ringing: not a new call
    rig.run(6.0)
    rig.port.inject("\r\nRING\r\n")
    rig.run(0.1)
    assert rig.ev.take() == []


def test_provider_hotplug_removes_and_recreates_devices(tmp_path: Path) -> None:
    """Configured paths are watched: one that goes is removed (after a forced close of
    its open line), one that comes back is a new device. A path missing at start-up is
    listed and only created anew after it has gone once."""
    from tapi.providers.modem import ModemProvider

    here, later = tmp_path / "here", tmp_path / "later"
    here.touch()
    rig = Rig()  # for its loop, fake port factory and recorder
    try:
        configs = [
            LineConfig(name="here", port=str(here)),
            LineConfig(name="later", port=str(later)),
        ]
        provider = ModemProvider(configs, time=rig.vt, driver_factory=rig.factory)
        lines = provider.lines()
        assert [ln.caps().line_name for ln in lines] == ["here", "later"]
        for line in lines:
            line.attach(rig.ev, lambda: rig.loop)
        assert lines[0].open() == 0
        assert lines[1].open() == C.LINEERR_RESOURCEUNAVAIL
        rig.run()
        assert rig.ev.take() == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0)]  # "here"
        later.touch()  # appears: it was listed already, nothing to announce
        rig.run()
        assert rig.ev.take() == []
        here.unlink()
        rig.run()
        assert rig.ev.take() == [("line_closed",), ("removed",)]
        assert rig.port.closed
        here.touch()
        rig.run()
        assert rig.ev.take() == [("created",)]
        assert [ln.caps().line_name for ln in provider.lines()] == ["here", "later", "here"]
        provider.shutdown()
        rig.run()
    finally:
        rig.close()


def test_data_port_write_counts_only_what_it_took() -> None:
    # Regression: with room to spare, write() returned the room, not the bytes taken,
    # so a caller's count ran past the end of its data.
    from linelab.vtime import RealTime
    from tapi.providers.dataport import TX_LIMIT, DataPort

    port = DataPort("test", RealTime(), lambda: None)
    port.write_timeout = 0
    assert port.write(b"abc") == 3
    assert port.write(b"x" * TX_LIMIT) == TX_LIMIT - 3  # full now: takes what fits
    assert port.write(b"more") == 0
    port.close()


def test_by_default_the_set_up_after_the_reset_is_one_command_line() -> None:
    r = Rig(LineConfig(name="M", port="fake://m", init="M0L0"))
    try:
        assert r.line.open() == 0
        r.run()
        assert r.port.commands == ["ATZ", "ATE0V1&C1&D2S7=60S0=0+VCID=1", "ATM0L0"]
        assert r.ev.take() == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0)]
    finally:
        r.close()


def test_a_modem_that_refuses_the_joined_line_is_set_up_one_command_at_a_time() -> None:
    r = Rig(LineConfig(name="M", port="fake://m"))
    r.replies["ATE0V1&C1&D2S7=60S0=0+VCID=1"] = "ERROR"
    r.replies["AT+VCID=1"] = "ERROR"  # no caller ID on this modem: fine
    try:
        assert r.line.open() == 0
        r.line.set_default_media_detection(C.LINEMEDIAMODE_DATAMODEM)
        r.run()
        assert r.port.commands == ["ATZ", "ATE0V1&C1&D2S7=60S0=0+VCID=1", *INIT[1:]]
        assert r.ev.take() == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0)]
        assert r.line.errors == []
        r.port.commands.clear()
        r.make_call()  # after the call the modem is set up again, one command at a time
        r.port.inject("\r\nNO CARRIER\r\n")
        r.run()
        assert r.line.drop(2, 7, None) == 0
        r.run(5)
        assert r.port.commands[-5:] == INIT
    finally:
        r.close()


def _closed_and_reopened(r: Rig) -> None:
    """The line opened, initialised, closed, and opened again at the same moment."""
    r.open()
    r.line.close()
    assert r.line.open() == 0
    r.line.set_default_media_detection(C.LINEMEDIAMODE_DATAMODEM)
    r.ev.take()


def test_a_first_open_initialises_at_once() -> None:
    r = Rig()
    try:
        assert r.line.open() == 0
        r.run(PORT_SETTLE / 10)
        assert r.port.commands == INIT
    finally:
        r.close()


def test_a_reopened_port_settles_before_the_first_command_and_drops_what_came() -> None:
    r = Rig()
    try:
        _closed_and_reopened(r)
        assert r.line.make_call(1, 7, "5551234", 0, DATA) == 0  # waits for the init
        r.run(PORT_SETTLE / 2)
        assert len(r.drivers) == 2 and r.drivers[0].closed
        assert r.port.started and r.port.dtr == [True]
        assert r.port.commands == []  # settling: not a byte yet
        r.port.inject("\r\nOK\r\n")  # the last session's answer, late
        r.run(PORT_SETTLE / 4)
        assert r.port.commands == []
        assert ("rx dropped", b"\r\nOK\r\n") in r.line.transcript
        r.run(PORT_SETTLE)
        assert r.port.discards == 1  # and whatever the port still held
        # The stale OK was not taken for the ATZ's: the init ran command by command,
        # then the call's dial.
        assert r.port.commands == [*INIT, "ATX4DT5551234"]
        assert r.ev.take()[:2] == [("devstate", C.LINEDEVSTATE_INSERVICE, 0, 0), ("reply", 1, 0)]
    finally:
        r.close()


def test_a_close_while_the_port_settles_writes_nothing() -> None:
    r = Rig()
    try:
        _closed_and_reopened(r)
        r.run(PORT_SETTLE / 2)
        r.line.close()
        r.run(1)
        assert r.port.closed and r.port.dtr == [True, False]
        assert r.port.raw == b""
        assert r.ev.take() == [] and r.line.errors == []
    finally:
        r.close()


def _hung_up(rig: Rig) -> None:
    """A connected call dropped (the modem's ATH answered): the line is idle again."""
    rig.connect()
    rig.port.inject("\r\nNO CARRIER\r\n")  # the far end hung up: ATH is all a drop needs
    rig.port.data_mode = False
    rig.run(REINIT_DELAY / 4)
    rig.ev.take()
    assert rig.line.drop(2, 7, None) == 0
    rig.run(REINIT_DELAY / 4)
    assert rig.ev.take() == [("reply", 2, 0), ("state", 7, "LINECALLSTATE_IDLE", 0)]
    rig.port.commands.clear()


def test_the_modem_is_initialised_again_reinit_delay_after_a_call(rig: Rig) -> None:
    rig.open()
    _hung_up(rig)
    rig.run(REINIT_DELAY / 2)
    assert rig.port.commands == []  # not yet
    rig.run(REINIT_DELAY)
    assert rig.port.commands == INIT


def test_a_close_right_after_a_call_releases_the_port_with_nothing_on_the_wire(
    rig: Rig,
) -> None:
    """lineDrop, lineDeallocateCall, lineClose: no re-init starts, so no command is
    left unanswered when the port goes."""
    rig.open()
    _hung_up(rig)
    rig.line.close()
    rig.run(1)
    assert rig.port.closed and rig.port.commands == []
    assert rig.line.errors == []


def test_a_call_right_after_a_call_initialises_first(rig: Rig) -> None:
    rig.open()
    _hung_up(rig)
    rig.make_call(rid=3, htCall=8)  # within REINIT_DELAY: the init starts at once
    assert rig.port.commands == [*INIT, "ATX4DT5551234"]
    assert rig.ev.take() == [
        ("reply", 3, 0),
        ("state", 8, "LINECALLSTATE_DIALING", 0),
        ("state", 8, "LINECALLSTATE_PROCEEDING", 0),
    ]


def test_a_ring_answered_before_the_re_init_is_not_cut_off_by_it(rig: Rig) -> None:
    rig.open()
    _hung_up(rig)
    rig.port.inject("\r\nRING\r\n")
    rig.run(REINIT_DELAY / 4)
    assert rig.ev.take()[0] == ("new_call", 101, INCOMING_MEDIA)
    assert rig.line.answer(4, 101, None) == 0
    rig.run(REINIT_DELAY * 2)
    assert rig.port.commands == ["ATA"]  # no ATZ in the middle of the answer
    rig.port.inject("\r\nCONNECT 33600\r\n")
    rig.run()
    assert ("state", 101, "LINECALLSTATE_CONNECTED", C.LINECONNECTEDMODE_ACTIVE) in rig.ev.take()


def test_a_pass_that_does_not_move_the_deadline_keeps_the_timer(rig: Rig) -> None:
    rig.open()
    rig.make_call()
    timer = rig.line._timer
    assert timer is not None and not timer.cancelled()
    rig.port.inject("\r\nCARRIER 28800\r\n")  # progress: read, nothing changes
    rig.run(0.1)
    assert rig.line._timer is timer and not timer.cancelled()
    rig.port.inject("\r\nBUSY\r\n")  # the result: the dial's time-out goes
    rig.run(0.1)
    assert timer.cancelled()
