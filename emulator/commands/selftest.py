"""`linelab selftest`: two in-process modems dial each other on virtual time.

It prints the AT dialogue (what each DTE typed and what each modem answered, with
virtual timestamps) and ends with "selftest: PASS" or "selftest: FAIL: <reason>";
the exit status is 0 or 1. The whole call, with its rings and guard times, takes
milliseconds of real time.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from emulator.core.engine import ModemEngine
from emulator.core.profile import DEFAULT_PROFILE
from emulator.core.tracerecord import TraceRecord
from emulator.network.sim import Sim


class SelftestFailed(Exception):
    """One expectation of the selftest did not hold."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `selftest` subcommand."""
    parser = subparsers.add_parser(
        "selftest",
        help="two virtual modems dial each other on virtual time",
        description=__doc__,
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        help="modem profile for both modems (bundled name or path; default: generic)",
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    return run_selftest(profile=args.profile, out=sys.stdout)


def run_selftest(*, profile: str = DEFAULT_PROFILE, out: TextIO) -> int:
    """Run the selftest, print the dialogue and the verdict to `out`; 0 on PASS."""
    sim = Sim()
    try:
        _script(sim, profile)
        verdict, status = "selftest: PASS", 0
    except SelftestFailed as exc:
        verdict, status = f"selftest: FAIL: {exc}", 1
    for line in render(sim.transcript()):
        print(line, file=out)
    print(verdict, file=out)
    return status


def _script(sim: Sim, profile: str) -> None:
    alice = sim.add_modem("A", "1001", profile, caller_name="ALICE")
    bob = sim.add_modem("B", "1002", profile, caller_name="BOB")
    seen: dict[int, bytearray] = {id(alice): bytearray(), id(bob): bytearray()}

    def wait_for(modem: ModemEngine, text: bytes, within: float, why: str) -> None:
        buf = seen[id(modem)]

        def found() -> bool:
            buf.extend(sim.output(modem))
            return text in buf

        if not sim.run_until(found, within):
            raise SelftestFailed(f"{modem.name}: {why}: no {text!r} within {within:g} s")
        del buf[: buf.index(text) + len(text)]

    def command(modem: ModemEngine, line: str, expect: bytes, within: float = 1.0) -> None:
        sim.type(modem, line + "\r")
        wait_for(modem, expect, within, line)

    command(alice, "ATZ", b"OK")
    command(bob, "ATZ", b"OK")
    command(alice, "ATI3", b"OK")
    command(bob, "AT+VCID=1;S0=2", b"OK")
    command(alice, "ATE1V1X4 DT1002", b"CONNECT", within=60.0)
    # Bob's side: RING, caller ID in the silence after it, RING, then auto-answer on
    # S0=2 (the bytes are checked in this order).
    wait_for(bob, b"RING", 1.0, "first ring")
    wait_for(bob, b"NMBR = 1001", 1.0, "caller ID number")
    wait_for(bob, b"NAME = ALICE", 1.0, "caller ID name")
    wait_for(bob, b"RING", 1.0, "second ring, after the caller ID")
    wait_for(bob, b"CONNECT", 60.0, "auto-answer")
    _check(alice.signals.dcd and bob.signals.dcd, "DCD is not on at both ends")

    sim.type(alice, b"hello from A+")
    wait_for(bob, b"hello from A+", 1.0, "data A to B")
    sim.type(bob, b"hello from B\x00\xff")
    wait_for(alice, b"hello from B\x00\xff", 1.0, "data B to A")

    sim.run(1.5)  # the guard time before the escape
    sim.type(alice, "+++")
    wait_for(alice, b"OK", 3.0, "+++ escape")
    _check(alice.state == "online_command", f"A is {alice.state}, not online_command")
    command(alice, "ATH", b"OK")
    wait_for(bob, b"NO CARRIER", 5.0, "far end sees the hang-up")
    _check(not bob.signals.dcd, "B still has DCD after NO CARRIER")


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise SelftestFailed(reason)


def render(records: list[TraceRecord]) -> list[str]:
    """The AT dialogue of a transcript, one readable line per DTE line or response
    (the modem's echo of a typed line is left out). Bytes without a line end (data)
    are shown when the other direction or another modem speaks."""
    lines: list[str] = []
    typed: dict[str, str] = {}  # last line each DTE typed, to leave out its echo
    key: tuple[str, str] | None = None
    start = 0.0
    buf = bytearray()

    def flush() -> None:
        if key is not None and buf:
            lines.append(_format(start, key, _show(bytes(buf))))
        buf.clear()

    for record in records:
        if record.kind == "exchange" and isinstance(record.data, str):
            flush()
            lines.append(f"[{record.t:8.3f}] exchange: {record.data}")
            continue
        if record.kind not in ("dte>modem", "modem>dte") or not isinstance(record.data, bytes):
            continue
        if (record.modem, record.kind) != key:
            flush()
            key = (record.modem, record.kind)
        if not buf:
            start = record.t
        buf += record.data
        for text in _complete_lines(buf):
            if key[1] == "dte>modem":
                typed[key[0]] = text
            elif typed.pop(key[0], None) == text:
                continue
            lines.append(_format(start, key, text))
            start = record.t
    flush()
    return lines


def _format(t: float, key: tuple[str, str], text: str) -> str:
    arrow = "<-" if key[1] == "dte>modem" else "->"
    return f"[{t:8.3f}] {key[0]} {arrow} {text}"


def _complete_lines(buf: bytearray) -> list[str]:
    """Take every complete CR- or LF-ended line out of `buf` (empty ones dropped)."""
    out: list[str] = []
    while True:
        ends = [i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0]
        if not ends:
            return out
        end = min(ends)
        text = bytes(buf[:end])
        del buf[: end + 1]
        if text:
            out.append(_show(text))


def _show(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in data)
