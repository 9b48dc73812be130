"""One call that tags a text: topics, keywords, entities (the `edge tag` output)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.tagging.entities import Entity, entities, keywords
from edge.tagging.topics import Topic, TopicTagger

# Longer texts are tagged by their start: topics need a gist, not every word,
# and the embedder reads only 256 word pieces anyway.
MAX_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class Tags:
    topics: list[Topic] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"topics": [t.to_json() for t in self.topics], "keywords": list(self.keywords),
                "entities": [e.to_json() for e in self.entities]}

    def labels(self) -> list[str]:
        """Short tag strings for an asset's tag list and full-text search ("topic:sport", "person:Jane Okafor")."""
        return ([f"topic:{t.label}" for t in self.topics] + [f"{e.type}:{e.text}" for e in self.entities]
                + [f"keyword:{k}" for k in self.keywords])

    def text(self) -> str:
        return "; ".join([t.label for t in self.topics] + [e.text for e in self.entities] + list(self.keywords))


class Tagger:
    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.topics = TopicTagger(embedder)

    def tag(self, text: str, vector: np.ndarray | None = None) -> Tags:
        text = (text or "")[:MAX_TEXT_CHARS]
        if not text.strip():
            return Tags()
        return Tags(self.topics.topics(text, vector), keywords(text), entities(text))
