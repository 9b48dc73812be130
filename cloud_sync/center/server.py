"""The center's receiver: one ROUTER socket serving every paired box (protocol: cloud_sync.zmq_transfer).

One thread runs the loop. It reads whatever messages are waiting (up to a
batch) and handles them; the batch's replies are held until every partial
file it appended to has been fsynced (by a helper thread, see durable.py,
while the loop reads on): chunk ACKs always name bytes already on disk, and
one fsync covers many chunks (group commit).

Boxes are told apart by the CURVE public key the ZAP handler authenticated
(the message's User-Id), never by the box id inside an OFFER. The name a
box is listed under is the one in the public key file given to `allow`.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import math
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from cloud_sync import keys
from cloud_sync.center.durable import DurableReplies
from cloud_sync.center.index import Index, Upload
from cloud_sync.center.storage import FileStorage, Partial
from cloud_sync.zmq_transfer import (
    ACK,
    ASSET_ID,
    CHUNK,
    COMMIT,
    COMMITTED,
    COMPLETE,
    MAX_CHUNK,
    MAX_FRAME,
    MAX_OFFER_BYTES,
    NACK,
    OFFER,
    OFFERED,
    PING,
    PONG,
    REJECT,
    SHA256,
    set_heartbeats,
)
from edge import ids
from edge.durable import atomic_replace
from edge.kinds import CAPTION_KINDS, is_kind

log = logging.getLogger("cloud_sync.center")

BATCH = 64  # messages handled per fsync
ALLOWED_RELOAD_S = 1.0
TERM_TIMEOUT_S = 5.0  # a context that will not terminate is abandoned, not waited on
MAX_ASSET_BYTES = 1 << 40
FREE_RESERVE_BYTES = 64 << 20  # kept free on the center's disk (less on a small one: see _space_for)
DISK_FULL = b"the center's disk is full: try again later"


@dataclass(frozen=True)
class CenterPaths:
    """Where a center keeps everything, under one data directory."""

    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def public_key(self) -> Path:
        return self.keys / "center.key"

    @property
    def secret_key(self) -> Path:
        return self.keys / "center.key_secret"

    @property
    def allowed(self) -> Path:
        return self.root / "allowed"

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite"

    @property
    def settings(self) -> Path:
        return self.root / "center.json"

    def init(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        self.allowed.mkdir(exist_ok=True)
        public, _ = keys.create_keypair(self.keys, "center", {"role": "center"})
        if not self.settings.exists():
            import secrets

            write_settings(self, {"mqtt_client_id": f"edge-center-{secrets.token_hex(6)}"})
        return public


def write_settings(paths: CenterPaths, settings: dict[str, Any]) -> None:
    atomic_replace(paths.settings, (json.dumps(settings, indent=2) + "\n").encode())


def open_storage(paths: CenterPaths, s3_url: str | None = None) -> FileStorage:
    """The center's storage; objects go to S3 when a URL is given or remembered in center.json."""
    settings = json.loads(paths.settings.read_text()) if paths.settings.exists() else {}
    url = s3_url or settings.get("s3")
    if not url:
        return FileStorage(paths.root)
    from cloud_sync.center.s3 import S3Objects

    objects = S3Objects(url)
    if settings.get("s3") != url:  # `ls`/`export` later read from the same place
        settings["s3"] = url
        write_settings(paths, settings)
    return FileStorage(paths.root, objects)


