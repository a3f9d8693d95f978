"""The TAPI stack driving virtual modems over real ptys, on virtual time.

One `VirtualTime`; one event loop from it, run in a service thread, hosts the emulator
(`ModemHost` with modems A = 1001 and B = 1002, each on a pty behind a symlink, plus
scripted far ends on the exchange) and the stack's modem provider. The test thread is
an application: it calls the flat API on a `tapi.Stack(time=vt, loop=loop)` and waits
in lineGetMessage, which is a linelab wait, so rings, S7 and hang-up timers pass in
virtual time while the bytes go through real ptys.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.network.subscriberline import CallerId
from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort
from linelab.vtime import VirtualTime
from tapi import constants as C
from tapi.config import LineConfig
from tapi.providers.dataport import DataPort
from tapi.providers.modem import PORT_SETTLE, REINIT_DELAY, ModemLine, provider_for
from tapi.stack import Stack
from tapi.structs import LINECALLPARAMS, LINEINITIALIZEEXPARAMS, LINEMESSAGE

T = TypeVar("T")
V22 = C.TAPI_VERSION2_2
OWNER = C.LINECALLPRIVILEGE_OWNER
MONITOR = C.LINECALLPRIVILEGE_MONITOR
DATAMODEM = C.LINEMEDIAMODE_DATAMODEM
LINE_A, LINE_B = 0, 1
BUSY, NOANSWER, ANSWER, HANGUP = "5550001", "5550002", "5550003", "5550004"

Msg = tuple[Any, ...]

# Real time a loop listens for bytes in flight through a pty before virtual time may
# jump. Linux hands pty bytes over through deferred kernel work, which takes longer
# than vtime's default 2 ms on a loaded machine (the suite runs on 2 busy cores).
GRACE = 0.02
UNTIL_STEP = 0.01  # virtual seconds between two looks of Lab.until


def short(m: LINEMESSAGE) -> Msg:
    """(message, hDevice, dwParam1, dwParam2, dwParam3), call states by name."""
    name = C.message_name(m.dwMessageID).removeprefix("LINE_")
    p1: Any = m.dwParam1
    if m.dwMessageID == C.LINE_CALLSTATE:
        p1 = C.callstate_name(p1).removeprefix("LINECALLSTATE_")
    return (name, m.hDevice, p1, m.dwParam2, m.dwParam3)


class Lab:
    """The emulator and the stack on one virtual-time loop (see module doc)."""

    def __init__(self, tmp: Path, *, hotplug: bool = False) -> None:
        self.vt = VirtualTime(grace=GRACE)
        self.loop = self.vt.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="lab-loop", daemon=True)
        self._thread.start()
        self.host = self.call(lambda: ModemHost(self.loop))
        self.paths = {name: tmp / name for name in ("A", "B")}
        self.ptys = {
            name: self.call(lambda n=name: PtyPort(self.host.add_modem(n), self.paths[n]))
            for name in ("A", "B")
        }
        self.call(self.host.exchange.set_far, BUSY, "busy")
        self.call(self.host.exchange.set_far, NOANSWER, "noanswer")
        self.call(self.host.exchange.set_far, ANSWER, "answer,echo")
        self.call(self.host.exchange.set_far, HANGUP, "answer,hangup=10s")
        configs = [LineConfig(name=f"Modem {n}", port=str(self.paths[n])) for n in ("A", "B")]
        if hotplug:
            provider = provider_for(configs, time=self.vt)
            self.lines = [line for line in provider.lines() if isinstance(line, ModemLine)]
            self.stack = Stack([provider], time=self.vt, loop=self.loop)
        else:  # the bare lines, without the provider's watch on their paths
            self.lines = [ModemLine(c, time=self.vt) for c in configs]
            self.stack = Stack(lines=self.lines, time=self.vt, loop=self.loop)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the loop thread and return its result."""
        return ModemHost.call_on(self.loop, fn, *args)

    def engine_state(self, name: str) -> str:
        return self.call(lambda: self.host.modem(name).engine.state)

    def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Let virtual time pass, a little at a time, until `condition()` holds (at most
        `timeout` virtual seconds); whether it did. A wait on a condition, not a fixed
        virtual sleep: it returns as soon as the condition holds."""
        deadline = self.vt.now() + timeout
        while not condition():
            if self.vt.now() >= deadline:
                return False
            self.vt.sleep(UNTIL_STEP)
        return True

    def close(self) -> None:
        self.stack.close()
        for pty in self.ptys.values():
            self.call(pty.close)
        self.host.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        for line in self.lines:
            assert line.errors == [] or all(_port_went(e) for e in line.errors)
        # The same faults reached the stack; anything else stays for the fixture to report.
        errors = self.stack.provider_errors
        errors[:] = [e for e in errors if not _port_went(e)]


def _port_went(error: str) -> bool:
    """A fault a test that closes or removes the pty expects."""
    return "gone" in error or "end of file" in error or "removed" in error


class App:
    """One HLINEAPP with the event option, used from the test thread."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.stack = lab.stack
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, n, _v, _p = self.stack.lineInitializeEx(None, None, name, V22, params)
        assert rc == 0 and h is not None and n == 2
        self.h: int = h

    def open(self, device: int, privileges: int = OWNER, media: int = DATAMODEM) -> int:
        rc, hLine = self.stack.lineOpen(self.h, device, V22, 0, 0, privileges, media)
        assert rc == 0 and hLine is not None, C.result_name(rc)
        rc = self.stack.lineSetStatusMessages(hLine, C.LINEDEVSTATE_RINGING, 0)
        assert rc == 0
        return hLine

    def until(self, name: str, p1: Any = None, timeout: float = 120.0) -> list[Msg]:
        """Messages up to and including the first `name` (with dwParam1 `p1`)."""
        got: list[Msg] = []
        deadline = self.lab.vt.now() + timeout
        while True:
            left = deadline - self.lab.vt.now()
            assert left > 0, f"no {name} {p1 or ''} within {timeout} s; got {got}"
            rc, m = self.stack.lineGetMessage(self.h, int(left * 1000) + 1)
            assert rc == 0 and m is not None, f"no {name} {p1 or ''}: {got}"
            got.append(short(m))
            if got[-1][0] == name and (p1 is None or got[-1][2] == p1):
                return got

    def collect(self, seconds: float = 1.0) -> list[Msg]:
        """Every message that arrives within `seconds` of virtual time."""
        got: list[Msg] = []
        deadline = self.lab.vt.now() + seconds
        while (left := deadline - self.lab.vt.now()) > 0:
            rc, m = self.stack.lineGetMessage(self.h, max(1, int(left * 1000)))
            if rc != 0:
                break
            assert m is not None
            got.append(short(m))
        return got

    def data_port(self, hCall: int) -> DataPort:
        rc, vs = self.stack.lineGetID(
            0, 0, hCall, C.LINECALLSELECT_CALL, lpszDeviceClass="comm/datamodem"
        )
        assert rc == 0 and vs is not None
        assert isinstance(vs.hComm, DataPort)
        return vs.hComm


