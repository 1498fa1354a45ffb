#!/usr/bin/env bash
# CPU time of the WAF's inspection of 1 MiB bodies in many scripts and
# shapes (crates/gateway/examples/waf_body_cost.rs); fails when one costs
# more than the budget (default 50 ms).
#   usage: bash bench/waf-body-cost.sh [budget_ms]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudsec-ci/target}"
cargo run --quiet --profile dist --locked -p cloudsec-gateway --example waf_body_cost -- "${1:-50}"
