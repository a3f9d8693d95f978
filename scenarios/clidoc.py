"""Write docs/cli.md: `linelab --help` and every `linelab COMMAND --help`, from the
argparse parsers, at 100 columns. Run from the repository root:
``.venv/bin/python -m scenarios.clidoc``; tests/unit/test_cli_doc.py checks that the
page is what this writes and what the real command prints."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from scenarios.cli import build_parser

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"  # in a source checkout
WIDTH = "100"


def render() -> str:
    os.environ["COLUMNS"] = WIDTH  # argparse wraps help to $COLUMNS
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = [
        "# Command-line reference",
        "",
        "Generated from the argparse parsers by `python -m scenarios.clidoc` (do not edit it;",
        "`tests/unit/test_cli_doc.py` fails when this page and `linelab COMMAND --help`",
        "differ). Each section is exactly what `COLUMNS=100 linelab COMMAND --help` prints.",
        "",
        "## linelab",
        "",
        "```",
        parser.format_help().rstrip(),
        "```",
    ]
    for name, sub in sorted(subparsers.choices.items()):
        out += ["", f"## linelab {name}", "", "```", sub.format_help().rstrip(), "```"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    text = render()
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if PAGE.read_text(encoding="utf-8") == text else 1)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
