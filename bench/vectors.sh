#!/usr/bin/env bash
# The embedded vector store (`vectors` capability, no Qdrant) on each database:
# ingest throughput (points/s through a component: JSON in, upsert batches of
# 250) and search latency p50/p99 (top-10, cosine) at each size, 1536-d
# vectors as OpenAI's text-embedding-3-small writes them; searches with the
# collection kept decoded in memory (SPACEPORT_VECTORS_CACHE_MB) and, on a
# restarted host with the cache off, read from the database each time.
#
# Usage: bench/vectors.sh [SIZES] [SEARCHES]    (defaults "10000 100000", 200)
# BACKENDS: "sqlite postgres" (default); BENCH_DATABASE_URL: an admin URL of a
# PostgreSQL server (default the local one, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
SIZES=${1:-"10000 100000"}
SEARCHES=${2:-200}
BACKENDS=${BACKENDS:-"sqlite postgres"}
OUT=${OUT:-target/bench-vectors}
ADMIN=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
mkdir -p "$OUT"
. bench/lib.sh
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked -p spaceport
(cd components && cargo build --release --locked -p fault)

largest=$(tr ' ' '\n' <<<"$SIZES" | sort -n | tail -1)
# The store's per-collection cap must hold the largest size (points x 1536 x 4 bytes).
cap_mb=$(( largest * 1536 * 4 / 1000000 + 64 ))
cat >"$OUT/vectors.toml" <<TOML
spaceport_manifest_version = 1
[application]
name = "bench-vectors"
[[trigger.http]]
route = "/fault/..."
component = "fault"
[component.fault]
source = "$PWD/components/target/wasm32-wasip2/release/fault.wasm"
vectors = ["bench"]
[component.fault.limits]
timeout_ms = 120000
memory_mb = 256
TOML

# start_host BACKEND_URL CACHE_MB LOG: the host on the bench manifest.
start_host() {
  bg_start "$3" env DATABASE_URL="$1" SPACEPORT_DATA_DIR="$OUT/data" \
    SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false LOG_LEVEL=warn \
    JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789abcdef \
    SPACEPORT_VECTORS_MAX_MB="$cap_mb" SPACEPORT_VECTORS_CACHE_MB="$2" SPACEPORT_MAX_BODY_BYTES=$((32 << 20)) \
    ./target/release/spaceport up --manifest "$OUT/vectors.toml" --listen 127.0.0.1:7891
  wait_up http://127.0.0.1:7891/openapi.json
}
stop_host() { kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true; }

# Each size: ingest, then searches with the collection kept in memory (the
# default: SPACEPORT_VECTORS_CACHE_MB large enough here), then, on a host
# restarted with SPACEPORT_VECTORS_CACHE_MB=0, searches that read it from the
# database every time (the trade-off: memory for latency).
echo "backend size ingest_points_per_s search_p50_ms search_p99_ms host_rss_mb uncached_p50_ms uncached_p99_ms" >"$OUT/results.txt"
for backend in $BACKENDS; do
  for size in $SIZES; do
    rm -rf "$OUT/data"
    case $backend in
      sqlite) url="sqlite://$PWD/$OUT/data/spaceport.db" ;;
      postgres)
        psql "$ADMIN" -qc "DROP DATABASE IF EXISTS spaceport_vbench WITH (FORCE)" -c "CREATE DATABASE spaceport_vbench"
        url="${ADMIN%/*}/spaceport_vbench" ;;
    esac
    mkdir -p "$OUT/data"
    start_host "$url" "$cap_mb" "$OUT/host-$backend-$size.log"
    cached=$(python3 bench/vectors.py http://127.0.0.1:7891/fault/vectors "$size" "$SEARCHES")
    rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$BG_PID/status")
    stop_host
    start_host "$url" 0 "$OUT/host-$backend-$size-uncached.log"
    uncached=$(python3 bench/vectors.py http://127.0.0.1:7891/fault/vectors 0 "${UNCACHED_SEARCHES:-20}")
    stop_host
    echo "$backend $size $cached $rss ${uncached#* }" | tee -a "$OUT/results.txt"
  done
done
column -t "$OUT/results.txt"
