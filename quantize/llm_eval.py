"""Language-model quality without torch: perplexity on held text and the draft verifier's acceptance rate.

    perplexity_onnx(model_dir, texts) -> float       ONNX Runtime, an optimum-style decoder export
    perplexity_openvino(ir_dir, texts) -> float      OpenVINO core (not GenAI: GenAI returns no prompt logits)
    acceptance(generator) -> dict                    share of the model's draft sentences the verifier keeps

Perplexity is teacher-forced: one forward pass over each held passage gives
the logits of every position, and each next token's negative log-likelihood
is read from them (numpy, float64). The first token of a passage has no
context and is not scored. Both runtimes keep their key/value cache between
calls, so the same decoder also generates, greedily, for the acceptance rate.

The held text is bench/test_sentences.txt (64 news sentences written for this
project's speech test set, so no model was trained on them; nothing is
calibrated on them), grouped into passages of PASSAGE_SENTENCES sentences.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.errors import ModelError

HELD_TEXT = Path(__file__).resolve().parent.parent / "bench" / "test_sentences.txt"
PASSAGE_SENTENCES = 8  # ~170 tokens: most tokens are scored with a paragraph of context
# Decoding as the box's OpenVINO GenAI generator does it (edge/backends/openvino_genai.py), so the acceptance
# rate measures what a draft would get from this variant; one decoder for every variant, so only the model differs.
REPETITION_PENALTY = 1.15
NO_REPEAT_NGRAM = 4


def held_passages(path: Path = HELD_TEXT, per: int = PASSAGE_SENTENCES) -> list[str]:
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    return [" ".join(lines[i:i + per]) for i in range(0, len(lines), per)]


# -- tokenizers ----------------------------------------------------------------------


class TextTokenizer(Protocol):
    eos_ids: frozenset[int]

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def chat(self, messages: list[dict[str, str]]) -> str: ...


def _render_chat(template: str, messages: list[dict[str, str]], specials: dict[str, str]) -> str:
    import jinja2

    def raise_exception(message: str) -> None:
        raise ModelError(f"the model's chat template refused the messages: {message}", "check the roles")

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **specials)


class HFTokenizer:
    """tokenizer.json (+ chat_template.jinja or tokenizer_config.json for the chat template), as optimum writes them."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
        cfg_path = directory / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        jinja = directory / "chat_template.jinja"  # transformers >= 4.47 keeps the template in its own file
        self._template = jinja.read_text() if jinja.is_file() else cfg.get("chat_template")
        self._specials = {k: v for k, v in cfg.items() if k.endswith("_token") and isinstance(v, str)}
        self.eos_ids = frozenset(_eos_ids(directory) | {i for t in ("<|im_end|>", "<|endoftext|>", "</s>")
                                                        if (i := self._tok.token_to_id(t)) is not None})

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def chat(self, messages: list[dict[str, str]]) -> str:
        if not self._template:
            raise ModelError("the model directory has no chat template (tokenizer_config.json: chat_template)",
                             "export it with its tokenizer (python -m quantize export)")
        return _render_chat(self._template, messages, self._specials)


class OVTokenizer:
    """openvino_tokenizer.xml / openvino_detokenizer.xml, as OpenVINO GenAI and optimum-intel write them."""

    def __init__(self, directory: Path) -> None:
        import openvino as ov
        import openvino_tokenizers  # noqa: F401  (registers the string ops the tokenizer graph uses)

        core = ov.Core()
        model = core.read_model(str(directory / "openvino_tokenizer.xml"))
        info = model.get_rt_info()
        self._template = info["chat_template"].astype(str) if "chat_template" in info else None
        self._tok = core.compile_model(model, "CPU")
        self._detok = core.compile_model(str(directory / "openvino_detokenizer.xml"), "CPU")
        eos = {int(info["eos_token_id"].astype(str))} if "eos_token_id" in info else set()
        self.eos_ids = frozenset(eos | _eos_ids(directory))

    def encode(self, text: str) -> list[int]:
        out = self._tok([text])
        return [int(i) for i in out["input_ids"][0]]

    def decode(self, ids: Sequence[int]) -> str:
        out = self._detok(np.array([list(ids)], dtype=np.int64))
        return str(next(iter(out.values()))[0])

    def chat(self, messages: list[dict[str, str]]) -> str:
        if not self._template:
            raise ModelError("the OpenVINO tokenizer carries no chat template", "re-export the model with its tokenizer")
        return _render_chat(self._template, messages, {})


