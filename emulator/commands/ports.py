"""`linelab ports [-l] [-d] N`: a hub of N virtual serial ports.

The same command line and output as PyVirtualSerialPorts' `virtualserialports`: the
pty paths on stdout, one per line, then it forwards data until Ctrl-C or SIGTERM.
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
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    ports.serve(args.num_ports, args.loopback, args.debug)
    return 0
