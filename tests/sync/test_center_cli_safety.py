"""`edge-center` commands with hostile box-supplied values: export stays under --out, allow checks ids, ls escapes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cloud_sync import keys
from cloud_sync.center.index import Index
from cloud_sync.center.server import CenterPaths
from cloud_sync.zmq_transfer import Offer

from .conftest import center_cli, make_box
from .test_protocol import client_for

AID = "18eb4f7643ad1a1008f3db41c0"


def _old_row(cdir: Path, box: str, aid: str, kind: str, name: str, data: bytes) -> None:
    """An index row as a center that did not check offers could have stored it, with its object."""
    sha = hashlib.sha256(data).hexdigest()
    obj = CenterPaths(cdir).root / "objects" / sha[:2] / sha
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    index = Index(CenterPaths(cdir).index)
    index.store_asset("key-" + aid, box, {"asset_id": aid, "sha256": sha, "size": len(data),
                                          "meta": {"kind": kind, "name": name}})
    index.close()


def test_export_never_writes_outside_out(tmp_path):
    cdir = tmp_path / "center"
    center_cli("init", "--data", str(cdir))
    outside = tmp_path / "etc-cron.d"
    outside.mkdir()
    _old_row(cdir, "cam1", "18eb4f7643ad1a1008f3db41c1", "../../../../../../" + str(tmp_path / "x"), "n", b"one")
    _old_row(cdir, "cam1", "18eb4f7643ad1a1008f3db41c2", str(outside), "job", b"* * * * * root sh\n")
    _old_row(cdir, "..", "18eb4f7643ad1a1008f3db41c3", "media", "../../../escape", b"three")
    _old_row(cdir, "cam1", "18eb4f7643ad1a1008f3db41c4", "media", "/etc/passwd", b"four")
    out = tmp_path / "work" / "out"
    r = center_cli("export", "--data", str(cdir), "--out", str(out))
    assert "exported 2 assets" in r.stdout
    written = {p for p in tmp_path.rglob("*") if p.is_file() and cdir not in p.parents}
    assert all(out in p.parents for p in written), sorted(map(str, written))
    assert list(outside.iterdir()) == [] and not (tmp_path / "x").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(s["id"][-2:] for s in manifest["skipped"]) == ["c1", "c2"]
    assert all("unknown asset kind" in s["reason"] for s in manifest["skipped"])
    files = sorted(a["file"] for a in manifest["assets"])
    assert files == ["box/media/18eb4f7643ad1a1008f3db41c3-_.._.._escape", "cam1/media/18eb4f7643ad1a1008f3db41c4-_etc_passwd"]


def test_allow_refuses_box_ids_that_are_paths_and_says_not_allowed(tmp_path):
    cdir = tmp_path / "center"
    center_cli("init", "--data", str(cdir))
    for bad in ("../../x", str(tmp_path / "abs"), ".hidden", "a/b"):
        pub, _ = keys.create_keypair(tmp_path / "k", "box", {"box-id": bad})
        r = center_cli("allow", "--data", str(cdir), str(pub), check=False)
        assert r.returncode == 2 and "not allowed" in r.stderr and "allowed box" not in r.stdout
        pub.unlink()
        pub.with_name("box.key_secret").unlink()
    assert list((cdir / "allowed").iterdir()) == []
    assert not (tmp_path / "abs.key").exists() and not (tmp_path.parent / "x.key").exists()


def test_ls_escapes_terminal_control_sequences_from_box_supplied_names(center, tmp_path):
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    data = b"bytes"
    (tmp_path / "f").write_bytes(data)
    evil = "\x1b]0;owned\x07\x1b[2J\u202eclip"
    c = client_for(files)
    c.send_asset(Offer("cam1", AID, hashlib.sha256(data).hexdigest(), len(data), {"kind": "upload", "name": evil}),
                 tmp_path / "f")
    c.close()
    text = center_cli("ls", "--data", str(center.data)).stdout
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;owned\\x07\\x1b[2J\\u202eclip" in text
    assert json.loads(center_cli("ls", "--data", str(center.data), "--json").stdout)["name"] == evil
