#!/usr/bin/env bash
# Set up (if needed), then import the example drive into the embedded defaults:
# SQLite catalog and local object store under ${XDG_DATA_HOME:-~/.local/share}/frame-ingest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ingest import examples/drive/manifest.jsonl --dataset example-drive --version v1 --create "$@"
cat >&2 <<'MSG'

Next:
  .venv/bin/ingest versions list example-drive          # versions, states, frame counts
  .venv/bin/ingest export --dataset example-drive --version v1 | head -c 600
  .venv/bin/ingest serve                                 # browse it at http://127.0.0.1:8080
MSG
