// The frame viewer: source selector, ROI overlay, mask overlay, details, metadata editor.
// Data comes from <script type="application/json" id="viewer-data">; every user string is
// put into the page with textContent or as an attribute value, never parsed as HTML.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
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
  const image = $("frame-image");
  const maskImage = $("mask-image");
  const layer = $("roi-layer");
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

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function frameDoc(name) {
    return isGroup ? saved.frames[name] : saved;
  }

  function setStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status " + (kind || "");
  }

  // ------------------------------------------------------------------ colours

  function colourFor(label) {
    let h = 0;
    for (const ch of String(label)) h = (h * 31 + ch.codePointAt(0)) % 360;
    return "hsl(" + h + ", 85%, 55%)";
  }

  // ------------------------------------------------------------------ source selector

  function fillSources() {
    for (const name of data.names) {
      const option = el("option", { value: name }, isGroup ? name : "frame");
      sourceSelect.appendChild(option);
    }
    sourceSelect.value = current;
    sourceSelect.disabled = !isGroup;
    sourceSelect.addEventListener("change", () => {
      current = sourceSelect.value;
      const url = new URL(window.location.href);
      url.searchParams.set("source", current);
      window.history.replaceState(null, "", url);
      showSource();
    });
  }

  // ------------------------------------------------------------------ stage

  function frameSize(doc) {
    const w = doc.width || image.naturalWidth || 1;
    const h = doc.height || image.naturalHeight || 1;
    return [w, h];
  }

  function drawRois() {
    const doc = frameDoc(current);
    const [w, h] = frameSize(doc);
    layer.setAttribute("viewBox", "0 0 " + w + " " + h);
    layer.replaceChildren();
    layer.toggleAttribute("hidden", !roiToggle.checked); /* SVG has no .hidden */
    const fontSize = Math.max(8, Math.round(Math.max(w, h) / 45));
    (doc.annotations || []).forEach((ann, index) => {
      const labels = ann.labels || [];
      const colour = colourFor(labels[0] || "roi");
      const g = svg("g", { class: "roi", "data-index": index, stroke: colour });
      let anchor = null;
      if (ann.box2d_xywh) {
        const [x, y, bw, bh] = ann.box2d_xywh;
        g.appendChild(svg("rect", { x: x, y: y, width: bw, height: bh, class: "shape box" }));
        anchor = [x, y];
      } else if (ann.poly2d_xy) {
        const polygons = typeof ann.poly2d_xy[0] === "number" ? [ann.poly2d_xy] : ann.poly2d_xy;
        for (const poly of polygons) {
          const points = [];
          for (let i = 0; i + 1 < poly.length; i += 2) points.push(poly[i] + "," + poly[i + 1]);
          g.appendChild(svg("polygon", { points: points.join(" "), class: "shape poly" }));
          if (!anchor) anchor = [poly[0], poly[1]];
        }
      } else if (ann.ellipse2d_xyrrt) {
        const [cx, cy, rx, ry, theta] = ann.ellipse2d_xyrrt;
        const degrees = ((theta || 0) * 180) / Math.PI;
        g.appendChild(svg("ellipse", {
          cx: cx, cy: cy, rx: rx, ry: ry, class: "shape ellipse",
          transform: "rotate(" + degrees + " " + cx + " " + cy + ")",
        }));
        anchor = [cx - rx, cy - ry];
      } else if (ann.keypoints) {
        for (let i = 0; i + 1 < ann.keypoints.length; i += 2) {
          g.appendChild(svg("circle", {
            cx: ann.keypoints[i], cy: ann.keypoints[i + 1], r: fontSize / 4, class: "shape point",
          }));
          if (!anchor) anchor = [ann.keypoints[i], ann.keypoints[i + 1]];
        }
      } else {
        return; // a frame label: listed in the details, not drawn
      }
      let caption = labels.join(", ");
      if (typeof ann.confidence === "number") caption += " " + Math.round(ann.confidence * 100) + "%";
      if (caption) {
        const text = svg("text", {
          x: anchor[0] + 2, y: Math.max(fontSize, anchor[1] - 4), class: "roi-label",
          fill: colour, "font-size": fontSize,
        });
        text.textContent = caption;
        g.appendChild(text);
      }
      const title = svg("title", {});
      title.textContent = caption || "ROI";
      g.appendChild(title);
      layer.appendChild(g);
    });
  }

  function fillMasks() {
    const masks = data.media[current].masks;
    const ids = Object.keys(masks);
    maskSelect.replaceChildren();
    for (const id of ids) maskSelect.appendChild(el("option", { value: id }, id));
    maskSelect.hidden = ids.length < 2;
    maskToggle.disabled = ids.length === 0;
    if (ids.length === 0) maskToggle.checked = false;
    maskToggle.parentElement.title = ids.length ? "" : "this frame has no mask";
    showMask();
  }

  function showMask() {
    const masks = data.media[current].masks;
    const id = maskSelect.value || Object.keys(masks)[0];
    if (maskToggle.checked && id && masks[id]) {
      if (maskImage.getAttribute("src") !== masks[id]) maskImage.src = masks[id];
      maskImage.hidden = false;
    } else {
      maskImage.hidden = true;
    }
  }

  function showLegend() {
    const legend = $("legend");
    legend.replaceChildren();
    for (const entry of data.mask_labels) {
      const item = el("span", { class: "mask-label" });
      const swatch = svg("svg", { class: "swatch", viewBox: "0 0 10 10" });
      const v = entry.value;
      swatch.appendChild(svg("rect", {
        width: 10, height: 10, fill: "rgb(" + v[0] + "," + v[1 % v.length] + "," + v[2 % v.length] + ")",
      }));
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(entry.labels.join(", ")));
      legend.appendChild(item);
    }
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
    if (isGroup) for (const a of saved.annotations || []) all.push(["group", a]);
    for (const a of doc.annotations || []) all.push([isGroup ? current : "frame", a]);
    if (!all.length) {
      box.appendChild(el("p", { class: "muted" }, "None."));
      return;
    }
    const table = el("table", { class: "table compact", id: "annotation-table" });
    const head = el("tr");
    for (const h of ["Of", "Shape", "Labels", "Conf."]) head.appendChild(el("th", {}, h));
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const [owner, a] of all) {
      const row = el("tr");
      const shape = ["box2d_xywh", "poly2d_xy", "ellipse2d_xyrrt", "keypoints"].find((s) => a[s]);
      const shapeName = { box2d_xywh: "box", poly2d_xy: "polygon", ellipse2d_xyrrt: "ellipse", keypoints: "keypoints" }[shape] || "frame label";
      row.appendChild(el("td", {}, owner));
      row.appendChild(el("td", {}, shapeName));
      const labelCell = el("td");
      for (const label of a.labels || []) labelCell.appendChild(el("span", { class: "chip" }, label));
      row.appendChild(labelCell);
      row.appendChild(el("td", { class: "num" }, typeof a.confidence === "number" ? a.confidence.toFixed(2) : "—"));
      body.appendChild(row);
    }
    table.appendChild(body);
    box.appendChild(table);
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

  function editor(scope, title) {
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
    box.appendChild(editor(isGroup ? current : "", isGroup ? "Frame " + current : "Frame"));
    if (isGroup) box.appendChild(editor("", "Group"));
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

  function buildPatch() {
    const patch = {};
    for (const scope of drafts.keys()) {
      const metadata = collect(scope);
      if (scope === "") patch.metadata = metadata;
      else {
        patch.frames = patch.frames || {};
        patch.frames[scope] = { metadata: metadata };
      }
    }
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
    if (!response.ok) {
      setStatus("Not saved: " + (await errorText(response)), "error");
      return;
    }
    saved = await response.json();
    etag = response.headers.get("ETag") || etag;
    drafts.clear();
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

  function showSource() {
    const media = data.media[current];
    const doc = frameDoc(current);
    const video = (doc.content_type || "").startsWith("video/");
    image.src = video ? media.preview : media.source;
    image.alt = isGroup ? current : "frame";
    drawRois();
    fillMasks();
    showDetails();
    showEditors();
  }

  image.addEventListener("load", () => {
    const doc = frameDoc(current);
    if (!doc.width || !doc.height) drawRois();
    $("stage").classList.add("loaded");
  });
  roiToggle.addEventListener("change", () => { layer.toggleAttribute("hidden", !roiToggle.checked); /* SVG has no .hidden */ });
  maskToggle.addEventListener("change", showMask);
  maskSelect.addEventListener("change", showMask);
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    const link = event.key === "ArrowLeft" ? $("prev-frame") : event.key === "ArrowRight" ? $("next-frame") : null;
    if (link) window.location.assign(link.href);
  });

  fillSources();
  showLegend();
  showSource();
  wireActions();
})();
