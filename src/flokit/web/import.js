// Data → Import: upload a CSV file to POST /v1/imports, follow the job, list past imports.
"use strict";
(() => {
  const { $, el, text, key, api } = FK;
  let chosen = null;

  $("file").onchange = (e) => { chosen = e.target.files[0] || null; };
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    chosen = e.dataTransfer.files[0] || null;
    $("status").textContent = chosen ? "Chosen: " + chosen.name : "No file.";
  };

  $("upload").onclick = () => {
    if (!key()) { $("status").textContent = "Paste and save a read-write key first."; return; }
    if (!chosen) { $("status").textContent = "Choose a CSV file first."; return; }
    const form = new FormData();
    form.append("file", chosen, chosen.name);
    const xhr = new XMLHttpRequest(); // XHR, not fetch: it reports upload progress
    xhr.open("POST", "/v1/imports" + ($("dry-run").checked ? "?dry_run=true" : ""));
    xhr.setRequestHeader("Authorization", "Bearer " + key());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) $("upload-progress").value = 100 * e.loaded / e.total; };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = { message: xhr.responseText }; }
      if (xhr.status !== 202 && xhr.status !== 200) {
        $("status").textContent = "Upload refused: " + (body.message || xhr.status);
        return;
      }
      $("upload-progress").value = 100;
      follow(body.import_id, Date.now(), body.message);
    };
    xhr.onerror = () => { $("status").textContent = "Upload failed: the server could not be reached."; };
    $("status").className = "muted";
    $("status").textContent = "Uploading " + chosen.name + "\u2026";
    $("summary").hidden = true;
    xhr.send(form);
  };

  async function follow(id, started, note) {
    let job;
    try {
      job = await api("/v1/imports/" + encodeURIComponent(id));
    } catch (err) {
      $("status").textContent = "Import " + id + ": " + FK.explain(err);
      if (err.status === 0 || err.status >= 500) setTimeout(() => follow(id, started, note), 1000);
      return;
    }
    const total = job.rows_total || 0;
    if (job.phase === "store" && total) {
      $("process-progress").value = 50 + 50 * (job.accepted / Math.max(1, total - job.rejected));
    } else if (job.phase === "validate") {
      $("process-progress").value = Math.min(49, 5 + job.rows_processed / 20000);
    }
    $("status").textContent = "Import " + id + ": " + job.status + " (" + job.phase + "), " +
      job.rows_processed + " rows read" + (note ? ". " + note : "");
    if (job.status === "completed" || job.status === "failed") {
      $("process-progress").value = 100;
      summarize(job, started);
      listImports();
      return;
    }
    setTimeout(() => follow(id, started, note), 500);
  }

  function summarize(job, started) {
    $("summary").hidden = false;
    $("status").className = job.status;
    if (job.status === "failed") $("status").textContent = "Import " + job.import_id + " failed: " + job.failure;
    $("accepted").textContent = text(job.accepted);
    $("rejected").textContent = text(job.rejected);
    $("duplicates").textContent = text(job.duplicates);
    $("elapsed").textContent = ((Date.now() - started) / 1000).toFixed(1) + " s";
    const link = $("errors-link");
    link.hidden = job.rejected === 0;
    link.onclick = async (e) => {
      e.preventDefault();
      const response = await fetch(job.errors_url, { headers: { Authorization: "Bearer " + key() } });
      if (!response.ok) { $("status").textContent = "The rejected rows could not be downloaded (HTTP " + response.status + ")."; return; }
      const a = el("a", { href: URL.createObjectURL(await response.blob()), download: job.import_id + "-errors.csv" });
      a.click();
    };
    const table = $("first-errors");
    table.replaceChildren();
    if (job.errors.length) table.append(el("tr", {}, el("th", {}, "Row"), el("th", {}, "Event"), el("th", {}, "Reason")));
    for (const error of job.errors) {
      table.append(el("tr", {}, [error.row, error.event, error.reason].map((v) => el("td", {}, text(v)))));
    }
  }

  async function listImports() {
    let body;
    try {
      body = await api("/v1/imports");
    } catch (err) {
      FK.showError(err);
      return;
    }
    $("imports").replaceChildren(...body.imports.map((job) =>
      el("tr", { class: job.status },
        el("td", { class: "mono" }, text(job.import_id)),
        el("td", {}, text(job.file_name)),
        el("td", {}, text(job.status)),
        el("td", { class: "num" }, text(job.accepted)),
        el("td", { class: "num" }, text(job.rejected)),
        el("td", { class: "num" }, text(job.duplicates)),
        el("td", {}, FK.time(job.created_at)))));
  }

  FK.start(listImports);
})();
