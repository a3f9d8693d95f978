"""`linelab call LINK --from NUMBER|P|O [--name NAME] [--then BEHAVIOUR]`: a far end
calls a modem of a running `linelab modem`, which rings with this caller ID.

The owner of LINK is found in the control registry (`emulator.control`), or given
with ``--control PATH``. ``--then`` is what the caller does once the modem answers, in
the far-end grammar (``answer[,echo|,discard][,hangup=30s|,hangup=1000B][,drop=10s]``).
"""

from __future__ import annotations

import argparse
import sys

from emulator.control import ControlError, caller_from, find_owner, request
from emulator.farend import parse_behaviour, validate_for_caller


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "call",
        help="make a far end call a running modem (RING with caller ID)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument("link", metavar="LINK", help="the modem's link (or its number)")
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="NUMBER|P|O",
        help="caller number, or P (private) or O (out of area)",
    )
    parser.add_argument("--name", help="caller name for caller ID")
    parser.add_argument("--then", metavar="BEHAVIOUR", help="what the caller does once answered")
    parser.add_argument("--control", metavar="PATH", help="control socket of the modem process")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Check everything locally first, so a typo never reaches the modem process.
    caller_from(args.source, args.name)
    then = str(validate_for_caller(parse_behaviour(args.then))) if args.then else None
    path = args.control
    if path is None:
        owner = find_owner(args.link)
        if owner is None:
            raise ControlError(
                f"no running linelab modem owns {args.link!r} (start `linelab modem "
                f"{args.link}` first, or pass --control PATH)"
            )
        path = owner.socket
    message = {"op": "call", "to": args.link, "from": args.source, "name": args.name}
    if then is not None:
        message["then"] = then
    response = request(path, message)
    if not response.get("ok"):
        print(f"linelab call: {response.get('error', 'refused')}", file=sys.stderr)
        return 1
    print(f"calling {args.link} (number {response.get('number')}) from {args.source}")
    return 0
