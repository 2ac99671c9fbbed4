#!/usr/bin/env bash
# Installs the Debian packages skiff's tests, demo and benchmarks use as real peers:
# docker-registry (CNCF distribution), skopeo, umoci, lxc, busybox-static (a runnable
# test image), htpasswd (apache2-utils), jq, gnupg (signing tests), file (the static
# binary check of tests/package.rs). Idempotent; needs root (or sudo).
#
# This changes the host, and says how before it does:
#   * apt-get update and apt-get install of the packages above that are missing;
#   * as root, the line `root:100000:65536` appended to /etc/subuid and /etc/subgid
#     (the ids unprivileged containers map to, as on every Proxmox VE host).
#
#   scripts/install-deps.sh          # print the changes, then make them
#   scripts/install-deps.sh --plan   # only print them; exit 0 when there is nothing to do,
#                                    # 10 when something would change
set -euo pipefail
plan_only=false
case "${1:-}" in
  --plan) plan_only=true ;;
  "") ;;
  *) echo "usage: $0 [--plan]" >&2; exit 64 ;;
esac

packages=(docker-registry skopeo umoci lxc jq apache2-utils busybox-static ca-certificates time gnupg file)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Unprivileged containers: root may map host ids 100000-165535 (LXC uses newuidmap and
# newgidmap, which check these files). Only root's own files are changed.
idmap_files=()
if [ "$(id -u)" -eq 0 ]; then
  for f in /etc/subuid /etc/subgid; do
    grep -qs '^root:100000:65536$' "$f" || idmap_files+=("$f")
  done
fi

if [ ${#missing[@]} -eq 0 ] && [ ${#idmap_files[@]} -eq 0 ]; then
  $plan_only || echo "install-deps: nothing to change" >&2
  exit 0
fi
echo "install-deps will change this host:" >&2
[ ${#missing[@]} -eq 0 ] || echo "  apt-get install ${missing[*]}" >&2
for f in "${idmap_files[@]}"; do
  echo "  append 'root:100000:65536' to $f" >&2
done
$plan_only && exit 10

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for f in "${idmap_files[@]}"; do
  echo 'root:100000:65536' >> "$f"
done
