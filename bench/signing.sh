#!/usr/bin/env bash
# Benchmark: signed multi-platform copies, skiff against skopeo in one run, on the demo
# seed's linux/amd64 + linux/arm64 index in a local docker-registry:
#   1. `copy --all --sign-by` registry → registry (index and both images signed, GnuPG,
#      signatures into a file:// lookaside);
#   2. `copy --all` registry → dir: under a `signedBy` policy (every image's signature
#      verified, and carried into the dir: image).
# Small images: the figures are the cost of signing and verifying, not of moving bytes.
# Prints wall times, ratios and peak RSS. Usage: bench/signing.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
bench_setup
skiff=$PWD/target/release/skiff
cleanup() { stop_registry; gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start_registry demo skiff/busybox:latest
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'bench <bench@example.com>' default default never 2>/dev/null
fpr=$(gpg --with-colons --list-keys bench@example.com | awk -F: '/^fpr/{print $10; exit}')
gpg --export bench@example.com >"$work/bench.gpg"
mkdir "$work/registries.d"
printf 'default-docker:\n  lookaside: file://%s/lookaside\n' "$work" >"$work/registries.d/default.yaml"
printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"%s"}]}}}' \
  "$HOST" "$work/bench.gpg" >"$work/policy.json"
src=docker://$HOST/skiff/busybox:multi

run_round() { # TOOL NAME
  local tool=$1 name=$2 i=$3
  measure "$name sign --all" "$tool" --insecure-policy --registries.d "$work/registries.d" copy --all \
    --src-tls-verify=false --dest-tls-verify=false --sign-by "$fpr" "$src" "docker://$HOST/$name/signed:$i"
  sign_wall=$LAST_WALL; sign_rss=$LAST_RSS
  measure "$name verify --all" "$tool" --policy "$work/policy.json" --registries.d "$work/registries.d" copy --all \
    --src-tls-verify=false "docker://$HOST/$name/signed:$i" "dir:$work/$name-$i"
  verify_wall=$LAST_WALL; verify_rss=$LAST_RSS
}

declare -A total=()
for i in $(seq "$rounds"); do
  echo "round $i"
  for tool in skopeo skiff; do
    run_round "$([ $tool = skiff ] && echo "$skiff" || echo skopeo)" "$tool" "$i"
    total[$tool-sign]=$(echo "${total[$tool-sign]:-0} + $sign_wall" | bc -l)
    total[$tool-verify]=$(echo "${total[$tool-verify]:-0} + $verify_wall" | bc -l)
    total[$tool-sign-rss]=$sign_rss; total[$tool-verify-rss]=$verify_rss
  done
done
echo
for step in sign verify; do
  printf '%-7s skopeo %6.2f s  skiff %6.2f s  ratio %s  (peak RSS skopeo %d KiB, skiff %d KiB)\n' "$step" \
    "${total[skopeo-$step]}" "${total[skiff-$step]}" "$(ratio "${total[skopeo-$step]}" "${total[skiff-$step]}")" \
    "${total[skopeo-$step-rss]}" "${total[skiff-$step-rss]}"
done
