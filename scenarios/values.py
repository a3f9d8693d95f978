"""Values in scenario files: constants by name, ``|`` combinations, ``$variables``,
durations, and the TAPI functions a step may call.

Everything here is checked when a file is loaded, so a typo in a constant, a function
or an argument name is a located `SpecError` and nothing runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tapi import constants as C
from tapi import structs
from tapi.core.args import OUT
from tapi.stack import Stack

# A constant expression: NAME | NAME | 0x10 | $var, nothing else.
_TOKEN = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*|[A-Z][A-Z0-9_]*|0x[0-9A-Fa-f]+|[0-9]+")
_CONSTANT_LIKE = re.compile(r"\s*(\$[A-Za-z_]\w*|[A-Z][A-Z0-9_]*)(\s*\|\s*\S+)*\s*")
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)?\s*")
_UNITS = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}

#: Functions that answer with a request ID and a later LINE_REPLY (rules.md §2).
ASYNC_FUNCTIONS = frozenset(
    {"lineMakeCall", "lineDial", "lineAnswer", "lineAccept", "lineDrop", "lineSetCallParams"}
)
#: Out-values whose names the signature does not give (the in/out ones).
_OUT_NAMES: dict[str, tuple[str, ...]] = {
    "lineInitializeEx": ("hLineApp", "dwNumDevs", "dwAPIVersion", "LineInitializeExParams"),
}


class Any_:
    """The ``any`` of a message pattern: this value is not checked."""

    def __repr__(self) -> str:
        return "any"


ANY = Any_()


class Callback_:
    """The ``callback`` of an ``lpfnCallback`` argument: a function of the runner's that
    takes the app's messages (TAPI calls it on a thread of the stack)."""

    def __repr__(self) -> str:
        return "callback"


CALLBACK = Callback_()


@dataclass(frozen=True)
class Expr:
    """A value that may need the scenario's variables: constants are resolved at load
    time, ``$name`` at run time. `text` is what the file said (for reports)."""

    text: str
    parts: tuple[int | str, ...]  # ints and variable names, OR-ed together

    def variables(self) -> list[str]:
        return [p for p in self.parts if isinstance(p, str)]

    def resolve(self, env: Mapping[str, Any]) -> Any:
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return env[self.parts[0]]  # a lone variable keeps its type (text, a struct)
        value = 0
        for part in self.parts:
            got = env[part] if isinstance(part, str) else part
            if not isinstance(got, int):
                raise TypeError(f"${part} is {got!r}, not a number, in {self.text!r}")
            value |= got
        return value


def constant(name: str) -> int | None:
    """The value of a tapi.constants name, or None."""
    value = getattr(C, name, None)
    if isinstance(value, int) and not isinstance(value, bool) and name.isupper():
        return value
    return None


def parse_expr(raw: Any, fail: Callable[[str], Exception]) -> Any:
    """A scalar from the file as a value: ints stay ints, ``any`` is `ANY`, constant
    expressions and ``$vars`` become `Expr`, other text stays text. `fail(msg)` builds
    the located error for a bad constant."""
    if isinstance(raw, str):
        if raw == "any":
            return ANY
        plain_word = "|" not in raw and "_" not in raw and not raw.startswith("$")
        if plain_word and constant(raw.strip()) is None:
            return raw  # "AT", "ATI3": text; a constant name always has an underscore
        if _CONSTANT_LIKE.fullmatch(raw):
            parts: list[int | str] = []
            for piece in raw.split("|"):
                token = piece.strip()
                if not _TOKEN.fullmatch(token):
                    raise fail(f"{token!r} in {raw!r} is not a constant, a number or a $variable")
                if token.startswith("$"):
                    parts.append(token[1:])
                elif token[0].isdigit():
                    parts.append(int(token, 0))
                else:
                    value = constant(token)
                    if value is None:
                        raise fail(f"unknown constant {token!r} (tapi.constants has no such name)")
                    parts.append(value)
            if all(isinstance(p, int) for p in parts):
                result = 0
                for p in parts:
                    assert isinstance(p, int)
                    result |= p
                return result
            return Expr(raw, tuple(parts))
    return raw


