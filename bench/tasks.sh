#!/usr/bin/env bash
# Task API benchmark against PostgreSQL, one load tool (wrk), interleaved rounds:
#   sp-add / native-add    POST /api/{user}/tasks (JWT check + INSERT ... RETURNING)
#   sp-list / native-list  GET  /api/{user}/tasks for a user with 20 tasks (JWT check + SELECT)
# "sp" is Spaceport running the task-tools component; "native" is bench/native-tasks:
# the same SQL on the same pool code (spaceport::db) with the same JWT check
# (spaceport::auth), without WebAssembly. Reports req/s, p99 and the ratio sp/native.
#
# Usage: bench/tasks.sh [ROUNDS] [SECONDS]    (defaults 3 × 10 s)
# BENCH_DATABASE_URL: an admin URL of a PostgreSQL server (default the local one, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${CONNS:-32}
OUT=${OUT:-target/bench-tasks}
ADMIN=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
POOL=${SPACEPORT_DB_POOL_SIZE:-10}
mkdir -p "$OUT"
. bench/lib.sh
need_wrk
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked -p spaceport -p native-tasks
(cd components && cargo build --release --locked -p task-tools -p health)

DB=spaceport_bench
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
URL="${ADMIN%/*}/$DB"
export JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789abcdef SPACEPORT_DB_POOL_SIZE=$POOL

sed "s|= \"components/|= \"$PWD/components/|; s|= \"migrations/|= \"$PWD/migrations/|" spin-like.toml >"$OUT/bench.toml"
bg_start "$OUT/spaceport.log" env DATABASE_URL="$URL" SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false \
  LOG_LEVEL=warn SPACEPORT_AUTH_RATE_PER_MINUTE=1000 \
  ./target/release/spaceport up --manifest "$OUT/bench.toml" --listen 127.0.0.1:7881
bg_start "$OUT/native.log" env DATABASE_URL="$URL" ./target/release/native-tasks 127.0.0.1:7882
wait_up http://127.0.0.1:7881/health
# The native server answers only its task routes: any HTTP answer means it is up.
for _ in $(seq 1 200); do curl -s -o /dev/null http://127.0.0.1:7882/ && break; sleep 0.1; done

B=http://127.0.0.1:7881
login "$B" writer@bench.test; WT=$TOKEN; WID=$USER_ID
login "$B" reader@bench.test; RT=$TOKEN; RID=$USER_ID
for i in $(seq 1 20); do
  curl -sf -XPOST "$B/api/$RID/tasks" -H "authorization: Bearer $RT" -d "{\"title\":\"task $i\"}" >/dev/null
done
cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"title":"benchmark task"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $WT"
LUA

declare -A URLS
URLS[sp-add]="http://127.0.0.1:7881/api/$WID/tasks"
URLS[native-add]="http://127.0.0.1:7882/api/$WID/tasks"
URLS[sp-list]="http://127.0.0.1:7881/api/$RID/tasks"
URLS[native-list]="http://127.0.0.1:7882/api/$RID/tasks"
targets=(sp-add native-add sp-list native-list)
run() { # target seconds
  case $1 in
    *-add) wrk -t2 -c"$CONNS" -d"$2s" --latency -s "$OUT/post.lua" "${URLS[$1]}" ;;
    *) wrk -t2 -c"$CONNS" -d"$2s" --latency -H "Authorization: Bearer $RT" "${URLS[$1]}" ;;
  esac
}
for t in "${targets[@]}"; do run "$t" 2 >/dev/null; done   # warm up

: >"$OUT/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  for t in "${targets[@]}"; do
    run "$t" "$SECS" >"$OUT/wrk-$t-$r.txt"
    rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk-$t-$r.txt")
    p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$t-$r.txt")
    bad=$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk-$t-$r.txt")
    printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$rps" "$p99" "${bad:-0}" | tee -a "$OUT/results.tsv"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "median over $ROUNDS rounds of ${SECS}s, wrk -t2 -c$CONNS, pool size $POOL, PostgreSQL on the same 2-core machine"
printf '%-12s %10s %10s\n' target "req/s" p99
declare -A RPS
for t in "${targets[@]}"; do
  RPS[$t]=$(awk -v t="$t" '$1==t {print $3}' "$OUT/results.tsv" | median)
  p99=$(awk -v t="$t" '$1==t {print $4}' "$OUT/results.tsv" | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-12s %10s %10s\n' "$t" "${RPS[$t]}" "$p99"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo
echo "add:  sp/native = $(ratio "${RPS[sp-add]}" "${RPS[native-add]}")"
echo "list: sp/native = $(ratio "${RPS[sp-list]}" "${RPS[native-list]}")"