class AllowedBoxes:
    """The allowed/ directory: public key (z85) -> box name, reloaded when the directory changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.names: dict[str, str] = {}
        self._stamp: tuple[float, int] | None = None

    def changed(self) -> bool:
        st = self.directory.stat()
        stamp = (st.st_mtime, len(list(self.directory.glob("*.key"))))
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        names = {}
        for f in sorted(self.directory.glob("*.key")):
            try:
                name = keys.metadata(f).get("box-id") or f.stem
                if not ids.is_match(ids.BOX_ID, name):
                    log.warning("ignoring %s: box id %r is not a valid box id", f, name)
                    continue
                names[keys.load_public(f).decode()] = name
            except (keys.KeyFileError, OSError, UnicodeDecodeError) as e:
                log.warning("ignoring %s: %s", f, e)
        self.names = names
        return True


class LogLimiter:
    """At most `burst` log lines per key and `interval_s`; the rest are counted and reported once."""

    def __init__(self, burst: int = 5, interval_s: float = 10.0) -> None:
        self.burst, self.interval_s = burst, interval_s
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, lines in it)

    def allow(self, key: str) -> tuple[bool, int]:
        """(log this one?, lines suppressed in the window that just ended)."""
        now = time.monotonic()
        start, n = self._windows.get(key, (now, 0))
        suppressed = 0
        if now - start >= self.interval_s:
            suppressed = max(n - self.burst, 0)
            start, n = now, 0
        self._windows[key] = (start, n + 1)
        if len(self._windows) > 10_000:  # keys are box names and a few fixed ones; never unbounded
            self._windows.clear()
        return n < self.burst, suppressed

    def warning(self, key: str, msg: str, *args: Any) -> None:
        ok, suppressed = self.allow(key)
        if suppressed:
            log.warning("%d more like the next line in the last %.0f s were not logged", suppressed, self.interval_s)
        if ok:
            log.warning(msg, *args)


class CenterServer:
    def __init__(self, data_dir: Path, bind: str, *, context: zmq.Context | None = None,
                 s3_url: str | None = None) -> None:
        self.paths = CenterPaths(Path(data_dir))
        if not self.paths.secret_key.exists():
            from cloud_sync.center import CenterError

            raise CenterError(f"{data_dir} has no center keys", f"run `edge-center init --data {data_dir}` first")
        self.bind = bind
        self.s3_url = s3_url
        self.endpoint: str | None = None  # what was bound (a port of 0 becomes a real one)
        self.ready = threading.Event()
        self._ctx = context or zmq.Context()
        self._own_ctx = context is None
        self._stop = threading.Event()
        self.allowed: AllowedBoxes | None = None
        self.limiter = LogLimiter()
        self.stats = {"chunks": 0, "nacks": 0, "commits": 0, "refused_handshakes": 0, "bytes": 0,
                      "fsyncs": 0, "batches": 0, "refused": 0, "errors": 0}

    def stop(self) -> None:
        self._stop.set()

    def serve_forever(self) -> None:
        try:
            self._serve()
        finally:
            self.ready.set()  # also when start-up failed: nobody may wait forever

    def _serve(self) -> None:
        paths = self.paths
        index = Index(paths.index)
        try:
            storage = open_storage(paths, self.s3_url)
        except BaseException:
            index.close()
            raise
        allowed = self.allowed = AllowedBoxes(paths.allowed)
        auth = ThreadAuthenticator(self._ctx, log=logging.getLogger("cloud_sync.center.zap"))
        auth.start()
        sock = self._ctx.socket(zmq.ROUTER)
        monitor = durable = None
        try:
            allowed.changed()
            auth.configure_curve(domain="*", location=str(paths.allowed))
            public, secret = keys.load_pair(paths.secret_key)
            sock.curve_server = True
            sock.curve_publickey, sock.curve_secretkey = public, secret
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, 10000)
            # One oversized frame would otherwise be buffered whole before anyone looks at it.
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)
            set_heartbeats(sock)
            sock.bind(self.bind)
            self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                              | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            handler = _Handler(index, storage, allowed, self.stats, self.limiter)
            durable = DurableReplies(self._ctx)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            poller.register(durable.signal, zmq.POLLIN)
            log.info("center listening on %s (%d boxes allowed)", self.endpoint, len(allowed.names))
            self.ready.set()
            next_reload = time.monotonic() + ALLOWED_RELOAD_S
            while not self._stop.is_set():
                events = dict(poller.poll(200))
                if monitor in events:
                    self._log_refusals(monitor)
                    next_reload = 0.0  # maybe the key was allowed a moment ago: look now
                if time.monotonic() >= next_reload:
                    next_reload = time.monotonic() + ALLOWED_RELOAD_S
                    if allowed.changed():
                        auth.configure_curve(domain="*", location=str(paths.allowed))
                        log.info("allowed boxes reloaded: %s", ", ".join(sorted(allowed.names.values())) or "none")
                if sock in events:
                    self._serve_batch(sock, handler, durable)
                if durable.signal in events:
                    _send_all(sock, self._released(durable, storage))
                if not durable.alive:
                    raise RuntimeError(f"the fsync helper stopped: {durable.error}")
            _send_all(sock, self._released(durable, storage, closing=True))
            self.stats["fsyncs"] = durable.fsyncs
        finally:
            # Every socket of this context is closed (linger 0) before term(), and term() itself may not
            # block for ever: a center that cannot stop cleanly must still stop.
            _quietly(lambda: durable.close(timeout=TERM_TIMEOUT_S) if durable is not None else None)
            if monitor is not None:
                _quietly(sock.disable_monitor)
                _quietly(lambda: monitor.close(linger=0))
            _quietly(lambda: sock.close(linger=0))
            _quietly(auth.stop)
            _quietly(storage.close)
            _quietly(index.close)
            if self._own_ctx:
                _term(self._ctx, TERM_TIMEOUT_S)

    def _released(self, durable: DurableReplies, storage: FileStorage, closing: bool = False) -> list[list[bytes]]:
        replies, failed = durable.close_pending() if closing else durable.ready()
        for path in failed:
            storage.forget(path)  # its bytes may not be on disk: the next OFFER re-reads what is
        return replies

    def _serve_batch(self, sock: zmq.Socket, handler: _Handler, durable: DurableReplies) -> None:
        replies: list[list[bytes]] = []
        dirty: set[Partial] = set()
        for _ in range(BATCH):
            try:
                frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            if len(frames) < 2:
                continue
            user = frames[1].get("User-Id")
            reply = handler.handle(user, [f.buffer for f in frames[1:]], dirty)
            if reply is not None:
                replies.append([frames[0].bytes, *reply])
        self.stats["batches"] += 1
        durable.submit(dirty, replies)  # no ACK leaves before the bytes it names are on disk

    def _log_refusals(self, monitor: zmq.Socket) -> None:
        # Drain every queued event: a flood of strangers must not grow the monitor's queue.
        for _ in range(1000):
            try:
                ev = recv_monitor_message(monitor, flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self.stats["refused_handshakes"] += 1
            self.limiter.warning(
                "handshake",
                "refused a connection on %s: handshake failed (%s, code %s); a box whose key is not allowed "
                "gets no service: pair it with `edge-center allow`",
                ev.get("endpoint", b"?").decode(errors="replace"), zmq.Event(ev["event"]).name, ev.get("value"))


def _quietly(step: Any) -> None:
    try:
        step()
    except Exception:  # noqa: BLE001 - shutting down: report, then do the next step
        log.exception("while stopping the center")


def _term(ctx: zmq.Context, timeout_s: float) -> None:
    t = threading.Thread(target=ctx.term, name="center-zmq-term", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        log.error("the ZeroMQ context did not terminate within %.0f s (a socket is still open); going on without it",
                  timeout_s)


def _send_all(sock: zmq.Socket, replies: list[list[bytes]]) -> None:
    for r in replies:
        try:
            sock.send_multipart(r, flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # the box is gone or flooded; it will time out and offer again
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH:
                raise


class Refused(Exception):
    """A message this center will not act on; `reason` goes back to the box."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, sqlite3.OperationalError) and (
        getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(e))


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _short_str(v: Any, limit: int = 255) -> bool:
    return isinstance(v, str) and len(v) <= limit and "\x00" not in v


