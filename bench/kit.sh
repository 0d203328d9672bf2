#!/usr/bin/env bash
# Component kit benchmark: components in Rust, Python (componentize-py) and
# JavaScript (componentize-js), in one run:
#
#   1. the newcomer's loop per language, timed step by step in a fresh scratch
#      project (laid out like host/tests/newcomer.rs: a checkout's SDKs, wit/,
#      scripts/ and components workspace, nothing else):
#        spaceport new word-count-XX --lang L --kind tool → spaceport build →
#        spaceport test (empty compile cache: cold Cranelift compile) →
#        spaceport test again (cache hit) → spaceport up until /health is 200 →
#        the first 200 from POST /api/{user}/tools/word_count_XX
#   2. steady state on the repository's app (SQLite), one host, interleaved rounds:
#        rust         POST /api/{user}/tools/list_tasks       (task-tools, Rust)
#        python       POST /api/{user}/tools/resolve_date     (dates, Python)
#        js           POST /api/{user}/tools/summarize_tasks  (task-stats, JavaScript)
#        rust-health  GET  /health                            (health, Rust, no auth: reference)
#      each in two modes: sequential (wrk -t1 -c1: mean latency, req/s) and
#      throughput (wrk -t2 -c16: req/s, p99, server CPU µs per request).
#   3. memory: the host's RSS (VmRSS, VmHWM) when ready with an empty compile
#      cache (it compiles the Python and JS components at start) and start→ready,
#      again after a restart on the filled cache, and after the load of step 2.
#
# Usage: bench/kit.sh [ROUNDS] [SECONDS]   (defaults 3 rounds × 5 s; also ROUNDS=, SECS= in the env)
# Env:   OUT (default target/bench-kit), LANGS (default "rust python js": the newcomer loops),
#        SKIP_NEWCOMER=1 / SKIP_STEADY=1 to skip part 1 / parts 2-3.
# Needs: target/release/spaceport and the app's components, built beforehand
#        (`cargo build --release -p spaceport`, then `./target/release/spaceport build`);
#        wrk (installed from apt if missing); python3 and node (the newcomer's
#        `spaceport build` installs the pinned componentize-py/-js on first use).
# Ports: 7891-7893 (newcomer hosts), 7895 (the app).
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE   # costs wasmtime hosts 20-25% throughput
ROUNDS=${1:-${ROUNDS:-3}}
SECS=${2:-${SECS:-5}}
OUT=${OUT:-target/bench-kit}
LANGS=${LANGS:-rust python js}
ROOT=$PWD
SP=$ROOT/target/release/spaceport
WASM=components/target/wasm32-wasip2/release

if [ ! -x "$SP" ]; then
  echo "target/release/spaceport is missing: build it first with" >&2
  echo "  cargo build --release -p spaceport && ./target/release/spaceport build" >&2
  exit 1
fi
missing=()
for f in "$WASM/health.wasm" "$WASM/task_tools.wasm" "$WASM/chat_agent.wasm" \
         components/target/python/dates.wasm components/target/js/task_stats.wasm; do
  [ -f "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "the app's components are missing (${missing[*]}): build them first with" >&2
  echo "  cargo build --release -p spaceport && ./target/release/spaceport build" >&2
  exit 1
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
. bench/lib.sh
need_wrk
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

JWT=bench-kit-secret-0123456789abcdef0123456789abcd   # 48 characters
TCK=$(getconf CLK_TCK)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b+0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a/b}'; }
# to_ms 385.00us|1.23ms|2.00s|1.00m → milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1
    printf "%.3f", n * f}'
}
# rss PID → "VmRSS VmHWM" in MB
rss() { awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {printf "%.1f %.1f", r/1024, h/1024}' "/proc/$1/status"; }
# wait_ready URL PID SECONDS: until URL answers 2xx; fails at once if PID exits.
wait_ready() {
  local deadline
  deadline=$(awk -v s="$3" -v n="$(now)" 'BEGIN {printf "%.0f", n + s}')
  while :; do
    curl -sf -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "the server (pid $2) exited before $1 answered" >&2; return 1; }
    [ "$(date +%s)" -ge "$deadline" ] && { echo "not up after $3 s: $1" >&2; return 1; }
    sleep 0.05
  done
}
# stop PID: end a server started with bg_start, and wait for it.
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# The "ready" log line of a host: "components=.. compiled=.. from_cache=.. ms=..".
ready_line() { grep -m1 ' ready' "$1" | grep -o 'components=.*' | sed 's/ *ready$//' || true; }

GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
TOOLCHAINS=${SPACEPORT_TOOLCHAINS:-$HOME/.cache/spaceport}
SUMMARY=()

# ---------------------------------------------------------------------------
# 1. The newcomer's loop per language.
# ---------------------------------------------------------------------------

# project DIR: a fresh project that has what a checkout gives a developer.
project() {
  local dir=$1
  mkdir -p "$dir/components/.cargo"
  for link in scripts wit components/sdk components/sdk-python components/target; do
    ln -s "$ROOT/$link" "$dir/$link"
  done
  # A copy: componentize-js builds in a sandbox that sees only the directory
  # holding the app and the SDK, and follows no link out of it.
  cp -r "$ROOT/components/sdk-js" "$dir/components/sdk-js"
  cp components/.cargo/config.toml "$dir/components/.cargo/config.toml"
  cp components/Cargo.lock "$dir/components/Cargo.lock"
  sed 's/^members *=.*$/members = ["sdk"]/' components/Cargo.toml >"$dir/components/Cargo.toml"
  cat >"$dir/spin-like.toml" <<TOML
spaceport_manifest_version = 1

[application]
name = "newcomer"

[[trigger.http]]
route = "/health"
component = "health"

[component.health]
source = "$ROOT/$WASM/health.wasm"
host_status = true
TOML
}

# step LOG CMD...: run CMD in the project (cwd $P), append its output to LOG; sets DT (seconds).
step() {
  local log=$1; shift
  local t0 rc=0
  t0=$(now)
  (cd "$P" && "$@") >>"$log" 2>&1 || rc=$?
  DT=$(secs "$t0" "$(now)")
  return $rc
}

declare -A NC   # NC[lang,column] = seconds (or FAIL)
newcomer() { # LANG SUFFIX PORT
  local lang=$1 suf=$2 port=$3
  local name=word-count-$suf snake=word_count_$suf
  P=$(mktemp -d "$OUT/newcomer-$lang.XXXXXX")
  project "$P"
  local log=$OUT/newcomer-$lang.log
  : >"$log"
  local total=0 col fail=""
  add() { NC[$lang,$1]=$DT; total=$(awk -v a="$total" -v b="$DT" 'BEGIN {printf "%.2f", a + b}'); }
  failed() { NC[$lang,$1]=FAIL; fail=$1; echo "newcomer $lang: $1 failed; the log ($log):" >&2; tail -n 30 "$log" >&2; }

  local toolchain=""
  case $lang in
    python) compgen -G "$TOOLCHAINS/componentize-py-*/.installed" >/dev/null || toolchain=" (installs componentize-py)" ;;
    js) compgen -G "$TOOLCHAINS/componentize-js-*/.installed" >/dev/null || toolchain=" (installs componentize-js)" ;;
  esac
  NC[$lang,note]=$toolchain

  echo "## new" >>"$log"
  if step "$log" "$SP" new "$name" --lang "$lang" --kind tool; then add new; else failed new; fi
  if [ -z "$fail" ]; then
    echo "## build" >>"$log"
    if step "$log" "$SP" build "$name"; then add build; else failed build; fi
  fi
  for col in test_cold test_cached; do
    [ -n "$fail" ] && break
    echo "## $col" >>"$log"
    if step "$log" "$SP" test "$name" --cache-dir "$P/cache" \
       && tail -n 3 "$log" | grep -q ' passed, 0 failed' && ! tail -n 3 "$log" | grep -q '^0 passed'; then
      add "$col"
    else
      failed "$col"
    fi
  done
  if [ -z "$fail" ]; then
    echo "## up" >>"$log"
    local t0 pid
    t0=$(now)
    cd "$P"
    bg_start "$OUT/newcomer-$lang-up.log" env SPACEPORT_CACHE_DIR="$P/cache" SPACEPORT_DATA_DIR="$P/data" \
      SPACEPORT_WATCH=false LOG_LEVEL=warn SPACEPORT_AUTH_RATE_PER_MINUTE=1000 JWT_SECRET_KEY="$JWT" \
      "$SP" up --listen "127.0.0.1:$port"
    pid=$BG_PID
    cd "$ROOT"
    if wait_ready "http://127.0.0.1:$port/health" "$pid" 300; then
      DT=$(secs "$t0" "$(now)"); add up
      local base=http://127.0.0.1:$port body="" code=000
      login "$base" "newcomer-$lang@bench.test"
      t0=$(now)
      for _ in $(seq 1 600); do
        code=$(curl -s -o "$OUT/newcomer-$lang-answer.json" -w '%{http_code}' -XPOST "$base/api/$USER_ID/tools/$snake" \
          -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"text":"buy milk and eggs"}' || true)
        [ "$code" = 200 ] && break
        sleep 0.05
      done
      DT=$(secs "$t0" "$(now)")
      body=$(cat "$OUT/newcomer-$lang-answer.json" 2>/dev/null || true)
      echo "POST /api/{user}/tools/$snake → $code $body" >>"$log"
      if [ "$code" = 200 ]; then
        add first
        python3 -c 'import sys,json; r=json.load(sys.stdin).get("result"); sys.exit(r != {"words": 4, "characters": 17})' <<<"$body" \
          || echo "note: newcomer $lang answered 200 with an unexpected body: $body" >&2
      else
        failed first
        echo "last answer: $code $body" >&2
      fi
    else
      failed up
      tail -n 20 "$OUT/newcomer-$lang-up.log" >&2
    fi
    stop "$pid"
  fi
  NC[$lang,total]=$total
  [ -n "$fail" ] && NC[$lang,total]="FAIL($fail)"
  return 0
}

