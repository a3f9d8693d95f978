"""Modem profiles: what makes one virtual modem look like a given product.

A profile is a versioned YAML file (first key ``spec: "1"``) read through the shared
loader `linelab.specfile`, so every mistake is reported with the file, the line and the
dotted key. It holds the identity strings (+GMI/+GMM/+GMR/+GSN/+GCAP, ATI0-ATI9), the
S-registers with their factory defaults and ranges, the numeric result codes (the
vendor tables differ for CONNECT speeds, see docs/profiles.md), the supported line
rates, the command-buffer size, strict or lenient handling of unknown commands, the
+FCLASS classes, the ring cadence and the factory values of the basic settings.

A profile may start from another with ``base: <bundled name>``: mappings (identity,
info, registers, result_codes, defaults) are merged entry by entry, everything else
(rates, fclass, ring_cadence, scalars) is replaced as a whole. The bundled profiles
live in ``emulator/core/profiles/<name>.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from linelab.errors import LinelabError
from linelab.specfile import SpecMap, load_spec, parse_spec

DEFAULT_PROFILE = "generic"
PROFILE_DIR = Path(__file__).parent / "profiles"

# The result words every profile numbers; "CONNECT <rate>" entries come from `rates`.
BASIC_RESULTS: tuple[str, ...] = (
    "OK",
    "CONNECT",
    "RING",
    "NO CARRIER",
    "ERROR",
    "NO DIALTONE",
    "BUSY",
    "NO ANSWER",
)

# Registers the engine relies on; a profile may add more (S0-S255).
REQUIRED_REGISTERS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25, 30)

# Factory settings: key -> (low, high) of the command's parameter.
DEFAULT_RANGES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "E": (0, 1),
        "V": (0, 1),
        "Q": (0, 1),
        "X": (0, 4),
        "L": (0, 3),
        "M": (0, 3),
        "&C": (0, 1),
        "&D": (0, 3),
        "&K": (0, 6),
        "&S": (0, 1),
        "+VCID": (0, 2),
    }
)

_TOP_KEYS = {
    "spec",
    "base",
    "description",
    "identity",
    "info",
    "registers",
    "result_codes",
    "rates",
    "buffer_size",
    "unknown_commands",
    "lenient_arguments",
    "fclass",
    "ring_cadence",
    "defaults",
    "lacks",
}
#: Behaviours a profile may say its modem lacks (`lacks:`). The emulator implements
#: them all whatever a profile says; the list is for scenarios run against the real
#: modem the profile describes (a scenario relying on one it lacks is skipped).
BEHAVIOURS = (
    "repeat",  # A/ repeats the last command line
    "overflow",  # an over-long command line answers ERROR and runs nothing
    "v0-info",  # under V0, information text is "text CR LF" (no leading CR LF)
    "line-characters",  # S3 ends the line, S4 frames results, S5 deletes a character
    "x-gating",  # X levels replace BUSY/NO DIALTONE/CONNECT <rate> by their X0 forms
    "stored-profile",  # &W stores the active settings, Z restores them
    "escape",  # +++ with guard times returns to command mode
    "dtr",  # &D0-&D3 act on a DTR drop
    "dcd",  # &C0/&C1 drive DCD
    "callerid",  # +VCID caller ID between rings
)
_IDENTITY_KEYS = ("manufacturer", "model", "revision", "serial", "capabilities")
_REGISTER_KEY = re.compile(r"S([0-9]{1,3})")
_FCLASS = re.compile(r"[0-9]{1,2}(\.[0-9])?")
_RATE_KEY = re.compile(r"[0-9]{1,8}")
# Buffer sizes: V.250 asks for at least 40 characters; 1024 is far beyond any product.
_BUFFER_RANGE = (40, 1024)
_MAX_RATE = 10_000_000
_MAX_CADENCE_STEP = 60.0
_MAX_CADENCE_STEPS = 16
_MAX_DESCRIPTION = 4096
# One identity or ATI line: no product answers with more.
_MAX_TEXT = 256


@dataclass(frozen=True)
class RegisterSpec:
    """One S-register: factory default and the range `ATSn=v` accepts."""

    default: int
    low: int
    high: int


@dataclass(frozen=True)
class Profile:
    """A loaded, checked modem profile (read-only)."""

    name: str
    source: str
    manufacturer: str
    model: str
    revision: str
    serial: str
    capabilities: str
    info: Mapping[int, tuple[str, ...]]
    registers: Mapping[int, RegisterSpec]
    result_codes: Mapping[str, int]
    rates: tuple[int, ...]
    buffer_size: int
    unknown_commands: Literal["error", "ok"]
    fclass: tuple[str, ...]
    ring_cadence: tuple[float, ...]
    defaults: Mapping[str, int]
    description: str = field(default="")
    # Known commands also take the vendor arguments init strings use (&F1, &F2 as &F).
    lenient_arguments: bool = field(default=False)
    # Behaviours of BEHAVIOURS the modem described does not have (a real modem's profile).
    lacks: tuple[str, ...] = field(default=())

    def connect_code(self, rate: int) -> int:
        """The numeric code of ``CONNECT <rate>`` (KeyError for an unsupported rate)."""
        return self.result_codes[f"CONNECT {rate}"]


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with linelab, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def profile_path(name_or_path: str | Path) -> Path:
    """The file a `--profile` value refers to: a path (anything with a "/" or ending in
    ".yaml") or a bundled name. Raises LinelabError for an unknown name."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    names = bundled_profiles()
    if text not in names:
        raise LinelabError(f"unknown profile {text!r}; bundled profiles: {', '.join(names)}")
    return PROFILE_DIR / f"{text}.yaml"


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """Load a bundled profile by name, or a profile file by path.

    Raises SpecError (naming file, line and key) for a bad file and LinelabError for an
    unknown bundled name.
    """
    return _load(profile_path(name_or_path), ())


