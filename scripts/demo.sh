#!/usr/bin/env bash
# The main job, end to end: pull an image into a Proxmox-ready oci-archive.
#
#   scripts/demo.sh                 # offline: starts a local docker-registry seeded with a
#                                   # sample image skiff's test support builds, pulls it
#   scripts/demo.sh alpine:latest   # pulls from a real registry (needs internet)
#
# The archive lands in ./out/ under Proxmox's template name (e.g. demo_latest.tar), ready
# for `pct create VMID local:vztmpl/...` once copied to /var/lib/vz/template/cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p skiff -p skiff-testbed
mkdir -p out
if [ $# -ge 1 ]; then
  ref="$1"
  name="${ref##*/}"
  target/release/skiff copy "docker://$ref" "oci-archive:out/${name//[^a-zA-Z0-9_.-]/_}.tar"
  ls -l out/
  exit 0
fi
log=$(mktemp)
target/release/skiff-testbed serve --seed demo --repo demo:latest >"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^REGISTRY=' "$log" && break; sleep 0.1; done
host=$(sed -n 's/^REGISTRY=//p' "$log")
[ -n "$host" ] || { echo "the local registry did not start" >&2; exit 1; }
echo "local registry at $host, seeded with demo:latest"
target/release/skiff copy --src-tls-verify=false "docker://$host/demo:latest" oci-archive:out/demo_latest.tar
echo
echo "written: out/demo_latest.tar"
skopeo inspect oci-archive:out/demo_latest.tar | jq '{Digest, Architecture, Os, Layers}'
tar -tf out/demo_latest.tar | head -n 5
