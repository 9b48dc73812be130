// Live captions: one card per stream; partials in grey italics, replaced by the final that settles them.
// History comes from /api/captions (the durable log), new text from the /ws/captions WebSocket;
// after a reconnect the log fills whatever was missed while offline.
"use strict";

const MAX_LINES = 400; // per stream, so a long day does not slow the phone down

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  const conn = document.getElementById("conn");
  const empty = document.getElementById("no-streams");
  const template = document.getElementById("stream-template");
  const streams = new Map(); // name -> {el, box, partial, state, lastSeq, run, seen}
  let retryDelay = 1000;

  function stream(name) {
    let s = streams.get(name);
    if (s) return s;
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.stream = name;
    el.querySelector(".stream-name").textContent = name;
    live.appendChild(el);
    empty.hidden = true;
    s = { el, box: el.querySelector(".captions"), partial: el.querySelector(".partial"),
          state: el.querySelector(".state"), lastSeq: null, run: null, seen: new Set() };
    streams.set(name, s);
    return s;
  }

  function setState(name, state, message) {
    const s = stream(name);
    s.state.textContent = state;
    s.state.className = "state state-" + state;
    s.state.title = message || "";
  }

  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  function addFinal(c) {
    const s = stream(c.stream);
    if (c.run && s.run !== c.run) { // a new run (the stream restarted): its times start at 0 again
      s.run = c.run;
      s.lastSeq = null;
      Array.from(s.box.querySelectorAll(".final")).forEach((el) => el.remove());
    }
    const key = c.seq !== undefined ? `seq${c.seq}` : `${c.start}|${c.end}`;
    if (s.seen.has(key)) return; // already shown (the log and the socket overlap after a reconnect)
    s.seen.add(key);
    const follow = atBottom(s.box);
    // Finals run on as text (a live final is often a few words); a sentence's end starts a new line.
    const p = document.createElement("span");
    p.className = /[.?!…]["')\]]*$/.test(c.text.trim()) ? "final sentence-end" : "final";
    p.textContent = c.text.trim() + " ";
    p.dataset.end = c.end;
    // Keep stream-time order even when the log answers after newer live finals arrived.
    let before = s.partial;
    while (before.previousElementSibling && Number(before.previousElementSibling.dataset.end) > c.end) {
      before = before.previousElementSibling;
    }
    s.box.insertBefore(p, before);
    if (c.seq !== undefined && (s.lastSeq === null || c.seq > s.lastSeq)) s.lastSeq = c.seq;
    if (Number(before.dataset.end || -1) <= c.end || before === s.partial) {
      s.partial.textContent = ""; // the final settles what the partial was guessing
    }
    while (s.box.children.length > MAX_LINES + 1) s.box.removeChild(s.box.firstElementChild);
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

  function onEvent(ev) {
    if (ev.kind === "hello") {
      ev.streams.forEach((h) => { setState(h.name, h.state, h.message); backfill(h.name); });
    } else if (ev.kind === "stream") {
      setState(ev.name, ev.state, ev.message);
    } else if (ev.kind === "caption") {
      if (ev.type === "final") addFinal(ev); else setPartial(ev);
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
});