def parse_profile(text: str, path: str | Path = "<profile>") -> Profile:
    """`load_profile` for YAML text already in memory; `path` names it in messages and
    gives the profile its name."""
    return _load(Path(path), (), text)


def _load(path: Path, chain: tuple[str, ...], text: str | None = None) -> Profile:
    if text is None:
        spec = load_spec(path, kind="profile")
    else:
        spec = parse_spec(text, str(path), kind="profile")
    root = spec.root
    root.reject_unknown(_TOP_KEYS)
    base: Profile | None = None
    if "base" in root:
        base_name = root.text("base")
        names = bundled_profiles()
        if base_name not in names:
            raise root.error("base", f"unknown profile {base_name!r}; bundled: {', '.join(names)}")
        if base_name in chain or (PROFILE_DIR / f"{base_name}.yaml").resolve() == path.resolve():
            raise root.error("base", f"profile {base_name!r} is its own base")
        base = _load(PROFILE_DIR / f"{base_name}.yaml", (*chain, base_name))
    return _build(root, path, base)


def _build(root: SpecMap, path: Path, base: Profile | None) -> Profile:
    name = path.stem
    identity = _identity(root, base)
    rates, rate_codes = _rates(root, base)
    result_codes = _result_codes(root, base, rate_codes)
    buffer_size = root.integer(
        "buffer_size",
        base.buffer_size if base else 255,
        low=_BUFFER_RANGE[0],
        high=_BUFFER_RANGE[1],
    )
    unknown = root.choice(
        "unknown_commands", ("error", "ok"), base.unknown_commands if base else "error"
    )
    lenient_arguments = root.flag("lenient_arguments", base.lenient_arguments if base else False)
    return Profile(
        name=name,
        source=str(path),
        manufacturer=identity["manufacturer"],
        model=identity["model"],
        revision=identity["revision"],
        serial=identity["serial"],
        capabilities=identity["capabilities"],
        info=MappingProxyType(_info(root, base)),
        registers=MappingProxyType(_registers(root, base)),
        result_codes=MappingProxyType(result_codes),
        rates=rates,
        buffer_size=buffer_size,
        unknown_commands=unknown,
        fclass=_fclass(root, base),
        ring_cadence=_cadence(root, base),
        defaults=MappingProxyType(_defaults(root, base)),
        description=_description(root, base),
        lenient_arguments=lenient_arguments,
        lacks=_lacks(root, base),
    )


def _lacks(root: SpecMap, base: Profile | None) -> tuple[str, ...]:
    if "lacks" not in root:
        return base.lacks if base else ()
    out: list[str] = []
    for item in root.items("lacks"):
        if item.value not in BEHAVIOURS:
            raise item.error(f"must be one of {', '.join(BEHAVIOURS)}, not {item.value!r}")
        if item.value in out:
            raise item.error(f"{item.value} is listed twice")
        out.append(item.value)
    return tuple(out)


