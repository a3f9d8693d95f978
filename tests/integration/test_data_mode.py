"""Data mode between two modems on real ptys (issue 12): the per-chunk data path loses,
duplicates and reorders nothing, and still honours a guarded escape.

- Bulk: `linelab modem A B` (a real process) with A's DTE sending to B and B's DTE
  sending to A at the same time, random data with unguarded `+++` runs planted at
  random places (and at the start of blocks, where chunk boundaries fall), every byte
  checked by sha256 in both directions. `LINELAB_BULK_MIB` sets the MiB per direction:
  256 by default; `tools/test-all` and CI may set less (it runs for about 30 s on an
  idle 2-core machine, longer under load). S12 is raised to its maximum (5.1 s), so a
  stall of the sending program cannot turn a planted run into a real escape.
- Guarded escape: on a virtual-time loop, a `+++` with a guard time of silence on both
  sides, in the middle of a stream, escapes to online-command state (OK), nothing of
  it reaches the far end, and after `ATO` the stream goes on where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import select
import subprocess
import sys
import termios
import threading
import tty
from pathlib import Path

import pytest

from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort
from linelab.vtime import VirtualTime

DEADLINE = 60.0  # seconds without progress before a wait fails
BLOCK = 1 << 20
MIB = int(os.environ.get("LINELAB_BULK_MIB", "256"))


def planted_block(seed: int, size: int = BLOCK) -> bytes:
    """Random bytes with about 300 unguarded `+++` runs (1 to 6 pluses), one at the start."""
    rng = random.Random(seed)
    block = bytearray(rng.randbytes(size))
    block[:3] = b"+++"
    for _ in range(300):
        run = rng.randint(1, 6)
        at = rng.randrange(size - run)
        block[at : at + run] = b"+" * run
    return bytes(block)


class Dte:
    """A raw DTE on a modem link; every wait is a select() deadline."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.fd], [], DEADLINE)
            assert ready, f"write blocked for {DEADLINE} s"
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                continue

    def expect(self, text: bytes) -> None:
        while text not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], DEADLINE)
            assert ready, f"expected {text!r}, got {bytes(self.buf)!r}"
            self.buf += os.read(self.fd, 4096)
        del self.buf[: self.buf.index(text) + len(text)]

    def close(self) -> None:
        os.close(self.fd)


def start_modems(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "modem", f"{tmp_path}/A", f"{tmp_path}/B"],
        stdout=subprocess.PIPE,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(run)),
    )
    assert proc.stdout is not None
    links: list[str] = []
    buf = b""
    while len(links) < 2:
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        assert ready, "no READY lines"
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, f"linelab modem exited {proc.wait()}"
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            words = line.decode().split()
            if words and words[0] == "READY":
                links.append(dict(w.split("=", 1) for w in words[1:] if "=" in w)["link"])
    return proc, links


def send_blocks(dte: Dte, seed: int, mib: int, digest: list[str]) -> None:
    sent = hashlib.sha256()
    for i in range(mib):
        block = planted_block(seed * 100_000 + i)
        sent.update(block)
        dte.write(block)
    digest.append(sent.hexdigest())


