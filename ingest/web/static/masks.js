// Masks coloured by the version's mask_labels: every entry (a pixel value -> labels) gets a
// distinct display colour, so masks whose pixels are label ids (1, 2, 3...) show as clearly as
// RGB ones; the legend shows that colour, a checkbox per entry hides or shows it, and pixel
// values without an entry stay transparent. Pixel value 0 (black: "nothing" by convention)
// starts hidden.
"use strict";

window.Ingest = window.Ingest || {};

(function (NS) {
  // distinct hues by the golden angle; hsl -> rgb so pixels and swatches share one triple
  function displayColour(index) {
    const h = (index * 137.508 + 200) % 360;
    const s = 0.8;
    const l = 0.52;
    const k = (n) => (n + h / 30) % 12;
    const a = s * Math.min(l, 1 - l);
    const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
    return [Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4))];
  }

  function pixelKey(value) {
    const r = value[0];
    const g = value.length > 1 ? value[1] : r;
    const b = value.length > 2 ? value[2] : r;
    return (r << 16) | (g << 8) | b;
  }

  class MaskPalette {
    constructor(maskLabels) {
      this.entries = maskLabels.map((entry, i) => ({
        value: entry.value,
        labels: entry.labels,
        colour: displayColour(i),
        shown: entry.value.some((v) => v !== 0),
      }));
      this.byKey = new Map(this.entries.map((e) => [pixelKey(e.value), e]));
    }

    // a canvas of the mask's size: each pixel in its entry's display colour, or transparent
    paint(img) {
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(img, 0, 0);
      const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const d = pixels.data;
      if (!this.entries.length) return canvas; // no mask_labels: the mask as it is
      for (let i = 0; i < d.length; i += 4) {
        const entry = this.byKey.get((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        if (entry && entry.shown) {
          d[i] = entry.colour[0];
          d[i + 1] = entry.colour[1];
          d[i + 2] = entry.colour[2];
          d[i + 3] = 255;
        } else {
          d[i + 3] = 0;
        }
      }
      ctx.putImageData(pixels, 0, 0);
      return canvas;
    }
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("cannot load " + url));
      img.src = url;
    });
  }

  // the legend: a checkbox, a swatch in the display colour, the labels and the pixel value
  function legend(box, palette, onToggle) {
    box.replaceChildren();
    palette.entries.forEach((entry, i) => {
      const item = document.createElement("label");
      item.className = "mask-label";
      item.dataset.labels = entry.labels.join(", ");
      const toggle = document.createElement("input");
      toggle.type = "checkbox";
      toggle.checked = entry.shown;
      toggle.className = "mask-entry-toggle";
      toggle.addEventListener("change", () => { entry.shown = toggle.checked; onToggle(i); });
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.dataset.rgb = entry.colour.join(",");
      swatch.style.background = "rgb(" + entry.colour.join(",") + ")";
      const value = document.createElement("span");
      value.className = "tiny muted";
      value.textContent = "(" + entry.value.join(",") + ")";
      item.append(toggle, swatch, document.createTextNode(entry.labels.join(", ")), value);
      box.appendChild(item);
    });
  }

  NS.MaskPalette = MaskPalette;
  NS.loadImage = loadImage;
  NS.maskLegend = legend;
})(window.Ingest);
