"""The flat TAPI 2.x functions, as module-level functions of the default stack.

Calling convention (issue 4, docs/tapi.md): the C function's input parameters in C
order, each also by keyword; in/out scalars drop ``lp`` (``dwAPIVersion``); caller-sized
variable structures (``lpLineDevCaps``, ``lpDeviceID`` …) are arguments in C order that
default to `OUT` (one big enough is allocated); output-only pointers are left out but
may be passed as ``lpX=None`` to model a NULL pointer; the result is the C return value
(0, a negative LINEERR_*, or a positive request ID), or, for a function with outputs, a
fixed-length tuple ``(rc, out1, out2, …)`` with None outputs on failure. Each function
here is `tapi.Stack`'s method of the same name, called on `get_default_stack()`, or,
when the configuration selects a telephony server (``LINELAB_TAPI=server[:SOCKET]`` or
``server.socket`` in the line config; docs/server.md), on this process's
`tapi.server.client.ServerStack`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from tapi.stack import Stack, get_default_stack

P = ParamSpec("P")
R = TypeVar("R")


_selection_lock = threading.Lock()
_selected: list[Any] = []  # [] not decided yet; [None] in process; [ServerStack]


def selected_server() -> Any:
    """This process's `ServerStack` when the configuration selects a telephony server,
    else None (decided once, on the first flat call)."""
    with _selection_lock:
        if not _selected:
            from linelab.errors import LinelabError
            from tapi.config import server_socket

            try:
                path = server_socket()
            except LinelabError as exc:  # the in-process stack reports the bad file
                logging.getLogger("tapi").error("line configuration: %s", exc)
                path = None
            if path is None:
                _selected.append(None)
            else:
                from tapi.server.client import ServerStack
                from tapi.server.server import default_socket_path

                _selected.append(ServerStack(path or default_socket_path(create=False)))
        return _selected[0]


def _flat(method: Callable[Concatenate[Stack, P], R]) -> Callable[P, R]:
    name = method.__name__

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        server = selected_server()
        if server is not None:
            result: R = getattr(server, name)(*args, **kwargs)
            return result
        return method(get_default_stack(), *args, **kwargs)

    return call


lineInitialize = _flat(Stack.lineInitialize)
lineInitializeEx = _flat(Stack.lineInitializeEx)
lineShutdown = _flat(Stack.lineShutdown)
lineNegotiateAPIVersion = _flat(Stack.lineNegotiateAPIVersion)
lineGetDevCaps = _flat(Stack.lineGetDevCaps)
lineGetAddressCaps = _flat(Stack.lineGetAddressCaps)
lineOpen = _flat(Stack.lineOpen)
lineClose = _flat(Stack.lineClose)
lineSetStatusMessages = _flat(Stack.lineSetStatusMessages)
lineGetLineDevStatus = _flat(Stack.lineGetLineDevStatus)
lineGetAddressStatus = _flat(Stack.lineGetAddressStatus)
lineGetID = _flat(Stack.lineGetID)
lineSetNumRings = _flat(Stack.lineSetNumRings)
lineGetNumRings = _flat(Stack.lineGetNumRings)
lineGetMessage = _flat(Stack.lineGetMessage)
lineMakeCall = _flat(Stack.lineMakeCall)
lineDial = _flat(Stack.lineDial)
lineAnswer = _flat(Stack.lineAnswer)
lineAccept = _flat(Stack.lineAccept)
lineDrop = _flat(Stack.lineDrop)
lineDeallocateCall = _flat(Stack.lineDeallocateCall)
lineGetCallInfo = _flat(Stack.lineGetCallInfo)
lineGetCallStatus = _flat(Stack.lineGetCallStatus)
lineGetNewCalls = _flat(Stack.lineGetNewCalls)
lineSetCallPrivilege = _flat(Stack.lineSetCallPrivilege)
lineHandoff = _flat(Stack.lineHandoff)
lineSetCallParams = _flat(Stack.lineSetCallParams)
lineRegisterRequestRecipient = _flat(Stack.lineRegisterRequestRecipient)
lineGetRequest = _flat(Stack.lineGetRequest)
tapiRequestMakeCall = _flat(Stack.tapiRequestMakeCall)

__all__ = [
    "lineAccept",
    "lineAnswer",
    "lineClose",
    "lineDeallocateCall",
    "lineDial",
    "lineDrop",
    "lineGetAddressCaps",
    "lineGetAddressStatus",
    "lineGetCallInfo",
    "lineGetCallStatus",
    "lineGetDevCaps",
    "lineGetID",
    "lineGetLineDevStatus",
    "lineGetMessage",
    "lineGetNewCalls",
    "lineGetNumRings",
    "lineGetRequest",
    "lineHandoff",
    "lineInitialize",
    "lineInitializeEx",
    "lineMakeCall",
    "lineNegotiateAPIVersion",
    "lineOpen",
    "lineRegisterRequestRecipient",
    "lineSetCallParams",
    "lineSetCallPrivilege",
    "lineSetNumRings",
    "lineSetStatusMessages",
    "lineShutdown",
    "tapiRequestMakeCall",
]

#: The names of every flat function.
FUNCTIONS: tuple[str, ...] = tuple(__all__)