if [ -z "${SKIP_NEWCOMER:-}" ]; then
  echo "== 1. newcomer loop (scratch projects under $OUT)"
  rm -rf "$OUT"/newcomer-*   # the previous run's projects
  port=7891
  for lang in $LANGS; do
    case $lang in rust) suf=rs ;; python) suf=py ;; js) suf=js ;; *) echo "unknown language $lang" >&2; exit 2 ;; esac
    echo "-- $lang ..."
    newcomer "$lang" "$suf" "$port"
    port=$((port + 1))
  done
  echo
  echo "newcomer loop, seconds (test(cold): empty compile cache; first answer: the tool call after login)"
  hdr=$(printf '%-8s %7s %7s %11s %13s %10s %13s %8s' language new build "test(cold)" "test(cached)" "up→ready" "first answer" total)
  echo "$hdr"
  SUMMARY+=("newcomer loop (s):" "  $hdr")
  for lang in $LANGS; do
    row=$(printf '%-8s %7s %7s %11s %13s %10s %13s %8s' "$lang" "${NC[$lang,new]:--}" "${NC[$lang,build]:--}" \
      "${NC[$lang,test_cold]:--}" "${NC[$lang,test_cached]:--}" "${NC[$lang,up]:--}" "${NC[$lang,first]:--}" "${NC[$lang,total]:--}")
    echo "$row${NC[$lang,note]}"
    SUMMARY+=("  $row${NC[$lang,note]}")
  done
  echo
fi

