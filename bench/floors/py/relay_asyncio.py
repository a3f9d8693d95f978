"""asyncio pty-to-pty relay (add_reader/add_writer, non-blocking masters).

Copied from the project's shared pty floors (/work/shared/bench/py/relay_asyncio.py);
only type hints and ruff formatting were added, the behaviour is unchanged.

The shape an asyncio emulator would bridge two modems in data mode with:
read what is available, write what the peer accepts, park the rest and
stop reading the source until the peer drains (back-pressure).
Prints "SLAVE_A SLAVE_B"; exits when a slave hangs up (EIO).
usage: python3 relay_asyncio.py [BUFSIZE]
"""

import asyncio
import errno
import os
import sys

from ptyutil import open_master


def main() -> None:
    bufsz = int(sys.argv[1]) if len(sys.argv) > 1 else 65536
    a, na = open_master()
    b, nb = open_master()
    for fd in (a, b):
        os.set_blocking(fd, False)
    loop = asyncio.new_event_loop()
    done: asyncio.Future[None] = loop.create_future()
    pending: dict[int, memoryview | None] = {a: None, b: None}  # fd -> not yet written

    def finish() -> None:
        if not done.done():
            for fd in (a, b):
                loop.remove_reader(fd)
                loop.remove_writer(fd)
            done.set_result(None)

    def try_write(dst: int, src: int, view: memoryview) -> None:
        try:
            n = os.write(dst, view)
        except BlockingIOError:
            n = 0
        except OSError as e:
            if e.errno == errno.EIO:
                finish()
                return
            raise
        view = view[n:]
        if view:
            pending[dst] = view
            loop.remove_reader(src)
            loop.add_writer(dst, on_writable, dst, src)
        else:
            pending[dst] = None

    def on_writable(dst: int, src: int) -> None:
        view = pending[dst]
        loop.remove_writer(dst)
        assert view is not None  # a writer is only added with something parked
        try_write(dst, src, view)
        if pending[dst] is None and not done.done():
            loop.add_reader(src, on_readable, src, dst)

    def on_readable(src: int, dst: int) -> None:
        try:
            data = os.read(src, bufsz)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno == errno.EIO:
                finish()
                return
            raise
        if not data:
            finish()
            return
        try_write(dst, src, memoryview(data))

    loop.add_reader(a, on_readable, a, b)
    loop.add_reader(b, on_readable, b, a)
    sys.stdout.write(f"{na} {nb}\n")
    sys.stdout.flush()
    loop.run_until_complete(done)
    loop.close()


if __name__ == "__main__":
    main()
