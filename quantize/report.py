"""Every registered variant's measured row, per device profile, with the one the profile uses marked."""

from __future__ import annotations

import json

from edge import evidence
from edge.profiles import list_profiles, load_profile
from edge.registry import Registry

TASK_OF = {"asr.engine.model": "asr", "vad.model": "vad", "tagging.embeddings.model": "embeddings",
           "llm.model": "llm", "tagger.model": "tagger", "vision.ocr.engine": "ocr"}


def _task(row: dict) -> str:
    return row.get("task") or next((TASK_OF[k] for k in row.get("selects", {}) if k in TASK_OF), "?")


def report_rows(registry: Registry | None = None) -> list[dict]:
    registry = registry or Registry()
    models = [m.name for m in registry.manifests()] + [evidence.OCR_MODEL]
    measured = [(model, row) for model in models for row in evidence.rows(model, registry.root)]
    out = []
    for name in list_profiles():
        profile = load_profile(name)
        used = evidence.choices(profile)
        for model, row in measured:
            sel = row.get("selects", {})
            in_use = any(model == m and all(sel.get(k) == v for k, v in want.items()) for m, want in used)
            device_ok = row.get("backend") != "tensorrt" or name.startswith("jetson")
            if not device_ok:
                continue
            out.append({"profile": name, "task": _task(row), "variant": row.get("variant", model),
                        "backend": row.get("backend"), "size_mb": row.get("size_mb"),
                        "latency_ms": row.get("latency_ms"), "tokens_per_s": row.get("tokens_per_s"),
                        "quality": row.get("quality", {}), "passed": bool(row.get("passed")),
                        "recommended": in_use and bool(row.get("passed")), "measured_at": row.get("measured_at")})
        for problem in evidence.unbacked(profile, registry.root):
            out.append({"profile": name, "task": "?", "variant": problem, "passed": False, "recommended": False,
                        "quality": {}, "size_mb": None, "latency_ms": None, "tokens_per_s": None, "backend": None})
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["| profile | task | variant | backend | MB | latency ms | tok/s | quality | gate | used |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        q = ", ".join(f"{k} {v}" for k, v in r["quality"].items())
        lines.append(f"| {r['profile']} | {r['task']} | {r['variant']} | {r['backend'] or ''} | {r['size_mb'] or ''} | "
                     f"{r['latency_ms'] or ''} | {r['tokens_per_s'] or ''} | {q} | "
                     f"{'pass' if r['passed'] else 'FAIL/missing'} | {'✔' if r['recommended'] else ''} |")
    return "\n".join(lines)


def main(as_json: bool) -> int:
    rows = report_rows()
    print(json.dumps(rows, indent=1) if as_json else markdown(rows))
    return 0
