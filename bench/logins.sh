#!/usr/bin/env bash
# Logins per second vs the Argon2 ceiling, and the p99 of GET /api/tags
# with and without a login flood running at the same time.
source "$(dirname "$0")/lib.sh"
need_tools
build
cd "$ROOT"
echo "== Argon2id ceiling"
cargo run --profile dist --locked --quiet -p cloudsec-auth --example argon2_ceiling

start_platform
register flood >/dev/null
echo "== logins/s through the gateway (wrk -t2 -c8 -d10s)"
wrk -t2 -c8 -d10s --latency -s bench/login.lua "$URL/api/users/login" | wrk_summary

echo "== GET /api/tags alone (wrk -t1 -c16 -d10s)"
wrk -t1 -c16 -d10s --latency "$URL/api/tags" | wrk_summary
echo "== GET /api/tags during a login flood (wrk -t1 -c32 on /api/users/login)"
wrk -t1 -c32 -d12s -s bench/login.lua "$URL/api/users/login" >/dev/null &
FLOOD=$!
sleep 1
wrk -t1 -c16 -d10s --latency "$URL/api/tags" | wrk_summary
wait "$FLOOD"
