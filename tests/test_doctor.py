"""`edge doctor`: on this machine for real, and on stand-in machines for what this one is not."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import BoxConfig
from edge.doctor import Machine, check_capture, check_clock, check_cpu, diagnose
from tests.sync.conftest import env, free_port

ROOT = Path(__file__).resolve().parents[1]


def _checks(report: dict) -> dict[str, dict]:
    return {c["check"]: c for c in report["checks"]}


def test_doctor_on_this_machine_says_what_it_is_and_recommends_its_profile(tmp_path):
    r = subprocess.run([sys.executable, "-m", "edge.cli", "doctor", "--json", "--data", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, env=env(), cwd=ROOT)
    report = json.loads(r.stdout)
    checks = _checks(report)
    assert report["recommended_profile"] == "x86-cpu"
    assert {"profile", "cpu", "gpu", "capture", "disk", "clock", "broker", "center"} <= checks.keys()
    assert checks["cpu"]["data"]["cores"] >= 1 and "avx2" in checks["cpu"]["data"]
    # The profile's models are provisioned and match their manifests' hashes (make setup does that).
    assert checks["model whisper-tiny-en"]["state"] == "ok" and checks["model silero-vad"]["state"] == "ok"
    assert all(len(h) == 64 for h in checks["model silero-vad"]["data"]["files"].values())
    assert checks["center"]["state"] == "info" and "edge init" in checks["center"]["fix"]
    assert r.returncode == (0 if report["ok"] else 1)
    for c in report["checks"]:
        assert c["state"] in ("ok", "info") or c["fix"], c  # every problem comes with its fix


def _jetson(tmp_path: Path, model: str, nvpmodel_mode: int) -> Machine:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text("# R36\n")
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_text(model + "\0")
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n")
    outputs = {"nvpmodel": f"NV Power Mode: 7W\n{nvpmodel_mode}\n"}
    return Machine(root=tmp_path, run=lambda argv: outputs.get(argv[0]))


def test_a_jetson_in_the_wrong_power_mode_is_told_how_to_set_it(tmp_path):
    config = BoxConfig.model_validate({"sensors": {"broker": {"port": free_port()}}})
    report = diagnose(tmp_path / "data", config, None, _jetson(tmp_path, "NVIDIA Jetson Orin Nano Developer Kit", 1))
    profile = _checks(report)["profile"]
    assert report["recommended_profile"] == "jetson-orin-nano"
    assert profile["state"] == "warn" and profile["fix"] == "sudo nvpmodel -m 0 && sudo jetson_clocks"
    broker = _checks(report)["broker"]
    assert broker["state"] == "warn" and "edge-box-broker" in broker["fix"]


def test_a_profile_that_does_not_fit_the_hardware_is_named(tmp_path):
    report = diagnose(tmp_path, BoxConfig(), "jetson-agx-orin")
    profile = _checks(report)["profile"]
    assert profile["state"] == "warn" and "--profile x86-cpu" in profile["fix"]


def test_an_x86_cpu_without_avx2_is_a_warning_with_a_reason(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("model name\t: Old Atom\nflags\t\t: fpu sse sse2 ssse3\n")
    finding = check_cpu(Machine(root=tmp_path))
    if finding.data["arch"] != "x86_64":
        pytest.skip("the AVX2 rule is for x86-64 machines")
    assert finding.state == "warn" and "AVX2" in finding.fix and finding.data["avx2"] is False


def test_capture_devices_and_sound_cards_are_listed(tmp_path):
    cam = tmp_path / "sys/class/video4linux/video0"
    cam.mkdir(parents=True)
    (cam / "name").write_text("HD Pro Webcam C920\n")
    (tmp_path / "proc/asound").mkdir(parents=True)
    (tmp_path / "proc/asound/cards").write_text(" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n"
                                                "                      HDA Intel PCH at 0xf7f00000\n")
    finding = check_capture(Machine(root=tmp_path))
    assert finding.state == "ok"
    assert finding.data["cameras"] == ["/dev/video0 (HD Pro Webcam C920)"] and len(finding.data["audio_cards"]) == 1


def test_an_unsynchronised_clock_is_a_warning_with_the_command_to_fix_it(tmp_path):
    m = Machine(root=tmp_path, run=lambda argv: "no\n" if argv[0] == "timedatectl" else None)
    finding = check_clock(m)
    assert finding.state == "warn" and "timedatectl set-ntp true" in finding.fix


def test_a_full_disk_missing_models_and_an_unreachable_broker_fail_with_their_fixes(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    for manifest in (ROOT / "models").glob("*.yaml"):
        shutil.copy(manifest, models)  # manifests without their weights
    monkeypatch.setenv("EDGE_MODELS_DIR", str(models))
    config = BoxConfig.model_validate({"store": {"disk_floor_mb": 1 << 40},
                                       "sensors": {"mqtt": f"mqtt://127.0.0.1:{free_port()}"}})
    report = diagnose(tmp_path, config, "x86-cpu")
    checks = _checks(report)
    assert report["ok"] is False
    assert checks["disk"]["state"] == "fail" and "disk_floor_mb" in checks["disk"]["fix"]
    assert checks["model whisper-tiny-en"]["state"] == "fail"
    assert checks["model whisper-tiny-en"]["fix"].startswith("run `edge models provision`")
    assert checks["broker"]["state"] == "fail" and "does not answer" in checks["broker"]["detail"]
