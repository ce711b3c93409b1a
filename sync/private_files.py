"""Files that hold CRM data (plans, reports, exports, the state database) are their owner's alone.

``open_private(path, "w")`` creates the file 0600 and any missing parent directories 0700, whatever the
umask, like ``.env``; an existing file is narrowed to 0600 before it is written.  ``private_dir`` makes a
directory the same way.  ``private_umask()`` (a context manager, or ``@private_umask()`` on a function) covers
files that other code creates, such as the calibration reports ``scoring.calibrate`` writes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["DIR_MODE", "FILE_MODE", "open_private", "private_dir", "private_umask", "write_private_text"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its missing parents) 0700; an existing directory is left as it is."""
    folder = Path(path)
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        try:
            parent.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by another process
            continue
        os.chmod(parent, DIR_MODE)  # mkdir's mode passes through the umask
    return folder


def open_private(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing, the file 0600 and missing parent directories 0700."""
    if not any(flag in mode for flag in "wax"):
        raise ValueError(f"open_private writes files; mode {mode!r} does not")
    target = Path(path)
    private_dir(target.parent)
    flags = os.O_WRONLY | os.O_CREAT
    if "w" in mode:
        flags |= os.O_TRUNC
    if "a" in mode:
        flags |= os.O_APPEND
    if "x" in mode:
        flags |= os.O_EXCL
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    fd = os.open(target, flags, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:  # it existed with a wider mode
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_private_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    with open_private(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


@contextmanager
def private_umask() -> Iterator[None]:
    """Files and directories created inside are 0600 / 0700 (the umask is process-wide: keep it short)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
