#!/usr/bin/env bash
# Builds skiff_VERSION_amd64.deb: /usr/bin/skiff (static, so it runs on any Debian or
# Proxmox VE release), one manual page per command, bash/zsh/fish completions, and
# maintainer scripts (packaging/debian/) that offer skiff as an alternative for
# /usr/bin/skopeo without taking it over (see packaging/debian/postinst).
#
# Usage: scripts/build-deb.sh [BINARY [OUTDIR]]  — BINARY defaults to the static build of
# scripts/build-static.sh, OUTDIR to target/debian. Prints the path of the package.
# DEB_COMPRESSION (xz, gzip, zstd, none; default xz) picks dpkg-deb's compressor.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [[ -z "$bin" ]]; then
    bin="$(scripts/build-static.sh)"
fi
outdir="${2:-target/debian}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
arch=amd64

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/skiff"
install -D -m 0755 "$bin" "$root/usr/bin/skiff"

man="$root/usr/share/man/man1"
mkdir -p "$man"
"$bin" man --dir "$man"
gzip -9n "$man"/*.1

comp="$root/usr/share"
install -d "$comp/bash-completion/completions" "$comp/zsh/vendor-completions" \
    "$comp/fish/vendor_completions.d"
"$bin" completion bash --name skiff >"$comp/bash-completion/completions/skiff"
"$bin" completion zsh --name skiff >"$comp/zsh/vendor-completions/_skiff"
"$bin" completion fish --name skiff >"$comp/fish/vendor_completions.d/skiff.fish"

doc="$root/usr/share/doc/skiff"
install -d "$doc"
printf 'skiff is licensed under the Apache License 2.0;\nsee /usr/share/common-licenses/Apache-2.0.\n' >"$doc/copyright"

install -d "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat >"$root/DEBIAN/control" <<CONTROL
Package: skiff
Version: $version
Architecture: $arch
Maintainer: skiff developers <skiff@example.invalid>
Installed-Size: $size
Section: admin
Priority: optional
Enhances: pve-container, lxc
Homepage: https://example.invalid/skiff
Description: OCI image tool compatible with skopeo, and LXC / Proxmox containers
 skiff copies, inspects and syncs container images with skopeo's command line,
 unpacks them safely into root filesystems, and creates LXC and Proxmox VE
 containers from them. It can be selected as /usr/bin/skopeo through
 update-alternatives, so Proxmox VE's own image pull runs through it.
CONTROL

mkdir -p "$outdir"
deb="$outdir/skiff_${version}_${arch}.deb"
dpkg-deb --root-owner-group "-Z${DEB_COMPRESSION:-xz}" --build "$root" "$deb" >&2
echo "$deb"
