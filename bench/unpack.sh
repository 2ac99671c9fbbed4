#!/usr/bin/env bash
# Benchmark: unpack a multi-layer image of at least 300 MB of gzip layers from an OCI
# layout into a root filesystem — skiff against `umoci unpack` and against sequential
# `tar -xzf` of the same layers, in one run. Prints wall times, ratios and peak RSS.
#
#   bench/unpack.sh [host|synthetic[:BYTES]] [ROUNDS]     (3 rounds by default)
#
# Seeds:
#   host (default)     layers made with GNU tar and gzip -6 from this machine's /usr
#                      (bin, sbin, include, share, lib/...), added until the gzip layers
#                      pass 300 MB: the mix of many small files and some large ones that
#                      real images have.
#   synthetic[:BYTES]  skiff-testbed's deterministic image (default 360M): few, large,
#                      poorly compressible files — decompression and copying, hardly any
#                      metadata.
#
# Every run writes into a fresh ext4 filesystem on a loop device (inode tables initialised
# up front, not by a kernel thread during the run; on ext4, creating files right after
# deleting many others is several times slower, as inodes deleted in the last minutes
# are skipped while allocating). A run starts once the dirty pages of earlier runs are
# written back and the machine is idle; the filesystem is unmounted and freed right after
# it, and the tools take turns going first (on this VM, a run that follows others that
# left gigabytes in the page cache gets slower memory: the kernel's copies into the page
# cache took up to twice as long).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
seed=${1:-host}
rounds=${2:-3}
bench_setup mkfs.ext4=e2fsprogs
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

case $seed in
  host)
    echo "building an OCI layout from this machine's /usr (tar | gzip -6)..."
    mapfile -t candidates < <(printf '%s\n' /usr/bin /usr/sbin /usr/include /usr/share;
                              du -s /usr/lib/*/ 2>/dev/null | sort -rn | cut -f2)
    host_layout "$work/layout" bench 300000000 "${candidates[@]}"
    ;;
  synthetic*)
    bytes=${seed#synthetic}; bytes=${bytes#:}; bytes=${bytes:-360000000}
    echo "writing skiff-testbed's ${bytes}-byte image as an OCI layout..."
    target/release/skiff-testbed layout "$work/layout" --seed "big:$bytes" --tag bench 2>/dev/null
    ;;
  *) echo "unknown seed $seed (host, synthetic[:BYTES])" >&2; exit 2 ;;
esac
manifest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="bench") | .digest' "$work/layout/index.json")
layers=$(jq -r '.layers[].digest' "$work/layout/blobs/sha256/${manifest#sha256:}" | sed 's/^sha256:/blobs\/sha256\//')
gz=$(cd "$work/layout" && du -cb $layers | tail -1 | cut -f1)
echo "$(echo "$layers" | wc -w) layers, $((gz / 1000000)) MB of gzip"

# fresh_fs NAME: a new, empty ext4 filesystem mounted at $work/NAME.
fresh_fs() {
  truncate -s 12G "$work/$1.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/$1.img"
  mkdir -p "$work/$1"
  mount -o loop "$work/$1.img" "$work/$1"
  mounts+=("$work/$1")
  settle
}
# settle: waits until the page cache has written back what earlier runs left dirty (the
# loop devices write it a second time into their backing files) and the kernel's own
# after-work is done: the CPUs were idle for a whole second.
settle() {
  sync
  for _ in $(seq 240); do
    (( $(awk '/^(Dirty|Writeback):/ {s += $2} END {print s}' /proc/meminfo) < 65536 )) && break
    sleep 0.5; sync
  done
  local a b
  for _ in $(seq 60); do
    a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); exit !((y[1] - x[1]) >= 0.95 * (y[2] - x[2]))}' && return
  done
}
untar_all() { mkdir -p "$1"; for l in $layers; do tar -xzf "$work/layout/$l" -C "$1"; done; }
export -f untar_all; export work layers

# drop_fs NAME: unmounts and deletes a filesystem made by fresh_fs, so that its page
# cache is freed before the next run.
drop_fs() {
  umount "$work/$1"
  rm -rf "${work:?}/$1" "$work/$1.img"
}

# run_tool TOOL NAME: one timed run of TOOL into a fresh filesystem NAME.
run_tool() {
  fresh_fs "$2"
  case $1 in
    umoci) measure "umoci unpack" umoci unpack --image "$work/layout:bench" "$work/$2/bundle"
           best t_umoci "$LAST_WALL"; rss_umoci=$LAST_RSS ;;
    tar)   measure "tar -xzf (sequential)" bash -c "untar_all $work/$2/rootfs"
           best t_tar "$LAST_WALL"; rss_tar=$LAST_RSS ;;
    skiff) measure "skiff unpack" target/release/skiff unpack -q "oci:$work/layout:bench" "$work/$2/rootfs"
           best t_skiff "$LAST_WALL"; rss_skiff=$LAST_RSS ;;
  esac
}

best() { if [ -z "${!1:-}" ] || (( $(echo "$2 < ${!1}" | bc) )); then printf -v "$1" '%s' "$2"; fi; }
# Every run starts from the same state: only the layout in the page cache (the trees of
# earlier runs are unmounted and freed), and the tools take turns going first, since
# on a VM even the memory a run is given differs with what ran before.
tools=(umoci tar skiff)
for r in $(seq "$rounds"); do
  echo "round $r"
  for i in 0 1 2; do
    tool=${tools[$(( (i + r - 1) % 3 ))]}
    run_tool "$tool" "$tool-$r"
    drop_fs "$tool-$r"
  done
done
echo "comparing the trees of umoci and skiff (not timed)..."
fresh_fs check
umoci unpack --image "$work/layout:bench" "$work/check/bundle" >/dev/null
target/release/skiff unpack -q "oci:$work/layout:bench" "$work/check/rootfs"
if diff -r --no-dereference "$work/check/bundle/rootfs" "$work/check/rootfs" >/dev/null; then
  echo "skiff's tree has the same content as umoci's: ok"
else
  echo "skiff's tree differs from umoci's!" >&2
fi
echo
echo "best of $rounds: umoci ${t_umoci}s, tar ${t_tar}s, skiff ${t_skiff}s"
echo "skiff is $(ratio "$t_umoci" "$t_skiff")x faster than umoci (target 5x), $(ratio "$t_tar" "$t_skiff")x faster than tar (target 2x)"
echo "peak RSS: umoci $((rss_umoci / 1024)) MiB, tar $((rss_tar / 1024)) MiB, skiff $((rss_skiff / 1024)) MiB (target < 64 MiB)"