# -- sections ------------------------------------------------------------------------


def _printable(owner: SpecMap, key: str, value: str) -> str:
    # Identity and info text go to the DTE verbatim, so framing characters would
    # corrupt the response framing the DTE parses.
    if not value.isascii() or not value.isprintable():
        raise owner.error(key, "must be printable ASCII text (no control characters)")
    if len(value) > _MAX_TEXT:
        raise owner.error(key, f"must be at most {_MAX_TEXT} characters, not {len(value)}")
    return value


def _description(root: SpecMap, base: Profile | None) -> str:
    text: str = root.text("description", base.description if base else "")
    if len(text) > _MAX_DESCRIPTION or not text.replace("\n", " ").isprintable():
        raise root.error(
            "description", f"must be printable text of at most {_MAX_DESCRIPTION} characters"
        )
    return text


def _identity(root: SpecMap, base: Profile | None) -> dict[str, str]:
    section = _section(root, "identity", base)
    out: dict[str, str] = {}
    for key in _IDENTITY_KEYS:
        fallback = getattr(base, key) if base else None
        if fallback is None and key not in section:
            raise root.error("identity", f"missing required key 'identity.{key}'")
        value = section.text(key, fallback)
        out[key] = _printable(section, key, value) if key in section else value
    section.reject_unknown()
    return out


def _info(root: SpecMap, base: Profile | None) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = dict(base.info) if base else {}
    section = root.mapping("info", {})
    for key in section:
        if len(key) != 1 or key not in "0123456789":
            raise section.error(key, "info entries are numbered 0 to 9 (ATI0-ATI9)")
        raw = section.raw(key)
        if raw is None:
            out.pop(int(key), None)  # `5: null` removes an entry inherited from the base
            continue
        lines: list[str]
        if isinstance(raw, list):
            items = section.items(key)
            lines = []
            for item in items:
                if not isinstance(item.value, str | int | float) or isinstance(item.value, bool):
                    raise item.error("must be a line of text")
                lines.append(str(item.value))
        else:
            lines = section.text(key).split("\n")
        if not lines:
            raise section.error(key, "needs at least one line of text")
        for line in lines:
            _printable(section, key, line)
        out[int(key)] = tuple(lines)
    return dict(sorted(out.items()))


def _registers(root: SpecMap, base: Profile | None) -> dict[int, RegisterSpec]:
    out: dict[int, RegisterSpec] = dict(base.registers) if base else {}
    section = _section(root, "registers", base)
    for key in section:
        match = _REGISTER_KEY.fullmatch(key)
        if match is None or int(match.group(1)) > 255:
            raise section.error(key, "register names are S0 to S255")
        number = int(match.group(1))
        inherited = out.get(number)
        if isinstance(section.raw(key), dict):
            reg = section.mapping(key)
            low = reg.integer("low", inherited.low if inherited else 0, low=0, high=255)
            high = reg.integer("high", inherited.high if inherited else 255, low=0, high=255)
            if low > high:
                raise reg.error("low", f"low ({low}) is above high ({high})")
            if "default" not in reg and inherited is None:
                raise section.error(key, f"missing required key '{reg.prefix}.default'")
            default = reg.integer("default", inherited.default if inherited else 0)
            if not low <= default <= high:
                raise reg.error("default", f"must be between {low} and {high}, not {default}")
            reg.reject_unknown()
        else:
            # `S7: 30` changes only the default and keeps the range.
            low = inherited.low if inherited else 0
            high = inherited.high if inherited else 255
            default = section.integer(key)
            if not low <= default <= high:
                raise section.error(key, f"must be between {low} and {high}, not {default}")
        out[number] = RegisterSpec(default, low, high)
    missing = [n for n in REQUIRED_REGISTERS if n not in out]
    if missing:
        names = ", ".join(f"S{n}" for n in missing)
        raise root.error("registers", f"missing registers {names}")
    return dict(sorted(out.items()))


