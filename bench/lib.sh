# Shared by the bench scripts: build the release binary, start `cloudsec up`
# on a free loopback port with its own data dir, and clean up on exit.
# Load generators: wrk and hey (Debian packages), installed when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudsec-ci/target}"
# BENCH_BIN: another `cloudsec` binary (then nothing is built).
BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/dist/cloudsec}"

need_tools() {
  local missing=()
  for tool in wrk hey sqlite3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

build() {
  [ -n "${BENCH_BIN:-}" ] && return 0
  (cd "$ROOT" && cargo build --profile dist --locked --quiet -p cloudsec)
}

# One load generator on loopback is one client IP (and one user): lift the
# gateway's limits, or the benchmark measures the rate limiter's 429s. The
# limiters still run and count every request.
BENCH_ENV=(
  CLOUDSEC_GATEWAY__RATE_LIMIT__PER_IP__PER_SECOND=100000000
  CLOUDSEC_GATEWAY__RATE_LIMIT__PER_IP__BURST=100000000
  CLOUDSEC_GATEWAY__RATE_LIMIT__CREDENTIALS_PER_IP__PER_SECOND=100000000
  CLOUDSEC_GATEWAY__RATE_LIMIT__CREDENTIALS_PER_IP__BURST=100000000
  CLOUDSEC_GATEWAY__RATE_LIMIT__PER_SUBJECT__PER_SECOND=100000000
  CLOUDSEC_GATEWAY__RATE_LIMIT__PER_SUBJECT__BURST=100000000
)

# start_platform [ENV=VALUE ...]: sets URL, DATA, PID.
start_platform() {
  DATA="$(mktemp -d)"
  env "${BENCH_ENV[@]}" "$@" "$BIN" up --data-dir "$DATA/data" --port 0 >"$DATA/stdout" 2>"$DATA/stderr" &
  PID=$!
  URL=""
  for _ in $(seq 1 200); do
    URL="$(sed -n 's/^CloudSec is ready at //p' "$DATA/stdout")"
    [ -n "$URL" ] && break
    sleep 0.05
  done
  [ -n "$URL" ] || { cat "$DATA/stderr" >&2; exit 1; }
}

stop_platform() {
  [ -n "${PID:-}" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  [ -n "${DATA:-}" ] && rm -rf "$DATA"
  PID=""
  DATA=""
}
trap stop_platform EXIT

# register NAME: prints the access token.
register() {
  curl -sf -H 'content-type: application/json' \
    -d "{\"user\":{\"username\":\"$1\",\"email\":\"$1@bench.example\",\"password\":\"bench passphrase 42\"}}" \
    "$URL/api/users" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["token"])'
}

# p99 and requests/s from `wrk --latency` output on stdin.
wrk_summary() {
  awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF} END {printf "rps=%s p99=%s non2xx=%s\n", rps, p99, (bad==""?0:bad)}'
}

# The reference WAF: nginx with ModSecurity v3 and the OWASP Core Rule Set
# (Debian packages), installed when missing.
need_modsecurity() {
  local pkgs=()
  command -v nginx >/dev/null || pkgs+=(nginx)
  [ -f /usr/share/nginx/modules/ngx_http_modsecurity_module.so ] || pkgs+=(libnginx-mod-http-modsecurity)
  [ -d /usr/share/modsecurity-crs/rules ] || pkgs+=(modsecurity-crs)
  if [ ${#pkgs[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
}
# nginx.conf main-context lines that load ModSecurity.
MODSEC_MODULES="load_module /usr/share/nginx/modules/ndk_http_module.so;
load_module /usr/share/nginx/modules/ngx_http_modsecurity_module.so;"

# crs_conf FILE LEVEL: ModSecurity rules for `modsecurity_rules_file`: the
# engine on, JSON bodies parsed, and CRS as Debian ships it at paranoia LEVEL,
# each file included by name (libmodsecurity3 has no IncludeOptional), the
# level set before the setup file reads it.
crs_conf() {
  {
    echo "SecRuleEngine On"
    echo "SecRequestBodyAccess On"
    echo "SecRequestBodyLimit 13107200"
    echo "SecRequestBodyNoFilesLimit 1048576"
    echo "SecRequestBodyLimitAction Reject"
    echo 'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"'
    echo "SecAuditEngine Off"
    echo "SecArgumentSeparator &"
    echo "SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=$2\""
    echo "Include /etc/modsecurity/crs/crs-setup.conf"
    for rules in /usr/share/modsecurity-crs/rules/*.conf; do echo "Include $rules"; done
  } >"$1"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# nginx_instance DIR WORKERS HTTP [MAIN]: starts an nginx of its own, its
# pid, logs and temporary files in DIR, WORKERS worker processes (`auto`: one
# per CPU), the http-context lines HTTP and the main-context lines MAIN
# (modules). Stop it with `kill -QUIT "$(cat DIR/nginx.pid)"`.
nginx_instance() {
  cat >"$1/nginx.conf" <<CONF
${4:-}
user root;
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  keepalive_requests 100000;
  $3
}
CONF
  nginx -p "$1" -c "$1/nginx.conf"
}

# json_upstream PORT: http-context lines of the upstream every benchmark
# proxies to: `return 200` of a small JSON body, no log.
json_upstream() {
  printf '%s\n' "access_log off;
  server {
    listen 127.0.0.1:$1;
    default_type application/json;
    location / { return 200 '{\"articles\":[],\"articlesCount\":0}'; }
  }"
}

# reverse_proxy PORT UPSTREAM_PORT [SERVER_LINES]: http-context lines of nginx
# as a reverse proxy on PORT with keep-alive to the upstream.
reverse_proxy() {
  printf '%s\n' "upstream backend_$1 {
    server 127.0.0.1:$2;
    keepalive 256;
  }
  server {
    listen 127.0.0.1:$1;
    ${3:-}
    location / {
      proxy_pass http://backend_$1;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }"
}
