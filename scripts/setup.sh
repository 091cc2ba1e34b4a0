#!/usr/bin/env bash
# One-time (idempotent) set-up on a fresh Debian machine: system packages and the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
if [ "${INGEST_SETUP_BROWSER:-1}" = 1 ]; then
  [ -x /usr/bin/chromium ] || need_apt+=(chromium fonts-dejavu-core)
fi
# Node.js runs Azurite (the Azure Storage emulator of the tests), installed below from npm
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing the project into .venv (log: .venv/install.log)" >&2
  # nuscenes-devkit (the tests' reader of nuScenes tables) pins numpy<2: installed without its
  # pins, its imports come from the test extra
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[dev]' \
         && .venv/bin/pip install -q --no-deps 'nuscenes-devkit>=1.1'; } \
      > .venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  rm -f .venv/.installed-*; touch "$stamp"
fi

# Azurite, from npm into tools/node_modules (the versions pinned by tools/package-lock.json)
if [ ! -x tools/node_modules/.bin/azurite-blob ]; then
  echo "setup: installing Azurite into tools/node_modules (log: tools/npm-install.log)" >&2
  if ! (cd tools && npm ci --no-audit --no-fund) > tools/npm-install.log 2>&1; then
    cat tools/npm-install.log >&2
    exit 1
  fi
fi
