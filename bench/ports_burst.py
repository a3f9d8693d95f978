"""Benchmark (not a test): a 1 MiB burst through a pair of `emulator.transports.ports` ports,
against pty relay floors measured in the same run.

    python bench/ports_burst.py [--rounds 21] [--mib 1] [--quick]

It prints a markdown section on stdout (progress on stderr), as bench/run.sh expects.

Each relay runs as its own process, pinned to cpu0 when there are two cpus; this
client is pinned to cpu1 (the `split` placement of the shared pty floors). One client
drives every relay the same way: a writer process pushes the burst into slave A in
64 KiB writes, and this process reads it from slave B in 64 KiB reads and checks it.
A round is timed from the writer's go signal to the last byte. Ratios are worked out
within a round, then the median over rounds is printed.

Relays:

- `C relay` is the C floor: two pty masters bridged with poll and blocking writes
  (copied from the shared pty floors, `c/pty_relay.c`). Needs gcc; skipped without.
- `Python select relay` is the same bridge in Python (from `py/relay_select.py`).
- `emulator.transports.ports hub` is `python -m emulator.transports.ports 2`.

MB/s means 10^6 bytes per second.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Copied from the shared pty floors (c/common.h, c/pty_relay.c), trimmed.
C_RELAY = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static int open_master(char *name, size_t len) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, len) != 0) exit(2);
    return m;
}
static int write_all(int fd, const char *p, size_t len) {
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        p += n; len -= (size_t)n;
    }
    return 0;
}
int main(void) {
    char na[128], nb[128];
    int a = open_master(na, sizeof na), b = open_master(nb, sizeof nb);
    printf("%s %s\n", na, nb);
    fflush(stdout);
    static char buf[65536];
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; return 2; }
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0) { if (errno == EINTR || errno == EAGAIN) continue; return 0; }
            if (n == 0 || write_all(p[1 - i].fd, buf, (size_t)n) < 0) return 0;
        }
    }
}
"""

# Copied from the shared pty floors (py/ptyutil.py, py/relay_select.py), trimmed.
PY_RELAY = r"""
import fcntl, os, select, struct, sys
def open_master():
    m = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    fcntl.ioctl(m, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
    n = struct.unpack("I", fcntl.ioctl(m, 0x80045430, b"\0" * 4))[0]  # TIOCGPTN
    return m, "/dev/pts/%d" % n
a, na = open_master()
b, nb = open_master()
print(na, nb, flush=True)
peer = {a: b, b: a}
while True:
    for fd in select.select([a, b], [], [])[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:
            sys.exit(0)
        view = memoryview(data)
        while view:
            view = view[os.write(peer[fd], view):]
"""


def pin(cpu: int) -> Callable[[], None] | None:
    """A preexec_fn pinning a child to `cpu`, when the machine has two cpus."""
    if (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start_relay(argv: list[str], count_lines: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a relay; return it and the two slave paths it prints."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, preexec_fn=pin(0), cwd=REPO)
    assert proc.stdout is not None
    words: list[str] = []
    for _ in range(count_lines):
        words += proc.stdout.readline().split()
    if len(words) != 2:
        proc.kill()
        raise RuntimeError(f"{argv[0]} did not print two slave paths: {words}")
    return proc, words


def open_raw(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


# The writer: opens slave A raw, and pushes one burst per byte on stdin.
WRITER = r"""
import os, sys, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
payload = bytes((i * 131 + 7) & 0xFF for i in range(int(sys.argv[2])))
while sys.stdin.buffer.read(1):
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view[:65536]):]
"""


def burst_payload(size: int) -> bytes:
    return bytes((i * 131 + 7) & 0xFF for i in range(size))


class Lane:
    """One relay with its client: a writer process held open between rounds (so the
    relay never sees slave A close), and slave B read here."""

    def __init__(self, paths: list[str], payload: bytes) -> None:
        self.payload = payload
        self.reader = open_raw(paths[1])
        self.writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, paths[0], str(len(payload))],
            stdin=subprocess.PIPE,
            preexec_fn=pin(1),
        )
        self.buf = bytearray(len(payload))

    def burst(self) -> float:
        """Send one burst; return its MB/s."""
        assert self.writer.stdin is not None
        got = 0
        start = time.perf_counter()
        self.writer.stdin.write(b"g")
        self.writer.stdin.flush()
        with memoryview(self.buf) as view:
            while got < len(self.payload):
                got += os.readv(self.reader, [view[got : got + 65536]])
        elapsed = time.perf_counter() - start
        if self.buf != self.payload:
            raise RuntimeError("the burst arrived corrupted")
        return len(self.payload) / elapsed / 1e6

    def close(self) -> None:
        assert self.writer.stdin is not None
        self.writer.stdin.close()
        self.writer.wait()
        os.close(self.reader)


def build_c_relay(workdir: Path) -> list[str] | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    source = workdir / "pty_relay.c"
    source.write_text(C_RELAY)
    binary = workdir / "pty_relay"
    subprocess.run([gcc, "-O2", "-o", str(binary), str(source)], check=True)
    return [str(binary)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--mib", type=int, default=1, help="burst size in MiB")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    payload = burst_payload(args.mib << 20)

    with tempfile.TemporaryDirectory() as tmp:
        relays: dict[str, tuple[list[str], int]] = {}
        c_relay = build_c_relay(Path(tmp))
        if c_relay is not None:
            relays["C relay (floor)"] = (c_relay, 1)
        relays["Python select relay"] = ([sys.executable, "-c", PY_RELAY], 1)
        relays["emulator.transports.ports hub"] = (
            [sys.executable, "-m", "emulator.transports.ports", "2"],
            2,
        )

        procs: list[subprocess.Popen[str]] = []
        lanes: dict[str, Lane] = {}
        try:
            for name, (argv, lines) in relays.items():
                print(f"starting {name}", file=sys.stderr)
                proc, paths = start_relay(argv, lines)
                procs.append(proc)
                lanes[name] = Lane(paths, payload)
            figures: dict[str, list[float]] = {name: [] for name in lanes}
            for lane in lanes.values():
                lane.burst()  # warm-up
            for _ in range(args.rounds):
                for name, lane in lanes.items():
                    figures[name].append(lane.burst())
        finally:
            for lane in lanes.values():
                lane.close()
            for proc in procs:
                proc.terminate()
                proc.wait()

    print(f"## ports_burst: {args.mib} MiB burst through a pty pair\n")
    print(f"{args.rounds} rounds; relay on cpu0, client on cpu1; MB/s = 10^6 B/s.\n")
    print("| relay | median MB/s | min-max |")
    print("|---|---:|---:|")
    for name, values in figures.items():
        print(
            f"| {name} | {statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |"
        )
    print("\n| ratio (per round, then median) | median | min-max |")
    print("|---|---:|---:|")
    ours = figures["emulator.transports.ports hub"]
    for floor in ("C relay (floor)", "Python select relay"):
        if floor in figures:
            ratios = [o / f for o, f in zip(ours, figures[floor], strict=True)]
            span = f"{min(ratios):.2f}-{max(ratios):.2f}"
            print(f"| hub / {floor} | {statistics.median(ratios):.2f} | {span} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
