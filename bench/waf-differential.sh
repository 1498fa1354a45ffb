#!/usr/bin/env bash
# The WAF against the reference engine: our gateway (WAF in block mode) and
# nginx + ModSecurity v3 + OWASP CRS 3.3.4 at paranoia levels 1 and 2 (Debian
# packages, started here on loopback) judge the same corpora in the same four
# positions; prints per attack group what each blocks (both, only the
# reference, only ours) and the benign inputs each refuses.
# usage: bench/waf-differential.sh [train|test|all, default test] [--list]
#   (test: the held-out half of crates/gateway/tests/waf-corpus, never tuned on)
source "$(dirname "$0")/lib.sh"
SPLIT="${1:-test}"
shift || true
need_modsecurity
build
cd "$ROOT"

start_platform
TOKEN="$(register differential)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REF="$(mktemp -d)"
stop_reference() { [ -f "$REF/nginx.pid" ] && kill "$(cat "$REF/nginx.pid")" 2>/dev/null; rm -rf "$REF"; }
trap 'stop_reference; stop_platform' EXIT
BACKEND="$(port)" PL1="$(port)" PL2="$(port)"
for level in 1 2; do crs_conf "$REF/pl$level.conf" "$level"; done
cat >"$REF/nginx.conf" <<CONF
$MODSEC_MODULES
user root;
worker_processes 1;
pid $REF/nginx.pid;
error_log $REF/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $REF/body;
  proxy_temp_path $REF/proxy;
  fastcgi_temp_path $REF/fastcgi;
  uwsgi_temp_path $REF/uwsgi;
  scgi_temp_path $REF/scgi;
  client_max_body_size 2m;
  server { listen 127.0.0.1:$BACKEND; location / { return 200 "ok"; } }
  server {
    listen 127.0.0.1:$PL1;
    modsecurity on;
    modsecurity_rules_file $REF/pl1.conf;
    location / { proxy_pass http://127.0.0.1:$BACKEND; }
  }
  server {
    listen 127.0.0.1:$PL2;
    modsecurity on;
    modsecurity_rules_file $REF/pl2.conf;
    location / { proxy_pass http://127.0.0.1:$BACKEND; }
  }
}
CONF
nginx -c "$REF/nginx.conf" -p "$REF" || { cat "$REF/error.log" >&2; exit 1; }
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PL2/" >/dev/null && break
  sleep 0.1
done
echo "reference: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), CRS $(dpkg-query -W -f='${Version}' modsecurity-crs 2>/dev/null), libmodsecurity $(dpkg-query -W -f='${Version}' libmodsecurity3 2>/dev/null)"
python3 bench/waf_differential.py --gateway "$URL" --token "$TOKEN" \
  --reference "crs-pl1=http://127.0.0.1:$PL1" --reference "crs-pl2=http://127.0.0.1:$PL2" \
  --split "$SPLIT" "$@"
