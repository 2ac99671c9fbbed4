#!/usr/bin/env bash
# Benchmark: cluster mode, an image from a registry into a node's template storage through
# the Proxmox VE API — `skiff pve pull --api` (pull here, stream the upload) against what a
# user does by hand: `skopeo copy` to an oci-archive, `sha256sum`, and `curl -F` to the
# upload endpoint. Against skiff-testbed's API stand-in (HTTPS on loopback), in one run.
# Peak RSS shows the upload is streamed, not buffered.
# Usage: bench/pve_api.sh [BYTES] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bytes=${1:-360000000}
rounds=${2:-3}
bench_setup curl=curl
api_log=$work/api.log
stop_api() { kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; }
trap 'stop_registry; stop_api; rm -rf "$work"' EXIT
seed_big_registry "$bytes"
: >"$api_log"
target/release/skiff-testbed pve-api >"$api_log" &
API_PID=$!
for _ in $(seq 100); do grep -q '^PVE_FINGERPRINT=' "$api_log" && break; sleep 0.1; done
api=$(sed -n 's/^PVE_API=//p' "$api_log")
token=$(sed -n 's/^PVE_TOKEN=//p' "$api_log")
fingerprint=$(sed -n 's/^PVE_FINGERPRINT=//p' "$api_log")
[ -n "$fingerprint" ] || { echo "the API stand-in did not start" >&2; exit 1; }
echo "registry at $HOST, API stand-in at $api"
export HOME=$work/home XDG_STATE_HOME=$work/state
best() { if (( $(echo "$2 < ${!1}" | bc) )); then printf -v "$1" '%s' "$2"; fi; }

t_peer=999999; t_skiff=999999; rss_peer=0; rss_skiff=0
for r in $(seq "$rounds"); do
  echo "round $r"
  rm -f "$work"/*.tar
  measure "skopeo + sha256sum + curl" bash -c "
    skopeo copy -q --src-tls-verify=false docker://$HOST/big:latest oci-archive:$work/peer_$r.tar &&
    sum=\$(sha256sum $work/peer_$r.tar | cut -d' ' -f1) &&
    curl -sSf -k -H 'Authorization: PVEAPIToken=$token' -F content=vztmpl \
      -F checksum-algorithm=sha256 -F checksum=\$sum -F filename=@$work/peer_$r.tar \
      $api/api2/json/nodes/pve1/storage/local/upload"
  best t_peer "$LAST_WALL"; (( LAST_RSS > rss_peer )) && rss_peer=$LAST_RSS
  measure "skiff pve pull --api" target/release/skiff pve pull -q --tls-verify=false \
    --api "$api" --token "$token" --fingerprint "$fingerprint" --node pve1 \
    --filename "skiff_$r" "$HOST/big:latest"
  best t_skiff "$LAST_WALL"; (( LAST_RSS > rss_skiff )) && rss_skiff=$LAST_RSS
done
echo
echo "pull + upload, best of $rounds: skopeo+curl ${t_peer}s, skiff ${t_skiff}s => skiff is $(ratio "$t_peer" "$t_skiff")x faster"
echo "  peak RSS: skopeo+curl $((rss_peer / 1024)) MiB (largest of the steps), skiff $((rss_skiff / 1024)) MiB"
