#!/usr/bin/env bash
# Access-token verifications per second per core vs the Ed25519 ceiling.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cargo run --profile dist --locked --quiet -p cloudsec-platform --example verify_throughput