def _eos_ids(directory: Path) -> set[int]:
    out: set[int] = set()
    for name in ("generation_config.json", "config.json"):
        path = directory / name
        if path.is_file():
            eos = json.loads(path.read_text()).get("eos_token_id")
            out |= set(eos) if isinstance(eos, list) else ({eos} if isinstance(eos, int) else set())
    return out


def load_tokenizer(directory: Path) -> TextTokenizer:
    if (directory / "tokenizer.json").is_file():
        return HFTokenizer(directory)
    if (directory / "openvino_tokenizer.xml").is_file():
        return OVTokenizer(directory)
    raise ModelError(f"no tokenizer in {directory} (tokenizer.json or openvino_tokenizer.xml)",
                     "export the model with its tokenizer (python -m quantize export)")


# -- decoders: token ids in, next-token logits out, cache kept between calls -----------


class Decoder(Protocol):
    def reset(self) -> None: ...

    def forward(self, ids: Sequence[int]) -> np.ndarray:
        """Logits [len(ids), vocab] for these tokens, continuing after the ones fed since reset()."""


class OnnxDecoder:
    """An optimum-style causal LM export: input_ids, attention_mask[, position_ids][, past_key_values.N.key/value].

    A graph without past inputs is rerun over the whole sequence at each call
    (correct, only slower); with them, the present outputs become the next past.
    """

    def __init__(self, path: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"cannot load {path} in ONNX Runtime: {str(exc).splitlines()[0][:200]}",
                             "point at an ONNX decoder export (model.onnx of python -m quantize export)") from None
        self._inputs = {i.name: i for i in self._s.get_inputs()}
        if "input_ids" not in self._inputs or self._s.get_outputs()[0].name != "logits":
            raise ModelError(f"{path} is not a causal language model graph (input_ids in, logits out)",
                             "export it as text-generation(-with-past)")
        self._past = [n for n in self._inputs if n.startswith("past_key_values.")]
        self._present = [n.replace("past_key_values.", "present.") for n in self._past]
        config = path.parent / "config.json"
        self._config = json.loads(config.read_text()) if config.is_file() else {}
        self.reset()

    def _empty_past(self, name: str) -> np.ndarray:
        shape = self._inputs[name].shape  # [batch, kv_heads, past_len, head_dim]
        heads = shape[1] if isinstance(shape[1], int) else self._config.get(
            "num_key_value_heads", self._config.get("num_attention_heads"))
        dim = shape[3] if isinstance(shape[3], int) else self._config.get(
            "head_dim", self._config["hidden_size"] // self._config["num_attention_heads"])
        dtype = np.float16 if "float16" in self._inputs[name].type else np.float32
        return np.zeros((1, int(heads), 0, int(dim)), dtype=dtype)

    def reset(self) -> None:
        self._seen: list[int] = []
        self._cache = {n: self._empty_past(n) for n in self._past}

    def forward(self, ids: Sequence[int]) -> np.ndarray:
        new = list(ids)
        feed_ids = new if self._past else self._seen + new
        start = len(self._seen) if self._past else 0
        total = len(self._seen) + len(new)
        feeds: dict[str, Any] = {"input_ids": np.array([feed_ids], dtype=np.int64),
                                 "attention_mask": np.ones((1, total), dtype=np.int64)}
        if "position_ids" in self._inputs:
            feeds["position_ids"] = np.arange(start, total, dtype=np.int64)[None]
        feeds.update(self._cache)
        outs = self._s.run(["logits", *self._present], feeds)
        self._cache = dict(zip(self._past, outs[1:]))
        self._seen += new
        return np.asarray(outs[0][0, -len(new):], dtype=np.float32)


class OpenVINODecoder:
    """A stateful OpenVINO IR (optimum-intel's export, or GenAI's from a GGUF): the KV cache is model state."""

    def __init__(self, ir_dir: Path, threads: int = 2, precision: str = "f32", *,
                 dynamic_quantization_group_size: int = 0, kv_cache_precision: str = "f32") -> None:
        import openvino as ov

        xml = ir_dir / "openvino_model.xml" if ir_dir.is_dir() else ir_dir
        if not xml.is_file():
            raise ModelError(f"no OpenVINO IR at {xml}", "export it (python -m quantize export --to openvino), "
                             "or build it from a GGUF with ir_from_gguf()")
        core = ov.Core()
        model = core.read_model(str(xml))
        names = {i.get_any_name() for i in model.inputs}
        if "input_ids" not in names or not model.get_sinks():
            raise ModelError(f"{xml} is not a stateful causal LM (input_ids in, KV cache as state)",
                             "export it with optimum-intel's default (stateful) text-generation-with-past")
        self._names = names
        # The precision is stated, never left to the plugin (bf16 on AMX CPUs would change the figures), and so
        # are the plugin's activation quantization and KV-cache precision: the profile's llm entry gives the box's
        # GenAI pipeline the same three (edge/backends/openvino_genai.py).
        compiled = core.compile_model(model, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
            "DYNAMIC_QUANTIZATION_GROUP_SIZE": dynamic_quantization_group_size,
            "KV_CACHE_PRECISION": kv_cache_precision})
        self._req = compiled.create_infer_request()
        self.reset()

    def reset(self) -> None:
        self._req.reset_state()
        self._n = 0

    def forward(self, ids: Sequence[int]) -> np.ndarray:
        new = np.array([list(ids)], dtype=np.int64)
        total = self._n + new.shape[1]
        feeds = {"input_ids": new, "attention_mask": np.ones((1, total), dtype=np.int64)}
        if "position_ids" in self._names:
            feeds["position_ids"] = np.arange(self._n, total, dtype=np.int64)[None]
        if "beam_idx" in self._names:
            feeds["beam_idx"] = np.zeros(1, dtype=np.int32)
        out = self._req.infer(feeds)
        self._n = total
        logits = out["logits"] if "logits" in {o.get_any_name() for o in self._req.model_outputs} else out[0]
        return np.asarray(logits[0, -new.shape[1]:], dtype=np.float32)


