"""Measured evidence behind a device profile's model choices, and the start-up check that requires it.

`python -m quantize eval --record` and `register` write rows to
models/<model>.evidence.json: the profile settings a row backs (`selects`),
its quality against the reference, and whether it passed the task's gate. A
box refuses to start on a profile that names a variant with no passing row,
so every model setting it runs with was measured, on the device class, first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.registry import models_dir

SUFFIX = ".evidence.json"
# OCR models ship inside the rapidocr wheel rather than the registry; their rows live under this name.
OCR_MODEL = "pp-ocr"


def evidence_path(model: str, root: Path | None = None) -> Path:
    return (root or models_dir()) / f"{model}{SUFFIX}"


def rows(model: str, root: Path | None = None) -> list[dict[str, Any]]:
    path = evidence_path(model, root)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"evidence file {path} is unreadable: {exc}", "restore it from git, or re-run "
                          "python -m quantize eval --record") from None
    return [r for r in data.get("rows", []) if isinstance(r, dict)] if isinstance(data, dict) else []


def record(row: dict[str, Any], model: str, root: Path | None = None) -> Path:
    """Add or replace the row for the same settings (atomically: temp file, fsync, rename)."""
    path = evidence_path(model, root)
    kept = [r for r in rows(model, root) if r.get("selects") != row.get("selects")]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"model": model, "rows": [*kept, row]}, indent=1) + "\n")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def choices(profile) -> list[tuple[str, dict[str, str]]]:
    """(model, the settings a row must select) for each model the profile runs."""
    out = [(profile.asr.engine.model, {"asr.engine.model": profile.asr.engine.model,
                                       "asr.engine.compute_type": profile.asr.engine.compute_type}),
           (profile.vad.model, {"vad.model": profile.vad.model, "vad.backend": profile.vad.backend,
                                "vad.precision": profile.vad.precision or "f32"})]
    tagging = getattr(profile, "tagging", None)
    if tagging is not None and tagging.enabled:
        e = tagging.embeddings
        out.append((e.model, {"tagging.embeddings.model": e.model, "tagging.embeddings.file": e.file,
                              "tagging.embeddings.backend": e.backend}))
    vision = getattr(profile, "vision", None)
    if vision is not None and vision.ocr.enabled:
        out.append((OCR_MODEL, {"vision.ocr.engine": vision.ocr.engine, "vision.ocr.precision": vision.ocr.precision}))
    llm = getattr(profile, "llm", None)
    if llm is not None and getattr(llm, "model", None):
        out.append((llm.model, {"llm.model": llm.model, "llm.backend": llm.backend}))
    return out


def unbacked(profile, root: Path | None = None) -> list[str]:
    """The profile's model settings with no passing row, in words (empty: all backed)."""
    problems = []
    for model, selects in choices(profile):
        found = [r for r in rows(model, root) if all(r.get("selects", {}).get(k) == v for k, v in selects.items())]
        if not found:
            problems.append(f"{', '.join(f'{k}={v}' for k, v in selects.items())}: never measured")
        elif not any(r.get("passed") for r in found):
            problems.append(f"{', '.join(f'{k}={v}' for k, v in selects.items())}: failed its gate ({found[-1].get('gate')})")
    return problems


def require_backed(profile, root: Path | None = None) -> None:
    problems = unbacked(profile, root)
    if problems:
        raise ConfigError(
            f"profile {profile.name} runs model variants with no passing measurement: {'; '.join(problems)}",
            f"measure them on this device class: python -m quantize eval --profile {profile.name} --record "
            "(needs the models provisioned), or pick a profile whose variants are measured (python -m quantize report)")
