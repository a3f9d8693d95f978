"""The control socket of a running `linelab modem`: how `linelab call` reaches it.

Each `linelab modem` process serves one Unix socket on its ModemHost's event loop and
registers it, so that another process can find which process owns a LINK:

- the directory is ``$XDG_RUNTIME_DIR/linelab/``, or, without a usable runtime dir,
  ``<tempdir>/linelab-<uid>/`` (`default_control_dir()`); it is created mode 0700 and
  refused if another user owns it or others may write to it;
- the socket is ``<dir>/<pid>.sock``, mode 0600; every connection's peer uid is read
  with ``SO_PEERCRED`` and must equal ours, else the connection is closed with an error;
- the registry entry is ``<dir>/<pid>.json``: ``{"pid", "socket", "links": [{"link",
  "number"}]}`` plus the process's start time and the boot id, written atomically,
  removed at close. A pid is reused once its process is gone, so an entry counts only
  while the process with that pid started at the recorded time in this boot; any
  other entry is stale. Whenever the registry is read or written, stale entries and
  their sockets are removed, as are sockets that nothing serves any more (a
  `linelab modem` killed with SIGKILL leaves both behind).

The protocol is JSON lines, one request and one response per line:

    → {"op": "call", "to": "/tmp/modemA", "from": "5551234", "name": "DOE JOHN",
       "then": "answer,echo"}
    ← {"ok": true, "number": "1001"}
    → {"op": "status"}
    ← {"ok": true, "pid": 4242, "modems": [{"link": …, "number": …, "state": …,
       "signals": {"dcd": false, "ri": false, "dsr": true, "cts": true}}]}
    ← {"ok": false, "error": "no modem on link '/tmp/x' in this process"}

A call may carry ``"rings": N`` (the caller gives up after N unanswered rings) and
``"timeout": S`` (it hangs up after S seconds of modem time, whatever the state); its
answer then has ``"call": ID``. Three more requests follow such a call:

    → {"op": "call_status", "call": 3}
    ← {"ok": true, "call": 3, "to": "1001", "state": "ringing", "outcome": null,
       "rings": 2, "rate": null, "duration": null}
    → {"op": "cancel", "call": 3}             (hang up now; the answer is its status)
    → {"op": "watch", "call": 3}              (a status line now and after every
                                               change, until the call has ended)

A ``call`` request with ``"watch": true`` is answered as usual and then followed, on
the same connection, by the status lines of a ``watch`` (so no change is missed
between placing the call and watching it).

``state`` is ``dialing``, ``ringing``, ``answered`` or ``ended``; ``outcome`` (once
ended) is one of `emulator.network.exchange.PlacedCall.OUTCOMES`.

``to`` is a LINK path (matched after `os.path.abspath`), a modem name or a number;
``from`` is a number, ``P`` (private) or ``O`` (out of area); ``then`` is a far-end
behaviour for the caller once the modem answers (`emulator.network.farend`). Every request is
handled on the host's loop, so the exchange is only ever touched from its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from emulator.network.exchange import PlacedCall
from emulator.network.farend import validate_for_caller
from emulator.network.subscriberline import CallerId
from emulator.transports.host import ModemHost
from linelab import rundir
from linelab.errors import LinelabError

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
NUMBER = re.compile(r"[0-9*#+]{1,32}")


# How long a refused peer may take to send the request it came with (seconds).
_REFUSAL_DRAIN = 2.0


class ControlError(LinelabError):
    """The control socket cannot be found, reached or used."""


# -- what the server needs from its host ---------------------------------------------


@dataclass(frozen=True)
class LinkInfo:
    """One modem as the control socket shows it."""

    link: str | None  # absolute path of its pty symlink, None when it has none
    name: str
    number: str
    state: str = ""
    signals: dict[str, bool] | None = None


class CallPlacer(Protocol):
    def place_call(self, to: str, caller: CallerId, then: str | None = None) -> object: ...


class CallTracker(Protocol):
    """What an exchange offers beyond `CallPlacer` to follow its placed calls
    (`emulator.network.exchange.Exchange`)."""

    def place_call(
        self,
        to: str,
        caller: CallerId,
        then: str | None = None,
        *,
        ring_limit: int | None = None,
        timeout: float | None = None,
    ) -> PlacedCall: ...

    def placed_call(self, call_id: int) -> PlacedCall | None: ...


class ControlHost(Protocol):
    """The host side of the control socket. `HostLinks` adapts a `ModemHost`; tests may
    use any object with these two members."""

    @property
    def exchange(self) -> CallPlacer: ...

    def control_links(self) -> Sequence[LinkInfo]: ...


class HostLinks:
    """A `ModemHost` seen by the control socket, with each modem's LINK path.

    `links` maps a modem name to the path of its pty symlink; `set_link()` adds one
    later (then call `ControlServer.update_registry()`). Read on the loop thread only."""

    def __init__(self, host: ModemHost, links: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.links = {name: os.path.abspath(path) for name, path in (links or {}).items()}

    @property
    def exchange(self) -> CallPlacer:
        return self.host.exchange

    def set_link(self, name: str, path: str | None) -> None:
        if path is None:
            self.links.pop(name, None)
        else:
            self.links[name] = os.path.abspath(path)

    def control_links(self) -> list[LinkInfo]:
        out = []
        for name, modem in self.host.modems.items():
            signals = modem.signals
            out.append(
                LinkInfo(
                    self.links.get(name),
                    name,
                    modem.number,
                    modem.engine.state,
                    {"dcd": signals.dcd, "ri": signals.ri, "dsr": signals.dsr, "cts": signals.cts},
                )
            )
        return out


# -- the directory and the registry --------------------------------------------------


def default_control_dir(create: bool = True) -> Path:
    """Where control sockets and registry entries live (created 0700 when `create`)."""
    return rundir.runtime_dir(create, ControlError)


def ensure_private_dir(path: Path) -> None:
    """Create `path` mode 0700, or check an existing one is ours and private."""
    rundir.ensure_private_dir(path, ControlError)


@dataclass(frozen=True)
class RegistryEntry:
    """One running `linelab modem` process as its registry file describes it."""

    pid: int
    socket: str
    links: tuple[LinkInfo, ...]
    path: Path


# -- who a pid is ----------------------------------------------------------------------
# A pid alone names a process only until it exits: the kernel hands the number to the
# next program. A registry entry therefore also records the process's start time (field
# 22 of /proc/<pid>/stat, clock ticks since boot) and the boot id, and an entry counts
# only while the process with that pid started at that time in this boot.

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_SOCKET = re.compile(r"(?P<pid>[0-9]{1,10})\.sock")
_PARTIAL = re.compile(r"\.(?P<pid>[0-9]{1,10})\.json\.tmp")


def process_start_time(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None if there is none."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may itself hold ") ".
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return ""


def process_identity(pid: int) -> dict[str, Any] | None:
    """What a registry entry records about process `pid` to recognise it later."""
    start = process_start_time(pid)
    return None if start is None else {"pid": pid, "start_time": start, "boot_id": boot_id()}


def _is_recorded_process(raw: Mapping[str, Any], pid: int) -> bool:
    """Whether the process `raw` (a registry entry) describes is still running."""
    start = raw.get("start_time")
    if isinstance(start, bool) or not isinstance(start, int):
        return False  # no way to tell it from a later process with the same pid
    if raw.get("boot_id", "") != boot_id():
        return False
    return process_start_time(pid) == start


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def _socket_answers(path: str) -> bool:
    """Whether something listens on the Unix socket at `path` (without talking to it:
    a connect that is refused means its server is gone)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError, NotADirectoryError):
            return False
        except BlockingIOError:
            return True  # a full backlog: someone is there
        except OSError:
            return True  # cannot tell: leave it alone
    return True


