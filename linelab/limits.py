"""The kernel limits that cap how many ptys a process can serve, and what to say at one.

A ``linelab modem`` link costs one file descriptor (`FDS_PER_LINK`: the pty master)
and one pty; every link of a process shares one inotify instance (`linelab.inotify`),
so inotify's per-user instance cap no longer counts, and one hang-up watcher
(`linelab.hupwatch`). What remains:

- ``RLIMIT_NOFILE``, the process's descriptor limit. Its soft value is often 1024
  while the hard one is far higher: `raise_open_files_limit` lifts soft to hard first.
- ``kernel.pty.max``, the system's ptys (``/proc/sys/kernel/pty/{max,nr}``).
- ``fs.file-max`` (ENFILE) and ``fs.inotify.max_user_watches`` (ENOSPC from a watch),
  system-wide, seldom reached.

`links_that_fit` estimates before anything is opened; `limit_error` turns the OSError
of a refused open into one sentence that names the limit and how many links fit.
"""

from __future__ import annotations

import errno
import os
import resource
from dataclasses import dataclass
from pathlib import Path

FDS_PER_LINK = 1
RESERVED_FDS = 64  # the loop, the control socket and its clients, a trace file, logs


@dataclass(frozen=True, slots=True)
class Fit:
    """How many links fit under each limit, and those limits."""

    by_files: int
    nofile_soft: int
    nofile_hard: int
    by_ptys: int | None  # None when /proc does not say
    pty_max: int | None

    @property
    def links(self) -> int:
        return self.by_files if self.by_ptys is None else min(self.by_files, self.by_ptys)


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard one (as far as allowed); (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft != hard:
        # An infinite hard limit cannot be a soft one; the kernel's nr_open caps it.
        target = hard if hard != resource.RLIM_INFINITY else _nr_open()
        if target > soft or soft == resource.RLIM_INFINITY:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
    return soft, hard


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 20


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return None


def open_fd_count() -> int:
    """Descriptors this process has open now."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
    except OSError:
        return 0


def links_that_fit(fds_per_link: int = FDS_PER_LINK) -> Fit:
    """How many more links this process can open, by descriptors and by ptys."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = _nr_open()
    free = soft - open_fd_count() - RESERVED_FDS
    by_files = max(0, free // max(1, fds_per_link))
    pty_max = _read_int("/proc/sys/kernel/pty/max")
    pty_nr = _read_int("/proc/sys/kernel/pty/nr")
    by_ptys = None if pty_max is None or pty_nr is None else max(0, pty_max - pty_nr)
    return Fit(by_files, soft, hard, by_ptys, pty_max)


def too_many(wanted: int, fit: Fit) -> str | None:
    """The sentence for `wanted` links when more than `fit` allows, else None."""
    if wanted <= fit.links:
        return None
    if fit.by_ptys is not None and fit.by_ptys < fit.by_files:
        return (
            f"{wanted} links need {wanted} ptys, but only {fit.by_ptys} are free"
            f" (kernel.pty.max is {fit.pty_max}): {fit.links} links fit"
        )
    return (
        f"{wanted} links need about {wanted * FDS_PER_LINK + RESERVED_FDS} open files, but"
        f" RLIMIT_NOFILE is {fit.nofile_soft} (hard limit {_limit(fit.nofile_hard)}):"
        f" {fit.links} links fit; raise the hard limit (ulimit -Hn) or run fewer links"
    )


def limit_error(exc: OSError, *, made: int, wanted: int, what: str) -> str:
    """One sentence for an OSError met while opening link number `made` + 1 of `wanted`."""
    fit = f"{made} of {wanted} links fit"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EMFILE:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return (
            f"{what}: {reason}: RLIMIT_NOFILE is {_limit(soft)} (hard limit {_limit(hard)}):"
            f" {fit}; raise the hard limit (ulimit -Hn) or run fewer links"
        )
    if exc.errno == errno.ENFILE:
        return f"{what}: {reason}: the system's open files (fs.file-max) ran out: {fit}"
    if exc.errno == errno.ENOSPC and "inotify" in str(exc):
        return f"{what}: {reason}: fs.inotify.max_user_watches is reached: {fit}"
    if exc.errno in (errno.ENOSPC, errno.EIO, errno.ENODEV) and "openpty" in str(exc):
        pty_max = _read_int("/proc/sys/kernel/pty/max")
        return f"{what}: {reason}: no pty left (kernel.pty.max is {pty_max}): {fit}"
    return f"{what}: {reason} ({fit})"


def _limit(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


__all__ = [
    "FDS_PER_LINK",
    "RESERVED_FDS",
    "Fit",
    "limit_error",
    "links_that_fit",
    "open_fd_count",
    "raise_open_files_limit",
    "too_many",
]
