"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tapi
from tapi.stack import live_stacks, using_stack


@pytest.fixture(autouse=True)
def no_provider_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tapi.Stack]]:
    """Fail a test that leaves a provider fault unexamined: every `tapi.Stack` created
    during the test must end it with an empty `provider_errors` (a line's own error
    list, `LineDevice.errors`, is reported there too). A test that provokes a fault on
    purpose asserts it and clears the list (``stack.provider_errors.clear()``)."""
    created: list[tapi.Stack] = []
    init = tapi.Stack.__init__

    def tracking_init(self: tapi.Stack, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(tapi.Stack, "__init__", tracking_init)
    yield created
    left = [(i, list(s.provider_errors)) for i, s in enumerate(created) if s.provider_errors]
    created.clear()
    if left:
        pytest.fail(
            "provider faults nobody examined (assert them, then clear "
            "stack.provider_errors): " + "; ".join(f"stack #{i}: {errors}" for i, errors in left),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def tapi_default_stack(
    request: pytest.FixtureRequest, no_provider_errors: list[tapi.Stack]
) -> Iterator[tapi.Stack]:
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
