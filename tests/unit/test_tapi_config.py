"""Line-device configuration: the YAML file, where it is found, the default lines."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest

from linelab.errors import LinelabError, SpecError
from tapi import config
from tapi import constants as C

GOOD = """\
spec: "1"
lines:
  - name: Office modem
    port: /dev/ttyUSB0
    init: "ATM0"
    dial: {method: pulse, blind: true, options: [dialtone, billing]}
    timeouts: {answer: 30, dial: 90}
  - name: Virtual
    port: vmodem://m1
"""


def test_parse_lines_with_defaults() -> None:
    office, virtual = config.parse_lines(GOOD, "lines.yaml")
    assert office.name == "Office modem" and office.port == "/dev/ttyUSB0"
    assert office.init == "ATM0" and office.dial_method == "pulse" and office.blind
    assert office.dev_cap_flags == (
        C.LINEDEVCAPFLAGS_CLOSEDROP
        | C.LINEDEVCAPFLAGS_DIALDIALTONE
        | C.LINEDEVCAPFLAGS_DIALBILLING
    )
    assert office.timeouts.answer == 30.0 and office.timeouts.command == 3.0
    assert virtual.port == "vmodem://m1" and virtual.baudrate == 115200
    assert virtual.source == "lines.yaml:8"


def test_one_line_init_is_on_by_default_and_can_be_turned_off() -> None:
    from tapi.providers.modem import settings_for

    office, _virtual = config.parse_lines(GOOD, "lines.yaml")
    assert office.one_line_init and settings_for(office).one_line
    (old,) = config.parse_lines(
        'spec: "1"\nlines:\n  - {name: a, port: p, one_line_init: false}\n', "lines.yaml"
    )
    assert not old.one_line_init
    assert settings_for(old).joined_setup() is None
    assert [c for c, _ in settings_for(old).init_commands()][:2] == ["ATZ", "ATE0V1&C1&D2"]
    with pytest.raises(SpecError, match="one_line_init"):
        config.parse_lines('spec: "1"\nlines:\n  - {name: a, port: p, one_line_init: 3}\n', "x")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('spec: "1"\nlines:\n  - name: a\n', "lines.yaml:3: key 'lines[0]'"),
        ('spec: "1"\nlines:\n  - name: a\n    port: p\n    bogus: 1\n',
         "lines.yaml:5: key 'lines[0].bogus'"),
        ('spec: "1"\nlines:\n  - name: a\n    port: p\n    dial: {options: [loud]}\n',
         "lines.yaml:5: key 'lines[0].dial.options'"),
        ('spec: "1"\nlines:\n  - name: a\n    port: p\n    timeouts: {answer: -1}\n',
         "lines.yaml:5: key 'lines[0].timeouts.answer'"),
        ('spec: "1"\nlines:\n  - {name: a, port: p}\n  - {name: a, port: q}\n',
         "lines.yaml:4: key 'lines[1]': duplicate line name"),
        ('spec: "2"\nlines: []\n', "lines.yaml:1: key 'spec'"),
    ],
)  # fmt: skip
def test_bad_files_name_file_line_and_key(text: str, where: str) -> None:
    with pytest.raises(SpecError) as err:
        config.parse_lines(text, "lines.yaml")
    assert str(err.value).startswith(where), str(err.value)


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    assert config.find_config() is None
    user = tmp_path / ".config" / "linelab" / "lines.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(GOOD)
    assert config.find_config() == user
    env = tmp_path / "env.yaml"
    monkeypatch.setenv(config.ENV_VAR, str(env))
    assert config.find_config() == env
    assert config.find_config("explicit.yaml") == Path("explicit.yaml")
    with pytest.raises(SpecError, match=r"env\.yaml: cannot read"):
        config.configured_lines()


class _EP:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self._value = value

    def load(self) -> Any:
        return self._value


def test_default_lines_come_from_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    eps = [
        _EP("b", lambda: [{"name": "Builtin", "port": "vmodem://default"}]),
        _EP("a", lambda: [config.LineConfig("First", "vmodem://first")]),
    ]

    def fake_entry_points(*, group: str) -> list[_EP]:
        assert group == "linelab.default_lines"
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert [c.name for c in config.configured_lines()] == ["First", "Builtin"]
    eps.append(_EP("c", lambda: [42]))
    with pytest.raises(LinelabError, match="entry point c"):
        config.default_lines()


def test_default_stack_without_any_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda *, group: [])
    stack = config.default_stack()
    assert stack.hierarchy().devices == ()
    stack.close()


def test_default_stack_from_a_file_has_one_device_per_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.yaml"
    path.write_text(GOOD)
    stack = config.default_stack(path)
    try:
        names = [d.name for d in stack.hierarchy().devices]
        assert names == ["Office modem", "Virtual"]
        rc, _h, n = stack.lineInitialize(None, lambda *a: None, "x")
        assert rc == 0 and n == 2
    finally:
        stack.close()
