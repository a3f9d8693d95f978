"""The control socket: registry, permissions, peer-uid check, the JSON-lines protocol and
the `linelab call` command, against a recording fake host on a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.network.subscriberline import CallerId
from emulator.transports.control import (
    ControlError,
    ControlServer,
    LinkInfo,
    caller_from,
    default_control_dir,
    find_owner,
    read_registry,
    request,
    start_control_server,
)
from scenarios.cli import main

T = TypeVar("T")


@dataclass
class FakeExchange:
    calls: list[tuple[str, CallerId, str | None]] = field(default_factory=list)
    thread: list[threading.Thread] = field(default_factory=list)

    limits: list[tuple[int | None, float | None]] = field(default_factory=list)

    def place_call(
        self,
        to: str,
        caller: CallerId,
        then: str | None = None,
        *,
        ring_limit: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.calls.append((to, caller, then))
        self.limits.append((ring_limit, timeout))
        self.thread.append(threading.current_thread())


@dataclass
class FakeHost:
    links: list[LinkInfo]
    exchange: FakeExchange = field(default_factory=FakeExchange)

    def control_links(self) -> Sequence[LinkInfo]:
        return self.links


class LoopThread:
    """An event loop in a service thread, as a ModemHost runs one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime / "linelab"


@pytest.fixture
def served(
    runtime_dir: Path, tmp_path: Path
) -> Iterator[tuple[FakeHost, ControlServer, LoopThread]]:
    host = FakeHost(
        [
            LinkInfo(str(tmp_path / "modemA"), "A", "1001", "idle", {"dcd": False}),
            LinkInfo(str(tmp_path / "modemB"), "B", "1002"),
        ]
    )
    loop = LoopThread()
    server = loop.run(start_control_server(host))
    try:
        yield host, server, loop
    finally:
        loop.run(server.aclose())
        loop.stop()


def test_directory_socket_and_registry(
    served: tuple[FakeHost, ControlServer, LoopThread], runtime_dir: Path, tmp_path: Path
) -> None:
    _host, server, _loop = served
    assert default_control_dir() == runtime_dir
    assert stat.S_IMODE(os.stat(runtime_dir).st_mode) == 0o700
    assert server.path == str(runtime_dir / f"{os.getpid()}.sock")
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    owner = find_owner(str(tmp_path / "modemB"))
    assert owner is not None
    assert (owner.pid, owner.socket) == (os.getpid(), server.path)
    assert find_owner(str(tmp_path / "nope")) is None


def test_close_removes_socket_and_registry(runtime_dir: Path) -> None:
    loop = LoopThread()
    try:
        server = loop.run(start_control_server(FakeHost([LinkInfo("/x/l", "L", "1001")])))
        assert len(read_registry()) == 1
        loop.run(server.aclose())
        assert not os.path.exists(server.path)
        assert read_registry() == []
    finally:
        loop.stop()


def test_stale_registry_entries_are_ignored_and_removed(runtime_dir: Path) -> None:
    default_control_dir()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = runtime_dir / f"{child.pid}.json"
    stale.write_text(json.dumps({"pid": child.pid, "socket": "/nowhere", "links": []}))
    (runtime_dir / "junk.json").write_text("{not json")
    assert read_registry() == []
    assert not stale.exists()


