"""Modem profiles: the bundled files load with the documented values, and every kind
of mistake in a profile file names the file, the line and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from emulator.core.profile import (
    BASIC_RESULTS,
    DEFAULT_PROFILE,
    REQUIRED_REGISTERS,
    Profile,
    RegisterSpec,
    bundled_profiles,
    load_profile,
    profile_path,
)
from linelab.errors import LinelabError, SpecError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "profiles"


def test_bundled_names() -> None:
    assert bundled_profiles() == ["conexant", "generic", "hayes", "lenient"]
    assert DEFAULT_PROFILE == "generic"


@pytest.mark.parametrize("name", ["conexant", "generic", "hayes", "lenient"])
def test_every_bundled_profile_is_complete(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.source.endswith(f"{name}.yaml")
    for word in BASIC_RESULTS:
        assert word in profile.result_codes
    assert list(profile.rates) == sorted(profile.rates)
    for rate in profile.rates:
        assert profile.connect_code(rate) == profile.result_codes[f"CONNECT {rate}"]
    # Result codes other than CONNECT/CONNECT 300 are all distinct.
    codes = [c for w, c in profile.result_codes.items() if w not in ("CONNECT", "CONNECT 300")]
    assert len(codes) == len(set(codes))
    for n in REQUIRED_REGISTERS:
        reg = profile.registers[n]
        assert reg.low <= reg.default <= reg.high
    assert set(profile.info) == set(range(10))
    assert profile.buffer_size == 255
    assert profile.ring_cadence == (2.0, 4.0)
    assert "0" in profile.fclass
    assert profile.defaults == {
        "E": 1,
        "V": 1,
        "Q": 0,
        "X": 4,
        "L": 1,
        "M": 1,
        "&C": 1,
        "&D": 2,
        "&K": 3,
        "&S": 0,
        "+VCID": 0,
    }


def _connect_table(profile: Profile) -> dict[int, int]:
    return {rate: profile.connect_code(rate) for rate in profile.rates}


def test_generic_values() -> None:
    p = load_profile("generic")
    assert p.unknown_commands == "error"
    assert p.fclass == ("0",)
    assert p.manufacturer == "linelab"
    assert p.capabilities == "+GCAP: +FCLASS"
    assert p.info[0] == ("33600",)
    assert p.result_codes["OK"] == 0
    assert p.result_codes["NO DIALTONE"] == 6
    assert p.result_codes["NO ANSWER"] == 8
    assert _connect_table(p) == {
        300: 1,
        1200: 5,
        2400: 10,
        4800: 11,
        7200: 24,
        9600: 12,
        12000: 25,
        14400: 13,
        16800: 59,
        19200: 14,
        21600: 61,
        24000: 62,
        26400: 63,
        28800: 15,
        31200: 91,
        33600: 84,
    }
    assert p.registers[2] == RegisterSpec(43, 0, 255)
    assert p.registers[3] == RegisterSpec(13, 0, 127)
    assert p.registers[7] == RegisterSpec(50, 1, 255)
    assert p.registers[10] == RegisterSpec(14, 1, 255)
    assert p.registers[12] == RegisterSpec(50, 0, 255)
    assert p.registers[25] == RegisterSpec(5, 0, 255)


def test_hayes_numbering() -> None:
    table = _connect_table(load_profile("hayes"))
    assert table == {
        300: 1,
        1200: 5,
        2400: 10,
        4800: 11,
        7200: 24,
        9600: 12,
        12000: 25,
        14400: 13,
        19200: 14,
        28800: 15,
    }


def test_conexant_numbering() -> None:
    p = load_profile("conexant")
    assert _connect_table(p) == {
        300: 1,
        600: 9,
        1200: 5,
        2400: 10,
        4800: 11,
        7200: 13,
        9600: 12,
        12000: 14,
        14400: 15,
        16800: 59,
        19200: 16,
        21600: 61,
        24000: 62,
        26400: 63,
        28800: 64,
        31200: 91,
        33600: 84,
    }
    assert p.fclass == ("0", "1", "1.0", "8")


def test_lenient_inherits_generic() -> None:
    lenient, generic = load_profile("lenient"), load_profile("generic")
    assert lenient.unknown_commands == "ok"
    assert lenient.rates == generic.rates
    assert lenient.result_codes == generic.result_codes
    assert lenient.registers == generic.registers
    assert lenient.model != generic.model
    assert lenient.info[3] == ("linelab lenient V.250 modem 1.0",)
    assert lenient.info[0] == generic.info[0]


def test_profile_is_read_only() -> None:
    p = load_profile()
    with pytest.raises(TypeError):
        p.registers[0] = RegisterSpec(1, 0, 255)  # type: ignore[index]


def test_unknown_name_lists_bundled() -> None:
    with pytest.raises(LinelabError, match=r"unknown profile 'usr'.*conexant, generic"):
        load_profile("usr")


def test_name_or_path() -> None:
    assert profile_path("hayes").name == "hayes.yaml"
    assert profile_path("my.yaml") == Path("my.yaml")
    assert profile_path("dir/x") == Path("dir/x")


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text('spec: "1"\nbase: hayes\nregisters:\n  S7: 30\n  S40: {default: 1}\n')
    p = load_profile(str(path))
    assert p.name == "mine"
    assert p.source == str(path)
    assert p.registers[7] == RegisterSpec(30, 1, 255)
    assert p.registers[40] == RegisterSpec(1, 0, 255)
    assert p.rates == load_profile("hayes").rates


def test_fixture_example_loads() -> None:
    p = load_profile(FIXTURES / "uk-double-ring.yaml")
    assert p.ring_cadence == (0.4, 0.2, 0.4, 2.0)
    assert p.rates == (300, 1200, 2400)
    assert p.buffer_size == 40


# -- bad files ---------------------------------------------------------------------

MINIMAL = """\
spec: "1"
identity:
  manufacturer: m
  model: x
  revision: "1"
  serial: "2"
  capabilities: "+GCAP: +FCLASS"
