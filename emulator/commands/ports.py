"""`linelab ports [-l] [-d] [--modem [--number N] [--profile P]] N | LINK …`: a hub of
virtual serial ports, one member of which may be a virtual modem.

With a number N, the same command line and output as PyVirtualSerialPorts'
`virtualserialports`: the pty paths on stdout, one per line, then it forwards data
until Ctrl-C or SIGTERM. With LINK paths instead (like socat's ``link=``), one port
per LINK, each reachable at its LINK (a symlink to the pty, removed at exit), and the
LINKs are printed instead of the pty paths. A LINK that exists must be a dangling
symlink of ours; a live one (a pty some program holds) is refused. With `--modem`,
stdout is unchanged (still only the paths) and one line on stderr names the modem and
its number.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from typing import Any

from emulator.commands.modem import check_link
from emulator.transports import ports
from linelab.errors import LinelabError

log = logging.getLogger(__name__)

# The kernel's default kernel.pty.max: no hub can have more ports than there are ptys.
MAX_PORTS = 4096
_COUNT = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[0-9*#+]{1,32}")


def register(subparsers: Any) -> None:
    """Add the `ports` subcommand to the `linelab` dispatcher."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ports",
        help="a hub of virtual serial ports (like virtualserialports)",
        description=ports.DESCRIPTION,
    )
    parser.add_argument(
        "ports",
        nargs="+",
        metavar="N | LINK",
        help="the number of ports, or one symlink path per port (a lone whole number is "
        "a count: write ./2 for a link named 2)",
    )
    parser.add_argument(
        "-l", "--loopback", action="store_true", help="echo data back to the sending device too"
    )
    parser.add_argument("-d", "--debug", action="store_true", help="log received data to stderr")
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
    if args.modem and args.number is not None and _NUMBER.fullmatch(args.number) is None:
        args.ports_parser.error(f"--number {args.number[:40]!r}: want up to 32 of 0-9 * # +")
    links: list[str] = []
    if len(args.ports) == 1 and _COUNT.fullmatch(args.ports[0]):
        if len(args.ports[0]) > 6 or int(args.ports[0]) > MAX_PORTS:
            args.ports_parser.error(f"at most {MAX_PORTS} ports")
        num_ports = int(args.ports[0])
    else:
        links = [os.path.abspath(link) for link in args.ports]
        for link in links:
            if links.count(link) > 1:
                args.ports_parser.error(f"{link} is given twice")
            problem = check_link(link)  # raises for a live or foreign path (exit 2)
            if problem:
                log.warning("%s", problem)
        num_ports = len(links)
    options: dict[str, Any] = {"links": links}
    if args.modem:
        options.update(modem=True, number=args.number, profile=args.profile)
    try:
        ports.serve(num_ports, args.loopback, args.debug, **options)
    except OSError as exc:
        # Out of ptys (kernel.pty.max) or file descriptors (RLIMIT_NOFILE).
        raise LinelabError(f"cannot open {num_ports} ports: {exc.strerror or exc}") from None
    return 0
