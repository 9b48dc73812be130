// Edit an asset's tags in place.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("tags-form");
  const error = document.getElementById("tags-error");
  const list = document.getElementById("tag-list");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    edge.show(error, "");
    const tags = form.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    const response = await fetch(`/api/assets/${form.dataset.asset}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tags }),
    });
    if (response.status === 401) return edge.toLogin();
    if (!response.ok) return edge.show(error, await edge.errorText(response));
    const asset = await response.json();
    list.replaceChildren(...asset.tags.map((t) => Object.assign(document.createElement("span"), { className: "tag", textContent: t })));
    form.tags.value = asset.tags.join(", ");
  });
});
