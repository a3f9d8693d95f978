"""The TAPI 3 conformance cases of docs/rules.md §7 (rows 70-80), named `caseNN-<name>`
like the TAPI 2 rows of test_tapi_conformance.py, over fake lines on virtual time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_tapi3_objects import DATA, Env, make_env, next_events

from tapi import constants as C
from tapi.tapi3 import TAPI, CallNotificationEvent, CallStateEvent
from tapi.tapi3 import constants as K

RULES = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

CASES: dict[int, tuple[str, Callable[[Env], None]]] = {}


def case(number: int, name: str) -> Callable[[Callable[[Env], None]], Callable[[Env], None]]:
    def register(fn: Callable[[Env], None]) -> Callable[[Env], None]:
        CASES[number] = (name, fn)
        return fn

    return register


@case(70, "tapi3-initialize-twice")
def case_70(env: Env) -> None:
    t = TAPI(env.stack)
    assert (t.Initialize(), t.Initialize()) == (K.S_OK, K.S_FALSE)
    t.Shutdown()


@case(72, "tapi3-register-before-initialize")
def case_72(env: Env) -> None:
    t, other = TAPI(env.stack), TAPI(env.stack)
    other.Initialize()
    address = other.addresses()[0]
    assert t.RegisterCallNotifications(address, True, True, DATA, 0) == (
        K.TAPI_E_NOT_INITIALIZED,
        None,
    )
    other.Shutdown()


@case(74, "tapi3-enumerate-before-initialize")
def case_74(env: Env) -> None:
    assert TAPI(env.stack).EnumerateAddresses() == (K.E_INVALIDARG, None)


@case(76, "tapi3-connect-twice")
def case_76(env: Env) -> None:
    t = TAPI(env.stack)
    t.Initialize()
    hr, call = t.addresses()[0].CreateCall("5551234", C.LINEADDRESSTYPE_PHONENUMBER, DATA)
    assert hr == K.S_OK and call is not None
    assert (call.Connect(False), call.Connect(False)) == (K.S_OK, K.TAPI_E_INVALCALLSTATE)
    t.Shutdown()


@case(78, "tapi3-disconnect-idle-call")
def case_78(env: Env) -> None:
    t = TAPI(env.stack)
    t.Initialize()
    hr, call = t.addresses()[0].CreateCall("5551234", C.LINEADDRESSTYPE_PHONENUMBER, DATA)
    assert hr == K.S_OK and call is not None
    assert call.Disconnect(K.DC_NORMAL) == K.S_FALSE
    t.Shutdown()


@case(80, "tapi3-incoming-notification-order")
def case_80(env: Env) -> None:
    t = TAPI(env.stack)
    t.Initialize()
    assert t.put_EventFilter(K.TE_CALLNOTIFICATION | K.TE_CALLSTATE) == K.S_OK
    hr, _cookie = t.RegisterCallNotifications(t.addresses()[0], True, True, DATA, 0)
    assert hr == K.S_OK
    env.lines[0].incoming()
    note, state = next_events(t, 2)
    assert isinstance(note, CallNotificationEvent) and note.event == K.CNE_OWNER
    assert isinstance(state, CallStateEvent) and state.call is note.call
    assert (state.state, state.cause) == (K.CS_OFFERING, K.CEC_NONE)
    t.Shutdown()


@pytest.fixture
def env() -> Iterator[Env]:
    yield from make_env()


def test_every_tapi3_case_of_section_7_is_here() -> None:
    assert sorted(CASES) == list(range(70, 81, 2))


def test_each_case_has_its_row_and_name_in_the_rules() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| `([^`]+)` \|", RULES.read_text(), re.MULTILINE))
    assert {n: name for n, (name, _) in CASES.items()} == {
        int(n): name for n, name in rows.items() if int(n) in range(70, 81)
    }


@pytest.mark.parametrize(
    "number", sorted(CASES), ids=[f"case{n:02d}-{CASES[n][0]}" for n in sorted(CASES)]
)
def test_conformance_case(env: Env, number: int) -> None:
    CASES[number][1](env)
    assert env.stack.hierarchy().is_empty()
