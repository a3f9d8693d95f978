"""`linelab replay TRACE LINK [--modem NAME] [--speed F] [--exit-at-end]`: serve a
recorded transcript as a modem on a pty at LINK, answering as the recorded modem did,
and say clearly when a client departs from the recording.

Prints ``READY link=LINK pty=/dev/pts/N modem=NAME steps=N`` once serving. A departure
is one line on stderr (which input, what was expected); from then on the replay
answers nothing more. With ``--exit-at-end`` it exits once the recording has been
played; otherwise it runs until SIGINT or SIGTERM. Exit status: 0 the client followed
the recording, 1 it departed, 2 a bad transcript or usage.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import time
import tty
from collections.abc import Callable

from emulator.commands.modem import check_link
from emulator.replay import Replayer, modems_in, steps_of
from emulator.transcript import read_transcript
from linelab.errors import LinelabError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="serve a recorded transcript as a modem on a pty",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="Exit status: 0 the client followed the recording; 1 it departed; "
        "2 bad transcript or usage.",
    )
    parser.add_argument("trace", metavar="TRACE", help="a transcript (linelab modem --trace)")
    parser.add_argument("link", metavar="LINK", help="symlink to create for the pty")
    parser.add_argument(
        "--modem", metavar="NAME", help="which recorded modem to play (default: the first)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="F",
        help="play F times faster than recorded; 0 sends each answer at once (default: 1)",
    )
    parser.add_argument(
        "--exit-at-end", action="store_true", help="exit once the whole recording is played"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    records = read_transcript(args.trace)
    names = modems_in(records)
    if not names:
        raise LinelabError(f"{args.trace}: no modem in the transcript has DTE traffic")
    modem = args.modem or names[0]
    if modem not in names:
        raise LinelabError(f"{args.trace}: no modem {modem!r} (it has {', '.join(names)})")
    if args.speed < 0:
        raise LinelabError(f"--speed must be 0 or more, not {args.speed}")
    steps = steps_of(records, modem)
    link = os.path.abspath(args.link)
    warning = check_link(link)
    if warning:
        print(f"linelab replay: {warning}", file=sys.stderr)
    master, slave = os.openpty()
    tty.setraw(slave)
    pty = os.ttyname(slave)
    if os.path.islink(link):
        os.unlink(link)
    os.symlink(pty, link)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        replayer = Replayer(steps, speed=args.speed, now=time.monotonic())
        print(f"READY link={link} pty={pty} modem={modem} steps={len(steps)}", flush=True)
        status = _serve(master, replayer, args.exit_at_end, lambda: stop)
        _drain(slave)
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if os.path.islink(link) and os.readlink(link) == pty:
            os.unlink(link)
        os.close(master)
        os.close(slave)


#: How long, at exit, the replay waits for the client to read what was sent.
DRAIN_DEADLINE = 5.0
#: How long the client's queue must stay empty before the replay closes the pty.
DRAIN_SETTLE = 0.2


def _drain(slave: int) -> None:
    """Wait (a little) until the client has read everything: closing the master hangs
    up the pty, and the kernel drops what the client had not read yet. Bytes written
    to the master reach the slave's queue through deferred kernel work, so an empty
    queue counts only when it is still empty a moment later."""
    deadline = time.monotonic() + DRAIN_DEADLINE
    empty_since: float | None = None
    while (now := time.monotonic()) < deadline:
        pending = struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        if pending:
            empty_since = None
        elif empty_since is None:
            empty_since = now
        elif now - empty_since >= DRAIN_SETTLE:
            return
        select.select([], [], [], 0.01)


def _serve(master: int, replayer: Replayer, exit_at_end: bool, stopped: Callable[[], bool]) -> int:
    reported = 0
    announced = False
    while not stopped():
        now = time.monotonic()
        out = replayer.due(now)
        if out and not replayer.departed:
            os.write(master, out)
        if replayer.complete and not announced:
            announced = True
            print("linelab replay: the recording has been played to the end", file=sys.stderr)
            if exit_at_end:
                break
        deadline = replayer.next_deadline()
        wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - now))
        try:
            readable, _, _ = select.select([master], [], [], wait)
        except InterruptedError:
            continue
        if readable:
            try:
                data = os.read(master, 4096)
            except OSError:  # no client on the pty (EIO): wait for one
                data = b""
                select.select([], [], [], 0.05)
            if data:
                replayer.receive(data, time.monotonic())
        for departure in replayer.departures[reported:]:
            print(f"linelab replay: {departure.describe()}", file=sys.stderr, flush=True)
        reported = len(replayer.departures)
    return 1 if replayer.departed else 0
