// The explorer's progressive enhancement (docs/explorer.md). Every page works without it
// for reading; it adds confirmations, the live tail of the request log and streamed R2
// uploads with their progress. Writes send the page's CSRF token; the session cookie is
// HttpOnly, and no API token is ever in a page.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

// Forms that change or delete data ask first.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// The request log's live tail: new invocations arrive as rendered table rows.
function liveLog(element) {
  const state = element.querySelector(".live-state");
  const rows = document.getElementById("log-rows");
  const base = element.dataset.liveLog;
  let after = Number(element.dataset.after || "0");
  const source = new EventSource(`${base}${base.includes("?") ? "&" : "?"}after=${after}`);
  source.addEventListener("open", () => { state.textContent = "Live tail: on"; });
  source.addEventListener("error", () => { state.textContent = "Live tail: reconnecting…"; });
  source.addEventListener("invocation", (event) => {
    const id = Number(event.lastEventId);
    if (id <= after || rows.querySelector(`tr[data-id="${id}"]`)) return;
    after = id;
    const template = document.createElement("template");
    template.innerHTML = event.data.trim();
    rows.prepend(template.content);
    document.getElementById("log-empty")?.remove();
  });
}

// R2 uploads: each file streamed to the v4 object route, its progress shown.
function upload(section) {
  const input = section.querySelector('input[type="file"]');
  const zone = section.querySelector(".dropzone");
  const list = section.querySelector(".progress-list");
  const send = (file) => new Promise((resolve) => {
    const item = document.createElement("div");
    item.className = "progress-item";
    const label = document.createElement("label");
    const bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    label.textContent = `${file.name}: 0 %`;
    label.append(bar);
    item.append(label);
    list.append(item);
    const request = new XMLHttpRequest();
    request.open("PUT", section.dataset.upload + encodeURIComponent(file.name));
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    request.upload.addEventListener("progress", (event) => {
      bar.value = event.loaded;
      label.firstChild.textContent = `${file.name}: ${Math.floor((event.loaded / (event.total || 1)) * 100)} %`;
    });
    request.addEventListener("load", () => {
      const ok = request.status >= 200 && request.status < 300;
      bar.value = bar.max;
      label.firstChild.textContent = ok ? `${file.name}: uploaded` : `${file.name}: failed (${request.status})`;
      item.classList.add(ok ? "done" : "failed");
      resolve(ok);
    });
    request.addEventListener("error", () => {
      label.firstChild.textContent = `${file.name}: failed`;
      item.classList.add("failed");
      resolve(false);
    });
    request.send(file);
  });
  const sendAll = async (files) => {
    let ok = true;
    for (const file of files) ok = (await send(file)) && ok;
    if (ok) window.location.assign(section.dataset.done + "&notice=" + encodeURIComponent(`${files.length} file(s) uploaded`));
  };
  section.querySelector(".start-upload").addEventListener("click", () => {
    if (input.files.length) sendAll([...input.files]);
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) sendAll([...event.dataTransfer.files]);
  });
}

document.querySelectorAll("[data-live-log]").forEach(liveLog);
document.querySelectorAll("section[data-upload]").forEach(upload);
