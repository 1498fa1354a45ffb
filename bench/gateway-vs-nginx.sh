#!/usr/bin/env bash
# The gateway against nginx (Debian package) as a plain reverse proxy, to the
# same upstream, in the same run, with wrk.
#
#   upstream   nginx `return 200` of a small JSON body (fast and identical for
#              both), an nginx instance of its own (its own worker processes)
#   nginx      proxy_pass with keep-alive to the upstream, access log on
#   gateway    `cloudsec serve gateway` with everything on: WAF (block mode),
#              edge token check (Ed25519 verification per request), rate-limit
#              accounting (limits lifted so the load is not refused), JSON
#              access log, metrics; tokens come from a real `cloudsec up`
#   modsec     nginx as above with ModSecurity v3 and the OWASP Core Rule Set
#              3.3.4 at paranoia level 1 (Debian packages): the reference WAF
#
# The request is GET /api/articles/feed with a valid token: a protected route,
# so the gateway verifies the token before forwarding. Runs alternate
# nginx / gateway to spread the machine's drift over both.
# Besides throughput and p99, each proxy's CPU time per request is reported
# (user and kernel, from /proc, all its processes/threads): far steadier than
# requests per second on a shared machine, so it is the figure for an A/B of
# a change; on 2 cores, wrk + upstream + proxy share the CPU, so throughput
# follows the sum of the three.
# usage: bench/gateway-vs-nginx.sh [SECONDS per run, default 10] [ROUNDS, default 3]
# env:   GATEWAY_ENV="CLOUDSEC_…=… …" extra gateway settings, for ablations
#        (e.g. CLOUDSEC_GATEWAY__WAF__ENABLED=false, CLOUDSEC_TELEMETRY__LOG_LEVEL=warn)
#        BENCH_PATH=/api/tags   another path;  BENCH_TOKEN=0  send no token
#        BENCH_CONNS=64         wrk connections
#        BENCH_FLOOR=1          also run `hyper_floor` (crates/gateway/examples):
#                               hyper alone, no features, the floor under the gateway
#        BENCH_BASELINE=FILE    also run the gateway from another `cloudsec` binary
#                               (e.g. a copy built from an earlier commit), same
#                               settings, in the same rounds: A/B of a change
#        BASELINE_ENV="CLOUDSEC_…=…"  extra settings for the baseline only (with
#                               BENCH_BASELINE="$CARGO_TARGET_DIR/dist/cloudsec":
#                               A/B of a setting)
#        BENCH_MODSEC=0         leave out nginx + ModSecurity + CRS
#        BENCH_SYSCALLS=1       also count the system calls and context switches
#                               per request (perf tracepoints) of each proxy and of
#                               the upstream behind it, printed after each run
source "$(dirname "$0")/lib.sh"
need_tools
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
build
cd "$ROOT"
SECS="${1:-10}"
ROUNDS="${2:-3}"
CONNS="${BENCH_CONNS:-64}"

# The platform: issues the token and serves the JWKS the gateway checks it against.
start_platform
TOKEN="$(register bencher)"

UP_PORT="$(free_port)"
NGX_PORT="$(free_port)"
# The upstream every proxy forwards to, in processes of its own: were it a
# server block of the nginx proxy, nginx's hop to it would stay inside one
# worker's event loop, a shortcut no other proxy gets.
UPSTREAM="$(mktemp -d)"
nginx_instance "$UPSTREAM" auto "$(json_upstream "$UP_PORT")"
# nginx as a plain reverse proxy.
NGX="$(mktemp -d)"
nginx_instance "$NGX" auto "access_log $NGX/access.log;
  $(reverse_proxy "$NGX_PORT" "$UP_PORT")"

# nginx + ModSecurity + OWASP CRS (paranoia level 1) in front of the same
# upstream: the reference WAF (BENCH_MODSEC=0 leaves it out).
MODSEC=""
MODSEC_PORT=""
if [ "${BENCH_MODSEC:-1}" = 1 ]; then
  need_modsecurity
  MODSEC="$(mktemp -d)"
  MODSEC_PORT="$(free_port)"
  crs_conf "$MODSEC/crs.conf" 1
  nginx_instance "$MODSEC" auto "access_log $MODSEC/access.log;
  $(reverse_proxy "$MODSEC_PORT" "$UP_PORT" "modsecurity on; modsecurity_rules_file $MODSEC/crs.conf;")" \
    "$MODSEC_MODULES"
