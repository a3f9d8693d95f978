"""The telephony server in one process: a `TapiServer` on its own loop thread over a
stack of fake lines, and `ServerStack` clients (one connection each stands for one
client process). Multi-process behaviour is in tests/integration/test_server_*.py."""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tapi import constants as C
from tapi.api import FUNCTIONS
from tapi.providers.fake import FakeLine
from tapi.server import protocol as P
from tapi.server.client import ServerStack, failure
from tapi.server.server import TapiServer, start_server
from tapi.stack import Stack
from tapi.structs import (
    LINECALLPARAMS,
    LINEDEVCAPS,
    LINEINITIALIZEEXPARAMS,
    LINEMESSAGE,
)

V22 = C.TAPI_VERSION2_2
OWNER = C.LINECALLPRIVILEGE_OWNER
MONITOR = C.LINECALLPRIVILEGE_MONITOR
DATAMODEM = C.LINEMEDIAMODE_DATAMODEM
DEADLINE = 10.0


@dataclass
class Served:
    stack: Stack
    server: TapiServer
    lines: list[FakeLine]
    loop: asyncio.AbstractEventLoop
    path: str

    def client(self) -> ServerStack:
        return ServerStack(self.path)

    def on_loop(self, fn: Any) -> Any:
        """Run `fn()` on the server's loop (its tables are the loop's)."""
        done: queue.Queue[Any] = queue.Queue()
        self.loop.call_soon_threadsafe(lambda: done.put(fn()))
        return done.get(timeout=DEADLINE)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    lines = [FakeLine("L0"), FakeLine("L1")]
    stack = Stack(lines=lines)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    path = str(tmp_path / "tapisrv.sock")
    server = asyncio.run_coroutine_threadsafe(start_server(stack, path), loop).result(DEADLINE)
    try:
        yield Served(stack, server, lines, loop, path)
    finally:
        asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(DEADLINE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()
        stack.close()


def init(client: ServerStack, name: str = "app") -> tuple[int, int]:
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, _n, _v, p = client.lineInitializeEx(None, None, name, V22, params)
    assert rc == 0 and h is not None and p is params and p.hEvent is not None, rc
    return h, p.hEvent


def drain(client: ServerStack, h: int) -> list[tuple[str, int, int, int]]:
    out: list[tuple[str, int, int, int]] = []
    while True:
        rc, m = client.lineGetMessage(h, 0)
        if rc != 0:
            assert rc == C.LINEERR_OPERATIONFAILED
            return out
        assert isinstance(m, LINEMESSAGE)
        out.append((C.message_name(m.dwMessageID), m.hDevice, m.dwParam1, m.dwParam2))


def wait_message(client: ServerStack, h: int, name: str) -> LINEMESSAGE:
    while True:
        rc, m = client.lineGetMessage(h, 5000)
        assert rc == 0 and m is not None, rc
        if C.message_name(m.dwMessageID) == name:
            return m


def test_protocol_round_trips_every_structure() -> None:
    caps = LINEDEVCAPS(LineName="L0", DeviceClasses=["tapi/line", "comm"], DevSpecific=b"\0x")
    value = (0, caps, LINECALLPARAMS(dwMediaMode=DATAMODEM), None, [1, "a"], b"\xff")
    import json

    assert P.decode(json.loads(json.dumps(P.encode(value)))) == value


@pytest.mark.parametrize(
    "bad",
    [
        {"$struct": "os.system", "fields": {}},
        {"$struct": "LINEDEVCAPS", "fields": {"__class__": 1}},
        {"$bytes": "!!"},
        {"$what": 1},
    ],
)
def test_protocol_builds_only_known_types(bad: Any) -> None:
    with pytest.raises(P.ProtocolError):
        P.decode(bad)


def test_flat_calls_and_messages_through_the_server(served: Served) -> None:
    client = served.client()
    h, _ = init(client)
    rc, caps = client.lineGetDevCaps(h, 0, V22, 0)
    assert rc == 0 and caps is not None and caps.LineName == "L0"
    rc, hLine = client.lineOpen(h, 0, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == 0 and hLine
    rid, hCall = client.lineMakeCall(hLine, "5550100", 0, LINECALLPARAMS(dwMediaMode=DATAMODEM))
    assert rid > 0 and hCall
    reply = wait_message(client, h, "LINE_REPLY")
    assert (reply.dwParam1, reply.dwParam2) == (rid, 0)
    assert wait_message(client, h, "LINE_CALLSTATE").hDevice == hCall
    assert served.on_loop(lambda: served.server.status())["clients"][0]["calls"] == 1
    assert client.lineDrop(hCall, None) > 0
    assert client.lineDeallocateCall(hCall) == 0
    assert client.lineClose(hLine) == 0
    assert client.lineShutdown(h) == 0
    assert served.stack.hierarchy().is_empty()
    client.close()


def test_event_handle_is_set_while_messages_wait(served: Served) -> None:
    import select

    client = served.client()
    h, hEvent = init(client)
    rc, hLine = client.lineOpen(h, 0, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == 0
    client.lineMakeCall(hLine, "1", 0, None)
    readable, _, _ = select.select([hEvent], [], [], DEADLINE)
    assert readable == [hEvent]
    drain(client, h)
    assert select.select([hEvent], [], [], 0)[0] == []
    client.close()


def test_callback_option_runs_callbacks_in_the_client(served: Served) -> None:
    client = served.client()
    got: queue.Queue[tuple[int, ...]] = queue.Queue()
    rc, h, _n = client.lineInitialize(None, lambda *a: got.put(a), "cb")
    assert rc == 0 and h
    rc, hLine = client.lineOpen(h, 0, C.TAPI_VERSION1_4, 0, 0, OWNER, DATAMODEM)
    assert rc == 0
    rid, _hCall = client.lineMakeCall(hLine, "1", 0, None)
    first = got.get(timeout=DEADLINE)
    assert (first[1], first[3]) == (C.LINE_REPLY, rid)
    client.close()


def test_handles_of_another_client_are_as_if_they_never_existed(served: Served) -> None:
    a, b = served.client(), served.client()
    ha, _ = init(a, "A")
    init(b, "B")  # B has an app of its own: still not A's
    rc, hLine = a.lineOpen(ha, 0, V22, 0, 0, OWNER, DATAMODEM)
    rid, hCall = a.lineMakeCall(hLine, "1", 0, None)
    assert rc == 0 and rid > 0 and hLine is not None and hCall is not None
    bogus = 0x7FFF_FF00
    for theirs, never in ((ha, bogus), (hLine, bogus), (hCall, bogus)):
        assert b.lineShutdown(theirs) == b.lineShutdown(never)
    assert b.lineClose(hLine) == b.lineClose(bogus) == C.LINEERR_INVALLINEHANDLE
    assert b.lineDrop(hCall, None) == b.lineDrop(bogus, None) == C.LINEERR_INVALCALLHANDLE
    assert b.lineGetCallInfo(hCall) == b.lineGetCallInfo(bogus)
    assert b.lineGetMessage(ha, 0) == (C.LINEERR_INVALAPPHANDLE, None)
    assert b.lineOpen(ha, 0, V22, 0, 0, MONITOR, 0) == (C.LINEERR_INVALAPPHANDLE, None)
    # ... and A's objects are untouched.
    assert a.lineGetCallInfo(hCall)[0] == 0
    a.close()
    b.close()


def test_a_dropped_connection_shuts_its_apps_down(served: Served) -> None:
    owner, monitor = served.client(), served.client()
    ho, _ = init(owner, "owner")
    hm, _ = init(monitor, "monitor")
    rc, hLine = owner.lineOpen(ho, 0, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == 0
    rc, _hLineM = monitor.lineOpen(hm, 0, V22, 0, 0, MONITOR, DATAMODEM)
    assert rc == 0
    rid, _hCall = owner.lineMakeCall(hLine, "1", 0, None)
    assert rid > 0
    wait_message(monitor, hm, "LINE_APPNEWCALL")
    drain(monitor, hm)
    owner.close()  # as if the process died: the server shuts "owner" down
    # the only owner went: the call is dropped; the monitor hears it go idle
    while True:
        m = wait_message(monitor, hm, "LINE_CALLSTATE")
        if m.dwParam1 == C.LINECALLSTATE_IDLE:
            break
    tree = served.stack.hierarchy()
    assert [app.name for app in tree.apps] == ["monitor"]
    assert served.on_loop(lambda: [c["apps"] for c in served.server.status()["clients"]]) == [1]
    assert monitor.lineShutdown(hm) == 0
    monitor.close()


def test_server_absent_every_call_is_service_not_running(tmp_path: Path) -> None:
    client = ServerStack(str(tmp_path / "nobody.sock"))
    for name in FUNCTIONS:
        result: Any
        if name == "lineInitializeEx":
            params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
            result = client.lineInitializeEx(None, None, "x", V22, params)
        elif name == "lineInitialize":
            result = client.lineInitialize(None, lambda *a: None, "x")
        elif name in ("lineGetMessage",):
            result = client.lineGetMessage(1, C.INFINITE)
        else:
            result = _call_with_dummies(client, name)
        assert result == failure(name, C.LINEERR_SERVICE_NOT_RUNNING), name
    assert C.LINEERR_SERVICE_NOT_RUNNING == -0x7FFFFF9F  # 0x80000061 as a signed LONG


def _call_with_dummies(client: ServerStack, name: str) -> Any:
    import inspect

    sig = inspect.signature(getattr(Stack, name))
    args = [1 for p in list(sig.parameters.values())[1:] if p.default is p.empty]
    return getattr(client, name)(*args)


def test_blocked_get_message_returns_when_the_server_goes(served: Served) -> None:
    client = served.client()
    h, _ = init(client)
    result: queue.Queue[Any] = queue.Queue()
    waiter = threading.Thread(target=lambda: result.put(client.lineGetMessage(h, C.INFINITE)))
    waiter.start()
    # the request is in: the server has answered "none" and the client waits
    asyncio.run_coroutine_threadsafe(served.server.aclose(), served.loop).result(DEADLINE)
    assert result.get(timeout=DEADLINE) == (C.LINEERR_SERVICE_NOT_RUNNING, None)
    waiter.join(DEADLINE)
    assert client.lineShutdown(h) == C.LINEERR_SERVICE_NOT_RUNNING
    assert served.stack.hierarchy().is_empty()
    client.close()


def _raw(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.connect(path)
    return s


def _reply(s: socket.socket) -> dict[str, Any]:
    from tapi.server.client import _read_frame

    return _read_frame(s)


@pytest.mark.parametrize(
    "payload",
    [
        P.HEADER.pack(P.MAX_FRAME + 1),
        P.HEADER.pack(5) + b"{nope",
        P.HEADER.pack(2) + b"[]",
        P.frame({"hello": "other", "versions": [1]}),
        P.frame({"hello": P.HELLO, "versions": [99]}),
    ],
    ids=["huge", "not-json", "not-object", "bad-hello", "no-common-version"],
)
def test_bad_frames_get_an_error_and_a_disconnect(served: Served, payload: bytes) -> None:
    good = served.client()
    h, _ = init(good)
    s = _raw(served.path)
    s.sendall(payload)
    assert "error" in _reply(s)
    assert s.recv(1) == b""
    s.close()
    assert good.lineGetMessage(h, 0) == (C.LINEERR_OPERATIONFAILED, None)  # still serving
    good.close()


def test_a_bad_request_disconnects_and_shuts_that_clients_apps(served: Served) -> None:
    s = _raw(served.path)
    s.sendall(P.frame({"hello": P.HELLO, "versions": [1]}))
    assert _reply(s)["version"] == 1
    params = P.encode(LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT))
    s.sendall(
        P.frame({"id": 1, "call": "lineInitializeEx", "args": [None, None, "x", V22, params]})
    )
    assert _reply(s)["result"]["$tuple"][0] == 0
    assert len(served.stack.hierarchy().apps) == 1
    s.sendall(P.frame({"id": 2, "call": "__import__", "args": ["os"]}))
    assert "error" in _reply(s)
    assert s.recv(1) == b""
    s.close()
    served.on_loop(lambda: None)
    assert served.stack.hierarchy().is_empty()


def test_truncated_frame_then_hang_up(served: Served) -> None:
    s = _raw(served.path)
    s.sendall(P.frame({"hello": P.HELLO, "versions": [1]}))
    _reply(s)
    s.sendall(P.HEADER.pack(100) + b'{"id": 1')
    s.shutdown(socket.SHUT_WR)
    assert _reply(s) == {"error": "truncated frame"}
    assert s.recv(1) == b""
    s.close()
    good = served.client()
    init(good)
    good.close()


def test_socket_is_private(served: Served) -> None:
    assert os.stat(served.path).st_mode & 0o777 == 0o600


def test_selection_is_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tapi.config import server_socket

    config = tmp_path / "lines.yaml"
    config.write_text('spec: "1"\nserver:\n  socket: /run/t.sock\nlines: []\n')
    monkeypatch.delenv("LINELAB_TAPI", raising=False)
    assert server_socket(config) == "/run/t.sock"
    monkeypatch.setenv("LINELAB_TAPI", "server")
    assert server_socket(config) == ""  # the default socket
    monkeypatch.setenv("LINELAB_TAPI", "server:/tmp/x.sock")
    assert server_socket(config) == "/tmp/x.sock"
    monkeypatch.setenv("LINELAB_TAPI", "inprocess")
    assert server_socket(config) is None
    monkeypatch.delenv("LINELAB_TAPI")
    config.write_text('spec: "1"\nlines: []\n')
    assert server_socket(config) is None
    config.write_text('spec: "1"\nserver:\n  sockt: /x\nlines: []\n')
    from linelab.errors import SpecError

    with pytest.raises(SpecError, match="sockt"):
        server_socket(config)


def test_module_level_functions_go_to_the_selected_server(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tapi
    import tapi.api

    monkeypatch.setenv("LINELAB_TAPI", f"server:{served.path}")
    monkeypatch.setattr(tapi.api, "_selected", [])
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    rc, h, _n, _v, _p = tapi.lineInitializeEx(None, None, "module", V22, params)
    assert rc == 0 and h is not None
    assert [a.name for a in served.stack.hierarchy().apps] == ["module"]
    assert tapi.lineShutdown(h) == 0
    server = tapi.api.selected_server()
    assert isinstance(server, ServerStack)
    server.close()


def test_shutdown_from_another_thread_ends_a_blocked_get_message(served: Served) -> None:
    client = served.client()
    h, _ = init(client)
    result: queue.Queue[Any] = queue.Queue()
    waiter = threading.Thread(target=lambda: result.put(client.lineGetMessage(h, C.INFINITE)))
    waiter.start()
    assert client.lineShutdown(h) == 0
    assert result.get(timeout=DEADLINE) == (C.LINEERR_INVALAPPHANDLE, None)
    waiter.join(DEADLINE)
    client.close()


def test_get_message_times_out_in_the_client(served: Served) -> None:
    client = served.client()
    h, _ = init(client)
    assert client.lineGetMessage(h, 1) == (C.LINEERR_OPERATIONFAILED, None)
    client.close()


def test_a_call_with_another_owner_stays_when_one_owner_goes(served: Served) -> None:
    first, second = served.client(), served.client()
    h1, _ = init(first, "first")
    h2, _ = init(second, "second")
    rc, _hLine1 = first.lineOpen(h1, 0, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == 0
    rc, hLine2 = second.lineOpen(h2, 0, V22, 0, 0, OWNER, DATAMODEM)
    assert rc == 0 and hLine2 is not None
    served.lines[0].incoming()
    wait_message(first, h1, "LINE_APPNEWCALL")  # the first owner to open gets the offer
    rc, calls = second.lineGetNewCalls(hLine2, 0, C.LINECALLSELECT_LINE)
    assert rc == 0 and calls is not None and len(calls.Calls) == 1
    hCall2 = calls.Calls[0]
    assert second.lineSetCallPrivilege(hCall2, OWNER) == 0
    tree = served.stack.hierarchy()
    owners = [c for a in tree.apps for ln in a.lines for c in ln.calls if c.privilege == OWNER]
    assert len(owners) == 2
    first.close()  # one owner's process goes: the call stays with the other
    served.on_loop(lambda: None)
    rc, status = second.lineGetCallStatus(hCall2)
    assert rc == 0 and status is not None
    assert status.dwCallState == C.LINECALLSTATE_OFFERING
    assert [a.name for a in served.stack.hierarchy().apps] == ["second"]
    assert second.lineShutdown(h2) == 0
    second.close()
