"""A box's sync files under its data directory, and the pairing they record.

    BDIR/box.json                  {"box_id", "center", "center_key"}
    BDIR/keys/box.key(_secret)     the box's CURVE keypair (secret 0600)
    BDIR/keys/center.key           copy of the center's public key, from `edge pair`
    BDIR/store/                    the AssetStore
    BDIR/sync/outbox.sqlite        the outbox (cloud_sync.outbox)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cloud_sync import keys
from edge.durable import atomic_replace
from edge.errors import EdgeError
from edge.ids import BOX_ID


class NotPaired(EdgeError):
    """The box has no center to sync to yet."""


@dataclass(frozen=True)
class BoxFiles:
    root: Path

    @property
    def settings(self) -> Path:
        return self.root / "box.json"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def public_key(self) -> Path:
        return self.keys / "box.key"

    @property
    def secret_key(self) -> Path:
        return self.keys / "box.key_secret"

    @property
    def center_key(self) -> Path:
        return self.keys / "center.key"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def outbox(self) -> Path:
        return self.root / "sync" / "outbox.sqlite"

    def read(self) -> dict:
        try:
            return json.loads(self.settings.read_text())
        except FileNotFoundError:
            raise EdgeError(f"{self.root} is not a box data directory (no box.json)",
                            f"run `edge init --data {self.root} --box-id NAME` first") from None

    def write(self, settings: dict) -> None:
        atomic_replace(self.settings, (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode())

    def init(self, box_id: str) -> Path:
        """Create (or keep) the box id and keys; returns the public key file to hand to the center."""
        if not BOX_ID.fullmatch(box_id):
            raise EdgeError(f"box id {box_id!r} is not usable in topic and file names",
                            "use letters, digits, '.', '_' or '-' (at most 64)")
        self.root.mkdir(parents=True, exist_ok=True)
        settings = json.loads(self.settings.read_text()) if self.settings.exists() else {}
        if settings.get("box_id") not in (None, box_id):
            raise EdgeError(f"{self.root} already belongs to box {settings['box_id']!r}",
                            "keep that id, or use another data directory")
        public, _ = keys.create_keypair(self.keys, "box", {"box-id": box_id})
        if keys.metadata(public).get("box-id") != box_id:
            raise EdgeError(f"{public} was made for another box id", "remove the keys directory to make new keys")
        settings["box_id"] = box_id
        self.write(settings)
        return public

    def pair(self, center: str, center_key: Path) -> None:
        settings = self.read()
        keys.load_public(center_key)  # refuse a file that is not a key before copying it
        atomic_replace(self.center_key, center_key.read_bytes())
        settings.update(center=center, center_key=self.center_key.name)
        self.write(settings)

    def pairing(self) -> tuple[str, str, bytes, bytes, bytes]:
        """(box_id, center endpoint, center public, box public, box secret) or NotPaired."""
        settings = self.read()
        if not settings.get("center") or not self.center_key.exists():
            raise NotPaired(f"box {settings.get('box_id')} is not paired with a center",
                            f"run `edge pair --data {self.root} --center tcp://HOST:PORT --center-key center.key`")
        box_public, box_secret = keys.load_pair(self.secret_key)
        return settings["box_id"], settings["center"], keys.load_public(self.center_key), box_public, box_secret