# -- perplexity -------------------------------------------------------------------------


def token_nll(logits: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """-log p(target) per row of logits (log-softmax in float64: large vocabularies lose digits in float32)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=-1))
    return log_norm - z[np.arange(len(targets)), np.asarray(targets)]


@dataclass(frozen=True)
class Perplexity:
    value: float
    tokens: int  # tokens scored
    nll_sum: float


def perplexity(decoder: Decoder, token_lists: Sequence[Sequence[int]]) -> Perplexity:
    total, count = 0.0, 0
    for ids in token_lists:
        if len(ids) < 2:
            continue
        decoder.reset()
        logits = decoder.forward(ids)
        total += float(token_nll(logits[:-1], ids[1:]).sum())
        count += len(ids) - 1
    if not count:
        raise ValueError("no text to score: every passage is shorter than two tokens")
    return Perplexity(float(np.exp(total / count)), count, total)


def _onnx_file(model_dir: Path, file: str | None) -> Path:
    path = Path(model_dir)
    if path.is_file():
        return path
    if file:
        return path / file
    found = sorted(path.glob("*.onnx"))
    if (path / "model.onnx").is_file():
        return path / "model.onnx"
    if len(found) == 1:
        return found[0]
    raise ModelError(f"{model_dir}: {'no ONNX file' if not found else 'several ONNX files'}; name one",
                     "pass the .onnx file itself")


def perplexity_onnx(model_dir: Path | str, texts: Sequence[str] | None = None, *, file: str | None = None,
                    threads: int = 2) -> float:
    """Perplexity of an ONNX decoder export on `texts` (default: the held passages)."""
    path = _onnx_file(Path(model_dir), file)
    tok = load_tokenizer(path.parent)
    return perplexity(OnnxDecoder(path, threads), [tok.encode(t) for t in texts or held_passages()]).value


def perplexity_openvino(ir_dir: Path | str, texts: Sequence[str] | None = None, *, threads: int = 2,
                        precision: str = "f32", **runtime: Any) -> float:
    """Perplexity of an OpenVINO IR directory on `texts` (default: the held passages); runtime: OpenVINODecoder's."""
    ir_dir = Path(ir_dir)
    tok = load_tokenizer(ir_dir)
    return perplexity(OpenVINODecoder(ir_dir, threads, precision, **runtime),
                      [tok.encode(t) for t in texts or held_passages()]).value


def ir_from_gguf(gguf: Path, out_dir: Path) -> Path:
    """The OpenVINO IR that GenAI builds from a GGUF (the graph the box runs), saved for OpenVINO core.

    GenAI converts the GGUF in memory at every load; asked to, it saves the
    model and its tokenizers beside the file it read, so the copy goes to out_dir.
    """
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "openvino_model.xml").is_file() and (out_dir / "openvino_tokenizer.xml").is_file():
        return out_dir
    local = out_dir / gguf.name
    if not local.exists():
        shutil.copyfile(gguf, local)
    import openvino_genai as og

    og.LLMPipeline(str(local), "CPU", enable_save_ov_model=True)
    local.unlink()
    if not (out_dir / "openvino_model.xml").is_file():
        raise ModelError(f"OpenVINO GenAI did not save an IR for {gguf}", "check the openvino-genai version (>= 2025.2)")
    return out_dir


