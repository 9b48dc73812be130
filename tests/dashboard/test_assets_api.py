"""Assets: content is served only from the store (no path tricks reach other files), uploads are
capped, typed by their bytes, and stored; search covers names, tags and captions."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from edge.config import BoxConfig
from edge.dashboard.app import create_app
from edge.events import CaptionEvent
from tests.dashboard.conftest import PASSWORD, Usage, build_box, png_bytes

PASSWD = "/etc/passwd"
MiB = 1 << 20


def _upload(client: TestClient, content: bytes, name: str = "photo.png", **fields: str):
    return client.post("/api/uploads", files={"file": (name, content, "application/octet-stream")}, data=fields)


def _nothing_stored(box) -> bool:
    leftovers = list((box.store.root / "uploads.tmp").glob("*")) if (box.store.root / "uploads.tmp").exists() else []
    return box.store.count() == 0 and leftovers == []


# -- content is only ever an asset's own bytes -----------------------------------


@pytest.mark.parametrize("url", [
    "/api/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd/content",
    "/api/assets/%2Fetc%2Fpasswd/content",
    "/api/assets/..%252F..%252Fetc%252Fpasswd/content",
    "/api/assets/%2E%2E/content",
    "/api/assets/....%2F%2Fetc%2Fpasswd/content",
    "/api/assets/0123456789abcdef0123456789/content",  # shaped like an id, but no such asset
    "/api/assets/ZZZ/content",
])
def test_paths_that_are_not_asset_ids_are_404(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "root:" not in response.text


def test_a_symlink_planted_in_the_blob_dir_is_never_followed(client, box):
    asset = box.store.add_bytes(b"harmless bytes", kind="upload", name="a.txt", mime="text/plain")
    blob = box.store.blobs.root / asset.sha256[:2] / asset.sha256[2:4] / asset.sha256
    blob.unlink()
    os.symlink(PASSWD, blob)
    response = client.get(f"/api/assets/{asset.id}/content")
    assert response.status_code == 404
    assert "root:" not in response.text
    assert client.get(f"/assets/{asset.id}").status_code == 200  # the page still opens, without the file


def test_content_has_type_safe_name_and_nosniff(client, box):
    asset = box.store.add_bytes(b"WEBVTT\n\n", kind="caption_track", name='cam1 "day"\r\n/../x.vtt', mime="text/vtt")
    response = client.get(f"/api/assets/{asset.id}/content")
    assert response.status_code == 200
    assert response.content == b"WEBVTT\n\n"
    assert response.headers["content-type"].startswith("text/vtt")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == 'inline; filename="x.vtt"'
    assert "sandbox" in response.headers["content-security-policy"]
    download = client.get(f"/api/assets/{asset.id}/content?download=1")
    assert download.headers["content-disposition"].startswith("attachment;")


def test_types_that_could_run_script_are_always_downloads(client, box):
    asset = box.store.add_bytes(b"<script>alert(1)</script>", kind="note", name="x.html", mime="text/html")
    response = client.get(f"/api/assets/{asset.id}/content")
    assert response.headers["content-disposition"].startswith("attachment;")


# -- uploads ------------------------------------------------------------------------


def test_upload_a_photo_then_fetch_it(client, box):
    png = png_bytes()
    response = _upload(client, png, name="IMG_0001.png", tags="fire, harbour", note="north side")
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["kind"] == "upload" and asset["mime"] == "image/png" and asset["name"] == "IMG_0001.png"
    assert asset["tags"] == ["fire", "harbour"]
    assert asset["meta"]["note"] == "north side" and asset["meta"]["uploaded_by"] == "admin"
    content = client.get(f"/api/assets/{asset['id']}/content")
    assert content.status_code == 200 and content.content == png
    assert content.headers["content-type"] == "image/png"
    assert client.get(f"/api/assets/{asset['id']}").json()["sha256"] == asset["sha256"]
    assert list((box.store.root / "uploads.tmp").iterdir()) == []  # the temp copy is gone


def test_the_type_comes_from_the_bytes_not_the_name(client):
    asset = _upload(client, png_bytes(), name="holiday.jpg").json()
    assert asset["mime"] == "image/png"
    assert asset["name"] == "holiday.png"


def test_unsupported_types_are_415_naming_what_is_allowed(client, box):
    response = _upload(client, b"MZ\x90\x00" + bytes(range(256)) * 40, name="tool.png")
    assert response.status_code == 415
    assert "JPEG, PNG" in response.json()["detail"]
    assert _nothing_stored(box)


def test_text_is_only_accepted_as_a_note(client, box):
    assert _upload(client, b"Mayor to speak at 3pm.\n", name="n.txt").status_code == 415
    note = _upload(client, b"Mayor to speak at 3pm.\n", name="n.txt", kind="note")
    assert note.status_code == 201
    assert note.json()["kind"] == "note" and note.json()["mime"] == "text/plain"


def test_a_note_without_a_file(client):
    # As a browser's FormData sends it: multipart, with no file part ((None, ...) is a plain field).
    response = client.post("/api/uploads", files={"kind": (None, "note"), "note": (None, "Crowd at the bridge.")})
    assert response.status_code == 201, response.text
    asset = response.json()
    assert asset["kind"] == "note" and asset["name"].startswith("note-")
    assert client.get(f"/api/assets/{asset['id']}/content").text == "Crowd at the bridge.\n"


def test_an_empty_file_input_counts_as_no_file(client):
    # What a plain HTML form sends when nothing was picked: a file part with an empty name and no bytes.
    response = client.post("/api/uploads", files={"file": ("", b"", "application/octet-stream"),
                                                  "kind": (None, "note"), "note": (None, "Just a note.")})
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "note"


def test_an_empty_upload_is_422(client):
    response = client.post("/api/uploads", files={"tags": (None, "x")})
    assert response.status_code == 422
    assert "attach a file" in response.json()["detail"]
    assert client.post("/api/uploads", data={"note": "not multipart"}).status_code == 422


def test_oversized_uploads_are_413_and_nothing_is_stored(tmp_path, no_models):
    box = build_box(tmp_path, no_models, BoxConfig(dashboard={"max_upload_mb": 1}))
    try:
        client = TestClient(create_app(box, admin_password=PASSWORD))
        client.post("/api/login", json={"username": "admin", "password": PASSWORD})
        head = png_bytes()
        # Declared far too large: refused before reading the body.
        assert _upload(client, head + b"\0" * (3 * MiB)).status_code == 413
        # Just over the limit: cut off while streaming, as soon as the count passes it.
        response = _upload(client, head + b"\0" * (MiB + 10 - len(head)))
        assert response.status_code == 413
        assert "1 MB" in response.json()["detail"]
        assert _nothing_stored(box)
        assert _upload(client, head + b"\0" * (MiB - 100 - len(head))).status_code == 201  # at the limit: fine
    finally:
        box.close()


def test_a_full_disk_is_507_with_the_fix(tmp_path, no_models):
    reserve = 1 * MiB
    config = BoxConfig(store={"reserve_mb": 1, "disk_floor_mb": 16})
    box = build_box(tmp_path, no_models, config, disk_usage=lambda _: Usage(10**10, 10**10, reserve + 3000))
    try:
        client = TestClient(create_app(box, admin_password=PASSWORD))
        client.post("/api/login", json={"username": "admin", "password": PASSWORD})
        big = _upload(client, png_bytes() + b"\0" * 5000)  # the temp copy alone would eat the reserve
        assert big.status_code == 507
        assert "fix:" in big.json()["detail"]
        small = client.post("/api/uploads", files={"kind": (None, "note"), "note": (None, "hi")})
        assert small.status_code == 507  # refused by the store itself
        assert "fix:" in small.json()["detail"]
        assert box.store.count() == 0
        # Every page carries the alarm while the disk is below its floor with nothing to evict.
        for page in ("/live", "/assets", "/health", "/upload"):
            assert 'id="disk-alarm"' in client.get(page).text
    finally:
        box.close()


def test_no_alarm_banner_on_a_healthy_disk(client):
    assert 'id="disk-alarm"' not in client.get("/live").text


# -- listing, search and tags ------------------------------------------------------------


def test_search_covers_tags_names_and_what_was_said(client, box):
    run = box.store.records.open_run("cam1", "rtsp://cam1/s", live=True)
    box.store.records.append_captions(run, [CaptionEvent("final", "cam1", "The bridge stays closed.", 10.0, 12.0, 0.0)])
    track = box.store.add_bytes(b"WEBVTT\n", kind="caption_track", name="cam1-captions.vtt", mime="text/vtt",
                                stream="cam1", run=run.id, start=0.0, end=60.0)
    photo = _upload(client, png_bytes(), name="p.png", tags="harbour").json()

    def ids(**params):
        return [a["id"] for a in client.get("/api/assets", params=params).json()["assets"]]

    assert ids(q="bridge") == [track.id]  # said in the run the track belongs to
    assert ids(q="HARBOUR") == [photo["id"]]
    assert ids(q="captions vtt") == [track.id]  # by the words of its name
    assert ids() == [photo["id"], track.id]  # newest first
    assert ids(kind="upload") == [photo["id"]]
    assert ids(stream="cam1") == [track.id]
    assert ids(limit=1, offset=1) == [track.id]
    assert ids(q="bridge", kind="upload") == []


def test_tags_can_be_replaced(client):
    asset = _upload(client, png_bytes()).json()
    response = client.patch(f"/api/assets/{asset['id']}", json={"tags": ["mayor", " speech ", ""]})
    assert response.status_code == 200
    assert response.json()["tags"] == ["mayor", "speech"]


def test_unknown_asset_is_404(client):
    assert client.get("/api/assets/0123456789abcdef0123456789").status_code == 404
    assert client.get("/assets/0123456789abcdef0123456789").status_code == 404
