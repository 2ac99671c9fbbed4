# Shared helpers for the benchmarks: timing with peak RSS, and a local registry.
# Benchmarks are measurements, not tests: they print figures and never fail on speed.

# measure LABEL CMD... : runs CMD, records wall seconds and peak RSS (KiB) in
# $LAST_WALL / $LAST_RSS, and prints a line.
measure() {
  local label=$1; shift
  local tf; tf=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$tf" "$@" >/dev/null 2>"$tf.err" || { echo "$label failed:" >&2; cat "$tf.err" >&2; rm -f "$tf" "$tf.err"; return 1; }
  read -r LAST_WALL LAST_RSS <"$tf"
  rm -f "$tf" "$tf.err"
  printf '  %-28s %8.2f s   peak RSS %7.1f MiB\n' "$label" "$LAST_WALL" "$(echo "$LAST_RSS/1024" | bc -l)"
}

# start_registry SEED REPO:TAG : starts skiff-testbed's registry seeded with SEED; sets $HOST, $SERVER.
start_registry() {
  local log; log=$(mktemp)
  target/release/skiff-testbed serve --seed "$1" --repo "$2" >"$log" &
  SERVER=$!
  for _ in $(seq 1200); do grep -q '^REGISTRY=' "$log" && break; sleep 0.1; done
  HOST=$(sed -n 's/^REGISTRY=//p' "$log")
  rm -f "$log"
  [ -n "$HOST" ] || { echo "registry did not start" >&2; return 1; }
}

stop_registry() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }

# bench_setup [COMMAND=PACKAGE...] : what every benchmark does first — the project's
# peers (scripts/install-deps.sh), bc and the named commands (installed from PACKAGE
# when missing), release builds of skiff and skiff-testbed — and a scratch directory
# in $work (the caller removes it).
bench_setup() {
  scripts/install-deps.sh
  local pair
  for pair in bc=bc "$@"; do
    command -v "${pair%%=*}" >/dev/null || apt-get install -y -qq "${pair#*=}" >/dev/null
  done
  cargo build --release -q -p skiff -p skiff-testbed
  work=$(mktemp -d /var/tmp/skiff-bench.XXXXXX)
}

# seed_big_registry BYTES : a local registry holding the synthetic image big:latest of
# BYTES of content (several gzip layers); sets $HOST and $SERVER.
seed_big_registry() {
  echo "seeding a local registry with a $1-byte image..."
  start_registry "big:$1" big:latest
}

# host_layout DIR TAG MIN_GZIP_BYTES PATH... : writes an OCI layout at DIR, tagged TAG,
# with one layer per PATH (GNU tar with numeric owners, gzip -6 — what image builders
# produce), adding PATHs in order until the layers pass MIN_GZIP_BYTES.
host_layout() {
  local dir=$1 tag=$2 min=$3; shift 3
  local total=0 layers=() diff_ids=() p digest size diff
  mkdir -p "$dir/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  for p in "$@"; do
    (( total >= min )) && break
    [ -d "$p" ] || continue
    tar -C / --numeric-owner -cf - "${p#/}" | gzip -6 >"$dir/layer.tmp"
    digest=$(sha256sum "$dir/layer.tmp" | cut -d' ' -f1)
    size=$(stat -c %s "$dir/layer.tmp")
    diff=$(gzip -dc "$dir/layer.tmp" | sha256sum | cut -d' ' -f1)
    mv "$dir/layer.tmp" "$dir/blobs/sha256/$digest"
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$size}")
    diff_ids+=("\"sha256:$diff\"")
    total=$((total + size))
    echo "  layer $p: $((size / 1000000)) MB"
  done
  (( total >= min )) || echo "  (only $((total / 1000000)) MB of gzip on this machine)"
  local IFS=,
  blob_put "$dir" "{\"architecture\":\"$(dpkg --print-architecture)\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${diff_ids[*]}]}}"
  local config="{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$BLOB_DIGEST\",\"size\":$BLOB_SIZE}"
  blob_put "$dir" "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":$config,\"layers\":[${layers[*]}]}"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$BLOB_DIGEST" "$BLOB_SIZE" "$tag" >"$dir/index.json"
}

# blob_put DIR JSON : stores JSON as a blob of the layout at DIR; sets $BLOB_DIGEST (hex)
# and $BLOB_SIZE.
blob_put() {
  BLOB_DIGEST=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
  BLOB_SIZE=${#2}
  printf '%s' "$2" >"$1/blobs/sha256/$BLOB_DIGEST"
}
