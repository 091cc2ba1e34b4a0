#!/usr/bin/env bash
# Vendor the web app's browser libraries into ingest/web/static/vendor/ (run by hand to
# upgrade; the result is committed, so neither the server nor CI needs npm).
# Each library comes from the npm registry with `npm pack NAME@VERSION`; next to its files
# this writes NAME.LICENSE (the package's licence text) and VERSIONS (name, version, licence,
# tarball integrity). Idempotent: a second run rewrites the same files.
#   konva  10.9.1   the canvas drawing layer of the annotation editor (shapes, hit-testing,
#                   drag, Transformer handles)
#   three  0.187.0  the point-cloud view (WebGL points, OrbitControls, PCDLoader); its ES
#                   modules import the bare name 'three', which this script rewrites to the
#                   vendored file (no import map: the page's CSP allows no inline script)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=ingest/web/static/vendor
KONVA=10.9.1
THREE=0.187.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT"
: > "$OUT/VERSIONS"

fetch() {  # NAME VERSION -> unpacked in $tmp/NAME/package
  local name=$1 version=$2
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && npm pack --silent "$name@$version" --json > pack.json && tar xzf ./*.tgz)
  local licence integrity
  licence=$(node -p "require('$tmp/$name/package/package.json').license")
  integrity=$(node -p "require('$tmp/$name/pack.json')[0].integrity")
  cp "$tmp/$name/package/LICENSE"* "$OUT/$name.LICENSE"
  printf '%s\t%s\t%s\t%s\n' "$name" "$version" "$licence" "$integrity" >> "$OUT/VERSIONS"
}

fetch konva "$KONVA"
cp "$tmp/konva/package/konva.min.js" "$OUT/konva.min.js"

fetch three "$THREE"
three=$tmp/three/package
cp "$three/build/three.module.js" "$three/build/three.core.js" "$OUT/"
for module in loaders/PCDLoader.js controls/OrbitControls.js; do
  sed "s#from 'three'#from './three.module.js'#" "$three/examples/jsm/$module" \
    > "$OUT/$(basename "$module")"
done
echo "vendored into $OUT:" >&2
cat "$OUT/VERSIONS" >&2
