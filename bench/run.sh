#!/usr/bin/env bash
# HTTP benchmark, one load tool (wrk), interleaved rounds in one run:
#   native      bench/native-ok: hyper + tokio answering "ok", no wasm (the physical baseline)
#   sp-ok       Spaceport serving components/test-fixtures/ok (plain wasi:http "ok")
#   sp-health   Spaceport serving GET /health (the health component: host-status call + JSON)
#   wt-ok       `wasmtime serve` (the peer, same wasmtime version) serving the same ok.wasm
#   sp-ok-nometrics  the same as sp-ok with SPACEPORT_METRICS=false: the cost of /metrics'
#               bookkeeping per request (cpu µs/req difference; issue 13's target: ≤ 2 µs)
# Reports requests/s, p99 and server CPU µs per request (median over rounds), the
# ratios, and the in-process instantiate / request figures.
#
#   before-*    with BEFORE=path/to/an/older/spaceport: that build, same components, same run
#               (a before/after comparison of a host change, interleaved with everything else)
#
# Usage: bench/run.sh [ROUNDS] [SECONDS]   (defaults 3 rounds × 10 s)
# Needs: wrk (installed from apt if missing) and the peer, wasmtime-cli 48.0.8 (the same wasmtime
# as the host), on PATH or in /opt/wasmtime-48/bin: installed there with cargo if missing (~20 min
# once on 2 cores). SKIP_PEER=1 skips the peer instead.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE   # costs wasmtime hosts 20-25% throughput
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${CONNS:-64}
OUT=${OUT:-target/bench}
mkdir -p "$OUT"

. bench/lib.sh
need_wrk
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked -p spaceport -p native-ok -p inproc
(cd components && cargo build --release --locked -p ok -p health)
WASM=components/target/wasm32-wasip2/release
WASMTIME=$(command -v wasmtime || echo /opt/wasmtime-48/bin/wasmtime)
if [ ! -x "$WASMTIME" ] && [ -z "${SKIP_PEER:-}" ]; then
  echo "installing the peer: wasmtime-cli 48.0.8 into /opt/wasmtime-48 (once, ~20 min)" >&2
  cargo install wasmtime-cli --version 48.0.8 --locked --root /opt/wasmtime-48 >&2
fi

