#!/usr/bin/env bash
# Knowledge ingest through the whole pipeline, on each database: the default
# app's knowledge component (Python) chunks each document, embeds the chunks
# through the host's llm capability (bench/llm-double: 1536-d, OpenAI's
# /v1/embeddings shape) and stores chunks, full-text index and vectors.
# Reports chunks/s (one document at a time) and one hybrid search afterwards.
#
# Usage: bench/ingest.sh [DOCUMENTS]   (default 1250: about 10,000 chunks)
# BACKENDS: "sqlite postgres" (default); BENCH_DATABASE_URL as in bench/tasks.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
DOCS=${1:-1250}
BACKENDS=${BACKENDS:-"sqlite postgres"}
OUT=${OUT:-target/bench-ingest}
ADMIN=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
mkdir -p "$OUT"
. bench/lib.sh
cargo build --release --locked -p spaceport -p llm-double
./target/release/spaceport build --manifest spin-like.toml >/dev/null
bg_start "$OUT/llm-double.log" ./target/release/llm-double 127.0.0.1:7894
sed "s|= \"components/|= \"$PWD/components/|; s|= \"migrations/|= \"$PWD/migrations/|" spin-like.toml >"$OUT/app.toml"
echo "backend documents chunks seconds chunks_per_s search_ms" >"$OUT/results.txt"
for backend in $BACKENDS; do
  rm -rf "$OUT/data"; mkdir -p "$OUT/data"
  url=""
  if [ "$backend" = postgres ]; then
    psql "$ADMIN" -qc "DROP DATABASE IF EXISTS spaceport_ingest WITH (FORCE)" -c "CREATE DATABASE spaceport_ingest"
    url="${ADMIN%/*}/spaceport_ingest"
  fi
  bg_start "$OUT/host-$backend.log" env ${url:+DATABASE_URL=$url} SPACEPORT_DATA_DIR="$OUT/data" \
    SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false LOG_LEVEL=warn \
    JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789abcdef SPACEPORT_AUTH_RATE_PER_MINUTE=1000 \
    SPACEPORT_LLM_RATE_PER_MINUTE=1000000 OPENAI_BASE_URL=http://127.0.0.1:7894/v1 OPENAI_API_KEY=bench \
    ./target/release/spaceport up --manifest "$OUT/app.toml" --listen 127.0.0.1:7895
  wait_up http://127.0.0.1:7895/health
  echo "$backend $(python3 bench/ingest.py http://127.0.0.1:7895 "$DOCS")" | tee -a "$OUT/results.txt"
  kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true
done
column -t "$OUT/results.txt"
