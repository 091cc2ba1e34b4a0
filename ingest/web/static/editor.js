// AnnotationEditor: the working copy of each SingleFrame's annotations, with undo/redo, the
// "Selected ROI" panel (labels, confidence, delete), frame labels and the drawing tools.
// The stage (stage.js) draws and reports changes; the viewer saves editor.patch() with the
// rest of the frame. Every user string goes into the page with textContent or as a value.
"use strict";

window.Ingest = window.Ingest || {};

(function (NS) {
  const SHAPE_NAMES = {
    box2d_xywh: "box", poly2d_xy: "polygon", ellipse2d_xyrrt: "ellipse", keypoints: "keypoints",
    points2d_xy: "points", box3d_xyzwhxyzwh: "3D box", poly3d_xyz: "3D polygon",
    points3d_xyz: "3D points", mask_rgb: "mask RGB", frame_class: "frame class",
  };
  const UNDO_LIMIT = 200;
  const $ = (id) => document.getElementById(id);

  function shapeName(ann) {
    const key = Object.keys(SHAPE_NAMES).find((k) => ann[k] !== undefined && ann[k] !== null);
    return key ? SHAPE_NAMES[key] : "frame label";
  }

  function isFrameLabel(ann) {
    return shapeName(ann) === "frame label";
  }

  const el = NS.el;

  const clone = (v) => JSON.parse(JSON.stringify(v));

  class AnnotationEditor {
    // opts: {readOnly, annotationsOf(name) -> saved list, labelSet, onEdited(), setStatus()}
    constructor(stage, opts) {
      this.stage = stage;
      this.opts = opts;
      this.states = new Map();
      this.current = null;
      this.selected = null;
      this.fillLabelSet(opts.labelSet);
      if (!opts.readOnly) this.wire();
      this.showPanel();
    }

    state(name) {
      if (!this.states.has(name)) {
        this.states.set(name, { anns: clone(this.opts.annotationsOf(name) || []), undo: [], redo: [], dirty: false });
      }
      return this.states.get(name);
    }

    annotations(name) {
      return this.state(name === undefined ? this.current : name).anns;
    }

    show(name) {
      this.current = name;
      this.selected = null;
      this.defaultLabel();
      this.stage.setAnnotations(this.annotations(), null);
      this.showPanel();
    }

    // ---------------------------------------------------------------- changes

    commit(next, selected) {
      const st = this.state(this.current);
      const before = JSON.stringify(st.anns);
      if (before === JSON.stringify(next)) { this.refresh(selected); return; } // nothing to undo
      st.undo.push(before);
      if (st.undo.length > UNDO_LIMIT) st.undo.shift();
      st.redo = [];
      st.anns = next;
      st.dirty = true;
      this.refresh(selected);
    }

    refresh(selected) {
      const anns = this.annotations();
      this.selected = selected !== null && selected !== undefined && selected < anns.length ? selected : null;
      this.stage.setAnnotations(anns, this.selected);
      this.showPanel();
      this.opts.onEdited();
    }

    step(from, to) {
      const st = this.state(this.current);
      if (!st[from].length) return false;
      st[to].push(JSON.stringify(st.anns));
      st.anns = JSON.parse(st[from].pop());
      st.dirty = true;
      this.refresh(null);
      return true;
    }

    undo() { return this.step("undo", "redo"); }
    redo() { return this.step("redo", "undo"); }

    // a new annotation's id (documents address annotations by id; unique in practice)
    newId() {
      const bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }

    create(shape) {
      const label = ($("draw-label") && $("draw-label").value.trim()) || "";
      const ann = Object.assign({ labels: label ? [label] : [], confidence: null, metadata: {} }, shape);
      ann.id = this.newId();
      const next = this.annotations().concat([ann]);
      this.setTool("select");
      this.commit(next, next.length - 1);
    }

    removeSelected() {
      if (this.selected === null) return false;
      const next = this.annotations().slice();
      next.splice(this.selected, 1);
      this.commit(next, null);
      return true;
    }

    select(index) {
      this.selected = index;
      this.showPanel();
    }

    setTool(tool) {
      this.stage.setTool(tool);
      document.querySelectorAll(".tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
    }

    // the edited SingleFrames' annotations, by name; markSaved() after a successful save
    patch() {
      const out = {};
      for (const [name, st] of this.states) if (st.dirty) out[name] = st.anns;
      return out;
    }

    markSaved(annotationsOf) {
      for (const [name, st] of this.states) {
        st.dirty = false;
        st.anns = clone(annotationsOf(name) || []);
      }
      this.refresh(this.selected);
    }

    dirty() {
      return Array.from(this.states.values()).some((st) => st.dirty);
    }

    // ---------------------------------------------------------------- panel

    fillLabelSet(labels) {
      const list = $("label-set");
      list.replaceChildren(...labels.map((label) => el("option", { value: label })));
    }

    // new ROIs get the label typed in the toolbar; until the user types one, the label of
    // this source's first ROI (else the version's first label)
    defaultLabel() {
      const draw = $("draw-label");
      if (!draw || draw.dataset.typed) return;
      const roi = this.annotations().find((a) => !isFrameLabel(a) && (a.labels || []).length);
      draw.value = roi ? roi.labels[0] : this.opts.labelSet[0] || "";
    }

    showPanel() {
      const anns = this.current === null ? [] : this.annotations();
      const ann = this.selected === null ? null : anns[this.selected];
      $("ann-none").hidden = Boolean(ann);
      $("ann-fields").hidden = !ann;
      if (ann) {
        $("ann-shape").textContent = shapeName(ann);
        $("ann-id").textContent = ann.id === undefined ? "—" : ann.id;
        $("ann-labels").value = (ann.labels || []).join(", ");
        $("ann-confidence").value = typeof ann.confidence === "number" ? String(ann.confidence) : "";
        $("ann-labels").readOnly = this.opts.readOnly;
        $("ann-confidence").readOnly = this.opts.readOnly;
      }
      const box = $("frame-labels");
      box.replaceChildren();
      anns.forEach((a, index) => {
        if (!isFrameLabel(a)) return;
        for (const label of a.labels || []) {
          const chip = el("span", { class: "chip frame-label" }, label);
          if (!this.opts.readOnly) {
            const remove = el("button", { type: "button", class: "chip-remove", title: "remove " + label }, "✕");
            remove.addEventListener("click", () => this.removeFrameLabel(index, label));
            chip.appendChild(remove);
          }
          box.appendChild(chip);
        }
      });
      if (!box.childNodes.length) box.appendChild(el("span", { class: "muted" }, "None."));
    }

    updateSelected(changes) {
      const next = clone(this.annotations());
      Object.assign(next[this.selected], changes);
      this.commit(next, this.selected);
    }

    removeFrameLabel(index, label) {
      const next = clone(this.annotations());
      next[index].labels = next[index].labels.filter((l) => l !== label);
      if (!next[index].labels.length) next.splice(index, 1);
      this.commit(next, null);
    }

    addFrameLabel(label) {
      if (!label) return;
      const ann = { id: this.newId(), labels: [label], confidence: null, metadata: {} };
      this.commit(this.annotations().concat([ann]), this.selected);
    }

    wire() {
      $("ann-labels").addEventListener("change", () => {
        const labels = $("ann-labels").value.split(",").map((l) => l.trim()).filter(Boolean);
        this.updateSelected({ labels: labels });
      });
      $("ann-confidence").addEventListener("change", () => {
        const text = $("ann-confidence").value.trim();
        const value = text === "" ? null : Number(text);
        if (value !== null && !(value >= 0 && value <= 1)) {
          this.opts.setStatus("Confidence must be a number in [0, 1], got " + JSON.stringify(text), "error");
          return;
        }
        this.updateSelected({ confidence: value });
      });
      $("ann-delete").addEventListener("click", () => this.removeSelected());
      const add = () => {
        this.addFrameLabel($("frame-label-input").value.trim());
        $("frame-label-input").value = "";
      };
      $("frame-label-add").addEventListener("click", add);
      $("frame-label-input").addEventListener("keydown", (e) => { if (e.key === "Enter") add(); });
      // the button gives the focus back, so Enter finishes a polygon instead of clicking it again
      document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => { this.setTool(b.dataset.tool); b.blur(); }));
      $("draw-label").addEventListener("input", () => { $("draw-label").dataset.typed = "1"; });
      $("undo-button").addEventListener("click", () => this.undo());
      $("redo-button").addEventListener("click", () => this.redo());
      this.setTool("select");
    }
  }

  NS.AnnotationEditor = AnnotationEditor;
  NS.shapeName = shapeName;
  NS.isFrameLabel = isFrameLabel;
})(window.Ingest);