# -- generation and the verifier's acceptance rate ------------------------------------


def greedy(decoder: Decoder, prompt: Sequence[int], *, max_new_tokens: int, eos_ids: frozenset[int],
           on_token: Callable[[], bool] | None = None) -> list[int]:
    """Greedy decoding with the box's repetition penalty and no-repeat n-grams."""
    decoder.reset()
    seq = list(prompt)
    logits = decoder.forward(seq)[-1]
    out: list[int] = []
    for step in range(max_new_tokens):
        if step:
            logits = decoder.forward([seq[-1]])[-1]  # only when another token is wanted
        z = logits.astype(np.float64)
        seen = np.unique(np.array(seq))
        z[seen] = np.where(z[seen] > 0, z[seen] / REPETITION_PENALTY, z[seen] * REPETITION_PENALTY)
        if len(seq) >= NO_REPEAT_NGRAM:
            head = tuple(seq[-(NO_REPEAT_NGRAM - 1):])
            banned = [seq[i + NO_REPEAT_NGRAM - 1] for i in range(len(seq) - NO_REPEAT_NGRAM + 1)
                      if tuple(seq[i:i + NO_REPEAT_NGRAM - 1]) == head]
            z[banned] = -np.inf
        nxt = int(np.argmax(z))
        if nxt in eos_ids:
            break
        out.append(nxt)
        seq.append(nxt)
        if on_token is not None and on_token() is False:
            break
    return out


class DecoderTextGenerator:
    """The TextGenerator protocol (edge/backends/base.py) over a decoder: what the draft pipeline calls."""

    def __init__(self, decoder: Decoder, tokenizer: TextTokenizer, model_name: str, quantization: str) -> None:
        self.decoder, self.tokenizer = decoder, tokenizer
        self.model_name, self.quantization = model_name, quantization
        self.tokens = 0  # generated so far, all calls together (a speed figure divides by it)

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int,
                 on_token: Callable[[], bool] | None = None) -> str:
        prompt = self.tokenizer.encode(self.tokenizer.chat(messages))
        ids = greedy(self.decoder, prompt, max_new_tokens=max_new_tokens, eos_ids=self.tokenizer.eos_ids,
                     on_token=on_token)
        self.tokens += len(ids)
        return self.tokenizer.decode(ids)


def acceptance(generator: Any, *, max_new_tokens: int = 160, max_prompt_chars: int = 1200) -> dict[str, Any]:
    """Draft the fixed event transcripts of bench/drafts.py (text input) and count the sentences the verifier kept."""
    from bench.drafts import EVENTS, text_segments
    from edge.drafts.pipeline import draft_from_segments

    written = kept = 0
    for kind, (event, sentences) in EVENTS.items():
        d = draft_from_segments(text_segments(kind, sentences), event=event, model=generator,
                                model_info={"name": generator.model_name}, max_new_tokens=max_new_tokens,
                                max_prompt_chars=max_prompt_chars, deadline_s=None)
        written += d.model_sentences
        kept += d.model_accepted
    return {"acceptance": round(kept / written, 4) if written else 0.0, "sentences_written": written,
            "sentences_kept": kept, "transcripts": len(EVENTS)}
