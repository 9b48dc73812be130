"""Register a quantized variant of a registered ONNX model, only if it passes its task's quality gate.

The variant becomes an ordinary registry entry (models/<name>.yaml) whose
source is the base model and whose build step re-runs the same quantization
at provisioning, so a box gets it from `edge models provision` like any
other model. Its evaluation row goes to models/<name>.evidence.json; a variant
that fails the gate leaves nothing behind but the reason.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from edge import evidence
from edge.registry import Registry
from quantize.evaluate import Row, eval_embeddings
from quantize.onnx_quant import METHODS

EVALUATORS = {"embeddings": eval_embeddings}


class GateRefused(Exception):
    """The variant was built and measured, and is not good enough; the message says by how much."""


@dataclass
class Registered:
    name: str
    manifest: Path
    row: Row


def register(base: str, method: str, name: str, *, file: str = "model.onnx", registry: Registry | None = None,
             command: str = "") -> Registered:
    registry = registry or Registry()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    base_manifest = registry.manifest(base)
    if base_manifest.task not in EVALUATORS:
        raise ValueError(f"{base} is a {base_manifest.task} model: register builds ONNX variants of "
                         f"{', '.join(EVALUATORS)} models (Whisper variants are CTranslate2 compute types: "
                         "python -m quantize eval --asr)")
    base_dir = registry.provision(base_manifest).directory
    if not (base_dir / file).is_file():
        raise ValueError(f"{base} has no {file} (built files: {', '.join(p.name for p in base_dir.glob('*.onnx'))})")
    # The variant keeps the base's small files (tokenizer, config), pinned by the same hashes.
    kept = [f.model_dump(exclude_defaults=True) for f in base_manifest.files if not f.path.endswith(".safetensors")]
    doc = {"name": name, "task": base_manifest.task, "backend": base_manifest.backend,
           "precision": method, "license": base_manifest.license,
           "source": {"registry": base}, "files": kept,
           "build": {"tool": "ort-quantize", "input": file, "method": method, "outputs": [file]}}
    path = registry.root / f"{name}.yaml"
    existed = path.exists()
    path.write_text(f"# {name}: {base}/{file} quantized by {method} (python -m quantize register).\n"
                    + yaml.safe_dump(doc, sort_keys=False))
    try:
        manifest = registry.manifest(name)
        registry.provision(manifest)
        row = EVALUATORS[manifest.task](name, file, registry=registry, reference_model=base)
    except BaseException:
        if not existed:
            path.unlink(missing_ok=True)
            shutil.rmtree(registry.root / name, ignore_errors=True)
        raise
    row.command = command
    if not row.passed:
        path.unlink(missing_ok=True)
        shutil.rmtree(registry.root / name, ignore_errors=True)
        raise GateRefused(f"{name} ({base}/{file} by {method}) is not registered: {row.gate}")
    evidence.record(row.to_json(), name, registry.root)
    return Registered(name, path, row)
