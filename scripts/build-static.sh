#!/usr/bin/env bash
# Builds skiff as one static executable (no shared libraries at all), for hosts where the
# Debian package does not fit — any x86_64 Linux, Proxmox VE included.
#
# The musl target would be the usual way, but it needs `rustup target add
# x86_64-unknown-linux-musl` (and that toolchain is not installed on every build host);
# this links glibc statically instead (`-C target-feature=+crt-static`). Name lookup still
# works: since glibc 2.34 the `files` and `dns` NSS modules are built into libc, so
# getaddrinfo needs no libnss_*.so at run time for the usual `hosts: files dns`.
# --target keeps the flag away from build scripts and proc macros, which must stay dynamic.
#
# Prints the path of the binary. Usage: scripts/build-static.sh [--musl]
# SKIFF_PROFILE picks the cargo profile (default release; the tests use dev, which links
# the same way and builds in half the time).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
if [[ "${1:-}" == "--musl" ]]; then
    target=x86_64-unknown-linux-musl
fi
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --profile "${SKIFF_PROFILE:-release}" --locked --target "$target" -p skiff >&2
dir="${SKIFF_PROFILE:-release}"
[[ "$dir" == dev ]] && dir=debug
bin="target/$target/$dir/skiff"
if ! file -L "$bin" | grep -Eq 'static(-pie)? linked'; then
    echo "build-static: $bin is not statically linked: $(file -L "$bin")" >&2
    exit 1
fi
echo "$bin"
