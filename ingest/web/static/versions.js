// The versions page: publish, snapshot and create-child actions through the REST API.
// Every user string goes into the page with textContent, never parsed as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "ingest-api-token";
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("versions-data").textContent);
  const tokenInput = $("token-input");
  const dialog = $("version-dialog");
  const status = $("status");
  let pending = null; // {action, id, name}

  // mask label swatches in the colours the frame viewer paints them (masks.js), not the raw
  // pixel values (label ids 1, 2, 3 would all look black)
  for (const version of data.versions) {
    const palette = new Ingest.MaskPalette(version.mask_labels);
    const row = document.querySelector('tr[data-version-id="' + CSS.escape(version.id) + '"]');
    row.querySelectorAll("rect[data-mask-index]").forEach((rect) => {
      rect.setAttribute("fill", "rgb(" + palette.entries[Number(rect.dataset.maskIndex)].colour.join(",") + ")");
    });
  }

  tokenInput.value = window.sessionStorage.getItem(TOKEN_KEY) || "";
  tokenInput.addEventListener("change", () => window.sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()));

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = "status " + (kind || "");
  }

  async function post(url, body) {
    const headers = { "Content-Type": "application/json" };
    const token = tokenInput.value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body) });
    if (response.ok) return response.json();
    let message = response.status + " " + response.statusText;
    try {
      const error = (await response.json()).error;
      message = response.status + " " + error.type + ": " + error.message;
    } catch (e) {
      // not JSON
    }
    throw new Error(message);
  }

  const ACTIONS = {
    publish: {
      title: (v) => "Publish " + v.name + "?",
      help: "A Published version is read-only for good.",
      first: null,
      run: (v) => post("/api/versions/" + encodeURIComponent(v.id) + "/publish", {}),
    },
    snapshot: {
      title: (v) => "Snapshot " + v.name,
      help: "Publishes this draft (it keeps its id) and starts a new Draft, its child, with the same frames.",
      first: "Snapshot name",
      second: true,
      run: (v, first, second) => post("/api/versions/" + encodeURIComponent(v.id) + "/snapshot", {
        publish_name: first || null, child_name: second || null,
      }),
    },
    child: {
      title: (v) => "New version from " + v.name,
      help: "A Draft version that starts with this version's frames.",
      first: "Name",
      run: (v, first) => post("/api/datasets/" + encodeURIComponent(data.dataset) + "/versions", {
        name: first, parents: [v.name],
      }),
    },
  };

  document.querySelectorAll(".version-actions button").forEach((button) => {
    button.addEventListener("click", () => {
      const row = button.closest("tr");
      const version = data.versions.find((v) => v.id === row.dataset.versionId);
      const action = ACTIONS[button.dataset.action];
      pending = { action: action, version: version };
      $("version-dialog-title").textContent = action.title(version);
      $("version-dialog-help").textContent = action.help;
      $("first-field").hidden = !action.first;
      $("first-label").textContent = action.first || "";
      $("first-name").value = "";
      $("second-field").hidden = !action.second;
      $("second-name").value = "";
      dialog.showModal();
    });
  });

  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok" || !pending) return;
    const { action, version } = pending;
    setStatus("Working…", "");
    action.run(version, $("first-name").value.trim(), $("second-name").value.trim())
      .then(() => { window.location.reload(); })
      .catch((e) => setStatus("Not done: " + e.message, "error"));
  });
})();