def test_private_dir_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    (runtime / "linelab").mkdir(parents=True)
    os.chmod(runtime / "linelab", 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with pytest.raises(ControlError, match="open to other users"):
        default_control_dir()
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    fallback = default_control_dir(create=False)
    assert fallback.name == f"linelab-{os.getuid()}"


def test_call_reaches_the_exchange_on_the_loop_thread(
    served: tuple[FakeHost, ControlServer, LoopThread], tmp_path: Path
) -> None:
    host, server, loop = served
    reply = request(
        server.path,
        {"op": "call", "to": str(tmp_path / "modemA"), "from": "5551234", "name": "DOE JOHN"},
    )
    assert reply == {"ok": True, "number": "1001", "link": str(tmp_path / "modemA")}
    reply = request(server.path, {"op": "call", "to": "1002", "from": "P", "then": "answer,echo"})
    assert reply["ok"] is True
    assert host.exchange.calls == [
        ("1001", CallerId("5551234", "DOE JOHN"), None),
        ("1002", CallerId(None, None, number_absent="P", name_absent="P"), "answer,echo"),
    ]
    assert host.exchange.thread == [loop.thread, loop.thread]


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ({"op": "call", "to": "/no/such", "from": "1"}, "no modem '/no/such'"),
        ({"op": "call", "to": "A", "from": "12a"}, "bad caller number"),
        ({"op": "call", "to": "A", "from": "1", "then": "answer,sometimes"}, "'sometimes'"),
        ({"op": "call", "to": "A", "from": "1", "then": "busy"}, "calling far end"),
        ({"op": "call", "to": "A"}, "'to' and 'from'"),
        ({"op": "dance"}, "unknown op 'dance'"),
        (["call"], "JSON object"),
    ],
)
def test_bad_requests_get_errors(
    served: tuple[FakeHost, ControlServer, LoopThread], message: object, fragment: str
) -> None:
    host, server, _loop = served
    reply = request(server.path, message)  # type: ignore[arg-type]
    assert reply["ok"] is False
    assert fragment in reply["error"]
    assert host.exchange.calls == []


def test_status(served: tuple[FakeHost, ControlServer, LoopThread]) -> None:
    _host, server, _loop = served
    reply = request(server.path, {"op": "status"})
    assert reply["ok"] is True
    assert reply["pid"] == os.getpid()
    assert [m["number"] for m in reply["modems"]] == ["1001", "1002"]
    assert reply["modems"][0]["signals"] == {"dcd": False}


def test_other_uid_is_refused(served: tuple[FakeHost, ControlServer, LoopThread]) -> None:
    host, server, _loop = served
    server.allowed_uid = os.getuid() + 1  # as if we were someone else
    reply = request(server.path, {"op": "call", "to": "A", "from": "1"})
    assert reply == {"ok": False, "error": "permission denied"}
    assert host.exchange.calls == []


def test_several_requests_on_one_connection(
    served: tuple[FakeHost, ControlServer, LoopThread],
) -> None:
    _host, server, _loop = served
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(server.path)
        sock.sendall(b'{"op": "status"}\nnot json\n')
        stream = sock.makefile("rb")
        assert json.loads(stream.readline())["ok"] is True
        assert json.loads(stream.readline()) == {"ok": False, "error": "request is not JSON"}


