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

Any file is safe to load: the tree is built from the YAML event stream with plain
scalars only. Anchors and aliases (the "billion laughs" bomb), tags (``!foo``,
``!!python/object/apply:``), merge keys (``<<``), nesting deeper than `MAX_DEPTH`,
more than `MAX_VALUES` values, files over `MAX_BYTES`, whole numbers of
`MAX_INTEGER` or more, and files that are not regular files are each refused with a
`SpecError` naming the file, the line and the key. Nothing else escapes.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from linelab.errors import SpecError

SUPPORTED_MAJOR = 1
_VERSION_MAJOR = re.compile(r"[0-9]{1,6}")

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class _Located:
    """A YAML scalar, sequence or mapping value with the line it started on."""

    value: Any
    line: int


# Bounds that keep any file, however hostile, to memory and time in proportion to its
# size: no alias can repeat a subtree (aliases are refused), nesting is shallow enough
# for plain recursion, and the size and value count stop a file from being a workload.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 200_000
# Whole numbers beyond this are a typo or an attack (and Python refuses to convert
# numbers of more than 4,300 digits to and from text).
MAX_INTEGER = 10**18
_MAX_INTEGER_TEXT = 64

_TOO_LARGE = "whole numbers must be smaller than 10^18 (at most 18 digits)"
_TAG = "tag:yaml.org,2002:"
# Only the constructors of plain scalars are ever used; one instance serves every file.
_SCALARS = yaml.SafeLoader("")


@dataclass
class _Frame:
    """A mapping or sequence being built from the event stream."""

    items: dict[str, tuple[_Located, int]] | list[_Located]
    prefix: str
    line: int
    key: tuple[str, int] | None = None  # a mapping's key waiting for its value


def _where(stack: list[_Frame]) -> str | None:
    """The dotted key of the value that comes next (None at the top)."""
    if not stack:
        return None
    top = stack[-1]
    if isinstance(top.items, list):
        return f"{top.prefix}[{len(top.items)}]"
    if top.key is None:
        return top.prefix or None
    return f"{top.prefix}.{top.key[0]}" if top.prefix else top.key[0]


def _scalar(event: yaml.ScalarEvent, line: int, path: str, key: str | None, is_key: bool) -> Any:
    tag: str = _SCALARS.resolve(  # type: ignore[no-untyped-call]
        yaml.ScalarNode, event.value, event.implicit
    )
    if tag == _TAG + "merge" and is_key:
        raise SpecError(path, line, key, "merge keys (<<) are not supported; write the keys out")
    node = yaml.ScalarNode(tag, event.value, style=event.style)
    if tag == _TAG + "int":
        if len(event.value) > _MAX_INTEGER_TEXT:
            raise SpecError(path, line, key, _TOO_LARGE)
        try:
            number = _SCALARS.construct_yaml_int(node)
        except ValueError:
            raise SpecError(path, line, key, f"not a number: {event.value!r}") from None
        if not -MAX_INTEGER < number < MAX_INTEGER:
            raise SpecError(path, line, key, _TOO_LARGE)
        return number
    if tag == _TAG + "float":
        return _SCALARS.construct_yaml_float(node)
    if tag == _TAG + "bool":
        return _SCALARS.construct_yaml_bool(node)
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "timestamp":
        try:
            return _SCALARS.construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise SpecError(path, line, key, f"not a valid date: {event.value!r}") from None
    # str, and the YAML 1.1 "value" (=) and "merge" (<<) scalars outside key position,
    # which are plain text here.
    return event.value