def _remove_dead_socket(path: str) -> None:
    """Remove the socket file at `path` if it is ours and nothing serves it."""
    try:
        info = os.lstat(path)
    except (OSError, ValueError):
        return
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        return
    if not _socket_answers(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
            log.info("removed the control socket %s of a process that is gone", path)


def _load_entry(path: Path) -> tuple[dict[str, Any], RegistryEntry] | None:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        pid = int(raw["pid"])
        sock = str(raw["socket"])
        links = tuple(
            LinkInfo(item.get("link"), str(item.get("name", "")), str(item["number"]))
            for item in raw["links"]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return raw, RegistryEntry(pid, sock, links, path)


def read_registry(directory: Path | None = None) -> list[RegistryEntry]:
    """Entries of running linelab processes. Entries of processes that are gone (or
    whose pid now belongs to another program) are removed with their sockets, as are
    sockets and half-written entries nothing owns any more; unreadable files are
    skipped."""
    directory = default_control_dir(create=False) if directory is None else directory
    entries: list[RegistryEntry] = []
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return entries
    entry_pids = {os.getpid()}
    for name in names:
        if not name.endswith(".json"):
            continue
        path = directory / name
        loaded = _load_entry(path)
        if loaded is None:
            log.debug("skipping unreadable registry entry %s", path)
            continue
        raw, entry = loaded
        if _is_recorded_process(raw, entry.pid):
            entries.append(entry)
            entry_pids.add(entry.pid)
            continue
        if not _pid_alive(entry.pid) or "start_time" in raw:
            # Gone, or its pid was reused: the entry and its socket are stale. An entry
            # of an older linelab (no start time) whose pid runs is only ignored.
            with contextlib.suppress(OSError):
                path.unlink()
            _remove_dead_socket(entry.socket)
    for name in names:
        match = _SOCKET.fullmatch(name) or _PARTIAL.fullmatch(name)
        if match is None or int(match["pid"]) in entry_pids:
            continue
        path = directory / name
        if name.endswith(".sock"):
            _remove_dead_socket(str(path))
        elif process_start_time(int(match["pid"])) is None:
            with contextlib.suppress(OSError):
                path.unlink()
    return entries


def find_owner(link: str, directory: Path | None = None) -> RegistryEntry | None:
    """The live process whose modems include LINK (a path, matched absolutely)."""
    wanted = os.path.abspath(link)
    for entry in read_registry(directory):
        if any(info.link == wanted for info in entry.links):
            return entry
    return None


def _write_registry(path: Path, socket_path: str, links: Sequence[LinkInfo]) -> None:
    # Writing is also when leftovers of killed processes are cleared.
    read_registry(path.parent)
    body = {
        **(process_identity(os.getpid()) or {"pid": os.getpid()}),
        "socket": socket_path,
        "links": [{"link": i.link, "name": i.name, "number": i.number} for i in links],
    }
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(body, handle)
    os.replace(tmp, path)


# -- the server ----------------------------------------------------------------------


peer_uid = rundir.peer_uid


Handler = Callable[["ControlServer", dict[str, Any]], dict[str, Any]]


class ControlServer:
    """A running control socket. Create it with `start_control_server`."""

    def __init__(self, host: ControlHost, path: str, registry: Path | None) -> None:
        self.host = host
        self.path = path
        self.registry = registry
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.allowed_uid = os.getuid()

    def update_registry(self) -> None:
        """Rewrite the registry entry (call after adding or removing modems)."""
        if self.registry is not None:
            _write_registry(self.registry, self.path, self.host.control_links())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else -1
            if uid != self.allowed_uid:
                log.warning("control socket: refused a connection from uid %s", uid)
                await self._reply(writer, {"ok": False, "error": "permission denied"})
                # Read (and ignore) the request before closing: a Unix socket closed
                # with unread data resets the peer, which would then lose the reply.
                with contextlib.suppress(
                    asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
                ):
                    await asyncio.wait_for(reader.readuntil(b"\n"), _REFUSAL_DRAIN)
                return
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    await self._reply(writer, {"ok": False, "error": "request too long"})
                    return
                watched = self._watch_request(line)
                if isinstance(watched, dict):  # a call placed with "watch": true
                    await self._reply(writer, watched)
                    placed = _placed(self, {"call": watched.get("call")})
                    if watched.get("ok") and isinstance(placed, PlacedCall):
                        await self._watch(writer, placed)
                    return
                if watched is not None:
                    await self._watch(writer, watched)
                    return
                await self._reply(writer, self.handle_line(line))
        except (ConnectionError, OSError) as exc:
            log.debug("control connection ended: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    def _watch_request(self, line: bytes) -> PlacedCall | dict[str, Any] | None:
        """For a well-formed ``watch`` request, the call it names; for a ``call`` request
        with ``"watch": true``, the call's answer (the call is placed now). None for
        everything else, which handle_line answers (errors of these two included)."""
        try:
            request: Any = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(request, dict):
            return None
        if request.get("op") == "call" and request.get("watch") is True:
            return self.handle_line(line)
        if request.get("op") != "watch":
            return None
        found = _placed(self, request)
        return found if isinstance(found, PlacedCall) else None

    async def _watch(self, writer: asyncio.StreamWriter, call: PlacedCall) -> None:
        """Send the call's status now and after every change until it has ended. Each
        change is sent (a snapshot taken when it happened), so a quick ring-then-answer
        is never seen as just "answered"."""
        loop = asyncio.get_running_loop()
        changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def changed(c: PlacedCall) -> None:
            loop.call_soon_threadsafe(changes.put_nowait, c.status())

        call.add_listener(changed)
        try:
            status = call.status()
            last: dict[str, Any] | None = None
            while True:
                if status != last:
                    await self._reply(writer, {"ok": True, **status})
                    last = status
                if status["state"] == "ended":
                    return
                status = await changes.get()
        finally:
            call.remove_listener(changed)

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, response: dict[str, Any]) -> None:
        writer.write(json.dumps(response).encode() + b"\n")
        await writer.drain()

    def handle_line(self, line: bytes) -> dict[str, Any]:
        """One request line to one response (a caller mistake is a response, not a raise)."""
        try:
            request: Any = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"ok": False, "error": "request is not JSON"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        handler = _HANDLERS.get(str(request.get("op")))
        if handler is None:
            return {"ok": False, "error": f"unknown op {request.get('op')!r}"}
        try:
            return handler(self, request)
        except LinelabError as exc:
            return {"ok": False, "error": str(exc)}

    def resolve(self, to: str) -> LinkInfo | None:
        """The modem a request means by `to`: LINK path, modem name or number."""
        links = self.host.control_links()
        absolute = os.path.abspath(to) if "/" in to else None
        for info in links:
            if absolute is not None and info.link == absolute:
                return info
        for info in links:
            if to in (info.name, info.number):
                return info
        return None

    def close(self) -> None:
        """Stop serving and remove the socket and registry entry (idempotent)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for leftover in (self.path, self.registry):
            if leftover is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    async def aclose(self) -> None:
        """close(), then end every open connection and wait until they have."""
        server = self._server
        self.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        if server is not None:
            await server.wait_closed()


def caller_from(source: str, name: str | None) -> CallerId:
    """A CallerId from ``--from NUMBER|P|O`` and ``--name``."""
    if source in ("P", "O"):
        return CallerId(None, name, number_absent=source, name_absent=None if name else source)
    if not NUMBER.fullmatch(source):
        raise ControlError(f"bad caller number {source!r} (digits, or P or O)")
    return CallerId(source, name)


def _op_call(server: ControlServer, request: dict[str, Any]) -> dict[str, Any]:
    to, source = request.get("to"), request.get("from")
    name, then = request.get("name"), request.get("then")
    rings, timeout = request.get("rings"), request.get("timeout")
    if not isinstance(to, str) or not isinstance(source, str):
        return {"ok": False, "error": "call needs 'to' and 'from' as text"}
    if name is not None and not isinstance(name, str):
        return {"ok": False, "error": "'name' must be text"}
    if then is not None and not isinstance(then, str):
        return {"ok": False, "error": "'then' must be a behaviour string"}
    if rings is not None and (isinstance(rings, bool) or not isinstance(rings, int)):
        return {"ok": False, "error": "'rings' must be a whole number"}
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        return {"ok": False, "error": "'timeout' must be a number of seconds"}
    target = server.resolve(to)
    if target is None:
        return {"ok": False, "error": f"no modem {to!r} in this process"}
    behaviour = str(validate_for_caller(then)) if then else None
    caller = caller_from(source, name)
    exchange = server.host.exchange
    if rings is None and timeout is None:
        placed = exchange.place_call(target.number, caller, behaviour)
    else:
        limits: dict[str, Any] = {"ring_limit": rings, "timeout": timeout}
        placed = exchange.place_call(target.number, caller, behaviour, **limits)
    answer: dict[str, Any] = {"ok": True, "number": target.number, "link": target.link}
    if isinstance(placed, PlacedCall):
        answer["call"] = placed.id
    return answer


def _placed(server: ControlServer, request: dict[str, Any]) -> PlacedCall | dict[str, Any]:
    call_id = request.get("call")
    if isinstance(call_id, bool) or not isinstance(call_id, int):
        return {"ok": False, "error": "'call' must be the number a call request answered"}
    lookup = getattr(server.host.exchange, "placed_call", None)
    found = lookup(call_id) if lookup is not None else None
    if not isinstance(found, PlacedCall):
        return {"ok": False, "error": f"no call {call_id} in this process"}
    return found


def _op_call_status(server: ControlServer, request: dict[str, Any]) -> dict[str, Any]:
    found = _placed(server, request)
    return {"ok": True, **found.status()} if isinstance(found, PlacedCall) else found


def _op_cancel(server: ControlServer, request: dict[str, Any]) -> dict[str, Any]:
    to = request.get("to")
    if "call" not in request and isinstance(to, str):
        # Every call still going on to one modem.
        target = server.resolve(to)
        if target is None:
            return {"ok": False, "error": f"no modem {to!r} in this process"}
        placed_calls = getattr(server.host.exchange, "placed_calls", None)
        calls: list[object] = list(placed_calls()) if placed_calls is not None else []
        cancelled = []
        for call in calls:
            if isinstance(call, PlacedCall) and call.to == target.number and not call.ended:
                call.cancel()
                cancelled.append(call.id)
        return {"ok": True, "cancelled": cancelled}
    found = _placed(server, request)
    if not isinstance(found, PlacedCall):
        return found
    found.cancel()
    return {"ok": True, **found.status()}


def _op_watch(server: ControlServer, request: dict[str, Any]) -> dict[str, Any]:
    # A good watch request streams (ControlServer._watch); only errors reach here.
    found = _placed(server, request)
    return {"ok": True, **found.status()} if isinstance(found, PlacedCall) else found


def _op_status(server: ControlServer, request: dict[str, Any]) -> dict[str, Any]:
    modems = [
        {
            "link": i.link,
            "name": i.name,
            "number": i.number,
            "state": i.state,
            "signals": i.signals or {},
        }
        for i in server.host.control_links()
    ]
    return {"ok": True, "pid": os.getpid(), "modems": modems}


_HANDLERS: dict[str, Handler] = {
    "call": _op_call,
    "call_status": _op_call_status,
    "cancel": _op_cancel,
    "watch": _op_watch,
    "status": _op_status,
}


async def start_control_server(
    host: ModemHost | ControlHost,
    path: str | os.PathLike[str] | None = None,
    *,
    links: Mapping[str, str] | None = None,
    register: bool = True,
) -> ControlServer:
    """Serve `host`'s control socket on the running loop (await it on the host's loop;
    from another thread use ``asyncio.run_coroutine_threadsafe(..., host.loop)``).

    `host` is a `ModemHost` (wrapped in `HostLinks` with `links`, modem name -> LINK
    path) or any `ControlHost`. `path` defaults to ``<default_control_dir()>/<pid>.sock``.
    With `register`, a registry entry listing the modems (and the socket's path, wherever
    it is) is written to `default_control_dir()` so `linelab call LINK` finds this
    process; `ControlServer.close()` removes both.
    """
    target: ControlHost = HostLinks(host, links) if isinstance(host, ModemHost) else host
    # The registry entry always goes to the default directory, even for a socket at
    # `path`: that is where `linelab call LINK` and `linelab modem` look for owners.
    directory = default_control_dir() if register or path is None else None
    if path is None:
        assert directory is not None
        sock_path = str(directory / f"{os.getpid()}.sock")
    else:
        sock_path = os.path.abspath(path)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(sock_path).st_mode):
            os.unlink(sock_path)  # a leftover of a dead process with our pid
    registry = directory / f"{os.getpid()}.json" if register and directory else None
    server = ControlServer(target, sock_path, registry)
    # The umask makes the socket 0600 from birth: no window where others could connect.
    old = os.umask(0o177)
    try:
        server._server = await asyncio.start_unix_server(
            server._serve, sock_path, limit=MAX_REQUEST
        )
    except (OSError, ValueError) as exc:
        # A directory that is not there, a path too long for AF_UNIX (108 bytes),
        # something else already at the path.
        problem = getattr(exc, "strerror", None) or str(exc)
        raise ControlError(f"cannot serve the control socket {sock_path}: {problem}") from None
    finally:
        os.umask(old)
    os.chmod(sock_path, 0o600)
    server.update_registry()
    return server


# -- the client ----------------------------------------------------------------------


def request(path: str, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to the control socket at `path` and return its response."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            # A refusing server answers and closes at once: read its answer anyway.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except FileNotFoundError:
            raise ControlError(f"no control socket at {path}") from None
        except ConnectionRefusedError:
            raise ControlError(f"nothing is serving the control socket {path}") from None
        except TimeoutError:
            raise ControlError(f"control socket {path} did not answer in {timeout} s") from None
        except OSError as exc:
            raise ControlError(f"control socket {path}: {exc.strerror or exc}") from None
    try:
        response: Any = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ControlError(f"control socket {path} gave a malformed answer") from None
    if not isinstance(response, dict):
        raise ControlError(f"control socket {path} gave a malformed answer")
    return response


def watch(path: str, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Send a ``watch`` request and yield each status line until the server closes
    (after the call has ended). Raises ControlError if the server goes away first."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
            sock.sendall(json.dumps(message).encode() + b"\n")
        except FileNotFoundError:
            raise ControlError(f"no control socket at {path}") from None
        except OSError as exc:
            raise ControlError(f"control socket {path}: {exc.strerror or exc}") from None
        buffer = b""
        while True:
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                try:
                    status: Any = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise ControlError(f"control socket {path} gave a malformed answer") from None
                if not isinstance(status, dict):
                    raise ControlError(f"control socket {path} gave a malformed answer")
                yield status
                if not status.get("ok") or status.get("state") == "ended":
                    return
                if "state" not in status and "call" not in status:
                    return  # a one-line answer (an older server, or no call to follow)
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                raise ControlError(f"control socket {path}: {exc.strerror or exc}") from None
            if not chunk:
                raise ControlError(f"the modem process behind {path} went away")
            buffer += chunk