def validate_offer(body: bytes) -> dict[str, Any]:
    """The OFFER as a dict whose every field is of the kind the center stores, or Refused saying what is wrong.

    Anything that later reaches a path, a file name or a terminal is checked here, at the door: kind
    against the kinds table, stream and run against the id formats.
    """
    if len(body) > MAX_OFFER_BYTES:
        raise Refused(f"offer larger than {MAX_OFFER_BYTES} bytes")
    try:
        offer = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused("offer is not JSON") from None
    if not isinstance(offer, dict):
        raise Refused("offer is not a JSON object")
    if not ids.is_match(ids.ASSET_ID, offer.get("asset_id")):
        raise Refused("asset_id is not an asset id")
    if not ids.is_match(ids.SHA256, offer.get("sha256")):
        raise Refused("sha256 is not a lowercase hex sha256")
    size = offer.get("size")
    if type(size) is not int or not 0 <= size <= MAX_ASSET_BYTES:
        raise Refused(f"size must be a whole number of bytes from 0 to {MAX_ASSET_BYTES}")
    if offer.get("box_id") is not None and not _short_str(offer["box_id"], 64):
        raise Refused("box_id is not a string")
    meta = offer.get("meta")
    if not isinstance(meta, dict):
        raise Refused("meta is not an object")
    if not is_kind(meta.get("kind")):
        raise Refused(f"unknown asset kind {str(meta.get('kind'))[:40]!r}")
    if meta.get("stream") is not None and not ids.is_match(ids.STREAM_NAME, meta["stream"]):
        raise Refused("stream is not a stream name")
    for k in ("name", "mime"):
        if meta.get(k) is not None and not _short_str(meta[k]):
            raise Refused(f"{k} must be a string of at most 255 characters")
    for k in ("start", "end", "created_at"):
        if meta.get(k) is not None and not _finite(meta[k]):
            raise Refused(f"{k} must be a finite number")
    tags = meta.get("tags")
    if tags is not None and not (isinstance(tags, list) and len(tags) <= 256 and all(_short_str(t) for t in tags)):
        raise Refused("tags must be a list of short strings")
    for k in ("provenance", "meta"):
        if meta.get(k) is not None and not isinstance(meta[k], dict):
            raise Refused(f"{k} must be an object")
    inner = meta.get("meta") or {}
    for run in (meta.get("run"), inner.get("run") if meta["kind"] in CAPTION_KINDS else None):
        if run is not None and not ids.is_match(ids.RUN_ID, run):
            raise Refused("run is not a run id")
    return offer


