#!/usr/bin/env bash
# A newcomer's first run: the README's run command in a fresh clone of HEAD,
# with empty cargo (registry and target) and npm caches, timed until
# "CloudSec is ready"; then whether the UI answers. Takes the machine for
# several minutes (two cores: about 8). The clone and the caches are
# temporary; the Rust toolchain and Node/npm are the machine's.
# usage: bench/first-run.sh [PORT, default 8095]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${1:-8095}"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
git clone -q "$ROOT" "$WORK/clone"
cd "$WORK/clone"
export CARGO_HOME="$WORK/cargo-home" CARGO_TARGET_DIR="$WORK/target" npm_config_cache="$WORK/npm-cache"
export PATH="$HOME/.cargo/bin:$PATH" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
start=$(date +%s)
cargo run --release -p cloudsec -- up --data-dir "$WORK/data" --port "$PORT" >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!
until grep -q "CloudSec is ready" "$WORK/stdout" 2>/dev/null; do
  kill -0 "$PID" 2>/dev/null || { tail -20 "$WORK/stderr" >&2; exit 1; }
  sleep 1
done
echo "first run: ready after $(( $(date +%s) - start )) s"
grep -E "Finished \`release\`|added [0-9]+ packages" "$WORK/stderr" || true
grep "^Web UI" "$WORK/stdout"
curl -s -o /dev/null -w "GET / -> %{http_code}\n" "http://127.0.0.1:$PORT/"
