"""Is the process that left a run or a lock behind still alive?  Only answerable on the same host."""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path

# Lock tokens and run keys owned by this very process.  A row naming our own pid that is not in here was
# left by an earlier process that had the same pid (a restarted container is pid 1 every time).
_owned_here: set[str] = set()
_owned_guard = threading.Lock()


@functools.cache
def this_host() -> str:
    return socket.gethostname()


def claim(key: str) -> None:
    with _owned_guard:
        _owned_here.add(key)


def unclaim(key: str) -> None:
    with _owned_guard:
        _owned_here.discard(key)


def owned_here(key: str) -> bool:
    with _owned_guard:
        return key in _owned_here


def process_alive(pid: int) -> bool:
    """Whether ``pid`` names a live (not zombie) process on this host; True when it cannot be told."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it just belongs to another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS) or a race with its exit: kill() said it exists
    state = stat[stat.rindex(")") + 2 :].split(maxsplit=1)[0]
    return state not in ("Z", "X")


def gone(pid: int, host: str, key: str) -> bool | None:
    """True when the process that owns ``key`` is certainly gone, False when alive, None when unknowable."""
    if host != this_host():
        return None
    if pid == os.getpid():
        return not owned_here(key)
    return not process_alive(pid)
