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
pkgs=()
command -v nginx >/dev/null || pkgs+=(nginx)
[ -f /usr/share/nginx/modules/ngx_http_modsecurity_module.so ] || pkgs+=(libnginx-mod-http-modsecurity)
[ -d /usr/share/modsecurity-crs/rules ] || pkgs+=(modsecurity-crs)
if [ ${#pkgs[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
build
cd "$ROOT"

start_platform
TOKEN="$(register differential)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REF="$(mktemp -d)"
stop_reference() { [ -f "$REF/nginx.pid" ] && kill "$(cat "$REF/nginx.pid")" 2>/dev/null; rm -rf "$REF"; }
trap 'stop_reference; stop_platform' EXIT
BACKEND="$(port)" PL1="$(port)" PL2="$(port)"
# CRS as Debian ships it, each file included by name (libmodsecurity3 has no
# IncludeOptional), with the paranoia level set before the setup file.
for level in 1 2; do
  {
    echo "SecRuleEngine On"
    echo "SecRequestBodyAccess On"
    echo "SecRequestBodyLimit 13107200"
    echo "SecRequestBodyNoFilesLimit 1048576"
    echo "SecRequestBodyLimitAction Reject"
    echo 'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"'
    echo "SecAuditEngine Off"
    echo "SecArgumentSeparator &"
    echo "SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=$level\""
    echo "Include /etc/modsecurity/crs/crs-setup.conf"
    for rules in /usr/share/modsecurity-crs/rules/*.conf; do echo "Include $rules"; done
  } >"$REF/pl$level.conf"
done
cat >"$REF/nginx.conf" <<CONF
load_module /usr/share/nginx/modules/ndk_http_module.so;
load_module /usr/share/nginx/modules/ngx_http_modsecurity_module.so;
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
