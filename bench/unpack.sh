#!/usr/bin/env bash
# Benchmark: unpack a multi-layer image (default 320 MB of gzip layers) from an OCI
# layout into a root filesystem — skiff against `umoci unpack` and against sequential
# `tar -xzf` of the same layers, in one run. Prints wall times, ratios and peak RSS.
# Usage: bench/unpack.sh [BYTES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bytes=${1:-320000000}
rounds=${2:-2}
scripts/install-deps.sh
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
cargo build --release -q -p skiff -p skiff-testbed
work=$(mktemp -d /var/tmp/skiff-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "writing a ${bytes}-byte image as an OCI layout..."
target/release/skiff-testbed layout "$work/layout" --seed "big:$bytes" --tag big 2>/dev/null
manifest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="big") | .digest' "$work/layout/index.json")
layers=$(jq -r '.layers[].digest' "$work/layout/blobs/sha256/${manifest#sha256:}" | sed 's/^sha256://')
echo "$(echo "$layers" | wc -l) layers, $(du -sh "$work/layout" | cut -f1)"

untar_all() { mkdir -p "$1"; for l in $layers; do tar -xzf "$work/layout/blobs/sha256/$l" -C "$1"; done; }
export -f untar_all; export work layers

best() { if [ -z "${!1:-}" ] || (( $(echo "$2 < ${!1}" | bc) )); then printf -v "$1" '%s' "$2"; fi; }
for r in $(seq "$rounds"); do
  echo "round $r"
  rm -rf "$work"/out-*; sync
  measure "umoci unpack" umoci unpack --image "$work/layout:big" "$work/out-umoci"; best t_umoci "$LAST_WALL"; rss_umoci=$LAST_RSS
  rm -rf "$work"/out-*; sync
  measure "tar -xzf (sequential)" bash -c "untar_all $work/out-tar"; best t_tar "$LAST_WALL"; rss_tar=$LAST_RSS
  rm -rf "$work"/out-*; sync
  measure "skiff unpack" target/release/skiff unpack -q "oci:$work/layout:big" "$work/out-skiff"; best t_skiff "$LAST_WALL"; rss_skiff=$LAST_RSS
done
echo
echo "best of $rounds: umoci ${t_umoci}s, tar ${t_tar}s, skiff ${t_skiff}s"
echo "skiff is $(ratio "$t_umoci" "$t_skiff")x faster than umoci (target 5x), $(ratio "$t_tar" "$t_skiff")x faster than tar (target 2x)"
echo "peak RSS: umoci $((rss_umoci / 1024)) MiB, tar $((rss_tar / 1024)) MiB, skiff $((rss_skiff / 1024)) MiB (target < 64 MiB)"
