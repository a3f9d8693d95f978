"""The telephony server: one `tapi.Stack` served to many client processes (docs/server.md).

One asyncio loop, no thread per client. Each connection is a `Client`: the HLINEAPPs it
initialised, and nothing else. Every request is one flat call into the stack, made on
the loop (the stack's calls are short: a lineGetMessage is always asked with time-out 0;
the client library does the waiting). Handles are isolated: a hLineApp, hLine or hCall
argument that is not the caller's is replaced by 0, a handle that never exists, so the
answer is exactly the never-existed one.

Delivery: every app is initialised with LINEINITIALIZEEXOPTION_USEEVENT whatever the
client asked for; its eventfd is readable exactly while its queue is not empty. The loop
watches it (``add_reader``); when it fires the client is told ``{"event": "ready"}`` and
the watch pauses until the client has pulled with lineGetMessage. The messages stay in
the core's queue until pulled, so lineClose and friends purge them exactly as in process.

When a connection ends for any reason (EOF, a bad frame, the process killed), every
HLINEAPP it held is shut down with lineShutdown: the Windows CE rule (docs/rules.md R6).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from linelab import rundir
from tapi import constants as C
from tapi.api import FUNCTIONS
from tapi.server import protocol as P
from tapi.stack import Stack
from tapi.structs import LINEINITIALIZEEXPARAMS

log = logging.getLogger(__name__)

#: Default socket name in the per-user runtime directory.
SOCKET_NAME = "tapisrv.sock"
#: How long the handshake may take (seconds) before the peer is dropped.
HANDSHAKE_TIMEOUT = 10.0

_HANDLE_ARGS = ("hLineApp", "hLine", "hCall")
_SIGNATURES = {name: inspect.signature(getattr(Stack, name)) for name in FUNCTIONS}


def default_socket_path(create: bool = True) -> str:
    """``$XDG_RUNTIME_DIR/linelab/tapisrv.sock`` (or the per-user fallback directory)."""
    return str(rundir.runtime_dir(create) / SOCKET_NAME)


@dataclass(eq=False)
class Client:
    """One connected client process."""

    pid: int
    writer: asyncio.StreamWriter
    #: hLineApp -> the eventfd of its queue (server side).
    apps: dict[int, int] = field(default_factory=dict)
    #: Apps whose eventfd is watched (not yet reported ready).
    watched: set[int] = field(default_factory=set)
    status_only: bool = False


class TapiServer:
    """Serves `stack` on a Unix socket. Create with `start_server`; `close()` ends it
    (every client's apps shut down; the stack itself is the caller's)."""

    def __init__(self, stack: Stack, path: str) -> None:
        self.stack = stack
        self.path = path
        self.clients: list[Client] = []
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: pids whose connection has ended and whose apps were shut down (`wait_dropped`).
        self.dropped: set[int] = set()
        #: Connections ended so far, whoever they were (`wait_drops`).
        self.drops = 0
        self._dropped_event: asyncio.Event | None = None

    # -- connections -------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            pid, uid, _gid = rundir.peer_credentials(sock)
        except OSError:
            pid, uid = 0, -1
        if uid != os.getuid():
            log.warning("tapisrv: refused pid %d of uid %d (not ours)", pid, uid)
            await self._send_and_close(writer, {"error": f"uid {uid} is not allowed"})
            return
        client = Client(pid, writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            hello = await asyncio.wait_for(self._read(reader), HANDSHAKE_TIMEOUT)
            version = self._handshake(hello)
            client.status_only = hello.get("status") is True
            await self._send(writer, {"hello": P.HELLO, "version": version})
            self.clients.append(client)
            while True:
                message = await self._read(reader)
                await self._send(writer, self._answer(client, message))
        except asyncio.IncompleteReadError as exc:
            if exc.partial:  # it hung up in the middle of a frame: say so, if it listens
                log.warning("tapisrv: client pid %d: truncated frame; disconnecting it", pid)
                await self._send_and_close(writer, {"error": "truncated frame"})
            # else the peer went away between frames (exit, kill, close): apps go below
        except (ConnectionError, EOFError):
            pass  # the peer went away (exit, kill, close): its apps go below
        except (P.ProtocolError, TimeoutError) as exc:
            log.warning("tapisrv: client pid %d: %s; disconnecting it", pid, exc)
            await self._send_and_close(writer, {"error": str(exc) or "handshake timed out"})
        except Exception as exc:  # a bug serving one client must not stop the others
            log.exception("tapisrv: serving pid %d failed; disconnecting it", pid)
            await self._send_and_close(writer, {"error": f"internal error: {exc}"})
        finally:
            self._drop(client)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    @staticmethod
    def _handshake(hello: dict[str, Any]) -> int:
        versions = hello.get("versions")
        if hello.get("hello") != P.HELLO or not isinstance(versions, list):
            raise P.ProtocolError("expected a handshake {hello, versions}")
        common = [v for v in versions if type(v) is int and v in P.VERSIONS]
        if not common:
            raise P.ProtocolError(
                f"no common wire version: client {versions!r:.60}, server {list(P.VERSIONS)}"
            )
        return max(common)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> dict[str, Any]:
        header = await reader.readexactly(P.HEADER.size)
        length = P.frame_length(header)
        return P.parse(await reader.readexactly(length))

    async def _send(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(P.frame(message))
        await writer.drain()

    async def _send_and_close(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._send(writer, message), 2.0)
        writer.close()

    def _notify(self, client: Client, message: dict[str, Any]) -> None:
        if not client.writer.is_closing():
            client.writer.write(P.frame(message))

    def _drop(self, client: Client) -> None:
        """The connection ended: shut down every app it held (as lineShutdown would)."""
        if client in self.clients:
            self.clients.remove(client)
        for hLineApp in list(client.apps):
            self._unwatch(client, hLineApp)
            rc = self.stack.lineShutdown(hLineApp)
            if rc != 0:
                log.warning(
                    "tapisrv: lineShutdown(%#x) of dead pid %d: %d", hLineApp, client.pid, rc
                )
        client.apps.clear()
        self.dropped.add(client.pid)
        self.drops += 1
        if self._dropped_event is not None:
            self._dropped_event.set()

    async def wait_dropped(self, pid: int) -> None:
        """Return once the connection of process `pid` has ended and its apps are shut
        down (a harness that killed the process waits here; no timer, no polling)."""
        while pid not in self.dropped:
            if self._dropped_event is None:
                self._dropped_event = asyncio.Event()
            self._dropped_event.clear()
            await self._dropped_event.wait()

    async def wait_drops(self, count: int) -> None:
        """Return once `count` connections in all have ended and their apps are shut
        down (for clients in one process, which share a pid: a harness that closed one
        connection waits for its count)."""
        while self.drops < count:
            if self._dropped_event is None:
                self._dropped_event = asyncio.Event()
            self._dropped_event.clear()
            await self._dropped_event.wait()

    # -- delivery ----------------------------------------------------------------------
    def _watch(self, client: Client, hLineApp: int) -> None:
        fd = client.apps.get(hLineApp)
        if fd is None or hLineApp in client.watched or self._loop is None:
            return
        client.watched.add(hLineApp)
        self._loop.add_reader(fd, self._ready, client, hLineApp)

    def _unwatch(self, client: Client, hLineApp: int) -> None:
        fd = client.apps.get(hLineApp)
        if hLineApp in client.watched and fd is not None and self._loop is not None:
            self._loop.remove_reader(fd)
        client.watched.discard(hLineApp)

    def _ready(self, client: Client, hLineApp: int) -> None:
        self._unwatch(client, hLineApp)
        self._notify(client, {"event": "ready", "hLineApp": hLineApp})

    # -- requests ----------------------------------------------------------------------
    def _answer(self, client: Client, message: dict[str, Any]) -> dict[str, Any]:
        rid = message.get("id")
        name = message.get("call")
        if type(rid) is not int or not isinstance(name, str):
            raise P.ProtocolError("a request needs an integer id and a call name")
        if name == "$status":
            return {"id": rid, "result": self.status(exclude=client)}
        if name not in _SIGNATURES:
            raise P.ProtocolError(f"no such function {name!r:.60}")
        args = P.decode(message.get("args", []))
        raw_kwargs = message.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(raw_kwargs, dict):
            raise P.ProtocolError("args must be a list and kwargs an object")
        kwargs = {str(k): P.decode(v) for k, v in raw_kwargs.items()}
        try:
            bound = _SIGNATURES[name].bind(None, *args, **kwargs)
        except TypeError as exc:
            raise P.ProtocolError(f"{name}: {exc}") from None
        result, extra = self._call(client, name, bound.arguments)
        reply: dict[str, Any] = {"id": rid, "result": P.encode(result, strict=False)}
        reply.update(extra)
        return reply

    def _call(
        self, client: Client, name: str, arguments: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        arguments.pop(next(iter(arguments)))  # the unbound `self`
        self._isolate(client, arguments)
        method: Callable[..., Any] = getattr(self.stack, name)
        if name in ("lineInitialize", "lineInitializeEx"):
            return self._initialize(client, name, arguments), {}
        if name == "lineShutdown":
            hLineApp = arguments.get("hLineApp")
            if hLineApp in client.apps:
                self._unwatch(client, hLineApp)
            rc = method(**arguments)
            if rc == 0 and hLineApp in client.apps:
                del client.apps[hLineApp]
            elif hLineApp in client.apps:
                self._watch(client, hLineApp)
            return rc, {}
        if name == "lineGetMessage":
            arguments["dwTimeout"] = 0  # never block the loop: the client waits
            result = method(**arguments)
            hLineApp = arguments.get("hLineApp")
            more = False
            if hLineApp in client.apps:
                more = bool(self.stack.pending_messages(hLineApp))
                self._watch(client, hLineApp)
            return result, {"more": more}
        return method(**arguments), {}

    def _isolate(self, client: Client, arguments: dict[str, Any]) -> None:
        """Replace a handle that is not this client's by 0 (a handle that never exists)."""
        if "hLineApp" in arguments and arguments["hLineApp"] not in client.apps:
            arguments["hLineApp"] = 0
        if "hLine" in arguments or "hCall" in arguments:
            tree = self.stack.hierarchy(apps=list(client.apps))
            lines = {line.hLine for app in tree.apps for line in app.lines}
            calls = {call.hCall for app in tree.apps for line in app.lines for call in line.calls}
            if "hLine" in arguments and arguments["hLine"] not in lines:
                arguments["hLine"] = 0
            if "hCall" in arguments and arguments["hCall"] not in calls:
                arguments["hCall"] = 0

    def _initialize(self, client: Client, name: str, arguments: dict[str, Any]) -> Any:
        """Every app is USEEVENT on the server; the client delivers as it asked."""
        appname = arguments.get("lpszFriendlyAppName", arguments.get("lpszAppName"))
        if name == "lineInitialize":
            version: Any = C.TAPI_VERSION1_0  # as lineInitialize itself
            asked: Any = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW)
        else:
            version = arguments.get("dwAPIVersion")
            asked = arguments.get("lpLineInitializeExParams")
        if not isinstance(asked, LINEINITIALIZEEXPARAMS):
            return self.stack.lineInitializeEx(None, None, appname, version, asked)
        params = LINEINITIALIZEEXPARAMS(
            dwTotalSize=asked.dwTotalSize,
            dwOptions=(asked.dwOptions & C.LINEINITIALIZEEXOPTION_CALLHUBTRACKING)
            | C.LINEINITIALIZEEXOPTION_USEEVENT,
        )
        outs = {k: v for k, v in arguments.items() if k in ("lphLineApp", "lpdwNumDevs")}
        rc, hLineApp, numdevs, api, out = self.stack.lineInitializeEx(
            None, None, appname, version, params, **outs
        )
        if rc == 0 and hLineApp is not None and out is not None and out.hEvent is not None:
            client.apps[hLineApp] = out.hEvent
            self._watch(client, hLineApp)
            out.dwOptions = asked.dwOptions
            out.hEvent = None
        if name == "lineInitialize":
            return rc, hLineApp, numdevs
        return rc, hLineApp, numdevs, api, out

    # -- what it holds -----------------------------------------------------------------
    def status(self, exclude: Client | None = None) -> dict[str, Any]:
        """Per client: pid, apps, lines, calls, pending messages, fds and threads held
        for it (its socket and one eventfd per app; no thread)."""
        out = []
        for client in self.clients:
            if client is exclude or client.status_only:
                continue
            counts = self.stack.hierarchy(apps=list(client.apps)).counts()
            out.append(
                {
                    "pid": client.pid,
                    "apps": len(client.apps),
                    "lines": counts["lines"],
                    "calls": counts["calls"],
                    "messages": counts["messages"],
                    "fds": 1 + len(client.apps),
                    "threads": 0,
                }
            )
        return {"clients": out}

    # -- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        rundir.remove_stale_socket(self.path)
        with rundir.private_umask():
            self._server = await asyncio.start_unix_server(
                self._serve, self.path, limit=P.MAX_FRAME + P.HEADER.size
            )
        os.chmod(self.path, 0o600)

    async def aclose(self) -> None:
        """Stop accepting, end every connection (their apps shut down), remove the socket."""
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.writer.close()
            self._drop(client)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


async def start_server(stack: Stack, path: str | None = None) -> TapiServer:
    """Serve `stack` at `path` (default `default_socket_path()`) on the running loop."""
    server = TapiServer(stack, os.path.abspath(path) if path else default_socket_path())
    await server.start()
    return server