def data_params() -> LINECALLPARAMS:
    return LINECALLPARAMS(dwMediaMode=DATAMODEM, dwBearerMode=C.LINEBEARERMODE_VOICE)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def make_call(app: App, hLine: int, dest: str) -> tuple[int, int]:
    rid, hCall = app.stack.lineMakeCall(hLine, dest, 0, data_params())
    assert rid > 0 and hCall is not None, C.result_name(rid)
    return rid, hCall


def test_call_between_two_modems_with_data_phase_and_local_drop(lab: Lab) -> None:
    a, b = App(lab, "appA"), App(lab, "appB")
    hA, hB = a.open(LINE_A), b.open(LINE_B)
    rid, hCallA = make_call(a, hA, "1002")
    assert a.until("CALLSTATE", "PROCEEDING") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCallA, "DIALING", 0, 0),
        ("CALLSTATE", hCallA, "PROCEEDING", 0, 0),
    ]
    got = b.until("LINEDEVSTATE")
    hCallB = got[0][3]
    assert got == [
        ("APPNEWCALL", hB, 0, hCallB, OWNER),
        ("CALLSTATE", hCallB, "OFFERING", C.LINEOFFERINGMODE_ACTIVE, OWNER),
        ("LINEDEVSTATE", hB, C.LINEDEVSTATE_RINGING, 1, 0),
    ]
    # Caller ID (1001, "A") arrives between the first and the second ring.
    assert b.until("LINEDEVSTATE") == [
        ("CALLINFO", hCallB, C.LINECALLINFOSTATE_CALLERID, 0, 0),
        ("LINEDEVSTATE", hB, C.LINEDEVSTATE_RINGING, 1, 1),
    ]
    rc, info = lab.stack.lineGetCallInfo(hCallB)
    assert rc == 0 and info is not None
    assert (info.CallerID, info.CallerIDName) == ("1001", "A")
    assert info.dwCallerIDFlags == C.LINECALLPARTYID_ADDRESS | C.LINECALLPARTYID_NAME
    rid_b = lab.stack.lineAnswer(hCallB)
    assert rid_b > 0
    assert b.until("CALLSTATE", "CONNECTED") == [
        ("REPLY", 0, rid_b, 0, 0),
        ("CALLSTATE", hCallB, "CONNECTED", C.LINECONNECTEDMODE_ACTIVE, 0),
    ]
    assert a.until("CALLSTATE", "CONNECTED") == [
        ("CALLSTATE", hCallA, "CONNECTED", C.LINECONNECTEDMODE_ACTIVE, 0)
    ]
    rc, info = lab.stack.lineGetCallInfo(hCallA)
    assert rc == 0 and info is not None and info.dwRate > 0
    # The data phase: each side's relayed port carries bytes to the other, 8-bit clean.
    port_a, port_b = a.data_port(hCallA), b.data_port(hCallB)
    port_a.timeout = port_b.timeout = 30.0  # virtual seconds
    payload = bytes(range(256)) + b"+++ATH\r\nNO CARRIER" * 3
    port_a.write(payload)
    assert port_b.read(len(payload)) == payload
    port_b.write(b"pong")
    assert port_a.read(4) == b"pong"
    assert port_a.cd and port_b.cd
    # A local drop in data mode: DTR low (B0 on the pty) for 0.5 s, then ATH.
    start = lab.vt.now()
    rid_drop = lab.stack.lineDrop(hCallA)
    assert a.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid_drop, 0, 0),
        ("CALLSTATE", hCallA, "IDLE", 0, 0),
    ]
    assert 0.5 <= lab.vt.now() - start < 5
    assert not port_a.cd
    # The far modem sees the carrier go: NO CARRIER reaches app B through its provider.
    assert b.until("CALLSTATE", "DISCONNECTED") == [
        ("CALLSTATE", hCallB, "DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL, 0)
    ]
    assert not port_b.cd and port_b.read(10) == b""
    rid_drop_b = lab.stack.lineDrop(hCallB)
    assert b.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid_drop_b, 0, 0),
        ("CALLSTATE", hCallB, "IDLE", 0, 0),
    ]
    port_a.close()
    port_b.close()
    assert lab.stack.lineDeallocateCall(hCallA) == 0
    assert lab.stack.lineDeallocateCall(hCallB) == 0
    assert a.collect(10) == [] and b.collect(1) == []
    assert lab.engine_state("A") == lab.engine_state("B") == "command"


