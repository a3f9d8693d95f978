"""The telephony server with real client processes (issue 8): `linelab tapisrv` over a
`linelab modem` on a real pty, clients that are separate Python processes using the
module-level flat API with ``LINELAB_TAPI=server:SOCKET``, and real SIGKILLs. Nothing
sleeps: every wait is for a line a process prints, a message, or a status, each with a
deadline."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.transports.control import request
from tapi import constants as C
from tapi.server import protocol as P
from tapi.server.client import ServerStack

DEADLINE = 30.0
HERE = Path(__file__).parent
CLIENT = HERE / "server_client.py"
ECHO = "5550100"
NOANSWER = "5550102"


class Proc:
    """A child process whose stdout is read line by line with deadlines."""

    def __init__(self, args: list[str], env: dict[str, str], stdin: bool = False) -> None:
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.buf = b""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def line(self, deadline: float = DEADLINE) -> str:
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        end = time.monotonic() + deadline
        while b"\n" not in self.buf:
            ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
            assert ready, f"pid {self.pid}: no line within {deadline} s; got {self.buf!r}"
            chunk = os.read(fd, 4096)
            assert chunk, f"pid {self.pid} closed stdout: {self.buf!r} {self.stderr()}"
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def expect(self, word: str, deadline: float = DEADLINE) -> list[str]:
        """Lines until one starting with `word` (returned split)."""
        while True:
            fields = self.line(deadline).split()
            if fields and fields[0] == word:
                return fields

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode())
        self.popen.stdin.flush()

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(DEADLINE)
        assert self.popen.returncode == -signal.SIGKILL

    def close(self) -> None:
        """Reap the process (killing it if it still runs) and close its pipes."""
        if self.popen.poll() is None:
            self.popen.kill()
        if self.popen.stdin is not None and self.popen.stdin.closed:
            self.popen.stdin = None
        self.popen.communicate(timeout=DEADLINE)

    def stderr(self) -> str:
        if self.popen.poll() is None:
            return ""
        assert self.popen.stderr is not None
        return self.popen.stderr.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        _out, err = self.popen.communicate(timeout=DEADLINE)
        return self.popen.returncode, err.decode(errors="replace")


@dataclass
class World:
    tmp: Path
    env: dict[str, str]
    socket: str
    server: Proc
    modem_control: str
    procs: list[Proc]

    def client(self, *args: str, stdin: bool = False) -> Proc:
        env = dict(self.env, LINELAB_TAPI=f"server:{self.socket}")
        proc = Proc([sys.executable, str(CLIENT), *args], env, stdin=stdin)
        self.procs.append(proc)
        return proc

    def status(self) -> list[dict[str, Any]]:
        with ServerStack(self.socket, status_only=True) as s:
            got = s.status()
        assert got is not None, "the server does not answer"
        clients: list[dict[str, Any]] = got["clients"]
        return clients

    def status_cli(self) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "scenarios.cli", "tapisrv", "--status", "--json",
             "--socket", self.socket],
            capture_output=True, check=True, env=self.env, timeout=DEADLINE,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def until(self, what: str, check: Callable[[], bool], deadline: float = DEADLINE) -> None:
        """Ask again until `check()` holds (each ask is one round trip to a process)."""
        end = time.monotonic() + deadline
        while not check():
            assert time.monotonic() < end, f"not within {deadline} s: {what} {self.held()}"
            select.select([], [], [], 0.01)  # a poll tick between round trips, not a wait

    def modem(self) -> dict[str, Any]:
        status = request(self.modem_control, {"op": "status"})
        modem: dict[str, Any] = status["modems"][0]
        return modem

    def on_hook(self) -> bool:
        m = self.modem()
        return bool(m["state"] == "command" and not m["signals"].get("dcd"))

    def held(self) -> tuple[int, int]:
        """(open fds, threads) of the server process, from /proc."""
        pid = self.server.pid
        return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))

    def held_at_most(self, before: tuple[int, int]) -> bool:
        """No more fds or threads than `before` (taken when earlier tests' connections
        may still be closing, so it can only be higher than the true baseline)."""
        fds, threads = self.held()
        return fds <= before[0] and threads <= before[1]

    def pids(self) -> list[int]:
        return [c["pid"] for c in self.status()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One modem and one server for the module (starting them costs seconds); every
    test leaves the server with no clients, which the next one checks."""
    tmp_path = tmp_path_factory.mktemp("tapisrv")
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run))
    env.pop("LINELAB_TAPI", None)
    link = tmp_path / "modemA"
    modem = Proc(
        [sys.executable, "-m", "scenarios.cli", "modem", str(link),
         "--far", f"{ECHO}=answer,echo", "--far", f"{NOANSWER}=noanswer",
         "--time-scale", "20"],
        env,
    )  # fmt: skip
    procs = [modem]
    try:
        ready = dict(pair.split("=", 1) for pair in modem.expect("READY")[1:])
        config = tmp_path / "lines.yaml"
        config.write_text(f'spec: "1"\nlines:\n  - name: A\n    port: {link}\n')
        sock = str(tmp_path / "tapisrv.sock")
        server = Proc(
            [sys.executable, "-m", "scenarios.cli", "tapisrv", "--config", str(config),
             "--socket", sock],
            env,
        )  # fmt: skip
        procs.append(server)
        assert server.expect("READY") == ["READY", f"socket={sock}"]
        assert os.stat(sock).st_mode & 0o777 == 0o600
        w = World(tmp_path, env, sock, server, ready["control"], procs)
        procs = w.procs
        yield w
        for p in w.procs[2:]:
            p.close()
        code, err = server.stop()
        assert code == 0, err
        assert not os.path.exists(sock)
    finally:
        for p in procs:
            p.close()


