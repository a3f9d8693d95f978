#!/usr/bin/env python3
"""An AT modem that linelab did not write, for testing linelab against a modem it does
not know (`linelab probe`, `linelab run --port`). Written on purpose in another style
from emulator/ (one loop, regular expressions, no state machine) and with the quirks of
real modems:

- lenient: an unknown command is OK;
- its own numeric codes (USRobotics style: CONNECT 9600 is 13) and identity;
- slow: every answer comes DELAY seconds after the command line ends;
- echo quirk: characters are echoed as they arrive, and the end of a command line is
  echoed as CR alone;
- registers with other ranges: S7 1-60 (refused beyond), S11 50-150, and S10 clamps
  whatever it is given to at most 100 instead of refusing;
- no telephone line: ATD answers NO DIALTONE;
- with --deaf-dialing, ATD dials for ever instead, and while dialling the modem
  ignores every byte (a CR does not abort it, ATH is not read) and DTR (it never looks
  at DTR); only "+++" with S12 guard times of silence each side stops the dial (OK, on
  hook, command mode). With --report it says what it does on stdout: "CMD <line>"
  for each command line, "DIALING", "IGNORED <bytes>" and "ON HOOK".

    python tests/responder/oddmodem.py LINK [--deaf-dialing] [--report]
    # prints "READY LINK" once serving
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import time
import tty

DELAY = 0.03
CODES = {"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4, "NO DIALTONE": 6,
         "BUSY": 7, "NO ANSWER": 8, "CONNECT 9600": 13}  # fmt: skip
INFO = {0: "56000", 1: "012", 2: "OK", 3: "Oddball Modem v2", 4: "OM-56 quirks inside"}
IDENT = {"+GMI": "ODDBALL", "+GMM": "OM-56", "+GMR": "2.0.1", "+GSN": "ODD-0001"}
RANGES = {0: (0, 255), 1: (0, 255), 2: (0, 127), 3: (0, 127), 4: (0, 127), 5: (0, 127),
          6: (2, 10), 7: (1, 60), 8: (0, 30), 9: (1, 255), 10: (1, 255), 11: (50, 150),
          12: (0, 255), 25: (0, 255), 30: (0, 90)}  # fmt: skip
FACTORY = {0: 0, 1: 0, 2: 43, 3: 13, 4: 10, 5: 8, 6: 3, 7: 45, 8: 2, 9: 6, 10: 20, 11: 70,
           12: 50, 25: 5, 30: 0}  # fmt: skip
CLAMPS = {10: 100}


class Odd:
    def __init__(self, deaf_dialing: bool = False, report: bool = False) -> None:
        self.deaf_dialing, self.reporting = deaf_dialing, report
        self.dialing = False
        self.reset()

    def reset(self) -> None:
        self.s = dict(FACTORY)
        self.echo, self.verbose, self.quiet = True, True, False

    def report(self, text: str) -> None:
        if self.reporting:
            print(text, flush=True)

    def result(self, word: str) -> bytes:
        if self.quiet:
            return b""
        if self.verbose:
            return f"\r\n{word}\r\n".encode()
        return f"{CODES.get(word, 0)}\r".encode()

    def info(self, text: str) -> bytes:
        return f"\r\n{text}\r\n".encode()

    def line(self, text: str) -> bytes:
        if not re.match(r"(?i)^at", text):
            return b""
        body, out = text[2:], b""
        while body:
            m = re.match(r"(?i)^(\+G[A-Z]{2})", body)
            if m:
                out += (
                    self.info(IDENT.get(m.group(1).upper(), ""))
                    if m.group(1).upper() in IDENT
                    else b""
                )
                body = body[m.end() :]
                continue
            m = re.match(r"(?i)^S(\d+)\?", body)
            if m:
                n = int(m.group(1))
                if n not in self.s:
                    return out + self.result("ERROR")
                out += self.info(f"{self.s[n]:03d}")
                body = body[m.end() :]
                continue
            m = re.match(r"(?i)^S(\d+)=(\d+)", body)
            if m:
                n, v = int(m.group(1)), int(m.group(2))
                lo, hi = RANGES.get(n, (0, -1))
                if n in CLAMPS and v >= lo:
                    v = min(v, CLAMPS[n])
                elif not lo <= v <= hi:
                    return out + self.result("ERROR")
                self.s[n] = v
                body = body[m.end() :]
                continue
            m = re.match(r"(?i)^I(\d?)", body)
            if m:
                out += self.info(INFO.get(int(m.group(1) or 0), "OK"))
                body = body[m.end() :]
                continue
            m = re.match(r"(?i)^([EVQ])(\d?)", body)
            if m:
                on = (m.group(2) or "0") != "0"
                setattr(self, {"E": "echo", "V": "verbose", "Q": "quiet"}[m.group(1).upper()], on)
                body = body[m.end() :]
                continue
            m = re.match(r"(?i)^(Z\d?|&F\d?)", body)
            if m:
                self.reset()
                body = body[m.end() :]
                continue
            m = re.match(r"(?i)^(&[A-Z]\d*|\+[A-Z]+(=[\d,]*|\?)?)", body)  # &D2, +VCID=1: OK
            if m:
                body = body[m.end() :]
                continue
            if re.match(r"(?i)^D", body):
                if self.deaf_dialing:
                    self.dialing = True
                    self.report("DIALING")
                    return out
                return out + self.result("NO DIALTONE")
            # Anything else: lenient, skip one character.
            body = body[1:]
        return out + self.result("OK")


class Deaf:
    """What a deaf-dialing modem does with bytes: nothing, except "+++" with guard
    times (S12 fiftieths of a second of silence before and after)."""

    def __init__(self, odd: Odd) -> None:
        self.odd = odd
        self.plus = 0
        self.last = time.monotonic()

    def guard(self) -> float:
        return self.odd.s[12] / 50.0

    def feed(self, data: bytes, now: float) -> None:
        self.odd.report(f"IGNORED {data!r}")
        for byte in data:
            if byte == ord("+") and (self.plus or now - self.last >= self.guard()):
                self.plus += 1
            else:
                self.plus = 0
        if self.plus > 3:
            self.plus = 0
        self.last = now

    def timeout(self, now: float) -> float:
        """How long select may wait (until the guard after a "+++" ends)."""
        return max(0.0, self.last + self.guard() - now) if self.plus == 3 else 0.2

    def escaped(self, now: float) -> bool:
        return self.plus == 3 and now - self.last >= self.guard()


def main() -> int:
    link = sys.argv[1]
    deaf_dialing, report = "--deaf-dialing" in sys.argv[2:], "--report" in sys.argv[2:]
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(name, link)
    done = False

    def stop(*_: object) -> None:
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"READY {link}", flush=True)
    odd, pending = Odd(deaf_dialing, report), b""
    deaf = Deaf(odd)
    try:
        while not done:
            try:
                wait = deaf.timeout(time.monotonic()) if odd.dialing else 0.2
                ready, _, _ = select.select([master], [], [], wait)
            except InterruptedError:
                continue
            if odd.dialing and deaf.escaped(time.monotonic()):
                odd.dialing, deaf.plus = False, 0
                odd.report("ON HOOK")
                os.write(master, odd.result("OK"))
            if not ready:
                continue
            try:
                data = os.read(master, 1024)
            except OSError:
                data = b""  # no client on the slave yet
                time.sleep(0.05)
                continue
            if odd.dialing:
                deaf.feed(data, time.monotonic())
                continue
            for i, byte in enumerate(data):
                ch = bytes([byte])
                if ch == b"\r":
                    if odd.echo:
                        os.write(master, b"\r")
                    text, pending = pending.decode("latin-1").strip(), b""
                    odd.report(f"CMD {text}")
                    time.sleep(DELAY)
                    answer = odd.line(text)
                    if answer:
                        os.write(master, answer)
                    if odd.dialing:  # deaf from here on, this read's rest included
                        deaf.last, deaf.plus = time.monotonic(), 0
                        if data[i + 1 :]:
                            deaf.feed(data[i + 1 :], time.monotonic())
                        break
                elif ch in (b"\n",):
                    continue
                else:
                    pending += ch
                    if odd.echo:
                        os.write(master, ch)
    finally:
        if os.path.islink(link) and os.readlink(link) == name:
            os.unlink(link)
        os.close(master)
        os.close(slave)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
