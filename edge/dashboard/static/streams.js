// Add and remove streams through the API; keep states and counters fresh without reloading.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("stream-list");
  const form = document.getElementById("add-stream");
  const error = document.getElementById("stream-error");
  const known = JSON.parse(list.dataset.names || "[]").sort().join("\n");

  // The browser's own "Please match the requested format." does not say what the format is.
  const name = form.elements["name"];
  name.addEventListener("invalid", () => {
    name.setCustomValidity(name.validity.valueMissing ? "Give the stream a name. " + name.dataset.rule : name.dataset.rule);
    edge.show(error, name.validationMessage);
  });
  name.addEventListener("input", () => { name.setCustomValidity(""); edge.show(error, ""); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    edge.show(error, "");
    const response = await fetch("/api/streams", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: form.elements["name"].value.trim(), source: form.elements["source"].value.trim() }),
    });
    if (response.status === 401) return edge.toLogin();
    if (response.ok) return location.reload();
    edge.show(error, await edge.errorText(response));
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button.remove");
    if (!button || !confirm(`Stop and remove stream “${button.dataset.name}”? Its captions so far are kept.`)) return;
    button.disabled = true;
    const response = await fetch(`/api/streams/${encodeURIComponent(button.dataset.name)}`, { method: "DELETE" });
    if (response.status === 401) return edge.toLogin();
    if (!response.ok && response.status !== 404) alert(await edge.errorText(response));
    location.reload();
  });

  async function refresh() {
    const response = await fetch("/api/streams");
    if (response.status === 401) return edge.toLogin();
    if (!response.ok) return;
    const { streams } = await response.json();
    if (streams.map((s) => s.name).sort().join("\n") !== known) return location.reload();
    for (const s of streams) {
      const card = list.querySelector(`[data-name="${CSS.escape(s.name)}"]`);
      if (!card) continue;
      const set = (field, text) => { const el = card.querySelector(`[data-field="${field}"]`); if (el) el.textContent = text; };
      set("state", s.state);
      card.querySelector('[data-field="state"]').className = "state state-" + s.state;
      set("finals", s.finals);
      set("retries", s.retries);
      set("last_caption_at", edge.clock(s.last_caption_at));
      set("message", s.message === s.source ? "" : s.message);
    }
  }
  setInterval(refresh, 3000);
});
