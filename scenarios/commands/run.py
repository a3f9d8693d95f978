"""`linelab run [PATH ...]`: run scenario files and say plainly what passed and failed.

With no PATH it runs the bundled conformance library against the built-in virtual
modem. PATH is a ``*.scenario.yaml`` file or a directory searched for them.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import TextIO

from emulator.core.profile import load_profile
from linelab.errors import LinelabError
from scenarios.coverage import FORMATS, matrix, render
from scenarios.htmlreport import write_report
from scenarios.language import Case, Step
from scenarios.report import summary, write_json, write_junit, write_records, write_trace
from scenarios.runner import Result
from scenarios.suite import Target, discover, run_cases, select
from scenarios.world import check_reachable
from tapi.config import LineConfig, check_number, load_lines

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EPILOG = (
    "Exit status: 0 every scenario passed (or was skipped or todo); 1 at least one failed "
    "(a time-out is a failure); 2 a bad scenario file or usage; 3 the --port/--config "
    "target could not be opened; 130 interrupted (Ctrl-C: finally steps and teardown ran, "
    "the summary so far was printed)."
)
MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "todo": "TODO"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run scenario files (default: the bundled library on the virtual modem)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog=EPILOG,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or directories")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--port",
        action="append",
        metavar="URL[,number=N]",
        help="run against a real modem on this port; repeat for a second line (with each "
        "line's number, the call scenarios run too)",
    )
    source.add_argument(
        "--config", metavar="FILE", help="run against the lines of this file (docs/line-config.md)"
    )
    parser.add_argument(
        "--profile",
        metavar="NAME|FILE",
        help="modem profile: replaces every virtual modem's; with --port/--config, what the "
        "real modem is (the facts scenarios rely on; e.g. from linelab probe; default generic)",
    )
    parser.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        help="select by id/tag words with and, or, not (as pytest -k)",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="T",
        help="only scenarios with this tag (repeatable)",
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--trace", metavar="FILE", help="write the AT transcript of the run")
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="keep each scenario's AT transcript in DIR (one file per id, for replay and diff)",
    )
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="write DIR/index.html: the results and a ladder diagram per scenario",
    )
    parser.add_argument("--seed", type=int, metavar="N", help="seed for --random-order")
    parser.add_argument("--random-order", action="store_true", help="shuffle the scenarios")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--coverage",
        nargs="?",
        const="text",
        choices=FORMATS,
        metavar="FORMAT",
        help="print which scenarios cover each rule id (text, markdown or json; "
        "default text) and exit",
    )
    parser.set_defaults(func=run)


class Progress:
    """A one-line progress bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, out: TextIO, *, verbose: bool = False) -> None:
        self.total = total
        self.verbose = verbose
        self.out = out
        self.tty = out.isatty()
        self.done = 0
        self.failed = 0

    def start(self, case: Case) -> None:
        if self.tty:
            width = 30
            filled = width * self.done // max(1, self.total)
            bar = "#" * filled + "." * (width - filled)
            text = f"\r[{bar}] {self.done}/{self.total} failed {self.failed}  {case.id}"
            self.out.write(text[:120].ljust(120))
            self.out.flush()
        elif self.verbose:
            self.out.write(f"RUN  {case.id}\n")
            self.out.flush()

    def step(self, step: Step) -> None:
        """-vv: each step as it starts (where a slow or hanging run is)."""
        if not self.tty:
            self.out.write(f"     step {step.where}: {step.title()}\n")
            self.out.flush()

    def result(self, r: Result) -> None:
        self.done += 1
        self.failed += r.status == "failed"
        if self.tty:
            if r.status == "failed":
                self.out.write("\r" + " " * 120 + "\r")
                self.out.write(f"FAIL {r.id} ({r.cause})\n")
            return
        extra = f" ({r.cause})" if r.status == "failed" else ""
        extra += f": {r.reason}" if r.status in ("skipped", "todo") else ""
        self.out.write(f"{MARK[r.status]} {r.id}{extra}\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty:
            self.out.write("\r" + " " * 120 + "\r")
            self.out.flush()


def port_line(index: int, text: str) -> LineConfig:
    """``--port URL[,number=N]`` as a line: ``Modem on URL``, with its own number."""
    url, sep, number = text.rpartition(",number=")
    if not sep:
        url, number = text, ""
    if not url:
        raise LinelabError(f"--port {text!r}: the port URL is missing")
    if sep:
        problem = check_number(number)
        if problem is not None:
            raise LinelabError(f"--port {text!r}: {problem}")
    return LineConfig(
        name=f"Modem on {url}", port=url, source=f"--port #{index + 1}", number=number or None
    )


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print("linelab run: --jobs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        found = discover(args.paths)
        todo = select(found, args.keyword, args.tag)
        configs: list[LineConfig] = []
        if args.port is not None:
            configs = [port_line(i, text) for i, text in enumerate(args.port)]
        elif args.config is not None:
            configs = load_lines(args.config)
        if args.profile is not None:
            load_profile(args.profile)
    except LinelabError as exc:
        print(f"linelab run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.coverage is not None:
        scenarios = {case.scenario.id: case.scenario for case in todo}
        sys.stdout.write(render(matrix(scenarios.values()), args.coverage))
        return EXIT_OK
    if args.list:
        for case in todo:
            tags = f"  [{', '.join(case.scenario.tags)}]" if case.scenario.tags else ""
            print(f"{case.id}  {case.scenario.path}:{case.scenario.where.line}{tags}")
        return EXIT_OK
    if not todo:
        print("linelab run: no scenario matches", file=sys.stderr)
        return EXIT_USAGE
    for option, directory in (("--record", args.record), ("--report", args.report)):
        if directory is not None:
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                print(f"linelab run: {option} {directory}: {exc.strerror or exc}", file=sys.stderr)
                return EXIT_USAGE
    target = Target(configs, args.profile)
    if configs:
        problem = check_reachable(configs)
        if problem is not None:
            print(f"linelab run: {problem}", file=sys.stderr)
            return EXIT_UNREACHABLE
    if args.random_order or args.seed is not None:
        seed = args.seed if args.seed is not None else random.randrange(1 << 32)
        random.Random(seed).shuffle(todo)
        print(f"random order, seed {seed} (--seed {seed} repeats it)")
    progress = Progress(len(todo), sys.stdout, verbose=getattr(args, "verbose", 0) > 0)
    results: list[Result] = []
    interrupted = False
    try:
        for result in run_cases(
            todo,
            target,
            jobs=args.jobs,
            keep_records=any(x is not None for x in (args.trace, args.record, args.report)),
            on_start=progress.start,
            on_step=progress.step if getattr(args, "verbose", 0) > 1 else None,
        ):
            results.append(result)  # first: an interrupt while printing loses nothing
            progress.result(result)
    except KeyboardInterrupt:
        interrupted = True
    progress.end()
    for r in results:
        if r.status == "failed":
            print()
            print(r.report())
    print()
    print(summary(results, target=target.describe(), interrupted=interrupted))
    failed = any(r.status == "failed" for r in results)
    status = EXIT_INTERRUPTED if interrupted else EXIT_FAILED if failed else EXIT_OK
    if args.junit:
        write_junit(args.junit, results)
    if args.json:
        write_json(args.json, results, target=target.describe(), exit_status=status)
    if args.trace:
        write_trace(args.trace, results)
    if args.record:
        written = write_records(args.record, results)
        print(f"recorded {len(written)} transcript(s) in {args.record}")
    if args.report:
        print(f"report: {write_report(args.report, results, target=target.describe())}")
    return status
