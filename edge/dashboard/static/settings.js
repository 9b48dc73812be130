// Settings through /api/settings: the server validates and names the field that is wrong.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  async function send(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status === 401) { edge.toLogin(); return null; }
    return response;
  }

  const boxForm = document.getElementById("box-id-form");
  if (boxForm) {
    const error = document.getElementById("box-id-error");
    boxForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      edge.show(error, "");
      const response = await send("POST", "/api/settings/box-id", { box_id: boxForm.elements["box_id"].value.trim() });
      if (!response) return;
      if (response.ok) return location.reload();
      edge.show(error, await edge.errorText(response));
    });
  }

  const pairForm = document.getElementById("pair-form");
  if (pairForm) {
    const error = document.getElementById("pair-error");
    const done = document.getElementById("pair-done");
    pairForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      edge.show(error, "");
      edge.show(done, "");
      const center = pairForm.elements["center"].value.trim();
      const key = pairForm.elements["center_key"].value;
      if (!center.startsWith("tcp://")) return edge.show(error, "The center endpoint looks like tcp://HOST:PORT.");
      if (!key.trim()) return edge.show(error, "Paste the center's public key file.");
      const response = await send("POST", "/api/settings/pairing", { center, center_key: key });
      if (!response) return;
      if (!response.ok) return edge.show(error, await edge.errorText(response));
      const body = await response.json();
      edge.show(done, `Paired. ${body.message || ""}`);
      setTimeout(() => location.reload(), 1500);
    });
  }

  const form = document.getElementById("settings-form");
  const error = document.getElementById("settings-error");
  const done = document.getElementById("settings-done");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    edge.show(error, "");
    edge.show(done, "");
    const body = { event: {}, retention: { ttl_hours: {} } };
    for (const input of form.querySelectorAll("input[name]")) {
      const path = input.name.split(".");
      const value = input.value.trim();
      if (path[0] === "event") body.event[path[1]] = value;
      else if (path[1] === "disk_floor_mb") body.retention.disk_floor_mb = value === "" ? null : Number(value);
      else if (value !== "") body.retention.ttl_hours[path[2]] = Number(value);
    }
    const response = await send("PUT", "/api/settings", body);
    if (!response) return;
    if (!response.ok) return edge.show(error, await edge.errorText(response));
    edge.show(done, "Settings saved.");
  });
});
