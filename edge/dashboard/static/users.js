// Admins manage accounts through /api/users; every refusal is shown in words.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("user-list");
  const form = document.getElementById("add-user");
  const addError = document.getElementById("add-error");
  const listError = document.getElementById("users-error");

  async function call(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (response.status === 401) { edge.toLogin(); return null; }
    return response;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    edge.show(addError, "");
    const name = form.elements["name"].value.trim();
    const password = form.elements["password"].value;
    const min = Number(form.elements["password"].getAttribute("minlength"));
    if (!name) return edge.show(addError, "Give the user a name.");
    if (password.length < min) return edge.show(addError, `The password needs at least ${min} characters.`);
    const response = await call("POST", "/api/users", { name, password, role: form.elements["role"].value });
    if (!response) return;
    if (response.ok) return location.reload();
    edge.show(addError, await edge.errorText(response));
  });

  list.addEventListener("change", async (event) => {
    const select = event.target.closest("select.role");
    if (!select) return;
    edge.show(listError, "");
    const response = await call("PUT", `/api/users/${encodeURIComponent(select.dataset.name)}/role`, { role: select.value });
    if (!response) return;
    if (!response.ok) {
      edge.show(listError, await edge.errorText(response));
      return;
    }
    location.reload();
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const name = button.dataset.name;
    edge.show(listError, "");
    let response = null;
    if (button.classList.contains("remove")) {
      if (!confirm(`Remove user “${name}”? They are logged out everywhere at once.`)) return;
      response = await call("DELETE", `/api/users/${encodeURIComponent(name)}`);
    } else if (button.classList.contains("reset")) {
      const password = prompt(`New password for “${name}” (they are logged out everywhere):`);
      if (password === null) return;
      response = await call("POST", `/api/users/${encodeURIComponent(name)}/password`, { password });
    } else {
      return;
    }
    if (!response) return;
    if (!response.ok) return edge.show(listError, await edge.errorText(response));
    location.reload();
  });
});
