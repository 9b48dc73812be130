// Shared by every page: log out, and turn API error bodies into one readable line.
"use strict";

window.edge = {
  // FastAPI answers {"detail": "..."} or, for validation, {"detail": [{"msg": ...}, ...]}.
  async errorText(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) {
        return body.detail.map((d) => String(d.msg || d).replace(/^Value error, /, "")).join("; ");
      }
    } catch (e) { /* not JSON */ }
    return `request failed (${response.status})`;
  },
  toLogin() {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  },
  show(el, text) {
    el.textContent = text;
    el.hidden = !text;
  },
  // One time format on every page (the server renders the same rule; see edge/dashboard/timefmt.py):
  // local HH:MM:SS, with the date in front when it is not today.
  clock(t) {
    if (!t) return "–";
    const d = new Date(t * 1000);
    const two = (n) => String(n).padStart(2, "0");
    const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return time;
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${time}`;
  },
  // A length of time with units: "45 s", "4 min 10 s", "1 h 57 min", "3 d 2 h".
  span(seconds) {
    const s = Math.max(0, Math.floor(seconds || 0));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${m} min`;
    if (m) return `${m} min ${s % 60} s`;
    return `${s} s`;
  },
};

document.addEventListener("DOMContentLoaded", () => {
  // Times the server rendered in its own zone, shown again in this phone's zone.
  document.querySelectorAll("time[data-t]").forEach((el) => { el.textContent = edge.clock(Number(el.dataset.t)); });
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await fetch("/api/logout", { method: "POST" });
      location.assign("/login");
    });
  }
});
