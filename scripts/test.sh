#!/usr/bin/env bash
# The whole test suite: unit tests and the integration tests that start real
# docker-registry processes and call skopeo, umoci and lxc as peers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Two cores: more test threads only contend; registries are cheap but builds are not.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
# skiff's pulls go through the host's blob cache (/var/cache/skiff for root). The suite
# gets one of its own, so that a layer cached by an earlier run or by the host never
# stands in for a fetch a test counts or a fault a test injects; tests that share a
# cache between runs set SKIFF_CACHE_DIR themselves.
SKIFF_CACHE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/skiff-test-cache.XXXXXX")"
export SKIFF_CACHE_DIR
trap 'rm -rf "$SKIFF_CACHE_DIR"' EXIT
cargo test --workspace --all-targets
