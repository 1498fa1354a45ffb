#!/usr/bin/env bash
# Sets up what the test suite needs and runs all of it: unit tests and the
# integration tests that start the real platform on free loopback ports.
# Needs: a Rust toolchain. Idempotent; quick when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudsec-ci/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo test --workspace --locked