fi

GW_LOG="$(mktemp)"
GW_PIDS=()
start_gateway() { # start_gateway BINARY PORT [EXTRA_ENV]
  # shellcheck disable=SC2086 # GATEWAY_ENV and EXTRA_ENV are lists of assignments
  env "${BENCH_ENV[@]}" ${GATEWAY_ENV:-} ${3:-} \
    CLOUDSEC_GATEWAY__UPSTREAMS__AUTH="$URL" \
    CLOUDSEC_GATEWAY__UPSTREAMS__BUSINESS="http://127.0.0.1:$UP_PORT" \
    "$1" serve gateway --port "$2" --data-dir "$DATA/gw-$2" >/dev/null 2>>"$GW_LOG" &
  GW_PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && break; sleep 0.05; done
}
FLOOR_PID=""
cleanup() {
  for pid in "${GW_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ -n "$FLOOR_PID" ] && kill -TERM "$FLOOR_PID" 2>/dev/null || true
  for dir in "$NGX" "$UPSTREAM" $MODSEC; do
    [ -f "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  done
  sleep 0.2
  rm -rf "$NGX" "$UPSTREAM" "$GW_LOG" $MODSEC
  stop_platform
}
trap cleanup EXIT
GW_PORT="$(free_port)"
start_gateway "$BIN" "$GW_PORT"
BASE_PORT=""
if [ -n "${BENCH_BASELINE:-}" ]; then
  BASE_PORT="$(free_port)"
  start_gateway "$BENCH_BASELINE" "$BASE_PORT" "${BASELINE_ENV:-}"
fi
if [ "${BENCH_FLOOR:-0}" = 1 ]; then
  (cd "$ROOT" && cargo build --profile dist --locked --quiet -p cloudsec-gateway --example hyper_floor)
  FLOOR_PORT="$(free_port)"
  "$CARGO_TARGET_DIR/dist/examples/hyper_floor" "127.0.0.1:$FLOOR_PORT" "http://127.0.0.1:$UP_PORT" &
  FLOOR_PID=$!
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$FLOOR_PORT/" && break; sleep 0.05; done
fi

PATH_Q="${BENCH_PATH:-/api/articles/feed}"
# Both must answer the request correctly before anything is timed.
for port in "$NGX_PORT" "$GW_PORT" $BASE_PORT $MODSEC_PORT; do
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Token $TOKEN" "http://127.0.0.1:$port$PATH_Q")"
  [ "$code" = 200 ] || { echo "port $port answered $code" >&2; cat "$GW_LOG" >&2; exit 1; }
done
# And the gateway's token check is live: no token, no forwarding.
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/api/articles/feed")"
[ "$code" = 401 ] || { echo "gateway forwarded without a token ($code)" >&2; exit 1; }

AUTH_HEADER="Authorization: Token $TOKEN"
[ "${BENCH_TOKEN:-1}" = 0 ] && AUTH_HEADER="X-No-Token: 1"
# CPU time (clock ticks, user + system, all threads) of the given processes;
# sys_ticks: the system (kernel) part alone.
cpu_ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$t"; }
sys_ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{print $15}' "/proc/$pid/stat"))); done; echo "$t"; }
# The machine's idle and total ticks (all CPUs, /proc/stat): a run that leaves
# CPU idle is bound by waiting (wake-ups, latency), not by the work per request.
machine_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t}' /proc/stat; }
workers() { pgrep -P "$(cat "$1/nginx.pid")" | tr '\n' ' '; }
run() { # run NAME PORT PID... -> "NAME rps=… p99=… non2xx=… requests=… cpu_proxy=… sys_proxy=… cpu_upstream=… cpu_wrk=…"
  # CPU ticks of the proxy's processes (PID...) and of the upstream's during
  # the run, and wrk's own (from its rusage), turned into µs per request below.
  local name="$1" port="$2" upstream proxy0 sys0 upstream0 out
  shift 2
  upstream="$(workers "$UPSTREAM")"
  # shellcheck disable=SC2086 # a list of pids
  upstream0="$(cpu_ticks $upstream)"; proxy0="$(cpu_ticks "$@")"; sys0="$(sys_ticks "$@")"
  local idle0 total0; read -r idle0 total0 < <(machine_ticks)
  local perf_pid="" perf_out up_perf_pid="" up_perf_out
  if [ "${BENCH_SYSCALLS:-0}" = 1 ]; then
    perf_out="$(mktemp)"
    perf stat -x, -o "$perf_out" -p "$(tr ' ' ',' <<<"$*")" -e "$SYSCALL_EVENTS" &
    perf_pid=$!
    # The upstream's too: how many requests it finds per wake-up behind each proxy.
    up_perf_out="$(mktemp)"
    # shellcheck disable=SC2086 # a list of pids
    perf stat -x, -o "$up_perf_out" -p "$(echo $upstream | tr ' ' ',')" -e "$SYSCALL_EVENTS" &
    up_perf_pid=$!
  fi
  out="$(python3 -c 'import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True).stdout
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(out + "\ncpu_wrk_s %f" % (ru.ru_utime + ru.ru_stime))' \
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H "$AUTH_HEADER" "http://127.0.0.1:$port$PATH_Q")"
  # shellcheck disable=SC2086
  printf '%-8s %s requests=%s cpu_proxy=%s sys_proxy=%s cpu_upstream=%s cpu_wrk=%s idle=%s\n' "$name" \
    "$(wrk_summary <<<"$out")" \
    "$(awk '/requests in/ {print $1}' <<<"$out")" \
    "$(( $(cpu_ticks "$@") - proxy0 ))" \
    "$(( $(sys_ticks "$@") - sys0 ))" \
    "$(( $(cpu_ticks $upstream) - upstream0 ))" \
    "$(awk '/^cpu_wrk_s/ {print $2}' <<<"$out")" \
    "$(read -r idle total < <(machine_ticks); echo $(( 100 * (idle - idle0) / (total - total0) )))"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" "$up_perf_pid"; wait "$perf_pid" "$up_perf_pid" || true
    # "count,,event,..." lines -> per request, to stderr (not into the results)
    local requests file label
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    for file in "$perf_out" "$up_perf_out"; do
      label="$name"; [ "$file" = "$up_perf_out" ] && label="  its upstream"
      awk -F, -v n="$requests" -v name="$label" '
        $3 != "" && $1 ~ /^[0-9]+$/ { sub(/^syscalls:sys_enter_/, "", $3); line = line sprintf(" %s=%.2f", $3, $1 / n) }
        END { printf "%-14s per request:%s\n", name, line }' "$file" >&2
    done
    rm -f "$perf_out" "$up_perf_out"
  fi
}
# What BENCH_SYSCALLS counts: the calls a proxied request's bytes go through,
# the event loop's waits and wake-ups, and the scheduler's switches.
SYSCALL_EVENTS="$(printf 'syscalls:sys_enter_%s,' read recvfrom readv write writev sendto sendmsg epoll_wait epoll_pwait futex)context-switches"

