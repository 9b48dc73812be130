"""Finished objects in an S3-compatible store (`edge-center serve --s3 URL`).

URL: `http(s)://HOST:PORT/BUCKET[/PREFIX]` (path-style, as SeaweedFS, MinIO
and Ceph serve it). Credentials come from boto3's usual chain
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws, …).

Partial uploads still live on the center's local disk; only a verified,
whole asset is uploaded, as `PREFIX/objects/<sha256>`. An S3 PUT that
returned is durable, so the index row is committed (and the box
acknowledged) only after put() returned and a HEAD confirmed the size.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from cloud_sync.center import CenterError


class S3Objects:
    def __init__(self, url: str) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise CenterError("--s3 needs boto3", "pip install boto3") from None
        u = urlsplit(url)
        bucket, _, prefix = u.path.strip("/").partition("/")
        if u.scheme not in ("http", "https") or not u.netloc or not bucket:
            raise CenterError(f"not an S3 URL: {url!r}", "use http(s)://HOST:PORT/BUCKET[/PREFIX]")
        self.url, self.bucket = url, bucket
        self.prefix = (prefix.strip("/") + "/") if prefix.strip("/") else ""
        self._s3 = boto3.client(
            "s3", endpoint_url=f"{u.scheme}://{u.netloc}", region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                          connect_timeout=5, read_timeout=60),
        )
        self._errors = self._s3.exceptions
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise CenterError(f"cannot use bucket {self.bucket} at {self.url}: {e}",
                                  "check the URL and the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY credentials") from None
            self._s3.create_bucket(Bucket=self.bucket)
        except BotoCoreError as e:
            raise CenterError(f"cannot reach the object store at {self.url}: {e}", "check that it is running") from None

    def key(self, sha256: str) -> str:
        return f"{self.prefix}objects/{sha256}"

    def has(self, sha256: str, size: int) -> bool:
        from botocore.exceptions import ClientError

        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return int(head["ContentLength"]) == size

    def put(self, partial_path: Path, sha256: str) -> None:
        size = partial_path.stat().st_size
        if not self.has(sha256, size):
            self._s3.upload_file(str(partial_path), self.bucket, self.key(sha256))
            if not self.has(sha256, size):
                raise OSError(f"object store lost {self.key(sha256)} right after storing it")
        partial_path.unlink()

    def read(self, sha256: str) -> bytes:
        return bytes(self._s3.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"].read())

    def copy_to(self, sha256: str, dest: Path) -> None:
        self._s3.download_file(self.bucket, self.key(sha256), str(dest))