class _Handler:
    """Protocol logic for one message; no sockets here, so it reads as the spec in zmq_transfer.

    Nothing a box sends may stop the loop: every failure in handling one message becomes a
    REJECT or NACK with the reason, and the loop goes on serving every other box.
    """

    def __init__(self, index: Index, storage: FileStorage, allowed: AllowedBoxes, stats: dict[str, int],
                 limiter: LogLimiter | None = None) -> None:
        self.index, self.storage, self.allowed, self.stats = index, storage, allowed, stats
        self.limiter = limiter or LogLimiter()
        self.uploads: dict[tuple[str, str], Upload] = {}
        for u in index.uploads():
            try:  # rows from a center that did not check offers yet
                validate_offer(json.dumps(u.offer).encode())
            except Refused as e:
                log.warning("dropping the upload of %s in progress: its offer is not acceptable (%s)", u.id, e.reason)
                index.drop_upload(u.box_key, u.id)
                continue
            self.uploads[(u.box_key, u.id)] = u

    def handle(self, box_key: str, frames: list[memoryview], dirty: set[Partial]) -> list[bytes] | None:
        box = self.allowed.names.get(box_key)
        if box is None:
            self.limiter.warning("stranger", "message from a key no longer allowed (%s…): ignored", box_key[:8])
            return None
        cmd = bytes(frames[0])[:16]
        try:
            if cmd == CHUNK:
                return self._chunk(box_key, frames, dirty)
            if cmd == OFFER:
                if len(frames) != 2:
                    raise Refused("an OFFER has one body frame")
                return self._offer(box_key, box, bytes(frames[1]))
            if cmd == COMMIT:
                if len(frames) != 3:
                    raise Refused("a COMMIT has an asset id and a sha256")
                return self._commit(box_key, box, _frame_id(frames[1], ASSET_ID), _frame_id(frames[2], SHA256))
            if cmd == PING and len(frames) == 2 and len(frames[1]) <= 64:
                return [PONG, bytes(frames[1])]
            raise Refused(f"unknown message {cmd!r} with {len(frames)} frames")
        except Refused as e:
            self.stats["refused"] += 1
            self.limiter.warning(box, "%s sent a %s the center refuses: %s", box, cmd, e.reason)
            return _refusal(cmd, frames, e.reason.encode())
        except Exception as e:  # noqa: BLE001 - one box's message must never take the center down
            self.stats["errors"] += 1
            if disk_full(e):
                log.error("disk full while handling a %s from %s: %s", cmd, box, e)
                return _refusal(cmd, frames, DISK_FULL)
            ok, _ = self.limiter.allow(box)
            if ok:
                log.exception("error while handling a %s from %s; refused", cmd, box)
            return _refusal(cmd, frames, f"the center could not handle this {cmd.decode('ascii', 'replace')}: "
                                         f"{type(e).__name__}".encode())

    def _space_for(self, nbytes: int) -> bool:
        usage = shutil.disk_usage(self.storage.partial_root)
        return nbytes <= usage.free - min(FREE_RESERVE_BYTES, usage.total // 50)

    def _offer(self, box_key: str, box: str, body: bytes) -> list[bytes]:
        offer = validate_offer(body)
        aid, sha, size = offer["asset_id"], offer["sha256"], offer["size"]
        if offer.get("box_id") not in (None, box):
            log.info("box %s calls itself %r in its offers; listed as %s (its key decides)", box, offer["box_id"], box)
        held = self.index.asset_sha(box_key, aid)
        if held == sha:
            return [OFFERED, aid.encode(), COMPLETE]
        if held is not None:
            log.error("%s offered asset %s with sha256 %s, but it is stored with %s", box, aid, sha, held)
            return [REJECT, aid.encode(), b"this asset id is stored with different content"]
        up = self.uploads.get((box_key, aid))
        if up is not None and up.verified and (up.sha256, up.size) == (sha, size) and self.storage.has_object(sha, size):
            # This box sent every byte and they verified; the center stopped between storing the object
            # and its index row. Bytes another box sent never count for this one: it must send its own.
            self.index.store_asset(box_key, box, up.offer)
            self.uploads.pop((box_key, aid), None)
            return [OFFERED, aid.encode(), COMPLETE]
        if up is not None and (up.sha256, up.size) != (sha, size):
            self.storage.discard(self.storage.partial(box_key, aid, up.sha256))
            self.index.drop_upload(box_key, aid)
            self.uploads.pop((box_key, aid), None)
            up = None
        have = self.storage.partial_size(box_key, aid, sha)
        if not self._space_for(size - min(have, size)):
            log.error("%s offered %s (%d bytes) but the center's disk has no room for it", box, aid, size)
            return [REJECT, aid.encode(), DISK_FULL]
        if up is None:
            up = Upload(box_key, aid, sha, size, offer)
            self.index.start_upload(up)
            self.uploads[(box_key, aid)] = up
        p = self.storage.partial(box_key, aid, sha)
        if p.size > size:
            self.storage.discard(p)
            p = self.storage.partial(box_key, aid, sha)
        # Bytes a killed run wrote but never acknowledged are still in the file: make them durable before we count them.
        p.sync()
        return [OFFERED, aid.encode(), b"%d" % p.size]

    def _chunk(self, box_key: str, frames: list[memoryview], dirty: set[Partial]) -> list[bytes]:
        if len(frames) != 6:
            raise Refused("a CHUNK has asset id, offset, sha256, tag and data")
        aid = _frame_id(frames[1], ASSET_ID)
        offset, digest, tag, data = _frame_int(frames[2]), bytes(frames[3]), bytes(frames[4]), frames[5]
        _frame_int(tag)
        if not SHA256.fullmatch(digest):
            raise Refused("chunk sha256 is not hex")
        if len(data) > MAX_CHUNK:
            raise Refused(f"chunk larger than {MAX_CHUNK} bytes")
        self.stats["chunks"] += 1
        bid = aid.encode()
        up = self.uploads.get((box_key, aid))
        if up is None:
            sha = self.index.asset_sha(box_key, aid)
            if sha is not None:  # a replay after COMMIT: nothing to write
                return [ACK, bid, tag, b"%d" % (offset + len(data))]
            return self._nack(bid, tag, -1, b"offer this asset first")
        p = self.storage.partial(box_key, up.id, up.sha256)
        end = offset + len(data)
        if hashlib.sha256(data).hexdigest().encode() != digest:
            return self._nack(bid, tag, p.size, b"chunk sha256 mismatch")
        if offset > p.size:
            return self._nack(bid, tag, p.size, b"gap: resend from the offset given")
        if end > up.size:
            return self._nack(bid, tag, p.size, b"chunk runs past the offered size")
        if end > p.size:  # new bytes (possibly overlapping a replayed prefix)
            p.append(data[p.size - offset:])
            self.stats["bytes"] += end - offset
        dirty.add(p)
        return [ACK, bid, tag, b"%d" % p.size]

    def _nack(self, aid: bytes, tag: bytes, expected: int, reason: bytes) -> list[bytes]:
        self.stats["nacks"] += 1
        return [NACK, aid, tag, b"%d" % expected, reason]

    def _commit(self, box_key: str, box: str, aid: str, sha: str) -> list[bytes]:
        held = self.index.asset_sha(box_key, aid)
        if held == sha:
            return [COMMITTED, aid.encode()]  # a replayed COMMIT
        up = self.uploads.get((box_key, aid))
        if up is None or up.sha256 != sha:
            return [REJECT, aid.encode(), b"no upload of this asset in progress; offer it again"]
        p = self.storage.partial(box_key, aid, sha)
        if p.size != up.size:
            return [REJECT, aid.encode(), f"incomplete: {p.size} of {up.size} bytes".encode()]
        p.sync()
        actual = p.digest()
        if actual != sha:
            log.error("%s asset %s: whole-file sha256 %s does not match the offered %s; discarded", box, aid, actual, sha)
            self.storage.discard(p)
            self.index.drop_upload(box_key, aid)
            del self.uploads[(box_key, aid)]
            return [REJECT, aid.encode(), b"sha256 of the whole asset does not match; send it again"]
        if not up.verified:
            self.index.mark_verified(box_key, aid)
            up = self.uploads[(box_key, aid)] = dataclasses.replace(up, verified=True)
        self.storage.install(p, sha)
        self.index.store_asset(box_key, box, up.offer)  # committed: now it may be acknowledged
        del self.uploads[(box_key, aid)]
        self.stats["commits"] += 1
        log.info("stored %s/%s (%d bytes, %s)", box, aid, up.size, up.offer["meta"]["kind"])
        return [COMMITTED, aid.encode()]


def _frame_id(frame: memoryview, pattern: Any) -> str:
    raw = bytes(frame)
    if not pattern.fullmatch(raw):
        raise Refused("malformed id or digest")
    return raw.decode()


def _frame_int(frame: memoryview | bytes) -> int:
    raw = bytes(frame)
    if not (0 < len(raw) <= 19 and raw.isdigit()):
        raise Refused("malformed number")
    return int(raw)


def _refusal(cmd: bytes, frames: list[memoryview], reason: bytes) -> list[bytes]:
    """A refusal the box can match to its request (by asset id where one can be read)."""
    aid = b""
    if cmd == OFFER and len(frames) == 2 and len(frames[1]) <= MAX_OFFER_BYTES:
        try:
            body = json.loads(bytes(frames[1]))
            if isinstance(body, dict) and ids.is_match(ids.ASSET_ID, body.get("asset_id")):
                aid = body["asset_id"].encode()
        except (ValueError, RecursionError):
            pass
    elif len(frames) > 1 and ASSET_ID.fullmatch(bytes(frames[1])):
        aid = bytes(frames[1])
    if cmd == CHUNK:
        tag = bytes(frames[4]) if len(frames) > 4 and 0 < len(frames[4]) <= 19 and bytes(frames[4]).isdigit() else b"0"
        return [NACK, aid, tag, b"-1", reason]
    return [REJECT, aid, reason]
