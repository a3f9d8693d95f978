"""Argument checks of the flat API: a caller mistake becomes a LINEERR_*, never an exception."""

from __future__ import annotations

from typing import Any, Final, TypeVar

from tapi import constants as C

T = TypeVar("T")


class _Out:
    """Default of an output-only pointer: "the caller's buffer is there, allocate it".

    Passing ``lpX=None`` instead models a NULL pointer (rules.md §7, cases 2, 4).
    """

    _instance: _Out | None = None

    def __new__(cls) -> _Out:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OUT"

    def __bool__(self) -> bool:
        return True


OUT: Final = _Out()


def is_dword(value: object) -> bool:
    """An int (not bool) that fits a DWORD."""
    return type(value) is int and 0 <= value <= 0xFFFFFFFF


def lookup(table: dict[int, T], key: object) -> T | None:
    """`table[key]`, or None for a missing or ill-typed key (a stale/garbage handle)."""
    if type(key) is not int:
        return None
    return table.get(key)


def is_text(value: object) -> bool:
    return isinstance(value, str)


def single_bit(value: int) -> bool:
    return value != 0 and value & (value - 1) == 0


ALL_LINEDEVSTATES: Final = 0x01FFFFFF
ALL_ADDRESSSTATES: Final = 0x000001FF
ALL_MEDIAMODES: Final = 0x0000FFFE  # UNKNOWN .. VIDEO
ALL_BEARERMODES: Final = 0x000000FF

# Dial-string characters a provider may not support, with the capability flag that
# allows each and the error otherwise (rules.md §2.8).
DIAL_MODIFIERS: Final[dict[str, tuple[int, int]]] = {
    "W": (C.LINEDEVCAPFLAGS_DIALDIALTONE, C.LINEERR_DIALDIALTONE),
    "w": (C.LINEDEVCAPFLAGS_DIALDIALTONE, C.LINEERR_DIALDIALTONE),
    "@": (C.LINEDEVCAPFLAGS_DIALQUIET, C.LINEERR_DIALQUIET),
    "$": (C.LINEDEVCAPFLAGS_DIALBILLING, C.LINEERR_DIALBILLING),
    "?": (0, C.LINEERR_DIALPROMPT),
}


def scan_dial_modifiers(dest: str, dev_cap_flags: int) -> int:
    """0, or the error for the first unsupported modifier in `dest` (before anything
    is sent: no off-hook, no digits)."""
    for ch in dest:
        rule = DIAL_MODIFIERS.get(ch)
        if rule is not None and not (rule[0] and dev_cap_flags & rule[0]):
            return rule[1]
    return 0


def uui_ok(data: Any, size: object) -> int:
    """Check an lpsUserUserInfo/dwSize pair: 0, INVALPOINTER or USERUSERINFOTOOBIG.

    A modem carries no user-user information, so any non-empty UUI is too big.
    """
    if not is_dword(size):
        return C.LINEERR_USERUSERINFOTOOBIG
    if data is None:
        return 0
    if not isinstance(data, str | bytes | bytearray):
        return C.LINEERR_INVALPOINTER
    if size:
        return C.LINEERR_USERUSERINFOTOOBIG
    return 0