def test_client_killed_mid_call_monitor_sees_idle_modem_on_hook(world: World) -> None:
    assert world.status() == []
    monitor = world.client("monitor")
    monitor.expect("MONITORING")
    owner = world.client("owner", ECHO)
    owner.expect("CONNECTED")  # also: now blocked in lineGetMessage
    assert not world.on_hook()
    assert sorted(world.pids()) == sorted([owner.pid, monitor.pid])
    mine = {c["pid"]: c for c in world.status_cli()["clients"]}[owner.pid]
    assert (mine["apps"], mine["lines"], mine["calls"], mine["threads"]) == (1, 1, 1, 0)
    owner.kill()
    # the dead process held the only owner handle: the call is dropped; the monitor
    # hears exactly what a lineShutdown gives it, down to IDLE
    states: list[int] = []
    while not states or states[-1] != C.LINECALLSTATE_IDLE:
        fields = monitor.expect("LINE_CALLSTATE")
        states.append(int(fields[2]))
    assert C.LINECALLSTATE_DISCONNECTED in states or C.LINECALLSTATE_IDLE in states
    assert world.pids() == [monitor.pid]
    world.until("the modem is back on hook", world.on_hook)
    assert world.status_cli()["clients"][0]["calls"] == 1  # the monitor's handle stays
    monitor.kill()
    assert world.status() == []


def test_client_killed_while_its_request_is_pending(world: World) -> None:
    pending = world.client("pending", NOANSWER, stdin=True)
    pending.expect("PENDING")
    pending.kill()
    world.until("the dead client is gone", lambda: world.pids() == [])
    world.until("the modem is back on hook", world.on_hook)
    # the line works for the next process
    owner = world.client("owner", ECHO)
    owner.expect("CONNECTED")
    owner.kill()
    world.until("on hook again", world.on_hook)


def test_client_killed_blocked_in_get_message(world: World) -> None:
    blocked = world.client("blocked")
    blocked.expect("BLOCKED")
    assert world.status()[0]["lines"] == 1
    blocked.kill()
    world.until("the dead client is gone", lambda: world.status() == [])


