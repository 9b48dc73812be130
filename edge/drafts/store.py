"""Drafts as the crew handles them: states, edits, approval, the audit trail, and what goes to the newsroom.

    generated -> edited -> approved -> synced        (or rejected, from any state but synced)

An edit may follow an approval (a correction): the draft is back to edited
and needs approving again. Only approved drafts are queued for the newsroom
(as a ninjs `draft` asset, one per approved version) unless the box is set to
`drafts.sync: all`; a draft becomes `synced` once the center holds its asset.
Every change is in `draft_audit`: who, when, what (the old and new text).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from edge.drafts.ninjs import draft_document
from edge.drafts.pipeline import Draft
from edge.errors import EdgeError
from edge.ids import IdClock

State = Literal["generated", "edited", "approved", "synced", "rejected"]
STATES: tuple[str, ...] = ("generated", "edited", "approved", "synced", "rejected")
# Which action is allowed from which state.
_ALLOWED: dict[str, frozenset[str]] = {
    "edit": frozenset({"generated", "edited", "approved", "synced", "rejected"}),
    "approve": frozenset({"generated", "edited"}),
    "reject": frozenset({"generated", "edited", "approved"}),
}
MAX_SENTENCES = 60
MAX_SENTENCE_CHARS = 2000


class DraftStateError(EdgeError):
    """The action does not fit the draft's state, or the draft does not exist."""


@dataclass(frozen=True)
class DraftRow:
    id: str
    stream: str | None
    state: str
    version: int
    created_at: float
    updated_at: float
    content: dict[str, Any]
    asset_id: str | None
    last_seq: int | None

    @property
    def headline(self) -> str:
        return self.content["headline"]["text"]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "stream": self.stream, "state": self.state, "version": self.version,
                "created_at": self.created_at, "updated_at": self.updated_at, "asset_id": self.asset_id,
                "headline": self.headline, **self.content}


def content_of(draft: Draft) -> dict[str, Any]:
    return {
        "headline": draft.headline.to_json(),
        "body": [c.to_json() for c in draft.body],
        "quotes": [c.to_json() for c in draft.quotes],
        "facts": [c.to_json() for c in draft.facts],
        "removed": [c.to_json() for c in draft.removed],
        "mode": draft.mode, "fallback_reason": draft.fallback_reason, "language": draft.language,
        "event": {"name": draft.event.name, "place": draft.event.place},
        "model": draft.model, "sources": draft.sources, "model_sentences": draft.model_sentences,
        "model_accepted": draft.model_accepted, "seconds": round(draft.seconds, 3), "warnings": draft.warnings,
        "edited": False,
    }


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts)) + " UTC" if ts else ""


def body_text(content: dict[str, Any]) -> str:
    """The plain-text body the newsroom reads: the story, the exact quotes with where and when, the key facts."""
    parts = [" ".join(s["text"] for s in content["body"])]
    quotes = [f"{q['text']} ({q['support']['stream']}, {_clock(q['support'].get('wall_start'))})"
              if q.get("support") else q["text"] for q in content.get("quotes", [])]
    if quotes:
        parts.append("Quotes:\n" + "\n".join(quotes))
    if content.get("facts"):
        parts.append("Key facts: " + "; ".join(f["text"] for f in content["facts"]))
    return "\n\n".join(p for p in parts if p.strip())


def provenance(row: DraftRow, box: str) -> dict[str, Any]:
    c = row.content
    sentences = [s for s in [c["headline"], *c["body"], *c.get("quotes", []), *c.get("facts", [])]]
    return {"box": box, "draft": row.id, "version": row.version, "state": row.state, "mode": c["mode"],
            "fallback_reason": c.get("fallback_reason"),
            "model": {k: v for k, v in (c.get("model") or {}).items() if k != "raw"} or None,
            "sentences": sentences, "removed": c.get("removed", []), "sources": c.get("sources"),
            "verifier": {"support_threshold": _threshold(), "checks": ["quotes verbatim", "numbers", "names",
                                                                        "dates and times", "third person",
                                                                        "lexical support"]},
            "edited": c.get("edited", False), "edits": c.get("edits", [])}


def _threshold() -> float:
    from edge.drafts.verify import SUPPORT_THRESHOLD

    return SUPPORT_THRESHOLD


