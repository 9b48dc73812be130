"""The box's own Mosquitto: configuration files from the box config, and starting it when nothing listens.

    <data>/broker/mosquitto.conf     from broker_conf/mosquitto.conf (+ lan-listener.conf when sensors.broker.lan)
    <data>/broker/db/                persistence (owned by the mosquitto user when we run as root)
    <data>/broker/passwd, acl        the LAN listener's devices (mosquitto 2 password hashes, one ACL block each)
    <data>/broker/devices/<id>.env   EDGE_MQTT_USERNAME / EDGE_MQTT_PASSWORD to configure on that device (0600)

Passwords are made once and kept (re-running adds new devices); hashes are
written with the center's broker helper (cloud_sync/center/broker.py), the
same mosquitto 2 format. Under systemd, edge-box-broker.service runs
`edge broker --write-only` then mosquitto on these files, and `edge run`
finds the port taken and uses that broker instead of starting one.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cloud_sync.center.broker import hash_password, read_password
from edge.config import BrokerSettings
from edge.durable import atomic_replace
from edge.errors import EdgeError
from edge.ingest.sensors import DEVICE_ID, TOPIC_ROOT

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "broker_conf"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
BROKER_USER = "mosquitto"  # Debian's mosquitto drops to this user when started as root


def broker_dir(data_dir: Path) -> Path:
    return data_dir / "broker"


def listening(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def write_config(data_dir: Path, settings: BrokerSettings) -> Path:
    """Write mosquitto.conf (and the LAN listener's password and ACL files); returns the conf path."""
    root = broker_dir(data_dir)
    db = root / "db"
    db.mkdir(parents=True, exist_ok=True)
    lan = ""
    if settings.lan is not None:
        devices = sorted(set(settings.lan.devices))
        for device in devices:
            if not DEVICE_ID.fullmatch(device):
                raise EdgeError(f"sensors.broker.lan.devices: {device!r} is not a device id",
                                "use letters, digits, '-' and '_' (up to 48), starting with a letter or digit")
        (root / "devices").mkdir(exist_ok=True)
        lines, acl = [], ["# Written by the edge box: each device writes its own readings and reads its own answers.\n"]
        for device in devices:
            env = root / "devices" / f"{device}.env"
            password = read_password(env) or secrets.token_urlsafe(18)
            atomic_replace(env, f"EDGE_MQTT_USERNAME={device}\nEDGE_MQTT_PASSWORD={password}\n".encode(), mode=0o600)
            lines.append(f"{device}:{hash_password(password)}\n")
            acl.append(f"user {device}\ntopic write {TOPIC_ROOT}/{device}/+\ntopic read {TOPIC_ROOT}/{device}/errors\n\n")
        atomic_replace(root / "passwd", "".join(lines).encode(), mode=0o640)
        atomic_replace(root / "acl", "".join(acl).encode(), mode=0o644)
        lan = (TEMPLATES / "lan-listener.conf").read_text().format(
            lan_port=settings.lan.port, lan_host=settings.lan.host, passwd=root / "passwd", acl=root / "acl")
    user = ""
    if os.geteuid() == 0 and not _reachable_by_broker_user(root):
        # Started as root, mosquitto reads its password file and writes persistence as its own user:
        # a data directory only root can enter (e.g. under /root) would leave it blind. Say so, stay root.
        log.warning("%s is not reachable by the %s user: the broker keeps running as root", root, BROKER_USER)
        user = f"# {root} is not reachable by the {BROKER_USER} user, so the broker stays root\nuser root"
    text = (TEMPLATES / "mosquitto.conf").read_text().format(persistence=db, port=settings.port, lan=lan, user=user)
    conf = root / "mosquitto.conf"
    atomic_replace(conf, text.encode(), mode=0o644)
    _give_to_broker_user(root, db)
    return conf


def _reachable_by_broker_user(path: Path) -> bool:
    try:
        user = pwd.getpwnam(BROKER_USER)
    except KeyError:
        return True  # no such user: mosquitto will not drop privileges at all
    for p in (path, *path.parents):
        st = p.stat()
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def _give_to_broker_user(root: Path, db: Path) -> None:
    """As root, mosquitto drops to its own user: its persistence directory and password file must be its own."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam(BROKER_USER)
    except KeyError:
        return
    for path in (db, *db.iterdir()):
        os.chown(path, user.pw_uid, user.pw_gid)
    for name in ("passwd", "acl"):
        if (root / name).exists():
            os.chown(root / name, 0, user.pw_gid)


_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "TERM"] if _SETPRIV else []


class LocalBroker:
    """Starts the box's Mosquitto unless something already listens on its port; stops only what it started."""

    def __init__(self, data_dir: Path, settings: BrokerSettings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.settings.port}"

    def ensure_running(self, timeout: float = 10.0) -> str:
        """Returns a line saying what happened; EdgeError with mosquitto's own words if it cannot start."""
        if listening(self.settings.port):
            return f"broker: using the one already on 127.0.0.1:{self.settings.port}"
        if not Path(MOSQUITTO).exists():
            raise EdgeError("mosquitto is not installed, so sensors have no broker",
                            "install it (apt-get install mosquitto, or make setup) or set sensors.enabled: false")
        try:
            conf = write_config(self.data_dir, self.settings)
        except OSError as exc:  # e.g. the service user may not write there: the broker unit's job then
            raise EdgeError(f"cannot write the broker's files in {broker_dir(self.data_dir)}: {exc}",
                            "start edge-box-broker.service, or run the box as the owner of its data directory") from None
        log_path = broker_dir(self.data_dir) / "mosquitto.log"
        with open(log_path, "ab") as log_file:
            # Its own session: Ctrl-C reaches the box, which stops it in order. setpriv's parent-death signal
            # ends it with a box killed -9, while it runs as the box's user (a broker that dropped root to
            # the mosquitto user loses that signal, outlives such a box, and the next start reuses it).
            self.proc = subprocess.Popen([*_DIE_WITH_PARENT, MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=log_file, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if listening(self.settings.port):
                lan = self.settings.lan
                return (f"broker: started mosquitto on 127.0.0.1:{self.settings.port}"
                        + (f" and {lan.host}:{lan.port} (devices: {', '.join(lan.devices) or 'none'})" if lan else ""))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise EdgeError(f"mosquitto did not start on port {self.settings.port}: {' / '.join(tail) or 'no output'}",
                        f"see {log_path}; pick another port with sensors.broker.port")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


# -- `edge broker` ---------------------------------------------------------------------


def register(sub, command) -> None:
    b = command("broker", _broker, "Write the box's Mosquitto configuration (and LAN device passwords); "
                "run it in the foreground unless --write-only.")
    b.add_argument("--data", type=Path, required=True, help="the box's data directory")
    b.add_argument("--config", type=Path, help="box configuration (YAML): sensors.broker")
    b.add_argument("--write-only", action="store_true", help="write the files and exit (systemd's ExecStartPre)")


def _broker(args: argparse.Namespace) -> int:
    from edge.config import load_config

    settings = load_config(args.config).sensors.broker
    conf = write_config(args.data, settings)
    print(conf)
    if settings.lan is not None:
        for device in settings.lan.devices:
            print(broker_dir(args.data) / "devices" / f"{device}.env")
    if args.write_only:
        return 0
    os.execv(MOSQUITTO, [MOSQUITTO, "-c", str(conf)])
    return 0  # unreachable


