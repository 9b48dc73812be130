"""Attacks on the center from an allowed box, a full disk and signals: the center refuses, reports, and keeps serving.

Every test runs against a real center (CurveZMQ, ZAP, files, SQLite) on loopback; the disk-full
test puts the center's data directory on a real 16 MiB tmpfs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zmq

from cloud_sync.center.server import CenterPaths
from cloud_sync.center.storage import FileObjects
from cloud_sync.config import SyncConfig
from cloud_sync.zmq_transfer import Offer, Rejected

from .conftest import ROOT, env, free_port, make_box, start_center, wait_for
from .test_protocol import Raw, asset_file, client_for, offer, stored

MiB = 1 << 20
AID = "18eb4f7643ad1a1008f3db41b0"
SHA = "0" * 64

REFUSALS = (b"REJECT", b"NACK")


def _offer(**over) -> bytes:
    body = {"box_id": "evil", "asset_id": AID, "sha256": SHA, "size": 10, "meta": {"kind": "note"}}
    body.update(over)
    return json.dumps(body).encode()


def _meta(**over) -> bytes:
    return _offer(meta={"kind": "note", **over})


def malformed_messages() -> list[list[bytes]]:
    """One or more malformed messages of every type the protocol has (and some it has not)."""
    aid = AID.encode()
    return [
        # OFFER: bodies that are not an offer, fields of the wrong type or shape, paths where names go
        *[[b"OFFER", body] for body in (
            b"[1,2]", b"null", b'"x"', b"", b"\xff\xfe", b"{", b"[" * 50_000, b"{}",
            _offer(size=None), b'{"asset_id": "%s", "sha256": "%s", "size": 1e999, "meta": {"kind": "note"}}' % (
                aid, SHA.encode()),
            _offer(size=-1), _offer(size="12"), _offer(size=True), _offer(size=2**70), _offer(size=1.5),
            _offer(asset_id="../../x"), _offer(asset_id=5), _offer(asset_id=None), _offer(sha256="A" * 64),
            _offer(sha256=12), _offer(meta=[1, 2]), _offer(meta=None), _offer(meta="x"), _offer(box_id=["x"]),
            _meta(kind="../../../../x"), _meta(kind="/etc/cron.d/x"), _meta(kind=None), _meta(kind=5),
            _offer(meta={}), _meta(stream="../x"), _meta(stream="/abs"), _meta(name=5), _meta(name="n" * 1000),
            _meta(start="x"), b'{"asset_id": "%s", "sha256": "%s", "size": 1, "meta": {"kind": "note", "start": NaN}}' % (
                aid, SHA.encode()),
            _meta(tags="str"), _meta(tags=[1]), _meta(provenance=[]), _meta(meta=[]),
            _offer(meta={"kind": "caption_segment", "stream": "main", "meta": {"run": "../x"}}),
        )],
        [b"OFFER"], [b"OFFER", _offer(), b"extra"],
        # CHUNK: wrong frame counts, ids, numbers, digests; a chunk for nothing offered
        [b"CHUNK", aid],
        [b"CHUNK", b"../x", b"0", SHA.encode(), b"0", b"data"],
        [b"CHUNK", aid, b"-1", SHA.encode(), b"0", b"data"],
        [b"CHUNK", aid, b"1e999", SHA.encode(), b"0", b"data"],
        [b"CHUNK", aid, b"abc", SHA.encode(), b"0", b"data"],
        [b"CHUNK", aid, b"9" * 40, SHA.encode(), b"0", b"data"],
        [b"CHUNK", aid, b"0", b"zz", b"0", b"data"],
        [b"CHUNK", aid, b"0", SHA.encode(), b"-", b"data"],
        [b"CHUNK", aid, b"0", hashlib.sha256(b"data").hexdigest().encode(), b"0", b"data"],
        # COMMIT: missing frames, bad ids, a commit for an offer that was refused (meta was a list)
        [b"COMMIT"], [b"COMMIT", aid], [b"COMMIT", b"../x", SHA.encode()], [b"COMMIT", aid, b"nothex"],
        [b"COMMIT", aid, SHA.encode()],
        # PING with no token, two tokens, a huge token; commands that do not exist
        [b"PING"], [b"PING", b"a", b"b"], [b"PING", b"x" * 100],
        [b"HELLO"], [b""], [b"\x00" * 10, b"y"], [b"OFFERED", aid, b"0"], [b"ACK", aid, b"0", b"10"],
    ]


def random_messages(rng: random.Random, n: int) -> list[list[bytes]]:
    pool = [b"", b"0", b"-1", b"1e999", AID.encode(), SHA.encode(), b"null", b"[1,2]", b"\xff", b"{}", b"x" * 300,
            _offer(), _offer(size=None), _meta(kind="../x"), b'{"meta": [[[[', os.urandom(40)]
    out = []
    for _ in range(n):
        cmd = rng.choice([b"OFFER", b"CHUNK", b"COMMIT", b"PING", rng.randbytes(4)])
        out.append([cmd] + [rng.choice(pool) for _ in range(rng.randint(0, 6))])
    return out


def test_fuzz_malformed_messages_of_every_type_while_another_box_syncs(center, tmp_path):
    good = make_box(tmp_path / "good", "cam1", center.data, center.endpoint, server=center.server)
    evil = make_box(tmp_path / "evil", "evil", center.data, center.endpoint, server=center.server)
    files = [asset_file(tmp_path, 40_000 + i, f"g{i}") for i in range(12)]
    committed: list[str] = []
    errors: list[BaseException] = []

    def sync_good_box() -> None:
        try:
            c = client_for(good, SyncConfig(chunk_size=16 * 1024, window=4, reply_timeout_s=5))
            for i, (path, sha) in enumerate(files):
                aid = f"18eb4f7643ad1a1008f3db42{i:02x}"
                c.send_asset(offer(aid, path, sha), path)
                committed.append(aid)
                time.sleep(0.05)
            c.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    syncing = threading.Thread(target=sync_good_box)
    syncing.start()
    raw = Raw(evil)
    bad_replies = []
    messages = malformed_messages() + random_messages(random.Random(8), 300)
    for frames in messages:
        reply = raw.ask(*frames)  # every message is answered: RCVTIMEO would raise otherwise
        if frames[0] == b"PING" and len(frames) == 2 and len(frames[1]) <= 64:
            assert reply[0] == b"PONG"
        elif reply[0] not in REFUSALS or not reply[-1]:
            bad_replies.append((frames[:3], reply))
    assert not bad_replies, bad_replies[:5]
    syncing.join(60)
    assert not errors, errors
    assert len(committed) == len(files)
    # Every refusal was a refusal by rule, not an exception caught at the last moment.
    assert center.server.stats["errors"] == 0
    assert center.server.stats["refused"] >= len(malformed_messages()) - 3
    # The evil box stored nothing, the good one everything, and the evil box is still served for a real asset.
    rows = stored(center)
    assert {r["box"] for r in rows} == {"cam1"} and len(rows) == len(files)
    path, sha = asset_file(tmp_path, 1000, "legit")
    c = client_for(evil)
    c.send_asset(offer("18eb4f7643ad1a1008f3db43ff", path, sha), path)
    c.close()
    raw.close()
    assert sorted({r["box"] for r in stored(center)}) == ["cam1", "evil"]


def test_unknown_kinds_and_path_like_fields_are_refused_at_offer_with_the_reason(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    path, sha = asset_file(tmp_path, 100)
    c = client_for(box)
    for meta, reason in (({"kind": "../../../../../../x"}, "unknown asset kind"),
                         ({"kind": "/etc/cron.d/x"}, "unknown asset kind"),
                         ({"kind": "media", "stream": "../../x"}, "stream")):
        with pytest.raises(Rejected, match=reason):
            c.send_asset(Offer("cam1", AID, sha, 100, meta), path)
    c.close()
    assert stored(center) == []


def test_an_oversized_frame_drops_only_that_connection(center, tmp_path):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    other = make_box(tmp_path / "other", "cam2", center.data, center.endpoint, server=center.server)
    raw = Raw(box)
    raw.sock.setsockopt(zmq.RCVTIMEO, 1500)
    raw.sock.send_multipart([b"CHUNK", AID.encode(), b"0", SHA.encode(), b"0", bytes(8 * MiB)])
    with pytest.raises(zmq.Again):
        raw.sock.recv_multipart()  # no answer: ZMQ_MAXMSGSIZE cut the peer off before buffering 8 MiB
    raw.close()
    c = client_for(other)
    assert c.ping() < 1.0
    c.close()


def test_a_box_that_knows_only_a_sha256_must_send_the_bytes(center, tmp_path):
    owner = make_box(tmp_path / "a", "cam1", center.data, center.endpoint, server=center.server)
    prober = make_box(tmp_path / "b", "cam2", center.data, center.endpoint, server=center.server)
    path, sha = asset_file(tmp_path, 50_000)
    c = client_for(owner)
    c.send_asset(offer(AID, path, sha), path)
    c.close()
    raw = Raw(prober)
    # The same answer as for content the center has never seen: no listing, no hint.
    assert raw.offer(AID, sha, 50_000) == [b"OFFERED", AID.encode(), b"0"]
    assert raw.ask(b"COMMIT", AID.encode(), sha.encode())[0] == b"REJECT"
    raw.close()
    assert [r["box"] for r in stored(center)] == ["cam1"]
    # Sending the bytes does count, and the object is still stored once.
    c = client_for(prober)
    assert c.send_asset(offer(AID, path, sha), path).bytes_sent == 50_000
    c.close()
    assert sorted(r["box"] for r in stored(center)) == ["cam1", "cam2"]
    assert len(list((CenterPaths(center.data).root / "objects").rglob(sha))) == 1


def test_a_full_disk_at_commit_is_refused_with_a_reason_and_the_retry_succeeds(center, tmp_path, monkeypatch):
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    path, sha = asset_file(tmp_path, 100_000)
    real_put = FileObjects.put

    def full(self, partial_path, sha256):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileObjects, "put", full)
    c = client_for(box)
    with pytest.raises(Rejected, match="disk is full"):
        c.send_asset(offer(AID, path, sha), path)
    monkeypatch.setattr(FileObjects, "put", real_put)
    result = c.send_asset(offer(AID, path, sha), path)
    c.close()
    assert result.bytes_sent == 0  # every byte was already there: only the commit was repeated
    assert stored(center)[0]["sha256"] == sha


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a 16 MiB tmpfs (the test needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_center_disk_refuses_with_a_reason_keeps_serving_and_resumes_when_space_returns(tiny_disk, tmp_path):
    center = start_center(tiny_disk / "center")
    try:
        box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
        other = make_box(tmp_path / "other", "cam2", center.data, center.endpoint, server=center.server)
        path, sha = asset_file(tmp_path, 10 * MiB)
        filler = tiny_disk / "filler"

        def fill_the_disk(acked: int) -> None:
            if acked >= 2 * MiB and not filler.exists():
                with open(filler, "wb") as f:
                    try:
                        while True:
                            f.write(bytes(MiB))
                            f.flush()
                    except OSError as e:
                        assert e.errno == errno.ENOSPC

        c = client_for(box, SyncConfig(chunk_size=256 * 1024, window=4))
        with pytest.raises(Rejected, match="disk is full"):
            c.send_asset(offer(AID, path, sha), path, fill_the_disk)
        # Other boxes are still answered, and told why their new assets cannot be taken now.
        small, small_sha = asset_file(tmp_path, 4096, "small")
        c2 = client_for(other)
        assert c2.ping() < 1.0
        with pytest.raises(Rejected, match="disk is full"):
            c2.send_asset(offer(AID, small, small_sha), small)
        # Space comes back: the big asset resumes where the durable bytes end, the small one goes through.
        filler.unlink()
        result = c.send_asset(offer(AID, path, sha), path)
        c2.send_asset(offer(AID, small, small_sha), small)
        c.close()
        c2.close()
        assert result.resumed_from >= 2 * MiB
        assert {(r["box"], r["sha256"]) for r in stored(center)} == {("cam1", sha), ("cam2", small_sha)}
        assert center.thread.is_alive()
    finally:
        center.stop()
    assert not center.thread.is_alive()


def _serve(cdir: Path, endpoint: str, *prefix: str) -> subprocess.Popen:
    argv = [sys.executable, *prefix] if prefix else [sys.executable, "-m", "cloud_sync.center.cli"]
    p = subprocess.Popen([*argv, "serve", "--data", str(cdir), "--bind", endpoint], env=env(), cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    wait_for(lambda: "serving on" in (p.stderr.readline() or ""), 15, what="the center to serve")
    return p


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_real_center_within_seconds_after_malformed_messages(tmp_path, sig):
    cdir = tmp_path / "center"
    CenterPaths(cdir).init()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    box = make_box(tmp_path / "box", "cam1", cdir, endpoint)
    p = _serve(cdir, endpoint)
    try:
        raw = Raw(box)
        wait_for(lambda: _answers(raw), 10, what="the center to admit the box")
        for frames in malformed_messages()[:12]:
            assert raw.ask(*frames)[0] in REFUSALS
        # A transfer in flight when the signal comes.
        raw.offer(AID, hashlib.sha256(b"x" * 3000).hexdigest(), 3000)
        raw.sock.send_multipart([b"CHUNK", AID.encode(), b"0", hashlib.sha256(b"x" * 1000).hexdigest().encode(), b"0",
                                 b"x" * 1000])
        raw.close()
        t0 = time.monotonic()
        p.send_signal(sig)
        assert p.wait(10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        if p.poll() is None:
            p.kill()


def _answers(raw: Raw) -> bool:
    try:
        return raw.ask(b"PING", b"t")[0] == b"PONG"
    except zmq.Again:
        return False


FATAL = """
import sys
from cloud_sync.center import cli, server
def broken(self, *a, **k):
    raise RuntimeError("simulated fatal error in the receive loop")
