"""Evaluation audio for the ASR benchmark, built on the box itself.

Synthetic speech (espeak-ng) gives exact reference text and exact sentence
timings, which a recording cannot; `beckett` adds one real human voice so a
model that only does well on robots is noticed. Everything is deterministic,
so two runs of the benchmark score the same audio.

    python -m bench.corpus [--limit N]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from edge.demo.clip import (
    join_speech,
    read_sentences,
    read_wav,
    speech_bounds,
    synthesize,
    write_text_atomic,
    write_wav,
)
from edge.errors import MediaError

SENTENCES_PATH = Path(__file__).with_name("news_sentences.txt")
DEFAULT_OUT = Path(__file__).parent / "out" / "corpus"
MANIFEST_NAME = "manifest.json"

# Bump when the way audio is generated changes, so old caches are rebuilt.
CORPUS_VERSION = 1
RATE = 16_000
SEED = 20_240_611
# Voices and speeds rotate with coprime periods (5 and 6), so each voice is
# heard at several speeds across the corpus.
VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-us+f3", "en+m3")
SPEEDS = (150, 155, 160, 165, 170, 175)
PAUSE_RANGE_S = (0.6, 1.2)
EDGE_SILENCE_S = 0.5
NOISE_SNR_DB = 20.0

BECKETT_REFERENCE = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


@dataclass(frozen=True)
class EvalItem:
    """One benchmark recording: 16 kHz mono s16 WAV plus its ground truth."""

    name: str
    wav: Path
    reference: str
    duration: float
    segments: list[tuple[float, float, str]] = field(default_factory=list)


# --------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------


def _sox() -> str:
    exe = shutil.which("sox")
    if exe is None:
        raise MediaError("sox is not installed", "apt-get install sox")
    return exe


def _sox_to_16k(args_in: list[str], stdin: bytes | None = None) -> np.ndarray:
    # -D: no dither, so digital silence stays exactly zero and segment
    # boundaries stay sharp; -G guards against clipping from the resampler.
    cmd = [_sox(), "-D", "-G", *args_in, "-t", "raw", "-r", str(RATE), "-e", "signed-integer",
           "-b", "16", "-c", "1", "-"]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise MediaError(f"sox failed: {proc.stderr.decode(errors='replace').strip()}", "apt-get install sox")
    return np.frombuffer(proc.stdout, dtype="<i2").copy()


def resample_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return np.asarray(samples, dtype=np.int16)
    raw = np.asarray(samples, dtype="<i2").tobytes()
    return _sox_to_16k(["-t", "raw", "-r", str(rate), "-e", "signed-integer", "-b", "16", "-c", "1", "-"], raw)


def _speak_16k(job: tuple[str, str, int]) -> np.ndarray:
    text, voice, speed = job
    samples, rate = synthesize(text, voice, speed)
    return resample_16k(samples, rate)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power 1/f noise; closer to crowd and traffic rumble than white noise."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / RATE)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))  # flat below 20 Hz: no DC drift
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2))


def add_noise(clean: np.ndarray, segments: list[tuple[float, float, str]], snr_db: float, seed: int) -> np.ndarray:
    """Mixes pink noise at `snr_db` relative to the power of the speech itself.

    Power is taken inside the segments only: counting the pauses would lower
    the signal power and make the noise quieter than the nominal SNR.
    """
    x = clean.astype(np.float64)
    mask = np.zeros(len(x), dtype=bool)
    for start, end, _ in segments:
        mask[int(start * RATE) : int(end * RATE)] = True
    speech_power = float(np.mean(x[mask] ** 2)) if mask.any() else float(np.mean(x**2))
    noise = pink_noise(len(x), np.random.default_rng(seed)) * np.sqrt(speech_power / 10 ** (snr_db / 10))
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def beckett_source() -> Path | None:
    # find_spec, not import: importing moonshine_onnx pulls onnx/tokenizer
    # dependencies the box does not install.
    spec = importlib.util.find_spec("moonshine_onnx")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "assets" / "beckett.wav"
    return path if path.is_file() else None


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------


def _cache_key(sentences_bytes: bytes, limit: int | None, beckett: Path | None) -> dict:
    return {
        "version": CORPUS_VERSION,
        "sentences_sha256": hashlib.sha256(sentences_bytes).hexdigest(),
        "limit": limit,
        "voices": list(VOICES),
        "speeds": list(SPEEDS),
        "seed": SEED,
        "snr_db": NOISE_SNR_DB,
        "beckett_size": beckett.stat().st_size if beckett else None,
    }


def _load_cached(out_dir: Path, key: dict) -> list[EvalItem] | None:
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key:
        return None
    items = [
        EvalItem(
            name=d["name"],
            wav=out_dir / d["wav"],
            reference=d["reference"],
            duration=float(d["duration"]),
            segments=[(float(a), float(b), str(t)) for a, b, t in d["segments"]],
        )
        for d in manifest["items"]
    ]
    # The size check catches a WAV truncated by a crash before the manifest.
    for item in items:
        expected = 44 + 2 * round(item.duration * RATE)
        if not item.wav.is_file() or abs(item.wav.stat().st_size - expected) > 4:
            return None
    return items


def build_corpus(out_dir: Path = DEFAULT_OUT, limit: int | None = None) -> list[EvalItem]:
    """Builds (or reuses) the `clean`, `noisy` and `beckett` items in `out_dir`.

    `limit` keeps only the first N sentences, for quick tests. The cache is
    keyed on the sentence file's hash and the generation settings; the
    manifest is written last, so an interrupted build is simply redone.
    """
    out_dir = Path(out_dir)
    sentences_bytes = SENTENCES_PATH.read_bytes()
    sentences = read_sentences(SENTENCES_PATH)
    if limit is not None:
        sentences = sentences[: max(1, limit)]
    beckett = beckett_source()
    key = _cache_key(sentences_bytes, limit, beckett)
    cached = _load_cached(out_dir, key)
    if cached is not None:
        return cached
    out_dir.mkdir(parents=True, exist_ok=True)

    jobs = [(s, VOICES[i % len(VOICES)], SPEEDS[i % len(SPEEDS)]) for i, s in enumerate(sentences)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        clips = list(pool.map(_speak_16k, jobs))
    rng = np.random.default_rng(SEED)
    pauses = [round(float(p), 3) for p in rng.uniform(*PAUSE_RANGE_S, size=len(clips) - 1)]
    clean, spans = join_speech(clips, RATE, pauses, lead_s=EDGE_SILENCE_S, tail_s=EDGE_SILENCE_S)
    segments = [(round(a, 4), round(b, 4), s) for (a, b), s in zip(spans, sentences)]
    reference = " ".join(sentences)

    items: list[EvalItem] = []
    write_wav(out_dir / "clean.wav", clean, RATE)
    items.append(EvalItem("clean", out_dir / "clean.wav", reference, len(clean) / RATE, segments))

    noisy = add_noise(clean, segments, NOISE_SNR_DB, SEED + 1)
    write_wav(out_dir / "noisy.wav", noisy, RATE)
    items.append(EvalItem("noisy", out_dir / "noisy.wav", reference, len(noisy) / RATE, segments))

    if beckett is not None:
        samples, rate = read_wav(beckett)
        human = resample_16k(samples, rate)
        # The recording has low-frequency rumble before the first word and
        # after the last that is louder than the room tone; without the
        # high-pass the span would run a second past "Fail better".
        bounds = speech_bounds(human, RATE, below_peak_db=40.0, above_floor_db=15.0, smooth_s=0.05,
                               highpass_hz=150.0)
        start, end = bounds if bounds else (0, len(human))
        write_wav(out_dir / "beckett.wav", human, RATE)
        items.append(
            EvalItem("beckett", out_dir / "beckett.wav", BECKETT_REFERENCE, len(human) / RATE,
                     [(round(start / RATE, 4), round(end / RATE, 4), BECKETT_REFERENCE)])
        )
    else:
        warnings.warn(
            "useful-moonshine-onnx is not installed, so the human-speech 'beckett' item is skipped; "
            "run `make venv` to install it",
            stacklevel=2,
        )

    manifest = {
        "key": key,
        "pauses": pauses,
        "items": [
            {"name": it.name, "wav": it.wav.name, "reference": it.reference,
             "duration": round(it.duration, 6), "segments": [list(s) for s in it.segments]}
            for it in items
        ],
    }
    write_text_atomic(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    return items


# --------------------------------------------------------------------------
# Tuning and test sets
# --------------------------------------------------------------------------
# Settings are tuned on one set and reported on the other, so a setting that
# only fits its own sentences and voices shows up as a gap between the two.
# The sets share no sentence and no voice.

TEST_SENTENCES_PATH = Path(__file__).with_name("test_sentences.txt")
EVAL_DIR = Path(__file__).parent / "out" / "eval"
EVAL_VERSION = 1


@dataclass(frozen=True)
class SetSpec:
    name: str
    sentences: Path
    voices: tuple[str, ...]
    speeds: tuple[int, ...]
    snr_db: float
    seed: int
    # clean and noisy read the same sentences ("same") or each half ("split"):
    # a split halves the live run time of the test set but keeps both conditions.
    layout: Literal["same", "split"]


TUNE = SetSpec("tune", SENTENCES_PATH, VOICES, SPEEDS, NOISE_SNR_DB, SEED, "same")
# en-gb-scotland, en-029 (Caribbean), en-us-nyc, en-gb-x-gbclan (Lancaster) and
# two pitch variants; pink noise 5 dB louder than the tuning set's.
TEST = SetSpec(
    "test", TEST_SENTENCES_PATH,
    ("en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-us+f2", "en-gb+m4"),
    (145, 160, 175, 185, 150, 170, 180),
    15.0, SEED + 7, "split",
)
SETS = {s.name: s for s in (TUNE, TEST)}


def build_set(spec: SetSpec, out_dir: Path = EVAL_DIR) -> list[EvalItem]:
    """The `clean`, `noisy` and `beckett` items of one evaluation set, cached under `out_dir/<name>`.

    beckett (one human voice) is in both sets: it is too short to tune on and
    the only real speech available offline.
    """
    out = Path(out_dir) / spec.name
    text = spec.sentences.read_bytes()
    sentences = read_sentences(spec.sentences)
    beckett = beckett_source()
    key = {"version": EVAL_VERSION, "sentences_sha256": hashlib.sha256(text).hexdigest(),
           "voices": list(spec.voices), "speeds": list(spec.speeds), "snr_db": spec.snr_db,
           "seed": spec.seed, "layout": spec.layout, "beckett_size": beckett.stat().st_size if beckett else None}
    cached = _load_cached(out, key)
    if cached is not None:
        return cached
    out.mkdir(parents=True, exist_ok=True)
    half = len(sentences) // 2
    groups = {"clean": sentences, "noisy": sentences} if spec.layout == "same" else {
        "clean": sentences[:half], "noisy": sentences[half:]}
    offsets = {"clean": 0, "noisy": 0 if spec.layout == "same" else half}
    items: list[EvalItem] = []
    meta: dict[str, list] = {}
    for name, group in groups.items():
        jobs = [(s, spec.voices[(offsets[name] + i) % len(spec.voices)], spec.speeds[(offsets[name] + i) % len(spec.speeds)])
                for i, s in enumerate(group)]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            clips = list(pool.map(_speak_16k, jobs))
        rng = np.random.default_rng(spec.seed + offsets[name])
        pauses = [round(float(p), 3) for p in rng.uniform(*PAUSE_RANGE_S, size=len(clips) - 1)]
        audio, spans = join_speech(clips, RATE, pauses, lead_s=EDGE_SILENCE_S, tail_s=EDGE_SILENCE_S)
        segments = [(round(a, 4), round(b, 4), s) for (a, b), s in zip(spans, group)]
        if name == "noisy":
            audio = add_noise(audio, segments, spec.snr_db, spec.seed + 1)
        write_wav(out / f"{name}.wav", audio, RATE)
        items.append(EvalItem(name, out / f"{name}.wav", " ".join(group), len(audio) / RATE, segments))
        meta[name] = [{"voice": v, "speed": sp} for _, v, sp in jobs]
    items += _beckett_item(out, beckett)
    manifest = {"key": key, "voices": meta, "items": [
        {"name": it.name, "wav": it.wav.name, "reference": it.reference, "duration": round(it.duration, 6),
         "segments": [list(s) for s in it.segments]} for it in items]}
    write_text_atomic(out / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    return items


def _beckett_item(out_dir: Path, beckett: Path | None) -> list[EvalItem]:
    if beckett is None:
        warnings.warn("useful-moonshine-onnx is not installed, so the human-speech 'beckett' item is skipped; "
                      "run `make venv` to install it", stacklevel=3)
        return []
    samples, rate = read_wav(beckett)
    human = resample_16k(samples, rate)
    bounds = speech_bounds(human, RATE, below_peak_db=40.0, above_floor_db=15.0, smooth_s=0.05, highpass_hz=150.0)
    start, end = bounds if bounds else (0, len(human))
    write_wav(out_dir / "beckett.wav", human, RATE)
    return [EvalItem("beckett", out_dir / "beckett.wav", BECKETT_REFERENCE, len(human) / RATE,
                     [(round(start / RATE, 4), round(end / RATE, 4), BECKETT_REFERENCE)])]


# --------------------------------------------------------------------------
# Text normalization and WER
# --------------------------------------------------------------------------

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORD_UNITS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
              "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth").split()
_ORD_TENS = "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_ORD_SCALES = {"hundredth": 100, "thousandth": 10**3, "millionth": 10**6, "billionth": 10**9}

_VALUE = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_ORD_VALUE = {w: i for i, w in enumerate(_ORD_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_ORD_TENS)}
_TO_ORDINAL = dict(zip(_UNITS + _TENS, _ORD_UNITS + _ORD_TENS)) | {
    "hundred": "hundredth", "thousand": "thousandth", "million": "millionth", "billion": "billionth"}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_UNITS[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10 - 2])
        n %= 10
    if n:
        words.append(_UNITS[n])
    return words


def number_to_words(n: int, ordinal: bool = False) -> list[str]:
    """Canonical spelling used by the normalizer: 306 -> three hundred six (no 'and')."""
    if n == 0:
        words = ["zero"]
    else:
        words = []
        for name, value in sorted(_SCALES.items(), key=lambda kv: -kv[1]):
            if n >= value:
                words += _below_thousand(n // value) + [name]
                n %= value
        words += _below_thousand(n)
    if ordinal:
        words[-1] = _TO_ORDINAL.get(words[-1], words[-1])
    return words


def _parse_spelled(tokens: list[str], i: int) -> tuple[int, bool, int] | None:
    """Reads a spelled number at tokens[i]: (value, is_ordinal, index after it)."""
    total, current, last, last_scale = 0, 0, None, None
    j = i
    while j < len(tokens):
        t = tokens[j]
        nxt = tokens[j + 1] if j + 1 < len(tokens) else ""
        if t == "a" and j == i and nxt in ("hundred", "thousand", "million", "billion"):
            current, last = 1, "small"
        elif t == "and" and last in ("hundred", "scale") and (nxt in _VALUE or nxt in _ORD_VALUE):
            pass
        elif t in _VALUE or t in _ORD_VALUE:
            val = _VALUE.get(t, _ORD_VALUE.get(t))
            if last in (None, "hundred", "scale"):
                current += val
            elif last == "tens" and 1 <= val <= 9:
                current += val
            else:
                break
            last = "tens" if val >= 20 and val % 10 == 0 else "small"
            if t in _ORD_VALUE:
                return total + current, True, j + 1
        elif t in ("hundred", "hundredth") and last in ("small", "tens") and 0 < current < 100:
            current *= 100
            last = "hundred"
            if t == "hundredth":
                return total + current, True, j + 1
        elif (t in _SCALES or t in _ORD_SCALES) and last in ("small", "tens", "hundred") and current > 0:
            value = _SCALES.get(t) or _ORD_SCALES[t]
            if last_scale is not None and value >= last_scale:
                break
            total += current * value
            current, last, last_scale = 0, "scale", value
            if t in _ORD_SCALES:
                return total, True, j + 1
        else:
            break
        j += 1
    if j == i or last is None:
        return None
    return total + current, False, j


_DIGIT_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")


def _canonical_numbers(tokens: list[str]) -> list[str]:
    # First pass: every number, spelled or in digits, becomes (value, ordinal).
    items: list[tuple[int, bool] | str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.isdigit():
            if len(t) > 12:  # account or phone numbers are read digit by digit
                items.extend((int(c), False) for c in t)
            else:
                items.append((int(t), False))
            i += 1
            continue
        m = _DIGIT_ORDINAL.match(t)
        if m:
            items.append((int(m.group(1)), True))
            i += 1
            continue
        parsed = _parse_spelled(tokens, i)
        if parsed is not None:
            value, ordinal, i = parsed
            items.append((value, ordinal))
            continue
        items.append(t)
        i += 1
    # Second pass: "nineteen ninety eight" is read as a year, the way Whisper
    # writes it ("1998"); both sides get the same treatment.
    merged: list[tuple[int, bool] | str] = []
    for it in items:
        prev = merged[-1] if merged else None
        if (isinstance(it, tuple) and isinstance(prev, tuple) and not prev[1]
                and 10 <= prev[0] <= 99 and 10 <= it[0] <= 99):
            merged[-1] = (prev[0] * 100 + it[0], it[1])
        else:
            merged.append(it)
    out: list[str] = []
    for it in merged:
        out += number_to_words(*it) if isinstance(it, tuple) else [it]
    return out


def _spelling_map() -> dict[str, str]:
    """British -> American, with inflections, so WER does not count spelling."""
    m: dict[str, str] = {}
    for stem in ("harbour colour neighbour labour favour honour behaviour flavour humour rumour "
                 "vapour armour endeavour savour parlour odour vigour tumour").split():
        us = stem[:-3] + "or"
        for suf in ("", "s", "ed", "ing", "hood", "hoods", "ite", "ites", "able", "er", "ers", "ly"):
            m[stem + suf] = us + suf
    for stem in "centre theatre metre litre fibre calibre spectre kilometre millimetre centimetre".split():
        us = stem[:-2] + "er"
        for suf in ("", "s", "d"):
            m[stem + suf] = us + ("ed" if suf == "d" else suf)
    for stem in ("organis recognis apologis criticis realis emphasis prioritis authoris finalis "
                 "mobilis modernis privatis specialis summaris utilis categoris minimis maximis "
                 "normalis standardis sympathis capitalis characteris legalis stabilis subsidis penalis").split():
        us = stem[:-1] + "z"
        for suf in ("e", "es", "ed", "ing", "er", "ers", "ation", "ations"):
            m[stem + suf] = us + suf
    for stem in ("analys paralys catalys").split():
        for suf in ("e", "es", "ed", "ing"):
            m[stem + suf] = stem[:-1] + "yz" + suf
    for gb, us in {"defence": "defense", "offence": "offense", "licence": "license", "pretence": "pretense"}.items():
        m[gb], m[gb + "s"] = us, us + "s"
    for gb in ("travell", "cancell", "label", "model", "fuell", "levell", "signall", "channell", "quarrell",
               "totall", "counsell"):
        base = gb if gb.endswith("ll") else gb + "l"
        us = base[:-1]
        for suf in ("ed", "ing", "er", "ers", "or", "ors"):
            m[base + suf] = us + suf
    m |= {
        "programme": "program", "programmes": "programs", "councillor": "councilor",
        "councillors": "councilors", "jewellery": "jewelry", "marvellous": "marvelous", "grey": "gray",
        "tyre": "tire", "tyres": "tires", "kerb": "curb", "aluminium": "aluminum", "plough": "plow",
        "manoeuvre": "maneuver", "manoeuvres": "maneuvers", "mould": "mold", "storey": "story",
        "storeys": "stories", "aeroplane": "airplane", "aeroplanes": "airplanes", "ageing": "aging",
        "judgement": "judgment", "judgements": "judgments", "enrol": "enroll", "fulfil": "fulfill",
        "instalment": "installment", "catalogue": "catalog", "paediatric": "pediatric",
        "anaesthetic": "anesthetic", "practise": "practice", "practised": "practiced",
        "whilst": "while", "ok": "okay", "mr": "mister", "mrs": "missus", "dr": "doctor",
    }
    return m


_SPELLING = _spelling_map()
_CURRENCY = {"£": "pounds", "$": "dollars", "€": "euros"}
_MULTIPLIER = {"k": "thousand", "m": "million", "bn": "billion"}
_CURRENCY_RE = re.compile(r"([£$€])\s?(\d+(?:\.\d+)?)\s?(bn|m|k|thousand|million|billion)?\b")


def normalize_text(s: str) -> list[str]:
    """Words for WER: case, punctuation, number format and UK/US spelling removed.

    "The Harbour, 23 boats" and "the harbor twenty three boats" give the same
    words, so the score measures what was recognised, not how it was written.
    """
    s = unicodedata.normalize("NFKC", s).lower()
    s = s.replace("\u2019", "'").replace("\u2018", "'")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # 12,000 -> 12000
    s = _CURRENCY_RE.sub(
        lambda m: f" {m.group(2)} {_MULTIPLIER.get(m.group(3) or '', m.group(3) or '')} {_CURRENCY[m.group(1)]} ", s
    )
    s = re.sub(r"(\d)p\b", r"\1 pence", s)
    s = s.replace("%", " percent ")
    s = re.sub(r"(\d)\.(\d)", r"\1 point \2", s)
    s = re.sub(r"[-\u2010-\u2015/]", " ", s)
    s = re.sub(r"(\d)(?!(?:st|nd|rd|th)\b)([a-z])", r"\1 \2", s)  # 3pm -> 3 pm, keeps 23rd
    s = s.replace("'", "")
    s = re.sub(r"[^\w\s]|_", " ", s)
    tokens = [_SPELLING.get(t, t) for t in s.split()]
    joined: list[str] = []
    for t in tokens:
        if t == "cent" and joined and joined[-1] == "per":
            joined[-1] = "percent"
        else:
            joined.append(t)
    return _canonical_numbers(joined)


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference word count), for pooling WER over items."""
    r, h = normalize_text(ref), normalize_text(hyp)
    if not r or not h:
        return max(len(r), len(h)) if r or h else 0, len(r)
    try:
        import jiwer
    except ImportError:
        return _edit_distance(r, h), len(r)
    out = jiwer.process_words(" ".join(r), " ".join(h))
    return out.substitutions + out.deletions + out.insertions, len(r)


def wer(ref: str, hyp: str) -> float:
    """Word error rate on normalized words; an empty reference scores 0 only for an empty hypothesis."""
    errors, n = word_errors(ref, hyp)
    if n == 0:
        return 0.0 if errors == 0 else float(errors)
    return errors / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    parser.add_argument("--set", choices=sorted(SETS), help="build the tuning or test set instead")
    args = parser.parse_args(argv)
    try:
        items = build_set(SETS[args.set]) if args.set else build_corpus(args.out, args.limit)
    except MediaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for it in items:
        speech = sum(b - a for a, b, _ in it.segments)
        print(f"{it.name:8s} {it.duration:7.2f} s  speech {speech:7.2f} s  "
              f"{len(it.segments):3d} segments  {len(normalize_text(it.reference)):4d} words  {it.wav}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
