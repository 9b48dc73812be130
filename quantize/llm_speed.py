"""Generation speed of the box's LLM on OpenVINO GenAI, per stated OpenVINO setting (run on a quiet machine).

    python -m quantize.llm_speed [--profile x86-cpu] [--tokens 150]

The profile's own settings first, then OpenVINO's CPU defaults (activations
quantized in groups of 32, u8 KV cache), each in the box's child process, on
the first fixed transcript of bench/drafts.py as the draft pipeline prompts it.
Quality for the same settings is the llm gate's row (python -m quantize eval).
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    from dataclasses import replace

    from bench.drafts import EVENTS
    from edge.backends.base import get_backend
    from edge.profiles import load_profile
    from edge.registry import Registry

    p = argparse.ArgumentParser(prog="python -m quantize.llm_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="x86-cpu")
    p.add_argument("--tokens", type=int, default=150)
    args = p.parse_args(argv)
    llm = load_profile(args.profile).llm
    _, directory = Registry().resolve(llm.model)
    event, sentences = next(iter(EVENTS.values()))
    messages = [{"role": "user", "content": "Write a short news report from this transcript:\n" + " ".join(sentences)}]
    base = llm.runtime()
    print("| settings | load s | new tokens | tokens/s |\n|---|---|---|---|")
    for label, settings in (("profile: DQ 0, KV f32", base),
                            ("CPU defaults: DQ 32, KV u8", replace(base, dynamic_quantization_group_size=32,
                                                                   kv_cache_precision="u8"))):
        t0 = time.perf_counter()
        model = get_backend(llm.backend).load(directory, settings)
        load_s = time.perf_counter() - t0
        count = 0

        def tick() -> bool:
            nonlocal count
            count += 1
            return True

        t0 = time.perf_counter()
        model.generate(messages, max_new_tokens=args.tokens, on_token=tick)
        took = time.perf_counter() - t0
        model.close()
        print(f"| {label} | {load_s:.1f} | {count} | {count / took:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
