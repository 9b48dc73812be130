"""Sentence embeddings (all-MiniLM-L6-v2, 384-d, unit length) on ONNX Runtime or OpenVINO, no torch.

The graph (built at provisioning by quantize/bert_onnx.py) does the pooling
and normalisation, so a vector's dot product with another is their cosine.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from edge.backends.base import RuntimeSettings, get_backend
from edge.errors import ModelError
from edge.registry import Registry

DIM = 384
# all-MiniLM-L6-v2 was trained on up to 128 word pieces (its sentence_bert_config
# says 256 is the most it takes); longer text is embedded by its first 256.
MAX_TOKENS = 256
# Sorting by length before batching keeps padding (wasted compute) small.
BATCH = 16


@dataclass(frozen=True)
class EmbedderChoice:
    model: str = "minilm-l6-v2"
    file: str = "model-int8.onnx"
    backend: str = "onnxruntime"
    threads: int = 1


class Embedder:
    def __init__(self, session, tokenizer, name: str) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.name = name
        self.dim = DIM

    @classmethod
    def from_profile(cls, profile, registry: Registry | None = None) -> Embedder:
        e = profile.tagging.embeddings
        return cls.load(EmbedderChoice(e.model, e.file, e.backend, e.threads), registry)

    @classmethod
    def load(cls, choice: EmbedderChoice | None = None, registry: Registry | None = None) -> Embedder:
        from tokenizers import Tokenizer

        choice = choice or EmbedderChoice()
        _, directory = (registry or Registry()).resolve(choice.model)
        graph = directory / choice.file
        if not graph.is_file():
            raise ModelError(f"embedder file {graph} does not exist", "set tagging.embeddings.file to model.onnx or "
                             "model-int8.onnx, then run 'edge models provision'")
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        # f32 stated: OpenVINO would pick bf16 on AMX CPUs and move the vectors.
        settings = RuntimeSettings(threads=choice.threads, precision="f32")
        session = get_backend(choice.backend).load(graph, settings)
        return cls(session, tokenizer, f"{choice.model}/{choice.file}")

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors [len(texts), 384] float32; an empty text gets the vector of an empty sentence."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            out[idx] = self._session.run({"input_ids": ids, "attention_mask": mask})["embeddings"]
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
