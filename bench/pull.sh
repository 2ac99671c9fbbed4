#!/usr/bin/env bash
# Benchmark: pull a multi-layer image (default 360 MB of content, over 300 MB of gzip
# layers) from a local docker-registry into oci-archive, skiff against `skopeo copy`, in one run.
# skiff runs twice per round: with its blob cache empty (cold: every blob from the
# registry, written into the cache on the way) and full (warm: every blob from the cache).
# Prints wall times, the ratios and peak RSS. Usage: bench/pull.sh [BYTES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bytes=${1:-360000000}
rounds=${2:-3}
bench_setup
trap 'stop_registry; rm -rf "$work"' EXIT
seed_big_registry "$bytes"
echo "registry at $HOST"
gz=$(target/release/skiff inspect --raw --tls-verify=false "docker://$HOST/big:latest" | jq '[.layers[].size] | add')
echo "$((gz / 1000000)) MB of gzip layers"
best_skopeo=999999; best_skiff=999999; best_warm=999999; rss_skopeo=0; rss_skiff=0
export SKIFF_CACHE_DIR="$work/cache"
for r in $(seq "$rounds"); do
  echo "round $r"
  rm -f "$work"/*.tar
  measure "skopeo copy" skopeo copy -q --src-tls-verify=false "docker://$HOST/big:latest" "oci-archive:$work/skopeo.tar"
  if (( $(echo "$LAST_WALL < $best_skopeo" | bc) )); then best_skopeo=$LAST_WALL; fi
  (( LAST_RSS > rss_skopeo )) && rss_skopeo=$LAST_RSS
  rm -rf "$work"/*.tar "$SKIFF_CACHE_DIR"
  measure "skiff copy (cold cache)" target/release/skiff copy -q --src-tls-verify=false "docker://$HOST/big:latest" "oci-archive:$work/skiff.tar"
  if (( $(echo "$LAST_WALL < $best_skiff" | bc) )); then best_skiff=$LAST_WALL; fi
  (( LAST_RSS > rss_skiff )) && rss_skiff=$LAST_RSS
  rm -f "$work"/*.tar
  measure "skiff copy (warm cache)" target/release/skiff copy -q --src-tls-verify=false "docker://$HOST/big:latest" "oci-archive:$work/skiff.tar"
  if (( $(echo "$LAST_WALL < $best_warm" | bc) )); then best_warm=$LAST_WALL; fi
  (( LAST_RSS > rss_skiff )) && rss_skiff=$LAST_RSS
done
skopeo inspect "oci-archive:$work/skiff.tar" >/dev/null && echo "skopeo reads skiff's archive: ok"
echo
echo "best of $rounds: skopeo ${best_skopeo}s, skiff ${best_skiff}s => skiff is $(ratio "$best_skopeo" "$best_skiff")x faster"
echo "with a warm blob cache: skiff ${best_warm}s => $(ratio "$best_skopeo" "$best_warm")x faster than skopeo"
echo "peak RSS: skopeo $((rss_skopeo / 1024)) MiB, skiff $((rss_skiff / 1024)) MiB (target < 64 MiB)"