def test_client_errors(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no control socket"):
        request(str(tmp_path / "none.sock"), {"op": "status"})


def test_caller_from() -> None:
    assert caller_from("O", "ACME") == CallerId(None, "ACME", number_absent="O")
    assert caller_from("+4930123", None) == CallerId("+4930123", None)


# -- the command line ------------------------------------------------------------------


def test_linelab_call_finds_the_owner(
    served: tuple[FakeHost, ControlServer, LoopThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, _server, _loop = served
    link = str(tmp_path / "modemB")
    argv = ["call", link, "--from", "5551234", "--name", "DOE", "--then", "ANSWER, echo"]
    assert main(argv) == 0
    assert "number 1002" in capsys.readouterr().out
    assert host.exchange.calls == [("1002", CallerId("5551234", "DOE"), "answer,echo")]
    assert host.exchange.limits == [(10, 600.0)]  # the default ring limit and time-out


def test_linelab_call_with_control_path(
    served: tuple[FakeHost, ControlServer, LoopThread], capsys: pytest.CaptureFixture[str]
) -> None:
    host, server, _loop = served
    assert main(["call", "1001", "--from", "O", "--control", server.path]) == 0
    assert host.exchange.calls[0][0] == "1001"
    assert main(["call", "9999", "--from", "O", "--control", server.path]) == 1
    assert "no modem '9999'" in capsys.readouterr().err


def test_linelab_call_errors(
    served: tuple[FakeHost, ControlServer, LoopThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, _server, _loop = served
    assert main(["call", str(tmp_path / "other"), "--from", "1"]) == 2
    assert "no running linelab modem owns" in capsys.readouterr().err
    assert main(["call", str(tmp_path / "modemA"), "--from", "1", "--then", "answer,x=1"]) == 2
    assert "'x=1'" in capsys.readouterr().err
    assert main(["call", str(tmp_path / "modemA"), "--from", "one"]) == 2
    assert "bad caller number 'one'" in capsys.readouterr().err
    assert host.exchange.calls == []


def test_real_host_rings_with_caller_id(runtime_dir: Path, tmp_path: Path) -> None:
    """start_control_server(ModemHost, links=…) places a real call through the exchange."""
    from emulator.core.engine import Signals
    from emulator.transports.host import ModemHost

    host = ModemHost.start_in_thread(time_scale=10.0)
    try:
        modem = host.add_modem("A")
        link = str(tmp_path / "modemA")
        ringing = threading.Event()

        def watch(signals: Signals) -> None:
            if signals.ri:
                ringing.set()

        host.call(modem.watch_signals, watch)
        coro = start_control_server(host, links={"A": link})
        server = asyncio.run_coroutine_threadsafe(coro, host.loop).result(10)
        try:
            owner = find_owner(link)
            assert owner is not None and owner.links[0].number == modem.number
            reply = request(server.path, {"op": "call", "to": link, "from": "5551234"})
            assert reply["ok"] is True
            assert ringing.wait(10)
            status = request(server.path, {"op": "status"})
            assert status["modems"][0]["state"] == "ringing"
            assert host.call(lambda: modem.engine.state) == "ringing"
        finally:
            asyncio.run_coroutine_threadsafe(server.aclose(), host.loop).result(10)
    finally:
        host.close()


PEER_REQUEST = b'{"op": "call", "to": "A", "from": "1"}\n'


@pytest.mark.interop
def test_another_user_is_kept_out_by_mode_and_by_peer_uid() -> None:
    """A real process of uid 65534 (socat): the 0600 socket in a 0700 directory refuses
    its connect; with both opened up, the SO_PEERCRED check still refuses its request.

    It runs a Debian program as another user, so it is an interop test: it needs root
    and fails (never skips) without it, like the others; ``tools/test-all --quick``
    leaves it out."""
    import shutil
    import tempfile

    assert os.getuid() == 0, "needs root to run a peer as another user (tools/test-all)"
    socat = shutil.which("socat")
    assert socat is not None, "socat is installed by the README test command"
    host = FakeHost([LinkInfo("/x/A", "A", "1001")])
    loop = LoopThread()
    directory = Path(tempfile.mkdtemp(prefix="linelab-peer-"))
    closing: list[ControlServer] = []
    try:
        path = str(directory / "ctl.sock")
        server = loop.run(start_control_server(host, path, register=False))
        closing.append(server)

        def as_nobody() -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                [socat, "-t5", "-", f"UNIX-CONNECT:{path}"], input=PEER_REQUEST,
                user=65534, group=65534, extra_groups=[], capture_output=True, timeout=30,
                check=False,
            )  # fmt: skip

        refused = as_nobody()
        assert refused.returncode != 0 and b"Permission denied" in refused.stderr, refused
        os.chmod(directory, 0o711)
        os.chmod(path, 0o666)
        answered = as_nobody()
        assert json.loads(answered.stdout) == {"ok": False, "error": "permission denied"}
        assert host.exchange.calls == []
    finally:
        for server in closing:
            loop.run(server.aclose())
        loop.stop()
        shutil.rmtree(directory, ignore_errors=True)
