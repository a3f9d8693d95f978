"""Identify a modem over its serial port and describe it as a profile the emulator can
load (`linelab probe --port URL`), so that a vendor's modem can be emulated in CI.

The probe speaks plain AT through any pyserial port (a tty, a pty, ``rfc2217://``,
``vmodem://``): it notes the echo and result style the modem starts with, resets it to
its factory profile (``AT&F``), turns echo off and verbose results on, then asks for
ATI0-ATI9, +GMI/+GMM/+GMR/+GSN/+GCAP and +FCLASS=?, the numeric codes of OK and ERROR
(ATV0), whether an unknown command is an error, and, for each S-register, its factory
value and the range of values it accepts (binary search with ``ATSn=v`` read back by
``ATSn?``: a modem that clamps instead of refusing shows it), and three behaviours the
conformance scenarios rely on: whether ``A/`` repeats the last line, whether an
over-long line is refused (and how long the command buffer is), and whether
information text under ATV0 is framed ``text CR LF``; what a modem lacks goes into
the profile's ``lacks:``. It ends with ATZ.
Nothing is dialled, so CONNECT codes and line rates come from the base profile
(``generic``), and the report says so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from linelab.errors import LinelabError

#: The registers probed: V.250's and the Hayes set every modem has.
REGISTERS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25, 30)
#: Registers whose value is read-only on most modems (S1 counts rings).
READ_ONLY: frozenset[int] = frozenset({1})
#: Registers whose range is not probed: S3, S4 and S5 are the command line's own
#: characters (CR, LF, BS), so trying values there would cut the probe off from the
#: modem. Their factory values are read; their ranges come from the base profile.
LINE_CHARACTERS: frozenset[int] = frozenset({3, 4, 5})
#: Command buffer sizes a profile may state (characters after AT).
_BUFFER = (40, 1024)
#: How long one command may take to answer (seconds).
COMMAND_TIMEOUT = 3.0


class ProbeError(LinelabError):
    """The modem could not be probed (it never answered, or the port failed)."""


class Port(Protocol):
    """What the probe needs of a pyserial port."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...

    @property
    def in_waiting(self) -> int: ...

    def reset_input_buffer(self) -> None: ...


@dataclass
class Answer:
    """One command's answer: its final result and the information lines before it."""

    final: str  # "OK", "ERROR", or a numeric code as text; "" on a time-out
    lines: list[str]

    @property
    def ok(self) -> bool:
        return self.final in ("OK", "0")


@dataclass
class Findings:
    echo: bool = True
    verbose: bool = True
    info: dict[int, list[str]] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)
    fclass: list[str] = field(default_factory=list)
    ok_code: int | None = None
    error_code: int | None = None
    unknown_commands: str = "error"
    registers: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # default, low, high
    clamps: list[int] = field(default_factory=list)  # registers that clamp instead of refusing
    defaults_only: dict[int, int] = field(default_factory=dict)  # value read, range not probed
    buffer_size: int | None = None  # command buffer (characters after AT), if it has a limit
    lacks: list[str] = field(default_factory=list)  # behaviours (profile BEHAVIOURS) missing
    commands: int = 0
    notes: list[str] = field(default_factory=list)


