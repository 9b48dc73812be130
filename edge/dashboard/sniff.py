"""What an uploaded file really is, from its first bytes, never from its name.

A phone names its files whatever it likes and a browser's Content-Type is
the client's claim; the store keeps the type we found here, so nothing is
later served with a type its bytes do not have.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 4096  # enough for every signature below


@dataclass(frozen=True, slots=True)
class FileType:
    mime: str
    extensions: tuple[str, ...]  # the first one is what a misnamed file gets

    @property
    def is_text(self) -> bool:
        return self.mime == "text/plain"


JPEG = FileType("image/jpeg", (".jpg", ".jpeg", ".jpe"))
PNG = FileType("image/png", (".png",))
WEBP = FileType("image/webp", (".webp",))
HEIC = FileType("image/heic", (".heic", ".heif"))
HEIF = FileType("image/heif", (".heif", ".heic"))
MP4 = FileType("video/mp4", (".mp4", ".m4v"))
MOV = FileType("video/quicktime", (".mov", ".qt"))
MKV = FileType("video/x-matroska", (".mkv", ".mka"))
WEBM = FileType("video/webm", (".webm",))
WAV = FileType("audio/wav", (".wav",))
MP3 = FileType("audio/mpeg", (".mp3",))
M4A = FileType("audio/mp4", (".m4a", ".m4b", ".aac"))
AAC = FileType("audio/aac", (".aac",))
TEXT = FileType("text/plain", (".txt", ".md", ".text"))

ALLOWED = "JPEG, PNG, WebP or HEIC photos; MP4/MOV, Matroska or WebM clips; WAV, MP3 or M4A/AAC audio; plain text notes"
# What a crew reads when a file is refused: what is wrong, then what to do.
NOT_ACCEPTED = ("The box cannot take this kind of file. Send a photo (JPEG, PNG, WebP or HEIC), a video "
                "(MP4, MOV, MKV or WebM), a sound recording (WAV, MP3 or M4A) or a text note.")


def text_posing_as_media(filename: str | None) -> str:
    """A text file sent as a photo or clip (often a note saved under a picture's name)."""
    name = f"“{Path(filename).name}”" if filename else "This file"
    return (f"{name} contains text, not a photo, video or sound recording, whatever its name says. "
            "To keep the text, copy it into the Note box and upload again; to send a picture, choose the "
            "picture itself.")

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
_HEIF_GENERIC = {b"mif1", b"msf1"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71", b"avc1", b"dash",
    b"M4V ", b"M4VH", b"M4VP", b"mmp4", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"MSNV", b"XAVC", b"f4v ",
}
_REFUSED_BRANDS = {b"avif", b"avis", b"crx "}  # AVIF images, Canon raw photos
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"pnot"}  # QuickTime files older than the ftyp box


def sniff(head: bytes) -> FileType | None:
    """The type of a file starting with `head` (up to HEAD_BYTES), None if it is not one we accept.

    Text is only recognised as a candidate here (no NULs, valid UTF-8 so
    far); `is_plain_text` must check the whole file before it is accepted.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska and its WebM subset
        return WEBM if b"webm" in head[:64] else MKV
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_media(head)
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return MOV
    if head.startswith(b"ID3") or _mpeg_audio_frame(head):
        return MP3
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS sync, layer 00
        return AAC
    if _looks_like_text(head):
        return TEXT
    return None


def is_plain_text(path: Path) -> bool:
    """Whole-file check for notes: UTF-8 without control characters other than whitespace."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 16):
                if not _printable(decoder.decode(chunk)):
                    return False
            return _printable(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False


def _iso_media(head: bytes) -> FileType | None:
    box_size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    end = min(box_size, len(head)) if box_size >= 16 else 16
    compatible = {head[i:i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if major in _REFUSED_BRANDS or brands & {b"avif", b"avis"}:
        return None  # same container, but not on the accepted list
    if major in _HEIF_BRANDS or (major in _HEIF_GENERIC and brands & _HEIF_BRANDS):
        return HEIC
    if major in _HEIF_GENERIC:
        return HEIF
    if major in _M4A_BRANDS:
        return M4A
    if major == b"qt  ":
        return MOV
    if major in _MP4_BRANDS or brands & _MP4_BRANDS:
        return MP4
    return None


def _mpeg_audio_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate not in (0, 0b1111) and rate != 0b11


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        # A multi-byte character may be cut at the end of the head: decode incrementally.
        text = codecs.getincrementaldecoder("utf-8")("strict").decode(head)
    except UnicodeDecodeError:
        return False
    return _printable(text)


# Control characters other than tab, newline, form feed and carriage return: binary, not a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _printable(text: str) -> bool:
    return _CONTROL.search(text) is None
