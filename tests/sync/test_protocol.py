"""The transfer protocol against a real center on loopback (CurveZMQ, ZAP, real files and SQLite)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
import zmq

from cloud_sync import keys
from cloud_sync.center.index import Index
from cloud_sync.center.server import CenterPaths
from cloud_sync.config import SyncConfig
from cloud_sync.zmq_transfer import BoxClient, LinkDown, Offer, Rejected

from .conftest import RunningCenter, make_box, start_center, wait_for

KiB = 1024
CONFIG = SyncConfig(chunk_size=64 * KiB, window=4, reply_timeout_s=3)


def asset_file(tmp_path: Path, size: int, name: str = "blob") -> tuple[Path, str]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def client_for(files, config: SyncConfig = CONFIG, cls: type[BoxClient] = BoxClient) -> BoxClient:
    _, endpoint, center_pub, pub, sec = files.pairing()
    return cls(endpoint, center_pub, pub, sec, config)


def offer(asset_id: str, path: Path, sha: str, box_id: str = "cam1") -> Offer:
    return Offer(box_id, asset_id, sha, path.stat().st_size, {"kind": "media", "name": path.name})


def stored(center: RunningCenter) -> list[dict]:
    index = Index(CenterPaths(center.data).index)
    try:
        return list(index.assets())
    finally:
        index.close()


class Raw:
    """A hand-driven DEALER with the box's keys, to send what a well-behaved client never would."""

    def __init__(self, files) -> None:
        _, endpoint, center_pub, pub, sec = files.pairing()
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.curve_serverkey, self.sock.curve_publickey, self.sock.curve_secretkey = center_pub, pub, sec
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 5000)
        self.sock.connect(endpoint)

    def ask(self, *frames: bytes) -> list[bytes]:
        self.sock.send_multipart(list(frames))
        return self.sock.recv_multipart()

    def offer(self, aid: str, sha: str, size: int, box_id: str = "cam1") -> list[bytes]:
        body = {"box_id": box_id, "asset_id": aid, "sha256": sha, "size": size, "meta": {"kind": "note"}}
        return self.ask(b"OFFER", json.dumps(body).encode())

    def chunk(self, aid: str, offset: int, data: bytes, digest: str | None = None, tag: bytes = b"0") -> list[bytes]:
        digest = digest or hashlib.sha256(data).hexdigest()
        return self.ask(b"CHUNK", aid.encode(), b"%d" % offset, digest.encode(), tag, data)

    def close(self) -> None:
        self.sock.close(0)


AID = "18eb4f7643ad1a1008f3db41f6"
AID2 = "18eb4f7643ad1a1008f3db41f7"


