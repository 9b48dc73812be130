// Upload from a phone: camera or file picker, an optional note and tags, with a progress bar.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  const inputs = [document.getElementById("capture"), document.getElementById("pick")];
  const chosen = document.getElementById("chosen");
  const error = document.getElementById("upload-error");
  const progress = document.getElementById("upload-progress");
  const result = document.getElementById("upload-result");
  const submit = document.getElementById("upload-submit");
  const maxBytes = Number(form.dataset.maxMb) * 1024 * 1024;
  let file = null;

  inputs.forEach((input) => input.addEventListener("change", () => {
    file = input.files[0] || null;
    inputs.filter((other) => other !== input).forEach((other) => { other.value = ""; });
    chosen.textContent = file ? `${file.name} (${(file.size / 1e6).toFixed(1)} MB)` : "No file chosen.";
  }));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    edge.show(error, "");
    edge.show(result, "");
    const note = form.note.value.trim();
    if (!file && !note) return edge.show(error, "Take or choose a file, or write a note.");
    if (file && file.size > maxBytes) {
      return edge.show(error, `That file is ${(file.size / 1e6).toFixed(0)} MB; this box accepts up to ${form.dataset.maxMb} MB.`);
    }
    const data = new FormData();
    if (file) data.append("file", file, file.name);
    data.append("kind", !file || file.type === "text/plain" ? "note" : "upload");
    data.append("note", note);
    data.append("tags", form.tags.value);

    const xhr = new XMLHttpRequest(); // fetch() cannot report upload progress
    xhr.open("POST", "/api/uploads");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", () => {
      progress.hidden = true;
      submit.disabled = false;
      if (xhr.status === 401) return edge.toLogin();
      if (xhr.status === 201) {
        const asset = xhr.response;
        result.replaceChildren("Uploaded ", Object.assign(document.createElement("a"),
          { href: `/assets/${asset.id}`, textContent: asset.name }));
        result.hidden = false;
        form.reset();
        inputs.forEach((input) => { input.value = ""; });
        file = null;
        chosen.textContent = "No file chosen.";
        return;
      }
      const detail = xhr.response && xhr.response.detail;
      edge.show(error, typeof detail === "string" ? detail : `Upload failed (${xhr.status}).`);
    });
    xhr.addEventListener("error", () => {
      progress.hidden = true;
      submit.disabled = false;
      edge.show(error, "The upload was cut off. Check the network and try again.");
    });
    progress.value = 0;
    progress.hidden = false;
    submit.disabled = true;
    xhr.send(data);
  });
});
