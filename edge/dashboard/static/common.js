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
};

document.addEventListener("DOMContentLoaded", () => {
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await fetch("/api/logout", { method: "POST" });
      location.assign("/login");
    });
  }
});
