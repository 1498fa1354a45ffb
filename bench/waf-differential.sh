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

REF="$(mktemp -d)"
stop_reference() { [ -f "$REF/nginx.pid" ] && kill "$(cat "$REF/nginx.pid")" 2>/dev/null; rm -rf "$REF"; }
trap 'stop_reference; stop_platform' EXIT
BACKEND="$(free_port)" PL1="$(free_port)" PL2="$(free_port)"
for level in 1 2; do crs_conf "$REF/pl$level.conf" "$level"; done
nginx_instance "$REF" 1 "access_log off;
  server { listen 127.0.0.1:$BACKEND; location / { return 200 \"ok\"; } }
  $(reverse_proxy "$PL1" "$BACKEND" "modsecurity on; modsecurity_rules_file $REF/pl1.conf;")
  $(reverse_proxy "$PL2" "$BACKEND" "modsecurity on; modsecurity_rules_file $REF/pl2.conf;")
  client_max_body_size 2m;" "$MODSEC_MODULES" || { cat "$REF/error.log" >&2; exit 1; }
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PL2/" >/dev/null && break
  sleep 0.1
done
echo "reference: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), CRS $(dpkg-query -W -f='${Version}' modsecurity-crs 2>/dev/null), libmodsecurity $(dpkg-query -W -f='${Version}' libmodsecurity3 2>/dev/null)"
python3 bench/waf_differential.py --gateway "$URL" --token "$TOKEN" \
  --reference "crs-pl1=http://127.0.0.1:$PL1" --reference "crs-pl2=http://127.0.0.1:$PL2" \
  --split "$SPLIT" "$@"
