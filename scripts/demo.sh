#!/usr/bin/env bash
# The main job, end to end: pull an image into a Proxmox-ready oci-archive, then run it
# as an app on LXC with `skiff apply` (offline mode only).
#
#   scripts/demo.sh                 # offline: starts a local docker-registry seeded with a
#                                   # sample image skiff's test support builds, pulls it
#   scripts/demo.sh alpine:latest   # pulls from a real registry (needs internet)
#
# The archive lands in ./out/ under Proxmox's template name (e.g. demo_latest.tar), ready
# for `pct create VMID local:vztmpl/...` once copied to /var/lib/vz/template/cache/.
# Then examples/apply/demo.yaml is applied on the lxc backend (containers under
# ./out/lxc, as root): a busybox httpd service, whose page the demo fetches. It keeps
# running; `skiff destroy --yes out/demo-apply.yaml -P out/lxc` removes it.
#
# It first runs scripts/install-deps.sh, which changes the host (apt installs, and as root
# a line in /etc/subuid and /etc/subgid). When that has anything to do, the demo shows it
# and asks; without a terminal to ask on it stops, unless told yes with --yes,
# SKIFF_ASSUME_YES=1, or CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
assume_yes=false
if [ "${1:-}" = "--yes" ]; then assume_yes=true; shift; fi
[ "${SKIFF_ASSUME_YES:-}" = 1 ] && assume_yes=true
[ "${CI:-}" = true ] && assume_yes=true
status=0
scripts/install-deps.sh --plan || status=$?
case $status in
  0) ;;
  10)
    if ! $assume_yes; then
      if [ -t 0 ]; then
        read -r -p "Make these changes? [y/N] " answer
        case "$answer" in [yY]*) ;; *) echo "nothing changed; stopping" >&2; exit 1 ;; esac
      else
        echo "not changing the host without a yes: run scripts/demo.sh --yes (or SKIFF_ASSUME_YES=1)" >&2
        exit 1
      fi
    fi
    scripts/install-deps.sh
    ;;
  *) exit "$status" ;;
esac
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
echo
echo "== skiff apply: the image as a running app on LXC =="
sed "s|DEMO_REGISTRY|$host|" examples/apply/demo.yaml >out/demo-apply.yaml
apply_dirs=(-P "$PWD/out/lxc" --data-dir "$PWD/out/volumes" --secrets-dir "$PWD/out/secrets" --src-tls-verify=false)
target/release/skiff apply out/demo-apply.yaml "${apply_dirs[@]}" --yes
lxc-ls -f -P "$PWD/out/lxc"
echo
echo "the app answers on http://127.0.0.1:8088/hello.txt:"
for _ in $(seq 50); do
  page=$(busybox wget -qO- http://127.0.0.1:8088/hello.txt 2>/dev/null) && break
  sleep 0.1
done
echo "${page:?the app did not answer}"
echo
echo "applying the same file again changes nothing:"
target/release/skiff apply out/demo-apply.yaml "${apply_dirs[@]}" --yes