def test_data_phase_back_pressure_loses_nothing(lab: Lab) -> None:
    """B's app does not read while A sends: B's provider stops reading its modem at
    RX_LIMIT, the emulator holds the rest back, A's writes stop being accepted; then
    everything arrives, in order."""
    from tapi.providers.dataport import RX_LIMIT

    a, b = App(lab, "appA"), App(lab, "appB")
    hA, _hB = a.open(LINE_A), b.open(LINE_B)
    _rid, hCallA = make_call(a, hA, "1002")
    hCallB = b.until("CALLSTATE", "OFFERING")[0][3]
    assert lab.stack.lineAnswer(hCallB) > 0
    b.until("CALLSTATE", "CONNECTED")
    a.until("CALLSTATE", "CONNECTED")
    port_a, port_b = a.data_port(hCallA), b.data_port(hCallB)
    # Far more than every buffer on the way can hold (data port, provider, two engines
    # at 64 KiB each, the ptys), so that the writer must be held back.
    payload = bytes(i * 7 % 251 for i in range(1_000_000))
    port_a.write_timeout = 0  # take what fits, never block
    sent = 0
    while True:
        n = port_a.write(payload[sent:])
        sent += n
        if n == 0:
            # Let everything that can move, move: until B's reader buffer is full.
            lab.until(lambda: port_b.in_waiting >= RX_LIMIT, 30.0)
            if port_a.write(payload[sent : sent + 1]) == 0:
                break
            sent += 1
    assert sent < len(payload), sent  # the writer was held back
    assert RX_LIMIT <= port_b.in_waiting < RX_LIMIT + 8192  # the reader's buffer is bounded
    received = bytearray()
    port_b.timeout = 5.0
    while len(received) < len(payload):
        if sent < len(payload):
            sent += port_a.write(payload[sent:])
        chunk = port_b.read(65536)
        assert chunk, f"stalled after {len(received)} bytes"
        received += chunk
    assert bytes(received) == payload


@pytest.mark.parametrize(
    ("dest", "unassigned", "mode"),
    [
        (BUSY, "reorder", C.LINEDISCONNECTMODE_BUSY),
        ("5559999", "reorder", C.LINEDISCONNECTMODE_BUSY),
        ("5559999", "silence", C.LINEDISCONNECTMODE_UNAVAIL),
    ],
)
def test_dial_failure_then_drop(lab: Lab, dest: str, unassigned: str, mode: int) -> None:
    lab.call(lab.host.exchange.set_unassigned, unassigned)
    a = App(lab, "appA")
    hA = a.open(LINE_A)
    rid, hCall = make_call(a, hA, dest)
    assert a.until("CALLSTATE", "DISCONNECTED") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCall, "DIALING", 0, 0),
        ("CALLSTATE", hCall, "PROCEEDING", 0, 0),
        ("CALLSTATE", hCall, "DISCONNECTED", mode, 0),
    ]
    rid_drop = lab.stack.lineDrop(hCall)
    assert a.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid_drop, 0, 0),
        ("CALLSTATE", hCall, "IDLE", 0, 0),
    ]
    assert lab.stack.lineDeallocateCall(hCall) == 0
    assert a.collect(5) == []


def test_no_dialtone(lab: Lab) -> None:
    lab.call(lab.host.exchange.set_dialtone, "1001", False)
    a = App(lab, "appA")
    hA = a.open(LINE_A)
    rid, hCall = make_call(a, hA, ANSWER)
    got = a.until("CALLSTATE", "DISCONNECTED")
    assert got[0] == ("REPLY", 0, rid, 0, 0)
    assert got[-1] == ("CALLSTATE", hCall, "DISCONNECTED", C.LINEDISCONNECTMODE_NODIALTONE, 0)


def test_no_answer_s7_and_six_rings_take_milliseconds(lab: Lab) -> None:
    """A calls B, nobody answers: B rings ten times, S7 (60 s) ends the attempt, the
    rings stop and B's offered call goes IDLE, all in virtual time."""
    a, b = App(lab, "appA"), App(lab, "appB")
    hA, _hB = a.open(LINE_A), b.open(LINE_B)
    wall = time.monotonic()
    start = lab.vt.now()
    _rid, hCallA = make_call(a, hA, "1002")
    assert a.until("CALLSTATE", "DISCONNECTED")[-1] == (
        "CALLSTATE", hCallA, "DISCONNECTED", C.LINEDISCONNECTMODE_UNAVAIL, 0,
    )  # fmt: skip
    assert 60 <= lab.vt.now() - start < 66  # S7 = 60 s
    got = b.until("CALLSTATE", "IDLE")
    rings = [m[4] for m in got if m[0] == "LINEDEVSTATE"]
    assert rings == list(range(len(rings))) and len(rings) >= 6
    assert got[-1][2] == "IDLE"
    assert time.monotonic() - wall < 10  # a bound on wall time, not a synchronisation
    lab.stack.lineDrop(hCallA)
    assert a.until("CALLSTATE", "IDLE")[-1][2] == "IDLE"


def test_remote_hangup_is_disconnected_normal(lab: Lab) -> None:
    a = App(lab, "appA")
    hA = a.open(LINE_A)
    _rid, hCall = make_call(a, hA, HANGUP)
    a.until("CALLSTATE", "CONNECTED")
    port = a.data_port(hCall)
    start = lab.vt.now()
    assert a.until("CALLSTATE", "DISCONNECTED") == [
        ("CALLSTATE", hCall, "DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL, 0)
    ]
    assert 10 <= lab.vt.now() - start <= 15  # hangup=10s after the answer
    assert not port.cd
    rid = lab.stack.lineDrop(hCall)
    assert a.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCall, "IDLE", 0, 0),
    ]
    assert lab.stack.lineDeallocateCall(hCall) == 0
    assert a.collect(5) == []


