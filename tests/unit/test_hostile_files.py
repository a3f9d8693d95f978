"""Hostile files (issue 14): every file a user can hand linelab, however malicious or
broken, gives one SpecError naming the file, the line and the key, in bounded time and
memory; and values that would be accepted but are harmful (NaN time-outs, an init
string that smuggles a second command) are refused."""

from __future__ import annotations

import os
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from emulator.core.profile import load_profile, parse_profile
from emulator.network.farend import BehaviourError, parse_behaviour
from linelab.errors import SpecError
from linelab.specfile import MAX_BYTES, load_spec, parse_spec
from scenarios.cli import main
from tapi import config

PROFILE_HEAD = 'spec: "1"\nbase: generic\n'
LINES_HEAD = 'spec: "1"\nlines:\n  - name: a\n    port: /dev/null\n'


def alias_bomb(head: str, key: str) -> str:
    """~1 KB that expands to 9**10 scalars when aliases are followed."""
    rows = ["a0: &a0 [" + ", ".join(["x"] * 9) + "]"]
    for level in range(1, 10):
        rows.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    body = "\n".join(rows)
    return f"{head}x_bomb:\n" + textwrap.indent(body, "  ") + f"\n{key}: *a9\n"


def located(exc: SpecError, path: str, line: int, key: str | None) -> None:
    assert (exc.path, exc.line, exc.key) == (path, line, key), str(exc)
    assert str(exc).startswith(f"{path}:{line}: ")
    assert "\n" not in str(exc)


# -- the alias bomb --------------------------------------------------------------------


def test_alias_bomb_profile_is_refused_quickly_and_small(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(PROFILE_HEAD, "description"))
    assert path.stat().st_size < 1200
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SpecError) as err:
            load_profile(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5.0
    assert peak < 5 * 1024 * 1024
    located(err.value, str(path), 4, "x_bomb.a0")
    assert "anchors (&a0) are not supported" in str(err.value)


def test_alias_bomb_line_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lines.yaml"
    path.write_text(alias_bomb(LINES_HEAD, "extra"))
    with pytest.raises(SpecError) as err:
        config.load_lines(path)
    located(err.value, str(path), 6, "x_bomb.a0")


def test_an_alias_without_anchor_is_still_refused() -> None:
    # An unknown alias is a YAML error; a known one is refused at the alias.
    with pytest.raises(SpecError) as err:
        parse_spec('spec: "1"\na: *nowhere\n', "f.yaml", kind="profile")
    assert err.value.line == 2


# -- tags, merge keys, nesting, huge numbers ------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!foo 100", "!foo"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/object/apply:os.system 'touch /tmp/x'", "!!python/object/apply:os.system"),
        ("!!python/object/apply:os.system ['touch /tmp/x']", "!!python/object/apply:os.system"),
        ("!!str 100", "!!str"),
        ("!!binary aGk=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("! 100", "!"),
    ],
)
def test_any_tag_is_a_located_error(tmp_path: Path, value: str, shown: str) -> None:
    path = tmp_path / "tagged.yaml"
    path.write_text(PROFILE_HEAD + f"buffer_size: {value}\n")
    with pytest.raises(SpecError) as err:
        load_profile(path)
    located(err.value, str(path), 3, "buffer_size")
    assert f"tags ({shown}) are not supported" in str(err.value)


def test_merge_key_is_a_located_error() -> None:
    text = 'spec: "1"\nlines:\n  - <<: {name: a, port: p}\n'
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    located(err.value, "lines.yaml", 3, "lines[0]")
    assert "merge keys (<<)" in str(err.value)


def test_merge_key_with_alias_is_a_located_error() -> None:
    text = 'spec: "1"\nx: &base {name: a}\nlines:\n  - <<: *base\n'
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    located(err.value, "lines.yaml", 2, "x")


def test_five_thousand_nested_brackets(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(PROFILE_HEAD + "rates: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError) as err:
        load_profile(path)
    assert err.value.line == 3
    assert "nested deeper than 64 levels" in str(err.value)
    assert len(str(err.value)) < 300


@pytest.mark.parametrize(
    "number",
    ["1" * 5000, "0x" + "f" * 5000, "0b" + "1" * 5000, ":".join(["59"] * 3000), "1" * 19],
)
def test_numbers_too_long_for_python(tmp_path: Path, number: str) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(PROFILE_HEAD + f"registers:\n  S7: {number}\n")
    with pytest.raises(SpecError) as err:
        load_profile(path)
    located(err.value, str(path), 4, "registers.S7")
    assert "smaller than 10^18" in str(err.value)


def test_huge_number_in_a_line_config() -> None:
    text = LINES_HEAD + f"    baudrate: {'9' * 4400}\n"
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    located(err.value, "lines.yaml", 5, "lines[0].baudrate")


@pytest.mark.parametrize(
    ("yaml_text", "line", "key", "message"),
    [
        ("x: 2001-99-99\n", 2, "x", "not a valid date"),
        ("x: \x07\n", 2, None, "special characters are not allowed"),
        ("x: 1\n---\nx: 2\n", 3, None, "more than one YAML document"),
        ("? [a]\n: 1\n", 2, None, "keys must be text"),
        ("x: [1, 2\n", 3, None, "not valid YAML"),
    ],
)
def test_other_broken_yaml(yaml_text: str, line: int, key: str | None, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec('spec: "1"\n' + yaml_text, "f.yaml", kind="scenario")
    located(err.value, "f.yaml", line, key)
    assert message in str(err.value)


@pytest.mark.parametrize("version", ["²", "٣", "9" * 5000])
def test_spec_versions_that_are_not_ascii_numbers(version: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(f'spec: "{version}"\n', "f.yaml", kind="profile")
    located(err.value, "f.yaml", 1, "spec")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("rates:\n  '²': 5\n", "a rate is a whole number"),
        ("rates:\n  ? '" + "1" * 5000 + "'\n  : 5\n", "a rate is a whole number"),
        ("info:\n  '²': hi\n", "numbered 0 to 9"),
        ("registers:\n  S²: 1\n", "register names are S0 to S255"),
        ("fclass:\n- '٣'\n", "must be a quoted class"),
    ],
)
def test_profile_keys_with_unicode_digits(section: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_profile(PROFILE_HEAD + section, "p.yaml")
    assert err.value.line == 4 and message in str(err.value), str(err.value)


# -- files that are not files ----------------------------------------------------------


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(fifo, kind="profile")


def test_device_is_refused_without_reading_it() -> None:
    with pytest.raises(SpecError, match="/dev/zero: cannot read: not a regular file"):
        load_profile("/dev/zero")


def test_nul_in_a_path() -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec("a\x00b.yaml", kind="profile")


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b'spec: "1"\n' + b"#" * MAX_BYTES)
    with pytest.raises(SpecError, match="larger than 4 MiB"):
        load_spec(path, kind="profile")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b'spec: "1"\ndescription: caf\xe9\n')
    with pytest.raises(SpecError) as err:
        load_spec(path, kind="profile")
    assert err.value.line == 2 and "not UTF-8" in str(err.value)


# -- values that parse but must be refused ---------------------------------------------


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "-1", "1e400", "86401", "-0.5"])
def test_timeouts_need_a_finite_range(value: str) -> None:
    text = LINES_HEAD + f"    timeouts: {{command: {value}}}\n"
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    located(err.value, "lines.yaml", 5, "lines[0].timeouts.command")


