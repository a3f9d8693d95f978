"""A file descriptor that is readable exactly while something is waiting.

The in-process serial ports (`emulator.transports.vmodem`'s `vmodem://` port and the TAPI data port
of `tapi.providers.dataport`) hand this out as their `fileno()`, so that event loops can
wait on them as on a real port. Nobody reads it: the owner sets it as its buffer fills
and empties.
"""

from __future__ import annotations

import contextlib
import os
import weakref


class ReadyFd:
    """An eventfd made readable by ``set(True)`` and unreadable by ``set(False)``.

    Not thread-safe on its own: call `set` under the lock that guards the buffer it
    mirrors. The descriptor is closed by `close()`, or when the object is collected.
    """

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._ready = False
        self._finalizer = weakref.finalize(self, os.close, self._fd)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        """The descriptor, or -1 once closed."""
        return self._fd

    def set(self, ready: bool) -> None:
        """Make the descriptor readable (True) or not (False); a no-op once closed."""
        if self._fd < 0 or ready == self._ready:
            return
        if ready:
            os.eventfd_write(self._fd, 1)
        else:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self._fd)
        self._ready = ready

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        if self._fd >= 0:
            self._finalizer()
            self._fd = -1