def test_asset_arrives_whole_and_is_indexed_once(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    path, sha = asset_file(tmp_path, 1_000_000)
    client = client_for(box)
    result = client.send_asset(offer(AID, path, sha), path)
    assert not result.already_complete and result.resumed_from == 0 and result.bytes_sent == 1_000_000
    again = client.send_asset(offer(AID, path, sha), path)  # offering twice is harmless
    assert again.already_complete and again.bytes_sent == 0
    client.close()
    rows = stored(center)
    assert [(r["box"], r["id"], r["sha256"], r["size"]) for r in rows] == [("cam1", AID, sha, 1_000_000)]
    obj = CenterPaths(center.data).root / "objects" / sha[:2] / sha
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == sha


def test_corrupted_chunk_is_nacked_and_resent(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    path, sha = asset_file(tmp_path, 500_000)

    class FlakyWire(BoxClient):
        corrupted = 0

        def _send(self, frames):
            if frames[0] == b"CHUNK" and frames[2] == b"131072" and not self.corrupted:
                FlakyWire.corrupted += 1
                frames = [*frames[:5], b"\xff" + frames[5][1:]]  # a bit flip after the digest was taken
            super()._send(frames)

    client = client_for(box, cls=FlakyWire)
    result = client.send_asset(offer(AID, path, sha), path)
    client.close()
    assert FlakyWire.corrupted == 1
    assert center.server.stats["nacks"] >= 1
    # The bad chunk and what was in flight behind it were sent again, nothing more.
    assert 500_000 < result.bytes_sent <= 500_000 + CONFIG.window * CONFIG.chunk_size
    assert stored(center)[0]["sha256"] == sha


def test_corrupted_chunk_gets_a_nack_naming_the_offset_to_resend(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    raw = Raw(box)
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    assert raw.offer(AID, sha, 3000) == [b"OFFERED", AID.encode(), b"0"]
    assert raw.chunk(AID, 0, data[:1000]) == [b"ACK", AID.encode(), b"0", b"1000"]
    nack = raw.chunk(AID, 1000, data[1000:2000], digest=hashlib.sha256(b"other").hexdigest())
    assert nack[:4] == [b"NACK", AID.encode(), b"0", b"1000"] and b"sha256" in nack[4]
    assert raw.chunk(AID, 2000, data[2000:])[:4] == [b"NACK", AID.encode(), b"0", b"1000"]  # a gap
    assert raw.chunk(AID, 1000, data[1000:], tag=b"1") == [b"ACK", AID.encode(), b"1", b"3000"]
    raw.close()


def test_replayed_chunks_and_commits_are_harmless(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    raw = Raw(box)
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    raw.offer(AID, sha, 3000)
    assert raw.chunk(AID, 0, data[:2000])[3] == b"2000"
    assert raw.chunk(AID, 0, data[:2000])[3] == b"2000"  # same chunk again: acknowledged, not appended
    assert raw.chunk(AID, 1000, data[1000:])[3] == b"3000"  # overlapping replay: only the new tail is written
    assert raw.ask(b"COMMIT", AID.encode(), sha.encode()) == [b"COMMITTED", AID.encode()]
    assert raw.ask(b"COMMIT", AID.encode(), sha.encode()) == [b"COMMITTED", AID.encode()]
    assert raw.chunk(AID, 0, data[:1000])[0] == b"ACK"  # a chunk replayed after the commit
    assert raw.offer(AID, sha, 3000) == [b"OFFERED", AID.encode(), b"complete"]
    raw.close()
    rows = stored(center)
    assert len(rows) == 1 and rows[0]["sha256"] == sha and rows[0]["size"] == 3000
    obj = CenterPaths(center.data).root / "objects" / sha[:2] / sha
    assert obj.read_bytes() == data


def test_whole_asset_digest_mismatch_is_rejected_and_the_partial_discarded(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    raw = Raw(box)
    data = os.urandom(2000)
    lie = hashlib.sha256(b"something else").hexdigest()
    raw.offer(AID, lie, 2000)
    assert raw.chunk(AID, 0, data)[0] == b"ACK"  # each chunk is fine on its own
    reply = raw.ask(b"COMMIT", AID.encode(), lie.encode())
    assert reply[0] == b"REJECT" and b"sha256" in reply[2]
    assert raw.offer(AID, lie, 2000)[2] == b"0"  # starts over
    raw.close()
    assert stored(center) == []


def test_the_center_names_boxes_by_their_key_not_by_what_they_claim(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    raw = Raw(box)
    data = b"x" * 10
    sha = hashlib.sha256(data).hexdigest()
    raw.offer(AID, sha, 10, box_id="someone-else")
    raw.chunk(AID, 0, data)
    raw.ask(b"COMMIT", AID.encode(), sha.encode())
    raw.close()
    assert [r["box"] for r in stored(center)] == ["cam1"]


def test_same_asset_id_from_two_boxes_is_two_assets(center, tmp_path):
    a = make_box(tmp_path / "a", "cam1", center.data, center.endpoint, server=center.server)
    b = make_box(tmp_path / "b", "cam2", center.data, center.endpoint, server=center.server)
    path, sha = asset_file(tmp_path, 10_000)
    for files in (a, b):
        c = client_for(files)
        c.send_asset(offer(AID, path, sha), path)
        c.close()
    assert sorted(r["box"] for r in stored(center)) == ["cam1", "cam2"]


def test_an_unpaired_box_gets_no_service_and_the_center_logs_it(center, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="cloud_sync.center")
    stranger = make_box(tmp_path / "box", "stranger", center.data, center.endpoint, allow=False)
    client = client_for(stranger, SyncConfig(reply_timeout_s=1.5))
    with pytest.raises(LinkDown):
        client.ping()
    client.close()
    wait_for(lambda: center.server.stats["refused_handshakes"] > 0, 5, what="the refusal to be counted")
    assert any("refused a connection" in r.getMessage() for r in caplog.records)
    assert stored(center) == []
    # Allowing its key later (edge-center allow copies it in) lets it in without a restart.
    shutil.copyfile(stranger.public_key, CenterPaths(center.data).allowed / "stranger.key")
    client = client_for(stranger, SyncConfig(reply_timeout_s=1.5))
    wait_for(lambda: _pings(client), 10, what="the box to be let in")
    client.close()


def _pings(client: BoxClient) -> bool:
    try:
        client.ping()
        return True
    except LinkDown:
        client.connect()
        return False


def test_a_box_with_the_wrong_center_key_is_not_served(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    impostor_pub, _ = keys.create_keypair(tmp_path / "other", "center")
    box.pair(center.endpoint, impostor_pub)
    client = client_for(box, SyncConfig(reply_timeout_s=1))
    with pytest.raises(LinkDown):
        client.ping()
    client.close()


class DropAfter(BoxClient):
    """Simulates the link dropping once `limit` bytes are acknowledged."""

    def __init__(self, *a, limit: int, **kw) -> None:
        super().__init__(*a, **kw)
        self.limit = limit

    def send_asset(self, offer, path, on_progress=None):
        def progress(acked: int) -> None:
            if acked >= self.limit:
                raise LinkDown("simulated drop")

        return super().send_asset(offer, path, progress)


def test_resume_after_a_drop_continues_at_the_last_acked_offset(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    size = 4 * 1024 * 1024
    path, sha = asset_file(tmp_path, size)
    _, endpoint, center_pub, pub, sec = box.pairing()
    first = DropAfter(endpoint, center_pub, pub, sec, CONFIG, limit=3 * 1024 * 1024)
    with pytest.raises(LinkDown):
        first.send_asset(offer(AID, path, sha), path)
    first.close()
    second = client_for(box)
    result = second.send_asset(offer(AID, path, sha), path)
    second.close()
    assert result.resumed_from >= 3 * 1024 * 1024
    assert result.bytes_sent == size - result.resumed_from  # only what was missing went again
    assert result.bytes_sent <= 1024 * 1024
    assert stored(center)[0]["sha256"] == sha


def test_resume_across_a_center_restart(tmp_path):
    center = start_center(tmp_path / "center")
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    size = 2 * 1024 * 1024
    path, sha = asset_file(tmp_path, size)
    _, endpoint, center_pub, pub, sec = box.pairing()
    first = DropAfter(endpoint, center_pub, pub, sec, CONFIG, limit=1024 * 1024)
    with pytest.raises(LinkDown):
        first.send_asset(offer(AID, path, sha), path)
    first.close()
    center.stop()
    center = start_center(tmp_path / "center", bind=endpoint)
    try:
        client = client_for(box)
        result = client.send_asset(offer(AID, path, sha), path)
        client.close()
        assert result.resumed_from >= 1024 * 1024
        assert stored(center)[0]["sha256"] == sha
    finally:
        center.stop()


def test_many_boxes_at_once(center, tmp_path):
    boxes = [make_box(tmp_path / f"b{i}", f"cam{i}", center.data, center.endpoint, server=center.server) for i in range(4)]
    files = [asset_file(tmp_path, 300_000 + i, f"f{i}") for i in range(4)]
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            c = client_for(boxes[i])
            for n in range(3):
                c.send_asset(offer(f"18eb4f7643ad1a1008f3db41{n:02x}", files[i][0], files[i][1]), files[i][0])
            c.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(stored(center)) == 12


def test_a_conflicting_asset_id_is_refused(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    p1, s1 = asset_file(tmp_path, 1000, "a")
    p2, s2 = asset_file(tmp_path, 1000, "b")
    c = client_for(box)
    c.send_asset(offer(AID2, p1, s1), p1)
    with pytest.raises(Rejected, match="different content"):
        c.send_asset(offer(AID2, p2, s2), p2)
    c.close()
