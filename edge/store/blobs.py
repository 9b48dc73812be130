"""Content-addressed media files: `root/ab/cd/<sha256>`, written once, never modified.

Naming files by their hash makes dedupe free (the same keyframe or upload is
stored once) and lets sync verify what it sends. Bytes are written to a temp
file inside the store (same filesystem, so the final rename is atomic),
fsynced, then renamed into place: a blob path either holds all of its bytes
or does not exist.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from edge.store import StoreError
from edge.durable import fsync_dir

SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20


def validate_sha(sha256: str) -> str:
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise KeyError(f"not a sha256 (64 lowercase hex digits): {sha256!r}")
    return sha256


class BlobStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        # Compared against resolved blob paths, so a symlinked store root is fine
        # but a symlink planted inside it cannot lead out of it.
        self._real_root = os.path.realpath(self.root)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            fd, tmp = tempfile.mkstemp(dir=self._tmp)
            try:
                os.fchmod(fd, 0o644)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                os.unlink(tmp)
                raise
            os.close(fd)
            self._install(Path(tmp), sha)
        return sha, len(data)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Copy a file in, hashing while copying so large media is read only once."""
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        try:
            os.fchmod(fd, 0o644)
            with open(path, "rb") as src, os.fdopen(fd, "wb", closefd=False) as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        sha = digest.hexdigest()
        if self.exists(sha):
            os.unlink(tmp)
        else:
            self._install(Path(tmp), sha)
        return sha, size

    def path(self, sha256: str) -> Path:
        """The file holding `sha256`; KeyError if absent, StoreError if it would lead outside the store."""
        target = self._location(validate_sha(sha256))
        real = os.path.realpath(target)
        if os.path.islink(target) or not real.startswith(self._real_root + os.sep):
            raise StoreError(
                f"blob {target} is a link to {real}, not a file the store wrote",
                f"delete {target}; blobs are plain files and never lead outside {self.root}",
            )
        if not os.path.isfile(real):
            raise KeyError(f"no blob {sha256} in {self.root}")
        return Path(real)

    def exists(self, sha256: str) -> bool:
        try:
            self.path(sha256)
        except KeyError:
            return False
        return True

    def delete(self, sha256: str) -> bool:
        """Remove a blob; False if it was not there. Callers check no asset still needs it."""
        target = self._location(validate_sha(sha256))
        try:
            os.unlink(target)  # unlinks a planted symlink itself, never its target
        except FileNotFoundError:
            return False
        fsync_dir(target.parent)
        return True

    def clean_temp(self) -> int:
        """Remove temp files left by a crash mid-copy; only safe while holding the writer lock."""
        removed = 0
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def iter_shas(self):
        for first in self.root.glob("[0-9a-f][0-9a-f]"):
            for second in first.glob("[0-9a-f][0-9a-f]"):
                for blob in second.iterdir():
                    if SHA256.fullmatch(blob.name):
                        yield blob.name

    def _location(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:4] / sha

    def _install(self, tmp: Path, sha: str) -> None:
        target = self._location(sha)
        created = [d for d in (target.parent.parent, target.parent) if not d.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        # New directories are entries in their parents; those must be durable too.
        for d in reversed(created):
            fsync_dir(d.parent)
