// The draft editor: each sentence beside its sources (tap a source to hear it, or read it with its time),
// what the verifier removed and why, edit / approve / reject, and who did what when.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let current = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The caption with its time at once; its audio too when the box recorded that run (else a 404 says so).
  async function showSource(src) {
    const view = $("ed-source-view");
    view.hidden = false;
    const where = src.stream ? `${src.stream}, ${edge.clock(src.wall_start)} (${src.start.toFixed(1)} s into the run)` : "";
    $("ed-source-text").textContent = where ? `${where}: “${src.text}”` : src.text;
    const audio = $("ed-audio");
    audio.hidden = true;
    if (!src.run || src.type === "event") return;
    if (!src.media) {
      $("ed-source-text").textContent += " (no audio recorded for this run)";
      return;
    }
    const q = new URLSearchParams({ start: Math.max(0, src.start - 0.3).toFixed(2), end: (src.end + 0.3).toFixed(2) });
    const r = await fetch(`/api/runs/${encodeURIComponent(src.run)}/audio?${q}`);
    if (!r.ok) {
      $("ed-source-text").textContent += " (no audio recorded for this run)";
      return;
    }
    if (audio.dataset.url) URL.revokeObjectURL(audio.dataset.url);
    audio.dataset.url = URL.createObjectURL(await r.blob());
    audio.src = audio.dataset.url;
    audio.hidden = false;
    audio.play().catch(() => { /* the crew can press play */ });
  }

  function sourcesOf(item) {
    const box = el("div", "sources small");
    const srcs = item.sources || [];
    if (!srcs.length) {
      box.textContent = item.edited_by ? `written by ${item.edited_by}` : "no source";
      return box;
    }
    srcs.forEach((s) => {
      const b = el("button", "source link", s.stream ? `${edge.clock(s.wall_start)} ${s.text}` : s.text);
      b.type = "button";
      b.title = s.media ? "play the audio at this time" : "show this caption with its time (no audio recorded)";
      b.addEventListener("click", () => showSource(s));
      box.appendChild(b);
    });
    return box;
  }

  function sentenceRow(item, editable) {
    const li = el("li", "sentence");
    if (editable) {
      const t = el("textarea", "sentence-text");
      t.value = item.text;
      t.rows = 2;
      li.appendChild(t);
    } else {
      li.appendChild(el("span", "sentence-text", item.text));
    }
    li.appendChild(sourcesOf(item));
    return li;
  }

  function render(d) {
    current = d;
    $("editor").hidden = false;
    $("ed-state").textContent = d.state;
    $("ed-state").className = `badge state-${d.state}`;
    const model = d.model ? `${d.model.name} (${d.model.quantization})` : "no model";
    $("ed-meta").textContent = `${d.stream || "transcript"} · version ${d.version} · ${d.mode} draft` +
      (d.fallback_reason ? ` (${d.fallback_reason})` : "") + ` · ${model}`;
    $("ed-headline").value = d.headline.text;
    const hs = $("ed-headline-src");
    hs.replaceChildren(...sourcesOf(d.headline).childNodes);
    $("ed-body").replaceChildren(...d.body.map((s) => sentenceRow(s, true)));
    $("ed-quotes").replaceChildren(...d.quotes.map((s) => sentenceRow(s, false)));
    $("ed-facts").replaceChildren(...d.facts.map((s) => sentenceRow(s, false)));
    const removed = d.removed.map((r) => {
      const li = el("li", "removed-item");
      li.appendChild(el("span", "removed-text", r.text));
      li.appendChild(el("span", "why small", `why: ${(r.reasons || []).join("; ")}`));
      return li;
    });
    if (!removed.length) removed.push(el("li", "muted small", "Nothing was removed."));
    $("ed-removed").replaceChildren(...removed);
    $("ed-audit").replaceChildren(...d.audit.map((a) => el("li", "", `${edge.clock(a.at)} ${a.user} ${a.action}` +
      (a.detail && a.detail.reason ? `: ${a.detail.reason}` : ""))));
    const final = d.state === "synced";
    $("ed-approve").disabled = !(d.state === "generated" || d.state === "edited");
    $("ed-reject").disabled = final || d.state === "rejected";
  }

  async function call(path, body) {
    const r = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) { edge.toLogin(); return null; }
    if (!r.ok) { edge.show($("ed-error"), await edge.errorText(r)); return null; }
    edge.show($("ed-error"), "");
    return r.json();
  }

  async function load(id) {
    const d = await call(`/api/drafts/${encodeURIComponent(id)}`);
    if (d) render(d);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const id = new URLSearchParams(location.search).get("id");
    if (id) load(id);
    $("ed-add").addEventListener("click", () => {
      $("ed-body").appendChild(sentenceRow({ text: "", sources: [] }, true));
    });
    $("ed-save").addEventListener("click", async () => {
      const body = [...$("ed-body").querySelectorAll("textarea")].map((t) => t.value).filter((v) => v.trim());
      const d = await call(`/api/drafts/${current.id}/edit`, { headline: $("ed-headline").value, body });
      if (d) render(d);
    });
    $("ed-approve").addEventListener("click", async () => {
      const d = await call(`/api/drafts/${current.id}/approve`, {});
      if (d) render(d);
    });
    $("ed-reject").addEventListener("click", async () => {
      const d = await call(`/api/drafts/${current.id}/reject`, { reason: $("ed-reason").value });
      if (d) render(d);
    });
    $("request-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const since = Number($("request-since").value) || null;
      const r = await fetch("/api/drafts", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ stream: $("request-stream").value, since_minutes: since }),
      });
      $("request-status").textContent = r.ok ? "Writing the draft in the background; reload in a minute."
        : await edge.errorText(r);
    });
  });
})();
