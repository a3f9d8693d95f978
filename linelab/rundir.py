"""The per-user runtime directory and private Unix sockets (shared by the modem control
sockets and the telephony server).

- the directory is ``$XDG_RUNTIME_DIR/linelab/``, or, without a usable runtime dir,
  ``<tempdir>/linelab-<uid>/``; it is created mode 0700, and an existing one must be ours
  and private;
- a socket is created 0600 (under a umask, so there is no window where others could
  connect), and a peer is accepted only when ``SO_PEERCRED`` says it runs as our uid.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

from linelab.errors import LinelabError

_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


def runtime_dir(create: bool = True, error: type[LinelabError] = LinelabError) -> Path:
    """Where linelab's sockets live (created 0700 when `create`; `error` is raised when
    an existing directory is not ours or not private)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        path = Path(runtime) / "linelab"
    else:
        path = Path(tempfile.gettempdir()) / f"linelab-{os.getuid()}"
    if create:
        ensure_private_dir(path, error)
    return path


def ensure_private_dir(path: Path, error: type[LinelabError] = LinelabError) -> None:
    """Create `path` mode 0700, or check an existing one is ours and private."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise error(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise error(f"{path} belongs to uid {info.st_uid}, not to us ({os.getuid()})")
    if info.st_mode & 0o077:
        raise error(f"{path} is open to other users (mode {info.st_mode & 0o777:o})")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a connected Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return int(pid), int(uid), int(gid)


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket."""
    return peer_credentials(sock)[1]


def remove_stale_socket(path: str) -> None:
    """Unlink a socket file left at `path` (never anything that is not a socket)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files (sockets) created inside are 0600 from birth."""
    old = os.umask(0o177)
    try:
        yield None
    finally:
        os.umask(old)
