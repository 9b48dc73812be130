"""Sync benchmark: how close to raw ZeroMQ is our transfer, how fast does a backlog drain, MQTT rate.

    python -m bench.sync                    # about a minute
    python -m bench.sync --size-mb 50       # smaller throughput test

Rows:
- throughput: one asset box -> center over loopback, our protocol (CurveZMQ,
  per-chunk sha256, whole-asset sha256, fsynced acks, index commit) against
  a raw pyzmq chunked copy of the same bytes (plain TCP, same chunk size and
  credit window, receiver writes to a file and acks every chunk, no fsync),
  and against the same raw copy doing the work our protocol must do
  (CURVE, both digests, fsync every MiB) but none of the protocol. All
  receivers run in their own process, the senders in this one.
- backlog: N assets queued while the center is down; time from the center
  coming up until the outbox is empty.
- MQTT: QoS 1 notices per second through mosquitto on loopback, raw paho
  (publish, wait for every PUBACK) and through the box's durable notice queue.
- slow uplinks: one asset through a throttling TCP proxy (tests/sync/throttle.py)
  at 64, 256, 1000 kbit/s and 10 Mbit/s with the default SyncConfig; the
  asset is sized for about --throttle-seconds at the ideal rate. Efficiency
  is the ideal time (asset bytes at the link rate, no overhead) over the
  time from the start of the sync until the outbox is empty, so CURVE and
  protocol overhead, the OFFER/COMMIT round trips and the ramp-up from small
  chunks all count against it.

    python -m bench.sync --throttled-only   # just the slow-uplink rows (about 2 minutes)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

from cloud_sync.boxfiles import BoxFiles
from cloud_sync.center.server import CenterPaths
from cloud_sync.config import SyncConfig
from cloud_sync.outbox import Outbox
from cloud_sync.syncer import Syncer
from edge.store import AssetStore

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


# -- raw pyzmq baseline ------------------------------------------------------------------


def raw_receiver(endpoint: str, dest: str, server_secret: str = "") -> None:
    """ROUTER that appends every chunk to `dest` and acks it: the guide's file transfer, plus a write.

    With a CURVE secret it also does the work our protocol must do, without
    the protocol: decrypt, check each chunk's sha256, hash the whole file,
    fsync every MiB. That isolates what our own code costs.
    """
    full = bool(server_secret)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    if full:
        sock.curve_server = True
        sock.curve_secretkey = server_secret.encode()
        sock.curve_publickey = zmq.curve_public(server_secret.encode())
    sock.bind(endpoint)
    whole = hashlib.sha256()
    n = 0
    with open(dest, "wb") as f:
        while True:
            ident, cmd, *rest = sock.recv_multipart(copy=False)
            if cmd.bytes == b"END":
                sock.send_multipart([ident, b"BYE"])
                break
            data = rest[0].buffer
            if full:
                assert hashlib.sha256(data).hexdigest().encode() == rest[2].bytes
                whole.update(data)
            f.write(data)
            n += 1
            if full and n % 4 == 0:
                f.flush()
                os.fsync(f.fileno())
            sock.send_multipart([ident, b"ACK", rest[1].bytes])
    sock.close(0)
    ctx.term()


def raw_copy(path: Path, workdir: Path, chunk: int, window: int, full: bool = False) -> float:
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    server_public, server_secret = zmq.curve_keypair()
    rx = subprocess.Popen([sys.executable, "-m", "bench.sync", "--raw-receiver", endpoint, str(workdir / "raw.out"),
                           server_secret.decode() if full else ""], env=_env(), cwd=ROOT)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    if full:
        sock.curve_serverkey = server_public
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    sock.connect(endpoint)
    time.sleep(0.5)  # let the receiver bind
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    t0 = time.perf_counter()
    pos, outstanding, acked = 0, 0, 0
    while acked < size:
        while outstanding < window and pos < size:
            data = os.pread(fd, min(chunk, size - pos), pos)
            digest = hashlib.sha256(data).hexdigest().encode() if full else b""
            sock.send_multipart([b"CHUNK", data, b"%d" % (pos + len(data)), digest], copy=False)
            pos += len(data)
            outstanding += 1
        _, end = sock.recv_multipart()
        outstanding -= 1
        acked = max(acked, int(end))
    sock.send_multipart([b"END"])
    sock.recv_multipart()
    elapsed = time.perf_counter() - t0
    os.close(fd)
    sock.close(0)
    ctx.term()
    rx.wait(10)
    return elapsed


# -- our sync ------------------------------------------------------------------------


class Center:
    def __init__(self, data: Path, endpoint: str) -> None:
        self.data, self.endpoint = data, endpoint
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloud_sync.center.cli", "serve", "--data", str(self.data), "--bind", self.endpoint],
            env=_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        while "serving on" not in (line := self.proc.stderr.readline()):
            if not line:
                raise RuntimeError("center did not start")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep its pipe drained

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(20)


def new_pair(workdir: Path, name: str) -> tuple[Center, BoxFiles]:
    cdir = workdir / f"{name}-center"
    shutil.rmtree(cdir, ignore_errors=True)
    CenterPaths(cdir).init()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    files = BoxFiles(workdir / f"{name}-box")
    shutil.rmtree(files.root, ignore_errors=True)
    public = files.init(name)
    shutil.copyfile(public, CenterPaths(cdir).allowed / f"{name}.key")
    files.pair(endpoint, CenterPaths(cdir).public_key)
    return Center(cdir, endpoint), files


def our_copy(path: Path, workdir: Path, config: SyncConfig, run: int) -> float:
    center, files = new_pair(workdir, f"tp{run}")
    center.start()
    try:
        with AssetStore(files.store) as store:
            store.add_file(path, kind="media")
            syncer = Syncer(store, files.root, config)
            syncer.client.ping(10)  # connect and handshake outside the timing, as the raw copy does
            t0 = time.perf_counter()
            assert syncer.run(until_drained=True, timeout=300)
            elapsed = time.perf_counter() - t0
            syncer.close()
        return elapsed
    finally:
        center.stop()


THROTTLE_KBITS = (64, 256, 1000, 10_000)


def throttled(workdir: Path, kbit_s: int, seconds: float) -> tuple[int, float, float, int]:
    """(asset bytes, ideal s, measured s, chunk bytes sent) for one asset through a throttled uplink."""
    from tests.sync.throttle import ThrottledProxy

    center, files = new_pair(workdir, f"slow{kbit_s}")
    size = int(kbit_s * 1000 / 8 * seconds)
    center.start()
    proxy = ThrottledProxy(int(center.endpoint.rsplit(":", 1)[1]), kbit_s).start()
    try:
        files.pair(proxy.endpoint, CenterPaths(center.data).public_key)
        with AssetStore(files.store) as store:
            store.add_bytes(os.urandom(size), kind="media", name=f"slow-{kbit_s}")
            syncer = Syncer(store, files.root, SyncConfig())
            t0 = time.perf_counter()
            assert syncer.run(until_drained=True, timeout=seconds * 6 + 60), f"{kbit_s} kbit/s did not finish"
            elapsed = time.perf_counter() - t0
            syncer.close()
        return size, size * 8 / (kbit_s * 1000), elapsed, proxy.uplink_bytes
    finally:
        proxy.stop()
        center.stop()


def print_throttled(workdir: Path, seconds: float) -> None:
    print(f"\nslow uplinks (throttling proxy, default SyncConfig: adaptive chunks up to 256 KiB x 16)\n")
    print("| uplink | asset | ideal | measured | efficiency | uplink bytes / asset bytes |\n|---|---|---|---|---|---|")
    for kbit in THROTTLE_KBITS:
        size, ideal, took, wire = throttled(workdir, kbit, seconds)
        rate = f"{kbit / 1000:g} Mbit/s" if kbit >= 10_000 else f"{kbit} kbit/s"
        print(f"| {rate} | {size / 1024:.0f} KiB | {ideal:.1f} s | {took:.1f} s | {ideal / took:.0%} | "
              f"{wire / size:.3f} |", flush=True)


def backlog(workdir: Path, count: int, total_mb: int, config: SyncConfig) -> tuple[float, int]:
    import random

    rng = random.Random(7)
    center, files = new_pair(workdir, "backlog")
    weights = [rng.random() ** 3 for _ in range(count)]
    sizes = [max(1024, int(w / sum(weights) * total_mb * MiB)) for w in weights]
    with AssetStore(files.store) as store:
        store.add_many({"data": rng.randbytes(s), "kind": "media", "name": f"a{i}"} for i, s in enumerate(sizes))
        syncer = Syncer(store, files.root, config)
        syncer.start()  # link down: the center is not there yet
        time.sleep(1.0)
        t0 = time.perf_counter()
        center.start()
        while store.pending_sync():
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        syncer.close()
    center.stop()
    return elapsed, sum(sizes)


# -- MQTT ------------------------------------------------------------------------------


def mqtt_rates(workdir: Path, n: int) -> tuple[float, float] | None:
    import paho.mqtt.client as mqtt

    from cloud_sync.mqtt_link import MqttLink

    mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosq).exists():
        return None
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n")
    broker = subprocess.Popen([mosq, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(20)
        client.connect("127.0.0.1", port)
        client.loop_start()
        payload = b"x" * 200
        t0 = time.perf_counter()
        infos = [client.publish("bench/raw", payload, qos=1) for _ in range(n)]
        for info in infos:
            info.wait_for_publish(30)
        raw = n / (time.perf_counter() - t0)
        client.disconnect()
        client.loop_stop()

        outbox = Outbox(workdir / "mqtt-outbox.sqlite", SyncConfig())
        link = MqttLink(f"mqtt://127.0.0.1:{port}", "bench", outbox)
        link.start()
        while not link.connected:
            time.sleep(0.05)
        t0 = time.perf_counter()
        for i in range(n):
            link.notify("assets", {"event": "bench", "n": i})
        while link.pending():
            link.pump()
            time.sleep(0.001)
        durable = n / (time.perf_counter() - t0)
        link.stop()
        outbox.close()
        return raw, durable
    finally:
        broker.terminate()
        broker.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=100, help="size of the throughput test asset")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backlog-assets", type=int, default=200)
    p.add_argument("--backlog-mb", type=int, default=100)
    p.add_argument("--mqtt-messages", type=int, default=5000)
    p.add_argument("--dir", type=Path, default=OUT, help="where the test files go (a real disk: fsync must cost)")
    p.add_argument("--throttle-seconds", type=float, default=15.0,
                   help="slow-uplink rows: size each asset for this many seconds at the ideal rate")
    p.add_argument("--throttled-only", action="store_true", help="only the slow-uplink rows")
    p.add_argument("--raw-receiver", nargs=3, metavar=("ENDPOINT", "DEST", "SECRET"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.raw_receiver:
        raw_receiver(*args.raw_receiver)
        return 0

    args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="sync-bench-", dir=args.dir))
    config = SyncConfig()
    if args.throttled_only:
        try:
            print_throttled(workdir, args.throttle_seconds)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    try:
        src = workdir / "asset.bin"
        with open(src, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(MiB))
        size = src.stat().st_size
        raw = [raw_copy(src, workdir, config.chunk_size, config.window) for _ in range(args.runs)]
        same = [raw_copy(src, workdir, config.chunk_size, config.window, full=True) for _ in range(args.runs)]
        ours = [our_copy(src, workdir, config, i) for i in range(args.runs)]
        raw_mbs, our_mbs, same_mbs = size / MiB / min(raw), size / MiB / min(ours), size / MiB / min(same)
        drain_s, drain_bytes = backlog(workdir, args.backlog_assets, args.backlog_mb, config)
        mqtt = mqtt_rates(workdir, args.mqtt_messages)

        chunk = f"{config.chunk_size // 1024} KiB x {config.window}"
        print(f"\nsync benchmark ({os.cpu_count()} cores, loopback, best of {args.runs}, chunk {chunk})\n")
        print("| measurement | value |\n|---|---|")
        print(f"| raw pyzmq chunked copy, {args.size_mb} MiB | {raw_mbs:.0f} MiB/s |")
        print(f"| raw pyzmq copy doing the same work (CURVE, sha256 per chunk + whole, fsync per MiB) "
              f"| {same_mbs:.0f} MiB/s |")
        print(f"| our sync (CURVE, sha256 per chunk + whole, fsynced acks, index), {args.size_mb} MiB | {our_mbs:.0f} MiB/s "
              f"({our_mbs / raw_mbs:.0%} of raw, {our_mbs / same_mbs:.0%} of raw doing the same work) |")
        print(f"| backlog drain after the center comes back: {args.backlog_assets} assets, "
              f"{drain_bytes / MiB:.0f} MiB | {drain_s:.1f} s ({drain_bytes / MiB / drain_s:.0f} MiB/s, "
              f"{args.backlog_assets / drain_s:.0f} assets/s) |")
        if mqtt:
            print(f"| MQTT QoS 1, paho publish + PUBACK, 200 B | {mqtt[0]:.0f} msg/s |")
            print(f"| MQTT QoS 1 through the durable notice queue (SQLite + PUBACK) | {mqtt[1]:.0f} msg/s |")
        else:
            print("| MQTT | skipped: mosquitto not installed |")
        print_throttled(workdir, args.throttle_seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
