#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, doc tests and the Redis tests, which
# start their own redis-server and fail rather than skip without one.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo test --workspace --all-features --no-fail-fast
