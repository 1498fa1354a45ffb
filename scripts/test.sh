#!/usr/bin/env bash
# Sets up what the test suite needs and runs all of it:
#   1. unit and integration tests (cargo test): the integration tests start the
#      real services on free loopback ports, against SQLite and against the
#      PostgreSQL server on 127.0.0.1:5432;
#   2. the RealWorld Hurl conformance files through the gateway of `cloudsec up`,
#      with the business service on SQLite and again on DynamoDB (moto);
#   3. the web UI: lint, type check, unit tests (Vitest), the static export,
#      and the browser suites (scripts/e2e.sh) in Debian's Chromium.
# The RealWorld suites are vendored in conformance/realworld; where the shared
# copy they came from exists (../shared), they must not differ from it.
# Needs: a Rust toolchain, Node.js >= 20.19 with npm, PostgreSQL on
# 127.0.0.1:5432 (trust auth, database `test`). Idempotent; quick when
# everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

export CI_CACHE_DIR="${CI_CACHE_DIR:-$HOME/.cache/cloudsec-ci}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CI_CACHE_DIR/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

bash scripts/tools.sh
if [ -d ../shared/conformance/realworld ]; then
  diff -r ../shared/conformance/realworld conformance/realworld ||
    { echo "conformance/realworld differs from ../shared/conformance/realworld" >&2; exit 1; }
  echo "conformance/realworld is the shared suite, unchanged"
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || {
  echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2
  exit 1
}

bash scripts/conformance.sh
STORE=dynamodb bash scripts/conformance.sh
cargo test --workspace --locked

(
  cd frontend
  export NEXT_TELEMETRY_DISABLED=1
  npm run --silent lint
  npm run --silent typecheck
  npm test --silent
  npm run --silent build
)
bash scripts/e2e.sh
