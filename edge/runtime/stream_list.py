"""The streams the crew added at run time, kept in `<data>/streams.json` to be re-added at start.

Camera URLs may carry passwords (rtsp://user:pass@host), so the file is the
owner's only (0600), also when an older box left it world-readable.

A change to the list is written before the running set changes (see
Supervisor.add_stream/remove_stream): when the write fails (a full disk),
nothing changes and no temp file is left behind, so the list on disk and the
streams running never disagree.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from edge import durable
from edge.errors import EdgeError
from edge.ingest.sources import SourceRefused, classify
from edge.store import DiskFullError

log = logging.getLogger(__name__)

MODE = 0o600
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StreamListError(EdgeError):
    """The stream list could not be written (not a full disk: permissions, a read-only disk...)."""


def load(path: Path | None) -> dict[str, str]:
    """name -> source; a damaged file or entries ingest could never open are skipped with a warning."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        raw = data.get("streams", {})
        if not isinstance(raw, dict):
            raise ValueError("'streams' is not an object")
    except (OSError, ValueError, AttributeError):
        log.warning("ignoring damaged stream list %s", path)
        return {}
    streams: dict[str, str] = {}
    for name, source in raw.items():
        try:
            # Lists saved by older boxes may hold schemes the runtime refuses (udp://, gopher://).
            classify(str(source))
        except SourceRefused:
            log.warning("stream list %s: skipping %r, its source cannot be opened", path, str(name))
            continue
        streams[str(name)] = str(source)
    return streams


def save(path: Path | None, streams: Mapping[str, str]) -> None:
    """Replace the list atomically; DiskFullError (ENOSPC) or StreamListError, leaving the old file as it was."""
    if path is None:
        return
    payload = json.dumps({"streams": dict(streams)}, indent=1).encode()
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)  # a crash's leftover may carry an older, looser mode
        durable.write_file_synced(tmp, payload, MODE)
        os.chmod(tmp, MODE)  # the umask may have narrowed it further; never wider
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        if exc.errno in _NO_SPACE:
            raise DiskFullError(f"cannot save the stream list {path}: the disk is full",
                                "free space on the box (or sync and let retention evict synced media)") from None
        raise StreamListError(f"cannot save the stream list {path}: {exc.strerror or exc}",
                              "check the data directory's permissions and disk") from None
    try:
        durable.fsync_dir(path.parent)
    except OSError as exc:  # the new list is in place; only its durability across a power cut is in doubt
        log.warning("stream list %s saved but not synced: %s", path, exc)


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove %s", tmp)
