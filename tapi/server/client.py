"""`ServerStack`: the flat TAPI 2.x API of `tapi.Stack`, served by `linelab tapisrv`.

Every flat function is a method with the same signature and result as `tapi.Stack`'s
(docs/tapi.md): the call goes over the socket (tapi.server.protocol) and its answer
comes back as the same tuple. The delivery an app chose in lineInitialize(Ex) happens
here, in the client process: the server only says "this app's queue is not empty"
(``ready``) and the client pulls with lineGetMessage, so the messages stay in the
server's queue until taken, and a lineClose purges them there exactly as in process.

- USEEVENT: ``hEvent`` is a local eventfd, set when the server reports messages and
  cleared once a lineGetMessage finds the queue empty;
- USEHIDDENWINDOW (and lineInitialize): one dispatcher thread per process runs the
  callbacks, one message at a time, outside every lock;
- USECOMPLETIONPORT: the same thread puts ``(dwCompletionKey, LINEMESSAGE)``.

When the server is absent or goes away every call answers LINEERR_SERVICE_NOT_RUNNING
(in the function's usual tuple shape), and a lineGetMessage blocked on it returns at once.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, cast

from tapi import constants as C
from tapi.api import FUNCTIONS
from tapi.core.args import OUT
from tapi.server import protocol as P
from tapi.stack import Stack
from tapi.structs import (
    LINEADDRESSCAPS,
    LINEADDRESSSTATUS,
    LINECALLINFO,
    LINECALLLIST,
    LINECALLSTATUS,
    LINEDEVCAPS,
    LINEDEVSTATUS,
    LINEEXTENSIONID,
    LINEINITIALIZEEXPARAMS,
    LINEMESSAGE,
    LINEREQMAKECALL,
    VARSTRING,
)

log = logging.getLogger(__name__)

#: How long connecting and the handshake may take (seconds).
CONNECT_TIMEOUT = 10.0


def _arity(name: str) -> int:
    """How many values `tapi.Stack.<name>` returns (0: a bare int)."""
    annotation = str(getattr(Stack, name).__annotations__.get("return", "int"))
    match = re.fullmatch(r"tuple\[(.*)\]", annotation.replace("\n", " "))
    if match is None:
        return 0
    depth, count = 0, 1
    for ch in match.group(1):
        depth += ch == "["
        depth -= ch == "]"
        count += ch == "," and depth == 0
    return count


_ARITY = {name: _arity(name) for name in FUNCTIONS}
_SIGNATURES = {name: inspect.signature(getattr(Stack, name)) for name in FUNCTIONS}


def failure(name: str, rc: int) -> Any:
    """`rc` in the result shape of flat function `name`."""
    n = _ARITY[name]
    return rc if n == 0 else (rc, *([None] * (n - 1)))


@dataclass(eq=False)
class _App:
    hLineApp: int
    options: int
    callback: Callable[..., object] | None = None
    port: Any = None
    key: int = 0
    event_fd: int | None = None
    ready: bool = False
    event_set: bool = False
    alive: bool = True


class _Pending:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = False
        self.reply: dict[str, Any] | None = None


class ServerStack:
    """The flat API of one client process, served by the server at `path`."""

    def __init__(self, path: str, *, status_only: bool = False) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._dead = False
        self._pending: dict[int, _Pending] = {}
        self._next_id = 1
        self._apps: dict[int, _App] = {}
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self.version: int | None = None
        self._status_only = status_only

    # -- the connection ----------------------------------------------------------------
    def connect(self) -> bool:
        """Connect now rather than at the first call (which otherwise gets
        LINEERR_SERVICE_NOT_RUNNING); False when the server cannot be reached."""
        return self._connect()

    def _connect(self) -> bool:
        """Connected (once; a lost connection stays lost: its handles died with it)."""
        with self._cond:
            if self._sock is not None:
                return True
            if self._dead or self._closed:
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect(self.path)
                hello: dict[str, Any] = {"hello": P.HELLO, "versions": list(P.VERSIONS)}
                if self._status_only:
                    hello["status"] = True
                sock.sendall(P.frame(hello))
                answer = _read_frame(sock)
                if answer.get("hello") != P.HELLO or answer.get("version") not in P.VERSIONS:
                    raise P.ProtocolError(f"handshake refused: {answer.get('error', answer)}")
                sock.settimeout(None)
            except (OSError, P.ProtocolError, EOFError) as exc:
                log.warning("tapisrv at %s: %s", self.path, exc)
                sock.close()
                return False
            self.version = int(answer["version"])
            self._sock = sock
            self._reader = threading.Thread(
                target=self._read_loop, name="tapi-client", daemon=True
            )
            self._reader.start()
            return True

    def _read_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while True:
                message = _read_frame(sock)
                with self._cond:
                    rid = message.get("id")
                    if message.get("event") == "ready":
                        app = self._apps.get(message.get("hLineApp", -1))
                        if app is not None:
                            self._set_ready(app)
                    elif isinstance(rid, int) and rid in self._pending:
                        slot = self._pending[rid]
                        slot.reply, slot.done = message, True
                    elif "error" in message:
                        log.warning("tapisrv: %s", message["error"])
                    self._cond.notify_all()
        except (OSError, EOFError, P.ProtocolError):
            pass
        with self._cond:
            self._dead = True
            for slot in self._pending.values():
                slot.done = True
            for app in self._apps.values():
                app.ready = True
                self._set_event(app, True)  # a poller wakes and finds SERVICE_NOT_RUNNING
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            sock.close()

    def _request(
        self, call: str, args: list[Any], kwargs: dict[str, Any]
    ) -> dict[str, Any] | None:
        """One request and its reply (None: the server is absent or gone)."""
        if not self._connect():
            return None
        message: dict[str, Any] = {
            "call": call,
            "args": [P.encode(a) for a in args],
            "kwargs": {k: P.encode(v) for k, v in kwargs.items()},
        }
        slot = _Pending()
        with self._cond:
            if self._dead:
                return None
            rid = self._next_id
            self._next_id += 1
            self._pending[rid] = slot
        message["id"] = rid
        try:
            data = P.frame(message)
            with self._send_lock:
                assert self._sock is not None
                self._sock.sendall(data)
            with self._cond:
                self._cond.wait_for(lambda: slot.done)
        except OSError:
            return None
        finally:
            with self._cond:
                self._pending.pop(rid, None)
        return slot.reply

    def _flat(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        _SIGNATURES[name].bind(None, *args, **kwargs)  # a wrong call is a TypeError, here
        try:
            reply = self._request(name, list(args), kwargs)
        except P.ProtocolError as exc:  # an argument the wire cannot carry
            log.error("%s: %s", name, exc)
            return failure(name, C.LINEERR_INVALPARAM)
        if reply is None or "result" not in reply:
            return failure(name, C.LINEERR_SERVICE_NOT_RUNNING)
        result = P.decode(reply["result"])
        return _fill_in(result, args, kwargs)

    # -- status ------------------------------------------------------------------------
    def status(self) -> dict[str, Any] | None:
        """The server's per-client view (`linelab tapisrv --status`)."""
        reply = self._request("$status", [], {})
        return None if reply is None else reply.get("result")

    # -- delivery ----------------------------------------------------------------------
    def _set_ready(self, app: _App) -> None:
        app.ready = True
        self._set_event(app, True)

    def _set_event(self, app: _App, on: bool) -> None:
        if app.event_fd is None or app.event_set == on:
            return
        if on:
            os.eventfd_write(app.event_fd, 1)
        else:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(app.event_fd)
        app.event_set = on

    def _pull(self, hLineApp: int) -> tuple[int, LINEMESSAGE | None]:
        app = self._apps.get(hLineApp)
        if app is not None:
            with self._cond:
                app.ready = False
        reply = self._request("lineGetMessage", [hLineApp, 0], {})
        if reply is None or "result" not in reply:
            return C.LINEERR_SERVICE_NOT_RUNNING, None
        rc, msg = P.decode(reply["result"])
        if app is not None:
            with self._cond:
                if not reply.get("more") and not app.ready:
                    self._set_event(app, False)
        return rc, msg

    def _dispatch_loop(self) -> None:
        """Callbacks and completion ports, one message at a time, outside the lock."""
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: (
                        self._dead
                        or self._closed
                        or any(a.ready and a.event_fd is None for a in self._apps.values())
                    )
                )
                if self._dead or self._closed:
                    return
                app = next(a for a in self._apps.values() if a.ready and a.event_fd is None)
            rc, msg = self._pull(app.hLineApp)
            if rc != 0 or msg is None:
                continue
            try:
                if app.callback is not None:
                    app.callback(
                        msg.hDevice,
                        msg.dwMessageID,
                        msg.dwCallbackInstance,
                        msg.dwParam1,
                        msg.dwParam2,
                        msg.dwParam3,
                    )
                elif app.port is not None:
                    app.port.put((app.key, msg))
            except Exception:  # an application bug must not kill the message pump
                log.exception("delivering %r", msg)

    def _start_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(
                target=self._dispatch_loop, name="tapi-client-callbacks", daemon=True
            )
            self._dispatcher.start()

    # -- the flat functions with a client side -----------------------------------------
    def lineInitialize(
        self,
        hInstance: object = None,
        lpfnCallback: Any = None,
        lpszAppName: str | None = None,
        *,
        lphLineApp: Any = OUT,
        lpdwNumDevs: Any = OUT,
    ) -> tuple[int, int | None, int | None]:
        if lphLineApp is None or lpdwNumDevs is None or not callable(lpfnCallback):
            return C.LINEERR_INVALPOINTER, None, None
        result = self._flat("lineInitialize", (None, None, lpszAppName), {})
        rc, hLineApp, numdevs = result
        if rc == 0 and hLineApp is not None:
            with self._cond:
                self._apps[hLineApp] = _App(
                    hLineApp, C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW, callback=lpfnCallback
                )
            self._start_dispatcher()
        return rc, hLineApp, numdevs

    def lineInitializeEx(
        self,
        hInstance: object = None,
        lpfnCallback: Any = None,
        lpszFriendlyAppName: str | None = None,
        dwAPIVersion: int | None = None,
        lpLineInitializeExParams: LINEINITIALIZEEXPARAMS | None = None,
        *,
        lphLineApp: Any = OUT,
        lpdwNumDevs: Any = OUT,
    ) -> tuple[int, int | None, int | None, int | None, LINEINITIALIZEEXPARAMS | None]:
        fail = (None, None, None, None)
        params = lpLineInitializeExParams
        if lphLineApp is None or lpdwNumDevs is None:
            return (C.LINEERR_INVALPOINTER, *fail)
        if not isinstance(params, LINEINITIALIZEEXPARAMS):
            return (C.LINEERR_INVALPOINTER, *fail)
        option = params.dwOptions & ~C.LINEINITIALIZEEXOPTION_CALLHUBTRACKING
        if option == C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW and not callable(lpfnCallback):
            return (C.LINEERR_INVALPOINTER, *fail)
        port = params.hCompletionPort
        if option == C.LINEINITIALIZEEXOPTION_USECOMPLETIONPORT and not callable(
            getattr(port, "put", None)
        ):
            return (C.LINEERR_INVALPOINTER, *fail)
        wire = LINEINITIALIZEEXPARAMS(dwTotalSize=params.dwTotalSize, dwOptions=params.dwOptions)
        rc, hLineApp, numdevs, version, out = self._flat(
            "lineInitializeEx", (None, None, lpszFriendlyAppName, dwAPIVersion, wire), {}
        )
        if rc != 0 or hLineApp is None or out is None:
            return rc, hLineApp, numdevs, version, out
        app = _App(hLineApp, option)
        if option == C.LINEINITIALIZEEXOPTION_USEEVENT:
            app.event_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        elif option == C.LINEINITIALIZEEXOPTION_USEHIDDENWINDOW:
            app.callback = lpfnCallback
        else:
            app.port, app.key = port, params.dwCompletionKey
        with self._cond:
            self._apps[hLineApp] = app
            if app.ready:
                self._set_event(app, True)
        if app.event_fd is None:
            self._start_dispatcher()
        for f in ("dwTotalSize", "dwNeededSize", "dwUsedSize"):
            setattr(params, f, getattr(out, f))
        params.hEvent = app.event_fd
        return rc, hLineApp, numdevs, version, params

    def lineShutdown(self, hLineApp: int) -> int:
        rc: int = self._flat("lineShutdown", (hLineApp,), {})
        if rc == 0:
            with self._cond:
                app = self._apps.pop(hLineApp, None)
                if app is not None:
                    app.alive = False
                    fd, app.event_fd = app.event_fd, None  # no later set on a closed fd
                    if fd is not None:
                        os.close(fd)
                self._cond.notify_all()
        return rc

    def lineGetMessage(
        self, hLineApp: int, dwTimeout: int, *, lpMessage: Any = OUT
    ) -> tuple[int, LINEMESSAGE | None]:
        """Waits up to dwTimeout ms (INFINITE = 0xFFFFFFFF) in this process; the server
        is only ever asked with time-out 0."""
        if lpMessage is None:
            return self._flat("lineGetMessage", (hLineApp, 0), {"lpMessage": None})  # type: ignore[no-any-return]
        deadline = (
            None
            if dwTimeout == C.INFINITE or type(dwTimeout) is not int
            else time.monotonic() + dwTimeout / 1000.0
        )
        while True:
            rc, msg = self._pull(hLineApp)
            if rc != C.LINEERR_OPERATIONFAILED or dwTimeout == 0:
                return rc, msg
            app = self._apps.get(hLineApp)
            if app is None:  # shut down since that pull: the server says so now
                return self._pull(hLineApp)
            with self._cond:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return rc, msg
                self._cond.wait_for(
                    lambda a=app: a.ready or not a.alive or self._dead,  # type: ignore[misc]
                    remaining,
                )
                if self._dead:
                    return C.LINEERR_SERVICE_NOT_RUNNING, None

    # -- the other flat functions: sent as they are (signatures checked in `_flat`) -----
    def lineAccept(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineAccept", args, kwargs)
        return rc

    def lineAnswer(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineAnswer", args, kwargs)
        return rc

    def lineClose(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineClose", args, kwargs)
        return rc

    def lineDeallocateCall(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineDeallocateCall", args, kwargs)
        return rc

    def lineDial(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineDial", args, kwargs)
        return rc

    def lineDrop(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineDrop", args, kwargs)
        return rc

    def lineGetAddressCaps(self, *args: Any, **kwargs: Any) -> tuple[int, LINEADDRESSCAPS | None]:
        return cast(
            "tuple[int, LINEADDRESSCAPS | None]", self._flat("lineGetAddressCaps", args, kwargs)
        )

    def lineGetAddressStatus(
        self, *args: Any, **kwargs: Any
    ) -> tuple[int, LINEADDRESSSTATUS | None]:
        return cast(
            "tuple[int, LINEADDRESSSTATUS | None]",
            self._flat("lineGetAddressStatus", args, kwargs),
        )

    def lineGetCallInfo(self, *args: Any, **kwargs: Any) -> tuple[int, LINECALLINFO | None]:
        return cast("tuple[int, LINECALLINFO | None]", self._flat("lineGetCallInfo", args, kwargs))

    def lineGetCallStatus(self, *args: Any, **kwargs: Any) -> tuple[int, LINECALLSTATUS | None]:
        return cast(
            "tuple[int, LINECALLSTATUS | None]", self._flat("lineGetCallStatus", args, kwargs)
        )

    def lineGetDevCaps(self, *args: Any, **kwargs: Any) -> tuple[int, LINEDEVCAPS | None]:
        return cast("tuple[int, LINEDEVCAPS | None]", self._flat("lineGetDevCaps", args, kwargs))

    def lineGetID(self, *args: Any, **kwargs: Any) -> tuple[int, VARSTRING | None]:
        return cast("tuple[int, VARSTRING | None]", self._flat("lineGetID", args, kwargs))

    def lineGetLineDevStatus(self, *args: Any, **kwargs: Any) -> tuple[int, LINEDEVSTATUS | None]:
        return cast(
            "tuple[int, LINEDEVSTATUS | None]", self._flat("lineGetLineDevStatus", args, kwargs)
        )

    def lineGetNewCalls(self, *args: Any, **kwargs: Any) -> tuple[int, LINECALLLIST | None]:
        return cast("tuple[int, LINECALLLIST | None]", self._flat("lineGetNewCalls", args, kwargs))

    def lineGetNumRings(self, *args: Any, **kwargs: Any) -> tuple[int, int | None]:
        return cast("tuple[int, int | None]", self._flat("lineGetNumRings", args, kwargs))

    def lineGetRequest(self, *args: Any, **kwargs: Any) -> tuple[int, LINEREQMAKECALL | None]:
        return cast(
            "tuple[int, LINEREQMAKECALL | None]", self._flat("lineGetRequest", args, kwargs)
        )

    def lineHandoff(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineHandoff", args, kwargs)
        return rc

    def lineMakeCall(self, *args: Any, **kwargs: Any) -> tuple[int, int | None]:
        return cast("tuple[int, int | None]", self._flat("lineMakeCall", args, kwargs))

    def lineNegotiateAPIVersion(
        self, *args: Any, **kwargs: Any
    ) -> tuple[int, int | None, LINEEXTENSIONID | None]:
        return cast(
            "tuple[int, int | None, LINEEXTENSIONID | None]",
            self._flat("lineNegotiateAPIVersion", args, kwargs),
        )

    def lineOpen(self, *args: Any, **kwargs: Any) -> tuple[int, int | None]:
        return cast("tuple[int, int | None]", self._flat("lineOpen", args, kwargs))

    def lineRegisterRequestRecipient(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineRegisterRequestRecipient", args, kwargs)
        return rc

    def lineSetCallParams(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineSetCallParams", args, kwargs)
        return rc

    def lineSetCallPrivilege(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineSetCallPrivilege", args, kwargs)
        return rc

    def lineSetNumRings(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineSetNumRings", args, kwargs)
        return rc

    def lineSetStatusMessages(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("lineSetStatusMessages", args, kwargs)
        return rc

    def tapiRequestMakeCall(self, *args: Any, **kwargs: Any) -> int:
        rc: int = self._flat("tapiRequestMakeCall", args, kwargs)
        return rc

    # -- life cycle --------------------------------------------------------------------
    def close(self) -> None:
        """Drop the connection: the server shuts down every app this process held."""
        with self._cond:
            self._closed = True
            sock, self._sock = self._sock, None
            self._cond.notify_all()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._reader is not None:
            self._reader.join(5.0)
        with self._cond:
            for app in self._apps.values():
                fd, app.event_fd = app.event_fd, None
                if fd is not None:
                    os.close(fd)
            self._apps.clear()
        if sock is not None:
            sock.close()

    def __enter__(self) -> ServerStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fill_in(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Copy returned structures into the caller's own (the C caller's buffer is filled
    in place, and `tapi.Stack` returns the object it was given)."""
    if not isinstance(result, tuple):
        return result
    given = [a for a in (*args, *kwargs.values()) if is_dataclass(a) and not isinstance(a, type)]
    out = list(result)
    for i, value in enumerate(out):
        if not is_dataclass(value) or isinstance(value, type):
            continue
        mine = next((g for g in given if type(g) is type(value)), None)
        if mine is not None and not type(mine).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            for f in fields(value):
                setattr(mine, f.name, getattr(value, f.name))
            out[i] = mine
            given.remove(mine)
    return tuple(out)


def _read_frame(sock: socket.socket) -> dict[str, Any]:
    header = _read_exactly(sock, P.HEADER.size)
    return P.parse(_read_exactly(sock, P.frame_length(header)))


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 16))
        if not chunk:
            raise EOFError("server closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
