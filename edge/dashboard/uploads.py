"""Receive a multipart upload straight into a temp file inside the store, counting bytes.

Starlette's own form parser spools files to the system temp dir without a
size cap; on a box, /tmp may be a small RAM disk and a clip may be gigabytes.
Here the file part goes to `<store>/uploads.tmp/` (same disk as the blobs,
whose reserve the store accounts for) and the upload is cut off as soon as it
passes the limit, before the rest is read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from edge.dashboard.sniff import HEAD_BYTES

MAX_FIELD_BYTES = 64 * 1024  # a note is text typed on a phone
MAX_FIELDS = 16
FILE_FIELD = "file"


class UploadRejected(Exception):
    """The upload cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ReceivedUpload:
    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # the temp file holding the file part; the caller removes it
    filename: str | None = None
    client_type: str | None = None  # what the browser claimed; informational only
    size: int = 0

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    def __init__(self, tmp_dir: Path, max_bytes: int, check_head: Callable[[bytes], None]) -> None:
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes
        self.check_head = check_head
        self.result = ReceivedUpload()
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self._file: int | None = None  # fd of the open temp file
        self._head = bytearray()
        self._head_checked = False
        self._fields = 0

    # python-multipart callbacks; they run inside parser.write() and may raise to stop it.

    def on_part_begin(self) -> None:
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._part.headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise UploadRejected(422, "a form part has no name")
        self._part.name = options[b"name"].decode("utf-8", "replace")
        # An empty file input in a plain HTML form still sends a part, with filename="": that is no file.
        if options.get(b"filename"):
            if self._part.name != FILE_FIELD or self.result.path is not None:
                raise UploadRejected(422, f"send exactly one file, in the '{FILE_FIELD}' field")
            self._part.filename = options[b"filename"].decode("utf-8", "replace")
            self._part.content_type = self._part.headers.get(b"content-type", b"").decode("latin-1") or None
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, path = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
            self._file = fd
            self.result.path = Path(path)
            self.result.filename = self._part.filename
            self.result.client_type = self._part.content_type
        else:
            self._fields += 1
            if self._fields > MAX_FIELDS:
                raise UploadRejected(422, f"too many form fields (at most {MAX_FIELDS})")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            if len(self._part.data) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadRejected(413, f"form field '{self._part.name}' is over {MAX_FIELD_BYTES // 1024} KiB")
            self._part.data.extend(chunk)
            return
        self.result.size += len(chunk)
        if self.result.size > self.max_bytes:
            raise UploadRejected(413, _too_large(self.max_bytes))
        if not self._head_checked:
            self._head.extend(chunk[: HEAD_BYTES - len(self._head)])
            if len(self._head) >= HEAD_BYTES:
                self._check_head()
        _write_all(self._file, chunk)

    def on_part_end(self) -> None:
        if self._file is not None:
            if not self._head_checked:
                self._check_head()
            # No fsync: the store copies this into a blob and fsyncs that; this file is scratch.
            os.close(self._file)
            self._file = None
        elif self._part.name and self._part.name != FILE_FIELD:
            self.result.fields[self._part.name] = self._part.data.decode("utf-8", "replace")

    def _check_head(self) -> None:
        self._head_checked = True
        self.check_head(bytes(self._head))  # rejects junk before the rest of it is read

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None


async def receive_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    tmp_dir: Path,
    max_bytes: int,
    check_head: Callable[[bytes], None] = lambda head: None,
) -> ReceivedUpload:
    """Parse a multipart/form-data body; raises UploadRejected (and leaves no temp file) on any problem."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRejected(422, f"send multipart/form-data with a '{FILE_FIELD}' field")
    receiver = _Receiver(tmp_dir, max_bytes, check_head)
    callbacks = {name: getattr(receiver, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field",
        "on_header_value", "on_header_end", "on_headers_finished")}
    parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        receiver.close()
        receiver.result.discard()
        raise UploadRejected(400, "the upload is not valid multipart/form-data (was it cut off?)") from None
    except BaseException:
        receiver.close()
        receiver.result.discard()
        raise
    receiver.close()
    return receiver.result


def clean_temp(tmp_dir: Path) -> None:
    """Remove uploads a crash or a killed connection left behind."""
    if tmp_dir.is_dir():
        for leftover in tmp_dir.iterdir():
            if leftover.is_file() and leftover.name.startswith("upload-"):
                leftover.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _too_large(max_bytes: int) -> str:
    return f"the file is larger than this box accepts ({max_bytes // (1 << 20)} MB)"