server.CenterServer._serve_batch = broken
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_fatal_error_in_the_loop_exits_non_zero_instead_of_hanging(tmp_path):
    cdir = tmp_path / "center"
    CenterPaths(cdir).init()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    box = make_box(tmp_path / "box", "cam1", cdir, endpoint)
    p = _serve(cdir, endpoint, "-c", FATAL)
    try:
        raw = Raw(box)
        raw.sock.send_multipart([b"PING", b"t"])
        assert p.wait(15) == 1  # systemd restarts it
        assert "fatal" in p.stderr.read()
        raw.close()
    finally:
        if p.poll() is None:
            p.kill()


def test_an_unknown_box_cannot_flood_the_log(center, tmp_path, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="cloud_sync.center")
    stranger = make_box(tmp_path / "s", "stranger", center.data, center.endpoint, allow=False)
    _, endpoint, center_pub, pub, sec = stranger.pairing()
    socks = []
    for _ in range(30):
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = center_pub, pub, sec
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RECONNECT_IVL, 10)
        s.connect(endpoint)
        socks.append(s)
    wait_for(lambda: center.server.stats["refused_handshakes"] >= 30, 15, what="many refused handshakes")
    for s in socks:
        s.close(0)
    refusals = [r for r in caplog.records if "refused a connection" in r.getMessage()]
    assert 1 <= len(refusals) <= 5


def test_a_failed_fsync_turns_the_batch_acks_into_refusals(tmp_path, monkeypatch):
    import cloud_sync.center.durable as durable_mod
    from cloud_sync.center.durable import DurableReplies
    from cloud_sync.center.storage import FileStorage

    storage = FileStorage(tmp_path)
    p = storage.partial("key", AID, SHA)
    p.append(b"x" * 100)

    class FullDisk:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def fsync(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(durable_mod, "os", FullDisk())
    ctx = zmq.Context()
    d = DurableReplies(ctx)
    d.submit({p}, [[b"box", b"ACK", AID.encode(), b"0", b"100"], [b"box", b"PONG", b"t"]])
    assert d.signal.poll(5000)
    replies, failed = d.ready()
    assert replies[0][:5] == [b"box", b"NACK", AID.encode(), b"0", b"-1"] and b"No space left" in replies[0][5]
    assert replies[1] == [b"box", b"PONG", b"t"]  # replies that name no bytes go out unchanged
    assert failed == [p.path] and d.alive
    d.close(5)
    storage.close()
    ctx.term()