registers:
  S0: {default: 0, low: 0, high: 255}
  S1: {default: 0, low: 0, high: 255}
  S2: {default: 43, low: 0, high: 255}
  S3: {default: 13, low: 0, high: 127}
  S4: {default: 10, low: 0, high: 127}
  S5: {default: 8, low: 0, high: 127}
  S6: {default: 2, low: 2, high: 255}
  S7: {default: 50, low: 1, high: 255}
  S8: {default: 2, low: 0, high: 255}
  S9: {default: 6, low: 1, high: 255}
  S10: {default: 14, low: 1, high: 255}
  S11: {default: 95, low: 50, high: 255}
  S12: {default: 50, low: 0, high: 255}
  S25: {default: 5, low: 0, high: 255}
  S30: {default: 0, low: 0, high: 255}
result_codes: {OK: 0, CONNECT: 1, RING: 2, NO CARRIER: 3, ERROR: 4, NO DIALTONE: 6,
  BUSY: 7, NO ANSWER: 8}
rates:
  300: 1
  2400: 10
defaults: {E: 1, V: 1, Q: 0, X: 4, L: 1, M: 1, "&C": 1, "&D": 2, "&K": 3, "&S": 0,
  "+VCID": 0}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_minimal_profile_loads(tmp_path: Path) -> None:
    p = load_profile(_write(tmp_path, MINIMAL))
    assert p.rates == (300, 2400)
    assert p.info == {}
    assert p.fclass == ("0",)
    assert p.unknown_commands == "error"