def resolve(value: Any, env: Mapping[str, Any]) -> Any:
    """A parsed value with its variables filled in (mappings and lists recursively)."""
    if isinstance(value, Expr):
        return value.resolve(env)
    if isinstance(value, dict):
        return {k: resolve(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, env) for v in value]
    return value


def variables_in(value: Any) -> list[str]:
    if isinstance(value, Expr):
        return value.variables()
    if isinstance(value, dict):
        return [n for v in value.values() for n in variables_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in variables_in(v)]
    return []


def parse_duration(raw: Any, fail: Callable[[str], Exception]) -> float:
    """``10s``, ``500ms``, ``2m``, ``1h`` or a number of seconds."""
    if isinstance(raw, bool):
        raise fail(f"must be a duration such as 10s or 500ms, not {raw!r}")
    if isinstance(raw, int | float):
        seconds = float(raw)
    else:
        match = _DURATION.fullmatch(str(raw))
        if match is None:
            raise fail(f"must be a duration such as 10s, 500ms or 2m, not {raw!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 <= seconds <= 86_400:
        raise fail(f"must be between 0 s and a day, not {raw!r}")
    return seconds


# -- the TAPI functions ------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """One flat API function a ``call:`` step may name."""

    name: str
    signature: inspect.Signature
    structs: dict[str, type]  # parameter -> struct type for mapping arguments
    outputs: tuple[str, ...]  # names of the out-values after the return code
    is_async: bool
    output_types: tuple[type | None, ...] = ()  # the structure type of each out-value
    #: out-structures the caller may size (``lpLineDevCaps: {dwTotalSize: 8}``), by name
    sized: dict[str, type] = dataclasses.field(default_factory=dict)

    def output_type(self, name: str) -> type | None:
        """The structure type of out-value `name` (None: a plain value)."""
        types = dict(zip(self.outputs, self.output_types, strict=False))
        return types.get(name)

    @property
    def parameters(self) -> list[str]:
        return [p for p in self.signature.parameters if p != "self" and not self.is_out(p)]

    def is_out(self, name: str) -> bool:
        return self.signature.parameters[name].default is OUT


def _struct_of(hint: Any) -> type | None:
    for option in typing.get_args(hint) or (hint,):
        if isinstance(option, type) and option.__module__ == structs.__name__:
            return option
    return None


def _load_functions() -> dict[str, Function]:
    table: dict[str, Function] = {}
    for name in dir(Stack):
        if not (name.startswith("line") or name.startswith("tapi")):
            continue
        method = getattr(Stack, name)
        if not callable(method):
            continue
        signature = inspect.signature(method)
        hints = typing.get_type_hints(method)
        struct_params = {
            p: t for p in signature.parameters if (t := _struct_of(hints.get(p))) is not None
        }
        outs = _OUT_NAMES.get(name) or tuple(
            p.removeprefix("lp") for p, v in signature.parameters.items() if v.default is OUT
        )
        returned = typing.get_args(hints.get("return"))[1:]
        out_types = tuple(_struct_of(t) for t in returned)
        by_name = dict(zip(outs, out_types, strict=False))
        sized = {
            p: t
            for p, v in signature.parameters.items()
            if v.default is OUT
            and v.kind is v.POSITIONAL_OR_KEYWORD
            and isinstance(t := by_name.get(p.removeprefix("lp")), type)
            and issubclass(t, structs.VarStruct)
        }
        table[name] = Function(
            name, signature, struct_params, outs, name in ASYNC_FUNCTIONS, out_types, sized
        )
    return table


FUNCTIONS: dict[str, Function] = _load_functions()


def struct_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def variable_names(text: str) -> list[str]:
    return _VAR.findall(text)


__all__ = [
    "ANY",
    "ASYNC_FUNCTIONS",
    "CALLBACK",
    "FUNCTIONS",
    "Expr",
    "Function",
    "constant",
    "parse_duration",
    "parse_expr",
    "resolve",
    "variables_in",
]
