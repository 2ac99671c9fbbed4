#!/usr/bin/env bash
# Benchmark: `sync` of 20 images in 3 repositories (a shared base, and a layer of each
# image's own; default 300 MB of distinct gzip layers) from a local docker-registry, skiff
# against `skopeo sync`, in one run: registry → registry, the same again with nothing
# changed, and registry → dir. Prints wall times, ratios and peak RSS.
# Usage: bench/sync.sh [BASE_BYTES] [OWN_BYTES_PER_IMAGE] [SKIFF_PARALLEL_IMAGES]
# (a dir: image holds every blob it names, so the dir runs write 20 × (BASE + OWN) each)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
base_bytes=${1:-40000000}
own_bytes=${2:-13000000}
images=20
parallel=(); [ -n "${3:-}" ] && parallel=(--parallel-images "$3")
bench_setup jq=jq
skiff=target/release/skiff
servers=()
cleanup() { for s in "${servers[@]}"; do SERVER=$s stop_registry; done; rm -rf "$work"; }
trap cleanup EXIT

echo "building $images images: a ${base_bytes}-byte base and ${own_bytes} bytes of their own each..."
lay=$work/layout
target/release/skiff-testbed layout "$lay" --seed "big:$base_bytes" --tag base 2>/dev/null
base_manifest=$(jq -r '.manifests[0].digest' "$lay/index.json" | cut -d: -f2)
base_config=$(jq -r '.config.digest' "$lay/blobs/sha256/$base_manifest" | cut -d: -f2)
entries=()
for i in $(seq 0 $((images - 1))); do
  head -c "$own_bytes" /dev/urandom >"$work/own.bin"
  tar -C "$work" -cf "$work/own.tar" own.bin
  diff=$(sha256sum "$work/own.tar" | cut -d' ' -f1)
  gzip -1 -c "$work/own.tar" >"$work/own.tar.gz"
  digest=$(sha256sum "$work/own.tar.gz" | cut -d' ' -f1)
  size=$(stat -c %s "$work/own.tar.gz")
  mv "$work/own.tar.gz" "$lay/blobs/sha256/$digest"
  blob_put "$lay" "$(jq -c --arg d "sha256:$diff" '.rootfs.diff_ids += [$d]' "$lay/blobs/sha256/$base_config")"
  config="{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$BLOB_DIGEST\",\"size\":$BLOB_SIZE}"
  blob_put "$lay" "$(jq -c --argjson c "$config" --arg d "sha256:$digest" --argjson s "$size" \
    '.config = $c | .layers += [{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":$d,"size":$s}]' \
    "$lay/blobs/sha256/$base_manifest")"
  entries+=("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$BLOB_DIGEST\",\"size\":$BLOB_SIZE,\"annotations\":{\"org.opencontainers.image.ref.name\":\"img$i\"}}")
done
rm -f "$work/own.bin" "$work/own.tar"
(IFS=,; printf '{"schemaVersion":2,"manifests":[%s]}' "${entries[*]}") >"$lay/index.json"

start_registry demo skiff/busybox:latest; servers+=("$SERVER"); src=$HOST
start_registry demo skiff/busybox:latest; servers+=("$SERVER"); dst=$HOST
echo "source registry $src, destination registry $dst; seeding..."
for i in $(seq 0 $((images - 1))); do
  "$skiff" copy -q --dest-tls-verify=false "oci:$lay:img$i" "docker://$src/repo$((i % 3))/app:t$i"
done
rm -rf "$lay"
yaml=$work/sync.yaml
printf '%s:\n  tls-verify: false\n  images:\n    repo0/app: []\n    repo1/app: []\n    repo2/app: []\n' "$src" >"$yaml"
distinct=$(( base_bytes * 9 / 10 + images * own_bytes ))
echo "about $((distinct / 1000000)) MB of distinct layers in $images images"

row() { # LABEL SKOPEO_S SKIFF_S SKOPEO_RSS SKIFF_RSS
  printf '%-34s skopeo %7.2f s  skiff %7.2f s  => %5sx   peak RSS skopeo %4d MiB, skiff %4d MiB\n' \
    "$1" "$2" "$3" "$(ratio "$2" "$3")" $(($4 / 1024)) $(($5 / 1024))
}
declare -A wall rss
run() { # KEY LABEL CMD...
  local key=$1 label=$2; shift 2
  measure "$label" "$@"; wall[$key]=$LAST_WALL; rss[$key]=$LAST_RSS
}

echo "registry -> registry"
run skopeo1 "skopeo sync" skopeo sync --src yaml --dest docker --dest-tls-verify=false "$yaml" "$dst/skopeo"
run skiff1 "skiff sync" "$skiff" sync "${parallel[@]}" --src yaml --dest docker --dest-tls-verify=false "$yaml" "$dst/skiff"
echo "registry -> registry, nothing changed"
run skopeo2 "skopeo sync (again)" skopeo sync --src yaml --dest docker --dest-tls-verify=false "$yaml" "$dst/skopeo"
run skiff2 "skiff sync (again)" "$skiff" sync "${parallel[@]}" --src yaml --dest docker --dest-tls-verify=false "$yaml" "$dst/skiff"
echo "registry -> dir"
run skopeo3 "skopeo sync" skopeo sync --src yaml --dest dir "$yaml" "$work/dir-skopeo"
rm -rf "$work/dir-skopeo"
run skiff3 "skiff sync" "$skiff" sync "${parallel[@]}" --src yaml --dest dir "$yaml" "$work/dir-skiff"
echo "registry -> dir, nothing changed (skopeo refuses to write over an existing dir: image)"
run skiff4 "skiff sync (again)" "$skiff" sync "${parallel[@]}" --src yaml --dest dir "$yaml" "$work/dir-skiff"
rm -rf "$work/dir-skiff"
echo
row "registry -> registry" "${wall[skopeo1]}" "${wall[skiff1]}" "${rss[skopeo1]}" "${rss[skiff1]}"
row "registry -> registry, no change" "${wall[skopeo2]}" "${wall[skiff2]}" "${rss[skopeo2]}" "${rss[skiff2]}"
row "registry -> dir" "${wall[skopeo3]}" "${wall[skiff3]}" "${rss[skopeo3]}" "${rss[skiff3]}"
printf '%-34s skiff %7.2f s, peak RSS %d MiB\n' "registry -> dir, no change" "${wall[skiff4]}" $((rss[skiff4] / 1024))
echo "(targets: >= 4x, >= 3x on no change, peak RSS < 64 MiB; one run on a shared machine: expect noise)"