def offer_call(lab: Lab, then: str = "answer,echo") -> None:
    """A scripted caller (5551234, ALICE) rings modem B, once B's provider has had a
    virtual second to initialise the modem (a RING during the init is lost, as it
    would be on a real modem)."""
    lab.vt.sleep(1.0)
    lab.call(lab.host.exchange.place_call, "1002", CallerId(number="5551234", name="ALICE"), then)


def owner_and_monitor(lab: Lab) -> tuple[App, App, int, int, int, int]:
    """Owner O and monitor M on line B, an incoming call answered by O and CONNECTED.
    Returns (O, M, hLineO, hLineM, hCallO, hCallM)."""
    o, m = App(lab, "owner"), App(lab, "monitor")
    hO = o.open(LINE_B, OWNER)
    hM = m.open(LINE_B, MONITOR, 0)
    offer_call(lab)
    got_o = o.until("LINEDEVSTATE")
    got_m = m.until("LINEDEVSTATE")
    hCallO, hCallM = got_o[0][3], got_m[0][3]
    # Caller ID comes between the first and the second ring.
    for app, h, hCall in ((o, hO, hCallO), (m, hM, hCallM)):
        assert app.until("LINEDEVSTATE") == [
            ("CALLINFO", hCall, C.LINECALLINFOSTATE_CALLERID, 0, 0),
            ("LINEDEVSTATE", h, C.LINEDEVSTATE_RINGING, 1, 1),
        ]
    assert got_o == [
        ("APPNEWCALL", hO, 0, hCallO, OWNER),
        ("CALLSTATE", hCallO, "OFFERING", C.LINEOFFERINGMODE_ACTIVE, OWNER),
        ("LINEDEVSTATE", hO, C.LINEDEVSTATE_RINGING, 1, 0),
    ]
    assert got_m == [
        ("APPNEWCALL", hM, 0, hCallM, MONITOR),
        ("CALLSTATE", hCallM, "OFFERING", C.LINEOFFERINGMODE_ACTIVE, MONITOR),
        ("LINEDEVSTATE", hM, C.LINEDEVSTATE_RINGING, 1, 0),
    ]
    rid = lab.stack.lineAnswer(hCallO)
    assert rid > 0
    assert o.until("CALLSTATE", "CONNECTED") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCallO, "CONNECTED", C.LINECONNECTEDMODE_ACTIVE, 0),
    ]
    assert m.until("CALLSTATE", "CONNECTED") == [
        ("CALLSTATE", hCallM, "CONNECTED", C.LINECONNECTEDMODE_ACTIVE, 0),
    ]
    for hCall in (hCallO, hCallM):
        rc, info = lab.stack.lineGetCallInfo(hCall)
        assert rc == 0 and info is not None
        assert (info.CallerID, info.CallerIDName) == ("5551234", "ALICE")
    return o, m, hO, hM, hCallO, hCallM


def test_owner_and_monitor_see_the_call_and_the_remote_hangup(lab: Lab) -> None:
    o, m = App(lab, "owner"), App(lab, "monitor")
    hO = o.open(LINE_B, OWNER)
    m.open(LINE_B, MONITOR, 0)
    offer_call(lab, "answer,hangup=5s")
    hCallO = o.until("CALLSTATE", "OFFERING")[0][3]
    hCallM = m.until("CALLSTATE", "OFFERING")[0][3]
    assert lab.stack.lineAnswer(hCallO) > 0
    o.until("CALLSTATE", "CONNECTED")
    m.until("CALLSTATE", "CONNECTED")
    # A monitor may not drop or answer.
    assert lab.stack.lineDrop(hCallM) == C.LINEERR_NOTOWNER
    assert o.until("CALLSTATE", "DISCONNECTED") == [
        ("CALLSTATE", hCallO, "DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL, 0)
    ]
    assert m.until("CALLSTATE", "DISCONNECTED") == [
        ("CALLSTATE", hCallM, "DISCONNECTED", C.LINEDISCONNECTMODE_NORMAL, 0)
    ]
    rid = lab.stack.lineDrop(hCallO)
    assert o.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCallO, "IDLE", 0, 0),
    ]
    assert m.until("CALLSTATE", "IDLE") == [("CALLSTATE", hCallM, "IDLE", 0, 0)]
    assert lab.stack.lineDeallocateCall(hCallM) == 0
    assert lab.stack.lineDeallocateCall(hCallO) == 0
    assert o.collect(10) == [] and m.collect(1) == []
    assert hO


@pytest.mark.parametrize("how", ["lineClose", "lineShutdown"])
def test_sole_owner_leaving_mid_call_drops_it_and_tells_the_monitor(lab: Lab, how: str) -> None:
    o, m, hO, _hM, hCallO, hCallM = owner_and_monitor(lab)
    if how == "lineClose":
        assert lab.stack.lineClose(hO) == 0
    else:
        assert lab.stack.lineShutdown(o.h) == 0
    assert m.until("CALLSTATE", "IDLE") == [
        ("CALLINFO", hCallM, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0),
        ("CALLSTATE", hCallM, "IDLE", 0, 0),
    ]
    assert lab.engine_state("B") == "command"  # the modem really hung up
    assert lab.stack.lineGetCallInfo(hCallO)[0] == C.LINEERR_INVALCALLHANDLE
    if how == "lineClose":
        assert o.collect(5) == []
    else:
        assert lab.stack.lineGetMessage(o.h, 0)[0] == C.LINEERR_INVALAPPHANDLE
    assert lab.stack.lineDeallocateCall(hCallM) == 0
    assert m.collect(5) == []


