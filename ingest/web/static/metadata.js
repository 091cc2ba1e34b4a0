// MetadataEditor: key/value rows for the metadata of a SingleFrame ("NAME") or of the group
// (""); add, change, remove keys; edited() gives what to save. Values that parse as JSON are
// saved as such, anything else as text; values that were text stay text. Every user string
// goes into the page as an input's value, never parsed as HTML.
"use strict";

window.Ingest = window.Ingest || {};

(function (NS) {
  const el = NS.el;

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

  class MetadataEditor {
    // opts: {readOnly, metadataOf(scope) -> the saved metadata object}
    constructor(opts) {
      this.opts = opts;
      this.drafts = new Map(); // scope -> rows being edited
    }

    rows(scope) {
      if (!this.drafts.has(scope)) {
        const source = this.opts.metadataOf(scope) || {};
        this.drafts.set(scope, Object.entries(source).map(([k, v]) => ({ key: k, text: displayValue(v), original: v, had: true })));
      }
      return this.drafts.get(scope);
    }

    row(entry, rows) {
      const readOnly = this.opts.readOnly;
      const row = el("div", { class: "meta-row" });
      // value attributes (not only properties), so a row can be found by its saved key
      const key = el("input", { type: "text", class: "meta-key", "aria-label": "key", placeholder: "key", value: entry.key });
      const value = el("input", { type: "text", class: "meta-value", "aria-label": "value", placeholder: "value", value: entry.text });
      key.readOnly = readOnly;
      value.readOnly = readOnly;
      key.addEventListener("input", () => { entry.key = key.value; });
      value.addEventListener("input", () => { entry.text = value.value; });
      row.append(key, value);
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

    editor(scope, title) {
      const rows = this.rows(scope);
      const box = el("div", { class: "meta-editor", "data-scope": scope });
      box.appendChild(el("h3", {}, title));
      const list = el("div", { class: "meta-rows" });
      for (const entry of rows) list.appendChild(this.row(entry, rows));
      if (!rows.length && this.opts.readOnly) list.appendChild(el("p", { class: "muted" }, "No metadata."));
      box.appendChild(list);
      if (!this.opts.readOnly) {
        const add = el("button", { type: "button", class: "secondary add-key" }, "+ Add key");
        add.addEventListener("click", () => {
          const entry = { key: "", text: "", original: undefined, had: false };
          rows.push(entry);
          const row = this.row(entry, rows);
          list.appendChild(row);
          row.querySelector(".meta-key").focus();
        });
        box.appendChild(add);
      }
      return box;
    }

    // scopes: [[scope, title], ...]
    render(box, scopes) {
      box.replaceChildren(...scopes.map(([scope, title]) => this.editor(scope, title)));
    }

    collect(scope) {
      const out = {};
      for (const entry of this.drafts.get(scope)) {
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

    // [[scope, metadata], ...] of every scope shown since the last save (throws on a bad row)
    edited() {
      return Array.from(this.drafts.keys(), (scope) => [scope, this.collect(scope)]);
    }

    clear() {
      this.drafts.clear();
    }
  }

  NS.MetadataEditor = MetadataEditor;
})(window.Ingest);
