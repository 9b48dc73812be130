// Live captions: one card per stream, with its state (and why, when it is not playing), an audio level
// meter, a camera snapshot when the box has one, and its captions grouped by run (a run header says when
// each started; times restart with every run). Partials in grey italics are replaced by the final that
// settles them. History comes from /api/captions (the durable log), new text from the /ws/captions
// WebSocket; after a reconnect the log fills whatever was missed while offline.
// The status banner (box, streams, sync, disk and alerts) is refreshed from /api/alerts.
"use strict";

const MAX_LINES = 400; // per stream, so a long day does not slow the phone down
const LEVEL_FLOOR_DB = -60; // the meter's left end; quieter than this reads as silence
const LEVEL_STALE_MS = 3000; // no level for this long: the stream is not delivering audio
const SNAPSHOT_EVERY_MS = 5000;
const BANNER_EVERY_MS = 5000;
const DOWN_STATES = new Set(["retrying", "failed"]);

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  const conn = document.getElementById("conn");
  const empty = document.getElementById("no-streams");
  const template = document.getElementById("stream-template");
  const banner = document.getElementById("status-banner");
  const streams = new Map();
  const runStarts = new Map(); // run id -> opened_at
  let retryDelay = 1000;

  function stream(name) {
    let s = streams.get(name);
    if (s) return s;
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.stream = name;
    el.querySelector(".stream-name").textContent = name;
    live.appendChild(el);
    empty.hidden = true;
    s = { name, el, box: el.querySelector(".captions"), partial: el.querySelector(".partial"),
          state: el.querySelector(".state"), reason: el.querySelector(".reason"), level: el.querySelector(".level"),
          snapshot: el.querySelector(".snapshot"), actions: el.querySelector(".caption-actions"),
          lastSeq: null, run: null, runs: new Map(), seen: new Set(), levelAt: 0, selected: null };
    streams.set(name, s);
    setUpActions(s);
    return s;
  }

  // -- state and why ---------------------------------------------------------------------------------

  function setState(name, state, message) {
    const s = stream(name);
    s.state.textContent = state;
    s.state.className = "state state-" + state;
    // Said on the page, not in a tooltip: a phone cannot hover.
    const why = (message || "").trim();
    if (DOWN_STATES.has(state)) {
      const lead = state === "failed" ? "Failed" : "Reconnecting";
      edge.show(s.reason, why ? `${lead}: ${why}` : `${lead}.`);
    } else {
      edge.show(s.reason, "");
    }
  }

  // -- audio level -----------------------------------------------------------------------------------

  function setLevel(ev) {
    const s = stream(ev.stream);
    const pct = (db) => Math.max(0, Math.min(100, (100 * (db - LEVEL_FLOOR_DB)) / -LEVEL_FLOOR_DB));
    s.level.querySelector(".level-bar").style.width = pct(ev.rms_dbfs) + "%";
    s.level.querySelector(".level-peak").style.left = pct(ev.peak_dbfs) + "%";
    s.level.querySelector(".level-text").textContent =
      ev.rms_dbfs <= LEVEL_FLOOR_DB ? "silence" : `${Math.round(ev.rms_dbfs)} dB`;
    s.level.setAttribute("aria-valuenow", String(Math.max(LEVEL_FLOOR_DB, Math.round(ev.rms_dbfs))));
    s.level.classList.remove("level-stale");
    s.level.classList.toggle("level-hot", ev.peak_dbfs > -1);
    s.levelAt = Date.now();
  }

  setInterval(() => {
    for (const s of streams.values()) {
      if (s.levelAt && Date.now() - s.levelAt > LEVEL_STALE_MS && !s.level.classList.contains("level-stale")) {
        s.level.classList.add("level-stale");
        s.level.querySelector(".level-bar").style.width = "0%";
        s.level.querySelector(".level-text").textContent = "no audio";
      }
    }
  }, 1000);

  // -- camera snapshots ------------------------------------------------------------------------------

  // /api/streams says which streams have a picture, so a microphone or an audio file is never asked
  // for one; a picture that went away between the two answers 404 and is hidden.
  async function refreshSnapshots() {
    let pictured = new Set();
    try {
      const response = await fetch("/api/streams");
      if (response.status === 401) return edge.toLogin();
      if (!response.ok) return;
      pictured = new Set((await response.json()).streams.filter((x) => x.snapshot).map((x) => x.name));
    } catch (e) { return; }
    for (const s of streams.values()) {
      if (!pictured.has(s.name)) { s.snapshot.hidden = true; continue; }
      try {
        const r = await fetch(`/api/streams/${encodeURIComponent(s.name)}/snapshot.jpg`, { cache: "no-store" });
        if (!r.ok) { s.snapshot.hidden = true; continue; }
        const url = URL.createObjectURL(await r.blob());
        const old = s.snapshot.src;
        s.snapshot.onload = () => { if (old.startsWith("blob:")) URL.revokeObjectURL(old); };
        s.snapshot.src = url;
        s.snapshot.hidden = false;
      } catch (e) { s.snapshot.hidden = true; }
    }
  }
  setInterval(refreshSnapshots, SNAPSHOT_EVERY_MS);

  // -- runs and captions -----------------------------------------------------------------------------

  async function learnRuns(name) {
    const response = await fetch(`/api/runs?stream=${encodeURIComponent(name)}&limit=20`);
    if (!response.ok) return;
    const body = await response.json();
    body.runs.forEach((r) => runStarts.set(r.id, r.opened_at));
    for (const [id, div] of stream(name).runs) labelRun(div, id);
  }

  function labelRun(div, id) {
    const at = runStarts.get(id);
    div.querySelector(".run-head").textContent = at ? `Run started ${edge.clock(at)}` : "Run";
  }

  function runBox(s, id) {
    let div = s.runs.get(id);
    if (div) return div;
    div = document.createElement("div");
    div.className = "run";
    div.dataset.run = id;
    const head = document.createElement("p");
    head.className = "run-head";
    div.appendChild(head);
    // Run ids sort by time: an older run's captions (a late answer from the log) go above newer ones.
    let before = s.partial;
    for (const other of s.box.querySelectorAll(".run")) {
      if (other.dataset.run > id) { before = other; break; }
    }
    s.box.insertBefore(div, before);
    s.runs.set(id, div);
    labelRun(div, id);
    if (!runStarts.has(id)) learnRuns(s.name);
    return div;
  }

  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  function addFinal(c) {
    const s = stream(c.stream);
    const runId = c.run || s.run || "live";
    if (c.run && (s.run === null || c.run > s.run)) s.run = c.run;
    const key = c.seq !== undefined ? `seq${c.seq}` : `${runId}|${c.start}|${c.end}`;
    if (s.seen.has(key)) return; // already shown (the log and the socket overlap after a reconnect)
    s.seen.add(key);
    const follow = atBottom(s.box);
    const div = runBox(s, runId);
    // Finals run on as text (a live final is often a few words); a sentence's end starts a new line.
    const p = document.createElement("span");
    p.className = /[.?!…]["')\]]*$/.test(c.text.trim()) ? "final sentence-end" : "final";
    p.dataset.end = c.end;
    if (c.seq !== undefined) p.dataset.seq = c.seq;
    if (c.marked) p.classList.add("quote");
    const ts = document.createElement("time");
    ts.className = "ts";
    if (c.wall_start) {
      ts.dateTime = new Date(c.wall_start * 1000).toISOString();
      ts.textContent = edge.clock(c.wall_start);
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = c.text.trim();
    // A final that starts with punctuation (", shared") belongs to the words before it: no space, no time.
    const joins = /^[,.;:!?…)\]"'’]/.test(text.textContent);
    if (joins) p.classList.add("joins");
    p.append(joins ? "" : " ", ts, text);
    // Keep order within the run (by seq, else stream time) even when the log answers after newer finals.
    let before = null;
    for (const other of div.querySelectorAll(".final")) {
      const later = c.seq !== undefined && other.dataset.seq ? Number(other.dataset.seq) > c.seq
        : Number(other.dataset.end) > c.end;
      if (later) { before = other; break; }
    }
    div.insertBefore(p, before);
    if (c.seq !== undefined && (s.lastSeq === null || c.seq > s.lastSeq)) s.lastSeq = c.seq;
    if (before === null && runId === s.run) s.partial.textContent = ""; // the final settles the partial's guess
    const finals = s.box.querySelectorAll(".final");
    for (let i = 0; i < finals.length - MAX_LINES; i++) finals[i].remove();
    for (const [id, old] of s.runs) {
      if (!old.querySelector(".final") && id !== s.run) { old.remove(); s.runs.delete(id); }
    }
    if (follow) s.box.scrollTop = s.box.scrollHeight;
  }

  function setPartial(c) {
    const s = stream(c.stream);
    const follow = atBottom(s.box);
    s.partial.textContent = c.text;
    if (follow) s.box.scrollTop = s.box.scrollHeight;
  }

  async function backfill(name) {
    const s = stream(name);
    // Captions are paged by sequence number within the stream's newest run, so a restart never mixes runs.
    const after = s.lastSeq === null ? "" : `&after=${s.lastSeq}`;
    const response = await fetch(`/api/captions?stream=${encodeURIComponent(name)}&limit=50${after}`);
    if (response.status === 401) return edge.toLogin();
    if (!response.ok) return;
    const body = await response.json();
    body.captions.forEach(addFinal);
  }

  // -- copy and mark a caption -----------------------------------------------------------------------

  function setUpActions(s) {
    const note = s.actions.querySelector(".action-note");
    s.box.addEventListener("click", (event) => {
      const final = event.target.closest(".final");
      if (!final) return;
      if (s.selected) s.selected.classList.remove("selected");
      if (s.selected === final) { s.selected = null; s.actions.hidden = true; return; }
      s.selected = final;
      final.classList.add("selected");
      s.actions.querySelector(".mark").hidden = !final.dataset.seq || final.classList.contains("quote");
      note.textContent = final.classList.contains("quote") ? "Marked as a quote." : "";
      final.after(s.actions);
      s.actions.hidden = false;
    });
    s.actions.querySelector(".copy").addEventListener("click", async (event) => {
      event.stopPropagation();
      if (!s.selected) return;
      const ok = await copyText(s.selected.querySelector(".text").textContent);
      note.textContent = ok ? "Copied." : "Copy did not work here: press and hold the words to select them.";
    });
    s.actions.querySelector(".mark").addEventListener("click", async (event) => {
      event.stopPropagation();
      const final = s.selected;
      if (!final || !final.dataset.seq) return;
      const response = await fetch(`/api/captions/${final.dataset.seq}/mark`, { method: "POST" });
      if (response.status === 401) return edge.toLogin();
      if (!response.ok) { note.textContent = await edge.errorText(response); return; }
      final.classList.add("quote");
      s.actions.querySelector(".mark").hidden = true;
      note.textContent = "Marked as a quote.";
    });
  }

  async function copyText(text) {
    // The clipboard API needs HTTPS (or localhost); a box on plain HTTP falls back to a selection copy.
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back */ }
    }
    const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  // -- the status banner -----------------------------------------------------------------------------

  function renderBanner(b) {
    banner.className = "banner " + (b.ok ? "banner-ok" : "banner-bad");
    banner.querySelector(".banner-parts").replaceChildren(...b.parts.map((p) =>
      Object.assign(document.createElement("li"), { className: p.ok ? "ok-part" : "bad-part", textContent: p.text })));
    banner.querySelector(".banner-alerts").replaceChildren(...b.alerts.map((a) => {
      const li = Object.assign(document.createElement("li"), { textContent: a.message + " " });
      li.dataset.key = a.key;
      li.appendChild(Object.assign(document.createElement("span"),
        { className: "muted small", textContent: `since ${edge.clock(a.since)}` }));
      return li;
    }));
  }

  async function refreshBanner() {
    try {
      const response = await fetch("/api/alerts");
      if (response.status === 401) return edge.toLogin();
      if (response.ok) renderBanner(await response.json());
    } catch (e) { /* the box is unreachable: the connection badge says so */ }
  }
  setInterval(refreshBanner, BANNER_EVERY_MS);
  let bannerSoon = null;
  function refreshBannerSoon() {
    // A stream changed state: the box re-evaluates its alerts within ~2 s; look again just after that.
    if (bannerSoon === null) bannerSoon = setTimeout(() => { bannerSoon = null; refreshBanner(); }, 2500);
  }

  // -- the live socket -------------------------------------------------------------------------------

  function onEvent(ev) {
    if (ev.kind === "hello") {
      ev.streams.forEach((h) => { setState(h.name, h.state, h.message); backfill(h.name); });
    } else if (ev.kind === "stream") {
      setState(ev.name, ev.state, ev.message);
      refreshBannerSoon();
    } else if (ev.kind === "caption") {
      if (ev.type === "final") addFinal(ev); else setPartial(ev);
    } else if (ev.kind === "level") {
      setLevel(ev);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/captions`);
    socket.addEventListener("open", () => {
      retryDelay = 1000;
      conn.textContent = "● Live";
      conn.className = "conn conn-live";
    });
    socket.addEventListener("message", (m) => onEvent(JSON.parse(m.data)));
    socket.addEventListener("close", (e) => {
      if (e.code === 4401) return edge.toLogin(); // the session ended: log in again
      conn.textContent = "Reconnecting…";
      conn.className = "conn conn-wait";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  JSON.parse(live.dataset.streams || "[]").forEach((h) => setState(h.name, h.state, h.message));
  connect(); // its hello lists the streams and triggers each one's backfill
  setTimeout(refreshSnapshots, 500);
});
