"""A scenario's client process: an app of kind ``process`` (docs/scenarios.md, "Client
apps: the server and other processes").

``python -m scenarios.clientproc SOCKET`` connects a `tapi.server.ServerStack` to the
scenario's telephony server and then does what the runner tells it, one request per
line on stdin, one answer per line on stdout (JSON):

- first it writes ``{"ready": PID}`` once connected (or ``{"error": ...}`` and exits 1);
- ``{"call": NAME, "args": [...], "kwargs": {...}}`` calls the flat function NAME of
  the ServerStack; values travel in the server's wire encoding (`tapi.server.protocol`:
  structures, tuples and bytes survive), and the answer is ``{"result": ...}``, or
  ``{"error": "..."}`` when the call itself raised;
- end of input (the runner closed the pipe) closes the ServerStack and exits 0.

The runner kills it with SIGKILL for a ``kill:`` step: that is the point of a separate
process, since only a real death shows that the server shuts the apps down (rules R6).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO

from tapi.server import protocol as P
from tapi.server.client import ServerStack

#: What a runner may call: the flat API, nothing else of the object.
_CALLABLE_PREFIXES = ("line", "tapi")


def _answer(stack: ServerStack, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or not isinstance(request.get("call"), str):
        return {"error": "a request is {call, args, kwargs}"}
    name = request["call"]
    method = getattr(stack, name, None) if name.startswith(_CALLABLE_PREFIXES) else None
    if method is None or not callable(method):
        return {"error": f"no flat function {name!r:.60}"}
    args = P.decode(request.get("args", []))
    kwargs = {str(k): P.decode(v) for k, v in dict(request.get("kwargs", {})).items()}
    try:
        result = method(*args, **kwargs)
    except Exception as exc:  # the runner reports it as a harness error
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"result": P.encode(result, strict=False)}


def serve(path: str, inp: TextIO, out: TextIO) -> int:
    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    stack = ServerStack(path)
    if not stack.connect():  # the reason is logged on stderr, which the runner keeps
        stack.close()
        say({"error": f"cannot reach the server at {path}"})
        return 1
    try:
        say({"ready": os.getpid()})
        for line in inp:
            try:
                request = json.loads(line)
            except ValueError:
                say({"error": "not a JSON line"})
                continue
            say(_answer(stack, request))
    finally:
        stack.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m scenarios.clientproc SOCKET", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return serve(args[0], sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
