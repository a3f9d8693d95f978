"""`linelab tapisrv [--config F] [--socket P]`: the telephony server (docs/server.md).

Owns the providers (a `tapi.Stack` built from the line configuration) and serves the
flat TAPI 2.x API to many client processes over a Unix socket, by default
``$XDG_RUNTIME_DIR/linelab/tapisrv.sock`` (per-user fallback directory without one).
Prints ``READY socket=PATH`` once serving; SIGINT or SIGTERM ends it cleanly (every
client's apps shut down, the modems hung up, the socket removed).

``--status [--json]`` asks a running server what it holds, per client process.

Exit status: 0 clean exit (or status printed); 1 the server could not be reached
(--status) or could not start; 2 a bad configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from linelab.errors import LinelabError
from tapi.config import default_stack
from tapi.server.client import ServerStack
from tapi.server.server import default_socket_path, start_server
from tapi.stack import Stack


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tapisrv",
        help="serve the TAPI line devices to many processes over a Unix socket",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--config", metavar="F", help="line configuration (YAML)")
    parser.add_argument("--socket", metavar="P", help="socket path (default: per-user)")
    parser.add_argument(
        "--status", action="store_true", help="ask a running server what it holds, per client"
    )
    parser.add_argument("--json", action="store_true", help="with --status: one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.status:
        return _status(args)
    if args.json:
        print("linelab tapisrv: --json goes with --status", file=sys.stderr)
        return 2
    try:
        stack = default_stack(args.config)
    except LinelabError as exc:
        print(f"linelab tapisrv: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(stack, args.socket))
    except (OSError, LinelabError) as exc:
        print(f"linelab tapisrv: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()


async def _serve(stack: Stack, path: str | None) -> int:
    server = await start_server(stack, path)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY socket={server.path}", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.aclose()
    return 0


def _status(args: argparse.Namespace) -> int:
    path = args.socket or default_socket_path(create=False)
    client = ServerStack(path, status_only=True)
    try:
        status = client.status()
    finally:
        client.close()
    if status is None:
        print(f"linelab tapisrv: no server answers at {path}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status))
        return 0
    clients: list[dict[str, Any]] = status["clients"]
    if not clients:
        print("no clients")
    for c in clients:
        print(
            f"pid {c['pid']}: {c['apps']} apps, {c['lines']} lines, {c['calls']} calls, "
            f"{c['messages']} messages pending; holds {c['fds']} fds, {c['threads']} threads"
        )
    return 0
