#!/usr/bin/env bash
# Installs the Debian packages skiff's tests, demo and benchmarks use as real peers:
# docker-registry (CNCF distribution), skopeo, umoci, lxc, busybox-static (a runnable
# test image), htpasswd (apache2-utils), jq. Idempotent; needs root (or sudo).
set -euo pipefail
packages=(docker-registry skopeo umoci lxc jq apache2-utils busybox-static ca-certificates time gnupg)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}" >&2
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Unprivileged containers: root may map host ids 100000-165535, as on every Proxmox VE host
# (LXC uses newuidmap/newgidmap, which check these files).
for f in /etc/subuid /etc/subgid; do
  if [ "$(id -u)" -eq 0 ] && ! grep -qs '^root:100000:65536$' "$f"; then
    echo 'root:100000:65536' >> "$f"
  fi
done
