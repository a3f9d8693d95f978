"""linelab.inotify: one inotify instance serves every watch of a loop (issue 14 item 5)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from pathlib import Path

import pytest

from linelab.inotify import IN_CLOSE, IN_CREATE, IN_DELETE, IN_OPEN, Event, Inotify


def inotify_fds() -> int:
    """How many inotify instances this process has open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, gone now
            count += "inotify" in os.readlink(f"/proc/self/fd/{fd}")
    return count


def record(seen: list[str], name: str, events: list[Event]) -> None:
    seen.append(name)


def test_each_subscriber_gets_only_its_watch_and_mask(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("")
    ino = Inotify()
    try:
        got: dict[str, list[Event]] = {"a": [], "b": [], "dir": []}
        ino.watch(a, IN_OPEN | IN_CLOSE, got["a"].extend)
        ino.watch(b, IN_OPEN, got["b"].extend)
        ino.watch(tmp_path, IN_CREATE | IN_DELETE, got["dir"].extend)
        a.read_text()
        b.read_text()
        (tmp_path / "c").write_text("")
        ino.dispatch()
        assert [e.mask & (IN_OPEN | IN_CLOSE) for e in got["a"]] == [IN_OPEN, 0x10]
        assert [e.mask for e in got["b"]] == [IN_OPEN]  # its close was not asked for
        assert [(e.mask & IN_CREATE, e.name) for e in got["dir"]] == [(IN_CREATE, "c")]
    finally:
        ino.close()


def test_two_subscribers_of_one_inode_both_get_events_until_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("")
    ino = Inotify()
    try:
        first: list[Event] = []
        second: list[Event] = []
        w1 = ino.watch(path, IN_OPEN, first.extend)
        w2 = ino.watch(path, IN_CLOSE, second.extend)
        assert w1.wd == w2.wd  # the kernel's one watch, masks merged
        path.read_text()
        ino.dispatch()
        assert len(first) == 1 and len(second) == 1
        w1.cancel()
        path.read_text()
        ino.dispatch()
        assert len(first) == 1 and len(second) == 2  # w2's watch survived w1's cancel
    finally:
        ino.close()


def test_a_loop_shares_one_instance_and_closes_it_after_the_last_watch(
    tmp_path: Path,
) -> None:
    files = [tmp_path / f"f{i}" for i in range(300)]  # more than max_user_instances
    for f in files:
        f.write_text("")
    loop = asyncio.new_event_loop()
    try:
        before = inotify_fds()
        seen: list[str] = []
        watches = [
            Inotify.for_loop(loop).watch(f, IN_OPEN, functools.partial(record, seen, f.name))
            for f in files
        ]
        assert inotify_fds() == before + 1
        assert Inotify.for_loop(loop).watch_count == len(files)
        files[7].read_text()
        files[250].read_text()

        # The events are queued already: one pass of the loop polls the fd and dispatches.
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(asyncio.sleep(0))
        assert sorted(seen) == ["f250", "f7"]
        for w in watches:
            w.cancel()
        assert inotify_fds() == before
    finally:
        loop.close()


def test_watch_of_a_missing_path_raises_oserror_and_leaks_nothing(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        before = inotify_fds()
        with pytest.raises(OSError):
            Inotify.for_loop(loop).watch(tmp_path / "missing", IN_OPEN, lambda ev: None)
        assert inotify_fds() == before
    finally:
        loop.close()
