"""The command channel of a scenario's client process (`scenarios.clientproc`, docs
scenarios.md "Client apps"): one JSON request a line in, one JSON answer a line out,
over a real telephony server. `serve` runs here on text streams; the real child
process and its SIGKILL are in tests/scenarios/test_scenario_clients.py."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios import clientproc
from tapi import constants as C
from tapi.providers.fake import FakeLine
from tapi.server import protocol as P
from tapi.server.server import start_server
from tapi.stack import Stack
from tapi.structs import LINEINITIALIZEEXPARAMS

DEADLINE = 10.0


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[str]:
    stack = Stack(lines=[FakeLine("L0")])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    path = str(tmp_path / "tapisrv.sock")
    server = asyncio.run_coroutine_threadsafe(start_server(stack, path), loop).result(DEADLINE)
    try:
        yield path
    finally:
        asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(DEADLINE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()
        stack.close()


def talk(path: str, *requests: Any) -> tuple[int, list[dict[str, Any]]]:
    """Feed `requests` (dicts as JSON, strings as they are) and read every answer."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in requests]
    out = io.StringIO()
    status = clientproc.serve(path, io.StringIO("".join(line + "\n" for line in lines)), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def init_request(name: str = "worker") -> dict[str, Any]:
    params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
    args = [None, None, name, C.TAPI_VERSION2_2, params]
    return {"call": "lineInitializeEx", "args": P.encode(args)}


def test_flat_calls_go_through_the_server_and_come_back_decodable(socket_path: str) -> None:
    status, answers = talk(socket_path, init_request())
    assert status == 0
    assert answers[0] == {"ready": os.getpid()}
    rc, h_app, n_devs, version, params = P.decode(answers[1]["result"])
    assert (rc, n_devs, version) == (0, 1, C.TAPI_VERSION2_2)
    assert isinstance(h_app, int) and h_app > 0
    assert isinstance(params, LINEINITIALIZEEXPARAMS)  # the structure survives the trip
    # A wrong handle is the server's LINEERR_*, an answer like any other: with an app of
    # this client's, INVALAPPHANDLE; with none (a new client), UNINITIALIZED (R8).
    wrong = {"call": "lineShutdown", "args": [h_app + 1000]}
    _, answers = talk(socket_path, init_request(), wrong)
    assert answers[2] == {"result": C.LINEERR_INVALAPPHANDLE}
    _, answers = talk(socket_path, wrong)
    assert answers[1] == {"result": C.LINEERR_UNINITIALIZED}


BAD_REQUESTS = [
    ("{not json", "not a JSON line"),
    ("[1, 2]", "a request is {call, args, kwargs}"),
    (json.dumps({"args": []}), "a request is {call, args, kwargs}"),
    (json.dumps({"call": "close"}), "no flat function 'close'"),
    (json.dumps({"call": "lineNoSuchThing"}), "no flat function 'lineNoSuchThing'"),
    (json.dumps({"call": "lineShutdown", "args": [1, 2, 3]}), "TypeError: "),
]


@pytest.mark.parametrize(("request_line", "words"), BAD_REQUESTS)
def test_a_bad_request_gets_an_error_and_the_channel_goes_on(
    socket_path: str, request_line: str, words: str
) -> None:
    status, answers = talk(socket_path, request_line, init_request())
    assert status == 0
    assert len(answers) == 3
    assert words in answers[1]["error"]
    assert P.decode(answers[2]["result"])[0] == 0  # the next request still works


def test_no_server_is_one_error_line_and_status_1(tmp_path: Path) -> None:
    status, answers = talk(str(tmp_path / "nobody.sock"), init_request())
    assert status == 1
    assert len(answers) == 1
    assert answers[0]["error"].startswith("cannot reach the server at ")


def test_main_wants_exactly_one_socket(capsys: pytest.CaptureFixture[str]) -> None:
    assert clientproc.main([]) == 2
    assert "usage: python -m scenarios.clientproc SOCKET" in capsys.readouterr().err
