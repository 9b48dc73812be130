"""Turning what a person typed into an FTS5 query that cannot be abused.

FTS5 has its own query language (NEAR, column filters, quotes, `*`); user
text must never reach it raw, or a stray quote becomes a syntax error and a
crafted one an expensive query. Words are extracted, quoted, and all are
required; the last word also matches as a prefix, so a search box finds
"evacuation" while "evac" is being typed.
"""

from __future__ import annotations

import re

MAX_QUERY_WORDS = 16
MAX_WORD_CHARS = 64
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """The MATCH expression for `text`, or None when it has no words."""
    if not isinstance(text, str):
        return None
    words = [w[:MAX_WORD_CHARS] for w in _WORD.findall(text.casefold())][:MAX_QUERY_WORDS]
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " AND ".join(quoted)
