"""`linelab lines [--config F | --port URL] [--dial NUMBER]`: the TAPI line devices the
configuration gives, whether each opens, and a test call from the command line.

Each device is listed with its ID, name, provider and port, then opened (owner,
data modem) and closed again, so that a user sees the stack work before writing code.
``--dial NUMBER`` places a data call on one line (``--line``, default 0) and prints
each call state until the call is connected or has failed; then it drops the call and
cleans up as an application must (lineDrop, lineDeallocateCall, lineClose,
lineShutdown). With no configuration the line is the built-in virtual modem, whose
exchange answers 5550100 (echo), 5550101 (busy), 5550102 (no answer) and 5550103.

Exit status: 0 every line opened (and the test call connected); 1 a line did not open
or the call failed; 2 a bad configuration or usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tapi import constants as C
from tapi.config import LineConfig, configured_lines, default_stack
from tapi.stack import Stack
from tapi.structs import LINECALLPARAMS, LINEINITIALIZEEXPARAMS

V22 = C.TAPI_VERSION2_2
OWNER = C.LINECALLPRIVILEGE_OWNER
DATAMODEM = C.LINEMEDIAMODE_DATAMODEM
#: How long (seconds on the stack's clock) a test call may take to connect or fail.
DIAL_DEADLINE = 120.0
#: How long the drop may take to reach IDLE.
DROP_DEADLINE = 30.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "lines",
        help="list the TAPI line devices, check each opens, place a test call",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="Exit status: 0 all lines open (and the call connected); 1 a line or the "
        "call failed; 2 a bad configuration or usage error.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        metavar="FILE",
        help="a lines file (default: $LINELAB_CONFIG, ~/.config/linelab/lines.yaml, "
        "else the built-in virtual modem)",
    )
    source.add_argument(
        "--port",
        metavar="URL",
        help="one line on this port: a path (/dev/ttyUSB0, a pty link) or a pyserial URL",
    )
    parser.add_argument("--dial", metavar="NUMBER", help="place a test data call to NUMBER")
    parser.add_argument(
        "--line", type=int, default=0, metavar="ID", help="the device to dial on (default: 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.set_defaults(func=run)


def build_stack(args: argparse.Namespace) -> tuple[Stack, list[LineConfig]]:
    """The stack for --port, --config, or the usual configuration search, and the
    configured lines in device-ID order."""
    if args.port is not None:
        from tapi.providers.modem import provider_for

        stack = Stack()
        config = LineConfig(name=f"Modem on {args.port}", port=args.port, source="--port")
        stack.add_provider(provider_for([config], time=stack.time))
        return stack, [config]
    # A bad file is reported (exit 2) before anything starts.
    configs = configured_lines(args.config)
    return default_stack(args.config), configs


def run(args: argparse.Namespace) -> int:
    stack, configs = build_stack(args)
    report: dict[str, Any] = {"lines": [], "call": None}
    try:
        params = LINEINITIALIZEEXPARAMS(dwOptions=C.LINEINITIALIZEEXOPTION_USEEVENT)
        rc, h_app, count, _version, _params = stack.lineInitializeEx(
            None, None, "linelab lines", V22, params
        )
        if rc != 0 or h_app is None:
            print(f"linelab lines: lineInitializeEx: {C.result_name(rc)}", file=sys.stderr)
            return 1
        ok = True
        for device in range(count or 0):
            line = describe(stack, h_app, device)
            port = configs[device].port if device < len(configs) else None
            line["port"] = port
            if line["opens"] != "ok" and port and "://" not in port and not os.path.exists(port):
                line["opens"] += f" (no such port: {port})"
            ok = ok and line["opens"] == "ok"
            report["lines"].append(line)
            if not args.json:
                print(
                    f"line {device}: {line['name']} [{line['provider']}] on {port or '?'}, "
                    f"max rate {line['max_rate']}: opens: {line['opens']}"
                )
        if not count and not args.json:
            print("no line devices: give --config FILE or --port URL")
        if args.dial is not None:
            call = place_test_call(stack, h_app, args.line, args.dial, quiet=args.json)
            report["call"] = call
            ok = ok and call["result"] == "connected"
        stack.lineShutdown(h_app)
        if args.json:
            print(json.dumps(report))
        return 0 if ok and count else 1
    finally:
        stack.close()


def describe(stack: Stack, h_app: int, device: int) -> dict[str, Any]:
    """One device's caps, and whether it opens (owner, data modem) and closes."""
    rc, caps = stack.lineGetDevCaps(h_app, device, V22, 0)
    line: dict[str, Any] = {"id": device, "name": "?", "provider": "?", "max_rate": 0}
    if rc == 0 and caps is not None:
        line.update(name=caps.LineName, provider=caps.ProviderInfo, max_rate=caps.dwMaxRate)
    rc, h_line = stack.lineOpen(h_app, device, V22, 0, 0, OWNER, DATAMODEM)
    if rc != 0 or h_line is None:
        line["opens"] = C.result_name(rc)
        return line
    rc = stack.lineClose(h_line)
    line["opens"] = "ok" if rc == 0 else f"lineClose: {C.result_name(rc)}"
    return line


