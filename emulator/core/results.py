"""Result codes and information text, framed exactly as V.250 Table 3 says.

| | V0 (numeric) | V1 (verbose) |
|---|---|---|
| information text | `text CR LF` | `CR LF text CR LF` |
| result code | `digits CR` | `CR LF word CR LF` |

CR and LF are the current S3 and S4. Q1 suppresses result codes, never information
text. The X level gates which words may appear at all; a gated word is replaced the
way Hayes modems do it (see `gate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Words that end a command line (final result codes).
FINAL = frozenset({"OK", "CONNECT", "NO CARRIER", "ERROR", "NO DIALTONE", "BUSY", "NO ANSWER"})


def is_final(word: str) -> bool:
    """True for final result codes (including every "CONNECT <rate>")."""
    return word in FINAL or word.startswith("CONNECT ")


def gate(word: str, x_level: int) -> str:
    """The word actually reported at X<x_level> for `word`.

    X0: codes 0-4 only: CONNECT without the rate; BUSY, NO DIALTONE, NO ANSWER become
    NO CARRIER. X1 adds CONNECT <rate> (and NO ANSWER for the `@` modifier). X2 adds
    NO DIALTONE, X3 adds BUSY (instead of NO DIALTONE), X4 has everything.
    """
    if word.startswith("CONNECT ") and x_level == 0:
        return "CONNECT"
    if word == "NO DIALTONE" and x_level not in (2, 4):
        return "NO CARRIER"
    if word == "BUSY" and x_level not in (3, 4):
        return "NO CARRIER"
    if word == "NO ANSWER" and x_level == 0:
        return "NO CARRIER"
    return word


def frame_result(word: str, *, verbose: bool, codes: Mapping[str, int], cr: int, lf: int) -> bytes:
    """One result code, framed for V1 (verbose) or V0 (numeric)."""
    crb, lfb = bytes([cr]), bytes([lf])
    if verbose:
        return crb + lfb + word.encode("ascii") + crb + lfb
    code = codes.get(word)
    if code is None:
        # A rate without its own number is reported as plain CONNECT (Hayes practice).
        code = codes["CONNECT"] if word.startswith("CONNECT") else codes["ERROR"]
    return str(code).encode("ascii") + crb


def frame_info(lines: Sequence[str], *, verbose: bool, cr: int, lf: int) -> bytes:
    """Information text (one or more lines), framed for V1 or V0."""
    eol = bytes([cr, lf])
    body = eol.join(line.encode("latin-1") for line in lines)
    return (eol + body + eol) if verbose else (body + eol)
