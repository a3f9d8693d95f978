"""linelab.readyfd: readable exactly while set."""

from __future__ import annotations

import select

from linelab.readyfd import ReadyFd


def readable(fd: int) -> bool:
    return select.select([fd], [], [], 0)[0] == [fd]


def test_readable_exactly_while_set() -> None:
    ready = ReadyFd()
    fd = ready.fileno()
    assert not readable(fd)
    ready.set(True)
    ready.set(True)  # setting twice keeps one count
    assert readable(fd)
    ready.set(False)
    assert not readable(fd)
    ready.close()
    assert ready.closed and ready.fileno() == -1
    ready.set(True)  # a no-op once closed
    ready.close()  # idempotent
