"""The coverage catalogue and matrix: which scenarios exercise which rule.

A scenario names what it covers with the scenario-level key ``covers:``::

    covers: [R4, "§6.1", modem.escape]

The ids are `CATALOGUE`'s: the TAPI rules of docs/rules.md (R1-R9 and every ``§N.M``
heading of sections 1-6, 8 and 9; a section without sub-headings, §3 and §9, is one id)
and the V.250 behaviours of the emulator (``modem.*``). The TAPI part mirrors
docs/rules.md (tests/scenarios/test_coverage.py checks they agree), so an installed
linelab without its docs still knows the ids. An unknown id in ``covers:`` is a load
error naming file, line and key.

`matrix(cases)` maps every id to the scenarios that cover it; `render()` prints it as
text, Markdown (docs/coverage.md is ``linelab run --coverage=markdown``) or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

#: The TAPI rule ids of docs/rules.md, in its order, with their titles.
TAPI: dict[str, str] = {
    "R1": "lineShutdown closes the app's lines, calls, requests and registration",
    "R2": "lineClose invalidates the app's call handles and suppresses their replies",
    "R3": "lineDeallocateCall frees one handle; the last one closes the call",
    "R4": "closing an object deletes its pending messages",
    "R5": "TAPI makes HCALLs for owners and monitors; the app deallocates them",
    "R6": "a client process that goes away has its HLINEAPPs shut down",
    "R7": "a lineMakeCall handle is valid only from its success LINE_REPLY",
    "R8": "a stale handle gets its own LINEERR_* code",
    "R9": "handle values and request ids are never reused",
    "§1.1": "Return values, request ids, versions",
    "§1.2": "The hierarchy and its cleanup rules",
    "§1.3": "Shutting down properly",
    "§2.1": "lineInitialize",
    "§2.2": "lineInitializeEx",
    "§2.3": "lineShutdown",
    "§2.4": "lineNegotiateAPIVersion",
    "§2.5": "lineGetDevCaps and variable-size structures",
    "§2.6": "lineOpen",
    "§2.7": "lineClose",
    "§2.8": "lineMakeCall",
    "§2.9": "lineDial",
    "§2.10": "lineAnswer",
    "§2.11": "lineAccept",
    "§2.12": "lineDrop",
    "§2.13": "lineDeallocateCall",
    "§2.14": "lineGetMessage",
    "§2.15": "lineGetCallInfo",
    "§2.16": "lineGetCallStatus",
    "§2.17": "lineGetNewCalls",
    "§2.18": "lineSetCallPrivilege",
    "§2.19": "lineHandoff",
    "§2.20": "lineSetStatusMessages",
    "§2.21": "lineGetID",
    "§2.22": "lineRegisterRequestRecipient",
    "§2.23": "lineGetRequest",
    "§2.24": "tapiRequestMakeCall",
    "§2.25": "lineSetNumRings, lineGetNumRings",
    "§2.26": "What the provider is told",
    "§3": "Messages",
    "§4.1": "TAPI 2.x",
    "§4.2": "TAPI 3.x",
    "§5.1": "Ground rules",
    "§5.2": "The modem line's sequences",
    "§5.3": "Legal transitions",
    "§5.4": "Which call functions are legal in which state",
    "§6.1": "Which pending requests still get a LINE_REPLY",
    "§6.2": "Calls of an app that closes its line or shuts down",
    "§6.3": "A call owned by A and watched by B",
    "§6.4": "The provider closes a line, a device goes, a device comes",
    "§6.5": "Handles after close",
    "§6.6": "The message queue",
    "§6.7": "Assisted telephony on shutdown",
    "§6.8": "The only owner deallocating a live call",
    "§6.9": "An incoming call nobody can own",
    "§6.10": "TAPI 3 teardown",
    "§8.1": "Settings",
    "§8.2": "Result codes",
    "§8.3": "Command sequences",
    "§8.4": "Modem events and what the apps see",
    "§8.5": "Capabilities reported",
    "§9": "The TAPI 3 object layer",
}

#: The V.250 behaviours the emulator implements (the modem library covers them).
MODEM: dict[str, str] = {
    "modem.framing": "AT prefix, case, S3/S4/S5, spaces",
    "modem.repeat": "A/ repeats the last command line",
    "modem.overflow": "an over-long command line",
    "modem.qvx": "Q, V and X gate the result codes (numeric and verbose)",
    "modem.sregs": "S-register ranges and ATSn? / ATSn=v",
    "modem.profile": "&W, Z, &F stored profiles",
    "modem.info": "ATI0-ATI9, +GMI/+GMM/+GMR",
    "modem.dial": "dialling outcomes (CONNECT, BUSY, NO CARRIER, NO ANSWER, NO DIALTONE, S7)",
    "modem.ring": "ring cadence, S0 auto-answer, S1 count",
    "modem.callerid": "caller ID between rings (+VCID/#CID)",
    "modem.escape": "+++ with guard time (S2, S12)",
    "modem.ato": "ATO returns to data mode",
    "modem.ath": "ATH hangs up",
    "modem.dtr": "&D0, &D1, &D2, &D3 on a DTR drop",
    "modem.dcd": "&C0/&C1 DCD",
}

#: Every id a scenario may name in ``covers:``, with its title.
CATALOGUE: dict[str, str] = {**TAPI, **MODEM}
FORMATS = ("text", "markdown", "json")


def unknown(ident: object) -> str | None:
    """Why `ident` is not a coverage id (None when it is one)."""
    if isinstance(ident, str) and ident in CATALOGUE:
        return None
    hint = ""
    if isinstance(ident, str) and ident.startswith(("S", "s")) and ident[1:2].isdigit():
        hint = f" (a rules.md section is written with the section sign: '§{ident[1:]}')"
    elif isinstance(ident, int | float):
        hint = " (a rules.md section is written with the section sign and quoted: '§N.M')"
    return (
        f"not a coverage id: {ident!r}{hint}; the ids are R1-R9, the §N.M sections of "
        "docs/rules.md and modem.* (linelab run --coverage lists them)"
    )


@dataclass(frozen=True)
class Row:
    ident: str
    title: str
    scenarios: tuple[str, ...]


class Covering(Protocol):
    """What `matrix()` needs of a scenario (a `scenarios.language.Scenario`)."""

    @property
    def id(self) -> str: ...

    covers: list[str]


def matrix(scenarios: Iterable[Covering]) -> list[Row]:
    """One row per catalogue id (catalogue order), with the ids of the scenarios that
    name it in ``covers:`` (sorted, each once even with several data rows)."""
    by_id: dict[str, set[str]] = {ident: set() for ident in CATALOGUE}
    for scenario in scenarios:
        for ident in scenario.covers:
            by_id[ident].add(scenario.id)
    return [Row(i, CATALOGUE[i], tuple(sorted(by_id[i]))) for i in CATALOGUE]


def uncovered(rows: list[Row]) -> list[str]:
    return [r.ident for r in rows if not r.scenarios]


def render(rows: list[Row], fmt: str = "text") -> str:
    """The matrix as `fmt` (one of `FORMATS`)."""
    missing = uncovered(rows)
    if fmt == "json":
        doc = {
            "ids": [
                {"id": r.ident, "title": r.title, "scenarios": list(r.scenarios)} for r in rows
            ],
            "uncovered": missing,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        out = [
            "# Coverage: which scenarios exercise which rule",
            "",
            "Generated by `linelab run --coverage=markdown` from the bundled library "
            "(`scenarios/library/`);",
            "`tests/scenarios/test_coverage.py` fails when this page and the command "
            "disagree. The ids",
            "are the TAPI rules of [rules.md](rules.md) (R1-R9 and its sections) and the "
            "modem's V.250",
            "behaviours; a scenario names what it covers with `covers:` "
            "([scenarios.md](scenarios.md)).",
            "",
            "| id | title | scenarios |",
            "|---|---|---|",
        ]
        for r in rows:
            cell = "<br>".join(f"`{s}`" for s in r.scenarios) if r.scenarios else "**none**"
            out.append(f"| {r.ident} | {r.title} | {cell} |")
        out.append("")
        out.append(_tally(rows, missing))
        return "\n".join(out) + "\n"
    out = []
    for r in rows:
        out.append(f"{r.ident:<16} {r.title}")
        for s in r.scenarios or ("(none)",):
            out.append(f"{'':<16}   {s}")
    out.append("")
    out.append(_tally(rows, missing))
    return "\n".join(out) + "\n"


def _tally(rows: list[Row], missing: list[str]) -> str:
    covered = len(rows) - len(missing)
    text = f"{covered} of {len(rows)} ids covered"
    if missing:
        text += "; no scenario for " + ", ".join(missing)
    return text + "."


__all__ = ["CATALOGUE", "FORMATS", "MODEM", "TAPI", "Row", "matrix", "render", "uncovered"]
