#!/usr/bin/env bash
# Benchmark: `skiff apply` on the lxc backend (real LXC, containers under a scratch
# LXCPATH; needs root).
#
#   bench/apply.sh
#
# 1. A file of 5 containers, applied once, then re-applied unchanged: the re-apply is
#    what runs on every `apply` of a settled host (target: under 1 s). It observes each
#    container (config + lxc-info) and sends one manifest HEAD for the one image.
# 2. A 3-container app in a dependency chain, each with a health command, applied from
#    the local registry (images "cached": no network beyond localhost): the time of each
#    container's steps, from apply's own progress lines.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scripts/install-deps.sh
cargo build --release -q -p skiff -p skiff-testbed
start_registry demo demo:latest
work=$(mktemp -d)
cleanup() {
  for f in "$work"/*.yaml; do
    target/release/skiff destroy --yes -q "$f" -P "$work/lxc" 2>/dev/null || true
  done
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
dirs=(-P "$work/lxc" --data-dir "$work/volumes" --secrets-dir "$work/secrets" --src-tls-verify=false)

{
  echo "containers:"
  for i in 1 2 3 4 5; do
    printf '  - name: bench-c%s\n    image: %s/demo:latest\n    entrypoint: [/bin/sleep, "3600"]\n    memory: 64\n' "$i" "$HOST"
  done
} >"$work/five.yaml"
echo "5 containers, one image:"
measure "first apply (create + start)" target/release/skiff apply --yes -q "$work/five.yaml" "${dirs[@]}"
for round in 1 2 3; do
  measure "re-apply unchanged ($round)" target/release/skiff apply --yes -q "$work/five.yaml" "${dirs[@]}"
done

cat >"$work/app.yaml" <<YAML
apps:
  - name: bench-app
    containers:
      - name: db
        image: $HOST/demo:latest
        entrypoint: [/bin/sleep, "3600"]
        env: {PASSWORD: "\${secret:pw}"}
        health: "test -d /srv"
      - name: cache
        image: $HOST/demo:latest
        entrypoint: [/bin/sleep, "3600"]
        depends_on: [db]
        health: "test -d /srv"
      - name: server
        image: $HOST/demo:latest
        entrypoint: [/bin/sleep, "3600"]
        depends_on: [db, cache]
        env: {DB_HOST: "\${host:db}", DB_PASSWORD: "\${secret:pw}"}
        health: "test -d /srv"
YAML
echo
echo "3-container app (db <- cache <- server), each step timed:"
start=$(date +%s.%N)
prev=$start
target/release/skiff apply --yes "$work/app.yaml" "${dirs[@]}" 2>&1 >/dev/null | while IFS= read -r line; do
  now=$(date +%s.%N)
  case "$line" in
    bench-app-*|Apply*) printf '  %7.3f s  (+%6.3f s)  %s\n' "$(echo "$now - $start" | bc -l)" "$(echo "$now - $prev" | bc -l)" "$line"; prev=$now ;;
  esac
done
