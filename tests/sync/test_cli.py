"""The exact commands crews and the newsroom type (box: edge …; center: edge-center …)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from cloud_sync.center.server import CenterPaths
from edge.store import AssetStore

from .conftest import ROOT, center_cli, edge_cli, env, free_port, wait_for

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nThe council voted on Tuesday.\n"


def _setup(tmp_path: Path, endpoint: str) -> tuple[Path, Path]:
    cdir, bdir = tmp_path / "center", tmp_path / "box"
    center_key = center_cli("init", "--data", str(cdir)).stdout.strip().splitlines()[-1]
    assert Path(center_key) == CenterPaths(cdir).public_key
    box_key = edge_cli("init", "--data", str(bdir), "--box-id", "cam1").stdout.strip().splitlines()[-1]
    assert center_cli("allow", "--data", str(cdir), box_key).returncode == 0
    edge_cli("pair", "--data", str(bdir), "--center", endpoint, "--center-key", center_key)
    return cdir, bdir


def test_init_is_safe_to_rerun_and_keeps_keys_private(tmp_path):
    bdir = tmp_path / "box"
    first = edge_cli("init", "--data", str(bdir), "--box-id", "cam1").stdout.strip().splitlines()[-1]
    secret = Path(first).with_name("box.key_secret")
    before = (Path(first).read_text(), secret.read_text())
    again = edge_cli("init", "--data", str(bdir), "--box-id", "cam1").stdout.strip().splitlines()[-1]
    assert again == first and (Path(first).read_text(), secret.read_text()) == before
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (bdir / "store").is_dir() and json.loads((bdir / "box.json").read_text())["box_id"] == "cam1"
    other = edge_cli("init", "--data", str(bdir), "--box-id", "cam2", check=False)
    assert other.returncode == 2 and "already belongs to box 'cam1'" in other.stderr


def test_sync_without_pairing_says_so_in_one_line(tmp_path):
    bdir = tmp_path / "box"
    edge_cli("init", "--data", str(bdir), "--box-id", "cam1")
    r = edge_cli("sync", "--data", str(bdir), "--until-drained", check=False)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("edge: error: box cam1 is not paired")


def test_sync_times_out_with_one_line_when_the_center_is_unreachable(tmp_path):
    _, bdir = _setup(tmp_path, f"tcp://127.0.0.1:{free_port()}")
    (tmp_path / "f").write_bytes(b"hello")
    edge_cli("assets", "add", "--data", str(bdir), str(tmp_path / "f"))
    r = edge_cli("sync", "--data", str(bdir), "--until-drained", "--timeout", "2", "--progress-every", "0",
                 check=False)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "timed out with 1 asset (" in r.stderr


def test_end_to_end_add_sync_ls_export(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cdir, bdir = _setup(tmp_path, endpoint)
    serve = subprocess.Popen([sys.executable, "-m", "cloud_sync.center.cli", "serve", "--data", str(cdir),
                              "--bind", endpoint], env=env(), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        (tmp_path / "clip.bin").write_bytes(os.urandom(700_000))
        ids = edge_cli("assets", "add", "--data", str(bdir), "--kind", "media", str(tmp_path / "clip.bin")).stdout.split()
        with AssetStore(bdir / "store") as store:
            vtt = store.add_bytes(VTT.encode(), kind="caption_track", name="main.vtt", mime="text/vtt", stream="main",
                                  start=1.0, end=3.0, provenance={"model": "whisper-tiny-en"})
            draft = store.add_bytes(json.dumps({"headline": "Council approves budget", "body": "The council voted.",
                                                "located": "Springfield"}).encode(), kind="draft", name="draft-1",
                                    stream="main", tags=["politics", "budget"], provenance={"model": "smollm2"})
        r = edge_cli("sync", "--data", str(bdir), "--until-drained", "--timeout", "30")
        assert "outbox empty" in r.stdout
        rows = [json.loads(x) for x in center_cli("ls", "--data", str(cdir), "--json").stdout.splitlines()]
        assert {r["id"] for r in rows} == {ids[0], vtt.id, draft.id}
        assert all({"box", "id", "sha256", "size", "kind"} <= set(r) and r["box"] == "cam1" for r in rows)

        out = tmp_path / "export"
        center_cli("export", "--data", str(cdir), "--out", str(out))
        manifest = json.loads((out / "manifest.json").read_text())
        by_id = {a["id"]: a for a in manifest["assets"]}
        assert by_id[vtt.id]["stream"] == "main" and (by_id[vtt.id]["start"], by_id[vtt.id]["end"]) == (1.0, 3.0)
        assert by_id[vtt.id]["provenance"] == {"model": "whisper-tiny-en"}
        assert (out / by_id[vtt.id]["file"]).read_text() == VTT
        item = json.loads((out / by_id[draft.id]["file"]).read_text())
        assert item["type"] == "text" and item["uri"].endswith(draft.id)
        assert item["headlines"] == [{"role": "main", "value": "Council approves budget"}]
        assert item["bodies"][0]["value"] == "The council voted."
        assert item["located"] == "Springfield"
        assert [s["name"] for s in item["subjects"]] == ["politics", "budget"]
        assert item["versioncreated"].endswith("Z")
    finally:
        serve.terminate()
        assert serve.wait(15) == 0  # SIGTERM stops it cleanly


def test_allow_refuses_a_second_key_under_the_same_name(tmp_path):
    cdir = tmp_path / "center"
    center_cli("init", "--data", str(cdir))
    k1 = edge_cli("init", "--data", str(tmp_path / "b1"), "--box-id", "cam1").stdout.split()[-1]
    k2 = edge_cli("init", "--data", str(tmp_path / "b2"), "--box-id", "cam1").stdout.split()[-1]
    center_cli("allow", "--data", str(cdir), k1)
    center_cli("allow", "--data", str(cdir), k1)  # same key again: fine
    r = center_cli("allow", "--data", str(cdir), k2, check=False)
    assert r.returncode == 2 and "different key is already allowed" in r.stderr


def test_serve_on_a_busy_port_fails_in_one_line(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cdir, _ = _setup(tmp_path, endpoint)
    first = subprocess.Popen([sys.executable, "-m", "cloud_sync.center.cli", "serve", "--data", str(cdir),
                              "--bind", endpoint], env=env(), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "serving on" in (first.stderr.readline() or ""), 10, what="the first center")
        r = center_cli("serve", "--data", str(cdir), "--bind", endpoint, check=False, timeout=20)
        assert r.returncode == 2 and "edge-center: error: cannot serve on" in r.stderr
    finally:
        first.terminate()
        first.wait(15)


def edge_here(capsys, *args: str) -> str:
    """An `edge` command run in this process (the same main() as the console script; no interpreter start)."""
    from edge.cli import main

    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_assets_status_is_a_table_before_a_first_sync_and_json_is_a_list(tmp_path, capsys):
    bdir = tmp_path / "box"
    edge_here(capsys, "init", "--data", str(bdir), "--box-id", "cam1")
    empty = edge_here(capsys, "assets", "status", "--data", str(bdir))
    assert empty.splitlines()[0].split() == ["kind", "pending", "synced", "evicted", "size"]
    assert "no assets stored yet" in empty and "outbox: 0 queued" in empty
    assert json.loads(edge_here(capsys, "assets", "status", "--data", str(bdir), "--json")) == []

    (tmp_path / "f").write_bytes(b"hello")
    edge_here(capsys, "assets", "add", "--data", str(bdir), "--kind", "upload", str(tmp_path / "f"))
    table = edge_here(capsys, "assets", "status", "--data", str(bdir)).splitlines()
    assert table[1].split() == ["upload", "1", "0", "0", "5", "B"]
    assert json.loads(edge_here(capsys, "assets", "status", "--data", str(bdir), "--json"))[0]["kind"] == "upload"


def test_sync_shows_progress_while_the_center_is_down_then_says_how_many_went(tmp_path, capsys):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cdir, bdir = _setup(tmp_path, endpoint)
    with AssetStore(bdir / "store") as store:
        store.add_bytes(VTT.encode(), kind="caption_track", name="main.vtt", mime="text/vtt", stream="main",
                        start=0.352, end=0.352 + 8.832)
    sync = subprocess.Popen([sys.executable, "-m", "edge.cli", "sync", "--data", str(bdir), "--until-drained",
                             "--timeout", "120", "--progress-every", "0.5"], env=env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    serve = None
    try:
        assert sync.stderr is not None
        down = [sync.stderr.readline() for _ in range(3)]  # the center is not running yet
        assert all(line.startswith("sync: sent 0 assets") and "1 pending" in line and "retrying" in line
                   for line in down), down
        # Once an attempt has failed, the asset's own record says why (never attempts: 7, last_error: null).
        def retried() -> dict | None:
            (item,) = json.loads(edge_here(capsys, "assets", "status", "--data", str(bdir), "--json"))
            return item if item["attempts"] >= 2 else None

        item = wait_for(retried, 60, interval=0.5, what="a second attempt")
        assert item["last_error"].startswith("link down: no answer from the center"), item
        serve = subprocess.Popen([sys.executable, "-m", "cloud_sync.center.cli", "serve", "--data", str(cdir),
                                  "--bind", endpoint], env=env(), cwd=ROOT, stderr=subprocess.PIPE, text=True)
        out, _ = sync.communicate(timeout=120)
    finally:
        if sync.poll() is None:
            sync.kill()
        if serve is not None:
            serve.terminate()
            serve.wait(15)
    assert sync.returncode == 0
    assert out.strip() == "synced: outbox empty; 1 asset sent (" + out.split("(", 1)[1].strip()
    assert "1 asset sent" in out
    listing = center_cli("ls", "--data", str(cdir)).stdout
    assert "0.35-9.18" in listing and "9.184000000000001" not in listing
