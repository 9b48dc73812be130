"""Grounded first drafts: extract facts from what the box captured, let a model write around them,
verify every sentence against the sources, fall back to an extractive draft, export as ninjs 2.2."""
