"""Profile facts: what a modem scenario may read from the profile of the modem it talks
to, so that one file passes against any modem whose profile is known (`hayes`,
`conexant`, `generic`, or a vendor's probed profile).

A scenario lists the facts it relies on (``relies: [result.BUSY, register.S7]``) and
writes ``$profile.FACT`` in its ``send:``, ``expect:`` and ``reply:`` texts. The loader
checks every name (`check`), and that every ``$profile.FACT`` used is listed. Before a
scenario runs, `missing` says which relied fact the target's profile does not state;
the scenario is then skipped with that reason instead of failing falsely.

Facts (``Sn`` is any register, ``WORD`` a result word with ``_`` for a space):

- ``result.WORD``: the numeric (V0) code of OK, CONNECT, RING, NO_CARRIER, ERROR,
  NO_DIALTONE, BUSY or NO_ANSWER;
- ``rate.N``: the numeric code of ``CONNECT N`` (missing when the profile has no rate N);
  ``rate.top`` and ``rate.top.code``: the highest line rate and its code;
- ``register.Sn`` (relies only): the register exists; ``register.Sn.default``, ``.low``,
  ``.high``: factory value and accepted range; ``.query``: what ``ATSn?`` shows for the
  factory value (three digits); ``.above``: ``high + 1``; ``.below``: ``low - 1``
  (missing when ``low`` is 0);
- ``line.longest``, ``line.overlong``: ``E0`` repeated to fill the command buffer
  exactly, and one character more;
- ``identity.manufacturer``, ``.model``, ``.revision``, ``.serial``: the +GMI, +GMM,
  +GMR, +GSN answers; ``info.N``: the first line of ``ATIN``;
- ``has.BEHAVIOUR`` (relies only): the modem has it (it is not in the profile's
  ``lacks:``).
"""

from __future__ import annotations

import re

from emulator.core.profile import BEHAVIOURS, Profile

#: ``$profile.FACT`` inside a text.
REFERENCE = re.compile(r"\$profile\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
RESULT_WORDS = ("OK", "CONNECT", "RING", "NO CARRIER", "ERROR", "NO DIALTONE", "BUSY", "NO ANSWER")
_REGISTER = re.compile(r"register\.S([0-9]{1,3})(?:\.(default|low|high|query|above|below))?")
_RESULT = re.compile(r"result\.([A-Z_]+)")
_RATE = re.compile(r"rate\.([0-9]{1,8}|top|top\.code)")
_IDENTITY = re.compile(r"identity\.(manufacturer|model|revision|serial)")
_INFO = re.compile(r"info\.([0-9])")
_HAS = re.compile(r"has\.([a-z0-9-]+)")
_LINE = re.compile(r"line\.(longest|overlong)")


def check(name: str, *, value: bool) -> str | None:
    """None if `name` is a fact (one with a value if `value`), else what is wrong."""
    if m := _RESULT.fullmatch(name):
        if m.group(1).replace("_", " ") not in RESULT_WORDS:
            words = ", ".join(w.replace(" ", "_") for w in RESULT_WORDS)
            return f"result.WORD takes one of {words}, not {m.group(1)!r}"
        return None
    if m := _REGISTER.fullmatch(name):
        if int(m.group(1)) > 255:
            return "S-registers are S0-S255"
        if value and m.group(2) is None:
            return f"{name} has no value: use {name}.default, .low, .high, .query, .above, .below"
        return None
    if m := _HAS.fullmatch(name):
        if m.group(1) not in BEHAVIOURS:
            return f"has.BEHAVIOUR takes one of {', '.join(BEHAVIOURS)}, not {m.group(1)!r}"
        if value:
            return f"{name} has no value; list it in relies: only"
        return None
    if any(p.fullmatch(name) for p in (_RATE, _IDENTITY, _INFO, _LINE)):
        return None
    return (
        f"not a profile fact: {name!r} (facts: result.WORD, rate.N, rate.top, register.Sn.*, "
        "line.longest, line.overlong, identity.*, info.N, has.BEHAVIOUR; docs/scenarios.md)"
    )


def value(profile: Profile, name: str) -> str | None:
    """The text of fact `name` in `profile`, or None when the profile does not state it
    (`has.*` facts: "yes" or None)."""
    if m := _RESULT.fullmatch(name):
        code = profile.result_codes.get(m.group(1).replace("_", " "))
        return None if code is None else str(code)
    if m := _REGISTER.fullmatch(name):
        reg = profile.registers.get(int(m.group(1)))
        if reg is None:
            return None
        what = m.group(2)
        if what is None:
            return "yes"
        if what == "query":
            return f"{reg.default:03d}"
        if what == "above":
            return str(reg.high + 1)
        if what == "below":
            return None if reg.low <= 0 else str(reg.low - 1)
        return str(getattr(reg, what))
    if m := _RATE.fullmatch(name):
        if not profile.rates:
            return None
        if m.group(1) == "top":
            return str(max(profile.rates))
        rate = max(profile.rates) if m.group(1) == "top.code" else int(m.group(1))
        code = profile.result_codes.get(f"CONNECT {rate}")
        return None if code is None else str(code)
    if m := _LINE.fullmatch(name):
        size = profile.buffer_size + (m.group(1) == "overlong")
        return ("E0" * size)[:size]
    if m := _IDENTITY.fullmatch(name):
        return str(getattr(profile, m.group(1))) or None
    if m := _INFO.fullmatch(name):
        lines = profile.info.get(int(m.group(1)))
        return lines[0] if lines else None
    if m := _HAS.fullmatch(name):
        return None if m.group(1) in profile.lacks else "yes"
    return None


def missing(profile: Profile, relies: list[str]) -> str | None:
    """Why a scenario relying on `relies` cannot run on a modem of `profile` (the first
    fact it does not state), or None."""
    for name in relies:
        if value(profile, name) is not None:
            continue
        if name.startswith("has."):
            return f"relies on {name}: profile {profile.name} lacks {name[4:]}"
        return f"relies on {name}, which profile {profile.name} does not state"
    return None


def substitute(text: str, profile: Profile) -> str:
    """`text` with every ``$profile.FACT`` replaced (facts checked at load and run)."""

    def one(m: re.Match[str]) -> str:
        got = value(profile, m.group(1))
        if got is None:  # missing() skipped the scenario before this can happen
            raise KeyError(m.group(1))
        return got

    return REFERENCE.sub(one, text)


def references(text: str) -> list[str]:
    return REFERENCE.findall(text)


__all__ = ["REFERENCE", "check", "missing", "references", "substitute", "value"]