class Prober:
    """Runs the probe over `port` (see module doc)."""

    def __init__(
        self,
        port: Port,
        *,
        timeout: float = COMMAND_TIMEOUT,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.port = port
        self.timeout = timeout
        self.progress = progress or (lambda text: None)
        self.found = Findings()
        self.numeric = False  # results are numeric (ATV0) for now

    # -- talking ---------------------------------------------------------------------------
    def command(self, text: str, *, end: bytes = b"\r") -> Answer:
        """Send ``text`` + `end` (CR) and read up to its final result (or the time-out)."""
        self.found.commands += 1
        self.port.reset_input_buffer()
        self.port.write(text.encode("ascii") + end)
        data = b""
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            data += self._read(left)
            match = _final(data, text, numeric=self.numeric)
            if match is not None:
                return match
        return Answer("", _lines(data, text))

    # -- the probe -------------------------------------------------------------------------
    def run(self) -> Findings:
        f = self.found
        first = self.first_contact()
        f.echo = first[0]
        f.verbose = first[1]
        self.must("AT&F")
        self.must("ATE0V1Q0")
        self.progress("identity")
        for n in range(10):
            answer = self.command(f"ATI{n}")
            if answer.ok and answer.lines:
                f.info[n] = answer.lines
        for key, cmd in (
            ("manufacturer", "AT+GMI"),
            ("model", "AT+GMM"),
            ("revision", "AT+GMR"),
            ("serial", "AT+GSN"),
            ("capabilities", "AT+GCAP"),
        ):
            answer = self.command(cmd)
            if answer.ok and answer.lines:
                f.identity[key] = " ".join(answer.lines)
        answer = self.command("AT+FCLASS=?")
        if answer.ok and answer.lines:
            f.fclass = _fclass(answer.lines[0])
        self.progress("behaviours")
        self.behaviours()
        self.progress("result codes")
        f.unknown_commands = "ok" if self.command("AT+LINELABPROBE").ok else "error"
        self.numeric = True  # ATV0's own answer is already numeric
        self.must("ATV0")
        f.ok_code = _number(self.command("AT").final)
        self.v0_info()
        for bad in ("AT+LINELABPROBE=?!", "ATS7=999"):
            code = _number(self.command(bad).final)
            if code is not None and code != f.ok_code:
                f.error_code = code
                break
        self.must("ATV1")
        self.numeric = False
        for n in REGISTERS:
            self.progress(f"S{n}")
            self.register(n)
        self.command("ATZ")
        return f

    def behaviours(self) -> None:
        """A/ and the command buffer (echo off, verbose results)."""
        f = self.found
        self.must("AT")
        if not self.command("A", end=b"/").ok:
            f.lacks.append("repeat")
            self.command("")  # end whatever the modem made of "A/"
        longest = _BUFFER[1] + 1
        if self.command("AT" + _filler(longest)).ok:
            f.lacks.append("overflow")  # even more than any buffer runs
            return

        def fits(n: int) -> bool:
            return self.command("AT" + _filler(n)).ok

        size = _search(_BUFFER[0] - 1, longest - 1, fits, up=True)
        if size < _BUFFER[0]:
            f.notes.append(f"the command buffer is below {_BUFFER[0]} characters")
            f.lacks.append("overflow")
        else:
            f.buffer_size = size

    def v0_info(self) -> None:
        """Under V0, information text is ``text CR LF`` (V.250 Table 3)."""
        self.found.commands += 1
        self.port.reset_input_buffer()
        self.port.write(b"ATS0?\r")
        data = b""
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0 and not re.search(rb"\r\n\d+\r$", data):
            data += self._read(left)
        if not re.fullmatch(rb"\d{1,3}\r\n\d{1,3}\r", data):
            self.found.lacks.append("v0-info")

    def first_contact(self) -> tuple[bool, bool]:
        """(echo on?, verbose?) from the modem's answer to a plain AT, as it started."""
        for _ in range(3):
            self.port.reset_input_buffer()
            self.port.write(b"AT\r")
            data = b""
            deadline = time.monotonic() + self.timeout
            while (left := deadline - time.monotonic()) > 0:
                data += self._read(left)
                if re.search(rb"(OK|0)\r", data):
                    return data.lstrip(b"\r\n").upper().startswith(b"AT"), b"OK" in data
        raise ProbeError("the modem does not answer AT (no OK within "
                         f"{self.timeout:g} s, three tries)")  # fmt: skip

    def _read(self, wait: float) -> bytes:
        """What has arrived, waiting up to `wait` seconds for the first byte."""
        self.port.timeout = min(wait, 0.5)
        first = self.port.read(1)
        return first + self.port.read(self.port.in_waiting) if first else b""

    def must(self, text: str) -> None:
        answer = self.command(text)
        if not answer.ok:
            raise ProbeError(f"{text} -> {answer.final or 'no answer'}")

    def register(self, n: int) -> None:
        """Factory value and accepted range of register Sn."""
        answer = self.command(f"ATS{n}?")
        value = _number(answer.lines[0]) if answer.ok and answer.lines else None
        if value is None:
            self.found.notes.append(f"S{n}: no value (ATS{n}? -> {answer.final or 'nothing'})")
            return
        if n in READ_ONLY:
            self.found.registers[n] = (value, 0, 255)
            return
        if n in LINE_CHARACTERS:
            self.found.defaults_only[n] = value
            return

        def accepts(v: int) -> bool:
            if not self.command(f"ATS{n}={v}").ok:
                return False
            back = self.command(f"ATS{n}?")
            got = _number(back.lines[0]) if back.ok and back.lines else None
            if got != v and n not in self.found.clamps:
                self.found.clamps.append(n)
            return got == v

        high = 255 if accepts(255) else _search(value, 255, accepts, up=True)
        low = 0 if accepts(0) else _search(0, value, accepts, up=False)
        self.command(f"ATS{n}={value}")
        self.found.registers[n] = (value, low, high)


def _filler(n: int) -> str:
    """A harmless command body of exactly `n` characters (``E0`` repeated)."""
    return ("E0" * n)[:n]


def _search(lo: int, hi: int, accepts: Callable[[int], bool], *, up: bool) -> int:
    """Upward: the highest accepted value in [lo, hi] (lo accepted). Downward: the
    lowest accepted value in [lo, hi] (hi accepted)."""
    if up:
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if accepts(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo
    while lo < hi:
        mid = (lo + hi) // 2
        if accepts(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _lines(data: bytes, sent: str) -> list[str]:
    lines = [x.strip() for x in re.split(rb"[\r\n]+", data)]
    text = [x.decode("latin-1") for x in lines if x]
    if text and text[0].upper() == sent.upper():
        text = text[1:]  # echo
    return text


def _final(data: bytes, sent: str, *, numeric: bool = False) -> Answer | None:
    """The answer, once `data` holds a final result: a verbose OK/ERROR line, or (in
    numeric mode, ATV0) a short number ending in CR."""
    lines = _lines(data, sent)
    if not lines or not data.endswith((b"\r", b"\n")):
        return None
    last = lines[-1]
    if last in ("OK", "ERROR") and data.rstrip(b"\r\n").endswith(last.encode()):
        return Answer(last, lines[:-1])
    if numeric and last.isdigit() and len(last) <= 3 and data.endswith(b"\r"):
        return Answer(last, lines[:-1])
    return None


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 3 else None


def _fclass(line: str) -> list[str]:
    body = line.split(":", 1)[-1].strip().strip("()")
    return [part.strip() for part in re.split(r"[,()]+", body) if part.strip()]


# -- the profile ---------------------------------------------------------------------------


def profile_of(found: Findings, *, source: str, base: str = "generic") -> dict[str, object]:
    """A profile (as a YAML-ready mapping) describing what the probe found."""
    profile: dict[str, object] = {
        "spec": "1",
        "base": base,
        "description": _clean(f"probed from {source}")[:200],
    }
    if found.identity:
        profile["identity"] = {k: _clean(v) for k, v in found.identity.items()}
    if found.info:
        profile["info"] = {
            n: _clean(lines[0]) if len(lines) == 1 else [_clean(x) for x in lines]
            for n, lines in sorted(found.info.items())
        }
    registers: dict[str, object] = {
        f"S{n}": {"default": d, "low": lo, "high": hi}
        for n, (d, lo, hi) in sorted(found.registers.items())
        if lo <= d <= hi
    }
    for n, value in sorted(found.defaults_only.items()):
        registers[f"S{n}"] = value  # the base profile's range, this modem's value
    if registers:
        profile["registers"] = registers
    codes: dict[str, int] = {}
    if found.ok_code is not None:
        codes["OK"] = found.ok_code
    if found.error_code is not None:
        codes["ERROR"] = found.error_code
    if codes:
        profile["result_codes"] = codes
    profile["unknown_commands"] = found.unknown_commands
    if found.buffer_size is not None:
        profile["buffer_size"] = found.buffer_size
    if found.lacks:
        profile["lacks"] = list(found.lacks)
    if found.fclass:
        profile["fclass"] = found.fclass
    profile["defaults"] = {"E": int(found.echo), "V": int(found.verbose)}
    return profile


def _clean(text: str) -> str:
    """Printable ASCII only (what a profile's strings allow)."""
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text).strip()


def dump_profile(profile: dict[str, object], notes: Iterable[str] = ()) -> str:
    header = "".join(f"# {note}\n" for note in notes)
    body: str = yaml.safe_dump(profile, sort_keys=False, allow_unicode=False, width=100)
    return header + body


__all__ = ["Findings", "ProbeError", "Prober", "dump_profile", "profile_of"]