def test_deallocate_rules_mid_call(lab: Lab) -> None:
    o, m, _hO, _hM, hCallO, hCallM = owner_and_monitor(lab)
    # The sole owner cannot let go of an active call (6.8); the monitor can.
    assert lab.stack.lineDeallocateCall(hCallO) == C.LINEERR_INVALCALLSTATE
    assert lab.stack.lineDeallocateCall(hCallM) == 0
    assert lab.stack.lineDeallocateCall(hCallM) == C.LINEERR_INVALCALLHANDLE
    assert o.until("CALLINFO") == [("CALLINFO", hCallO, C.LINECALLINFOSTATE_NUMMONITORS, 0, 0)]
    assert m.collect(1) == []
    rid = lab.stack.lineDrop(hCallO)
    assert o.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCallO, "IDLE", 0, 0),
    ]
    assert lab.stack.lineDeallocateCall(hCallO) == 0
    assert lab.stack.lineGetCallStatus(hCallO)[0] == C.LINEERR_INVALCALLHANDLE
    assert o.collect(10) == [] and m.collect(1) == []
    assert lab.engine_state("B") == "command"


def test_deallocate_of_an_idle_call_with_a_pending_drop_reply(lab: Lab) -> None:
    """Desktop rule (6.1): a request that returned an ID still gets its LINE_REPLY
    after lineDeallocateCall, but no message for the deallocated handle stays queued."""
    o, m, _hO, _hM, hCallO, hCallM = owner_and_monitor(lab)
    assert lab.stack.lineDeallocateCall(hCallM) == 0
    o.until("CALLINFO")
    rid = lab.stack.lineDrop(hCallO)
    assert o.until("CALLSTATE", "IDLE") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCallO, "IDLE", 0, 0),
    ]
    assert lab.stack.lineDeallocateCall(hCallO) == 0
    assert o.collect(5) == [] and m.collect(1) == []


def test_lineclose_suppresses_the_reply_of_a_pending_drop(lab: Lab) -> None:
    o, m, hO, _hM, hCallO, hCallM = owner_and_monitor(lab)
    rid = lab.stack.lineDrop(hCallO)
    assert rid > 0
    assert lab.stack.lineClose(hO) == 0
    got = m.until("CALLSTATE", "IDLE")
    assert got[-1] == ("CALLSTATE", hCallM, "IDLE", 0, 0)
    assert ("CALLINFO", hCallM, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0) in got
    assert o.collect(5) == []  # no LINE_REPLY for the drop, nothing for the closed line
    assert lab.stack.lineDeallocateCall(hCallM) == 0
    assert m.collect(1) == []
    assert lab.engine_state("B") == "command"


def test_lineshutdown_while_offering_drops_the_call_and_ignores_its_rings(lab: Lab) -> None:
    o, m = App(lab, "owner"), App(lab, "monitor")
    o.open(LINE_B, OWNER)
    m.open(LINE_B, MONITOR, 0)
    offer_call(lab)
    hCallO = o.until("CALLSTATE", "OFFERING")[0][3]
    hCallM = m.until("CALLSTATE", "OFFERING")[0][3]
    m.until("LINEDEVSTATE")
    assert lab.stack.lineShutdown(o.h) == 0
    assert lab.stack.lineGetCallInfo(hCallO)[0] == C.LINEERR_INVALCALLHANDLE
    assert m.until("CALLSTATE", "IDLE") == [
        ("CALLINFO", hCallM, C.LINECALLINFOSTATE_NUMOWNERDECR, 0, 0),
        ("CALLSTATE", hCallM, "IDLE", 0, 0),
    ]
    # An analogue modem cannot reject a call: the caller goes on ringing, and those
    # rings are not a new call.
    assert m.collect(30) == []
    assert lab.stack.lineDeallocateCall(hCallM) == 0


def test_assisted_telephony_request_makes_a_call(lab: Lab) -> None:
    a = App(lab, "dialer")
    hA = a.open(LINE_A)
    assert lab.stack.lineRegisterRequestRecipient(a.h, 7, C.LINEREQUESTMODE_MAKECALL, 1) == 0
    assert lab.stack.tapiRequestMakeCall(ANSWER, "phonebook", "Bob", "hello") == 0
    assert a.until("REQUEST") == [("REQUEST", 0, C.LINEREQUESTMODE_MAKECALL, 0, 0)]
    rc, req = lab.stack.lineGetRequest(a.h, C.LINEREQUESTMODE_MAKECALL)
    assert rc == 0 and req is not None
    assert (req.szDestAddress, req.szAppName, req.szCalledParty) == (ANSWER, "phonebook", "Bob")
    assert lab.stack.lineGetRequest(a.h, C.LINEREQUESTMODE_MAKECALL)[0] == C.LINEERR_NOREQUEST
    rid, hCall = make_call(a, hA, req.szDestAddress)
    assert a.until("CALLSTATE", "CONNECTED") == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCall, "DIALING", 0, 0),
        ("CALLSTATE", hCall, "PROCEEDING", 0, 0),
        ("CALLSTATE", hCall, "CONNECTED", C.LINECONNECTEDMODE_ACTIVE, 0),
    ]
    port = a.data_port(hCall)
    port.timeout = 10.0
    port.write(b"echo me")
    assert port.read(7) == b"echo me"  # the far end echoes
    rid = lab.stack.lineDrop(hCall)
    assert a.until("CALLSTATE", "IDLE")[-2:] == [
        ("REPLY", 0, rid, 0, 0),
        ("CALLSTATE", hCall, "IDLE", 0, 0),
    ]
    assert lab.stack.lineShutdown(a.h) == 0
    assert lab.stack.tapiRequestMakeCall(ANSWER, "x", "y", "z") == C.TAPIERR_NOREQUESTRECIPIENT


