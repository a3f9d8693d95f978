"""The `linelab` console script: one dispatcher, commands owned by each package.

Each of `emulator.commands`, `tapi.commands` and `scenarios.commands` holds one module
per subcommand, named as the subcommand, with a ``register(subparsers)`` function that
adds its parser and sets ``func`` (taking the parsed namespace, returning the exit
status). `main()` imports only the module of the command it runs (``linelab modem``
does not load the TAPI stack or hypothesis: less start-up time and memory); the
top-level help and an unknown command import them all.
"""

from __future__ import annotations

# Ctrl-C while Python is still importing must not print a traceback: until `main()`
# hands SIGINT back to Python's default handler, an interrupt exits quietly with 130.
import signal


def _exit_interrupted(signum: int, frame: object) -> None:
    raise SystemExit(130)


signal.signal(signal.SIGINT, _exit_interrupted)

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pkgutil  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from linelab.errors import LinelabError  # noqa: E402

COMMAND_PACKAGES = ("emulator.commands", "tapi.commands", "scenarios.commands")


def version() -> str:
    """The installed distribution's version (or "unknown" when run from a bare tree)."""
    try:
        return importlib.metadata.version("linelab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `linelab` parser with every subcommand, or only with command `only` (which
    must be one, see `command_module`)."""
    parser = argparse.ArgumentParser(
        prog="linelab",
        description="Test telephony software without telephony hardware.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging on stderr"
    )
    parser.add_argument("--version", action="version", version=f"linelab {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if only is not None:
        names = [command_module(only)]
    else:
        names = []
        for package_name in COMMAND_PACKAGES:
            package = importlib.import_module(package_name)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                if not info.name.startswith("_"):
                    names.append(f"{package_name}.{info.name}")
    for name in names:
        if name is None:
            raise ValueError(f"no linelab command {only!r}")
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def command_module(command: str) -> str | None:
    """The module that defines subcommand `command` (`COMMAND_PACKAGES`), if any."""
    if not command.isidentifier() or command.startswith("_"):
        return None
    for package_name in COMMAND_PACKAGES:
        name = f"{package_name}.{command}"
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` runs, when only its module is needed to parse `argv`: the
    first word that is not an option, with no help or version option before it."""
    for word in argv:
        if word in ("-h", "--help", "--version") or word.startswith("--version"):
            return None
        if word.startswith("-"):
            continue
        return word if command_module(word) is not None else None
    return None


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand `name` (for errors in its own usage)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(name)
            if isinstance(chosen, argparse.ArgumentParser):
                return chosen
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(_chosen(words))
        args, extra = parser.parse_known_args(words)
        if extra:
            # A mistyped flag is the subcommand's mistake: show that command's usage.
            _subparser(parser, args.command).error("unrecognized arguments: " + " ".join(extra))
    except KeyboardInterrupt:
        return 130
    # From here on an interrupt is Python's KeyboardInterrupt, which commands catch to
    # clean up (and the handler below turns into exit status 130).
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
    except BrokenPipeError:
        # The reader went away (`linelab trace call.jsonl | head`): stop quietly, as cat
        # does, with the status a shell gives a process that SIGPIPE ended. Output still
        # buffered for the closed pipe would fail again at exit: send it nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