echo "== GET $PATH_Q with a token, wrk -t2 -c$CONNS -d${SECS}s, $ROUNDS rounds"
RESULTS="$(mktemp)"
# Every other round in reverse order, so that none is always first after a
# pause or always last.
for round in $(seq 1 "$ROUNDS"); do
  order=(nginx gateway baseline floor modsec)
  [ $((round % 2)) -eq 0 ] && order=(modsec floor baseline gateway nginx)
  for name in "${order[@]}"; do
    case "$name" in
      # shellcheck disable=SC2046 # a list of pids
      nginx) run nginx "$NGX_PORT" $(workers "$NGX") | tee -a "$RESULTS" ;;
      gateway) run gateway "$GW_PORT" "${GW_PIDS[0]}" | tee -a "$RESULTS" ;;
      baseline) [ -z "$BASE_PORT" ] || run baseline "$BASE_PORT" "${GW_PIDS[1]}" | tee -a "$RESULTS" ;;
      floor) [ -z "$FLOOR_PID" ] || run floor "$FLOOR_PORT" "$FLOOR_PID" | tee -a "$RESULTS" ;;
      # shellcheck disable=SC2046 # a list of pids
      modsec) [ -z "$MODSEC" ] || run modsec "$MODSEC_PORT" $(workers "$MODSEC") | tee -a "$RESULTS" ;;
    esac
  done