def test_port_vanishing_is_line_close_for_every_app(lab: Lab) -> None:
    """Without the provider's hot-plug watch: the line closes, the device stays."""
    o, m = App(lab, "owner"), App(lab, "monitor")
    hO = o.open(LINE_A, OWNER)
    hM = m.open(LINE_A, MONITOR, 0)
    rid, hCall = make_call(o, hO, ANSWER)
    o.until("CALLSTATE", "CONNECTED")
    m.until("CALLSTATE", "CONNECTED")
    port = o.data_port(hCall)
    wall = time.monotonic()
    lab.call(lab.ptys["A"].close)  # the pty and its symlink disappear
    assert o.until("CLOSE") == [("CLOSE", hO, 0, 0, 0)]
    assert m.until("CLOSE") == [("CLOSE", hM, 0, 0, 0)]
    assert time.monotonic() - wall < 10
    assert not port.cd
    assert lab.stack.lineGetCallInfo(hCall)[0] == C.LINEERR_INVALCALLHANDLE
    assert lab.stack.lineClose(hO) == C.LINEERR_INVALLINEHANDLE
    assert o.collect(5) == [] and m.collect(1) == []
    # The port is gone, so the line cannot be opened again.
    rc, _h = lab.stack.lineOpen(o.h, LINE_A, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == C.LINEERR_RESOURCEUNAVAIL
    assert rid


def test_removing_a_vmodem_port_is_line_close(lab: Lab) -> None:
    """A vmodem:// modem removed from its host under an open line, mid-call: the port
    is dead, so the provider tells every app (rules.md §6.4): LINE_CLOSE, then the
    line's and the call's handles are stale. URL ports are not watched for hot-plug, so
    the device stays (a later lineOpen creates the modem anew)."""
    from emulator.transports.vmodem import set_default_host

    previous = set_default_host(lab.host, lab.vt)
    stack = Stack(
        [provider_for([LineConfig(name="V", port="vmodem://unplugged")], time=lab.vt)],
        time=lab.vt,
        loop=lab.loop,
    )
    try:
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, n, _v, _p = stack.lineInitializeEx(None, None, "owner", V22, params)
        assert rc == 0 and h is not None and n == 1
        rc, hLine = stack.lineOpen(h, 0, V22, 0, 0, OWNER, DATAMODEM)
        assert rc == 0 and hLine is not None
        rid, hCall = stack.lineMakeCall(hLine, ANSWER, 0, data_params())
        assert rid > 0 and hCall is not None
        got: list[Msg] = []
        while not got or got[-1][2] != "CONNECTED":
            rc, m = stack.lineGetMessage(h, 60_000)
            assert rc == 0 and m is not None, got
            got.append(short(m))
        lab.host.remove_modem("unplugged")  # as a USB modem pulled out
        while got[-1][0] != "CLOSE":
            rc, m = stack.lineGetMessage(h, 10_000)  # virtual ms: a deadline
            assert rc == 0 and m is not None, f"no LINE_CLOSE after the removal: {got}"
            got.append(short(m))
        assert got[-1] == ("CLOSE", hLine, 0, 0, 0)
        assert stack.lineGetCallInfo(hCall)[0] == C.LINEERR_INVALCALLHANDLE
        assert stack.lineClose(hLine) == C.LINEERR_INVALLINEHANDLE
        assert [e for e in stack.provider_errors if "the modem was removed" in e], (
            stack.provider_errors
        )
        stack.provider_errors.clear()  # the fault this test provoked
    finally:
        stack.close()
        set_default_host(previous)


@pytest.fixture
def hotplug_lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, hotplug=True)
    try:
        yield lab
    finally:
        lab.close()


