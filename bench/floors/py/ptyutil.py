"""Shared helpers for the Python pty floor benchmarks (Linux, Python 3.11).

Copied from the project's shared pty floors (/work/shared/bench/py/ptyutil.py);
only type hints and ruff formatting were added, the behaviour is unchanged.

Python 3.11 has no os.posix_openpt/ptsname (3.13+), and os.openpty() also
opens the slave, which would stop the master from seeing EIO when the
client closes. open_master() opens /dev/ptmx and unlocks it with ioctls,
exactly what posix_openpt+grantpt+unlockpt+ptsname do in C.
"""

import fcntl
import json
import os
import struct
import sys
import termios
import tty
from typing import Any

TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int)
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int)
REPLY = b"\r\nOK\r\n"


def open_master() -> tuple[int, str]:
    """A new pty master (not blocking, no slave opened) and its slave's path."""
    m = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(m, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(m, TIOCGPTN, b"\0" * 4))[0]
    return m, f"/dev/pts/{n}"


def set_raw(fd: int) -> None:
    """cfmakeraw equivalent, VMIN=1 VTIME=0."""
    tty.setraw(fd, termios.TCSANOW)


def pct(sorted_vals: list[int], p: float) -> int:
    """Nearest-rank percentile (same definition as the C code)."""
    n = len(sorted_vals)
    k = max(1, min(n, int(p / 100.0 * n + 0.999999)))
    return sorted_vals[k - 1]


def lat_stats(ns: list[int]) -> dict[str, float]:
    """p50/p90/p99/min/max/mean in microseconds of nanosecond samples."""
    s = sorted(ns)
    n = len(s)
    return {
        "n": n,
        "p50_us": pct(s, 50) / 1e3,
        "p90_us": pct(s, 90) / 1e3,
        "p99_us": pct(s, 99) / 1e3,
        "min_us": s[0] / 1e3,
        "max_us": s[-1] / 1e3,
        "mean_us": sum(s) / n / 1e3,
    }


def emit(obj: dict[str, Any]) -> None:
    """Print one JSON object as a line and flush."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
