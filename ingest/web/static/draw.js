// Pointer handling of an editable FrameStage (stage.js): selecting with a click, and drawing
// new ROIs with the box and ellipse tools (drag), the polygon tool (click the vertices; Enter,
// a double click or a click on the first vertex closes it) and the keypoints tool (click each;
// Enter or a double click ends it). A finished shape goes to opts.onCreate(shape). While a
// drawing tool is on, the ROI layer does not listen (stage.setTool): clicks reach the stage.
"use strict";

(function (NS) {
  const round = (v) => Math.round(v * 100) / 100;

  const DrawingTools = {
    wireEditing() {
      this.stage.on("mousedown touchstart", (e) => {
        if (this.tool === "select") {
          if (e.target === this.stage) this.select(null);
          else if (e.target.getParent() !== this.transformer && !e.target.hasName("vertex")) {
            const i = this.indexOf(e.target);
            if (i !== null && i !== this.selected) this.select(i);
          }
          return;
        }
        const p = this.stage.getRelativePointerPosition();
        if (this.tool === "box" || this.tool === "ellipse") {
          const preview = this.tool === "box"
            ? new Konva.Rect({ name: "drawing", stroke: "#fff", dash: [6, 4], strokeWidth: 2, strokeScaleEnabled: false })
            : new Konva.Ellipse({ name: "drawing", stroke: "#fff", dash: [6, 4], strokeWidth: 2, strokeScaleEnabled: false });
          this.drawing = { kind: this.tool, start: p, preview: preview };
          this.roiLayer.add(preview);
          this.updateDrag(p);
        }
      });
      this.stage.on("mousemove touchmove", () => {
        if (!this.drawing) return;
        const p = this.stage.getRelativePointerPosition();
        if (this.drawing.start) this.updateDrag(p);
        else this.drawing.preview.points(this.drawing.points.concat([p.x, p.y]));
        this.roiLayer.batchDraw();
      });
      this.stage.on("mouseup touchend", () => {
        if (!this.drawing || !this.drawing.start) return;
        const { kind, start } = this.drawing;
        const p = this.stage.getRelativePointerPosition();
        this.drawing = null;
        const x = Math.min(start.x, p.x);
        const y = Math.min(start.y, p.y);
        const w = Math.abs(p.x - start.x);
        const h = Math.abs(p.y - start.y);
        if (w < this.px(3) || h < this.px(3)) { this.render(); return; }
        const ann = kind === "box"
          ? { box2d_xywh: [round(x), round(y), round(w), round(h)] }
          : { ellipse2d_xyrrt: [round(x + w / 2), round(y + h / 2), round(w / 2), round(h / 2), 0] };
        this.opts.onCreate(ann);
      });
      this.stage.on("click tap", () => {
        if (this.tool !== "polygon" && this.tool !== "keypoints") return;
        const p = this.stage.getRelativePointerPosition();
        if (!this.drawing) {
          const preview = new Konva.Line({
            name: "drawing", points: [], stroke: "#fff", dash: [6, 4], strokeWidth: 2,
            strokeScaleEnabled: false, closed: false,
          });
          this.drawing = { kind: this.tool, points: [], preview: preview };
          this.roiLayer.add(preview);
        }
        const pts = this.drawing.points;
        const closeTo = pts.length >= 6 && Math.hypot(p.x - pts[0], p.y - pts[1]) < this.px(8);
        if (this.tool === "polygon" && closeTo) { this.finishDrawing(); return; }
        pts.push(round(p.x), round(p.y));
        this.drawing.preview.points(pts);
        this.roiLayer.add(new Konva.Circle({ name: "drawing-point", x: p.x, y: p.y, radius: this.px(3), fill: "#fff" }));
        this.roiLayer.batchDraw();
      });
      this.stage.on("dblclick dbltap", () => {
        // Konva reports any two quick clicks as a double click: finish only on two at one spot
        const pts = this.drawing && !this.drawing.start ? this.drawing.points : null;
        const n = pts ? pts.length : 0;
        if (n >= 4 && Math.hypot(pts[n - 2] - pts[n - 4], pts[n - 1] - pts[n - 3]) < this.px(4)) {
          this.finishDrawing();
        }
      });
    },

    updateDrag(p) {
      const { kind, start, preview } = this.drawing;
      const x = Math.min(start.x, p.x);
      const y = Math.min(start.y, p.y);
      const w = Math.abs(p.x - start.x);
      const h = Math.abs(p.y - start.y);
      if (kind === "box") preview.setAttrs({ x: x, y: y, width: w, height: h });
      else preview.setAttrs({ x: x + w / 2, y: y + h / 2, radiusX: w / 2, radiusY: h / 2 });
    },

    // Enter, a double click, or a click on the first vertex: the polygon / keypoints are done
    finishDrawing() {
      if (!this.drawing || this.drawing.start) return false;
      const { kind, points } = this.drawing;
      // a double click also clicked twice: drop a repeated last point
      const n = () => points.length;
      while (n() >= 4 && Math.hypot(points[n() - 2] - points[n() - 4], points[n() - 1] - points[n() - 3]) < this.px(4)) {
        points.splice(-2, 2);
      }
      this.drawing = null;
      if (kind === "polygon" && points.length >= 6) this.opts.onCreate({ poly2d_xy: [points] });
      else if (kind === "keypoints" && points.length >= 2) this.opts.onCreate({ keypoints: points });
      else this.render();
      return true;
    },

    cancelDrawing() {
      if (!this.drawing) return false;
      this.drawing = null;
      this.render();
      return true;
    },
  };

  Object.assign(NS.FrameStage.prototype, DrawingTools);
})(window.Ingest);
