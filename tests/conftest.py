"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tapi
from tapi.stack import live_stacks, using_stack


@pytest.fixture(autouse=True)
def tapi_default_stack(request: pytest.FixtureRequest) -> Iterator[tapi.Stack]:
    """A fresh, empty default TAPI stack for each test, so module-level flat functions
    never share state between tests (tests add lines with
    ``tapi_default_stack.add_provider(...)``; inside a hypothesis example use
    ``tapi.stack.using_stack()``).

    After a test of a ``test_tapi_*`` module, every Stack it created and left open is
    closed too, with its callback threads and event fds. (Other modules may keep a
    module-scoped stack alive across tests, so they are left alone.)"""
    before = {id(s) for s in live_stacks()}
    with using_stack() as stack:
        yield stack
    if request.module.__name__.startswith("test_tapi_"):
        for leftover in live_stacks():
            if id(leftover) not in before:
                leftover.close()


def _run_phase(item: pytest.Item) -> int:
    if item.path.name == "test_ports_upstream.py":
        return 0
    if item.get_closest_marker("interop") is not None:
        return 2
    return 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One pytest run holds the whole suite (so ``--junitxml`` writes one report) in
    three phases. pyvirtualserialports' own test file goes first: it gives its CLI 0.1 s
    to start and print, which a busy machine misses once the suite's threads and
    subprocesses are about. The interop tests go last, one at a time, after everything
    in-process. The sort is stable, so each phase keeps pytest's own order."""
    items.sort(key=_run_phase)
