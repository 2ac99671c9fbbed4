#!/usr/bin/env bash
# Benchmark: Proxmox VE's two image steps, skiff against what Proxmox runs, in one run.
#  1. pull into a storage's template cache: `skiff pve pull` vs `skopeo copy` to
#     oci-archive:CACHE/FILE (what oci-registry-pull runs); target >= 4x, skiff < 64 MiB RSS.
#  2. docker:// to an unpacked root filesystem: `skiff unpack` (one streaming step) vs
#     `skopeo copy` to oci: + `umoci unpack`; target >= 5x.
# The image is the synthetic multi-layer one of bench/pull.sh (default 360 MB of content,
# over 300 MB of gzip). Usage: bench/pve.sh [BYTES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bytes=${1:-360000000}
rounds=${2:-3}
bench_setup
trap 'stop_registry; rm -rf "$work"' EXIT
seed_big_registry "$bytes"
echo "registry at $HOST"
# A node root: the default storage.cfg (local at /var/lib/vz) under SKIFF_PVE_ROOT.
export SKIFF_PVE_ROOT=$work/node
cache=$SKIFF_PVE_ROOT/var/lib/vz/template/cache
mkdir -p "$cache"
best() { if (( $(echo "$2 < ${!1}" | bc) )); then printf -v "$1" '%s' "$2"; fi; }

echo "1. pull into the template cache"
p_skopeo=999999; p_skiff=999999; rss_p_skopeo=0; rss_p_skiff=0
for r in $(seq "$rounds"); do
  echo "round $r"
  rm -f "$cache"/*
  measure "skopeo copy (Proxmox)" skopeo copy -q --src-tls-verify=false "docker://$HOST/big:latest" "oci-archive:$cache/big_latest.tar"
  best p_skopeo "$LAST_WALL"; (( LAST_RSS > rss_p_skopeo )) && rss_p_skopeo=$LAST_RSS
  rm -f "$cache"/*
  measure "skiff pve pull" target/release/skiff pve pull -q --tls-verify=false "$HOST/big:latest"
  best p_skiff "$LAST_WALL"; (( LAST_RSS > rss_p_skiff )) && rss_p_skiff=$LAST_RSS
done
skopeo inspect "oci-archive:$cache/big_latest.tar" >/dev/null && echo "skopeo reads skiff's template: ok"

echo "2. docker:// to an unpacked root filesystem"
u_peer=999999; u_skiff=999999; rss_u_peer=0; rss_u_skiff=0
for r in $(seq "$rounds"); do
  echo "round $r"
  rm -rf "$work/peer" "$work/skiff"; mkdir -p "$work/peer"
  measure "skopeo copy + umoci unpack" bash -c "skopeo copy -q --src-tls-verify=false docker://$HOST/big:latest oci:$work/peer/layout:big && umoci unpack --image $work/peer/layout:big $work/peer/bundle"
  best u_peer "$LAST_WALL"; (( LAST_RSS > rss_u_peer )) && rss_u_peer=$LAST_RSS
  measure "skiff unpack" target/release/skiff unpack -q --src-tls-verify=false "docker://$HOST/big:latest" "$work/skiff"
  best u_skiff "$LAST_WALL"; (( LAST_RSS > rss_u_skiff )) && rss_u_skiff=$LAST_RSS
done
echo
echo "pull, best of $rounds: skopeo ${p_skopeo}s, skiff ${p_skiff}s => skiff is $(ratio "$p_skopeo" "$p_skiff")x faster (target 4x)"
echo "  peak RSS: skopeo $((rss_p_skopeo / 1024)) MiB, skiff $((rss_p_skiff / 1024)) MiB (target < 64 MiB)"
echo "unpack, best of $rounds: skopeo+umoci ${u_peer}s, skiff ${u_skiff}s => skiff is $(ratio "$u_peer" "$u_skiff")x faster (target 5x)"
echo "  peak RSS: skopeo+umoci $((rss_u_peer / 1024)) MiB (largest of the two), skiff $((rss_u_skiff / 1024)) MiB"
