"""The center's bytes on disk: partial uploads being appended to, and finished objects.

    data/partial/<box key hash>/<asset id>-<sha256>.part   bytes received so far, in order
    data/objects/<sha[:2]>/<sha256>                        verified, complete, never modified
                                                           (or objects/<sha256> in an S3 bucket: s3.py)

Objects are content-addressed: the same bytes sent by two boxes (or twice)
are stored once, while the index keeps one row per box asset. A partial
file only ever grows by appending at its end, so its length is the offset
to resume from; it is fsynced before that length is acknowledged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

from edge.durable import fsync_dir

READ_CHUNK = 1 << 20
MAX_OPEN = 128  # partial files kept open between chunks (many boxes, few uploads each)


def key_dir(box_key: str) -> str:
    # z85 keys contain characters a file name should not ('/', '.', …).
    return hashlib.sha256(box_key.encode()).hexdigest()[:24]


class Partial:
    """One upload in progress. Keeps a running digest while bytes arrive in order from 0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.exists()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        if new:
            fsync_dir(path.parent)
        # Bytes from an earlier run were not hashed here; the digest is then computed at commit.
        self._hasher: Any = hashlib.sha256() if self.size == 0 else None
        self.dirty = False

    def append(self, data: bytes | memoryview) -> None:
        """Write at the end; durable only after sync()."""
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.pwrite(self.fd, view[written:], self.size + written)
        except OSError:
            # A full disk may take half a chunk: cut it off so the file's length stays the offset we know.
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                pass
            raise
        self.size += written
        self.dirty = True
        if self._hasher is not None:
            self._hasher.update(view)

    def sync(self) -> None:
        """fsync now, whatever `dirty` says: the durability helper may hold this file's flush."""
        os.fsync(self.fd)
        self.dirty = False

    def digest(self) -> str:
        if self._hasher is not None:
            return self._hasher.hexdigest()
        h = hashlib.sha256()
        offset = 0
        while chunk := os.pread(self.fd, READ_CHUNK, offset):
            h.update(chunk)
            offset += len(chunk)
        return h.hexdigest()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class FileObjects:
    """Finished objects as files: objects/<sha[:2]>/<sha256>. The default backend."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str, size: int) -> bool:
        try:
            return self.path(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def put(self, partial_path: Path, sha256: str) -> None:
        """Rename a verified, fsynced partial into place, then fsync the directory (the rename's durability)."""
        dest = self.path(sha256)
        dest.parent.mkdir(exist_ok=True)
        if dest.exists():
            partial_path.unlink()  # identical bytes are already stored (another box, or a crash after rename)
        else:
            os.replace(partial_path, dest)
            fsync_dir(dest.parent)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def copy_to(self, sha256: str, dest: Path) -> None:
        shutil.copyfile(self.path(sha256), dest)


class FileStorage:
    """Partial uploads on local disk; finished objects in `objects` (files by default, or S3)."""

    def __init__(self, root: Path, objects: Any = None) -> None:
        self.root = root
        self.partial_root = root / "partial"
        self.partial_root.mkdir(parents=True, exist_ok=True)
        self.objects = objects if objects is not None else FileObjects(root / "objects")
        self._open: OrderedDict[Path, Partial] = OrderedDict()

    def partial_path(self, box_key: str, asset_id: str, sha256: str) -> Path:
        return self.partial_root / key_dir(box_key) / f"{asset_id}-{sha256}.part"

    def partial(self, box_key: str, asset_id: str, sha256: str) -> Partial:
        path = self.partial_path(box_key, asset_id, sha256)
        p = self._open.get(path)
        if p is not None:
            self._open.move_to_end(path)
            return p
        path.parent.mkdir(parents=True, exist_ok=True)
        p = Partial(path)
        self._open[path] = p
        while len(self._open) > MAX_OPEN:
            _, old = self._open.popitem(last=False)
            old.sync()
            old.close()
        return p

    def partial_size(self, box_key: str, asset_id: str, sha256: str) -> int:
        """Bytes already received for this upload, without creating its file."""
        path = self.partial_path(box_key, asset_id, sha256)
        p = self._open.get(path)
        if p is not None:
            return p.size
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def forget(self, path: Path) -> None:
        """Close a partial whose in-memory length may be ahead of the disk; the next use reopens it from disk."""
        p = self._open.pop(path, None)
        if p is not None:
            p.close()

    def discard(self, p: Partial) -> None:
        self._open.pop(p.path, None)
        p.close()
        p.path.unlink(missing_ok=True)

    def has_object(self, sha256: str, size: int) -> bool:
        return bool(self.objects.has(sha256, size))

    def install(self, p: Partial, sha256: str) -> None:
        """Hand a verified partial to the object backend; returns once the object is durable there."""
        p.sync()
        self._open.pop(p.path, None)
        p.close()
        self.objects.put(p.path, sha256)

    def read_object(self, sha256: str) -> bytes:
        return bytes(self.objects.read(sha256))

    def copy_object(self, sha256: str, dest: Path) -> None:
        self.objects.copy_to(sha256, dest)

    def close(self) -> None:
        try:
            for p in self._open.values():
                try:
                    p.sync()
                finally:
                    p.close()
        finally:
            self._open.clear()
