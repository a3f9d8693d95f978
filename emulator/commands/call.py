"""`linelab call LINK --from NUMBER|P|O …`: a far end calls a modem of a running
`linelab modem`, which rings with this caller ID; the command says how the call went.

The owner of LINK is found in the control registry (`emulator.transports.control`), or given
with ``--control PATH``. ``--then`` is what the caller does once the modem answers, in
the far-end grammar for a caller (`CALLER_GRAMMAR`). The caller gives up after
``--rings`` unanswered rings and hangs up after ``--timeout`` whatever the state (both
in modem time). Without ``--wait`` the command returns once the modem rings (or the
call failed); with ``--wait`` it follows the call to its end, and Ctrl-C hangs up.
``--cancel`` hangs up every call still going on to LINK.

Exit status: 0 the modem rang (or, with ``--wait``, answered); 1 it did not (busy, no
answer, cancelled, timed out before an answer); 2 a usage error or no modem process
to talk to; 130 interrupted (the call is hung up).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from emulator.network.farend import BehaviourError, parse_behaviour, validate_for_caller
from emulator.network.farend import _duration as parse_duration
from emulator.transports.control import ControlError, caller_from, find_owner, request, watch

#: What a calling far end may do once the modem answers (it never answers itself).
CALLER_GRAMMAR = "answer[,rate=N][,echo|,discard][,hangup=30s|,hangup=1000B][,drop=10s]"
DEFAULT_RINGS = 10
DEFAULT_TIMEOUT = "10m"
_TIMEOUT_DEFAULT_SECONDS = 600.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "call",
        help="make a far end call a running modem (RING with caller ID)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="Exit status: 0 rang (with --wait: answered); 1 busy, no answer, cancelled "
        "or timed out; 2 usage error or no modem process; 130 interrupted.",
    )
    parser.add_argument("link", metavar="LINK", help="the modem's link (or its number)")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="NUMBER|P|O",
        help="caller number, or P (private) or O (out of area); required unless --cancel",
    )
    parser.add_argument("--name", help="caller name for caller ID")
    parser.add_argument(
        "--then",
        metavar="BEHAVIOUR",
        help=f"what the caller does once the modem answers: {CALLER_GRAMMAR} "
        "(default: answer, discarding data)",
    )
    parser.add_argument(
        "--rings",
        type=_rings,
        default=DEFAULT_RINGS,
        metavar="N",
        help=f"give up after N unanswered rings (default: {DEFAULT_RINGS})",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=_TIMEOUT_DEFAULT_SECONDS,
        metavar="DURATION",
        help="hang up after this long whatever the state, e.g. 90s, 1500ms or 600 "
        f"(default: {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--wait", action="store_true", help="follow the call to its end and report how it ended"
    )
    parser.add_argument(
        "--cancel", action="store_true", help="hang up every call still going on to LINK"
    )
    parser.add_argument("--control", metavar="PATH", help="control socket of the modem process")
    parser.set_defaults(func=run)


def _rings(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"want a number of rings from 1 to 1000, not {text!r}")
    return int(text)


def _timeout(text: str) -> float:
    value = text[:-1] if text.endswith("m") and not text.endswith("ms") else None
    seconds = parse_duration(value) if value is not None else parse_duration(text)
    if seconds is not None and value is not None:
        seconds *= 60
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"want a duration such as 90s, 1500ms, 10m or 600 (up to a day), not {text!r}"
        )
    return seconds


def caller_behaviour(text: str) -> str:
    """Check ``--then``: only a caller's behaviours, and say which those are."""
    kind = text.split(",", 1)[0].strip().lower()
    if kind != "answer":
        raise ControlError(
            f"--then {text!r}: a calling far end only answers-and-then-acts; use {CALLER_GRAMMAR}"
        )
    try:
        return str(validate_for_caller(parse_behaviour(text)))
    except BehaviourError as exc:
        raise ControlError(f"--then: {exc}; a caller may use {CALLER_GRAMMAR}") from None


def _socket_for(args: argparse.Namespace) -> str:
    if args.control is not None:
        return str(args.control)
    owner = find_owner(args.link)
    if owner is None:
        raise ControlError(
            f"no running linelab modem owns {args.link!r} (start `linelab modem "
            f"{args.link}` first, or pass --control PATH)"
        )
    return owner.socket


def run(args: argparse.Namespace) -> int:
    if args.cancel:
        return _cancel(args)
    if args.source is None:
        raise ControlError("--from NUMBER|P|O is required to place a call")
    # Check everything locally first, so a typo never reaches the modem process.
    caller_from(args.source, args.name)
    then = caller_behaviour(args.then) if args.then else None
    path = _socket_for(args)
    message: dict[str, Any] = {
        "op": "call",
        "to": args.link,
        "from": args.source,
        "name": args.name,
        "rings": args.rings,
        "timeout": args.timeout,
    }
    if then is not None:
        message["then"] = then
    message["watch"] = True
    answered = False
    last_rings = 0
    call_id: int | None = None
    try:
        for status in watch(path, message):
            if not status.get("ok"):
                print(f"linelab call: {status.get('error', 'refused')}", file=sys.stderr)
                return 1
            if "state" not in status:  # the answer to the call request itself
                call_id = status.get("call")
                print(
                    f"calling {args.link} (number {status.get('number')}) from {args.source}",
                    flush=True,
                )
                if not isinstance(call_id, int):
                    return 0  # an older modem process: it cannot report progress
                continue
            state = status.get("state")
            rings = int(status.get("rings") or 0)
            if state == "ringing" and rings != last_rings:
                last_rings = rings
                print(f"ringing (ring {rings} of {args.rings})", flush=True)
                if not args.wait:
                    print(
                        f"call {call_id} goes on in the modem process; "
                        f"`linelab call {args.link} --cancel` hangs up"
                    )
                    return 0
            elif state == "answered" and not answered:
                answered = True
                print(f"answered at {status.get('rate')} bit/s", flush=True)
                if not args.wait:
                    return 0
            elif state == "ended":
                print(_ending(status, answered))
                return 0 if answered else 1
    except KeyboardInterrupt:
        # Before the call's number has come back, cancel by modem (only calls that
        # `linelab call` placed can be cancelled, so nothing else is touched).
        cancel = (
            {"op": "cancel", "call": call_id}
            if call_id is not None
            else {
                "op": "cancel",
                "to": args.link,
            }
        )
        try:
            answer = request(path, cancel)
        except ControlError as exc:
            answer = {"ok": False, "error": str(exc)}
        if answer.get("ok"):
            print("cancelled: hung up", flush=True)
        else:
            print(
                f"interrupted; the call may still be going ({answer.get('error')}): "
                f"`linelab call {args.link} --cancel` hangs up",
                flush=True,
            )
        return 130
    raise ControlError("the modem process stopped reporting the call")


def _ending(status: dict[str, Any], answered: bool) -> str:
    outcome = status.get("outcome")
    if answered and status.get("duration") is not None:
        return f"ended: {outcome} after {status['duration']:.1f} s connected"
    if outcome == "no answer":
        return f"ended: no answer after {status.get('rings')} rings"
    return f"ended: {outcome}"


def _cancel(args: argparse.Namespace) -> int:
    response = request(_socket_for(args), {"op": "cancel", "to": args.link})
    if not response.get("ok"):
        print(f"linelab call: {response.get('error', 'refused')}", file=sys.stderr)
        return 1
    cancelled = response.get("cancelled") or []
    if cancelled:
        print(f"hung up {len(cancelled)} call(s) to {args.link}")
    else:
        print(f"no call is going on to {args.link}")
    return 0
