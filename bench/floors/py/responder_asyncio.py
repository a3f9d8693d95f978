"""asyncio version of the modem side: loop.add_reader on a non-blocking master.

Copied from the project's shared pty floors (/work/shared/bench/py/responder_asyncio.py);
only type hints and ruff formatting were added, the behaviour is unchanged.

This is the shape a Python virtual-modem emulator is most likely to have
(one event loop, a reader callback per modem). Prints the slave path,
answers each CR with "\\r\\nOK\\r\\n", exits on EIO (client closed).
usage: python3 responder_asyncio.py
"""

import asyncio
import errno
import os
import sys

from ptyutil import REPLY, open_master


def main() -> None:
    m, name = open_master()
    os.set_blocking(m, False)
    loop = asyncio.new_event_loop()
    done: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        try:
            data = os.read(m, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            loop.remove_reader(m)
            done.set_result(None)
            return
        c = data.count(b"\r")
        if c:
            os.write(m, REPLY * c)  # 6 bytes: never blocks on a pty

    loop.add_reader(m, on_readable)
    sys.stdout.write(name + "\n")
    sys.stdout.flush()
    loop.run_until_complete(done)
    loop.close()


if __name__ == "__main__":
    main()
