#!/usr/bin/env bash
# Browser tests of the web UI against a fresh `cloudsec up` (its own temporary
# data dir, a free port, the frontend's export, the WAF blocking and the
# gateway's default rate limits):
#   1. the RealWorld Playwright suite (conformance/realworld/e2e, unchanged) in
#      TEST_MODE=fullstack: everything through the UI;
#   2. its XSS and null-field specs again in TEST_MODE=ssr, where the runner
#      plants payloads through the API directly (a fresh platform whose WAF
#      counts instead of blocking XSS, so the payloads reach the store and the
#      UI's own defences are what is tested). Two of them cannot plant theirs:
#      the auth service refuses an image URL that is not http(s) (422 naming
#      `image`), so `javascript:` and `data:` avatars never reach the store
#      (the UI would show the default avatar: frontend/src/lib/session.test.ts);
#   3. our own browser tests (frontend/e2e).
# usage: scripts/e2e.sh [realworld|xss|own ...]   (default: all three)
# Needs: the export built (frontend/out), Debian's chromium, frontend/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CI_CACHE_DIR:-$HOME/.cache/cloudsec-ci}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
cargo build --quiet --locked -p cloudsec
BIN="$CARGO_TARGET_DIR/debug/cloudsec"
STATIC_DIR="$PWD/frontend/out"
[ -f "$STATIC_DIR/index.html" ] || { echo "no export at $STATIC_DIR: run npm run build in frontend/" >&2; exit 1; }
# The vendored specs import @playwright/test from outside frontend/.
export NODE_PATH="$PWD/frontend/node_modules"

PID=""
DATA=""
stop() {
  [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  [ -n "$DATA" ] && rm -rf "$DATA"
  PID="" DATA=""
}
trap stop EXIT

# start [VAR=value ...]: a fresh platform; sets URL.
start() {
  DATA="$(mktemp -d)"
  # The suites register users with "password123": the common-password list is off for them.
  env CLOUDSEC_GATEWAY__STATIC_DIR="$STATIC_DIR" CLOUDSEC_AUTH__PASSWORD__REJECT_COMMON=false "$@" \
    "$BIN" up --data-dir "$DATA/data" --port 0 >"$DATA/stdout" 2>"$DATA/stderr" &
  PID=$!
  URL=""
  for _ in $(seq 1 200); do
    URL="$(sed -n 's/^CloudSec is ready at //p' "$DATA/stdout")"
    [ -n "$URL" ] && break
    kill -0 "$PID" 2>/dev/null || { cat "$DATA/stderr" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$URL" ] || { echo "cloudsec up did not get ready" >&2; exit 1; }
  export E2E_BASE_URL="$URL"
}

# The gateway refused nothing a user's clicks asked for: no 429, no WAF block.
check_refusals() {
  local refused
  refused="$(grep -c '"service":"gateway".*"status":\(429\|403\)}' "$DATA/stderr" || true)"
  if [ "$refused" != "0" ]; then
    echo "the gateway refused $refused request(s) during the browser suite:" >&2
    grep '"service":"gateway".*"status":\(429\|403\)}' "$DATA/stderr" | head -5 >&2
    exit 1
  fi
}

run_realworld() {
  start
  echo "RealWorld e2e (TEST_MODE=fullstack) against $URL"
  (cd frontend && TEST_MODE=fullstack npx playwright test -c playwright.realworld.config.ts)
  check_refusals
  stop
}

run_xss() {
  start CLOUDSEC_GATEWAY__WAF__MODES__XSS=count
  echo "RealWorld XSS and null-field specs (TEST_MODE=ssr, payloads planted through the API) against $URL"
  (cd frontend && TEST_MODE=ssr API_BASE="$URL/api" npx playwright test -c playwright.realworld.config.ts \
    --grep-invert 'via (javascript protocol in src|data URI with script)' xss-security.spec.ts null-fields.spec.ts)
  stop
}

run_own() {
  start
  echo "Our browser tests against $URL"
  (cd frontend && npx playwright test -c playwright.config.ts)
  check_refusals
  stop
}

for suite in "${@:-realworld xss own}"; do
  for s in $suite; do "run_$s"; done
done
