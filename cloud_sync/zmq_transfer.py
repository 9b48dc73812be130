"""Chunked, resumable asset transfer over ZeroMQ: the box's DEALER to the center's ROUTER.

Every connection is CurveZMQ-encrypted and authenticated: the box knows the
center's public key, and the center's ZAP handler admits only box keys it
was given with `edge-center allow`. The center identifies a box by its
authenticated key (ZMQ User-Id), never by the box id written in a payload.

Wire protocol (multipart frames; numbers are ASCII decimal, digests hex):

    box -> center                                center -> box
    OFFER  json{box_id, asset_id, sha256,        OFFERED asset_id offset|"complete"
                size, meta}
    CHUNK  asset_id offset chunk_sha256 tag data ACK  asset_id tag durable_offset
                                                 NACK asset_id tag expected_offset reason
    COMMIT asset_id sha256                       COMMITTED asset_id
                                                 REJECT asset_id reason   (OFFER or COMMIT)
    PING   token                                 PONG token

1. OFFER: the center answers with how many bytes of this asset it already
   holds *durably* (0, a partial offset, or "complete" when it has this
   box's asset id with this sha256 already: offering twice is harmless).
2. CHUNKs from that offset, at most `window` unacknowledged at a time
   (credit-based flow control, as in the ZeroMQ guide's file transfer). The
   center checks each chunk's sha256, appends it to a partial file, fsyncs
   (once per batch of messages it read together) and only then ACKs with
   the offset that is now on disk. A chunk that fails its digest, or leaves
   a gap, is NACKed with the offset the center expects next; the box rewinds
   there. `tag` is a rewind generation the center echoes: replies to chunks
   sent before a rewind are recognised and ignored. A chunk at or below the
   durable offset (a replay) is acknowledged again and not written twice;
   an offset of -1 in a NACK means "offer this asset first".
3. COMMIT once every byte is acknowledged: the center verifies the whole
   asset's sha256, renames the file into place, fsyncs the directory,
   commits the index row, and only then answers COMMITTED. A COMMIT for an
   asset already committed is answered COMMITTED again. A whole-asset digest
   mismatch discards the partial file and answers REJECT; the box starts
   that asset over later. The box marks an asset synced only on COMMITTED.

   A NACK with a negative expected offset refuses the upload for now (the
   reason says why, e.g. the center's disk is full): the box gives up on
   this asset, shows the reason and offers it again later.

Slow links: the box measures the rate at which its bytes are acknowledged
and sizes chunks to about CHUNK_TARGET_S of transfer (powers of two from
MIN_CHUNK up to the configured chunk size, each aligned to its own size)
and the credit window to about INFLIGHT_TARGET_S. A fresh link starts with
small chunks and grows them as ACKs show the rate. Reply timeouts grow with
the bytes still in flight, so a 64 kbit/s uplink is slow, not "down".

Liveness: ZMTP heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT) drop dead TCP
connections. A heartbeat is only answered once everything queued ahead of
it has crossed the link, so the timeout must be far longer than the bytes
in flight take: the window keeps that at a few seconds even at 64 kbit/s,
and HEARTBEAT_TIMEOUT_MS is 30 s. Every request must be answered within
`reply_timeout_s` plus the in-flight bytes' time at the measured rate, or
the link counts as down: the box throws its socket away (messages in flight
on it are lost) and reconnects with exponential backoff; the next OFFER
learns where to resume, and the rate estimate is cut so the next attempt
starts gentler.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from cloud_sync.bandwidth import LinkEstimator, RateMeter, TokenBucket
from cloud_sync.config import SyncConfig

OFFER, CHUNK, COMMIT, PING = b"OFFER", b"CHUNK", b"COMMIT", b"PING"
OFFERED, ACK, NACK, COMMITTED, REJECT, PONG = b"OFFERED", b"ACK", b"NACK", b"COMMITTED", b"REJECT", b"PONG"
COMPLETE = b"complete"
ASSET_ID = re.compile(rb"[0-9a-f]{26}")
SHA256 = re.compile(rb"[0-9a-f]{64}")

HEARTBEAT_IVL_MS = 2000
HEARTBEAT_TIMEOUT_MS = 30_000

MIN_CHUNK = 16 * 1024  # 2 s at 64 kbit/s; the per-chunk header (~200 B) stays near 1 %
MAX_CHUNK = 1 << 20  # the largest chunk a box sends, whatever its config says
MAX_OFFER_BYTES = 64 * 1024  # an OFFER's JSON body
MAX_FRAME = MAX_CHUNK + 64 * 1024  # ZMQ_MAXMSGSIZE at the center: a larger frame drops the peer
MAX_REPLY_FRAME = 64 * 1024  # ZMQ_MAXMSGSIZE at the box: the center's replies are small
FLOOR_RATE = 64_000 / 8  # bytes/s assumed before anything was measured: the slowest link we promise
CHUNK_TARGET_S = 1.0
INFLIGHT_TARGET_S = 2.0


class LinkDown(Exception):
    """No answer from the center in time: the socket is useless until rebuilt."""


class Rejected(Exception):
    """The center refused this asset (digest mismatch, conflicting id, …); others may still go."""


class Stopped(Exception):
    """stop() was called while a transfer was running."""


@dataclass(frozen=True, slots=True)
class Offer:
    box_id: str
    asset_id: str
    sha256: str
    size: int
    meta: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps({"box_id": self.box_id, "asset_id": self.asset_id, "sha256": self.sha256,
                           "size": self.size, "meta": self.meta}, sort_keys=True).encode()


@dataclass(slots=True)
class TransferResult:
    asset_id: str
    resumed_from: int  # the durable offset the center reported
    bytes_sent: int  # chunk payload bytes put on the wire, resends included
    already_complete: bool


def chunk_for(rate: float | None, pos: int, configured: int) -> int:
    """Chunk size for the chunk starting at `pos`, from the measured rate (bytes/s; None = not known yet)."""
    top = min(configured, MAX_CHUNK)
    want = MIN_CHUNK if rate is None else int(rate * CHUNK_TARGET_S)
    if top & (top - 1) and want >= top:
        return top  # a configured size that is not a power of two is used as it is
    size = MIN_CHUNK
    while size * 2 <= min(want, top):
        size *= 2
    size = min(size, top)
    # Aligned powers of two: growing never leaves an odd offset behind, so chunk boundaries stay stable.
    while size > 1 and pos % size:
        size //= 2
    return size


def window_for(rate: float | None, chunk: int, configured: int) -> int:
    if rate is None:
        return min(2, configured)
    return max(min(2, configured), min(configured, -(-int(rate * INFLIGHT_TARGET_S) // max(chunk, 1))))


def set_heartbeats(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


class BoxClient:
    """One box's link to the center. Not thread-safe: the syncer thread owns it."""

    def __init__(
        self,
        endpoint: str,
        center_public: bytes,
        box_public: bytes,
        box_secret: bytes,
        config: SyncConfig,
        *,
        context: zmq.Context | None = None,
        meter: RateMeter | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._keys = (center_public, box_public, box_secret)
        self.config = config
        self._ctx = context or zmq.Context.instance()
        self.meter = meter or RateMeter()
        self._stop = stop or threading.Event()
        self._bucket = TokenBucket.kbps(config.bandwidth_kbps, min(config.chunk_size, MAX_CHUNK)) \
            if config.bandwidth_kbps else None
        self.link = LinkEstimator(FLOOR_RATE)
        self._sock: zmq.Socket | None = None
        self._poller = zmq.Poller()

    # -- socket lifecycle ------------------------------------------------------

    def connect(self) -> None:
        self.close()
        center_public, box_public, box_secret = self._keys
        s = self._ctx.socket(zmq.DEALER)
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = center_public, box_public, box_secret
        s.setsockopt(zmq.LINGER, 0)  # a dead link must not hold close() up
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        s.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_FRAME)
        set_heartbeats(s)
        s.connect(self.endpoint)
        self._sock = s
        self._poller = zmq.Poller()
        self._poller.register(s, zmq.POLLIN)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
            # Whatever was measured was too optimistic if the link was given up: start gentler.
            self.link.slow_down()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # -- requests -----------------------------------------------------------------

    def ping(self, timeout_s: float | None = None) -> float:
        """Round-trip time in seconds; LinkDown if the center does not answer."""
        token = secrets.token_hex(4).encode()
        t0 = time.monotonic()
        self._send([PING, token])
        self._expect(lambda f: f[0] == PONG and f[1:2] == [token], timeout_s or self.config.reply_timeout_s)
        return time.monotonic() - t0

    def send_asset(self, offer: Offer, path: Path, on_progress: Callable[[int], None] | None = None) -> TransferResult:
        aid = offer.asset_id.encode()
        self._send([OFFER, offer.encode()])
        reply = self._expect(lambda f: f[0] in (OFFERED, REJECT) and f[1:2] == [aid])
        if reply[0] == REJECT:
            raise Rejected(_text(reply, 2))
        if reply[2] == COMPLETE:
            return TransferResult(offer.asset_id, offer.size, 0, already_complete=True)
        try:
            start = int(reply[2])
        except ValueError:
            raise LinkDown(f"the center answered an offer with {reply[2][:20]!r}") from None
        sent = self._send_chunks(aid, offer.size, path, start, on_progress)
        self._send([COMMIT, aid, offer.sha256.encode()])
        # Committing means an fsync and, after a center restart, re-reading the file for its digest.
        reply = self._expect(lambda f: f[0] in (COMMITTED, REJECT) and f[1:2] == [aid],
                             self.config.reply_timeout_s + offer.size / 50e6)
        if reply[0] == REJECT:
            raise Rejected(_text(reply, 2))
        return TransferResult(offer.asset_id, start, sent, already_complete=False)

    def _send_chunks(
        self, aid: bytes, size: int, path: Path, start: int, on_progress: Callable[[int], None] | None
    ) -> int:
        configured = self.config.chunk_size if self.config.adapt_chunks else min(self.config.chunk_size, MAX_CHUNK)
        pos = acked = start
        gen, sent = 0, 0
        inflight: list[int] = []  # sizes of unacknowledged chunks, oldest first
        self.link.start()
        fd = os.open(path, os.O_RDONLY)
        try:
            while acked < size:
                while pos < size:
                    rate = self.link.rate if self.config.adapt_chunks else None
                    if self.config.adapt_chunks:
                        chunk = chunk_for(rate, pos, configured)
                        window = window_for(rate, chunk, self.config.window)
                    else:
                        chunk, window = configured, self.config.window
                    if len(inflight) >= window:
                        break
                    data = os.pread(fd, min(chunk, size - pos), pos)
                    if not data:
                        raise Rejected(f"{path} is shorter than the {size} bytes offered")
                    self._throttle(len(data))
                    self._send([CHUNK, aid, b"%d" % pos, hashlib.sha256(data).hexdigest().encode(), b"%d" % gen, data])
                    pos += len(data)
                    inflight.append(len(data))
                    sent += len(data)
                reply = self._expect(lambda f: f[0] in (ACK, NACK) and f[1:2] == [aid] and len(f) >= 4,
                                     self._inflight_timeout(sum(inflight)))
                try:
                    tag, offset = int(reply[2]), int(reply[3])
                except ValueError:
                    continue  # not a reply this client could have caused
                if tag != gen:
                    continue  # answer to a chunk sent before the last rewind: its credit is already spent
                if inflight:
                    inflight.pop(0)
                if reply[0] == ACK:
                    if offset > acked:
                        self.meter.add(offset - acked)
                        self.link.acked(offset - acked)
                        acked = offset
                        if on_progress:
                            on_progress(acked)
                    continue
                if offset < 0:
                    raise Rejected(_text(reply, 4))
                # Rewind: everything after `offset` is resent; replies to the old chunks carry the old tag.
                gen += 1
                inflight.clear()
                pos = acked = min(offset, size)
        finally:
            os.close(fd)
        return sent

    def _inflight_timeout(self, nbytes: int) -> float:
        """How long the next ACK may take: the base timeout plus twice the bytes ahead of it at the known rate."""
        rate = self.link.rate or FLOOR_RATE
        return self.config.reply_timeout_s + 2 * nbytes / rate

    def _throttle(self, nbytes: int) -> None:
        if self._bucket is None:
            return
        while (wait := self._bucket.delay(nbytes)) > 0:
            if self._stop.wait(wait):
                raise Stopped()
        self._bucket.take(nbytes)

    # -- plumbing -----------------------------------------------------------------

    def _send(self, frames: list[bytes]) -> None:
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        if self._stop.is_set():
            raise Stopped()
        try:
            # Large payloads go zero-copy; the small header frames are cheaper to copy.
            self._sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=len(frames[-1]) < 65536)
        except zmq.Again:
            raise LinkDown("the link to the center is congested or not connected") from None

    def _expect(self, match: Callable[[list[bytes]], bool], timeout_s: float | None = None) -> list[bytes]:
        """The next reply that `match`es; others (late answers to abandoned requests) are dropped."""
        assert self._sock is not None
        deadline = time.monotonic() + (timeout_s or self.config.reply_timeout_s)
        while True:
            if self._stop.is_set():
                raise Stopped()
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkDown(f"no answer from the center at {self.endpoint} within "
                               f"{timeout_s or self.config.reply_timeout_s:.0f} s")
            # Wake up now and then to notice stop() even when the center is silent.
            if not self._poller.poll(min(left, 0.25) * 1000):
                continue
            frames = self._sock.recv_multipart()
            if frames and match(frames):
                return frames


def _text(frames: list[bytes], i: int) -> str:
    return frames[i].decode("utf-8", "replace") if len(frames) > i else "no reason given"