def test_port_removed_then_back_is_line_close_remove_then_create(hotplug_lab: Lab) -> None:
    lab = hotplug_lab
    o, idle = App(lab, "owner"), App(lab, "bystander")
    hO = o.open(LINE_A, OWNER)
    rid, hCall = make_call(o, hO, ANSWER)
    o.until("CALLSTATE", "CONNECTED")
    lab.call(lab.ptys["A"].close)  # the pty and its symlink disappear
    assert o.until("REMOVE") == [("CLOSE", hO, 0, 0, 0), ("REMOVE", 0, LINE_A, 0, 0)]
    assert idle.until("REMOVE") == [("REMOVE", 0, LINE_A, 0, 0)]
    assert lab.stack.lineGetCallInfo(hCall)[0] == C.LINEERR_INVALCALLHANDLE
    rc, _h = lab.stack.lineOpen(o.h, LINE_A, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == C.LINEERR_NODEVICE
    assert o.collect(5) == [] and idle.collect(1) == []
    # The port comes back: a new device, announced to every app.
    lab.ptys["A"] = lab.call(lambda: PtyPort(lab.host.modem("A"), lab.paths["A"]))
    assert o.until("CREATE") == [("CREATE", 0, 2, 0, 0)]
    assert idle.until("CREATE") == [("CREATE", 0, 2, 0, 0)]
    rc, caps = lab.stack.lineGetDevCaps(o.h, 2, V22, 0)
    assert rc == 0 and caps is not None and caps.LineName == "Modem A"
    hO2 = o.open(2, OWNER)
    rid, hCall = make_call(o, hO2, ANSWER)
    assert o.until("CALLSTATE", "CONNECTED")[0] == ("REPLY", 0, rid, 0, 0)
    rid = lab.stack.lineDrop(hCall)
    assert o.until("CALLSTATE", "IDLE")[-1] == ("CALLSTATE", hCall, "IDLE", 0, 0)


# -- the port drivers and the default line ------------------------------------------------


def test_default_line_is_a_vmodem_that_calls_its_far_ends(lab: Lab) -> None:
    """`scenarios.default_lines` (the linelab.default_lines entry point) on the lab's
    host: a call over vmodem:// to the echoing far end, data, and a DTR hang-up."""
    from emulator.transports.vmodem import set_default_host
    from scenarios.default_lines import FAR_ENDS, LINE_NAME, PORT, default_lines
    from tapi.providers.modem import provider_for

    previous = set_default_host(lab.host, lab.vt)
    try:
        configs = default_lines()
        assert [(c.name, c.port) for c in configs] == [(LINE_NAME, PORT)]
        stack = Stack([provider_for(configs, time=lab.vt)], time=lab.vt, loop=lab.loop)
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, n, _v, _p = stack.lineInitializeEx(None, None, "default", V22, params)
        assert rc == 0 and n == 1 and h is not None
        rc, hLine = stack.lineOpen(h, 0, V22, 0, 0, OWNER, DATAMODEM)
        assert rc == 0 and hLine is not None
        echo = next(number for number, b in FAR_ENDS.items() if b == "answer,echo")
        rid, hCall = stack.lineMakeCall(hLine, echo, 0, data_params())
        assert rid > 0 and hCall is not None
        states: list[int] = []
        while not states or states[-1] != C.LINECALLSTATE_CONNECTED:
            rc, m = stack.lineGetMessage(h, 60_000)
            assert rc == 0 and m is not None
            if m.dwMessageID == C.LINE_CALLSTATE:
                states.append(m.dwParam1)
        assert states == [
            C.LINECALLSTATE_DIALING,
            C.LINECALLSTATE_PROCEEDING,
            C.LINECALLSTATE_CONNECTED,
        ]
        rc, vs = stack.lineGetID(
            0, 0, hCall, C.LINECALLSELECT_CALL, lpszDeviceClass="comm/datamodem"
        )
        assert rc == 0 and vs is not None and isinstance(vs.hComm, DataPort)
        port = vs.hComm
        port.timeout = 10.0
        port.write(b"\x00hello\xff")
        assert port.read(7) == b"\x00hello\xff"
        assert stack.lineDrop(hCall) > 0
        while True:
            rc, m = stack.lineGetMessage(h, 10_000)
            assert rc == 0 and m is not None
            if m.dwMessageID == C.LINE_CALLSTATE and m.dwParam1 == C.LINECALLSTATE_IDLE:
                break
        assert lab.engine_state(MODEM_DEFAULT) == "command"
        stack.close()
    finally:
        set_default_host(previous)


MODEM_DEFAULT = "linelab-default"


def test_pty_driver_lowers_dtr_with_b0_and_sees_its_path_removed(lab: Lab) -> None:
    """On a pty the DTR ioctl fails: the driver sets output speed B0 instead, which the
    emulator sees as DTR low. Removing the port's path is a vanished port."""
    from tapi.providers.serialport import FdPortDriver, open_driver

    gone: list[str] = []
    data: list[bytes] = []
    path = str(lab.paths["A"])
    driver = lab.call(lambda: open_driver(path, lab.loop, data.append, gone.append))
    try:
        assert isinstance(driver, FdPortDriver) and driver.is_pty
        lab.call(driver.start)

        def dtr() -> bool:
            return lab.call(lambda: lab.host.modem("A").dtr)

        assert lab.until(dtr)
        lab.call(driver.set_dtr, False)
        assert lab.until(lambda: not dtr())
        lab.call(driver.set_dtr, True)
        assert lab.until(dtr)
        lab.call(driver.write, b"ATI\r")
        assert lab.until(lambda: b"OK" in b"".join(data))
        lab.paths["A"].unlink()  # the symlink goes; the pty itself stays
        assert lab.until(lambda: bool(gone))
        assert gone == [f"{path} was removed"] and driver.closed
    finally:
        lab.call(driver.close)


def test_configured_stack_on_real_time_with_its_own_loop(tmp_path: Path) -> None:
    """The production shape: `tapi.config.default_stack()` from a lines file, the
    stack's own service loop on real time, a vmodem:// port on a real-time host."""
    from emulator.transports.vmodem import set_default_host
    from tapi.config import default_stack

    host = ModemHost.start_in_thread(name="test-host")
    previous = set_default_host(host)
    try:
        host.call(host.exchange.set_far, BUSY, "busy")
        config = tmp_path / "lines.yaml"
        config.write_text('spec: "1"\nlines:\n  - name: Test modem\n    port: vmodem://cfgtest\n')
        with default_stack(config) as stack:
            params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
            rc, h, n, _v, _p = stack.lineInitializeEx(None, None, "real", V22, params)
            assert rc == 0 and n == 1 and h is not None
            rc, caps = stack.lineGetDevCaps(h, 0, V22, 0)
            assert rc == 0 and caps is not None and caps.LineName == "Test modem"
            rc, hLine = stack.lineOpen(h, 0, V22, 0, 0, OWNER, DATAMODEM)
            assert rc == 0 and hLine is not None
            rid, hCall = stack.lineMakeCall(hLine, BUSY, 0, data_params())
            assert rid > 0 and hCall is not None
            got: list[Msg] = []
            while not got or got[-1][2] != "DISCONNECTED":
                rc, m = stack.lineGetMessage(h, 20_000)  # a deadline in real time
                assert rc == 0 and m is not None, got
                got.append(short(m))
            assert got[0] == ("REPLY", 0, rid, 0, 0)
            assert got[-1] == ("CALLSTATE", hCall, "DISCONNECTED", C.LINEDISCONNECTMODE_BUSY, 0)
    finally:
        set_default_host(previous)
        host.close()


def test_stack_close_mid_call_finishes_the_hang_up(tmp_path: Path) -> None:
    """Stack.close() drains provider work before it stops its own loop: the 500 ms B0
    DTR drop of the call that closing drops runs its course on the stack's clock, the
    emulator modem hangs up (back in command state, carrier gone) and the port is
    released. The emulator shares the stack's own service loop, so one virtual-time
    loop carries both and nothing runs after close() returns."""
    vt = VirtualTime(grace=GRACE)
    path = tmp_path / "A"
    line = ModemLine(LineConfig(name="Modem A", port=str(path)), time=vt)
    stack = Stack(lines=[line], time=vt)
    loop = stack.loop
    host = ModemHost.call_on(loop, lambda: ModemHost(loop))
    pty = ModemHost.call_on(loop, lambda: PtyPort(host.add_modem("A"), path))
    ModemHost.call_on(loop, host.exchange.set_far, ANSWER, "answer,echo")
    try:
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, _n, _v, _p = stack.lineInitializeEx(None, None, "closing", V22, params)
        assert rc == 0 and h is not None
        rc, hLine = stack.lineOpen(h, 0, V22, 0, 0, OWNER, DATAMODEM)
        assert rc == 0 and hLine is not None
        rid, hCall = stack.lineMakeCall(hLine, ANSWER, 0, data_params())
        assert rid > 0 and hCall is not None
        got: list[Msg] = []
        while not got or got[-1][2] != "CONNECTED":
            rc, m = stack.lineGetMessage(h, 120_000)
            assert rc == 0 and m is not None, got
            got.append(short(m))
        engine = host.modem("A").engine
        assert engine.state != "command"  # on line, in data mode
        start = vt.now()
        stack.close()  # mid-call: lineShutdown (drop), then the provider, then the loop
        assert vt.now() - start >= 0.5  # the DTR drop ran its course on the clock
        assert line.driver is None  # the port is released
        assert engine.state == "command"  # the emulator modem really hung up
        exchange_line = host.modem("A").line
        assert exchange_line.call is None and not exchange_line.offhook  # the far end saw it go
    finally:
        stack.close()
        with contextlib.suppress(Exception):  # the shared loop has closed by now
            pty.close()


CYCLES = 6


@pytest.mark.parametrize("pause", [0.0, REINIT_DELAY], ids=["close-at-once", "close-in-re-init"])
def test_a_line_closed_and_reopened_at_once_starts_a_clean_session_every_time(
    lab: Lab, pause: float
) -> None:
    """lineClose then lineOpen straight away, over a real pty. The emulator sees the
    close and the open together, as a DTR pulse that discards the modem's output; with
    `pause` the app closes just as the post-call re-init (REINIT_DELAY) puts an ATZ on
    the wire, which the close leaves unanswered (docs/benchmarks.md, the lost ATZ). The
    provider's PORT_SETTLE (after a reopen) keeps the new session silent until the
    modem has seen all that, and drops what comes meanwhile: every session initialises
    at its first ATZ, with one command per write, and every reopen takes the same
    telephony time (a lost answer costs a 3 s command time-out and a retry)."""
    line = lab.lines[LINE_A]
    durations = []
    for _ in range(CYCLES):
        start = lab.vt.now()
        app = App(lab, "cycler")
        hLine = app.open(LINE_A)
        _rid, hCall = make_call(app, hLine, ANSWER)
        app.until("CALLSTATE", "CONNECTED")
        assert lab.stack.lineDrop(hCall) > 0
        app.until("CALLSTATE", "IDLE")
        if pause:
            assert app.collect(pause) == []
        assert lab.stack.lineDeallocateCall(hCall) == 0
        assert lab.stack.lineClose(hLine) == 0
        assert lab.stack.lineShutdown(app.h) == 0
        durations.append(lab.vt.now() - start)
    transcript = lab.call(lambda: list(line.transcript))
    written = b"".join(data for kind, data in transcript if kind == "tx")
    if not pause:  # one ATZ at each open, none after the calls, no reset retry
        assert written.count(b"ATZ\r") == CYCLES
    # Each command waited for its own answer: a stale OK taken for the new ATZ's makes
    # the dialogue run one answer ahead, and two commands go out in one write.
    for kind, data in transcript:
        assert kind != "tx" or data.count(b"\r") <= 1, data
    # The first open starts at once; every reopen settles first, for the same time.
    reopens = durations[1:]
    assert max(reopens) - min(reopens) < 0.01, durations
    assert abs(reopens[0] - durations[0] - PORT_SETTLE) < 0.01, durations
    assert line.errors == []


def test_discard_input_drops_what_a_pty_holds_and_nothing_after() -> None:
    """PORT_SETTLE ends with `discard_input()`: bytes already in the port are gone,
    bytes that come later are read as usual."""
    import os
    import select

    from tapi.providers.serialport import FdPortDriver, open_driver

    master, slave = os.openpty()
    loop = asyncio.new_event_loop()
    try:
        driver = open_driver(os.ttyname(slave), loop, lambda _d: None, lambda _r: None)
        assert isinstance(driver, FdPortDriver)
        os.write(master, b"stale\r\n")
        assert select.select([driver.fd], [], [], 5)[0]  # the bytes reached the port
        driver.discard_input()
        assert not select.select([driver.fd], [], [], 0)[0]
        os.write(master, b"fresh")
        assert select.select([driver.fd], [], [], 5)[0]
        assert os.read(driver.fd, 100) == b"fresh"
        driver.close()
    finally:
        loop.close()
        os.close(master)
        os.close(slave)