# ---------------------------------------------------------------------------
# 2 + 3. Steady state and memory on the repository's app.
# ---------------------------------------------------------------------------
if [ -z "${SKIP_STEADY:-}" ]; then
  echo "== 2/3. the app (spin-like.toml, SQLite), one host on 127.0.0.1:7895"
  sed "s|= \"components/|= \"$ROOT/components/|; s|= \"migrations/|= \"$ROOT/migrations/|" \
    spin-like.toml >"$OUT/app.toml"
  B=http://127.0.0.1:7895
  rm -rf "$OUT/cache" "$OUT/data"
  start_app() { # LOG: start the app host; sets APP_PID, APP_READY (s), APP_RSS ("rss hwm")
    local t0
    t0=$(now)
    bg_start "$1" env -u DATABASE_URL SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false \
      RUST_LOG="warn,spaceport::cli::serve=info" SPACEPORT_AUTH_RATE_PER_MINUTE=1000 JWT_SECRET_KEY="$JWT" \
      "$SP" up --manifest "$OUT/app.toml" --listen 127.0.0.1:7895
    APP_PID=$BG_PID
    wait_ready "$B/health" "$APP_PID" 600 || { tail -n 30 "$1" >&2; exit 1; }
    APP_READY=$(secs "$t0" "$(now)")
    APP_RSS=$(rss "$APP_PID")
  }
  start_app "$OUT/app-cold.log"
  COLD_READY=$APP_READY COLD_RSS=$APP_RSS COLD_LINE=$(ready_line "$OUT/app-cold.log")
  stop "$APP_PID"
  start_app "$OUT/app-warm.log"
  WARM_READY=$APP_READY WARM_RSS=$APP_RSS WARM_LINE=$(ready_line "$OUT/app-warm.log")
  echo "empty cache:  start→ready ${COLD_READY} s, RSS/HWM ${COLD_RSS// / / } MB  (${COLD_LINE:-no ready line})"
  echo "filled cache: start→ready ${WARM_READY} s, RSS/HWM ${WARM_RSS// / / } MB  (${WARM_LINE:-no ready line})"

  login "$B" kit@bench.test
  for t in "buy milk" "call the dentist" "file the tax return" "water the plants" "book train tickets"; do
    curl -sf -XPOST "$B/api/$USER_ID/tasks" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
      -d "{\"title\":\"$t\"}" >/dev/null
  done
  declare -A URLS SCRIPT BODY
  URLS[rust]="$B/api/$USER_ID/tools/list_tasks";            BODY[rust]='{}'
  URLS[python]="$B/api/$USER_ID/tools/resolve_date";        BODY[python]='{"text":"next Friday at 5"}'
  URLS[js]="$B/api/$USER_ID/tools/summarize_tasks";         BODY[js]='{}'
  URLS[rust-health]="$B/health"
  targets=(rust python js rust-health)
  for t in rust python js; do
    SCRIPT[$t]=$OUT/$t.lua
    cat >"${SCRIPT[$t]}" <<LUA
