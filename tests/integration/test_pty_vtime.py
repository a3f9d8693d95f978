"""A pty modem on a `linelab.vtime` virtual-time loop: with the DTE driven from the
same loop, S7's 50 s carrier wait passes in virtual time, not wall time."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from emulator.transports.host import ModemHost
from emulator.transports.pty import PtyPort
from linelab.vtime import VirtualTime


def test_s7_on_a_pty_runs_on_virtual_time(tmp_path: Path) -> None:
    vt = VirtualTime()
    vt.unregister_actor()  # this thread only runs the loop
    loop = vt.new_event_loop()
    link = tmp_path / "modem"

    async def body() -> float:
        host = ModemHost()
        host.exchange.set_far("5550000", "noanswer")
        port = PtyPort(host.add_modem("A"), link)
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        got = bytearray()
        arrived = asyncio.Event()

        def readable() -> None:
            got.extend(os.read(fd, 4096))
            arrived.set()

        loop.add_reader(fd, readable)
        try:
            start = loop.time()
            os.write(fd, b"ATE0D5550000\r")
            async with asyncio.timeout(300):  # virtual seconds
                while b"NO CARRIER" not in got:
                    arrived.clear()
                    await arrived.wait()
            return loop.time() - start
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            port.close()
            host.close()

    wall = time.monotonic()
    try:
        waited = loop.run_until_complete(body())
    finally:
        loop.close()
    assert 50 <= waited < 60  # S7 = 50 s on the loop's (virtual) clock
    assert time.monotonic() - wall < 10  # a wall-clock bound, not a synchronisation
    assert not link.is_symlink()
