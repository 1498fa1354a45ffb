#!/usr/bin/env bash
# Instructions per proxied request: the gateway (or another `cloudsec` binary,
# or `hyper_floor`) under valgrind's callgrind, for the request of
# bench/gateway-vs-nginx.sh (GET /api/articles/feed with a valid token, to an
# nginx `return 200` upstream). callgrind counts instructions, not time: the
# same binary gives the same count whatever else the machine is doing, so a
# change that saves work shows even in a noisy hour. Instructions are not
# time (cache misses, system calls and the kernel are not in the count):
# confirm a gain with gateway-vs-nginx.sh.
# usage: bench/gateway-instructions.sh [BINARY, default the release cloudsec] [REQUESTS, default 3000]
#        (a BINARY named hyper_floor is started as the floor:
#         "$CARGO_TARGET_DIR/dist/examples/hyper_floor")
# Prints the count per request and leaves the profile for callgrind_annotate:
#   callgrind_annotate --inclusive=yes <file>   (the file is named at the end)
source "$(dirname "$0")/lib.sh"
need_tools
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
TARGET="${1:-$BIN}"
REQUESTS="${2:-3000}"
[ "$TARGET" = "$BIN" ] && build
cd "$ROOT"

start_platform
TOKEN="$(register counter)"
UP_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
UPSTREAM="$(mktemp -d)"
nginx_instance "$UPSTREAM" 1 "$(json_upstream "$UP_PORT")"
OUT="$(mktemp -d)"
VG_PID=""
cleanup() {
  [ -n "$VG_PID" ] && { kill -TERM "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; }
  kill -QUIT "$(cat "$UPSTREAM/nginx.pid")" 2>/dev/null || true
  rm -rf "$UPSTREAM"
  stop_platform
}
trap cleanup EXIT

# Counted only between the two `callgrind_control -i` calls below.
VALGRIND=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.%p")
if [ "$(basename "$TARGET")" = hyper_floor ]; then
  "${VALGRIND[@]}" "$TARGET" "127.0.0.1:$PROXY_PORT" "http://127.0.0.1:$UP_PORT" 2>"$OUT/valgrind.log" &
else
  # shellcheck disable=SC2086 # GATEWAY_ENV is a list of assignments
  env "${BENCH_ENV[@]}" ${GATEWAY_ENV:-} \
    CLOUDSEC_GATEWAY__UPSTREAMS__AUTH="$URL" \
    CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS="http://127.0.0.1:$UP_PORT" \
    "${VALGRIND[@]}" "$TARGET" serve gateway --port "$PROXY_PORT" --data-dir "$DATA/gw" \
    >/dev/null 2>"$OUT/valgrind.log" &
fi
VG_PID=$!
FEED="http://127.0.0.1:$PROXY_PORT/api/articles/feed"
for _ in $(seq 1 600); do
  curl -sf -o /dev/null -H "Authorization: Token $TOKEN" "$FEED" && break
  sleep 0.2
done
# Warm: token cache, upstream connections, lazily built regex states.
hey -n 400 -c 4 -H "Authorization: Token $TOKEN" "$FEED" >/dev/null
callgrind_control -i on "$VG_PID" >/dev/null 2>&1
ok="$(hey -n "$REQUESTS" -c 4 -H "Authorization: Token $TOKEN" "$FEED" | awk '/\[200\]/ {print $2}')"
callgrind_control -i off "$VG_PID" >/dev/null 2>&1
callgrind_control -d "$VG_PID" >/dev/null 2>&1
[ "$ok" = "$REQUESTS" ] || { echo "only ${ok:-0} of $REQUESTS requests answered 200" >&2; exit 1; }
PROFILE="$(ls "$OUT"/callgrind.*.1)"
total="$(callgrind_annotate "$PROFILE" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "$(basename "$TARGET"): $((total / REQUESTS)) instructions per request ($REQUESTS requests, all threads)"
echo "profile: $PROFILE"
