#!/usr/bin/env bash
# Benchmark: push a multi-layer image (default 360 MB of content, over 300 MB of gzip
# layers) from an oci: layout to a local docker-registry, skiff against `skopeo copy`, in
# one run. Every push goes to a registry of its own, started empty, so each push uploads
# every byte (skopeo remembers where it pushed blobs before and would mount them).
# Prints wall times, the ratio (best of the rounds, and the range of the rounds' own
# ratios: the machine is shared and noisy) and both peak RSS, with the registry's
# storage on disk and in RAM.
# Usage: bench/push.sh [BYTES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bytes=${1:-360000000}
rounds=${2:-3}
bench_setup
trap 'stop_registry; rm -rf "$work"' EXIT
echo "writing a ${bytes}-byte image as an OCI layout..."
target/release/skiff-testbed layout "$work/layout" --seed "big:$bytes" --tag big >/dev/null
gz=$(jq '[.layers[].size] | add' "$work/layout/blobs/sha256/$(jq -r '.manifests[0].digest' "$work/layout/index.json" | cut -d: -f2)")
echo "$((gz / 1000000)) MB of gzip layers"
# The registry runs on this machine and its storage is part of every push: docker-registry
# fsyncs each blob it commits. Rounds run with its storage on disk (TMPDIR) and in RAM
# (/dev/shm), to show what is the client's time and what the registry's disk.
push_rounds() { # LABEL REGISTRY_TMPDIR
  local label=$1 regtmp=$2 best_skopeo=999999 best_skiff=999999 rss_skopeo=0 rss_skiff=0 ratios=() r skopeo_wall sorted
  for r in $(seq "$rounds"); do
    echo "$label, round $r"
    TMPDIR=$regtmp start_registry demo skiff/seed:latest >/dev/null
    measure "skopeo copy" skopeo copy -q --dest-tls-verify=false "oci:$work/layout:big" "docker://$HOST/push/skopeo:latest"
    stop_registry
    skopeo_wall=$LAST_WALL
    if (( $(echo "$LAST_WALL < $best_skopeo" | bc) )); then best_skopeo=$LAST_WALL; fi
    (( LAST_RSS > rss_skopeo )) && rss_skopeo=$LAST_RSS
    TMPDIR=$regtmp start_registry demo skiff/seed:latest >/dev/null
    measure "skiff copy" target/release/skiff copy -q --dest-tls-verify=false "oci:$work/layout:big" "docker://$HOST/push/skiff:latest"
    ratios+=("$(ratio "$skopeo_wall" "$LAST_WALL")")
    echo "  ratio this round: ${ratios[-1]}x"
    if (( $(echo "$LAST_WALL < $best_skiff" | bc) )); then best_skiff=$LAST_WALL; fi
    (( LAST_RSS > rss_skiff )) && rss_skiff=$LAST_RSS
    skopeo inspect --tls-verify=false "docker://$HOST/push/skiff:latest" >/dev/null && echo "  skopeo reads skiff's push: ok"
    stop_registry
  done
  sorted=$(printf '%s\n' "${ratios[@]}" | sort -n)
  summary+=("$(printf '%-26s best of %s: skopeo %ss, skiff %ss => %sx; per round %sx to %sx; peak RSS skopeo %d MiB, skiff %d MiB' \
    "$label" "$rounds" "$best_skopeo" "$best_skiff" "$(ratio "$best_skopeo" "$best_skiff")" \
    "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)" $((rss_skopeo / 1024)) $((rss_skiff / 1024)))")
}
summary=()
push_rounds "registry storage on disk" "${TMPDIR:-/tmp}"
push_rounds "registry storage in RAM" /dev/shm
echo
printf '%s\n' "${summary[@]}"
echo "(target: >= 2x, peak RSS < 64 MiB; load average $(cut -d' ' -f1-3 /proc/loadavg))"