@pytest.mark.timeout(600)
def test_random_data_with_plus_runs_crosses_both_ways_at_once_byte_for_byte(
    tmp_path: Path,
) -> None:
    proc, (link_a, link_b) = start_modems(tmp_path)
    a, b = Dte(link_a), Dte(link_b)
    try:
        for dte, setup in ((a, b"ATE0S12=255\r"), (b, b"ATE0S12=255S0=1\r")):
            dte.write(setup)
            dte.expect(b"OK\r\n")
        a.write(b"ATD1002\r")
        for dte in (a, b):
            dte.expect(b"CONNECT")
            dte.expect(b"\r\n")
        assert not a.buf and not b.buf
        sent_ab: list[str] = []
        sent_ba: list[str] = []
        writers = [
            threading.Thread(target=send_blocks, args=(a, 1, MIB, sent_ab), daemon=True),
            threading.Thread(target=send_blocks, args=(b, 2, MIB, sent_ba), daemon=True),
        ]
        for writer in writers:
            writer.start()
        total = MIB * BLOCK
        got = {a.fd: 0, b.fd: 0}
        hashes = {a.fd: hashlib.sha256(), b.fd: hashlib.sha256()}
        while got[a.fd] < total or got[b.fd] < total:
            waiting = [fd for fd in got if got[fd] < total]
            ready, _, _ = select.select(waiting, [], [], DEADLINE)
            assert ready, f"stalled: A got {got[a.fd]}, B got {got[b.fd]} of {total}"
            for fd in ready:
                data = os.read(fd, min(65536, total - got[fd]))
                got[fd] += len(data)
                hashes[fd].update(data)
        for writer in writers:
            writer.join(DEADLINE)
            assert not writer.is_alive()
        assert hashes[b.fd].hexdigest() == sent_ab[0], "A -> B differs"
        assert hashes[a.fd].hexdigest() == sent_ba[0], "B -> A differs"
        # Nothing more (no stray result code): still online, and a last byte crosses.
        a.write(b"!")
        ready, _, _ = select.select([b.fd], [], [], DEADLINE)
        assert ready and os.read(b.fd, 100) == b"!"
    finally:
        a.close()
        b.close()
        proc.terminate()
        proc.wait(DEADLINE)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_guarded_escape_in_the_middle_of_a_stream_still_escapes(tmp_path: Path) -> None:
    vt = VirtualTime()
    vt.unregister_actor()  # this thread only runs the loop
    loop = vt.new_event_loop()
    first, second = planted_block(7, 200_000), planted_block(8, 200_000)

    async def body() -> tuple[bytes, bytes]:
        host = ModemHost()
        ports = [
            PtyPort(host.add_modem(n, num), tmp_path / n)
            for n, num in (("A", "1001"), ("B", "1002"))
        ]
        fds = [os.open(tmp_path / n, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK) for n in "AB"]
        got = [bytearray(), bytearray()]
        arrived = asyncio.Event()
        for fd, into in zip(fds, got, strict=True):
            tty.setraw(fd, termios.TCSANOW)

            def readable(fd: int = fd, into: bytearray = into) -> None:
                into.extend(os.read(fd, 65536))
                arrived.set()

            loop.add_reader(fd, readable)

        async def until(test: object) -> None:
            async with asyncio.timeout(60):  # virtual seconds
                while not test():  # type: ignore[operator]
                    arrived.clear()
                    await arrived.wait()

        async def write(fd: int, data: bytes) -> None:
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    await asyncio.sleep(0.001)  # virtual: room comes as B reads

        a, b = fds
        try:
            os.write(b, b"ATE0S0=1\r")
            await until(lambda: b"OK\r\n" in got[1])
            os.write(a, b"ATE0D1002\r")
            await until(lambda: b"CONNECT" in got[0] and got[0].endswith(b"\r\n"))
            await until(lambda: b"CONNECT" in got[1] and got[1].endswith(b"\r\n"))
            got[0].clear()
            got[1].clear()
            await write(a, first)
            await until(lambda: len(got[1]) >= len(first))
            await asyncio.sleep(1.5)  # S12 = 50: 1 s of silence before the escape
            os.write(a, b"+++")
            await asyncio.sleep(1.5)  # and after it
            await until(lambda: b"OK\r\n" in got[0])
            escaped = bytes(got[0])
            os.write(a, b"ATO\r")
            await until(lambda: b"CONNECT" in got[0] and got[0].endswith(b"\r\n"))
            await write(a, second)
            await until(lambda: len(got[1]) >= len(first) + len(second))
            return escaped, bytes(got[1])
        finally:
            for fd in fds:
                loop.remove_reader(fd)
                os.close(fd)
            for port in ports:
                port.close()
            host.close()

    try:
        escaped, received = loop.run_until_complete(body())
    finally:
        loop.close()
    assert escaped == b"\r\nOK\r\n"  # A: only the escape's OK, after the silence
    assert received == first + second  # B: the stream, without the escape's pluses
