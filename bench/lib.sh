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