cat > "$OUT/bench.toml" <<TOML
spaceport_manifest_version = 1
[application]
name = "bench"
version = "1.0.0"
[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/ok"
component = "ok"
[component.health]
source = "$PWD/$WASM/health.wasm"
host_status = true
[component.ok]
source = "$PWD/$WASM/ok.wasm"
TOML

bg_start "$OUT/native.log" ./target/release/native-ok 127.0.0.1:7870; NATIVE_PID=$BG_PID
bg_start "$OUT/spaceport.log" env SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false LOG_LEVEL=warn \
  ./target/release/spaceport up --manifest "$OUT/bench.toml" --listen 127.0.0.1:7871; SP_PID=$BG_PID
bg_start "$OUT/spaceport-nometrics.log" env SPACEPORT_METRICS=false SPACEPORT_DATA_DIR="$OUT/data-nm" SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false LOG_LEVEL=warn \
  ./target/release/spaceport up --manifest "$OUT/bench.toml" --listen 127.0.0.1:7875; NM_PID=$BG_PID
BEFORE_PID=""
if [ -n "${BEFORE:-}" ]; then
  # Builds before grants existed refuse the grant keys: drop them for such a build only.
  if "$BEFORE" check --manifest "$OUT/bench.toml" >/dev/null 2>&1; then
    cp "$OUT/bench.toml" "$OUT/bench-before.toml"
  else
    grep -v '^host_status = ' "$OUT/bench.toml" >"$OUT/bench-before.toml"
  fi
  bg_start "$OUT/before.log" env SPACEPORT_DATA_DIR="$OUT/data-before" SPACEPORT_CACHE_DIR="$OUT/cache-before" SPACEPORT_WATCH=false LOG_LEVEL=warn \
    "$BEFORE" up --manifest "$OUT/bench-before.toml" --listen 127.0.0.1:7874; BEFORE_PID=$BG_PID
fi
WT_PID=""
if [ -x "$WASMTIME" ]; then
  bg_start "$OUT/wasmtime.log" "$WASMTIME" serve -S cli=y --addr 127.0.0.1:7872 "$WASM/ok.wasm"; WT_PID=$BG_PID
else
  echo "note: wasmtime not found; the peer (wt-ok) is skipped" >&2
fi

wait_up http://127.0.0.1:7870/
wait_up http://127.0.0.1:7871/health
wait_up http://127.0.0.1:7875/health
[ -n "$WT_PID" ] && wait_up http://127.0.0.1:7872/
[ -n "$BEFORE_PID" ] && wait_up http://127.0.0.1:7874/health

TCK=$(getconf CLK_TCK)

declare -A URL PID
URL[native]=http://127.0.0.1:7870/;      PID[native]=$NATIVE_PID
URL[sp-ok]=http://127.0.0.1:7871/ok;     PID[sp-ok]=$SP_PID
URL[sp-health]=http://127.0.0.1:7871/health; PID[sp-health]=$SP_PID
targets=(native sp-ok sp-health sp-ok-nometrics)
URL[sp-ok-nometrics]=http://127.0.0.1:7875/ok; PID[sp-ok-nometrics]=$NM_PID
if [ -n "$WT_PID" ]; then URL[wt-ok]=http://127.0.0.1:7872/; PID[wt-ok]=$WT_PID; targets+=(wt-ok); fi
if [ -n "$BEFORE_PID" ]; then
  URL[before-ok]=http://127.0.0.1:7874/ok;         PID[before-ok]=$BEFORE_PID
  URL[before-health]=http://127.0.0.1:7874/health; PID[before-health]=$BEFORE_PID
  targets+=(before-ok before-health)
fi

# Warm up every target (pool slots, page cache, connection setup).
for t in "${targets[@]}"; do wrk -t2 -c"$CONNS" -d2s "${URL[$t]}" >/dev/null; done

: >"$OUT/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  for t in "${targets[@]}"; do
    before=$(cpu_ticks "${PID[$t]}")
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "${URL[$t]}" >"$OUT/wrk-$t-$r.txt"
    after=$(cpu_ticks "${PID[$t]}")
    rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk-$t-$r.txt")
    total=$(awk '/requests in/ {print $1}' "$OUT/wrk-$t-$r.txt")
    p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$t-$r.txt")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' "$OUT/wrk-$t-$r.txt" | tr '\n' ' ')
    cpu_us=$(awk -v a="$before" -v b="$after" -v n="$total" -v t="$TCK" 'BEGIN {printf "%.1f", (b-a)/t*1e6/n}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$rps" "$p99" "$cpu_us" "$errors" | tee -a "$OUT/results.tsv"
  done
done

echo
echo "median over $ROUNDS rounds of ${SECS}s, wrk -t2 -c$CONNS, 2-core machine shared by wrk and the server"
printf '%-14s %12s %10s %14s\n' target "req/s" p99 "cpu µs/req"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RPS CPU
for t in "${targets[@]}"; do
  RPS[$t]=$(awk -v t="$t" '$1==t {print $3}' "$OUT/results.tsv" | median)
  CPU[$t]=$(awk -v t="$t" '$1==t {print $5}' "$OUT/results.tsv" | median)
  p99=$(awk -v t="$t" '$1==t {print $4}' "$OUT/results.tsv" | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-14s %12s %10s %14s\n' "$t" "${RPS[$t]}" "$p99" "${CPU[$t]}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo "sp-ok / native req/s:      $(ratio "${RPS[sp-ok]}" "${RPS[native]}")"
echo "sp-health / native req/s:  $(ratio "${RPS[sp-health]}" "${RPS[native]}")"
echo "metrics on / off req/s:    $(ratio "${RPS[sp-ok]}" "${RPS[sp-ok-nometrics]}")  (cpu µs/req ${CPU[sp-ok]} vs ${CPU[sp-ok-nometrics]}: $(awk -v a="${CPU[sp-ok]}" -v b="${CPU[sp-ok-nometrics]}" 'BEGIN {printf "%+.1f", a-b}') µs for metrics)"
if [ -n "$WT_PID" ]; then
  echo "sp-ok / wt-ok req/s:       $(ratio "${RPS[sp-ok]}" "${RPS[wt-ok]}")"
  echo "sp-health / wt-ok req/s:   $(ratio "${RPS[sp-health]}" "${RPS[wt-ok]}")"
fi
if [ -n "$BEFORE_PID" ]; then
  echo "sp-ok / before-ok req/s:         $(ratio "${RPS[sp-ok]}" "${RPS[before-ok]}")  (cpu µs/req ${CPU[sp-ok]} vs ${CPU[before-ok]})"
  echo "sp-health / before-health req/s: $(ratio "${RPS[sp-health]}" "${RPS[before-health]}")  (cpu µs/req ${CPU[sp-health]} vs ${CPU[before-health]})"
fi
echo
echo "in-process (one thread, pooling allocator):"
./target/release/inproc "$WASM/ok.wasm" 20000 | sed 's/^/  ok:     /'
./target/release/inproc "$WASM/health.wasm" 20000 | sed 's/^/  health: /'
