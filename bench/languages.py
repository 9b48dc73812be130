"""Languages benchmark: whisper-base on Spanish, German and French espeak-ng speech.

    python -m bench.languages [--json] [--skip-live]

Per language (8 news sentences each, written for this benchmark, 1 s pauses):
- WER of `edge transcribe FILE --model whisper-base --language XX` and with
  `--language auto`, against faster-whisper's `transcribe` on the same
  model (int8, beam 5, VAD filter, 2 threads, language given);
- language detection per utterance: whisper-base's detector on each
  sentence alone (30 s window), right or wrong, and its confidence;
- the translate task (`--task translate`) scored against an English
  rendering of the sentences (WER is a rough proxy for translation quality).
Live: the Spanish clip through the x86-cpu-multilingual profile at real-time
pace, one stream and two side by side: final latency (emitted_at - end) and
the box's CPU share.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.corpus import RATE, _speak_16k, wer
from edge.demo.clip import write_wav

OUT = Path(__file__).resolve().parent / "out" / "languages"

SENTENCES = {
    "es": [
        "El alcalde de Sevilla anunció hoy un nuevo plan de transporte público.",
        "La lluvia ha causado inundaciones en el centro de la ciudad.",
        "El gobierno aprobará el presupuesto la próxima semana.",
        "Los bomberos trabajaron toda la noche para apagar el incendio.",
        "El puerto permanecerá cerrado hasta el lunes por la tormenta.",
        "Miles de personas se manifestaron frente al parlamento.",
        "El hospital ha abierto una nueva sala de urgencias.",
        "La selección nacional ganó el partido por dos goles a uno.",
    ],
    "de": [
        "Der Bürgermeister von Hamburg hat heute einen neuen Plan vorgestellt.",
        "Der Regen hat im Zentrum der Stadt Überschwemmungen verursacht.",
        "Die Regierung wird den Haushalt nächste Woche beschließen.",
        "Die Feuerwehr hat die ganze Nacht gegen das Feuer gekämpft.",
        "Der Hafen bleibt wegen des Sturms bis Montag geschlossen.",
        "Tausende Menschen haben vor dem Parlament demonstriert.",
        "Das Krankenhaus hat eine neue Notaufnahme eröffnet.",
        "Die Nationalmannschaft hat das Spiel mit zwei zu eins gewonnen.",
    ],
    "fr": [
        "Le maire de Lyon a présenté aujourd'hui un nouveau plan de transport.",
        "La pluie a provoqué des inondations dans le centre de la ville.",
        "Le gouvernement adoptera le budget la semaine prochaine.",
        "Les pompiers ont travaillé toute la nuit pour éteindre l'incendie.",
        "Le port restera fermé jusqu'à lundi à cause de la tempête.",
        "Des milliers de personnes ont manifesté devant le parlement.",
        "L'hôpital a ouvert un nouveau service d'urgence.",
        "L'équipe nationale a gagné le match deux buts à un.",
    ],
}
# What the sentences say in English (the same for each language), for the translate task.
ENGLISH = [
    "The mayor presented a new public transport plan today.",
    "The rain has caused flooding in the city centre.",
    "The government will approve the budget next week.",
    "The firefighters worked all night to put out the fire.",
    "The port will remain closed until Monday because of the storm.",
    "Thousands of people demonstrated in front of parliament.",
    "The hospital has opened a new emergency ward.",
    "The national team won the match two goals to one.",
]


def build_clip(lang: str) -> tuple[Path, list[np.ndarray]]:
    silence = np.zeros(RATE, np.int16)
    spoken = [_speak_16k((s, lang, 160)) for s in SENTENCES[lang]]
    path = OUT / f"{lang}.wav"
    parts = [silence]
    for s in spoken:
        parts += [s, silence]
    write_wav(path, np.concatenate(parts), RATE)
    return path, spoken


def edge_transcribe(*args: str) -> tuple[list[dict], float, float]:
    """Finals, wall seconds and CPU seconds (user + system of the child) of one `edge transcribe` run."""
    cmd = [sys.executable, "-m", "edge.cli", "transcribe", *args, "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"edge transcribe {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    finals = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [f for f in finals if f["type"] == "final"], wall, cpu


def text_of(finals: list[dict]) -> str:
    return " ".join(f["text"] for f in finals)


def reference(wav: Path, lang: str) -> tuple[str, float]:
    from faster_whisper import WhisperModel

    from edge.registry import Registry

    _, model_dir = Registry().resolve("whisper-base")
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    t0 = time.monotonic()
    segments, _ = model.transcribe(str(wav), language=lang, beam_size=5, vad_filter=True)
    return " ".join(s.text.strip() for s in segments), time.monotonic() - t0


def detections(spoken: dict[str, list[np.ndarray]]) -> dict[str, list[tuple[str, float]]]:
    from edge.asr.whisper import WhisperEngine
    from edge.profiles import load_profile

    engine = WhisperEngine.load(load_profile("x86-cpu-multilingual").asr.engine)
    return {lang: [engine.detect_language(s.astype(np.float32) / 32768)[0] for s in clips]
            for lang, clips in spoken.items()}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def live(wav: Path, streams: int) -> dict:
    media = [str(wav)] if streams == 1 else [f"s{i}={wav}" for i in range(streams)]
    finals, wall, cpu = edge_transcribe(*media, "--profile", "x86-cpu-multilingual", "--language", "es", "--live")
    lat = [f["emitted_at"] - f["end"] for f in finals]
    return {"streams": streams, "finals": len(finals), "median_s": pct(lat, 50), "p90_s": pct(lat, 90),
            "cpu_box": cpu / wall / (os.cpu_count() or 1), "wer": [wer(" ".join(SENTENCES["es"]),
                                                                        text_of([f for f in finals if f["stream"] == s]))
                                                                    for s in sorted({f["stream"] for f in finals})]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-live", action="store_true", help="offline rows only (the live rows are real time)")
    parser.add_argument("--only-live", action="store_true", help="live rows only")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    clips, spoken = {}, {}
    for lang in SENTENCES:
        clips[lang], spoken[lang] = build_clip(lang)
    rows = []
    for lang, wav in ({} if args.only_live else clips).items():
        ref = " ".join(SENTENCES[lang])
        given, wall_given, _ = edge_transcribe(str(wav), "--model", "whisper-base", "--language", lang)
        auto, _, _ = edge_transcribe(str(wav), "--model", "whisper-base", "--language", "auto")
        translated, _, _ = edge_transcribe(str(wav), "--model", "whisper-base", "--language", lang,
                                           "--task", "translate")
        fw_text, fw_wall = reference(wav, lang)
        rows.append({"language": lang, "wer": wer(ref, text_of(given)), "wer_auto": wer(ref, text_of(auto)),
                     "auto_languages": sorted({f.get("language") for f in auto}),
                     "fw_wer": wer(ref, fw_text), "wall_s": wall_given, "fw_wall_s": fw_wall,
                     "translate_wer": wer(" ".join(ENGLISH), text_of(translated)),
                     "text": text_of(given), "fw_text": fw_text, "translation": text_of(translated)})
    detected = detections(spoken) if rows else {}
    for row in rows:
        found = detected[row["language"]]
        row["detected"] = sum(code == row["language"] for code, _ in found)
        row["utterances"] = len(found)
        row["detect_p"] = [round(p, 2) for _, p in found]
        row["detected_as"] = [code for code, _ in found]
    live_rows = [] if args.skip_live else [live(clips["es"], 1), live(clips["es"], 2)]
    (OUT / ("live.json" if args.only_live else "results.json")).write_text(json.dumps({"offline": rows, "live": live_rows}, indent=1, ensure_ascii=False))

    print("\nLanguages: whisper-base int8 (x86-cpu-multilingual), espeak-ng speech, 8 sentences per language")
    print("| language | WER (--language XX) | WER (auto) | faster-whisper WER | detected per utterance "
          "| detector p (min-max) | translate→en WER | wall s (ours / fw) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['language']} | {100 * r['wer']:.1f}% | {100 * r['wer_auto']:.1f}% "
              f"({','.join(str(x) for x in r['auto_languages'])}) | {100 * r['fw_wer']:.1f}% "
              f"| {r['detected']}/{r['utterances']} | {min(r['detect_p']):.2f}-{max(r['detect_p']):.2f} "
              f"| {100 * r['translate_wer']:.0f}% | {r['wall_s']:.1f} / {r['fw_wall_s']:.1f} |")
    if live_rows:
        print("\nLive captions with whisper-base (Spanish clip at real-time pace, x86-cpu-multilingual)")
        print("| streams | finals | final latency median | p90 | box CPU | WER per stream |")
        print("|---|---|---|---|---|---|")
        for r in live_rows:
            print(f"| {r['streams']} | {r['finals']} | {r['median_s']:.2f} s | {r['p90_s']:.2f} s "
                  f"| {100 * r['cpu_box']:.0f}% | {', '.join(f'{100 * w:.1f}%' for w in r['wer'])} |")
    if args.json:
        print(json.dumps({"offline": [{k: v for k, v in r.items() if k not in ("text", "fw_text", "translation")}
                                      for r in rows], "live": live_rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
