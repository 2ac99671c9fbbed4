#!/usr/bin/env bash
# The whole test suite: unit tests and the integration tests that start real
# docker-registry processes and call skopeo, umoci and lxc as peers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Two cores: more test threads only contend; registries are cheap but builds are not.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace --all-targets
