"""Uploads are typed by their first bytes: what phones and cameras write is accepted, the rest is not."""

from __future__ import annotations

import pytest

from edge.dashboard.sniff import is_plain_text, sniff
from tests.dashboard.conftest import png_bytes


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\0\0\0\x08free"


@pytest.mark.parametrize(("head", "mime"), [
    (b"\xff\xd8\xff\xe0\0\x10JFIF\0", "image/jpeg"),
    (png_bytes(), "image/png"),
    (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
    (_ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
    (_ftyp(b"mif1", b"heic"), "image/heic"),
    (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
    (_ftyp(b"mp42", b"isom"), "video/mp4"),
    (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
    (b"\0\0\0\x08wide\0\0\0\x10mdat", "video/quicktime"),
    (b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\x1f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
    (b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\x1f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
    (b"RIFF\x24\0\0\0WAVEfmt ", "audio/wav"),
    (b"ID3\x04\0\0\0\0\0\0", "audio/mpeg"),
    (b"\xff\xfb\x90\x64" + b"\0" * 20, "audio/mpeg"),  # an MPEG-1 layer III frame header
    (_ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio/mp4"),
    (b"\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"),  # ADTS
    ("Notes from the harbour: crews arrive at 6 — ok 👍\n".encode(), "text/plain"),
])
def test_accepted_types(head, mime):
    found = sniff(head)
    assert found is not None and found.mime == mime


@pytest.mark.parametrize("head", [
    b"",
    b"MZ\x90\0\x03\0\0\0",  # a Windows program
    b"\x7fELF\x02\x01\x01",  # a Linux program
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    b"PK\x03\x04\x14\0",  # zip
    b"GIF89a\x01\0",
    _ftyp(b"avif", b"avif", b"mif1"),  # AVIF rides in the HEIF container but is not on the list
    _ftyp(b"crx ", b"isom"),  # a camera raw file in an ISO box: not a clip
    b"\0\0\0\0\0\0\0\0text after nulls",
    b"\xff\xfe\x00\x00binary",
    b"ctrl\x1b[31m escape",
])
def test_refused_types(head):
    assert sniff(head) is None


def test_is_plain_text_checks_the_whole_file(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes("é".encode() * 40_000)  # multi-byte characters across read boundaries
    assert is_plain_text(good)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine at first\n" * 5000 + b"\x00\x01binary tail")
    assert sniff(bad.read_bytes()[:4096]) is not None  # the head alone looks like text...
    assert not is_plain_text(bad)  # ...the whole file does not
