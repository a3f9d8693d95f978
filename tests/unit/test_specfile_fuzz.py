"""Fuzzing the one YAML loader (issue 14): for every input, random YAML-like text or
random bytes, `linelab.specfile` returns a Spec or raises the project's located error
(SpecError), and does so within a bounded time and bounded memory. The consumers of
the loader (line configs, profiles) are fuzzed the same way over random documents
built from their own keys, so that a typed getter can never let a Python exception
through either."""

from __future__ import annotations

import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.core.profile import parse_profile
from linelab.errors import SpecError
from linelab.specfile import Spec, load_spec, parse_spec
from tapi.config import parse_lines

# Per example: the deadline is the time bound (generous: the machine is shared), the
# traced peak the memory bound (the inputs are at most a few KB; 8 MB is ~1000x that).
TIME_BOUND = timedelta(seconds=2)
MEMORY_BOUND = 8 * 1024 * 1024

# Characters that make YAML structure, so random text reaches the parser's corners:
# flow and block collections, anchors, aliases, tags, merge keys, directives,
# block scalars, quotes, escapes, comments and document markers.
TOKENS = ["spec", '"1"', "a", "x", "1", "0x1f", "1e999", ".nan", "2001-02-03", "!!python/name:"]
TOKENS += ["<<", "---", "...", "&a ", "*a", "!foo ", "\x00", "\x85", "\ufeff", "é", "9" * 40]
YAML_ALPHABET = st.sampled_from([*"[]{}:,-?&*!|>'\"#%@`<=~. \t\n\r\\", *TOKENS])
yaml_like = st.lists(YAML_ALPHABET, max_size=80).map("".join)


@contextmanager
def bounded_memory() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"peak {peak} bytes"


def loads_or_spec_error(load: Callable[[], object]) -> object:
    with bounded_memory():
        try:
            return load()
        except SpecError as exc:
            assert exc.path and "\n" not in exc.message
            return exc


@settings(deadline=TIME_BOUND)
@given(st.one_of(yaml_like, st.text(max_size=200)))
def test_any_text(text: str) -> None:
    got = loads_or_spec_error(lambda: parse_spec(text, "fuzz.yaml", kind="profile"))
    assert isinstance(got, Spec | SpecError)


@settings(deadline=TIME_BOUND)
@given(st.one_of(yaml_like, st.text(max_size=200)))
def test_any_text_after_a_spec_line(text: str) -> None:
    # Past the first key, so that the tree builder sees the random part.
    got = loads_or_spec_error(lambda: parse_spec('spec: "1"\n' + text, "f.yaml", kind="scenario"))
    assert isinstance(got, Spec | SpecError)
    if isinstance(got, Spec):
        got.root.raw("spec")


@settings(deadline=TIME_BOUND, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), yaml_like.map(str.encode)))
def test_any_bytes_in_a_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(data)
        got = loads_or_spec_error(lambda: load_spec(path, kind="line config"))
    assert isinstance(got, Spec | SpecError)


# -- the loader's consumers over documents made of their own keys ----------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["tone", "pulse", "dialtone", "generic", "error", "0", "S7", "ATM0"]),
)
LINE_KEYS = ["name", "port", "init", "baudrate", "reset", "call_setup_fail_timer", "dial"]
LINE_KEYS += ["timeouts", "method", "blind", "options", "command", "guard", "provider"]
PROFILE_KEYS = ["base", "identity", "info", "registers", "result_codes", "rates", "fclass"]
PROFILE_KEYS += ["ring_cadence", "defaults", "buffer_size", "model", "S7", "low", "high"]
PROFILE_KEYS += ["default", "OK", "E", "&D", "0", "300", "2400", "description"]


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=5))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=5)
        ),
        max_leaves=20,
    )


@settings(deadline=TIME_BOUND)
@given(st.lists(documents(LINE_KEYS), max_size=3))
def test_line_configs(lines: list[Any]) -> None:
    text = yaml.safe_dump({"spec": "1", "lines": lines}, sort_keys=False)
    loads_or_spec_error(lambda: parse_lines(text, "lines.yaml"))


@settings(deadline=TIME_BOUND)
@given(st.dictionaries(st.sampled_from(PROFILE_KEYS), documents(PROFILE_KEYS), max_size=6))
def test_profiles(body: dict[str, Any]) -> None:
    text = yaml.safe_dump({"spec": "1", **body}, sort_keys=False)
    loads_or_spec_error(lambda: parse_profile(text, "p.yaml"))
