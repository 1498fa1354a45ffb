#!/usr/bin/env bash
# GET /api/articles through the gateway: rps and p99 for 100 articles
# (limit 20, wrk -t2 -c64), and the latency with 1k vs 100k articles in the
# store, with the read cache on (default) and off (every request hits SQLite).
source "$(dirname "$0")/lib.sh"
need_tools
build
cd "$ROOT"

# seed N: N articles by one author, two tags each, straight into the store.
seed() {
  local n=$1 author
  author="$(register "author$n" | python3 -c 'import sys,json,base64; t=sys.stdin.read().split(".")[1]; print(json.loads(base64.urlsafe_b64decode(t+"=="))["sub"])')"
  sqlite3 "$DATA/data/business.db" <<SQL
.timeout 5000
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $n)
INSERT INTO articles (id, slug, author_id, title, description, body, created_at, updated_at)
SELECT 'bench-' || i, 'bench-article-' || i, '$author', 'Bench article ' || i, 'Description ' || i,
       'Body of bench article ' || i, 1700000000000 + i, 1700000000000 + i FROM seq;
INSERT INTO article_tags (article_id, tag, position)
SELECT id, 'tag' || (CAST(substr(id, 7) AS INTEGER) % 50), 0 FROM articles WHERE id LIKE 'bench-%';
SQL
}

echo "== 100 articles, limit 20: wrk -t2 -c64 -d10s"
start_platform
seed 100
wrk -t2 -c64 -d10s --latency "$URL/api/articles?limit=20" | wrk_summary
stop_platform

for cache in true false; do
  for n in 1000 100000; do
    start_platform CLOUDSEC_BUSINESS__READ_CACHE=$cache
    seed "$n"
    echo "== $n articles, read_cache=$cache: wrk -t1 -c4 -d8s"
    wrk -t1 -c4 -d8s --latency "$URL/api/articles?limit=20" | wrk_summary
    stop_platform
  done
done
