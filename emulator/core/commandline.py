"""The AT command line: finding "AT" in a byte stream, editing, and splitting the body
into commands. Pure functions and one small per-byte class; no modem state here.

V.250 practice (docs: research/modems.md d1): bytes before "AT"/"at" are ignored; "A/"
repeats the previous line at once; S3 ends a line; S5 deletes the last character
(echoed as BS SP BS); CAN (0x18) discards the line; spaces are ignored; the body
(after "AT") is limited to the profile's buffer size, and an overlong line is answered
ERROR without running any of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CAN = 0x18
# ASCII digits only: str.isdigit() also accepts "²" and other Unicode digits.
DIGITS = frozenset("0123456789")
_A = (ord("A"), ord("a"))
_AT = (b"AT", b"at")


@dataclass(frozen=True, slots=True)
class LineReady:
    """A complete command line: `body` is what followed "AT" (spaces removed)."""

    body: str
    overflow: bool


@dataclass(frozen=True, slots=True)
class Repeat:
    """ "A/" was typed: run the previous line again."""


# The echo of each byte value, made once.
_ECHO = [bytes([value]) for value in range(256)]


class LineAssembler:
    """Collects one command line from DTE bytes, one byte at a time."""

    def __init__(self) -> None:
        self._phase = 0  # 0 hunting "A", 1 after "A"/"a", 2 inside the line
        self._first = 0
        self._body = bytearray()
        self._overflow = False

    def reset(self) -> None:
        """Forget any partial line (the modem left command state)."""
        self._phase = 0
        self._body.clear()
        self._overflow = False

    def feed(
        self, byte: int, *, s3: int, s5: int, limit: int
    ) -> tuple[bytes, LineReady | Repeat | None]:
        """One byte from the DTE. Returns what to echo (if echo is on) and the event
        the byte completed, if any."""
        echo = _ECHO[byte]  # no allocation per byte
        if self._phase == 0:
            if byte in _A:
                self._phase, self._first = 1, byte
            return echo, None
        if self._phase == 1:
            if byte == ord("/"):
                self._phase = 0
                return echo, Repeat()
            # "AT" or "at"; mixed case is not required to work (research d1).
            if byte == self._first + (ord("T") - ord("A")):
                self._phase = 2
                self._body.clear()
                self._overflow = False
            elif byte in _A:
                self._first = byte
            else:
                self._phase = 0
            return echo, None
        if byte == s3:
            self._phase = 0
            # bytes.upper() changes ASCII letters only ("ß".upper() would be "SS").
            body = bytes(self._body).upper().decode("latin-1")
            self._body.clear()
            return echo, LineReady(body, self._overflow)
        if byte == s5:
            if self._body:
                self._body.pop()
            return b"\x08 \x08", None
        if byte == CAN:
            self.reset()
            return echo, None
        if byte == 0x20 or byte < 0x20 or byte == 0x7F:
            return echo, None
        if len(self._body) >= limit:
            self._overflow = True
        else:
            self._body.append(byte)
        return echo, None

    def feed_bytes(
        self, data: bytes, pos: int, end: int, *, s3: int, s5: int, limit: int
    ) -> tuple[int, bytes, LineReady | Repeat | None]:
        """`feed` for each byte of `data[pos:end]` up to and including the first that
        completes an event, in one call. Returns where it stopped, the echo of the
        bytes taken and the event (None if `end` came first). The bytes of a line
        between "AT" and S3 that need no editing are taken as one slice."""
        start = pos
        echo: bytearray | None = None  # built only once S5 echoes as "\b \b"
        body = self._body
        while pos < end:
            phase = self._phase
            if phase == 0 and data.startswith(_AT, pos, pos + 2):
                # "AT" or "at" at once (what `feed` does for the two bytes).
                self._phase = phase = 2
                body.clear()
                self._overflow = False
                if echo is not None:
                    echo += data[pos : pos + 2]
                pos += 2
                if pos >= end:
                    break
            if phase == 2:
                stop = data.find(s3, pos, end)
                if stop < 0:
                    stop = end
                run = data[pos:stop]
                if run and _PLAIN.fullmatch(run) and s5 not in run:
                    # Printable, no editing: the whole run at once.
                    room = limit - len(body)
                    if len(run) > room:
                        self._overflow = True
                        run = run[: max(room, 0)]
                    body += run
                    if echo is not None:
                        echo += data[pos:stop]
                    pos = stop
                    continue
                if not run and stop < end:
                    # S3 ends the line (what `feed` does for that byte).
                    self._phase = 0
                    line = LineReady(bytes(body).upper().decode("latin-1"), self._overflow)
                    body.clear()
                    pos += 1
                    if echo is not None:
                        echo += _ECHO[s3]
                    return pos, (data[start:pos] if echo is None else bytes(echo)), line
            byte = data[pos]
            pos += 1
            got, event = self.feed(byte, s3=s3, s5=s5, limit=limit)
            if echo is None and got is not _ECHO[byte]:
                echo = bytearray(data[start : pos - 1])
            if echo is not None:
                echo += got
            if event is not None:
                return pos, (data[start:pos] if echo is None else bytes(echo)), event
        return pos, (data[start:pos] if echo is None else bytes(echo)), None


# Line bytes that need no editing: printable ASCII and the 8-bit range (not space,
# DEL or control characters, which `feed` drops or acts on).
_PLAIN = re.compile(rb"[\x21-\x7e\x80-\xff]+")


@dataclass(frozen=True)
class Command:
    """One command of a line: `name` ("E", "&C", "S", "+VCID", "D" …), `op` ("" for an
    action or basic command, "?", "=", "=?") and `arg` (digits, value or dial string).
    For "S", `register` is the register number or None for the bare "?" read."""

    name: str
    op: str = ""
    arg: str = ""
    register: int | None = None


_EXT_NAME = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")
_PREFIX2 = set("&\\%*$)")


def _digits(body: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(body) and body[j] in DIGITS:
        j += 1
    return body[i:j], j


def split_commands(body: str) -> list[Command]:
    """Split an upper-cased, space-free line body into commands. Never raises: a
    character that starts no command becomes a command named after itself, which the
    engine answers ERROR (or OK in a lenient profile)."""
    out: list[Command] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in "+#":
            j = i + 1
            while j < n and body[j] in _EXT_NAME:
                j += 1
            name = body[i:j]
            if body.startswith("=?", j):
                op, j = "=?", j + 2
                arg = ""
            elif body.startswith("?", j):
                op, j = "?", j + 1
                arg = ""
            elif body.startswith("=", j):
                end = body.find(";", j)
                end = n if end < 0 else end
                op, arg, j = "=", body[j + 1 : end], end
            else:
                op, arg = "", ""
            if j < n and body[j] == ";":
                j += 1
            out.append(Command(name, op, arg))
            i = j
        elif c == "D":
            out.append(Command("D", "", body[i + 1 :]))
            break
        elif c == "S":
            number, j = _digits(body, i + 1)
            register = int(number) if number else None
            if body.startswith("=?", j):
                out.append(Command("S", "=?", "", register))
                i = j + 2
            elif body.startswith("?", j):
                out.append(Command("S", "?", "", register))
                i = j + 1
            elif body.startswith("=", j):
                value, k = _digits(body, j + 1)
                out.append(Command("S", "=", value, register))
                i = k
            else:
                out.append(Command("S", "", "", register))
                i = j
        elif c == "?":
            out.append(Command("S", "?", "", None))
            i += 1
        elif c in _PREFIX2 and i + 1 < n:
            arg, j = _digits(body, i + 2)
            out.append(Command(body[i : i + 2], "", arg))
            i = j
        else:
            arg, j = _digits(body, i + 1)
            out.append(Command(c, "", arg))
            i = j
    return out


@dataclass(frozen=True)
class DialString:
    """What ATD asked for: digits to send and the modifiers that change the outcome."""

    digits: str
    delay: float  # seconds of dialling (pauses, flash, digit time) before the number goes out
    wait_quiet: bool  # "@": report NO ANSWER instead of NO CARRIER when nobody answers
    wait_tone: bool  # "W": needs a (second) dial tone
    voice: bool  # ";": return to command state after dialling


def parse_dial(text: str, *, comma_pause: float, dtmf_ms: int, pulse: bool) -> DialString:
    """Parse the argument of ATD (modifiers T P W , ; @ ! and digits 0-9 * # A-D).
    Unknown characters are ignored, as most modems do."""
    digits: list[str] = []
    delay = 0.0
    wait_quiet = wait_tone = voice = False
    for ch in text:
        if ch in DIGITS or ch in "*#ABCD":
            digits.append(ch)
            if pulse and ch in DIGITS:
                delay += (int(ch) or 10) * 0.1 + 0.7
            else:
                delay += 2 * dtmf_ms / 1000.0
        elif ch == "P":
            pulse = True
        elif ch == "T":
            pulse = False
        elif ch == ",":
            delay += comma_pause
        elif ch == "!":
            delay += 0.5
        elif ch == "W":
            wait_tone = True
        elif ch == "@":
            wait_quiet = True
        elif ch == ";":
            voice = True
            break
    return DialString("".join(digits), delay, wait_quiet, wait_tone, voice)
