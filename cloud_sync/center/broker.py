"""Credentials and ACL for the MQTT broker (mosquitto 2.x), written by `edge-center broker`.

    OUT/mosquitto.passwd      one user per box (username = box id) and the center (CENTER_USER)
    OUT/mosquitto.acl         a box may publish only under edge/<its id>/ and read nothing;
                              the center may read edge/# and publish nothing
    OUT/center-mqtt.env       EDGE_MQTT_USERNAME / EDGE_MQTT_PASSWORD for the center's unit (0600)
    OUT/box-<id>-mqtt.env     the same for each box, to copy onto that box (0600)

config/mosquitto.conf binds client ids to usernames, so no one can take
another box's session, and the ACL's %u pattern makes the topic name the
authenticated sender. Re-running keeps the passwords already in the env
files and adds new boxes. The center's username is not a valid box id, so
no box can ever be given it.

Password hashes are mosquitto 2's format ($7$: PBKDF2-SHA512, 101
iterations, 12-byte salt), so mosquitto_passwd need not be installed here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

from edge import ids
from edge.durable import atomic_replace

CENTER_USER = "_center"  # BOX_ID must start with a letter or digit: no box can be called this
ITERATIONS = 101

ACL = """# Written by `edge-center broker`. Identities are usernames (use_username_as_clientid).
# The resource center reads every box's notices and publishes nothing.
user {center}
topic read edge/#

# Every box (username = box id) publishes under its own id only, and reads nothing.
pattern write edge/%u/#
"""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _env_file(out: Path, user: str) -> Path:
    return out / ("center-mqtt.env" if user == CENTER_USER else f"box-{user}-mqtt.env")


def read_password(env: Path) -> str | None:
    """The EDGE_MQTT_PASSWORD an earlier run wrote to a credential env file (kept, so clients keep working)."""
    try:
        for line in env.read_text().splitlines():
            if line.startswith("EDGE_MQTT_PASSWORD="):
                return line.split("=", 1)[1]
    except FileNotFoundError:
        pass
    return None


def write_broker_files(out: Path, boxes: list[str]) -> list[Path]:
    for box in boxes:
        if not ids.is_match(ids.BOX_ID, box):
            raise ValueError(f"{box!r} is not a box id")
    out.mkdir(parents=True, exist_ok=True)
    users = [CENTER_USER, *sorted(set(boxes))]
    lines, written = [], []
    for user in users:
        env = _env_file(out, user)
        password = read_password(env) or secrets.token_urlsafe(24)
        atomic_replace(env, f"EDGE_MQTT_USERNAME={user}\nEDGE_MQTT_PASSWORD={password}\n".encode(), mode=0o600)
        env.chmod(0o600)
        written.append(env)
        lines.append(f"{user}:{hash_password(password)}\n")
    passwd, acl = out / "mosquitto.passwd", out / "mosquitto.acl"
    # mosquitto reads these as its own user after dropping root: readable by it, by nobody else in general.
    atomic_replace(passwd, "".join(lines).encode(), mode=0o640)
    atomic_replace(acl, ACL.format(center=CENTER_USER).encode(), mode=0o644)
    return [passwd, acl, *written]