def _build(events: Any, path: str) -> _Located | None:
    """The located tree of the single document in a YAML event stream.

    The tree is built from events, never from composed nodes, so that each value costs
    only its own size: aliases and anchors are refused before anything is repeated,
    every tag is refused (nothing is ever constructed from a tag), and depth and value
    count are bounded. Every refusal is a SpecError naming the line and the key."""
    stack: list[_Frame] = []
    root: _Located | None = None
    documents = 0
    values = 0
    for event in events:
        mark = event.start_mark
        line = mark.line + 1 if mark is not None else 0
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise SpecError(path, line, None, "more than one YAML document (a second ---)")
            continue
        if isinstance(event, yaml.StreamStartEvent | yaml.DocumentEndEvent | yaml.StreamEndEvent):
            continue
        key = _where(stack)
        if isinstance(event, yaml.AliasEvent):
            raise SpecError(
                path, line, key, f"aliases (*{event.anchor}) are not supported; write it out"
            )
        located: _Located
        if isinstance(event, yaml.NodeEvent):
            if event.anchor is not None:
                raise SpecError(
                    path, line, key, f"anchors (&{event.anchor}) are not supported; write it out"
                )
            tag = getattr(event, "tag", None)
            if tag is not None:
                shown = tag.replace(_TAG, "!!", 1) if tag.startswith(_TAG) else tag
                raise SpecError(path, line, key, f"tags ({shown}) are not supported")
            values += 1
            if values > MAX_VALUES:
                raise SpecError(path, line, key, f"more than {MAX_VALUES} values in one file")
        if isinstance(event, yaml.ScalarEvent):
            is_key = bool(stack) and isinstance(stack[-1].items, dict) and stack[-1].key is None
            located = _Located(_scalar(event, line, path, key, is_key), line)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if len(stack) >= MAX_DEPTH:
                shown = key if key is None or len(key) <= 40 else key[:40] + "…"
                raise SpecError(path, line, shown, f"nested deeper than {MAX_DEPTH} levels")
            items: dict[str, tuple[_Located, int]] | list[_Located] = (
                {} if isinstance(event, yaml.MappingStartEvent) else []
            )
            stack.append(_Frame(items, key or "", line))
            continue
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            done = stack.pop()
            located = _Located(done.items, done.line)
        else:  # pragma: no cover - the parser emits no other events
            raise SpecError(path, line, key, f"unexpected YAML event {event!r}")
        if not stack:
            root = located
            continue
        _attach(stack[-1], located, path)
    return root


def _attach(top: _Frame, located: _Located, path: str) -> None:
    if isinstance(top.items, list):
        top.items.append(located)
        return
    if top.key is None:
        key = located.value
        if isinstance(key, dict | list) or not isinstance(key, str | int):
            raise SpecError(path, located.line, top.prefix or None, "keys must be text")
        key = str(key)
        if key in top.items:
            dotted = f"{top.prefix}.{key}" if top.prefix else key
            raise SpecError(path, located.line, dotted, "duplicate key")
        top.key = (key, located.line)
        return
    name, key_line = top.key
    top.items[name] = (located, key_line)
    top.key = None


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
        if low is not None and high is not None and not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, not {value}")
        if low is not None and value < low:
            raise self.error(key, f"must be at least {low}, not {value}")
        if high is not None and value > high:
            raise self.error(key, f"must be at most {high}, not {value}")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> Any:
        """A finite number (NaN and infinities are refused) within `low`..`high`."""
        got = self._get(key, default)
        if not isinstance(got, _Located):
            return got
        value = got.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {_describe(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"must be a finite number, not {value}")
        if high is not None and low is not None and not low <= value <= high:
            raise self.error(key, f"must be between {low:g} and {high:g}, not {value:g}")
        if low is not None and value < low:
            raise self.error(key, f"must be at least {low:g}, not {value:g}")
        if high is not None and value > high:
            raise self.error(key, f"must be at most {high:g}, not {value:g}")
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
    if len(text) > MAX_BYTES:
        raise SpecError(path, None, None, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        tree = _build(yaml.parse(text, Loader=yaml.SafeLoader), path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(path, line, None, f"not valid YAML: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(path, line, None, f"not valid YAML: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, None, f"not valid YAML: {exc}") from None
    if tree is None:
        raise SpecError(path, 1, None, f'empty file; a {kind} starts with spec: "1"')
    if not isinstance(tree.value, dict):
        raise SpecError(path, tree.line, None, f"a {kind} file must be a mapping")
    root = SpecMap(path, "", tree.line, tree.value)
    keys = root.keys()
    if not keys or keys[0] != "spec":
        raise SpecError(path, root.line, "spec", f'the first key of a {kind} must be spec: "1"')
    version = root.text("spec")
    major = version.split(".", 1)[0]
    if _VERSION_MAJOR.fullmatch(major) is None:
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
    in messages. Raises SpecError naming the file, the line and the key, for any file:
    one that is not a regular file (a FIFO, /dev/zero), too large, not UTF-8 or not
    YAML included."""
    name = str(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(name, None, None, "cannot read: not a regular file")
        if info.st_size > MAX_BYTES:
            raise SpecError(name, None, None, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(name, None, None, f"cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the path
        raise SpecError(name, None, None, "cannot read: not a valid path") from None
    if len(data) > MAX_BYTES:
        raise SpecError(name, None, None, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(name, line, None, f"not UTF-8 text: {exc.reason}") from None
    return parse_spec(text, name, kind=kind)
