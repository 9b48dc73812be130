"""Crash-safe file primitives: atomic replace, a TinyDB storage built on it, the writer lock.

TinyDB's own JSONStorage rewrites its file in place, so a crash mid-write
leaves a truncated database. Here every write goes to a temp file that is
fsynced and renamed over the old one, and the previous version is kept as
`<name>.bak`: a damaged main file (bad disk, lying SD card, a person with an
editor) is detected at open and replaced by the last good copy.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from edge.durable import atomic_replace
from edge.store import StoreError

log = logging.getLogger(__name__)

Tables = dict[str, dict[str, Any]]


def _parse(payload: bytes) -> Tables:
    """The database's tables, or ValueError if the bytes are not a TinyDB document."""
    data = json.loads(payload)  # raises ValueError (JSONDecodeError/UnicodeDecodeError)
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise ValueError("top level is not an object of tables")
    return data


class CrashSafeStorage(Storage):
    """TinyDB storage: validated reads, atomic fsynced writes, a `.bak` of the previous version.

    The parsed database is kept in memory between calls: the writer lock makes
    this process the only one changing the file, and re-parsing the whole
    file on every TinyDB read would make lookups O(file size).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self.backup = self.path.with_name(self.path.name + ".bak")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (self.path.name + ".tmp", self.backup.name + ".tmp"):
            (self.path.parent / leftover).unlink(missing_ok=True)
        self.size = 0  # bytes of the file as last read or written
        self._cache: Tables | None = self._load_with_recovery()

    def read(self) -> Tables | None:
        if self._cache is None and (self.path.exists() or self.backup.exists()):
            self._cache = self._load_with_recovery()
        return self._cache

    def write(self, data: Tables) -> None:
        # TinyDB has already changed `data` (our cached object) in place, so if
        # this write fails the cache no longer matches the disk: drop it.
        try:
            payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
            atomic_replace(self.path, payload, backup=self.backup)
        except BaseException:
            self._cache = None
            raise
        self._cache = data
        self.size = len(payload)

    def close(self) -> None:
        self._cache = None

    def _load_with_recovery(self) -> Tables | None:
        main = self._try_load(self.path)
        if isinstance(main, dict):
            return main
        if main is None and not self.backup.exists():
            return None  # a new, empty database
        backup = self._try_load(self.backup)
        if not isinstance(backup, dict):
            what = "is missing" if main is None else f"is damaged ({main})"
            why = "missing" if backup is None else f"damaged too ({backup})"
            raise StoreError(
                f"store database {self.path} {what} and its backup {self.backup} is {why}",
                f"restore {self.path.name} from a copy, or move {self.path.name}* aside to start an empty index "
                "(media files in the store are kept)",
            )
        if main is None:
            log.warning("store database %s is missing; recovered from %s", self.path, self.backup)
        else:
            damaged = self.path.with_name(self.path.name + ".damaged")
            log.warning(
                "store database %s is damaged (%s); recovered from %s, damaged copy kept as %s "
                "(changes made by its last write are lost)",
                self.path, main, self.backup, damaged,
            )
            os.replace(self.path, damaged)
        payload = self.backup.read_bytes()
        atomic_replace(self.path, payload)
        self.size = len(payload)
        return backup

    def _try_load(self, path: Path) -> Tables | str | None:
        """The parsed file, None if absent, or why it is damaged."""
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            return None
        if not payload:
            return "empty file"
        try:
            tables = _parse(payload)
        except ValueError as e:
            return f"not valid JSON: {str(e)[:80]}"
        if path == self.path:
            self.size = len(payload)
        return tables


class WriterLock:
    """An exclusive flock on `<root>/LOCK`: one writing process per store.

    The kernel drops the lock when the process dies (kill -9 included), so a
    crashed writer never leaves a stale lock behind.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "LOCK"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"cannot open store {root}: {e.strerror}",
                "check that the disk is mounted read-write and the directory belongs to this user",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if holder == str(os.getpid()):
                raise StoreError(
                    f"store {root} is already open in this process (pid {holder})",
                    "share the one AssetStore object between threads instead of opening the store twice",
                ) from None
            raise StoreError(
                f"store {root} is in use by another process (pid {holder})",
                f"stop that process (kill {holder}) or give this one a different store directory",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
