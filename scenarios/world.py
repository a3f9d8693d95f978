"""The world a scenario runs in: modems, the exchange and a `tapi.Stack` on one
virtual-time loop (`VirtualWorld`), or a real modem on real time (`PortWorld`).

`VirtualWorld` is what `tests/integration/test_tapi_modem.py` builds by hand, with
``vmodem://`` ports instead of ptys: one `VirtualTime`, one event loop from it in a
service thread, a `ModemHost` with the scenario's modems and far ends on that loop,
and a stack whose modem lines open ``vmodem://NAME`` on the same host. The scenario's
thread is the application: it calls the flat API and waits in lineGetMessage (a
linelab wait), so rings and time-outs pass in virtual time. With ``transport="pty"``
each modem is served on a real pty instead (`PtyPort`, as ``linelab modem`` serves it)
and the lines open its link with pyserial; time stays virtual.

The pytest fixtures (`scenarios.plugin`) hand the same objects to users' tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any, Literal, TypeVar

import serial

from emulator import register_url_handler
from emulator.core.tracerecord import TraceRecord
from emulator.network.subscriberline import CallerId
from emulator.transports.host import HostedModem, ModemHost
from emulator.transports.pty import PtyPort
from emulator.transports.vmodem import set_default_host
from linelab.errors import LinelabError
from linelab.vtime import RealTime, TimeSource, VirtualTime
from scenarios.language import World
from scenarios.porttrace import TracedPort, traced_driver_factory
from tapi.config import LineConfig
from tapi.providers.modem import ModemLine, ModemProvider
from tapi.server import protocol as P
from tapi.server.client import ServerStack
from tapi.server.server import TapiServer, start_server
from tapi.stack import Stack

T = TypeVar("T")

# Real time the loop listens for bytes in flight before virtual time jumps. vmodem://
# hands bytes over in-process (an eventfd), so far less than a pty's 20 ms is enough.
GRACE = 0.005
#: The same for ptys: Linux hands pty bytes over through deferred kernel work, which
#: takes longer on a loaded machine (as in tests/integration/test_tapi_modem.py).
PTY_GRACE = 0.02

#: How the stack reaches the world's modems: in process (``vmodem://NAME``) or over
#: real ptys (the emulator's `PtyPort`, as ``linelab modem`` serves them) opened with
#: pyserial by path.
Transport = Literal["vmodem", "pty"]

#: What each kind of target can provide (`needs:`); the TAPI 3.x objects once this
#: linelab has them.
_TAPI3 = {"tapi3"} if importlib.util.find_spec("tapi.tapi3") is not None else set()
VIRTUAL_PROVIDES = frozenset(
    {"exchange", "far-end", "server", "process", "numbers", "signals", *_TAPI3}
)

#: Real seconds a client process may take to answer one request (or to start).
CLIENT_TIMEOUT = 30.0


class ProcessApp:
    """The runner's end of a client process (`scenarios.clientproc`): each flat function
    of the TAPI is a method that asks the process and returns what its ServerStack
    returned. While the runner waits for an answer it is a busy actor, so virtual time
    stands still (the process itself runs on real time)."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        # Its stderr, kept for the message if it dies; closed in close().
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scenarios.clientproc", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        try:
            hello = self._read()
            if "ready" not in hello:
                raise LinelabError(f"client process {name}: {hello.get('error', hello)}")
        except BaseException:
            self.close()
            raise

    def _read(self) -> dict[str, Any]:
        out = self.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], CLIENT_TIMEOUT)
        if not ready:
            raise LinelabError(
                f"client process {self.name} did not answer within {CLIENT_TIMEOUT:g} s"
            )
        line = out.readline()
        if not line:
            self.proc.wait(5.0)
            self._stderr.seek(0)
            tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-3:]
            raise LinelabError(
                f"client process {self.name} exited (status {self.proc.returncode})"
                + (": " + " / ".join(tail) if tail else "")
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name.startswith(("line", "tapi")):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            request = {
                "call": name,
                "args": P.encode(list(args)),
                "kwargs": {k: P.encode(v) for k, v in kwargs.items()},
            }
            stdin = self.proc.stdin
            assert stdin is not None
            try:
                stdin.write(json.dumps(request) + "\n")
                stdin.flush()
            except BrokenPipeError:
                raise LinelabError(f"client process {self.name} is gone") from None
            reply = self._read()
            if "error" in reply:
                raise LinelabError(f"client process {self.name}: {name}: {reply['error']}")
            return P.decode(reply["result"])

        return call

    def kill(self) -> None:
        """SIGKILL, and reap it: no chance to close anything (the point)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(CLIENT_TIMEOUT)

    def close(self) -> None:
        """End of input: the process closes its ServerStack and exits (killed if not)."""
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


PORT_PROVIDES: frozenset[str] = frozenset(_TAPI3)


def port_numbers(configs: list[LineConfig]) -> frozenset[str]:
    """``numbers`` when every real line has its own number (``$number.X`` works)."""
    return frozenset({"numbers"}) if configs and all(c.number for c in configs) else frozenset()


class VirtualWorld:
    """Modems, exchange and stack on one virtual-time loop (see module doc)."""

    target = "virtual"
    provides = VIRTUAL_PROVIDES

    def __init__(
        self, world: World, *, grace: float | None = None, transport: Transport = "vmodem"
    ) -> None:
        register_url_handler()
        if transport not in ("vmodem", "pty"):
            raise ValueError(f"transport is vmodem or pty, not {transport!r}")
        self.spec = world
        self.transport = transport
        self.records: list[TraceRecord] = []
        if grace is None:
            grace = PTY_GRACE if transport == "pty" else GRACE
        self.vt = VirtualTime(grace=grace)
        self.time: TimeSource = self.vt
        self.loop = self.vt.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="scenario-loop", daemon=True)
        self._thread.start()
        self.host: ModemHost = self.call(lambda: ModemHost(self.loop, trace=self.records.append))
        self._previous_host = set_default_host(self.host, self.vt)
        self._closed = False
        self.at_ports: dict[str, serial.SerialBase] = {}
        self.server: TapiServer | None = None
        self._server_dir: str | None = None
        self.clients: dict[str, ServerStack | ProcessApp] = {}
        self.ptys: dict[str, PtyPort] = {}
        self._pty_dir = tempfile.mkdtemp(prefix="linelab-ptys-") if transport == "pty" else None
        try:
            for spec in world.modems.values():
                self.host.add_modem(spec.name, spec.number, spec.profile)
                if not spec.dialtone:
                    number = self.number(spec.name)
                    self.call(self.host.exchange.set_dialtone, number, False)
                if self._pty_dir is not None:
                    link = os.path.join(self._pty_dir, spec.name)
                    self.ptys[spec.name] = self.call(
                        lambda n=spec.name, link=link: PtyPort(self.host.modem(n), link)
                    )
            for number, behaviour in world.far.items():
                self.call(self.host.exchange.set_far, number, behaviour)
            configs = [LineConfig(name=f"Modem {n}", port=self.port_of(n)) for n in world.lines]
            self.lines = [ModemLine(c, time=self.vt) for c in configs]
            self.stack = Stack(lines=self.lines, time=self.vt, loop=self.loop)
        except BaseException:
            self.close()
            raise

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the loop thread and return its result."""
        return ModemHost.call_on(self.loop, fn, *args)

    def modem(self, name: str) -> HostedModem:
        return self.call(lambda: self.host.modem(name))

    def port_of(self, name: str) -> str:
        """What pyserial opens to reach modem `name`: its pty's link, or vmodem://NAME."""
        pty = self.ptys.get(name)
        if pty is not None:
            assert pty.link is not None
            return pty.link
        return f"vmodem://{name}"

    def number(self, name: str) -> str:
        return self.modem(name).number

    # -- modem- and line-side actions (the scenario's far side of the world) -----------------
    def ring(self, name: str, caller: str | None, caller_name: str | None, then: str) -> None:
        number = self.number(name)
        cid = CallerId(number=caller, name=caller_name)
        self.call(lambda: self.host.exchange.place_call(number, cid, then))

    def hangup(self, name: str) -> bool:
        """The far end of the call on modem `name` hangs up (a call `ring` placed)."""
        number = self.number(name)

        def cancel() -> bool:
            live = [c for c in self.host.exchange.placed_calls() if c.to == number and not c.ended]
            for placed in live:
                placed.cancel()
            return bool(live)

        return self.call(cancel)

    def carrier_loss(self, name: str) -> None:
        self.call(lambda: self.host.modem(name).line.drop_carrier())

    def dtr_drop(self, name: str) -> None:
        self.call(lambda: self.host.modem(name).set_dtr(False))

    def remove_port(self, name: str) -> None:
        """The modem's port goes away: its pty closes (the client reads EIO), or its
        vmodem:// port ends."""
        pty = self.ptys.pop(name, None)
        if pty is not None:
            self.call(pty.close)
        self.host.remove_modem(name)

    def advance(self, seconds: float) -> None:
        self.vt.sleep(seconds)

    # -- the telephony server and its clients (world.apps of kind server and process) --------
    def _on_loop(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CLIENT_TIMEOUT)

    def server_path(self) -> str:
        """The socket of this world's server, which serves this world's stack (started
        on first use, on the world's loop: its clients' calls run in the same virtual
        time as everything else)."""
        if self.server is None:
            self._server_dir = tempfile.mkdtemp(prefix="linelab-scenario-")
            path = os.path.join(self._server_dir, "tapisrv.sock")
            self.server = self._on_loop(start_server(self.stack, path))
        assert self.server is not None
        return self.server.path

    def client(self, name: str) -> ServerStack | ProcessApp:
        """App `name` of world.apps: a ServerStack in this process (kind server) or a
        client process (kind process), connected on first use."""
        found = self.clients.get(name)
        if found is None:
            path = self.server_path()
            kind = self.spec.apps[name]
            found = ProcessApp(name, path) if kind == "process" else ServerStack(path)
            self.clients[name] = found
        return found

    def kill(self, name: str) -> None:
        """SIGKILL client process `name`; return once the server has shut its apps down."""
        app = self.client(name)
        if not isinstance(app, ProcessApp):
            raise LinelabError(f"app {name} is not a client process")
        del self.clients[name]
        app.kill()
        app.close()
        assert self.server is not None
        try:
            self._on_loop(self.server.wait_dropped(app.pid))
        except TimeoutError:
            raise LinelabError(
                f"the server did not notice that client process {name} (pid {app.pid}) died"
                f" within {CLIENT_TIMEOUT:g} s"
            ) from None

    def server_status(self) -> dict[str, Any] | None:
        """What the server holds per client (`tapisrv --status`), None without a server."""
        if self.server is None:
            return None
        server = self.server
        status: dict[str, Any] = self.call(server.status)
        return status

    def close_clients(self) -> None:
        for app in self.clients.values():
            app.close()
        self.clients.clear()
        if self.server is not None:
            server, self.server = self.server, None
            self._on_loop(server.aclose())
        if self._server_dir is not None:
            shutil.rmtree(self._server_dir, ignore_errors=True)
            self._server_dir = None

    def at_port(self, name: str) -> serial.SerialBase:
        """A pyserial port on modem `name` for raw AT steps (opened on first use)."""
        port = self.at_ports.get(name)
        if port is None:
            port = serial.serial_for_url(self.port_of(name), timeout=0)
            self.at_ports[name] = port
        return port

    def close_at_ports(self) -> None:
        for port in self.at_ports.values():
            port.close()
        self.at_ports.clear()

    # -- teardown ---------------------------------------------------------------------------
    def modem_faults(self, *, ports: bool) -> list[str]:
        """What is wrong with the modems now: off hook, DCD high, a port left open."""

        def look() -> list[str]:
            faults: list[str] = []
            for name, modem in sorted(self.host.modems.items()):
                if modem.line.offhook or modem.line.call is not None:
                    faults.append(f"modem {name} is off hook (engine state {modem.engine.state})")
                if modem.signals.dcd:
                    faults.append(f"modem {name} has DCD high")
                if ports and modem.port is not None:
                    faults.append(f"modem {name}: a port is still open on it")
            return faults

        return self.call(look)

    def close(self) -> None:
        """Stop everything this world started (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.close_at_ports()
        self.close_clients()
        stack = getattr(self, "stack", None)
        if stack is not None:
            stack.close()
        set_default_host(self._previous_host)
        for pty in self.ptys.values():
            self.call(pty.close)
        self.ptys.clear()
        if hasattr(self, "host"):
            self.host.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self.loop.close()
        if self._pty_dir is not None:
            shutil.rmtree(self._pty_dir, ignore_errors=True)


class PortWorld:
    """A real modem (or any lines file) through the modem provider, on real time. No
    exchange, no scripted far ends: scenarios that need them are skipped."""

    target = "port"
    provides = PORT_PROVIDES

    def __init__(self, world: World, configs: list[LineConfig]) -> None:
        self.spec = world
        self.records: list[TraceRecord] = []
        self.time = RealTime()
        self.vt = None
        self.t0 = self.time.now()  # the transcript's times are real seconds since
        self.configs = configs
        self.at_ports: dict[str, TracedPort] = {}
        self._names = dict(zip(world.lines, configs, strict=False))
        # The modem cannot record itself: the provider's port does (scenarios.porttrace).
        by_port = {c.port: name for name, c in self._names.items()}
        factory = traced_driver_factory(self.records.append, by_port, self._since)
        provider = ModemProvider(configs, time=self.time, driver_factory=factory)
        self.stack = Stack([provider], time=self.time)

    def number(self, name: str) -> str:
        """The configured number of the line that plays modem `name`."""
        config = self._names.get(name)
        if config is None or config.number is None:
            raise LinelabError(f"modem {name} is not one of the target's numbered lines")
        return config.number

    def _since(self) -> float:
        return round(self.time.now() - self.t0, 6)

    def at_port(self, name: str) -> TracedPort:
        port = self.at_ports.get(name)
        if port is None:
            config = self._names.get(name) or self.configs[0]
            raw = serial.serial_for_url(config.port, timeout=0)
            port = TracedPort(raw, name, self.records.append, self._since)
            self.at_ports[name] = port
        return port

    def close_at_ports(self) -> None:
        for port in self.at_ports.values():
            port.close()
        self.at_ports.clear()

    def modem_faults(self, *, ports: bool) -> list[str]:
        return []  # a real modem's hook state is not observable from here

    def advance(self, seconds: float) -> None:
        self.time.sleep(seconds)

    def close(self) -> None:
        self.close_at_ports()
        self.stack.close()


def port_provides(configs: list[LineConfig]) -> frozenset[str]:
    """What real lines provide: DTE signals too, unless a line is a pty (a pty has no
    DTR or DCD; a serial device and RFC 2217 have)."""
    ptys = [c for c in configs if os.path.realpath(c.port).startswith("/dev/pts/")]
    return PORT_PROVIDES if ptys else PORT_PROVIDES | {"signals"}


def check_reachable(configs: list[LineConfig]) -> str | None:
    """None if every configured port opens, else why not (exit status 3)."""
    register_url_handler()
    for config in configs:
        try:
            port = serial.serial_for_url(config.port, timeout=0)
        except (serial.SerialException, OSError, ValueError, LinelabError) as exc:
            return f"cannot open {config.port} ({config.name}): {exc}"
        port.close()
    return None


__all__ = ["PortWorld", "VirtualWorld", "check_reachable", "port_numbers", "port_provides"]
