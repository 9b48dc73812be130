// Glossary forms: PUT /api/glossary; the server names the line that is wrong.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll(".glossary-form")) {
    const error = form.querySelector(".error");
    const done = form.querySelector(".ok");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      edge.show(error, "");
      edge.show(done, "");
      const response = await fetch("/api/glossary", {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ stream: form.dataset.stream || null, text: form.elements["text"].value }),
      });
      if (response.status === 401) return edge.toLogin();
      if (!response.ok) return edge.show(error, await edge.errorText(response));
      const body = await response.json();
      edge.show(done, body.terms.length ? `Saved: ${body.terms.length} names in use.` : "Saved: no names.");
    });
  }
});