def place_test_call(
    stack: Stack, h_app: int, device: int, number: str, *, quiet: bool
) -> dict[str, Any]:
    """Dial `number` on `device`; report the call states up to CONNECTED or failure,
    then drop, deallocate and close."""

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    result: dict[str, Any] = {"line": device, "number": number, "states": [], "result": ""}
    rc, h_line = stack.lineOpen(h_app, device, V22, 0, 0, OWNER, DATAMODEM)
    if rc != 0 or h_line is None:
        result["result"] = f"lineOpen: {C.result_name(rc)}"
        say(f"dial {number} on line {device}: {result['result']}")
        return result
    try:
        params = LINECALLPARAMS(dwMediaMode=DATAMODEM, dwBearerMode=C.LINEBEARERMODE_VOICE)
        request_id, h_call = stack.lineMakeCall(h_line, number, 0, params)
        if request_id <= 0 or h_call is None:
            result["result"] = f"lineMakeCall: {C.result_name(request_id)}"
            say(f"dial {number} on line {device}: {result['result']}")
            return result
        say(f"dial {number} on line {device}")
        result["result"] = _follow(stack, h_app, request_id, result, say)
        say(f"result: {result['result']}")
        drop = stack.lineDrop(h_call)
        if drop > 0:
            _until_idle(stack, h_app)
        stack.lineDeallocateCall(h_call)
        return result
    finally:
        stack.lineClose(h_line)


def _follow(stack: Stack, h_app: int, request_id: int, result: dict[str, Any], say: Any) -> str:
    deadline = stack.time.now() + DIAL_DEADLINE
    while (left := deadline - stack.time.now()) > 0:
        rc, msg = stack.lineGetMessage(h_app, max(1, int(left * 1000)))
        if rc != 0 or msg is None:
            break
        if msg.dwMessageID == C.LINE_REPLY and msg.dwParam1 == request_id and msg.dwParam2:
            return f"lineMakeCall failed: {C.result_name(msg.dwParam2 - (1 << 32))}"
        if msg.dwMessageID != C.LINE_CALLSTATE:
            continue
        state = C.callstate_name(msg.dwParam1).removeprefix("LINECALLSTATE_")
        detail = ""
        if msg.dwParam1 == C.LINECALLSTATE_DISCONNECTED:
            detail = f" ({_disconnect_mode(msg.dwParam2)})"
        result["states"].append(state + detail)
        say(f"  {state}{detail}")
        if msg.dwParam1 == C.LINECALLSTATE_CONNECTED:
            return "connected"
        if msg.dwParam1 in (C.LINECALLSTATE_DISCONNECTED, C.LINECALLSTATE_IDLE):
            return "failed: " + state.lower() + detail
    return f"no answer within {DIAL_DEADLINE:.0f} s"


def _until_idle(stack: Stack, h_app: int) -> None:
    deadline = stack.time.now() + DROP_DEADLINE
    while (left := deadline - stack.time.now()) > 0:
        rc, msg = stack.lineGetMessage(h_app, max(1, int(left * 1000)))
        if rc != 0 or msg is None:
            return
        if msg.dwMessageID == C.LINE_CALLSTATE and msg.dwParam1 == C.LINECALLSTATE_IDLE:
            return


def _disconnect_mode(mode: int) -> str:
    for name in dir(C):
        if name.startswith("LINEDISCONNECTMODE_") and getattr(C, name) == mode:
            return name.removeprefix("LINEDISCONNECTMODE_").lower()
    return hex(mode)