wrk.method = "POST"
wrk.body = '${BODY[$t]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
    # One call first: it must answer 200 (else the figures would be of errors).
    code=$(curl -s -o "$OUT/check-$t.json" -w '%{http_code}' -XPOST "${URLS[$t]}" -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' -d "${BODY[$t]}" || true)
    if [ "$code" != 200 ]; then
      echo "$t: POST ${URLS[$t]#$B} answered $code: $(head -c 500 "$OUT/check-$t.json")" >&2
      exit 1
    fi
    echo "$t: $(head -c 160 "$OUT/check-$t.json")"
  done
  run_wrk() { # TARGET THREADS CONNS SECONDS
    local t=$1
    if [ -n "${SCRIPT[$t]:-}" ]; then
      wrk -t"$2" -c"$3" -d"$4s" --latency -s "${SCRIPT[$t]}" "${URLS[$t]}"
    else
      wrk -t"$2" -c"$3" -d"$4s" --latency "${URLS[$t]}"
    fi
  }
  for t in "${targets[@]}"; do run_wrk "$t" 2 16 2 >/dev/null; done   # warm up (instances, connections)

  : >"$OUT/results.tsv"
  BAD=()
  for r in $(seq 1 "$ROUNDS"); do
    for t in "${targets[@]}"; do
      for mode in seq tput; do
        f=$OUT/wrk-$t-$mode-$r.txt
        before=$(cpu_ticks "$APP_PID")
        if [ $mode = seq ]; then run_wrk "$t" 1 1 "$SECS" >"$f"; else run_wrk "$t" 2 16 "$SECS" >"$f"; fi
        after=$(cpu_ticks "$APP_PID")
        rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
        total=$(awk '/requests in/ {print $1}' "$f")
        mean=$(to_ms "$(awk '$1=="Latency" {print $2; exit}' "$f")")
        p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$f")")
        cpu=$(awk -v a="$before" -v b="$after" -v n="$total" -v t="$TCK" 'BEGIN {printf "%.1f", n ? (b-a)/t*1e6/n : 0}')
        errors=$(awk '/Non-2xx|Socket errors/' "$f" | tr -s ' \n' ' ')
        [ -n "$errors" ] && BAD+=("$t $mode round $r: $errors")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$mode" "$r" "$rps" "$mean" "$p99" "$cpu" "$errors" | tee -a "$OUT/results.tsv"
      done
    done
  done
  LOAD_RSS=$(rss "$APP_PID")
  stop "$APP_PID"

  med() { awk -v t="$1" -v m="$2" -v c="$3" -F'\t' '$1==t && $2==m {print $c}' "$OUT/results.tsv" | median; }
  declare -A SEQ_MS SEQ_RPS TP_RPS TP_P99 TP_CPU
  for t in "${targets[@]}"; do
    SEQ_MS[$t]=$(med "$t" seq 5); SEQ_RPS[$t]=$(med "$t" seq 4)
    TP_RPS[$t]=$(med "$t" tput 4); TP_P99[$t]=$(med "$t" tput 6); TP_CPU[$t]=$(med "$t" tput 7)
  done
  echo
  echo "steady state, median over $ROUNDS rounds of ${SECS}s; sequential = wrk -t1 -c1, throughput = wrk -t2 -c16"
  echo "(2-core machine shared by wrk and the server; cpu = the server's user+system CPU per request)"
  hdr=$(printf '%-12s %12s %10s | %10s %10s %12s' target "seq mean ms" "seq req/s" "req/s" "p99 ms" "cpu µs/req")
  echo "$hdr"
  STEADY=("  $hdr")
  for t in "${targets[@]}"; do
    row=$(printf '%-12s %12s %10s | %10s %10s %12s' "$t" "${SEQ_MS[$t]}" "${SEQ_RPS[$t]}" "${TP_RPS[$t]}" "${TP_P99[$t]}" "${TP_CPU[$t]}")
    echo "$row"; STEADY+=("  $row")
  done
  echo
  RATIOS=()
  for l in python js; do
    line=$(printf '%-6s/rust: seq latency %5sx, throughput req/s %5sx, cpu/req %5sx' "$l" \
      "$(ratio "${SEQ_MS[$l]}" "${SEQ_MS[rust]}")" "$(ratio "${TP_RPS[$l]}" "${TP_RPS[rust]}")" "$(ratio "${TP_CPU[$l]}" "${TP_CPU[rust]}")")
    echo "$line"; RATIOS+=("  $line")
  done
  line=$(printf 'rust/rust-health: seq latency %5sx, throughput req/s %5sx, cpu/req %5sx' \
    "$(ratio "${SEQ_MS[rust]}" "${SEQ_MS[rust-health]}")" "$(ratio "${TP_RPS[rust]}" "${TP_RPS[rust-health]}")" \
    "$(ratio "${TP_CPU[rust]}" "${TP_CPU[rust-health]}")")
  echo "$line"; RATIOS+=("  $line")
  if [ ${#BAD[@]} -gt 0 ]; then
    echo; echo "ERRORS reported by wrk:"; printf '  %s\n' "${BAD[@]}"
  else
    echo "wrk: no non-2xx answers, no socket errors"
  fi
  echo
  echo "memory of the app host (MB):"
  MEM=(
    "$(printf '  %-34s RSS %7s  HWM %7s  start→ready %6s s' "ready, empty compile cache" ${COLD_RSS% *} ${COLD_RSS#* } "$COLD_READY")"
    "$(printf '  %-34s RSS %7s  HWM %7s  start→ready %6s s' "ready, filled compile cache" ${WARM_RSS% *} ${WARM_RSS#* } "$WARM_READY")"
    "$(printf '  %-34s RSS %7s  HWM %7s' "after the load above" ${LOAD_RSS% *} ${LOAD_RSS#* })"
  )
  printf '%s\n' "${MEM[@]}"
  echo "  ready lines: empty cache: ${COLD_LINE:--}; filled: ${WARM_LINE:--}"
  SUMMARY+=("steady state (medians, $ROUNDS×${SECS}s; seq = wrk -t1 -c1, req/s/p99/cpu = wrk -t2 -c16):" "${STEADY[@]}" "${RATIOS[@]}")
  [ ${#BAD[@]} -gt 0 ] && SUMMARY+=("  wrk errors: ${#BAD[@]} runs had non-2xx/socket errors (see above)")
  SUMMARY+=("app host memory (MB; app = health, task-tools, chat-agent, dates (Python), task-stats (JS)):" "${MEM[@]}")
fi

echo
echo "==================== summary (bench/kit.sh, $(date -u +%Y-%m-%d), rev $GIT_REV, $(nproc) cores) ===================="
printf '%s\n' "${SUMMARY[@]}"
echo "(absolute figures are noisy on a shared 2-core machine; ratios within the run are what compare)"
