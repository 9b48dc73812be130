"""CurveZMQ key files, in the format `zmq.auth.create_certificates` writes and `load_certificate` reads.

We write the files ourselves instead of calling create_certificates because
it leaves the secret file world-readable for a moment (umask) and puts
metadata only into the secret file; the center needs the box id from the
*public* file a crew hands over for `edge-center allow`.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import zmq
import zmq.auth

from edge.durable import atomic_replace
from edge.errors import EdgeError

_BANNER = "#   ****  Generated {now} by edge cloud_sync  ****\n#   ZeroMQ CURVE {what} Certificate\n#   {note}\n\n"


class KeyFileError(EdgeError):
    """A key file is missing or unreadable."""


def _render(public: bytes, secret: bytes | None, metadata: dict[str, str]) -> str:
    what, note = ("**Secret**", "DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.") if secret else (
        "Public", "Exchange securely, or use a secure mechanism to verify the contents of this file after exchange.")
    lines = [_BANNER.format(now=datetime.datetime.now().isoformat(timespec="seconds"), what=what, note=note), "metadata\n"]
    lines += [f"    {k} = \"{v}\"\n" for k, v in metadata.items()]
    lines += ["curve\n", f"    public-key = \"{public.decode()}\"\n"]
    if secret:
        lines.append(f"    secret-key = \"{secret.decode()}\"\n")
    return "".join(lines)


def _write(path: Path, text: str, mode: int) -> None:
    # A temp file left by a crash keeps its old mode through O_TRUNC: start it afresh so a secret is never wider.
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    atomic_replace(path, text.encode(), mode=mode)
    os.chmod(path, mode)  # umask must not narrow what we asked for either


def create_keypair(directory: Path, name: str, metadata: dict[str, str] | None = None) -> tuple[Path, Path]:
    """`directory/name.key` (public, 0644) and `name.key_secret` (0600); kept if both already exist."""
    directory.mkdir(parents=True, exist_ok=True)
    public_file, secret_file = directory / f"{name}.key", directory / f"{name}.key_secret"
    if public_file.exists() and secret_file.exists():
        return public_file, secret_file
    public, secret = zmq.curve_keypair()
    meta = dict(metadata or {})
    _write(secret_file, _render(public, secret, meta), 0o600)
    _write(public_file, _render(public, None, meta), 0o644)
    return public_file, secret_file


def load_public(path: Path) -> bytes:
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise KeyFileError(f"cannot read the public key file {path}: {e}", "pass the .key file `init` printed") from None
    return public


def load_pair(secret_file: Path) -> tuple[bytes, bytes]:
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as e:
        raise KeyFileError(f"cannot read the secret key file {secret_file}: {e}", "run `init` again to create keys") from None
    if not secret:
        raise KeyFileError(f"{secret_file} holds no secret key", "point at the .key_secret file")
    return public, secret


def metadata(path: Path) -> dict[str, str]:
    """The `metadata` section of a certificate file (zmq's loader ignores it)."""
    out: dict[str, str] = {}
    section = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            section = line.strip()
        elif section == "metadata" and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out