def test_churning_clients_some_killed_leave_nothing(world: World) -> None:
    rng = random.Random(8)
    assert world.status() == []
    before = world.held()
    clients = [world.client("churn", str(i), stdin=True) for i in range(20)]
    started: set[Proc] = set()  # replacements start while the others work
    killed = 0
    for step in range(40):
        c = rng.choice(clients)
        if c not in started:
            c.expect("CHURNING")
            started.add(c)
        c.send("\n")
        c.expect("STEP")
        if step % 8 == 7:
            victim = rng.choice(clients)
            victim.kill()
            killed += 1
            clients.remove(victim)
            clients.append(world.client("churn", str(100 + step), stdin=True))
    assert killed == 5
    for c in clients:
        if c not in started:
            c.expect("CHURNING")
    alive = {c.pid for c in clients}
    world.until("only live clients listed", lambda: set(world.pids()) <= alive)
    for c in clients:
        assert c.popen.stdin is not None
        c.popen.stdin.close()  # EOF: the client exits without shutting anything down
        c.popen.wait(DEADLINE)
    world.until("no clients", lambda: world.status() == [])
    assert world.status_cli() == {"clients": []}
    world.until(
        f"the server's fds and threads no more than {before}", lambda: world.held_at_most(before)
    )


def _foreign_uid_refused(sock_path: str) -> None:
    pid = os.fork()
    if pid == 0:  # the child: become nobody, connect, report what happened by exit code
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(DEADLINE)
            s.connect(sock_path)
            code = 1
            s.sendall(P.frame({"hello": P.HELLO, "versions": [1]}))
            data = s.recv(65536)
            code = 0 if b"error" in data else 2
        except PermissionError:
            code = 0  # the 0700 directory or 0600 socket already keeps nobody out
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become nobody")
def test_bad_wire_input_never_stops_the_server(world: World) -> None:
    blocked = world.client("blocked")
    blocked.expect("BLOCKED")
    rng = random.Random(1)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(20)]
    payloads += [
        P.HEADER.pack(0xFFFFFFFF),
        P.HEADER.pack(40) + b'{"hello":',
        P.frame({"hello": P.HELLO, "versions": [1]}) + P.HEADER.pack(3) + b"[1]",
    ]
    for payload in payloads:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(DEADLINE)
        s.connect(world.socket)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass  # the server answers (an error) and closes
        s.close()
    # make the socket reachable for nobody, so that only SO_PEERCRED stands in the way
    os.chmod(world.socket, 0o666)
    os.chmod(Path(world.socket).parent, 0o755)
    _foreign_uid_refused(world.socket)
    assert world.pids() == [blocked.pid]  # none of them is left as a client
    blocked.kill()
    world.until("no clients", lambda: world.status() == [])


def test_hundred_processes_thousand_apps(world: World) -> None:
    """100 client processes of 10 apps each on one server (bare-socket clients, so that
    starting them stays cheap)."""
    code = (
        "import json,socket,struct,sys\n"
        "s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1])\n"
        "def send(m):\n"
        " b=json.dumps(m).encode();s.sendall(struct.pack('>I',len(b))+b)\n"
        "def recv():\n"
        " while True:\n"
        "  n=struct.unpack('>I',s.recv(4,socket.MSG_WAITALL))[0]\n"
        "  m=json.loads(s.recv(n,socket.MSG_WAITALL))\n"
        "  if 'event' not in m: return m\n"
        "send({'hello':'linelab-tapi','versions':[1]});recv()\n"
        "p={'$struct':'LINEINITIALIZEEXPARAMS','fields':{'dwOptions':2}}\n"
        "for i in range(10):\n"
        " send({'id':i,'call':'lineInitializeEx','args':[None,None,'a',131074,p]})\n"
        " assert recv()['result']['$tuple'][0]==0\n"
        "print('READY',flush=True);sys.stdin.read()\n"
    )
    before = world.held()
    procs = [
        Proc([sys.executable, "-S", "-c", code, world.socket], world.env, stdin=True)
        for _ in range(100)
    ]
    world.procs.extend(procs)
    for p in procs:
        p.expect("READY")
    clients = world.status()
    assert len(clients) == 100 and sum(c["apps"] for c in clients) == 1000
    assert {c["fds"] for c in clients} == {11} and {c["threads"] for c in clients} == {0}
    for p in procs:
        assert p.popen.stdin is not None
        p.popen.stdin.close()
    for p in procs:
        p.popen.wait(DEADLINE)
    world.until("no clients", lambda: world.status() == [])
    world.until(
        f"the server's fds and threads no more than {before}", lambda: world.held_at_most(before)
    )
