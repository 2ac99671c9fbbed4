#!/usr/bin/env bash
# The reliability matrix, whole: every command (copy to oci-archive:, oci:, dir:,
# docker-archive:, docker://; unpack; lxc create; sync; apply on the lxc backend; pve pull
# into a node root; copy --sign-by with a file:// lookaside) against real docker-registry
# processes behind skiff-testbed's fault proxy, with a fault at every phase (token,
# manifest, config, blob, upload POST/PUT, manifest PUT), SIGINT/SIGTERM and
# --command-timeout at seeded points (REPEATS per command and kind), a destination that
# fills up or is read-only, ulimit -n 24, and decompression bombs through gzip, zstd, xz
# and bzip2. Prints one line per scenario, the broken promises, and the table: scenarios
# run, recovered, failed cleanly, outputs corrupt, leftovers, panics, hung, peak RSS.
# The test suite runs a bounded subset (crates/skiff/tests/chaos.rs).
#
#   bench/chaos.sh [SEED] [REPEATS]      (seed 1, 3 repeats by default; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1}
repeats=${2:-3}
scripts/install-deps.sh
command -v xz >/dev/null || apt-get install -y -qq xz-utils >/dev/null
command -v bzip2 >/dev/null || apt-get install -y -qq bzip2 >/dev/null
cargo build --release -q -p skiff -p skiff-testbed
target/release/skiff-testbed chaos --skiff target/release/skiff --seed "$seed" \
  --repeats "$repeats" --full true
