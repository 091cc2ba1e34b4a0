// The frame viewer's side panel: a SingleFrame's details and the table of annotations (every
// shape named, 3D ones included, with its id; a click on an ROI's row selects it). Every user
// string goes into the page with textContent.
"use strict";

window.Ingest = window.Ingest || {};

(function (NS) {
  const el = NS.el;

  function frameDetails(list, doc) {
    const add = (term, value, mono) => list.append(el("dt", {}, term), el("dd", mono ? { class: "mono" } : {}, value));
    list.replaceChildren();
    add("URI", doc.source, true);
    add("Size", doc.width && doc.height ? doc.width + " × " + doc.height : "—");
    add("Type", doc.content_type || "—");
    if (doc.preview_uri) add("Preview", doc.preview_uri, true);
    add("Context", doc.context_id === null ? "—" : doc.context_id, true);
    add("Timestamp", doc.timestamp === null ? "—" : doc.timestamp);
    const maskIds = Object.keys(doc.masks || {});
    add("Masks", maskIds.length ? maskIds.join(", ") : "—");
  }

  // rows: [[owner, annotation, index in the shown SingleFrame's list or null], ...]
  function annotationTable(box, rows, onSelect) {
    box.replaceChildren();
    if (!rows.length) {
      box.appendChild(el("p", { class: "muted" }, "None."));
      return;
    }
    const table = el("table", { class: "table compact", id: "annotation-table" });
    const head = el("tr");
    for (const h of ["Of", "Shape", "Labels", "Conf.", "Id"]) head.appendChild(el("th", {}, h));
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const [owner, a, index] of rows) {
      const row = el("tr", index === null ? {} : { "data-index": index });
      const labels = el("td");
      for (const label of a.labels || []) labels.appendChild(el("span", { class: "chip" }, label));
      const id = a.id === undefined ? "—" : String(a.id);
      row.append(
        el("td", {}, owner),
        el("td", { class: "shape-name" }, NS.shapeName(a)),
        labels,
        el("td", { class: "num" }, typeof a.confidence === "number" ? a.confidence.toFixed(2) : "—"),
        el("td", { class: "mono tiny ann-id", title: id }, id.slice(0, 8)),
      );
      if (index !== null && !NS.isFrameLabel(a)) {
        row.classList.add("selectable");
        row.addEventListener("click", () => onSelect(index));
      }
      body.appendChild(row);
    }
    table.appendChild(body);
    box.appendChild(table);
  }

  NS.frameDetails = frameDetails;
  NS.annotationTable = annotationTable;
})(window.Ingest);