def document_for(row: DraftRow, box: str) -> dict[str, Any]:
    """The draft's ninjs 2.2 document (validated)."""
    c = row.content
    edits = c.get("edits") or []
    sources = c.get("sources") or {}
    return draft_document(
        box=box, draft_id=row.id, version=row.version, state=row.state, created_at=row.created_at,
        updated_at=row.updated_at, headline=row.headline, body=body_text(c), language=c.get("language") or "en",
        edited=bool(c.get("edited")), event_name=(c.get("event") or {}).get("name"), tags=c.get("tags") or [],
        place=(c.get("event") or {}).get("place"), streams=sources.get("streams", []),
        runs=sources.get("runs", []), wall_start=sources.get("wall_start"),
        provenance=provenance(row, box), by=edits[-1]["user"] if edits else None)


def unsaved(draft: Draft, *, stream: str | None = None) -> DraftRow:
    """A draft that is printed, not stored (edge draft)."""
    now = time.time()
    return DraftRow(IdClock().next(), stream, "generated", 1, now, now, content_of(draft), None, None)


class DraftStore:
    def __init__(self, store: Any, *, box_id: str, sync: Literal["approved", "all"] = "approved") -> None:
        self.store = store  # edge.store.AssetStore
        self.db = store.db
        self.box_id = box_id
        self.sync = sync
        newest = self.db.read_one("SELECT MAX(id) FROM drafts")
        self._ids = IdClock(newest[0] if newest and newest[0] else None)

    # -- reading ---------------------------------------------------------------------------

    def get(self, draft_id: str) -> DraftRow:
        self.refresh_synced()
        row = self.db.read_one("SELECT id, stream, state, version, created_at, updated_at, content, asset_id, last_seq"
                               " FROM drafts WHERE id = ?", (str(draft_id),))
        if row is None:
            raise DraftStateError(f"no draft {str(draft_id)[:40]!r}", "list drafts with 'edge draft --list' or the dashboard")
        return _row(row)

    def list(self, *, stream: str | None = None, limit: int = 100) -> list[DraftRow]:
        self.refresh_synced()
        sql = "SELECT id, stream, state, version, created_at, updated_at, content, asset_id, last_seq FROM drafts"
        params: tuple = ()
        if stream:
            sql += " WHERE stream = ?"
            params = (stream,)
        return [_row(r) for r in self.db.read(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))]

    def last_seq(self, stream: str) -> int:
        row = self.db.read_one("SELECT MAX(last_seq) FROM drafts WHERE stream = ?", (stream,))
        return int(row[0]) if row and row[0] is not None else 0

    def audit(self, draft_id: str) -> list[dict[str, Any]]:
        rows = self.db.read("SELECT at, user, action, detail FROM draft_audit WHERE draft_id = ? ORDER BY id", (draft_id,))
        return [{"at": at, "user": user, "action": action, "detail": json.loads(detail)} for at, user, action, detail in rows]

    def document(self, draft_id: str) -> dict[str, Any]:
        return self._document(self.get(draft_id))

    def _document(self, row: DraftRow) -> dict[str, Any]:
        return document_for(row, self.box_id)

    # -- writing ---------------------------------------------------------------------------

    def create(self, draft: Draft, *, stream: str | None, last_seq: int | None = None, user: str = "box",
               tags: list[str] = ()) -> DraftRow:
        now = time.time()
        draft_id = self._ids.next()
        content = content_of(draft)
        content["tags"] = list(tags)
        with self.db.write() as db:
            db.execute("INSERT INTO drafts (id, stream, state, version, created_at, updated_at, content, asset_id,"
                       " last_seq) VALUES (?, ?, 'generated', 1, ?, ?, ?, NULL, ?)",
                       (draft_id, stream, now, now, json.dumps(content, ensure_ascii=False), last_seq))
            _audit(db, draft_id, user, "generated", {"mode": draft.mode, "removed": len(draft.removed),
                                                     "fallback_reason": draft.fallback_reason})
        row = self.get(draft_id)
        if self.sync == "all":
            row = self._queue(row, user)
        return row

    def edit(self, draft_id: str, *, user: str, headline: str | None = None, body: list[str] | None = None) -> DraftRow:
        row = self._expect(draft_id, "edit")
        content = json.loads(json.dumps(row.content))
        changes: dict[str, Any] = {}
        if headline is not None:
            headline = _clean(headline, "headline")
            if headline != content["headline"]["text"]:
                changes["headline"] = {"from": content["headline"]["text"], "to": headline}
                content["headline"] = {"text": headline, "role": "headline", "edited_by": user}
        if body is not None:
            if len(body) > MAX_SENTENCES:
                raise DraftStateError(f"a draft body holds at most {MAX_SENTENCES} sentences, got {len(body)}",
                                      "shorten the draft")
            new_body = [_clean(t, "sentence") for t in body if t.strip()]
            old = {s["text"]: s for s in content["body"]}
            if new_body != [s["text"] for s in content["body"]]:
                changes["body"] = {"from": [s["text"] for s in content["body"]], "to": new_body}
                # Unchanged sentences keep their sources; changed ones are the editor's words.
                content["body"] = [old[t] if t in old else {"text": t, "role": "body", "edited_by": user}
                                   for t in new_body]
        if not changes:
            return row
        content["edited"] = True
        content.setdefault("edits", []).append({"user": user, "at": time.time()})
        now = time.time()
        with self.db.write() as db:
            db.execute("UPDATE drafts SET state = 'edited', version = version + 1, updated_at = ?, content = ?"
                       " WHERE id = ?", (now, json.dumps(content, ensure_ascii=False), row.id))
            _audit(db, row.id, user, "edited", changes)
        row = self.get(row.id)
        if self.sync == "all":
            row = self._queue(row, user)
        return row

    def approve(self, draft_id: str, *, user: str) -> DraftRow:
        row = self._expect(draft_id, "approve")
        with self.db.write() as db:
            db.execute("UPDATE drafts SET state = 'approved', updated_at = ? WHERE id = ?", (time.time(), row.id))
            _audit(db, row.id, user, "approved", {"version": row.version})
        return self._queue(self.get(row.id), user)

    def reject(self, draft_id: str, *, user: str, reason: str = "") -> DraftRow:
        row = self._expect(draft_id, "reject")
        with self.db.write() as db:
            db.execute("UPDATE drafts SET state = 'rejected', updated_at = ? WHERE id = ?", (time.time(), row.id))
            _audit(db, row.id, user, "rejected", {"reason": reason[:500]})
        return self.get(row.id)

    def refresh_synced(self) -> int:
        """Approved drafts whose asset the center now holds become synced."""
        with self.db.write() as db:
            cur = db.execute("UPDATE drafts SET state = 'synced' WHERE state = 'approved' AND asset_id IN"
                             " (SELECT id FROM assets WHERE sync IN ('synced', 'evicted'))")
            return cur.rowcount or 0

    def _expect(self, draft_id: str, action: str) -> DraftRow:
        row = self.get(draft_id)
        if row.state not in _ALLOWED[action]:
            raise DraftStateError(f"draft {row.id} is {row.state}: it cannot be {action}d now",
                                  "edit it first" if action == "approve" else "reload the draft")
        return row

    def _queue(self, row: DraftRow, user: str) -> DraftRow:
        """The draft's current version as a ninjs asset in the sync queue."""
        doc = self._document(row)
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
        c = row.content
        sources = c.get("sources") or {}
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(row.created_at))
        runs = sources.get("runs") or []
        asset = self.store.add_bytes(
            data, kind="draft", mime="application/json",
            name=f"draft-{row.stream or 'transcript'}-{stamp}-v{row.version}.ninjs.json",
            stream=row.stream if row.stream and row.stream != "event" else None,
            meta={"draft_id": row.id, "version": row.version, "state": row.state, "headline": row.headline,
                  "run": runs[0] if runs else None, "wall_start": sources.get("wall_start"),
                  "wall_end": sources.get("wall_end"), "format": "ninjs-2.2"},
            provenance={k: v for k, v in (c.get("model") or {}).items() if k in ("name", "quantization", "backend")},
            tags=c.get("tags") or [],
            text=row.headline + "\n" + body_text(c))
        with self.db.write() as db:
            db.execute("UPDATE drafts SET asset_id = ? WHERE id = ?", (asset.id, row.id))
            _audit(db, row.id, user, "queued", {"asset": asset.id, "version": row.version})
        return self.get(row.id)


def _clean(text: str, what: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise DraftStateError(f"the {what} is empty", f"write a {what}, or reject the draft")
    if len(text) > MAX_SENTENCE_CHARS:
        raise DraftStateError(f"the {what} is {len(text)} characters long (at most {MAX_SENTENCE_CHARS})",
                              "split it into sentences")
    return text


def _audit(db: Any, draft_id: str, user: str, action: str, detail: dict[str, Any]) -> None:
    db.execute("INSERT INTO draft_audit (draft_id, at, user, action, detail) VALUES (?, ?, ?, ?, ?)",
               (draft_id, time.time(), user, action, json.dumps(detail, ensure_ascii=False)))


def _row(r: tuple) -> DraftRow:
    return DraftRow(r[0], r[1], r[2], int(r[3]), float(r[4]), float(r[5]), json.loads(r[6]), r[7], r[8])
