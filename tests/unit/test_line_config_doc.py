"""docs/line-config.md stays true: its example loads with every key it shows, and its
table lists exactly the keys the loader accepts (an unknown key is refused)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linelab.errors import SpecError
from tapi.config import parse_lines

PAGE = Path(__file__).resolve().parents[2] / "docs" / "line-config.md"
_BLOCK = re.compile(r"```yaml\n# line config: loads\n(.*?)```", re.DOTALL)
_ROW = re.compile(r"^\| `([a-z_.]+)`", re.MULTILINE)


def test_the_example_loads_with_what_it_says() -> None:
    block = _BLOCK.search(PAGE.read_text(encoding="utf-8"))
    assert block is not None
    office, lab = parse_lines(block.group(1), "docs/line-config.md")
    assert (office.port, office.number, lab.number) == ("/dev/ttyUSB0", "5551001", "5551002")
    assert (office.init, office.call_setup_fail_timer, office.timeouts.dtr_low) == (
        "M0L0",
        60,
        0.5,
    )


def test_the_table_lists_every_key_the_loader_takes() -> None:
    documented = set(_ROW.findall(PAGE.read_text(encoding="utf-8")))
    documented.discard("timeouts.command")  # the row names all six time-outs
    line_keys = {k for k in documented if "." not in k}
    assert line_keys >= {"name", "port", "number", "baudrate", "init", "reset"}
    for key in sorted(line_keys - {"name", "port"}):
        # Each documented key is accepted (its wrong type is refused by name, not as unknown).
        with pytest.raises(SpecError) as err:
            parse_lines(f'spec: "1"\nlines:\n  - {{name: a, port: /x, {key}: [1]}}\n', "t.yaml")
        assert "unknown" not in str(err.value), key
    with pytest.raises(SpecError, match="colour"):
        parse_lines('spec: "1"\nlines:\n  - {name: a, port: /x, colour: red}\n', "t.yaml")


def test_the_error_the_page_shows_is_the_loaders() -> None:
    with pytest.raises(SpecError) as err:
        parse_lines('spec: "1"\nlines:\n  - {name: a, port: /x, number: "555-1001"}\n', "l.yaml")
    text = PAGE.read_text(encoding="utf-8").replace("\n", " ")
    shown = str(err.value).split(": ", 1)[1]
    assert shown in text, shown
