"""DTR and DTE rate of the program on the other side of a pty, as events.

A pty has no modem lines. A program drops DTR the POSIX way, by setting the output speed
to B0, and sets its rate with the same call. To see those calls as they happen the
master runs in packet mode (``TIOCPKT``) with ``EXTPROC`` set in the termios that master
and slave share: Linux then posts a ``TIOCPKT_IOCTL`` packet to the master on every
termios change the client makes. EXTPROC also switches off the slave's canonical
editing and echo, so it is kept set only while the client's termios is raw (no ICANON,
no ECHO), as every serial program's is; for a cooked-mode client (a login shell after
mgetty) it is cleared, and the owner re-reads termios itself (on I/O, on a timer).

Both users of a pty master share this one `DtrWatcher`: the pty transport
(`emulator.transports.pty`) and the port hub (`emulator.transports.ports`). Linux facts
are checked by tests/integration/test_pty*.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import struct
import termios
import tty
from dataclasses import dataclass

# Linux constants the termios module does not export.
EXTPROC = 0o200000
TIOCPKT_DATA = 0x00
TIOCPKT_IOCTL = 0x40

SPEEDS: dict[int, int] = {
    getattr(termios, name): int(name[1:])
    for name in dir(termios)
    if name.startswith("B") and name[1:].isdigit()
}
"""termios speed constant -> bits per second (B0 -> 0)."""


@dataclass(frozen=True, slots=True)
class DteState:
    """What a client's termios says about the DTE."""

    dtr: bool  # output speed is not B0
    rate: int | None  # bits per second, None for an unknown speed constant
    clocal: bool  # CLOCAL set: the client ignores carrier (no hang-up on loss)
    raw: bool  # no ICANON, no ECHO: EXTPROC is set, termios changes are events


def make_raw(master: int) -> None:
    """cfmakeraw on the shared termios, plus EXTPROC (see the module docstring)."""
    tty.setraw(master)
    attrs = termios.tcgetattr(master)
    attrs[3] |= EXTPROC
    termios.tcsetattr(master, termios.TCSANOW, attrs)


class DtrWatcher:
    """Packet mode on a pty master, and its client's DTR, rate and CLOCAL.

    ``DtrWatcher(master)`` switches packet mode on: from then on every read from the
    master starts with a status byte; pass what was read to `split`. Call `check()`
    when a client opens the slave and whenever `split` says termios changed."""

    def __init__(self, master: int) -> None:
        self.master = master
        fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))

    @staticmethod
    def split(packet: bytes) -> tuple[bytes, bool]:
        """(data, termios changed) of one packet read from the master."""
        if not packet:
            return b"", False
        status = packet[0]
        if status == TIOCPKT_DATA:
            return packet[1:], False
        return b"", bool(status & TIOCPKT_IOCTL)

    def check(self) -> DteState | None:
        """Read the client's termios (None if the master cannot be read), and keep
        EXTPROC set exactly while that termios is raw."""
        try:
            attrs = termios.tcgetattr(self.master)
        except termios.error:
            return None
        cflag, lflag, ospeed = attrs[2], attrs[3], attrs[5]
        raw = not lflag & (termios.ICANON | termios.ECHO)
        if raw != bool(lflag & EXTPROC):
            attrs[3] = lflag | EXTPROC if raw else lflag & ~EXTPROC
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.master, termios.TCSANOW, attrs)
        return DteState(
            dtr=ospeed != termios.B0,
            rate=SPEEDS.get(ospeed),
            clocal=bool(cflag & termios.CLOCAL),
            raw=raw,
        )


__all__ = [
    "EXTPROC",
    "SPEEDS",
    "TIOCPKT_DATA",
    "TIOCPKT_IOCTL",
    "DteState",
    "DtrWatcher",
    "make_raw",
]
