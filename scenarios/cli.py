"""The `linelab` console script: one dispatcher, commands owned by each package.

Each of `emulator.commands`, `tapi.commands` and `scenarios.commands` holds one module
per subcommand with a ``register(subparsers)`` function that adds its parser and sets
``func`` (taking the parsed namespace, returning the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from linelab.errors import LinelabError

COMMAND_PACKAGES = ("emulator.commands", "tapi.commands", "scenarios.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linelab",
        description="Test telephony software without telephony hardware.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging on stderr"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for package_name in COMMAND_PACKAGES:
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package_name}.{info.name}")
            register = getattr(module, "register", None)
            if register is not None:
                register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    try:
        status: int = args.func(args)
    except LinelabError as exc:
        print(f"linelab {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
