// Change one's own password through the API; say plainly what went wrong.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("password-form");
  const error = document.getElementById("password-error");
  const done = document.getElementById("password-done");
  const min = Number(form.elements["new"].getAttribute("minlength"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    edge.show(error, "");
    edge.show(done, "");
    const current = form.elements["current"].value;
    const fresh = form.elements["new"].value;
    if (!current) return edge.show(error, "Type your current password.");
    if (fresh.length < min) return edge.show(error, `The new password needs at least ${min} characters.`);
    if (fresh !== form.elements["again"].value) return edge.show(error, "The two new passwords differ: type it again.");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch("/api/account/password", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ current, new: fresh }),
      });
      if (response.status === 401) return edge.toLogin();
      if (!response.ok) return edge.show(error, await edge.errorText(response));
      const { other_sessions_ended: ended } = await response.json();
      form.reset();
      const note = document.getElementById("initial-password-note");
      if (note) note.hidden = true;
      edge.show(done, "Password changed." + (ended ? ` ${ended} other login${ended === 1 ? " was" : "s were"} logged out.` : ""));
    } catch (e) {
      edge.show(error, "The box did not answer. Check the network and try again.");
    } finally {
      button.disabled = false;
    }
  });
});
