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

import hashlib
import json
import logging
import os
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
    NACK,
    OFFER,
    OFFERED,
    PING,
    PONG,
    REJECT,
    SHA256,
    set_heartbeats,
)

log = logging.getLogger("cloud_sync.center")

BATCH = 64  # messages handled per fsync
ALLOWED_RELOAD_S = 1.0


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

            self.settings.write_text(json.dumps({"mqtt_client_id": f"edge-center-{secrets.token_hex(6)}"}) + "\n")
        return public


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
        tmp = paths.settings.with_name("center.json.tmp")
        tmp.write_text(json.dumps(settings, indent=2) + "\n")
        os.replace(tmp, paths.settings)
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
                names[keys.load_public(f).decode()] = keys.metadata(f).get("box-id") or f.stem
            except (keys.KeyFileError, OSError) as e:
                log.warning("ignoring %s: %s", f, e)
        self.names = names
        return True


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
        self.stats = {"chunks": 0, "nacks": 0, "commits": 0, "refused_handshakes": 0, "bytes": 0,
                      "fsyncs": 0, "batches": 0}

    def stop(self) -> None:
        self._stop.set()

    def known_boxes(self) -> set[str]:
        """Names of the boxes the running server admits now."""
        return set(self.allowed.names.values()) if self.allowed else set()

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
        monitor = None
        try:
            allowed.changed()
            auth.configure_curve(domain="*", location=str(paths.allowed))
            public, secret = keys.load_pair(paths.secret_key)
            sock.curve_server = True
            sock.curve_publickey, sock.curve_secretkey = public, secret
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, 10000)
            set_heartbeats(sock)
            sock.bind(self.bind)
            self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                              | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            handler = _Handler(index, storage, allowed, self.stats)
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
                    self._log_refusal(monitor)
                    next_reload = 0.0  # maybe the key was allowed a moment ago: look now
                if time.monotonic() >= next_reload:
                    next_reload = time.monotonic() + ALLOWED_RELOAD_S
                    if allowed.changed():
                        auth.configure_curve(domain="*", location=str(paths.allowed))
                        log.info("allowed boxes reloaded: %s", ", ".join(sorted(allowed.names.values())) or "none")
                if sock in events:
                    self._serve_batch(sock, handler, durable)
                if durable.signal in events:
                    _send_all(sock, durable.ready())
            _send_all(sock, durable.close())
            self.stats["fsyncs"] = durable.fsyncs
        finally:
            if monitor is not None:
                sock.disable_monitor()
                monitor.close(linger=0)
            sock.close(linger=0)
            auth.stop()
            storage.close()
            index.close()
            if self._own_ctx:
                self._ctx.term()

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

    def _log_refusal(self, monitor: zmq.Socket) -> None:
        try:
            ev = recv_monitor_message(monitor, flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        self.stats["refused_handshakes"] += 1
        log.warning("refused a connection on %s: handshake failed (%s, code %s); a box whose key is not allowed "
                    "gets no service: pair it with `edge-center allow`",
                    ev.get("endpoint", b"?").decode(errors="replace"), zmq.Event(ev["event"]).name, ev.get("value"))


def _send_all(sock: zmq.Socket, replies: list[list[bytes]]) -> None:
    for r in replies:
        try:
            sock.send_multipart(r, flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # the box is gone or flooded; it will time out and offer again


class _Handler:
    """Protocol logic for one message; no sockets here, so it reads as the spec in zmq_transfer."""

    def __init__(self, index: Index, storage: FileStorage, allowed: AllowedBoxes, stats: dict[str, int]) -> None:
        self.index, self.storage, self.allowed, self.stats = index, storage, allowed, stats
        self.uploads: dict[tuple[str, str], Upload] = {(u.box_key, u.id): u for u in index.uploads()}

    def handle(self, box_key: str, frames: list[memoryview], dirty: set[Partial]) -> list[bytes] | None:
        box = self.allowed.names.get(box_key)
        if box is None:
            log.warning("message from a key no longer allowed (%s…): ignored", box_key[:8])
            return None
        cmd = bytes(frames[0])
        try:
            if cmd == CHUNK and len(frames) == 6:
                return self._chunk(box_key, frames, dirty)
            if cmd == OFFER and len(frames) == 2:
                return self._offer(box_key, box, bytes(frames[1]))
            if cmd == COMMIT and len(frames) == 3:
                return self._commit(box_key, box, bytes(frames[1]).decode(), bytes(frames[2]).decode())
            if cmd == PING and len(frames) == 2:
                return [PONG, bytes(frames[1])]
        except (ValueError, UnicodeDecodeError, KeyError) as e:
            log.warning("%s sent a malformed %s: %s", box, cmd[:16], e)
            return None
        log.warning("%s sent an unknown message %r (%d frames)", box, cmd[:16], len(frames))
        return None

    def _offer(self, box_key: str, box: str, body: bytes) -> list[bytes]:
        offer: dict[str, Any] = json.loads(body)
        aid, sha, size = str(offer["asset_id"]), str(offer["sha256"]), int(offer["size"])
        if not ASSET_ID.fullmatch(aid.encode()) or not SHA256.fullmatch(sha.encode()) or size < 0:
            return [REJECT, aid.encode()[:64], b"malformed offer"]
        if offer.get("box_id") not in (None, box):
            log.info("box %s calls itself %r in its offers; listed as %s (its key decides)", box, offer["box_id"], box)
        held = self.index.asset_sha(box_key, aid)
        if held == sha:
            return [OFFERED, aid.encode(), COMPLETE]
        if held is not None:
            log.error("%s offered asset %s with sha256 %s, but it is stored with %s", box, aid, sha, held)
            return [REJECT, aid.encode(), b"this asset id is stored with different content"]
        if self.storage.has_object(sha, size):
            # Same bytes already verified and stored (another box, or a crash after rename): index only.
            self.index.store_asset(box_key, box, offer)
            self.uploads.pop((box_key, aid), None)
            return [OFFERED, aid.encode(), COMPLETE]
        up = self.uploads.get((box_key, aid))
        if up is not None and (up.sha256, up.size) != (sha, size):
            self.storage.discard(self.storage.partial(box_key, aid, up.sha256))
            up = None
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
        aid, offset, digest, tag, data = bytes(frames[1]), int(frames[2]), bytes(frames[3]), bytes(frames[4]), frames[5]
        self.stats["chunks"] += 1
        up = self.uploads.get((box_key, aid.decode()))
        if up is None:
            sha = self.index.asset_sha(box_key, aid.decode())
            if sha is not None:  # a replay after COMMIT: nothing to write
                return [ACK, aid, tag, b"%d" % (offset + len(data))]
            return self._nack(aid, tag, -1, b"offer this asset first")
        p = self.storage.partial(box_key, up.id, up.sha256)
        end = offset + len(data)
        if hashlib.sha256(data).hexdigest().encode() != digest:
            return self._nack(aid, tag, p.size, b"chunk sha256 mismatch")
        if offset > p.size:
            return self._nack(aid, tag, p.size, b"gap: resend from the offset given")
        if end > up.size:
            return self._nack(aid, tag, p.size, b"chunk runs past the offered size")
        if end > p.size:  # new bytes (possibly overlapping a replayed prefix)
            p.append(data[p.size - offset:])
            self.stats["bytes"] += end - offset
        dirty.add(p)
        return [ACK, aid, tag, b"%d" % p.size]

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
        self.storage.install(p, sha)
        self.index.store_asset(box_key, box, up.offer)  # committed: now it may be acknowledged
        del self.uploads[(box_key, aid)]
        self.stats["commits"] += 1
        log.info("stored %s/%s (%d bytes, %s)", box, aid, up.size, (up.offer.get("meta") or {}).get("kind"))
        return [COMMITTED, aid.encode()]

