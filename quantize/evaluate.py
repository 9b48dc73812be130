"""Evaluate a model variant against its reference on the same data: size, load time, speed, quality.

Each evaluator returns a `Row`; `gates.py` decides whether it passes. The data
is built here, on this machine, from packaged sources: espeak-ng speech for
ASR and VAD, held news sentences for embeddings, held news text and drafts
of fixed transcripts for the LLM. Rows record the command that made them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from quantize.gates import gate_for

DATA = Path(__file__).resolve().parent.parent / "bench" / "data"
# Held sentences (not the topic descriptions the tagger was built on).
HELD_TEXT = DATA / "topics_test.jsonl"
ASR_SENTENCES = [
    "The council approved the new budget for public transport on Tuesday.",
    "Firefighters were called to the warehouse shortly after midnight.",
    "Heavy rain is expected to spread from the west later this evening.",
    "The minister said the hospital would reopen by the end of the month.",
    "Police have closed the bridge while engineers inspect the damage.",
    "The home side scored twice in the final ten minutes to win the match.",
]
ASR_VOICES = ("en-us", "en-gb")


@dataclass
class Row:
    task: str
    variant: str  # what a profile names: model, plus file / compute type / precision
    backend: str
    size_mb: float
    quality: dict[str, float]
    reference: str
    load_s: float | None = None
    latency_ms: float | None = None
    tokens_per_s: float | None = None
    passed: bool = False
    gate: str = ""
    command: str = ""
    measured_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d"))
    selects: dict[str, str] = field(default_factory=dict)  # the profile settings this row backs

    def judge(self) -> Row:
        self.passed, self.gate = gate_for(self.task).check(self.quality)
        return self

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


# -- embeddings --------------------------------------------------------------------


def eval_embeddings(model: str, file: str, *, reference_file: str = "model.onnx", backend: str = "onnxruntime",
                    registry=None, reference_model: str | None = None) -> Row:
    from edge.registry import Registry
    from edge.tagging.embeddings import Embedder, EmbedderChoice

    registry = registry or Registry()
    _, directory = registry.resolve(model)
    texts = [json.loads(line)["text"] for line in HELD_TEXT.read_text().splitlines()]
    reference_model = reference_model or model
    reference = Embedder.load(EmbedderChoice(reference_model, reference_file, "onnxruntime"), registry).embed(texts)
    t0 = time.perf_counter()
    variant = Embedder.load(EmbedderChoice(model, file, backend), registry)
    load_s = time.perf_counter() - t0
    variant.embed(texts[:4])  # warm-up
    t0 = time.perf_counter()
    vectors = variant.embed(texts)
    ms = 1000 * (time.perf_counter() - t0) / len(texts)
    cos = (vectors * reference).sum(axis=1)
    return Row("embeddings", f"{model}/{file}", backend, _mb(directory / file),
               {"cosine_mean": round(float(cos.mean()), 4), "cosine_min": round(float(cos.min()), 4)},
               f"{reference_model}/{reference_file} on onnxruntime (fp32), {len(texts)} held sentences",
               load_s=round(load_s, 2), latency_ms=round(ms, 2),
               selects={"tagging.embeddings.model": model, "tagging.embeddings.file": file,
                        "tagging.embeddings.backend": backend}).judge()


# -- speech ------------------------------------------------------------------------


def speech_set() -> list[tuple[np.ndarray, str]]:
    """(16 kHz float32 audio, text) per sentence and voice, spoken by espeak-ng."""
    from edge.demo.clip import synthesize

    out = []
    for voice in ASR_VOICES:
        for sentence in ASR_SENTENCES:
            pcm, rate = synthesize(sentence, voice=voice)
            audio = pcm.astype(np.float32) / 32768.0
            if rate != 16000:
                idx = np.linspace(0, len(audio) - 1, int(len(audio) * 16000 / rate))
                audio = np.interp(idx, np.arange(len(audio)), audio).astype(np.float32)
            out.append((audio, sentence))
    return out


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    return float(jiwer.wer([_norm(r) for r in refs], [_norm(h) or "-" for h in hyps]))


def _transcribe_all(model: str, compute_type: str, audio: list[np.ndarray], registry) -> tuple[list[str], float, float]:
    """One plain 30 s Whisper decode per sentence (beam 5): the same for every compute type, so only it differs."""
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor
    from tokenizers import Tokenizer

    from edge.backends.base import RuntimeSettings, get_backend

    _, directory = registry.resolve(model)
    t0 = time.perf_counter()
    engine = get_backend("ctranslate2").load(directory, RuntimeSettings(compute_type=compute_type, threads=2))
    load_s = time.perf_counter() - t0
    fe = FeatureExtractor(feature_size=engine.n_mels)
    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    prompt = ["<|startoftranscript|>"] + (["<|en|>", "<|transcribe|>"] if engine.is_multilingual else []) + \
        ["<|notimestamps|>"]
    texts, t0 = [], time.perf_counter()
    for a in audio:
        padded = np.zeros(16000 * 30, dtype=np.float32)
        padded[:len(a)] = a[:16000 * 30]
        feats = fe(padded)[:, :3000]
        res = engine.generate(ctranslate2.StorageView.from_array(feats[None].astype(np.float32)), [prompt],
                              beam_size=5, max_length=224)
        texts.append(tok.decode(res[0].sequences_ids[0]).strip())
    return texts, load_s, 1000 * (time.perf_counter() - t0) / len(audio)


def eval_asr(model: str, compute_type: str, *, reference: str = "float32", registry=None) -> Row:
    from edge.registry import Registry

    registry = registry or Registry()
    data = speech_set()
    audio, refs = [a for a, _ in data], [t for _, t in data]
    ref_texts, _, _ = _transcribe_all(model, reference, audio, registry)
    texts, load_s, ms = _transcribe_all(model, compute_type, audio, registry)
    w, w_ref = wer(refs, texts), wer(refs, ref_texts)
    _, directory = registry.resolve(model)
    return Row("asr", f"{model}/{compute_type}", "ctranslate2", _mb(directory),
               {"wer": round(w, 4), "wer_reference": round(w_ref, 4), "wer_delta": round(w - w_ref, 4)},
               f"{model} compute_type {reference}, beam 5, {len(audio)} espeak-ng sentences ({', '.join(ASR_VOICES)})",
               load_s=round(load_s, 2), latency_ms=round(ms, 1),
               selects={"asr.engine.model": model, "asr.engine.compute_type": compute_type}).judge()


def vad_probs(model: str, backend: str, precision: str, audio: np.ndarray, registry) -> tuple[np.ndarray, float]:
    from edge.asr.vad import FRAME, SileroVad
    from edge.backends.base import RuntimeSettings, get_backend

    manifest, directory = registry.resolve(model)
    t0 = time.perf_counter()
    session = get_backend(backend).load(directory / manifest.files[0].path, RuntimeSettings(precision=precision))
    vad = SileroVad(session)
    probs = np.array([vad(audio[i:i + FRAME]) for i in range(0, len(audio) - FRAME, FRAME)])
    return probs, (time.perf_counter() - t0) * 1000 / max(1, len(probs))


def eval_vad(model: str, backend: str, precision: str, *, registry=None) -> Row:
    from edge.registry import Registry

    registry = registry or Registry()
    silence = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([x for a, _ in speech_set()[:6] for x in (a, silence)])
    ref, _ = vad_probs("silero-vad", "onnxruntime", "f32", audio, registry)
    probs, ms = vad_probs(model, backend, precision, audio, registry)
    n = min(len(ref), len(probs))
    agree = float(np.mean((ref[:n] >= 0.5) == (probs[:n] >= 0.5)))
    manifest, directory = registry.resolve(model)
    return Row("vad", f"{model}/{backend}/{precision}", backend, _mb(directory / manifest.files[0].path),
               {"decision_agreement": round(agree, 4), "max_prob_diff": round(float(np.abs(ref[:n] - probs[:n]).max()), 4)},
               f"silero-vad on onnxruntime f32, {n} frames of espeak-ng speech and silence",
               latency_ms=round(ms, 3), selects={"vad.model": model, "vad.backend": backend, "vad.precision": precision}
               ).judge()


# -- text generation ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
LLM_BUILD = ROOT / "build" / "quantize" / "llm"


def llm_reference(model: str) -> Path:
    """Where the fp32 reference of a registered LLM is expected: its ONNX export (the GGUF dequantized)."""
    return LLM_BUILD / f"{model}-fp32" / "model.onnx"


def _llm_decoder(path: Path, threads: int, precision: str, runtime: dict | None = None):
    from quantize.llm_eval import OnnxDecoder, OpenVINODecoder, load_tokenizer

    if path.suffix == ".onnx":
        return OnnxDecoder(path, threads), load_tokenizer(path.parent), "onnxruntime"
    return OpenVINODecoder(path, threads, precision, **(runtime or {})), load_tokenizer(path), "openvino"


def measure_llm(path: Path, *, threads: int = 2, precision: str = "f32", max_new_tokens: int = 160,
                max_prompt_chars: int = 1200, runtime: dict | None = None) -> dict:
    """Perplexity on the held passages and the verifier's acceptance of its drafts, for one ONNX file or IR dir.

    runtime: OpenVINODecoder's stated plugin settings (the profile's llm entry), for an IR.
    """
    from quantize.llm_eval import DecoderTextGenerator, acceptance, held_passages, perplexity

    t0 = time.perf_counter()
    decoder, tok, engine = _llm_decoder(path, threads, precision, runtime)
    load_s = time.perf_counter() - t0
    ppl = perplexity(decoder, [tok.encode(t) for t in held_passages()])
    gen = DecoderTextGenerator(decoder, tok, path.name, engine)
    t0 = time.perf_counter()
    acc = acceptance(gen, max_new_tokens=max_new_tokens, max_prompt_chars=max_prompt_chars)
    elapsed = time.perf_counter() - t0
    return {"perplexity": ppl.value, "tokens_scored": ppl.tokens, **acc, "engine": engine, "load_s": load_s,
            "tokens_per_s": gen.tokens / elapsed if gen.tokens else None}


def _reference_figures(reference: Path, threads: int) -> dict:
    """The fp32 reference's figures, kept beside it (a reference is measured once, not per variant)."""
    import hashlib

    from quantize.llm_eval import HELD_TEXT

    stat = reference.stat()
    key = hashlib.sha256(f"{HELD_TEXT.read_text()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = reference.with_name(f".{reference.stem}.llm-figures.json")
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["figures"]
    figures = measure_llm(reference, threads=threads)
    cache.write_text(json.dumps({"key": key, "figures": figures}, indent=1))
    return figures


def eval_llm(model: str, backend: str, precision: str = "f32", *, registry=None, reference: Path | None = None,
             variant: Path | None = None, threads: int = 2, runtime: dict | None = None) -> Row:
    """Perplexity ratio and acceptance drop of an LLM variant against its fp32 reference (see gates.LlmGate).

    Without `variant`: the registered model as the box runs it. For a GGUF on OpenVINO GenAI that is the IR
    provisioning built beside it (quantize/gguf_ir.py), or else the IR GenAI builds from the GGUF itself
    (saved once under build/), read by OpenVINO core for its logits. With `variant`: an ONNX file (ONNX
    Runtime) or an OpenVINO IR directory. runtime: the profile's stated OpenVINO settings (LlmChoice).
    """
    from edge.errors import ModelError
    from edge.registry import Registry
    from quantize.llm_eval import ir_from_gguf

    reference = Path(reference) if reference else llm_reference(model)
    if not reference.is_file():
        raise ModelError(f"no fp32 reference for {model} at {reference}",
                         f"export it: python -m quantize export <the GGUF> {reference.parent} --to onnx "
                         "(torch extra), or pass --reference")
    if variant is None:
        registry = registry or Registry()
        manifest, directory = registry.resolve(model)
        ggufs = sorted(directory.glob("*.gguf"))
        if backend == "openvino_genai" and ggufs and not (directory / "openvino_model.xml").is_file():
            path = ir_from_gguf(ggufs[0], LLM_BUILD / f"{model}-genai-ir")
        else:
            path = directory
        name, size_of, selects = (f"{model}/{backend}/{manifest.precision}", directory,
                                  {"llm.model": model, "llm.backend": backend})
    else:
        path = Path(variant)
        engine = "onnxruntime" if path.suffix == ".onnx" else "openvino"
        name, size_of = f"{model}/{engine}/{path.stem if path.suffix else path.name}", path
        selects = {"llm.model": model, "llm.backend": engine, "llm.file": path.name}
        backend = engine
    ref = _reference_figures(reference, threads)
    got = measure_llm(path, threads=threads, precision=precision, runtime=runtime)
    stated = ", ".join(f"{k} {v}" for k, v in (runtime or {}).items())
    quality = {"perplexity": round(got["perplexity"], 3), "perplexity_reference": round(ref["perplexity"], 3),
               "perplexity_ratio": round(got["perplexity"] / ref["perplexity"], 4),
               "acceptance": got["acceptance"], "acceptance_reference": ref["acceptance"],
               "acceptance_drop": round(ref["acceptance"] - got["acceptance"], 4)}
    return Row("llm", name, backend, _mb(size_of), quality,
               f"{reference.parent.name}/{reference.name} on onnxruntime f32: perplexity over {got['tokens_scored']} "
               f"tokens of held news text (bench/test_sentences.txt); drafts of {got['transcripts']} fixed transcripts "
               f"(bench/drafts.py), {got['sentences_kept']}/{got['sentences_written']} model sentences kept "
               f"(reference {ref['sentences_kept']}/{ref['sentences_written']}); greedy, repetition penalty 1.15"
               + (f"; {precision}, {stated}" if stated else ""),
               load_s=round(got["load_s"], 2),
               tokens_per_s=round(got["tokens_per_s"], 1) if got["tokens_per_s"] else None,
               selects=selects).judge()


# -- on-screen text ------------------------------------------------------------------


def _ocr_accuracy(engine_name: str, precision: str, frames) -> tuple[float, float]:
    import jiwer

    from edge.vision.ocr import OcrEngine
    from edge.vision.settings import OcrSettings

    engine = OcrEngine(OcrSettings(engine=engine_name, precision=precision, threads=2))
    engine.read(frames[0][0])  # warm-up
    accs, t0 = [], time.perf_counter()
    for frame, ref in frames:
        hyp = " ".join(line.text for line in engine.read(frame))
        accs.append(max(0.0, 1.0 - jiwer.cer(ref, hyp)) if hyp else 0.0)
    return float(np.mean(accs)), 1000 * (time.perf_counter() - t0) / len(frames)


def eval_ocr(engine: str, precision: str = "f32") -> Row:
    from bench.vision import render_frames

    frames = render_frames()
    ref_acc, _ = _ocr_accuracy("onnxruntime", "f32", frames)
    acc, ms = _ocr_accuracy(engine, precision, frames)
    from edge.vision.ocr import model_dir

    return Row("ocr", f"pp-ocr/{engine}/{precision}", engine, _mb(model_dir()),
               {"char_accuracy": round(acc, 4), "char_accuracy_reference": round(ref_acc, 4),
                "char_accuracy_delta": round(ref_acc - acc, 4)},
               f"rapidocr PP-OCR on onnxruntime f32, {len(frames)} rendered 640x360 frames (fonts, sizes, backgrounds)",
               latency_ms=round(ms, 1), selects={"vision.ocr.engine": engine, "vision.ocr.precision": precision}).judge()

