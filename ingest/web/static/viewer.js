// The frame viewer: source selector, the stage (stage.js: image, ROIs, zoom and pan; the
// annotation editor, editor.js), masks (masks.js), point clouds (pointcloud.js, loaded on
// demand), videos, all sources side by side, stepping through the context, details and the
// metadata editor; Save sends annotations and metadata in one PATCH with If-Match.
// Data comes from <script type="application/json" id="viewer-data">; every user string is
// put into the page with textContent or as an attribute value, never parsed as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "ingest-api-token";
  const data = JSON.parse(document.getElementById("viewer-data").textContent);
  const readOnly = data.version.read_only;
  const isGroup = data.kind === "group";

  let saved = data.doc; // the document as last saved
  let etag = data.etag;
  let current = data.selected;

  const $ = (id) => document.getElementById(id);
  const sourceSelect = $("source-select");
  const roiToggle = $("roi-toggle");
  const maskToggle = $("mask-toggle");
  const maskSelect = $("mask-select");
  const statusLine = $("status");

  const el = Ingest.el;

  function frameDoc(name) {
    return isGroup ? saved.frames[name] : saved;
  }

  function setStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status " + (kind || "");
  }

  // ------------------------------------------------------------------ stage, editor, masks

  const stage = new Ingest.FrameStage($("canvas-host"), {
    editable: !readOnly,
    onSelect: (index) => { editor.select(index); markRow(index); },
    onChange: (next, index) => editor.commit(next, index),
    onCreate: (shape) => editor.create(shape),
  });
  const editor = new Ingest.AnnotationEditor(stage, {
    readOnly: readOnly,
    annotationsOf: (name) => frameDoc(name).annotations,
    labelSet: data.label_set,
    onEdited: () => showDetails(),
    setStatus: setStatus,
  });
  const palette = new Ingest.MaskPalette(data.mask_labels);
  const maskImages = new Map(); // url -> Promise<HTMLImageElement>
  let maskCanvas = null;

  function maskImage(url) {
    if (!maskImages.has(url)) maskImages.set(url, Ingest.loadImage(url));
    return maskImages.get(url);
  }

  function fillMasks() {
    const masks = data.media[current].masks;
    const ids = Object.keys(masks);
    maskSelect.replaceChildren();
    for (const id of ids) maskSelect.appendChild(el("option", { value: id }, id));
    maskSelect.hidden = ids.length < 2;
    maskToggle.disabled = ids.length === 0;
    if (ids.length === 0) maskToggle.checked = false;
    maskToggle.parentElement.title = ids.length ? "M" : "this frame has no mask";
    showMask();
  }

  async function showMask() {
    const masks = data.media[current].masks;
    const id = maskSelect.value || Object.keys(masks)[0];
    const opacity = Number($("mask-opacity").value) / 100;
    if (!(maskToggle.checked && id && masks[id])) {
      stage.setMask(null, opacity);
      return;
    }
    const shown = current;
    const img = await maskImage(masks[id]);
    if (shown !== current) return;
    if (maskCanvas) maskCanvas.remove();
    maskCanvas = palette.paint(img);
    maskCanvas.id = "mask-canvas"; // kept in the page (hidden) so tests can read its pixels
    maskCanvas.hidden = true;
    $("stage").appendChild(maskCanvas);
    stage.setMask(maskCanvas, opacity);
  }

  // ------------------------------------------------------------------ one source

  async function showSensor() {
    const doc = frameDoc(current);
    const media = data.media[current];
    const kind = Ingest.sensorKind(doc);
    $("stage").dataset.kind = kind;
    $("canvas-host").hidden = kind !== "image";
    const shown = current;
    if (kind !== "image") {
      await Ingest.showSensor(kind, media, data.pointcloud_module, () => shown === current);
      return;
    }
    Ingest.showSensor(kind); // hides the video and point-cloud elements
    const img = await Ingest.loadImage(media.source);
    if (shown !== current) return;
    stage.setImage(img, doc.width, doc.height);
    $("stage").classList.add("loaded");
    fillMasks();
  }

  function markRow(index) {
    document.querySelectorAll("#annotation-table tr[data-index]").forEach((row) => {
      row.classList.toggle("selected", Number(row.dataset.index) === index);
    });
  }

  // ------------------------------------------------------------------ all sources

  const tiles = [];

  function showAll() {
    const grid = $("all-grid");
    grid.replaceChildren();
    tiles.length = 0;
    for (const name of data.names) {
      const doc = frameDoc(name);
      const tile = el("figure", { class: "tile", "data-source": name });
      const caption = el("figcaption", {}, isGroup ? name : "frame");
      const host = el("div", { class: "tile-stage" });
      tile.append(caption, host);
      grid.appendChild(tile);
      caption.addEventListener("click", () => { allToggle.checked = false; selectSource(name); applyMode(); });
      if (Ingest.sensorKind(doc) !== "image") {
        host.appendChild(el("p", { class: "stage-info" }, Ingest.sensorKind(doc) + ": open it on its own"));
        continue;
      }
      const tileStage = new Ingest.FrameStage(host, { editable: false, maxHeight: 0.4 });
      tiles.push(tileStage);
      Ingest.loadImage(data.media[name].source).then((img) => {
        tileStage.setImage(img, doc.width, doc.height);
        tileStage.setAnnotations(editor.annotations(name));
        tileStage.setRoisVisible(roiToggle.checked);
      });
    }
  }

  function applyMode() {
    const all = allToggle.checked;
    $("stage").hidden = all;
    $("all-grid").hidden = !all;
    const url = new URL(window.location.href);
    if (all) url.searchParams.set("all", "1");
    else url.searchParams.delete("all");
    window.history.replaceState(null, "", url);
    if (all) showAll();
    else stage.fit();
    stepLinks();
  }

  // ------------------------------------------------------------------ stepping, prefetch

  // the previous / next instant keep the chosen source and the all-sources mode
  function stepLinks() {
    for (const id of ["prev-frame", "next-frame"]) {
      const link = $(id);
      if (!link) continue;
      const url = new URL(link.href, window.location.href);
      url.searchParams.set("source", current);
      if (allToggle.checked) url.searchParams.set("all", "1");
      else url.searchParams.delete("all");
      link.href = url.pathname + url.search;
    }
  }

  const prefetched = new Set();

  function prefetch() {
    if (!data.prefetch) return;
    const names = allToggle.checked ? Object.keys(data.prefetch) : [current];
    for (const name of names) {
      const next = data.prefetch[name];
      if (!next || prefetched.has(next.source) || Ingest.sensorKind(frameDoc(current)) !== "image") continue;
      prefetched.add(next.source);
      const img = new Image();
      img.src = next.source;
    }
  }

  function selectSource(name) {
    if (!data.names.includes(name)) return;
    current = name;
    sourceSelect.value = name;
    const url = new URL(window.location.href);
    url.searchParams.set("source", current);
    window.history.replaceState(null, "", url);
    showSource();
  }

  // ------------------------------------------------------------------ details

  function showDetails() {
    $("source-title").textContent = isGroup ? "Source " + current : "Source";
    const rows = [];
    if (isGroup) for (const a of saved.annotations || []) rows.push(["group", a, null]);
    editor.annotations(current).forEach((a, i) => rows.push([isGroup ? current : "frame", a, i]));
    Ingest.frameDetails($("frame-details"), frameDoc(current));
    Ingest.annotationTable($("annotations"), rows, (index) => stage.select(index));
    markRow(editor.selected);
  }

  // ------------------------------------------------------------------ metadata editor

  const metadata = new Ingest.MetadataEditor({
    readOnly: readOnly,
    metadataOf: (scope) => (scope === "" ? saved.metadata : frameDoc(scope).metadata),
  });

  function showEditors() {
    const scopes = [[isGroup ? current : "", isGroup ? "Frame " + current : "Frame"]];
    if (isGroup) scopes.push(["", "Group"]);
    metadata.render($("editors"), scopes);
  }

  // one partial document: the edited metadata and the edited SingleFrames' annotations
  function buildPatch() {
    const patch = {};
    const part = (scope) => {
      if (!isGroup || scope === "" || scope === "_") return patch;
      patch.frames = patch.frames || {};
      patch.frames[scope] = patch.frames[scope] || {};
      return patch.frames[scope];
    };
    for (const [scope, values] of metadata.edited()) part(scope).metadata = values;
    for (const [name, annotations] of Object.entries(editor.patch())) part(name).annotations = annotations;
    return patch;
  }

  // ------------------------------------------------------------------ mutations

  function authHeaders() {
    const token = ($("token-input") && $("token-input").value.trim()) || "";
    return token ? { Authorization: "Bearer " + token } : {};
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error) return response.status + " " + body.error.type + ": " + body.error.message;
    } catch (e) {
      // not JSON
    }
    return response.status + " " + response.statusText;
  }

  async function save() {
    let patch;
    try {
      patch = buildPatch();
    } catch (e) {
      setStatus(e.message, "error");
      return;
    }
    setStatus("Saving…", "");
    const response = await fetch(data.api_url, {
      method: "PATCH",
      headers: Object.assign({ "Content-Type": "application/json", "If-Match": etag }, authHeaders()),
      body: JSON.stringify(patch),
    });
    if (response.status === 412) {
      setStatus("Conflict: someone else saved this frame after you opened it, so nothing was " +
        "saved. Your edits are still here; open the frame in another tab to see theirs, then " +
        "reload this one and apply yours again.", "error conflict");
      return;
    }
    if (!response.ok) {
      setStatus("Not saved: " + (await errorText(response)), "error");
      return;
    }
    saved = await response.json();
    etag = response.headers.get("ETag") || etag;
    metadata.clear();
    editor.markSaved((name) => frameDoc(name).annotations);
    showEditors();
    showDetails();
    setStatus("Saved.", "ok");
  }

  async function remove() {
    const response = await fetch(data.api_url, { method: "DELETE", headers: authHeaders() });
    if (response.status === 204) {
      setStatus("Deleted.", "ok");
      window.location.assign(data.browse_url);
      return;
    }
    setStatus("Not deleted: " + (await errorText(response)), "error");
  }

  function wireActions() {
    const tokenInput = $("token-input");
    if (tokenInput) {
      tokenInput.value = window.sessionStorage.getItem(TOKEN_KEY) || "";
      tokenInput.addEventListener("change", () => window.sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()));
    }
    const saveButton = $("save-button");
    if (saveButton) saveButton.addEventListener("click", () => { save().catch((e) => setStatus("Not saved: " + e.message, "error")); });
    const deleteButton = $("delete-button");
    const dialog = $("confirm-delete");
    if (deleteButton) {
      $("confirm-frame-id").textContent = data.frame_id;
      deleteButton.addEventListener("click", () => dialog.showModal());
      dialog.addEventListener("close", () => {
        if (dialog.returnValue === "delete") remove().catch((e) => setStatus("Not deleted: " + e.message, "error"));
      });
    }
  }

  // ------------------------------------------------------------------ wiring

  const allToggle = $("all-sources");

  function fillSources() {
    for (const name of data.names) sourceSelect.appendChild(el("option", { value: name }, isGroup ? name : "frame"));
    sourceSelect.value = current;
    sourceSelect.disabled = !isGroup;
    sourceSelect.addEventListener("change", () => selectSource(sourceSelect.value));
  }

  function showSource() {
    editor.show(current);
    showSensor().catch((e) => setStatus("Cannot show " + current + ": " + e.message, "error"));
    showDetails();
    showEditors();
    stepLinks();
    prefetch();
  }

  function showLegend() {
    Ingest.maskLegend($("legend"), palette, () => showMask());
  }

  function onKey(event) {
    const t = event.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement) return;
    if ($("help-dialog").open || $("confirm-delete").open) return;
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key;
    let done = true;
    if (ctrl && (key === "z" || key === "Z")) done = readOnly ? false : (event.shiftKey ? editor.redo() : editor.undo()) || true;
    else if (ctrl && (key === "y" || key === "Y")) done = readOnly ? false : editor.redo() || true;
    else if (ctrl && (key === "s" || key === "S")) { if (!readOnly) save().catch((e) => setStatus("Not saved: " + e.message, "error")); }
    else if (ctrl || event.altKey) done = false;
    else if (key === "ArrowLeft" || key === "ArrowRight") {
      const link = $(key === "ArrowLeft" ? "prev-frame" : "next-frame");
      if (link) window.location.assign(link.href);
    } else if (key === "[" || key === "]") {
      const i = data.names.indexOf(current) + (key === "]" ? 1 : -1);
      selectSource(data.names[(i + data.names.length) % data.names.length]);
    } else if (key === "a" || key === "A") { allToggle.checked = !allToggle.checked; applyMode(); }
    else if (key === "r" || key === "R") { roiToggle.checked = !roiToggle.checked; roiToggle.dispatchEvent(new Event("change")); }
    else if (key === "m" || key === "M") { if (!maskToggle.disabled) { maskToggle.checked = !maskToggle.checked; showMask(); } }
    else if (key === "+" || key === "=") stage.zoomBy(1.25);
    else if (key === "-") stage.zoomBy(0.8);
    else if (key === "0") stage.fit();
    else if (key === "?") $("help-dialog").showModal();
    else if (key === "Escape") { if (!stage.cancelDrawing()) { stage.select(null); } }
    else if (readOnly) done = false;
    else if (key === "Enter") done = stage.finishDrawing();
    else if (key === "Delete" || key === "Backspace") done = editor.removeSelected();
    else if ("vbpek".includes(key.toLowerCase()) && key.length === 1) {
      editor.setTool({ v: "select", b: "box", p: "polygon", e: "ellipse", k: "keypoints" }[key.toLowerCase()]);
    } else done = false;
    if (done) event.preventDefault();
  }

  roiToggle.addEventListener("change", () => {
    stage.setRoisVisible(roiToggle.checked);
    for (const tile of tiles) tile.setRoisVisible(roiToggle.checked);
  });
  maskToggle.addEventListener("change", showMask);
  maskSelect.addEventListener("change", showMask);
  $("mask-opacity").addEventListener("input", () => { stage.mask.opacity(Number($("mask-opacity").value) / 100); stage.base.batchDraw(); });
  $("zoom-in").addEventListener("click", () => stage.zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => stage.zoomBy(0.8));
  $("zoom-fit").addEventListener("click", () => stage.fit());
  $("help-button").addEventListener("click", () => $("help-dialog").showModal());
  allToggle.addEventListener("change", applyMode);
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => { if (!allToggle.checked) stage.fit(); });
  window.addEventListener("beforeunload", (event) => { if (editor.dirty()) event.preventDefault(); });

  fillSources();
  showLegend();
  allToggle.checked = new URL(window.location.href).searchParams.get("all") === "1";
  showSource();
  if (allToggle.checked) applyMode();
  wireActions();
})();
