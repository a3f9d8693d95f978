"""The telephony server's costs, as ratios against the same work in process.

- Round trip: one flat call (lineGetNumRings on an open line, which touches no provider)
  through `linelab tapisrv`'s server over its Unix socket, against the same call on the
  `tapi.Stack` in process. The ratio is what the process boundary costs.
- lineShutdown per app: N apps (N = 10, 100, 1000), each with one line open on a
  FakeLine, shut down one by one: in process, through the server, and by dropping the
  client's connection (the server shuts them all down, the dead-process path). Each is
  given per app and as a ratio to the in-process figure.

    python bench/tapi_server.py [--rounds 3] [--calls 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import benchlib as bl

from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.server.client import ServerStack
from tapi.server.server import TapiServer, start_server
from tapi.stack import Stack
from tapi.structs import LINEINITIALIZEEXPARAMS

V22 = C.TAPI_VERSION2_2
SIZES = (10, 100, 1000)


@contextmanager
def served() -> Iterator[tuple[Stack, TapiServer, str]]:
    stack = Stack(lines=[FakeLine("L0")])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "tapisrv.sock")
        server = asyncio.run_coroutine_threadsafe(start_server(stack, path), loop).result(10)
        try:
            yield stack, server, path
        finally:
            asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            stack.close()


def open_apps(api: Any, n: int) -> list[int]:
    apps = []
    for i in range(n):
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h, _n, _v, _p = api.lineInitializeEx(None, None, f"a{i}", V22, params)
        assert rc == 0
        rc, _hLine = api.lineOpen(h, 0, V22, 0, 0, C.LINECALLPRIVILEGE_MONITOR, 0)
        assert rc == 0
        apps.append(h)
    return apps


def call_seconds(api: Any, calls: int) -> float:
    """Seconds per lineGetNumRings."""
    (h,) = open_apps(api, 1)
    rc, hLine = api.lineOpen(h, 0, V22, 0, 0, C.LINECALLPRIVILEGE_MONITOR, 0)
    assert rc == 0
    start = time.perf_counter()
    for _ in range(calls):
        api.lineGetNumRings(hLine, 0)
    took = (time.perf_counter() - start) / calls
    assert api.lineShutdown(h) == 0
    return took


def round_trip(calls: int) -> tuple[float, float]:
    with Stack(lines=[FakeLine("L0")]) as stack:
        local = call_seconds(stack, calls)
    with served() as (_stack, _server, path), ServerStack(path) as client:
        remote = call_seconds(client, calls)
    return local, remote


def shutdown_per_app(n: int) -> tuple[float, float, float]:
    with Stack(lines=[FakeLine("L0")]) as stack:
        apps = open_apps(stack, n)
        start = time.perf_counter()
        for h in apps:
            assert stack.lineShutdown(h) == 0
        local = (time.perf_counter() - start) / n
    with served() as (stack, _server, path):
        with ServerStack(path) as client:
            apps = open_apps(client, n)
            start = time.perf_counter()
            for h in apps:
                assert client.lineShutdown(h) == 0
            remote = (time.perf_counter() - start) / n
        client = ServerStack(path)
        open_apps(client, n)
        start = time.perf_counter()
        client.close()  # the server shuts all n down, as for a dead process
        while not stack.hierarchy().is_empty():
            time.sleep(0.0005)  # a benchmark polls; tests never do
        dropped = (time.perf_counter() - start) / n
    return local, remote, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    bl.common_args(parser, rounds=3)
    parser.add_argument("--calls", type=int, default=2000, help="flat calls per round")
    args = parser.parse_args()
    rounds, calls = (1, 200) if args.quick else (args.rounds, args.calls)
    sizes = SIZES[:2] if args.quick else SIZES
    results = bl.Results()
    for rnd in range(1, rounds + 1):
        bl.log(f"tapi_server: round {rnd}/{rounds}")

        def rt(rnd: int = rnd) -> None:
            local, remote = round_trip(calls)
            results.add(rnd, "call.local", local * 1e6)
            results.add(rnd, "call.server", remote * 1e6)

        results.attempt(rnd, "round trip", rt)
        for n in sizes:

            def sd(rnd: int = rnd, n: int = n) -> None:
                local, remote, dropped = shutdown_per_app(n)
                results.add(rnd, f"shutdown.{n}.local", local * 1e6)
                results.add(rnd, f"shutdown.{n}.server", remote * 1e6)
                results.add(rnd, f"shutdown.{n}.dropped", dropped * 1e6)

            results.attempt(rnd, f"shutdown {n}", sd)
    rows = [
        ["lineGetNumRings, in process (µs)", *results.cell("call.local"), ""],
        ["lineGetNumRings, through the server (µs)", *results.cell("call.server"),
         bl.times(results.ratio_cell("call.server", "call.local")[0])],
    ]  # fmt: skip
    for n in sizes:
        base = f"shutdown.{n}.local"
        rows.append([f"lineShutdown per app, {n} apps, in process (µs)", *results.cell(base), ""])
        for how, label in (("server", "through the server"), ("dropped", "connection dropped")):
            key = f"shutdown.{n}.{how}"
            ratio = bl.times(results.ratio_cell(key, base)[0])
            rows.append(
                [f"lineShutdown per app, {n} apps, {label} (µs)", *results.cell(key), ratio]
            )
    print("## Telephony server\n")
    print(bl.table(["", "median", "range", "vs in process"], rows))
    print(bl.failures(results))
    bl.write_json(args.json, "tapi_server", results, {"calls": calls, "rounds": rounds})
    return 1 if results.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