def _error(tmp_path: Path, text: str) -> SpecError:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_profile(path)
    err = info.value
    assert err.path == str(path)
    assert str(path) in str(err)
    return err


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("old", "new", "key", "needle", "message"),
    [
        ('spec: "1"', 'spec: "2"', "spec", "spec:", "newer"),
        ("  S7: {default: 50,", "  S7: {default: 300,", "registers.S7.default", "S7:", "between"),
        (
            "  S3: {default: 13, low: 0, high: 127}",
            "  S3: {default: 13, low: 0, high: 300}",
            "registers.S3.high",
            "S3:",
            "between 0 and 255",
        ),
        (
            "  S3: {default: 13, low: 0, high: 127}",
            "  S3: {default: 13, low: 20, high: 10}",
            "registers.S3.low",
            "S3:",
            "above high",
        ),
        ("  S3: {default: 13,", "  S3: {defualt: 13,", "registers.S3", "S3:", "missing"),
        (
            "  S3: {default: 13, low: 0, high: 127}",
            "  S3: {default: 13, low: 0, high: 127, x: 1}",
            "registers.S3.x",
            "S3:",
            "unknown key",
        ),
        ("  S30: {default: 0,", "  S300: {default: 0,", "registers.S300", "S300", "S0 to S255"),
        ("  300: 1", "  300: 1\n  1200:", "rates.1200", "1200:", "numeric code of CONNECT 1200"),
        ("  300: 1", "  300: 1\n  1200: fast", "rates.1200", "1200:", "whole number"),
        ("  2400: 10", "  2400: 10\n  1200: 10", "rates.1200", "1200:", "already CONNECT 2400"),
        ("  300: 1", "  300: 3", "rates.300", "300:", "already NO CARRIER"),
        ("  300: 1", "  fast: 1", "rates.fast", "fast:", "rate"),
        ('  serial: "2"', "  serial: [2]", "identity.serial", "serial:", "must be text"),
        ("  model: x", "  modle: x", "identity", "identity:", "missing"),
        ("  model: x", "  model: x\n  colour: red", "identity.colour", "colour", "unknown key"),
        ("defaults: {E: 1,", "defaults: {E: 7,", "defaults.E", "defaults:", "between 0 and 1"),
        ("defaults: {E: 1,", "defaults: {E: yes,", "defaults.E", "defaults:", "whole number"),
        ("defaults: {E: 1,", "defaults: {", "defaults", "defaults:", "missing defaults E"),
        ("  BUSY: 7,", "  BUSY: 6,", "result_codes.BUSY", "BUSY", "already NO DIALTONE"),
        ("  BUSY: 7,", "  BUSY: 7, CONNECTED: 9,", "result_codes.CONNECTED", "BUSY", "unknown"),
        ('spec: "1"', 'spec: "1"\nbuffer_size: 10', "buffer_size", "buffer_size", "between 40"),
        (
            'spec: "1"',
            'spec: "1"\nunknown_commands: maybe',
            "unknown_commands",
            "unknown_c",
            "one of error, ok",
        ),
        ('spec: "1"', 'spec: "1"\nring_cadence: [2, 4, 1]', "ring_cadence", "ring_", "pairs"),
        ('spec: "1"', 'spec: "1"\nring_cadence: [2, -4]', "ring_cadence[1]", "ring_", "above 0"),
        ('spec: "1"', 'spec: "1"\nring_cadence: 2', "ring_cadence", "ring_", "must be a list"),
        ('spec: "1"', 'spec: "1"\nfclass: [0]', "fclass[0]", "fclass", "quoted class"),
        ('spec: "1"', 'spec: "1"\nfclass: ["1"]', "fclass", "fclass", 'include class "0"'),
        ('spec: "1"', 'spec: "1"\nfclass: ["0", "0"]', "fclass[1]", "fclass", "twice"),
        ('spec: "1"', 'spec: "1"\ninfo: {10: x}', "info.10", "info", "0 to 9"),
        ('spec: "1"', 'spec: "1"\ninfo: {3: "a\\tb"}', "info.3", "info", "printable"),
        ('spec: "1"', 'spec: "1"\nbase: usr', "base", "base", "unknown profile 'usr'"),
        ('spec: "1"', 'spec: "1"\nspeed: 9600', "speed", "speed", "unknown key"),
        (
            "  S30: {default: 0, low: 0, high: 255}",
            "  S30: {default: 0, low: 0, high: 255}\n  S1: {default: 9}",
            "registers.S1",
            "S1: {default: 9}",
            "duplicate key",
        ),
    ],
)
def test_bad_value_names_file_line_key(
    tmp_path: Path, old: str, new: str, key: str, needle: str, message: str
) -> None:
    assert old in MINIMAL
    text = MINIMAL.replace(old, new, 1)
    err = _error(tmp_path, text)
    assert err.key == key
    assert err.line == _line_of(text, needle)
    assert message in err.message
    assert f"{err.path}:{err.line}: key {key!r}" in str(err)


def test_missing_register(tmp_path: Path) -> None:
    text = MINIMAL.replace("  S25: {default: 5, low: 0, high: 255}\n", "")
    err = _error(tmp_path, text)
    assert err.key == "registers"
    assert err.line == _line_of(text, "registers:")
    assert "missing registers S25" in err.message


def test_missing_spec_first_key(tmp_path: Path) -> None:
    text = MINIMAL.replace('spec: "1"\n', "") + 'spec: "1"\n'
    err = _error(tmp_path, text)
    assert err.key == "spec"
    assert "first key" in err.message


def test_missing_section(tmp_path: Path) -> None:
    text = MINIMAL.replace("rates:\n  300: 1\n  2400: 10\n", "")
    err = _error(tmp_path, text)
    assert "missing required key 'rates'" in err.message


def test_base_rate_colliding_with_result_code(tmp_path: Path) -> None:
    text = 'spec: "1"\nbase: generic\nresult_codes:\n  BUSY: 5\n'
    err = _error(tmp_path, text)
    assert err.key == "result_codes.BUSY"
    assert err.line == 4
    assert "CONNECT 1200 is already BUSY" in err.message


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_profile(tmp_path / "absent.yaml")
    err = _error(tmp_path, 'spec: "1"\nidentity: [\n')
    assert "not valid YAML" in err.message


def test_lenient_arguments_is_a_profile_setting() -> None:
    assert load_profile("lenient").lenient_arguments is True
    for name in ("generic", "hayes", "conexant"):
        assert load_profile(name).lenient_arguments is False