def _rates(root: SpecMap, base: Profile | None) -> tuple[tuple[int, ...], dict[int, int]]:
    if "rates" not in root:
        if base is None:
            raise root.error(None, "missing required key 'rates'")
        return base.rates, {r: base.connect_code(r) for r in base.rates}
    section = root.mapping("rates")
    codes: dict[int, int] = {}
    seen: dict[int, int] = {}
    for key in section:
        if _RATE_KEY.fullmatch(key) is None or not 0 < int(key) <= _MAX_RATE:
            raise section.error(key, f"a rate is a whole number of bit/s up to {_MAX_RATE}")
        rate = int(key)
        if section.raw(key) is None:
            raise section.error(key, f"rate {rate} needs the numeric code of CONNECT {rate}")
        code = section.integer(key, low=0, high=255)
        if code in seen:
            raise section.error(key, f"code {code} is already CONNECT {seen[code]}")
        seen[code] = rate
        codes[rate] = code
    if not codes:
        raise root.error("rates", "needs at least one rate")
    return tuple(sorted(codes)), codes


def _result_codes(
    root: SpecMap, base: Profile | None, rate_codes: dict[int, int]
) -> dict[str, int]:
    out: dict[str, int] = {w: base.result_codes[w] for w in BASIC_RESULTS} if base else {}
    section = _section(root, "result_codes", base)
    for word in BASIC_RESULTS:
        if word in section:
            out[word] = section.integer(word, low=0, high=255)
    section.reject_unknown()
    missing = [w for w in BASIC_RESULTS if w not in out]
    if missing:
        raise root.error("result_codes", f"missing result codes {', '.join(missing)}")
    by_code: dict[int, str] = {}
    for word in BASIC_RESULTS:
        if out[word] in by_code:
            message = f"code {out[word]} is already {by_code[out[word]]}"
            if word in section:
                raise section.error(word, message)
            raise root.error("result_codes", message)
        by_code[out[word]] = word
    rates_map = root.mapping("rates") if "rates" in root else None
    for rate, code in rate_codes.items():
        # Hayes reports a 300 bit/s connection with code 1, the plain CONNECT.
        if code in by_code and by_code[code] != "CONNECT":
            message = f"code {code} of CONNECT {rate} is already {by_code[code]}"
            if rates_map is not None:
                raise rates_map.error(str(rate), message)
            word = by_code[code]
            if word in section:
                raise section.error(word, message)
            raise root.error("result_codes", message)
        out[f"CONNECT {rate}"] = code
    return out


def _fclass(root: SpecMap, base: Profile | None) -> tuple[str, ...]:
    if "fclass" not in root:
        return base.fclass if base else ("0",)
    out: list[str] = []
    for item in root.items("fclass"):
        value = item.value
        text = value if isinstance(value, str) else None
        if text is None or _FCLASS.fullmatch(text) is None:
            raise item.error(f'must be a quoted class such as "0" or "2.0", not {value!r}')
        if text in out:
            raise item.error(f"class {text} is listed twice")
        out.append(text)
    if "0" not in out:
        raise root.error("fclass", 'must include class "0" (data)')
    return tuple(out)


def _cadence(root: SpecMap, base: Profile | None) -> tuple[float, ...]:
    if "ring_cadence" not in root:
        return base.ring_cadence if base else (2.0, 4.0)
    items = root.items("ring_cadence")
    if not items or len(items) % 2 or len(items) > _MAX_CADENCE_STEPS:
        raise root.error(
            "ring_cadence",
            f"must be pairs of seconds on, off (2 to {_MAX_CADENCE_STEPS} numbers)",
        )
    out: list[float] = []
    for item in items:
        value = item.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise item.error(f"must be a number of seconds, not {value!r}")
        if not 0 < value <= _MAX_CADENCE_STEP:
            raise item.error(f"must be above 0 and at most {_MAX_CADENCE_STEP:g} s, not {value}")
        out.append(float(value))
    return tuple(out)


def _defaults(root: SpecMap, base: Profile | None) -> dict[str, int]:
    out: dict[str, int] = dict(base.defaults) if base else {}
    section = _section(root, "defaults", base)
    for key, (low, high) in DEFAULT_RANGES.items():
        if key in section:
            out[key] = section.integer(key, low=low, high=high)
    section.reject_unknown()
    missing = [k for k in DEFAULT_RANGES if k not in out]
    if missing:
        raise root.error("defaults", f"missing defaults {', '.join(missing)}")
    return out


def _section(root: SpecMap, key: str, base: Profile | None) -> SpecMap:
    """A mapping section: required unless a base profile supplies it."""
    if key not in root and base is None:
        raise root.error(None, f"missing required key {key!r}")
    section: SpecMap = root.mapping(key, {})
    return section
