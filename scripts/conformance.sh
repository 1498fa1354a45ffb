#!/usr/bin/env bash
# Runs RealWorld Hurl files through the gateway of a fresh `cloudsec up`
# (embedded defaults, its own temporary data dir, a free port).
# usage: scripts/conformance.sh [FILE.hurl ...]   (default: every file listed below)
# env:   REALWORLD_DIR (default conformance/realworld, the vendored copy), extra CLOUDSEC_* settings;
#        STORE=dynamodb runs the business service on DynamoDB (a local moto server
#        started here, see scripts/moto_serial.py) instead of SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CI_CACHE_DIR:-$HOME/.cache/cloudsec-ci}"
export PATH="$CACHE/tools/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
REALWORLD_DIR="${REALWORLD_DIR:-conformance/realworld}"
API="$REALWORLD_DIR/api"

# The files the platform passes today; each issue that lands adds its own.
DEFAULT_FILES=(auth.hurl errors_auth.hurl articles.hurl comments.hurl errors_articles.hurl errors_authorization.hurl errors_comments.hurl errors_profiles.hurl favorites.hurl feed.hurl pagination.hurl profiles.hurl tags.hurl)
FILES=()
if [ $# -gt 0 ]; then FILES=("$@"); else for f in "${DEFAULT_FILES[@]}"; do FILES+=("$API/hurl/$f"); done; fi

cargo build --quiet --locked -p cloudsec
BIN="$CARGO_TARGET_DIR/debug/cloudsec"

DATA="$(mktemp -d)"
OUT="$DATA/stdout"
MOTO_PID=""
if [ "${STORE:-sqlite}" = "dynamodb" ]; then
  MOTO_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  python3 scripts/moto_serial.py 127.0.0.1 "$MOTO_PORT" >"$DATA/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break; sleep 0.1; done
  export CLOUDSEC_BUSINESS__STORE=dynamodb
  export CLOUDSEC_BUSINESS__DYNAMODB__ENDPOINT="http://127.0.0.1:$MOTO_PORT"
  export CLOUDSEC_BUSINESS__DYNAMODB__CREATE_TABLE=true
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
fi
# The suite registers users with "password123": the common-password list is switched off for it.
# The WAF runs with every rule group blocking, as shipped.
CLOUDSEC_GATEWAY__WAF__ENABLED=true CLOUDSEC_AUTH__PASSWORD__REJECT_COMMON=false "$BIN" up --data-dir "$DATA/data" --port 0 >"$OUT" 2>"$DATA/stderr" &
PID=$!
cleanup() {
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  [ -n "$MOTO_PID" ] && { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
  rm -rf "$DATA"
}
trap cleanup EXIT

URL=""
for _ in $(seq 1 200); do
  URL="$(sed -n 's/^CloudSec is ready at //p' "$OUT")"
  [ -n "$URL" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$DATA/stderr" >&2; exit 1; }
  sleep 0.05
done
[ -n "$URL" ] || { echo "cloudsec up did not get ready" >&2; exit 1; }

echo "RealWorld conformance against $URL (store: ${STORE:-sqlite}): ${#FILES[@]} file(s)"
HOST="$URL" bash "$API/run-api-tests-hurl.sh" "${FILES[@]}"

# The suite passed through the WAF, and the WAF was blocking all along.
blocked="$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/articles?tag=%27%20OR%201%3D1--")"
if [ "$blocked" != "403" ]; then
  echo "the WAF did not block a SQL injection after the suite (HTTP $blocked)" >&2
  exit 1
fi
echo "WAF in block mode throughout: a SQL injection after the suite got 403"