@pytest.mark.parametrize("key", ["command", "dial", "answer", "guard", "dtr_low", "no_response"])
def test_every_timeout_is_ranged(key: str) -> None:
    with pytest.raises(SpecError, match="finite"):
        config.parse_lines(LINES_HEAD + f"    timeouts: {{{key}: .nan}}\n", "lines.yaml")
    ok = config.parse_lines(LINES_HEAD + f"    timeouts: {{{key}: 86400}}\n", "lines.yaml")
    assert getattr(ok[0].timeouts, key) == 86400.0


@pytest.mark.parametrize(
    "init",
    [
        '"ATM0\\rATDT5551234"',
        '"ATM0\\nAT&W"',
        '"ATM0\\x00"',
        '"ATM0\\u00e9"',
        '"' + "A" * 251 + '"',
    ],
)
def test_init_string_character_set(init: str) -> None:
    with pytest.raises(SpecError) as err:
        config.parse_lines(LINES_HEAD + f"    init: {init}\n", "lines.yaml")
    located(err.value, "lines.yaml", 5, "lines[0].init")


def test_init_string_folded_across_lines_is_refused() -> None:
    text = LINES_HEAD + "    init: |\n      ATM0\n      ATDT5551234\n"
    with pytest.raises(SpecError, match="no CR, LF"):
        config.parse_lines(text, "lines.yaml")


@pytest.mark.parametrize(
    ("key", "value"), [("name", '"a\\nb"'), ("port", '"/dev/tty\\x00S0"'), ("port", '""')]
)
def test_name_and_port_text(key: str, value: str) -> None:
    text = 'spec: "1"\nlines:\n  - name: a\n    port: p\n' + f"    {key}: {value}\n"
    text = text.replace(f"    {key}: {'a' if key == 'name' else 'p'}\n", "", 1)
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    assert err.value.key == f"lines[0].{key}", str(err.value)


def test_dial_options_that_are_not_text() -> None:
    text = LINES_HEAD + "    dial: {options: [{a: 1}, [2]]}\n"
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    located(err.value, "lines.yaml", 5, "lines[0].dial.options")


def test_profile_identity_length_and_description() -> None:
    with pytest.raises(SpecError, match="at most 256 characters"):
        parse_profile(PROFILE_HEAD + f"identity: {{model: {'M' * 300}}}\n", "p.yaml")
    with pytest.raises(SpecError) as err:
        parse_profile(PROFILE_HEAD + 'description: "a\\x1b[2Jb"\n', "p.yaml")
    located(err.value, "p.yaml", 3, "description")
    assert parse_profile(PROFILE_HEAD + "description: two\\nlines\n", "p.yaml").description


# -- --far values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "answer,rate=" + "9" * 5000,
        "answer,hangup=" + "9" * 5000 + "B",
        "answer,hangup=" + "9" * 150 + "B",
        "answer,after=" + "9" * 150,
        "answer,rate=" + "9" * 30,
    ],
)
def test_far_values_with_huge_numbers(text: str) -> None:
    with pytest.raises(BehaviourError) as err:
        parse_behaviour(text)
    assert len(str(err.value)) < 400


# -- the command line: exit 2, one line, no traceback ----------------------------------


@pytest.mark.parametrize(
    "content",
    [
        alias_bomb(PROFILE_HEAD, "description"),
        PROFILE_HEAD + "buffer_size: !!python/object/apply:os.system 'true'\n",
        PROFILE_HEAD + "rates: " + "[" * 5000 + "\n",
        PROFILE_HEAD + "buffer_size: " + "1" * 5000 + "\n",
    ],
    ids=["alias-bomb", "apply-tag", "deep", "huge-int"],
)
def test_modem_command_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(content)
    status = main(["modem", "--profile", str(path), str(tmp_path / "link")])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"linelab modem: {path}:"), err
    assert not (tmp_path / "link").exists()


def test_modem_command_far_with_huge_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["modem", "--far", "555=answer,rate=" + "9" * 5000, str(tmp_path / "l")])
    _, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1 and "bad far-end behaviour" in err
