"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    edge.show(error, "");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: form.username.value.trim(), password: form.password.value }),
      });
      if (response.ok) {
        location.assign(form.dataset.next || "/live");
        return;
      }
      edge.show(error, response.status === 401 ? "Wrong username or password." : await edge.errorText(response));
      form.password.select();
    } catch (e) {
      edge.show(error, "The box did not answer. Check the network and try again.");
    } finally {
      button.disabled = false;
    }
  });
});
