#!/usr/bin/env bash
# Installs the test tools that are not part of the Rust toolchain, into a cache
# outside the clone. Idempotent: quick when everything is present.
#   hurl 8.0.1          (RealWorld API conformance suite)
#   moto[server] (PyPI) (DynamoDB and other AWS APIs, for the DynamoDB store)
#   chromium (Debian)   (the browser tests; Playwright drives it, never downloads one)
#   frontend/node_modules (npm ci from the committed lockfile, when it changed)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CI_CACHE_DIR:-$HOME/.cache/cloudsec-ci}"
TOOLS="$CACHE/tools"
mkdir -p "$TOOLS"
export PATH="$TOOLS/bin:$PATH"

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

if [ "$(hurl --version 2>/dev/null | head -1 | awk '{print $2}')" != "8.0.1" ]; then
  apt_install libcurl4-openssl-dev libclang-dev pkg-config
  echo "building hurl 8.0.1 (once; cached in $TOOLS)"
  CARGO_TARGET_DIR="$CACHE/tools-target" cargo install --locked --quiet --root "$TOOLS" hurl@8.0.1
fi

if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
  echo "installing moto[server] (pip)"
  python3 -m pip install --quiet 'moto[server]'
fi

apt_install chromium

if [ ! -f frontend/node_modules/.package-lock.json ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  echo "installing the frontend's packages (npm ci)"
  (cd frontend && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
