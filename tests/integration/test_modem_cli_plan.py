"""`linelab modem` argument checking in-process (emulator.commands.modem.make_plan):
number allocation and the errors that must come before anything is created."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from emulator.commands.modem import ModemCommandError, make_plan, register
from emulator.network.farend import BehaviourError
from linelab.errors import LinelabError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["modem", *argv])


def test_numbers_skip_those_given_to_links_and_far_ends(tmp_path: Path) -> None:
    a, b, c, d = (str(tmp_path / n) for n in "abcd")
    plan = make_plan(parse(a, f"{b}=1002", c, d, "--far", "1001=busy"))
    assert [p.number for p in plan.links] == ["1003", "1002", "1004", "1005"]
    assert [p.name for p in plan.links] == ["a", "b", "c", "d"]
    assert [(n, str(b.kind)) for n, b in plan.far] == [("1001", "busy")]


def test_rfc2217_ports_apply_to_links_in_order(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    plan = make_plan(parse(a, b, "--rfc2217", "0"))
    assert [p.rfc2217 for p in plan.links] == [0, None]


def test_same_basename_gets_distinct_modem_names(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    plan = make_plan(parse(str(tmp_path / "m"), str(tmp_path / "x" / "m")))
    assert [p.name for p in plan.links] == ["m", "m-2"]


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        (["{a}={b}"], ModemCommandError, "is not a phone number"),
        (["{b}=1001", "--far", "1001=busy"], ModemCommandError, "number 1001 is given twice"),
        (["{a}"], ModemCommandError, "is given twice"),
        (["--far", "1001=sometimes"], BehaviourError, "sometimes"),
        (["--profile", "nope"], LinelabError, "nope"),
    ],
    ids=["bad-number", "number-twice", "link-twice", "bad-behaviour", "bad-profile"],
)
def test_bad_command_lines_are_refused_before_anything_exists(
    tmp_path: Path, extra: list[str], error: type[Exception], message: str
) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with pytest.raises(error, match=message):
        make_plan(parse(a, *(e.format(a=a, b=b) for e in extra)))
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModemCommandError, match="not a directory"):
        make_plan(parse(str(tmp_path / "nowhere" / "m")))


def test_rfc2217_address_in_the_ready_line() -> None:
    from emulator.commands.modem import _host_port

    assert _host_port("127.0.0.1", 2217) == "127.0.0.1:2217"
    assert _host_port("::1", 2217) == "[::1]:2217"  # unambiguous for host:port parsers


def test_unassigned_tone_defaults_to_reorder(tmp_path: Path) -> None:
    link = str(tmp_path / "a")
    assert make_plan(parse(link)).unassigned == "reorder"
    assert make_plan(parse(link, "--unassigned", "silence")).unassigned == "silence"
    with pytest.raises(SystemExit) as stop:
        parse(link, "--unassigned", "beep")
    assert stop.value.code == 2


def test_help_lists_choices_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "conexant, generic, hayes, lenient" in text  # the bundled profiles
    assert "(default: generic)" in text
    assert "repeat for several" in text and "busy | noanswer | answer" in text
    assert "(default: reorder)" in text
