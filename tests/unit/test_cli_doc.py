"""docs/cli.md is what tools/gen_cli_docs.py writes from the parsers, and each section is
exactly what the real `linelab COMMAND --help` prints (at COLUMNS=100)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from scenarios.clidoc import PAGE, WIDTH, render

_SECTION = re.compile(r"^## (linelab(?: [a-z0-9]+)?)\n\n```\n(.*?)\n```", re.DOTALL | re.MULTILINE)


def sections() -> dict[str, str]:
    return dict(_SECTION.findall(PAGE.read_text(encoding="utf-8")))


def test_the_page_is_generated_from_the_parsers() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), "run python -m scenarios.clidoc"


def test_every_command_has_its_section() -> None:
    names = set(sections())
    assert {"linelab", "linelab run", "linelab modem", "linelab probe", "linelab replay"} <= names


@pytest.mark.parametrize("command", sorted(sections()))
def test_each_section_is_what_help_prints(command: str) -> None:
    env = dict(os.environ, COLUMNS=WIDTH)
    done = subprocess.run(
        [sys.executable, "-m", "linelab", *command.split()[1:], "--help"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip() == sections()[command]
