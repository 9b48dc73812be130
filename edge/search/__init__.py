"""One search over what the box heard, saw and was told: full-text (BM25) fused with semantic (embeddings)."""
