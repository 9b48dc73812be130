"""Writes that survive a power cut: the old or the new file, never a mix.

Callers that may write the same path from several threads serialise those
writes themselves (the temp name is fixed so a crash's leftover is findable).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make renames and new entries in `path` durable (a file's fsync does not)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_synced(path: Path, payload: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_replace(path: Path, payload: bytes, *, backup: Path | None = None, mode: int = 0o644) -> None:
    """Replace `path` by `payload` so that a crash leaves the old or the new file, never a mix.

    With `backup`, the file being replaced becomes `backup` first (a hard link,
    so `path` exists at every instant; a rename where links are unsupported).
    """
    tmp = path.with_name(path.name + ".tmp")
    write_file_synced(tmp, payload, mode)
    if backup is not None and path.exists():
        _rotate(path, backup)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _rotate(path: Path, backup: Path) -> None:
    link = backup.with_name(backup.name + ".tmp")
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)
        os.replace(link, backup)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # FAT/exFAT media have no hard links: for an instant `path` is gone,
        # which _load_with_recovery treats as "use the backup".
        os.replace(path, backup)
