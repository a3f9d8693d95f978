"""Floor for bench/modem_farm.py: a bare asyncio pty farm, no emulator logic.

N pty masters on one asyncio loop (`add_reader` each, the shape of
floors/py/responder_asyncio.py), every CR answered with "\\r\\nOK\\r\\n". The farm holds
each slave open itself, as `linelab modem` keeps its links usable between clients, so
a master never reports EIO while no client is there. Prints "READY link=PATH" per pty,
then "ALL READY", and runs until SIGTERM.

    python bench/farm_floor.py N
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "floors", "py"))
from ptyutil import REPLY, open_master


def main() -> None:
    n = int(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.new_event_loop()
    held: list[int] = []

    def serve(master: int) -> None:
        def on_readable() -> None:
            try:
                data = os.read(master, 4096)
            except (BlockingIOError, OSError):
                return
            count = data.count(b"\r")
            if count:
                os.write(master, REPLY * count)

        loop.add_reader(master, on_readable)

    out = []
    for _ in range(n):
        master, name = open_master()
        os.set_blocking(master, False)
        held.append(os.open(name, os.O_RDWR | os.O_NOCTTY))  # keep the slave side alive
        serve(master)
        out.append(f"READY link={name}\n")
    sys.stdout.write("".join(out) + "ALL READY\n")
    sys.stdout.flush()
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()


if __name__ == "__main__":
    main()
