"""The unit files: systemd itself accepts them, they are hardened, and their command lines are ones our CLIs take."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").glob("*.service"))
ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 2.5  # `systemd-analyze security`: 0 is a locked box, 10 an unprotected one; ours measure 1.2-1.6


def _installed_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit as `make install` places it, pointing at this checkout instead of /opt/edge-box."""
    out = tmp_path / unit.name
    out.write_text(unit.read_text().replace("/opt/edge-box", str(ROOT)))
    return out


def _service(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.fixture(scope="module")
def analyze() -> str:
    if ANALYZE is None:
        pytest.fail("systemd-analyze is missing (make setup installs the systemd package)")
    return ANALYZE


def test_there_are_units_for_the_box_its_broker_and_the_center():
    assert {u.name for u in UNITS} >= {"edge-box.service", "edge-box-broker.service", "edge-center.service",
                                       "edge-broker.service"}


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_verifies_the_unit(analyze, unit, tmp_path):
    copy = _installed_copy(unit, tmp_path)
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_the_unit_is_hardened(analyze, unit, tmp_path):
    s = _service(unit)
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"] and s["PrivateTmp"] == ["yes"]
    assert s["User"][0] not in ("root", "0")
    assert len(s["ReadWritePaths"]) == 1  # one data directory, nothing else writable
    r = subprocess.run([analyze, "security", "--offline=true", str(_installed_copy(unit, tmp_path))],
                       capture_output=True, text=True, timeout=60)
    exposure = float(r.stdout.strip().splitlines()[-1].split(":")[1].split()[0])
    assert exposure <= MAX_EXPOSURE, r.stdout


def test_long_running_python_services_have_a_watchdog():
    for name in ("edge-box.service", "edge-center.service"):
        s = _service(ROOT / "systemd" / name)
        assert int(s["WatchdogSec"][0]) > 0 and s["NotifyAccess"] == ["main"], name


def test_the_box_starts_after_its_broker_and_writes_only_its_data_directory():
    box = configparser.ConfigParser(strict=False, interpolation=None)
    box.read_string((ROOT / "systemd" / "edge-box.service").read_text().replace("SystemCallFilter", "#"))
    assert "edge-box-broker.service" in box["Unit"]["After"] and "edge-box-broker.service" in box["Unit"]["Wants"]
    s = _service(ROOT / "systemd" / "edge-box.service")
    assert s["ReadWritePaths"] == ["/var/lib/edge-box"] and s["StateDirectory"] == ["edge-box"]
    assert "--data /var/lib/edge-box" in s["ExecStart"][0]


def test_the_units_command_lines_are_ones_the_clis_accept():
    from cloud_sync.center.cli import _parser as center_parser
    from edge.cli import _parser as edge_parser

    for unit in UNITS:
        for key in ("ExecStart", "ExecStartPre"):
            for line in _service(unit).get(key, []):
                argv = shlex.split(line.lstrip("+-"))
                program = Path(argv[0]).name
                if program == "edge":
                    edge_parser().parse_args(argv[1:])
                elif program == "edge-center":
                    center_parser().parse_args(argv[1:])
