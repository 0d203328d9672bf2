#!/usr/bin/env bash
# Chat benchmark: one agent turn = user message stored, 50-message history
# replayed to the model, one tool call (list_tasks in a fresh task-tools
# instance), the tool result fed back, the answer stored. The model is
# bench/llm-double, answering instantly on loopback, so the time measured is
# the host's and the components' (plus the double's few µs).
# Reports the mean latency of sequential turns and requests/s under wrk -c8.
# With STREAM=1, the turn is streamed instead (`/chat/stream`, server-sent
# events): no tool call (the double streams none), five tokens 1 ms apart,
# the answer stored; RELAY=0 makes chat-agent stream in its instance instead of
# relaying through the host (one instance per turn instead of two).
#
# Usage: bench/chat.sh [TURNS] [SECONDS]   (defaults 200 turns, 10 s)
#   env: SPACEPORT_BIN (target/release/spaceport: e.g. an older build, to compare),
#        LLM_HTTP2 (auto: HTTP/1.1 to the double; prior-knowledge: HTTP/2),
#        STREAM (0), RELAY (1)
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
TURNS=${1:-200}
SECS=${2:-10}
OUT=${OUT:-target/bench-chat}
rm -rf "$OUT" && mkdir -p "$OUT"
. bench/lib.sh
need_wrk
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked -p spaceport -p llm-double
(cd components && cargo build --release --locked -p chat-agent -p task-tools -p health)

STREAM=${STREAM:-0}
RELAY=${RELAY:-1}
if [ "$RELAY" = 1 ]; then relay_var=true; else relay_var=false; fi
bg_start "$OUT/double.log" env LLM_DOUBLE_STREAM_INTERVAL_MS=1 LLM_DOUBLE_STREAM_CHUNKS=5 \
  ./target/release/llm-double 127.0.0.1:7890
sed -e "s|= \"components/|= \"$PWD/components/|" -e "s|= \"migrations/|= \"$PWD/migrations/|" \
    -e "s|^max_turns = \"8\"|max_turns = \"8\"\nhistory_limit = \"50\"\nrelay = \"$relay_var\"|" spin-like.toml >"$OUT/bench.toml"
grep -q "^relay = \"$relay_var\"\$" "$OUT/bench.toml" || { echo "could not set chat-agent's relay variable" >&2; exit 1; }
bg_start "$OUT/spaceport.log" env SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_WATCH=false LOG_LEVEL=warn \
  SPACEPORT_AUTH_RATE_PER_MINUTE=1000 SPACEPORT_LLM_RATE_PER_MINUTE=1000000 SPACEPORT_LLM_CONCURRENT_PER_USER=1000 OPENAI_API_KEY=bench-key OPENAI_BASE_URL=http://127.0.0.1:7890/v1 \
  JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789 \
  "${SPACEPORT_BIN:-./target/release/spaceport}" up --manifest "$OUT/bench.toml" --listen 127.0.0.1:7891
SP_PID=$BG_PID
wait_up http://127.0.0.1:7891/health

B=http://127.0.0.1:7891
login "$B" bench@chat.test
USER=$USER_ID
for i in 1 2 3; do curl -sf -XPOST "$B/api/$USER/tasks" -H "authorization: Bearer $TOKEN" -d "{\"title\":\"task $i\"}" >/dev/null; done
# 13 turns × 4 messages → more than 50 stored; every later turn replays exactly 50.
CONV=$(curl -sf -XPOST "$B/api/$USER/chat" -H "authorization: Bearer $TOKEN" -d '{"message":"what is pending?"}' \
  | python3 -c 'import sys,json;print(json.load(sys.stdin)["conversation_id"])')
for i in $(seq 1 12); do
  curl -sf -XPOST "$B/api/$USER/chat" -H "authorization: Bearer $TOKEN" -d "{\"message\":\"again $i\",\"conversation_id\":$CONV}" >/dev/null
done

ROUTE=chat
[ "$STREAM" = 1 ] && ROUTE=chat/stream
python3 - "$B" "$USER" "$TOKEN" "$CONV" "$TURNS" "$ROUTE" <<'PY'
import json, sys, time, urllib.request
base, user, token, conv, turns, route = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
def turn(i):
    req = urllib.request.Request(f"{base}/api/{user}/{route}", method="POST",
        data=json.dumps({"message": f"turn {i}", "conversation_id": conv}).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        if route == "chat":
            body = json.load(r)
            assert body["tool_calls"][0]["tool"] == "list_tasks", body
        else:
            events = [json.loads(l[6:]) for l in r.read().decode().split("\n\n") if l.startswith("data: ")]
            assert events[-1]["type"] == "done" and events[-1]["message"] == "word " * 5, events[-1]
for i in range(20): turn(i)
times = []
for i in range(turns):
    t = time.perf_counter(); turn(i); times.append(time.perf_counter() - t)
times.sort()
print(f"sequential turns: {turns}, mean {sum(times)/len(times)*1000:.2f} ms, "
      f"p50 {times[len(times)//2]*1000:.2f} ms, p99 {times[int(len(times)*0.99)-1]*1000:.2f} ms (client: python urllib)")
PY
cat >"$OUT/chat.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"message":"what is pending?","conversation_id":$CONV}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
before=$(cpu_ticks "$SP_PID")
wrk -t2 -c8 -d"${SECS}s" --latency -s "$OUT/chat.lua" "$B/api/$USER/$ROUTE" | tee "$OUT/wrk.txt" | grep -E 'Requests/sec|Latency|99%|Non-2xx'
after=$(cpu_ticks "$SP_PID")
total=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
awk -v a="$before" -v b="$after" -v n="$total" -v t="$(getconf CLK_TCK)" \
  'BEGIN {printf "host + components CPU per turn (under load, incl. SQLite): %.2f ms\n", (b-a)/t*1000/n}'
