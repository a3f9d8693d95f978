"""`linelab ports [-l] [-d] [--modem [--number N] [--profile P]] N`: a hub of N virtual
serial ports, one member of which may be a virtual modem.

Without `--modem`, the same command line and output as PyVirtualSerialPorts'
`virtualserialports`: the pty paths on stdout, one per line, then it forwards data
until Ctrl-C or SIGTERM. With `--modem`, stdout is unchanged (still only the paths) and
one line on stderr names the modem and its number.
"""

from __future__ import annotations

import argparse
from typing import Any

from emulator import ports


def register(subparsers: Any) -> None:
    """Add the `ports` subcommand to the `linelab` dispatcher."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ports",
        help="a hub of virtual serial ports (like virtualserialports)",
        description=ports.DESCRIPTION,
    )
    ports.add_arguments(parser)
    modem = parser.add_argument_group("virtual modem (linelab only)")
    modem.add_argument(
        "--modem",
        action="store_true",
        help="also put a virtual modem on the hub: every port talks AT to it",
    )
    modem.add_argument("--number", help="the modem's number (default: next free from 1001)")
    modem.add_argument("--profile", default="generic", help="the modem's profile (generic)")
    parser.set_defaults(func=_run, ports_parser=parser)


def _run(args: argparse.Namespace) -> int:
    if not args.modem and (args.number is not None or args.profile != "generic"):
        args.ports_parser.error("--number and --profile need --modem")
    if args.modem:
        ports.serve(
            args.num_ports,
            args.loopback,
            args.debug,
            modem=True,
            number=args.number,
            profile=args.profile,
        )
    else:
        ports.serve(args.num_ports, args.loopback, args.debug)
    return 0
