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
  // working copies of the metadata being edited: "" = the group's, else a SingleFrame name
  const drafts = new Map();

  const $ = (id) => document.getElementById(id);
  const sourceSelect = $("source-select");
  const roiToggle = $("roi-toggle");
  const maskToggle = $("mask-toggle");
  const maskSelect = $("mask-select");
  const statusLine = $("status");

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function frameDoc(name) {
    return isGroup ? saved.frames[name] : saved;
  }

  function setStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status " + (kind || "");
  }

  // ------------------------------------------------------------------ sensors

  const VIDEO_EXT = /\.(mp4|m4v|webm|ogv|mov|mkv)$/i;

  function sensorKind(doc) {
    const type = (doc.content_type || "").toLowerCase();
    const path = String(doc.source || "").split(/[?#]/)[0];
    if (type.includes("pcd") || /\.pcd$/i.test(path)) return "pointcloud";
    if (type.startsWith("video/") || (!type.startsWith("image/") && VIDEO_EXT.test(path))) return "video";
    return "image";
  }

  // ------------------------------------------------------------------ stage, editor, masks

  const stage = new Ingest.FrameStage($("canvas-host"), {
    editable: !readOnly,
    onSelect: (index) => { editor.select(index); markRow(index); },
    onChange: (next, index) => editor.commit(next, index),
    onCreate: (shape) => editor.create(shape),
  });
  const withIds = [saved, ...(isGroup ? Object.values(saved.frames) : [])]
    .some((part) => (part.annotations || []).some((a) => a.id !== undefined));
  const editor = new Ingest.AnnotationEditor(stage, {
    readOnly: readOnly,
    annotationsOf: (name) => frameDoc(name).annotations,
    labelSet: data.label_set,
    withIds: withIds,
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

  let pointCloudModule = null;

  async function showSensor() {
    const doc = frameDoc(current);
    const media = data.media[current];
    const kind = sensorKind(doc);
    $("stage").dataset.kind = kind;
    $("canvas-host").hidden = kind !== "image";
    $("frame-video").hidden = kind !== "video";
    $("pointcloud").hidden = kind !== "pointcloud";
    $("pointcloud-info").hidden = kind !== "pointcloud";
    if (kind !== "video") $("frame-video").removeAttribute("src");
    if (kind === "video") {
      $("frame-video").src = media.source;
      $("frame-video").poster = media.preview !== media.source ? media.preview : "";
    } else if (kind === "pointcloud") {
      $("pointcloud-info").textContent = "Loading the point cloud…";
      pointCloudModule = pointCloudModule || import(data.pointcloud_module);
      const shown = current;
      try {
        const result = await (await pointCloudModule).showPointCloud($("pointcloud"), media.source);
        if (shown !== current) return;
        $("pointcloud").dataset.mode = result.mode;
        $("pointcloud-info").textContent = result.points + " points, " +
          (result.mode === "3d" ? "3D view: drag to orbit, wheel to zoom" : "top-down view (no WebGL here)");
      } catch (e) {
        $("pointcloud-info").textContent = "Cannot show this point cloud: " + e.message;
      }
    } else {
      const shown = current;
      const img = await Ingest.loadImage(media.source);
      if (shown !== current) return;
      stage.setImage(img, doc.width, doc.height);
      $("stage").classList.add("loaded");
      fillMasks();
    }
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
      if (sensorKind(doc) !== "image") {
        host.appendChild(el("p", { class: "stage-info" }, sensorKind(doc) + ": open it on its own"));
        continue;
      }
      const tileStage = new Ingest.FrameStage(host, { editable: false, maxHeight: 0.4 });
      tiles.push(tileStage);
      Ingest.loadImage(data.media[name].source).then((img) => {
        tileStage.setImage(img, doc.width, doc.height);
        tileStage.setAnnotations(name === current ? editor.annotations(name) : editor.annotations(name));
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
      if (!next || prefetched.has(next.source) || sensorKind(frameDoc(current)) !== "image") continue;
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

  function addDetail(list, term, value, mono) {
    list.appendChild(el("dt", {}, term));
    list.appendChild(el("dd", mono ? { class: "mono" } : {}, value));
  }

  function showDetails() {
    const doc = frameDoc(current);
    $("source-title").textContent = isGroup ? "Source " + current : "Source";
    const list = $("frame-details");
    list.replaceChildren();
    addDetail(list, "URI", doc.source, true);
    addDetail(list, "Size", doc.width && doc.height ? doc.width + " × " + doc.height : "—");
    addDetail(list, "Type", doc.content_type || "—");
    if (doc.preview_uri) addDetail(list, "Preview", doc.preview_uri, true);
    addDetail(list, "Context", doc.context_id === null ? "—" : doc.context_id, true);
    addDetail(list, "Timestamp", doc.timestamp === null ? "—" : doc.timestamp);
    const maskIds = Object.keys(doc.masks || {});
    addDetail(list, "Masks", maskIds.length ? maskIds.join(", ") : "—");

    const box = $("annotations");
    box.replaceChildren();
    const all = [];
    if (isGroup) for (const a of saved.annotations || []) all.push(["group", a, null]);
    editor.annotations(current).forEach((a, i) => all.push([isGroup ? current : "frame", a, i]));
    if (!all.length) {
      box.appendChild(el("p", { class: "muted" }, "None."));
      return;
    }
    const table = el("table", { class: "table compact", id: "annotation-table" });
    const head = el("tr");
    for (const h of ["Of", "Shape", "Labels", "Conf.", "Id"]) head.appendChild(el("th", {}, h));
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const [owner, a, index] of all) {
      const row = el("tr", index === null ? {} : { "data-index": index });
      row.appendChild(el("td", {}, owner));
      row.appendChild(el("td", { class: "shape-name" }, Ingest.shapeName(a)));
      const labelCell = el("td");
      for (const label of a.labels || []) labelCell.appendChild(el("span", { class: "chip" }, label));
      row.appendChild(labelCell);
      row.appendChild(el("td", { class: "num" }, typeof a.confidence === "number" ? a.confidence.toFixed(2) : "—"));
      row.appendChild(el("td", { class: "mono tiny ann-id", title: a.id === undefined ? "" : a.id }, a.id === undefined ? "—" : String(a.id).slice(0, 8)));
      if (index !== null && !Ingest.isFrameLabel(a)) {
        row.classList.add("selectable");
        row.addEventListener("click", () => { stage.select(index); });
      }
      body.appendChild(row);
    }
    table.appendChild(body);
    box.appendChild(table);
    markRow(editor.selected);
  }

  // ------------------------------------------------------------------ metadata editor

  function displayValue(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function parseValue(text, original) {
    if (typeof original === "string") return text;
    try {
      const parsed = JSON.parse(text);
      if (parsed !== null && typeof parsed !== "string") return parsed;
    } catch (e) {
      // not JSON: text
    }
    return text;
  }

  function draftFor(scope) {
    if (!drafts.has(scope)) {
      const source = scope === "" ? saved.metadata : frameDoc(scope).metadata;
      drafts.set(scope, Object.entries(source || {}).map(([k, v]) => ({ key: k, text: displayValue(v), original: v, had: true })));
    }
    return drafts.get(scope);
  }

  function editorRow(scope, entry, rows) {
    const row = el("div", { class: "meta-row" });
    // value attributes (not only properties), so a row can be found by its saved key
    const key = el("input", { type: "text", class: "meta-key", "aria-label": "key", placeholder: "key", value: entry.key });
    const value = el("input", { type: "text", class: "meta-value", "aria-label": "value", placeholder: "value", value: entry.text });
    key.readOnly = readOnly;
    value.readOnly = readOnly;
    key.addEventListener("input", () => { entry.key = key.value; });
    value.addEventListener("input", () => { entry.text = value.value; });
    row.appendChild(key);
    row.appendChild(value);
    if (!readOnly) {
      const remove = el("button", { type: "button", class: "secondary remove-key", title: "remove this key" }, "✕");
      remove.addEventListener("click", () => {
        rows.splice(rows.indexOf(entry), 1);
        row.remove();
      });
      row.appendChild(remove);
    }
    return row;
  }

  function metaEditor(scope, title) {
    const rows = draftFor(scope);
    const box = el("div", { class: "meta-editor", "data-scope": scope });
    box.appendChild(el("h3", {}, title));
    const list = el("div", { class: "meta-rows" });
    for (const entry of rows) list.appendChild(editorRow(scope, entry, rows));
    if (!rows.length && readOnly) list.appendChild(el("p", { class: "muted" }, "No metadata."));
    box.appendChild(list);
    if (!readOnly) {
      const add = el("button", { type: "button", class: "secondary add-key" }, "+ Add key");
      add.addEventListener("click", () => {
        const entry = { key: "", text: "", original: undefined, had: false };
        rows.push(entry);
        const row = editorRow(scope, entry, rows);
        list.appendChild(row);
        row.querySelector(".meta-key").focus();
      });
      box.appendChild(add);
    }
    return box;
  }

  function showEditors() {
    const box = $("editors");
    box.replaceChildren();
    box.appendChild(metaEditor(isGroup ? current : "", isGroup ? "Frame " + current : "Frame"));
    if (isGroup) box.appendChild(metaEditor("", "Group"));
  }

  function collect(scope) {
    const out = {};
    for (const entry of drafts.get(scope)) {
      const key = entry.key.trim();
      if (!key) {
        if (entry.text.trim()) throw new Error("a metadata key is empty");
        continue;
      }
      if (Object.prototype.hasOwnProperty.call(out, key)) throw new Error("duplicate metadata key: " + key);
      out[key] = parseValue(entry.text, entry.had ? entry.original : undefined);
    }
    return out;
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
    for (const scope of drafts.keys()) part(scope).metadata = collect(scope);
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
    drafts.clear();
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