done

python3 - "$RESULTS" "$(getconf CLK_TCK)" <<'PY'
import re, statistics, sys
tick_us = 1e6 / int(sys.argv[2])
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n
runs = {"nginx": [], "gateway": [], "baseline": [], "floor": [], "modsec": []}
cpu = {k: [] for k in runs}  # per run: (proxy, upstream, wrk, proxy in the kernel) in µs per request, machine idle %
for line in open(sys.argv[1]):
    name, *fields = line.split()
    kv = dict(f.split("=") for f in fields)
    if kv["non2xx"] != "0":
        sys.exit(f"{name}: {kv['non2xx']} non-2xx answers")
    runs[name].append((float(kv["rps"]), ms(kv["p99"])))
    n = int(kv["requests"])
    cpu[name].append((int(kv["cpu_proxy"]) * tick_us / n, int(kv["cpu_upstream"]) * tick_us / n,
                      float(kv["cpu_wrk"]) * 1e6 / n, int(kv["sys_proxy"]) * tick_us / n,
                      int(kv["idle"])))
med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for k, v in runs.items() if v}
(n_rps, n_p99), (g_rps, g_p99) = med["nginx"], med["gateway"]
# The upstream's and wrk's CPU per request are given behind each proxy: on
# two shared cores a request costs the machine the sum of the three, and a
# slower proxy also makes the other two cost more per request (each is woken
# for fewer requests at a time).
print("CPU per request, µs (median): the proxy; the upstream and wrk behind it")
for name, v in cpu.items():
    if v:
        total, kernel = statistics.median(r[0] for r in v), statistics.median(r[3] for r in v)
        upstream, client = statistics.median(r[1] for r in v), statistics.median(r[2] for r in v)
        idle = statistics.median(r[4] for r in v)
        print(f"  {name:<9}{total:6.1f}  (user {total - kernel:4.1f}, kernel {kernel:4.1f}); "
              f"upstream {upstream:4.1f}, wrk {client:4.1f}; machine idle {idle:.0f} %")
print(f"median  nginx   {n_rps:,.0f} rps  p99 {n_p99:.2f} ms")
print(f"median  gateway {g_rps:,.0f} rps  p99 {g_p99:.2f} ms")
print(f"gateway / nginx throughput: {g_rps / n_rps:.2f}x (goal >= 0.90x); added p99: {g_p99 - n_p99:+.2f} ms")
# The two ran back to back in each round: a ratio per round cancels the
# machine's drift between rounds.
per_round = [g / n for (g, _), (n, _) in zip(runs["gateway"], runs["nginx"])]
served = sum(r for r, _ in runs["gateway"]) / sum(r for r, _ in runs["nginx"])
spread = 2 * statistics.stdev(per_round) / len(per_round) ** 0.5 if len(per_round) > 1 else float("nan")
print(f"gateway / nginx by round: {' '.join(f'{r:.2f}' for r in per_round)}; "
      f"median {statistics.median(per_round):.2f}x, mean {statistics.mean(per_round):.2f}x "
      f"± {spread:.2f} (two standard errors); all requests served {served:.2f}x")
if "baseline" in med:
    b_rps, b_p99 = med["baseline"]
    print(f"median  baseline {b_rps:,.0f} rps  p99 {b_p99:.2f} ms  ({b_rps / n_rps:.2f}x nginx; this build = {g_rps / b_rps:.2f}x baseline)")
if "floor" in med:
    f_rps, f_p99 = med["floor"]
    print(f"median  floor   {f_rps:,.0f} rps  p99 {f_p99:.2f} ms  (hyper alone: {f_rps / n_rps:.2f}x nginx; gateway = {g_rps / f_rps:.2f}x floor)")
if "modsec" in med:
    m_rps, m_p99 = med["modsec"]
    print(f"median  nginx + ModSecurity + CRS (PL1) {m_rps:,.0f} rps  p99 {m_p99:.2f} ms  "
          f"({m_rps / n_rps:.2f}x nginx; gateway = {g_rps / m_rps:.1f}x it, goal >= 5x)")
PY
rm -f "$RESULTS"
