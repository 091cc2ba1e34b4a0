// What the web app's scripts share: el(tag, attrs, text) builds an element whose text goes
// in with textContent and whose attributes are set as values, never parsed as HTML.
"use strict";

window.Ingest = window.Ingest || {};

window.Ingest.el = function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
};
