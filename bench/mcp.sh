#!/usr/bin/env bash
# MCP `tools/call` against the REST tool path, same tool, same user, same host,
# interleaved in one run (issue 13's benchmark):
#   rest   POST /api/{user_id}/tools/list_tasks   (bearer token, JSON answer)
#   mcp    POST /mcp  tools/call list_tasks       (bearer token, session, SSE answer)
# One connection (latency: p50/p99) and 16 connections (throughput), wrk for both.
#
# Usage: bench/mcp.sh [ROUNDS] [SECONDS]   (defaults 3 rounds × 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE   # costs wasmtime hosts 20-25% throughput
ROUNDS=${1:-3}
SECS=${2:-10}
OUT=${OUT:-target/bench/mcp}
mkdir -p "$OUT"
rm -rf "$OUT/data"

. bench/lib.sh
need_wrk
cargo build --release --locked -p spaceport
./target/release/spaceport build --manifest spin-like.toml >/dev/null

BASE=http://127.0.0.1:7876
bg_start "$OUT/spaceport.log" env SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false \
  LOG_LEVEL=warn SPACEPORT_LLM_RATE_PER_MINUTE=1000000 \
  ./target/release/spaceport up --manifest spin-like.toml --listen 127.0.0.1:7876
wait_up "$BASE/health"
login "$BASE" bench-mcp@example.com
# A few tasks, so both paths return the same non-trivial list.
for i in 1 2 3 4 5; do
  curl -sf -XPOST "$BASE/api/$USER_ID/tasks" -H "authorization: Bearer $TOKEN" -d "{\"title\":\"task $i\"}" >/dev/null
done

# An MCP session, as a client opens one.
SESSION=$(curl -sf -D - -o /dev/null -XPOST "$BASE/mcp" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}' \
  | awk -F': ' 'tolower($1)=="mcp-session-id" {print $2}' | tr -d '\r')
curl -sf -o /dev/null -XPOST "$BASE/mcp" -H "authorization: Bearer $TOKEN" -H "mcp-session-id: $SESSION" \
  -H 'mcp-protocol-version: 2025-11-25' -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

cat >"$OUT/rest.lua" <<LUA
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $TOKEN"
LUA
# Each in-flight request has its own JSON-RPC id, as a client's have (a
# session routes answers by id: a fixed id would make requests wait on each
# other). wrk runs one Lua state per thread: ids are "<thread>-<n>".
cat >"$OUT/mcp.lua" <<LUA
wrk.method = "POST"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local body = '{"jsonrpc":"2.0","id":"' .. tid .. '-' .. n .. '","method":"tools/call","params":{"name":"list_tasks","arguments":{}}}'
  return wrk.format(nil, nil, nil, body)
end
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["authorization"] = "Bearer $TOKEN"
wrk.headers["mcp-session-id"] = "$SESSION"
wrk.headers["mcp-protocol-version"] = "2025-11-25"
LUA
# Both answer the same tasks (a failing path would make the figures meaningless).
curl -sf -XPOST "$BASE/api/$USER_ID/tools/list_tasks" -H "authorization: Bearer $TOKEN" -d '{}' | grep -q 'task 5'
curl -sf -XPOST "$BASE/mcp" -H "authorization: Bearer $TOKEN" -H "mcp-session-id: $SESSION" -H 'mcp-protocol-version: 2025-11-25' \
  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}}' | grep -q 'task 5'

declare -A URL
URL[rest]="$BASE/api/$USER_ID/tools/list_tasks"
URL[mcp]="$BASE/mcp"
for t in rest mcp; do wrk -t1 -c4 -d2s -s "$OUT/$t.lua" "${URL[$t]}" >/dev/null; done

: >"$OUT/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  for c in 1 16; do
    for t in rest mcp; do
      threads=$([ "$c" = 1 ] && echo 1 || echo 2)
      wrk -t"$threads" -c"$c" -d"${SECS}s" --latency -s "$OUT/$t.lua" "${URL[$t]}" >"$OUT/wrk-$t-$c-$r.txt"
      rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk-$t-$c-$r.txt")
      p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk-$t-$c-$r.txt")
      p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$t-$c-$r.txt")
      errors=$(awk '/Non-2xx|Socket errors/ {print}' "$OUT/wrk-$t-$c-$r.txt" | tr '\n' ' ')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$c" "$r" "$rps" "$p50" "$p99" "$errors" | tee -a "$OUT/results.tsv"
    done
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "median over $ROUNDS rounds of ${SECS}s (2 cores shared by wrk and the host)"
printf '%-6s %6s %10s %10s %10s\n' path conns "req/s" p50 p99
declare -A RPS
for c in 1 16; do
  for t in rest mcp; do
    RPS[$t-$c]=$(awk -v t="$t" -v c="$c" '$1==t && $2==c {print $4}' "$OUT/results.tsv" | median)
    p50=$(awk -v t="$t" -v c="$c" '$1==t && $2==c {print $5}' "$OUT/results.tsv" | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    p99=$(awk -v t="$t" -v c="$c" '$1==t && $2==c {print $6}' "$OUT/results.tsv" | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-6s %6s %10s %10s %10s\n' "$t" "$c" "${RPS[$t-$c]}" "$p50" "$p99"
  done
done
echo
for c in 1 16; do
  awk -v m="${RPS[mcp-$c]}" -v r="${RPS[rest-$c]}" -v c="$c" 'BEGIN {printf "mcp / rest req/s at %s connection(s): %.2f\n", c, m/r}'
done
