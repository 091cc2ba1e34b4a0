// FrameStage: one SingleFrame's image, mask and ROIs on a Konva stage (vendor/konva.min.js),
// with zoom (wheel, buttons) and pan (drag the background). Editable stages (with draw.js) let the user
// select, move, resize (Konva.Transformer), edit vertices and draw new ROIs; every change goes
// to opts.onChange(newAnnotations) and the owner re-renders. Konva does the hit-testing,
// dragging and handles. User strings only ever become Konva.Text content (never HTML).
"use strict";

window.Ingest = window.Ingest || {};

(function (NS) {
  const SHAPES_2D = ["box2d_xywh", "poly2d_xy", "ellipse2d_xyrrt", "keypoints", "points2d_xy"];
  const MIN_SCALE = 0.05;
  const MAX_SCALE = 40;

  function colourFor(label) {
    let h = 0;
    for (const ch of String(label)) h = (h * 31 + ch.codePointAt(0)) % 360;
    return "hsl(" + h + ", 85%, 55%)";
  }

  function shapeOf(ann) {
    return SHAPES_2D.find((s) => ann[s] !== undefined && ann[s] !== null) || null;
  }

  // [[x1, y1, x2, y2, ...], ...] whatever the stored form (one flat polygon, a list of flat
  // polygons, or a list of [x, y] pairs)
  function polygonsOf(value) {
    if (!value.length) return [];
    if (typeof value[0] === "number") return [value];
    if (Array.isArray(value[0]) && typeof value[0][0] === "number" && value[0].length === 2
        && value.every((p) => Array.isArray(p) && p.length === 2)) {
      return [value.flat()];
    }
    return value.map((p) => (Array.isArray(p[0]) ? p.flat() : p));
  }

  function flatPoints(value) {
    return typeof value[0] === "number" ? value : value.flat();
  }

  function moved(ann, dx, dy) {
    const out = JSON.parse(JSON.stringify(ann));
    const shift = (flat) => flat.map((v, i) => (i % 2 ? v + dy : v + dx));
    if (out.box2d_xywh) out.box2d_xywh = [out.box2d_xywh[0] + dx, out.box2d_xywh[1] + dy, out.box2d_xywh[2], out.box2d_xywh[3]];
    else if (out.ellipse2d_xyrrt) { out.ellipse2d_xyrrt[0] += dx; out.ellipse2d_xyrrt[1] += dy; }
    else if (out.poly2d_xy) out.poly2d_xy = polygonsOf(out.poly2d_xy).map(shift);
    else if (out.keypoints) out.keypoints = shift(out.keypoints);
    else if (out.points2d_xy) out.points2d_xy = shift(flatPoints(out.points2d_xy));
    return out;
  }

  const round = (v) => Math.round(v * 100) / 100;

  function area(ann) {
    const extent = (flat) => {
      const xs = flat.filter((v, i) => i % 2 === 0);
      const ys = flat.filter((v, i) => i % 2 === 1);
      return (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
    };
    if (ann.box2d_xywh) return ann.box2d_xywh[2] * ann.box2d_xywh[3];
    if (ann.ellipse2d_xyrrt) return Math.PI * ann.ellipse2d_xyrrt[2] * ann.ellipse2d_xyrrt[3];
    if (ann.poly2d_xy) return Math.max(0, ...polygonsOf(ann.poly2d_xy).map(extent));
    return 0; // points: always on top
  }

  class FrameStage {
    constructor(container, opts) {
      this.container = container;
      this.opts = Object.assign({ editable: false, maxHeight: 0.72, onSelect: () => {}, onChange: () => {} }, opts || {});
      this.width = 1;
      this.height = 1;
      this.annotations = [];
      this.selected = null;
      this.tool = "select";
      this.showRois = true;
      this.drawing = null;
      this.stage = new Konva.Stage({ container: container, width: container.clientWidth || 300, height: 200 });
      this.base = new Konva.Layer({ listening: false });
      this.roiLayer = new Konva.Layer();
      this.image = new Konva.Image({ name: "frame-image" });
      this.mask = new Konva.Image({ name: "mask-image", visible: false });
      this.base.add(this.image, this.mask);
      this.transformer = new Konva.Transformer({
        rotateEnabled: false, keepRatio: false, ignoreStroke: true, flipEnabled: false,
        anchorSize: 9, borderStroke: "#fff", anchorStroke: "#2f6fed",
      });
      this.stage.add(this.base, this.roiLayer);
      this.stage.draggable(true); // pan by dragging the background
      this.stage.on("wheel", (e) => this.onWheel(e));
      if (this.opts.editable) this.wireEditing();
      else this.stage.on("click tap", (e) => { const i = this.indexOf(e.target); if (i !== null) this.select(i); });
    }

    // ---------------------------------------------------------------- content

    setImage(source, width, height) {
      this.image.image(source);
      this.width = width || source.naturalWidth || source.videoWidth || source.width || 1;
      this.height = height || source.naturalHeight || source.videoHeight || source.height || 1;
      this.image.size({ width: this.width, height: this.height });
      this.fit();
    }

    setMask(canvas, opacity) {
      this.mask.image(canvas || null);
      this.mask.size({ width: this.width, height: this.height });
      this.mask.visible(Boolean(canvas));
      this.mask.opacity(opacity);
      this.base.batchDraw();
    }

    setAnnotations(annotations, selected) {
      this.annotations = annotations;
      this.selected = selected === undefined ? null : selected;
      this.render();
    }

    setRoisVisible(visible) {
      this.showRois = visible;
      this.roiLayer.visible(visible);
    }

    // ---------------------------------------------------------------- view

    fit() {
      const cw = this.container.clientWidth || 300;
      const maxH = Math.max(160, window.innerHeight * this.opts.maxHeight);
      const scale = Math.min(cw / this.width, maxH / this.height);
      const ch = Math.max(1, Math.round(this.height * Math.min(scale, cw / this.width)));
      this.stage.size({ width: cw, height: ch });
      const s = Math.min(cw / this.width, ch / this.height);
      this.stage.scale({ x: s, y: s });
      this.stage.position({ x: (cw - this.width * s) / 2, y: 0 });
      this.render();
    }

    zoomBy(factor, at) {
      const old = this.stage.scaleX();
      const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, old * factor));
      const p = at || { x: this.stage.width() / 2, y: this.stage.height() / 2 };
      const point = { x: (p.x - this.stage.x()) / old, y: (p.y - this.stage.y()) / old };
      this.stage.scale({ x: scale, y: scale });
      this.stage.position({ x: p.x - point.x * scale, y: p.y - point.y * scale });
      this.render();
    }

    onWheel(e) {
      e.evt.preventDefault();
      this.zoomBy(e.evt.deltaY > 0 ? 1 / 1.15 : 1.15, this.stage.getPointerPosition());
    }

    px(n) { // n screen pixels in image units (captions and handles keep their size)
      return n / this.stage.scaleX();
    }

    // ---------------------------------------------------------------- drawing

    render() {
      this.transformer.nodes([]);
      this.transformer.remove();
      this.transformTarget = null;
      this.roiLayer.destroyChildren();
      // larger ROIs below smaller ones, the selected one on top: each stays clickable
      const order = this.annotations.map((ann, index) => index);
      order.sort((a, b) => area(this.annotations[b]) - area(this.annotations[a]));
      for (const index of order) {
        const group = this.roiGroup(this.annotations[index], index);
        if (group) this.roiLayer.add(group);
      }
      this.roiLayer.find(".roi").forEach((g) => { if (g.getAttr("annIndex") === this.selected) g.moveToTop(); });
      if (this.drawing) this.roiLayer.add(this.drawing.preview);
      this.roiLayer.add(this.transformer);
      // set once everything is on the layer (a Transformer given detached nodes drops them)
      this.transformer.nodes(this.transformTarget ? [this.transformTarget] : []);
      this.base.batchDraw();
      // drawn now, not at the next animation frame: a click right after a change must hit
      // the new shapes (Konva hit-tests against the layer's last drawn hit canvas)
      this.roiLayer.draw();
    }

    roiGroup(ann, index) {
      const shape = shapeOf(ann);
      if (!shape) return null;
      const labels = ann.labels || [];
      const colour = colourFor(labels[0] || "roi");
      const selected = index === this.selected;
      const editable = this.opts.editable && selected;
      const group = new Konva.Group({ name: "roi", draggable: editable && this.tool === "select" });
      group.setAttr("annIndex", index);
      const style = { stroke: colour, strokeWidth: selected ? 3.5 : 2.5, strokeScaleEnabled: false };
      let anchor;
      let main = null;
      if (shape === "box2d_xywh") {
        const [x, y, w, h] = ann.box2d_xywh;
        main = new Konva.Rect(Object.assign({ name: "shape box", x: x, y: y, width: w, height: h, fill: "rgba(0,0,0,0.001)" }, style));
        anchor = [x, y];
      } else if (shape === "ellipse2d_xyrrt") {
        const [cx, cy, rx, ry, theta] = ann.ellipse2d_xyrrt;
        main = new Konva.Ellipse(Object.assign({
          name: "shape ellipse", x: cx, y: cy, radiusX: rx, radiusY: ry,
          rotation: ((theta || 0) * 180) / Math.PI, fill: "rgba(0,0,0,0.001)",
        }, style));
        anchor = [cx - rx, cy - ry];
      } else if (shape === "poly2d_xy") {
        polygonsOf(ann.poly2d_xy).forEach((points, p) => {
          const line = new Konva.Line(Object.assign({ name: "shape polygon", points: points, closed: true, fill: "rgba(0,0,0,0.001)" }, style));
          line.setAttr("polygon", p);
          group.add(line);
          if (!anchor) anchor = [points[0], points[1]];
        });
      } else {
        const points = flatPoints(ann[shape]);
        for (let i = 0; i + 1 < points.length; i += 2) {
          group.add(new Konva.Circle({
            name: "shape point", x: points[i], y: points[i + 1], radius: this.px(selected ? 5 : 4),
            fill: colour, stroke: "#000", strokeWidth: 1, strokeScaleEnabled: false,
          }));
          if (!anchor) anchor = [points[i], points[i + 1]];
        }
      }
      if (main) group.add(main);
      let caption = labels.join(", ");
      if (typeof ann.confidence === "number") caption += " " + Math.round(ann.confidence * 100) + "%";
      if (caption && anchor) {
        const size = this.px(12);
        group.add(new Konva.Text({
          name: "roi-label", text: caption, x: anchor[0] + this.px(2), y: anchor[1] - size - this.px(3),
          fontSize: size, fontStyle: "bold", fill: colour, stroke: "#000", strokeWidth: 2.5,
          strokeScaleEnabled: false, fillAfterStrokeEnabled: true, listening: false,
        }));
      }
      if (editable) this.addHandles(group, ann, index, shape, main);
      return group;
    }

    indexOf(node) {
      let n = node;
      while (n && n !== this.stage) {
        if (n.hasName && n.hasName("roi")) return n.getAttr("annIndex");
        n = n.getParent();
      }
      return null;
    }

    select(index) {
      this.selected = index;
      this.render();
      this.opts.onSelect(index);
    }

    // ---------------------------------------------------------------- editing

    change(index, ann) {
      const next = this.annotations.slice();
      if (ann === null) next.splice(index, 1);
      else next[index] = ann;
      this.opts.onChange(next, ann === null ? null : index);
    }

    addHandles(group, ann, index, shape, main) {
      group.on("dragend", () => {
        const dx = round(group.x());
        const dy = round(group.y());
        if (dx || dy) this.change(index, moved(ann, dx, dy));
      });
      if (main && this.tool === "select") {
        this.transformer.rotateEnabled(shape === "ellipse2d_xyrrt");
        this.transformTarget = main;
        main.on("transformend", () => {
          const out = JSON.parse(JSON.stringify(ann));
          if (shape === "box2d_xywh") {
            out.box2d_xywh = [round(main.x()), round(main.y()),
              round(Math.abs(main.width() * main.scaleX())), round(Math.abs(main.height() * main.scaleY()))];
          } else {
            out.ellipse2d_xyrrt = [round(main.x()), round(main.y()),
              round(Math.abs(main.radiusX() * main.scaleX())), round(Math.abs(main.radiusY() * main.scaleY())),
              round((main.rotation() * Math.PI) / 180)];
          }
          this.change(index, out);
        });
      }
      if (shape === "poly2d_xy") {
        const polys = polygonsOf(ann.poly2d_xy).map((p) => p.slice());
        group.find(".polygon").forEach((line) => {
          const p = line.getAttr("polygon");
          for (let i = 0; i + 1 < polys[p].length; i += 2) {
            const handle = this.vertex(polys[p][i], polys[p][i + 1]);
            handle.on("dragmove", () => {
              polys[p][i] = round(handle.x());
              polys[p][i + 1] = round(handle.y());
              line.points(polys[p]);
            });
            handle.on("dragend", (e) => {
              e.cancelBubble = true;
              this.change(index, Object.assign({}, ann, { poly2d_xy: polys }));
            });
            handle.on("dblclick dbltap", (e) => { // remove a vertex (a polygon keeps 3)
              e.cancelBubble = true;
              if (polys[p].length <= 6) return;
              polys[p].splice(i, 2);
              this.change(index, Object.assign({}, ann, { poly2d_xy: polys }));
            });
            group.add(handle);
          }
        });
      } else if (shape === "keypoints" || shape === "points2d_xy") {
        const points = flatPoints(ann[shape]).slice();
        group.find(".point").forEach((circle, k) => {
          circle.draggable(true);
          circle.on("dragend", (e) => {
            e.cancelBubble = true;
            points[2 * k] = round(circle.x());
            points[2 * k + 1] = round(circle.y());
            const out = Object.assign({}, ann);
            out[shape] = shape === "keypoints" ? points : pairs(points);
            this.change(index, out);
          });
        });
      }
    }

    vertex(x, y) {
      return new Konva.Circle({
        name: "vertex", x: x, y: y, radius: this.px(5), fill: "#fff", stroke: "#2f6fed",
        strokeWidth: 2, strokeScaleEnabled: false, draggable: true,
      });
    }

    setTool(tool) {
      this.cancelDrawing();
      this.tool = tool;
      this.stage.draggable(tool === "select");
      // while drawing, ROIs do not take the pointer: every click lands on the stage (Konva
      // drops a click whose press and release hit two different shapes)
      this.roiLayer.listening(tool === "select");
      this.container.dataset.tool = tool;
      this.render();
    }
  }

  function pairs(flat) {
    const out = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
    return out;
  }

  NS.FrameStage = FrameStage;
  NS.colourFor = colourFor;
  NS.shapeOf = shapeOf;
  NS.moved = moved;
})(window.Ingest);
