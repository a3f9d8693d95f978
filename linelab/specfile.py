"""The one loader for linelab's versioned YAML files (profiles, scenarios, line configs).

Every file starts with ``spec: "1"``. The loader keeps the line of every key so that an
error can name the file, the line and the key, as pyvisa-sim does for its device files:

    >>> spec = load_spec("modem.yaml", kind="profile")         # doctest: +SKIP
    >>> regs = spec.root.mapping("registers")
    >>> regs.integer("S7", default=50, low=1, high=255)
    SpecError: modem.yaml:12: key 'registers.S7': must be between 1 and 255, not 300

A `SpecMap` is a read-only view of one YAML mapping. Its typed getters check the value
and raise `SpecError` with the dotted key path. `SpecMap.reject_unknown()` turns a typo
in a key into an error instead of a silently ignored setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from linelab.errors import SpecError

SUPPORTED_MAJOR = 1

_MISSING: Any = object()


@dataclass(frozen=True)
class _Located:
    """A YAML scalar, sequence or mapping value with the line it started on."""

    value: Any
    line: int


def _build(node: yaml.Node, path: str, prefix: str = "") -> _Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, tuple[_Located, int]] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, path, prefix).value
            if not isinstance(key, str | int):
                raise SpecError(path, key_node.start_mark.line + 1, None, "keys must be text")
            key = str(key)
            dotted = f"{prefix}.{key}" if prefix else key
            if key in out:
                raise SpecError(path, key_node.start_mark.line + 1, dotted, "duplicate key")
            out[key] = (_build(value_node, path, dotted), key_node.start_mark.line + 1)
        return _Located(out, line)
    if isinstance(node, yaml.SequenceNode):
        items = [_build(item, path, f"{prefix}[{i}]") for i, item in enumerate(node.value)]
        return _Located(items, line)
    assert isinstance(node, yaml.ScalarNode)
    value = yaml.SafeLoader(" ").construct_object(node)
    return _Located(value, line)


class SpecMap:
    """A read-only view of a YAML mapping that remembers where each key was written."""

    def __init__(self, path: str, prefix: str, line: int, items: dict[str, tuple[_Located, int]]):
        self.path = path
        self.prefix = prefix
        self.line = line
        self._items = items
        self._used: set[str] = set()

    # -- plumbing ----------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str | None, message: str) -> SpecError:
        """A SpecError about `key` of this mapping (or the mapping itself when None)."""
        if key is None:
            return SpecError(self.path, self.line, self.prefix or None, message)
        line = self._items[key][1] if key in self._items else self.line
        return SpecError(self.path, line, self._key(key), message)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def line_of(self, key: str) -> int:
        return self._items[key][1] if key in self._items else self.line

    def _get(self, key: str, default: Any) -> Any:
        if key not in self._items:
            if default is _MISSING:
                raise self.error(None, f"missing required key {self._key(key)!r}")
            return default
        self._used.add(key)
        return self._items[key][0]

    # -- typed getters -----------------------------------------------------------
    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The plain Python value of `key` (mappings and lists unwrapped)."""
        got = self._get(key, default)
        return _plain(got) if isinstance(got, _Located) else got

    def text(self, key: str, default: Any = _MISSING) -> Any:
        got = self._get(key, default)
        if not isinstance(got, _Located):
            return got
        if isinstance(got.value, bool) or not isinstance(got.value, str | int | float):
            raise self.error(key, f"must be text, not {_describe(got.value)}")
        return str(got.value)

    def integer(
        self, key: str, default: Any = _MISSING, *, low: int | None = None, high: int | None = None
    ) -> Any:
        got = self._get(key, default)
        if not isinstance(got, _Located):
            return got
        value = got.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {_describe(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, f"must be between {low} and {high}, not {value}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, low: float | None = None) -> Any:
        got = self._get(key, default)
        if not isinstance(got, _Located):
            return got
        value = got.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {_describe(value)}")
        if low is not None and value < low:
            raise self.error(key, f"must be at least {low}, not {value}")
        return float(value)

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        got = self._get(key, default)
        if not isinstance(got, _Located):
            return got
        if not isinstance(got.value, bool):
            raise self.error(key, f"must be true or false, not {_describe(got.value)}")
        return got.value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if value is not default and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        """The mapping under `key` as a SpecMap (an empty one when absent and default={})."""
        got = self._get(key, default)
        if not isinstance(got, _Located):
            if isinstance(got, dict) and not got:
                return SpecMap(self.path, self._key(key), self.line, {})
            return got
        if not isinstance(got.value, dict):
            raise self.error(key, f"must be a mapping, not {_describe(got.value)}")
        return SpecMap(self.path, self._key(key), got.line, got.value)

    def items(self, key: str, default: Any = _MISSING) -> Any:
        """The list under `key` as a list of SpecItem (each knows its line)."""
        got = self._get(key, default)
        if not isinstance(got, _Located):
            return got
        if not isinstance(got.value, list):
            raise self.error(key, f"must be a list, not {_describe(got.value)}")
        return [
            SpecItem(self.path, f"{self._key(key)}[{i}]", item) for i, item in enumerate(got.value)
        ]

    def reject_unknown(self, allowed: set[str] | None = None) -> None:
        """Raise for the first key that is neither in `allowed` nor read by a getter."""
        known = self._used if allowed is None else allowed | self._used
        for key in self._items:
            if key not in known:
                raise self.error(key, "unknown key")


class SpecItem:
    """One element of a YAML list, with its line, for error messages."""

    def __init__(self, path: str, key: str, located: _Located) -> None:
        self.path = path
        self.key = key
        self.line = located.line
        self._located = located

    @property
    def value(self) -> Any:
        return _plain(self._located)

    def error(self, message: str) -> SpecError:
        return SpecError(self.path, self.line, self.key, message)

    def as_map(self) -> SpecMap:
        if not isinstance(self._located.value, dict):
            raise self.error(f"must be a mapping, not {_describe(self._located.value)}")
        return SpecMap(self.path, self.key, self.line, self._located.value)


def _plain(located: _Located) -> Any:
    value = located.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, (v, _line) in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


@dataclass
class Spec:
    """A loaded versioned file: its path, its `spec` version and its root mapping."""

    path: str
    version: str
    root: SpecMap


def parse_spec(text: str, path: str, *, kind: str) -> Spec:
    """Parse YAML `text` that claims to come from `path`; see `load_spec`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(path, line, None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, None, f"not valid YAML: {exc}") from None
    if node is None:
        raise SpecError(path, 1, None, f'empty file; a {kind} starts with spec: "1"')
    tree = _build(node, path)
    if not isinstance(tree.value, dict):
        raise SpecError(path, tree.line, None, f"a {kind} file must be a mapping")
    root = SpecMap(path, "", tree.line, tree.value)
    keys = root.keys()
    if not keys or keys[0] != "spec":
        raise SpecError(path, root.line, "spec", f'the first key of a {kind} must be spec: "1"')
    version = root.text("spec")
    major = version.split(".", 1)[0]
    if not major.isdigit():
        raise root.error("spec", f"not a version: {version!r}")
    if int(major) > SUPPORTED_MAJOR:
        raise root.error(
            "spec",
            f"version {version} is newer than this linelab reads "
            f"({SUPPORTED_MAJOR}.x); upgrade linelab",
        )
    return Spec(path, version, root)


def load_spec(path: str | Path, *, kind: str) -> Spec:
    """Load the versioned YAML file at `path`. `kind` ("profile", "scenario" …) is used
    in messages. Raises SpecError naming the file, the line and the key."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(name, None, None, f"not UTF-8 text: {exc.reason}") from None
    return parse_spec(text, name, kind=kind)
