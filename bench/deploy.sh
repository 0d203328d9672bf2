#!/usr/bin/env bash
# Deploy benchmark: the admin API's `PUT /admin/components/{id}` into a running host, in one run:
#   1. upload → serving, per language: a host serving `rust` (health.wasm, at GET /health),
#      `py` (dates.wasm, componentize-py) and `js` (task_stats.wasm, componentize-js); each
#      round uploads a fresh variant of each (new bytes: a real compile, no cache hit) and
#      records the PUT's wall time (client side) and the answer's compile_ms and swap_ms,
#      on an idle host and again while wrk -t2 -c16 loads GET /health (rounds interleaved).
#   2. failed requests during deploys: wrk -t2 -c16 on GET /health (served by `rust`) for
#      the duration of DEPLOYS back-to-back deploys of fresh variants of `rust`: total
#      requests, non-2xx, socket errors (target 0), p99/max latency against the same wrk
#      without deploys just before, and the deploy times.
#   3. replica convergence on PostgreSQL: two hosts on a fresh database (same secrets, own
#      data and cache directories), a fresh `rust` variant PUT to host A, host B's
#      GET /admin/components polled every 10 ms until `rust` serves the new hash: time
#      from the start of the PUT; with SPACEPORT_DEPLOY_POLL_MS=1000 (default) and 200, and
#      60000 (B can follow within seconds only if A's PostgreSQL NOTIFY wakes it; a sample
#      that waits more than 10 s counts as "did not follow").
#      Skipped with a note when PostgreSQL does not answer.
# Fresh variants: the component's bytes + a custom section (id 0) named "bench" with a
# random 16-byte payload, so each upload is new bytes (the compile cache is keyed by hash).
#
# Usage: bench/deploy.sh [N] [DEPLOYS] [REPLICA_N]   (defaults 3 rounds, 10 deploys, 5 convergences)
# Env:   OUT (default target/bench-deploy), BENCH_DATABASE_URL (an admin URL of a PostgreSQL
#        server, default the local one, trust auth), SKIP_REPLICAS=1, KEEP=1 (keep the
#        variants, host data and compile caches: ~1 GB; logs and results are always kept).
# Needs: target/release/spaceport and the components, built beforehand (this script builds
#        nothing): components/target/wasm32-wasip2/release/health.wasm,
#        components/target/python/dates.wasm, components/target/js/task_stats.wasm;
#        wrk (installed from apt if missing), python3, psql (part 3).
# Ports: 7901 (parts 1-2), 7902-7907 (part 3).
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE RUST_LOG DATABASE_URL   # RUST_BACKTRACE costs wasmtime hosts 20-25%
N=${1:-3}
DEPLOYS=${2:-10}
REPLICA_N=${3:-5}
OUT=${OUT:-target/bench-deploy}
ADMIN=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SP=$PWD/target/release/spaceport
W=$PWD/components/target
declare -A SRC=(
  [rust]=$W/wasm32-wasip2/release/health.wasm
  [py]=$W/python/dates.wasm
  [js]=$W/js/task_stats.wasm
)
LANGS=(rust py js)
for f in "$SP" "${SRC[@]}"; do
  [ -f "$f" ] || { echo "missing $f: build it first (this script builds nothing)" >&2; exit 1; }
done
. bench/lib.sh
need_wrk

# The secrets every host here shares.
export SPACEPORT_ADMIN_TOKEN=bench-admin-token-0123456789abcdef0123456789abcdef
export JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789abcdef
# Deploy logs ("deployment applied", "component loaded") without a line per request.
HOST_LOG="warn,spaceport::app=info"

rm -rf "$OUT/variants" "$OUT"/data* "$OUT"/cache*
mkdir -p "$OUT/variants"
: >"$OUT/results.tsv"

DB=spaceport_bench_deploy
DB_MADE=""
cleanup() {
  bg_stop
  for p in "${BG_PIDS[@]}"; do   # let the hosts exit before the database goes
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  if [ -n "$DB_MADE" ]; then psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; fi
  if [ -z "${KEEP:-}" ]; then rm -rf "$OUT/variants" "$OUT"/data* "$OUT"/cache*; fi
}
trap cleanup EXIT

# The client: fresh variants, timed PUTs, convergence on a second host.
cat >"$OUT/client.py" <<'PY'
import hashlib, json, os, sys, threading, time, urllib.error, urllib.request

AUTH = {"Authorization": "Bearer " + os.environ["SPACEPORT_ADMIN_TOKEN"]}

def leb128(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

def variant(src, dst):
    """src + a custom section (id 0): size, name "bench", 16 random bytes."""
    name = b"bench"
    content = leb128(len(name)) + name + os.urandom(16)
    data = open(src, "rb").read() + b"\x00" + leb128(len(content)) + content
    open(dst, "wb").write(data)

def put(base, cid, data):
    req = urllib.request.Request(f"{base}/admin/components/{cid}", data=data, method="PUT",
                                 headers={**AUTH, "Content-Type": "application/wasm"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    wall = (time.perf_counter() - t0) * 1000
    if status != 200:
        sys.exit(f"PUT {base}/admin/components/{cid}: {status} {body[:500]!r}")
    answer = json.loads(body)
    want = hashlib.sha256(data).hexdigest()
    if answer.get("version") != want or answer.get("action") != "deploy":
        sys.exit(f"PUT {cid}: answered {answer}, expected version {want}")
    return wall, answer

def serving(base, cid):
    req = urllib.request.Request(f"{base}/admin/components", headers=AUTH)
    with urllib.request.urlopen(req, timeout=10) as r:
        for c in json.load(r)["components"]:
            if c["component"] == cid:
                return c["version"]

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "variant":      # SRC DST
        variant(*args)
    elif cmd == "put":        # BASE ID FILE... → per file: wall_ms compile_ms swap_ms (back to back)
        base, cid, *paths = args
        for data in [open(p, "rb").read() for p in paths]:
            wall, a = put(base, cid, data)
            print(f"{wall:.0f}\t{a['compile_ms']}\t{a['swap_ms']}", flush=True)
    elif cmd == "converge":   # A B ID FILE [LIMIT_S] → converge_ms (NA past LIMIT_S) put_wall_ms compile_ms swap_ms
        a_base, b_base, cid, path, *limit = args
        limit = float(limit[0]) if limit else 120.0
        data = open(path, "rb").read()
        want = hashlib.sha256(data).hexdigest()
        if serving(b_base, cid) == want:
            sys.exit("B already serves the variant")
        done = {}
        def go():
            try:
                done["put"] = put(a_base, cid, data)
            except SystemExit as e:
                done["error"] = str(e)
        t0 = time.perf_counter()
        th = threading.Thread(target=go)
        th.start()
        while True:
            try:
                v = serving(b_base, cid)
            except Exception:
                v = None
            if v == want:
                converged = (time.perf_counter() - t0) * 1000
                break
            if "error" in done:
                sys.exit(done["error"])
            if time.perf_counter() - t0 > limit:
                converged = None
                break
            time.sleep(0.01)
        th.join()
        if "error" in done:
            sys.exit(done["error"])
        wall, a = done["put"]
        shown = "NA" if converged is None else f"{converged:.0f}"
        print(f"{shown}\t{wall:.0f}\t{a['compile_ms']}\t{a['swap_ms']}")
    else:
        sys.exit(f"unknown command {cmd}")

main()
PY
PYTHON=$(python3 -c 'import sys; print(sys.executable)')   # not a pyenv shim: it starts faster
client() { "$PYTHON" "$OUT/client.py" "$@"; }
fresh() { # LANG → path of a new variant of its component
  local f
  f=$(mktemp "$OUT/variants/$1-XXXXXX.wasm")
  client variant "${SRC[$1]}" "$f"
  echo "$f"
}
wait_ready() { # URL SECONDS: until URL answers 2xx (a cold start compiles py and js)
  for _ in $(seq 1 $(($2 * 10))); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "not ready after $2 s: $1" >&2; return 1
}
now_ms() { date +%s%3N; }
mmm() { # numbers on stdin → "median (min-max)"; lower median for an even count
  { grep -E '^-?[0-9.]+$' || true; } | sort -n | awk '{a[NR]=$1} END {if (!NR) {print "-"; exit}; printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'
}
median() { sort -n | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "-"}'; }
col() { # PART COND LANG COLUMN: that column of the matching rows of results.tsv
  awk -F'\t' -v p="$1" -v c="$2" -v l="$3" -v k="$4" '$1==p && $2==c && $3==l {print $k}' "$OUT/results.tsv"
}
wrk_start() { # LOG URL: wrk -t2 -c16 in the background until wrk_stop
  bg_start "$1" wrk -t2 -c16 -d600s --latency "$2"; WRK_PID=$BG_PID
}
wrk_stop() { # SIGINT: wrk stops and prints its summary
  kill -INT "$WRK_PID"; wait "$WRK_PID" || true
}
wrk_field() { # LOG FIELD
  case $2 in
    requests) awk '/requests in/ {print $1}' "$1" ;;
    rps) awk '/^Requests\/sec/ {print $2}' "$1" ;;
    non2xx) awk '/Non-2xx/ {n=$NF} END {print n+0}' "$1" ;;
    sockerr) awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10; f=1} END {if (!f) print 0}' "$1" ;;
    sockdetail) awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); print; f=1} END {if (!f) print "none"}' "$1" ;;
    p99) awk '$1=="99%" {print $2}' "$1" ;;
    max) awk '$1=="Latency" {print $4}' "$1" ;;
  esac
}

cat >"$OUT/bench.toml" <<TOML
spaceport_manifest_version = 1
[application]
name = "bench-deploy"
version = "1.0.0"

[[trigger.http]]
route = "/health"
component = "rust"

[database.tasks]
migrations = "$PWD/migrations/tasks"

[component.rust]
source = "${SRC[rust]}"
host_status = true

[component.py]
source = "${SRC[py]}"
host_status = true

[component.js]
source = "${SRC[js]}"
host_status = true
sql = ["tasks"]
context = true
TOML

B=http://127.0.0.1:7901
start=$(now_ms)
bg_start "$OUT/spaceport.log" env SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_CACHE_DIR="$OUT/cache" \
  SPACEPORT_WATCH=false RUST_LOG="$HOST_LOG" "$SP" up --manifest "$OUT/bench.toml" --listen 127.0.0.1:7901
wait_ready "$B/health" 180
COLD_START_MS=$(( $(now_ms) - start ))
# The image's compiled components, to give the replicas of part 3 a warm start.
cp -r "$OUT/cache" "$OUT/cache-image"
echo "host ready in $COLD_START_MS ms (cold compile of rust, py, js)"

# Once: does the host take a variant (custom section appended)?
v=$(fresh rust)
if ! client put "$B" rust "$v" >/dev/null; then
  echo "the host refused a variant with an appended custom section; see $OUT/spaceport.log" >&2
  exit 1
fi
rm -f "$v"
echo "a variant (custom section \"bench\" appended) deploys: 200"

# ---- 1. upload → serving per language, idle and under load -----------------------------
echo
echo "== 1. upload → serving: $N rounds × (rust py js), idle then under wrk -t2 -c16 GET /health"
deploy_row() { # PART COND LANG I: PUT a fresh variant, record a row
  local f r
  f=$(fresh "$3")
  r=$(client put "$B" "$3" "$f")
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$r" >>"$OUT/results.tsv"
  printf '  %-5s %-5s #%s  wall %6s ms  compile %6s ms  swap %6s ms\n' "$2" "$3" "$4" $r
  rm -f "$f"
}
: >"$OUT/load-rps.txt"
for i in $(seq 1 "$N"); do
  for l in "${LANGS[@]}"; do deploy_row 1 idle "$l" "$i"; done
  wrk_start "$OUT/wrk-load-$i.txt" "$B/health"
  sleep 1
  for l in "${LANGS[@]}"; do deploy_row 1 load "$l" "$i"; done
  wrk_stop
  printf '  wrk during round %s: %s req/s, non-2xx %s, socket errors %s, p99 %s, max %s\n' "$i" \
    "$(wrk_field "$OUT/wrk-load-$i.txt" rps)" "$(wrk_field "$OUT/wrk-load-$i.txt" non2xx)" \
    "$(wrk_field "$OUT/wrk-load-$i.txt" sockerr)" "$(wrk_field "$OUT/wrk-load-$i.txt" p99)" \
    "$(wrk_field "$OUT/wrk-load-$i.txt" max)"
  wrk_field "$OUT/wrk-load-$i.txt" rps >>"$OUT/load-rps.txt"
done

# ---- 2. failed requests during back-to-back deploys --------------------------------------
echo
echo "== 2. wrk -t2 -c16 GET /health (component rust) without deploys, then during $DEPLOYS deploys of rust"
VARIANTS=()   # made beforehand: no variant-making between the deploys
for i in $(seq 1 "$DEPLOYS"); do VARIANTS+=("$(fresh rust)"); done
wrk -t2 -c16 -d5s --latency "$B/health" >"$OUT/wrk-baseline.txt"
wrk_start "$OUT/wrk-deploys.txt" "$B/health"
sleep 1
t0=$(now_ms)
client put "$B" rust "${VARIANTS[@]}" | awk '{printf "2\tdeploys\trust\t%d\t%s\n", NR, $0}' >>"$OUT/results.tsv"
DEPLOYS_MS=$(( $(now_ms) - t0 ))
sleep 1
wrk_stop
rm -f "${VARIANTS[@]}"
for f in baseline deploys; do
  printf '  %-9s %8s requests, non-2xx %s, socket errors %s, %s req/s, p99 %s, max %s\n' "$f" \
    "$(wrk_field "$OUT/wrk-$f.txt" requests)" "$(wrk_field "$OUT/wrk-$f.txt" non2xx)" \
    "$(wrk_field "$OUT/wrk-$f.txt" sockdetail)" "$(wrk_field "$OUT/wrk-$f.txt" rps)" \
    "$(wrk_field "$OUT/wrk-$f.txt" p99)" "$(wrk_field "$OUT/wrk-$f.txt" max)"
done
echo "  deploys took $DEPLOYS_MS ms in all (wrk ran 1 s before and after); PUT wall ms: $(col 2 deploys rust 5 | tr '\n' ' ')"

# ---- 3. replica convergence on PostgreSQL ------------------------------------------------
echo
REPLICA_NOTE=""
if [ -n "${SKIP_REPLICAS:-}" ]; then
  REPLICA_NOTE="skipped (SKIP_REPLICAS)"
elif ! psql "$ADMIN" -qAtc 'select 1' >/dev/null 2>&1; then
  REPLICA_NOTE="skipped: PostgreSQL does not answer at $ADMIN"
fi
declare -A NOTIFY_FAILED=() NOTIFY_ERR=()
POLLS=(1000 200 60000)
declare -A PAIR_PORTS=([1000]="7902 7903" [200]="7904 7905" [60000]="7906 7907")
declare -A LIMIT_S=([1000]=120 [200]=120 [60000]=10)
if [ -z "$REPLICA_NOTE" ]; then
  echo "== 3. replica convergence on PostgreSQL: PUT rust to A, poll B's GET /admin/components every 10 ms"
  URL="${ADMIN%/*}/$DB"
  for poll in "${POLLS[@]}"; do
    psql "$ADMIN" -qc "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
    DB_MADE=1
    read -r pa pb <<<"${PAIR_PORTS[$poll]}"
    pids=()
    for port in $pa $pb; do   # one after the other: A creates the schema, B finds it
      cp -r "$OUT/cache-image" "$OUT/cache-$port"
      bg_start "$OUT/replica-$poll-$port.log" env DATABASE_URL="$URL" SPACEPORT_DATA_DIR="$OUT/data-$port" \
        SPACEPORT_CACHE_DIR="$OUT/cache-$port" SPACEPORT_DEPLOY_POLL_MS=$poll SPACEPORT_WATCH=false \
        RUST_LOG="$HOST_LOG" "$SP" up --manifest "$OUT/bench.toml" --listen 127.0.0.1:$port
      pids+=("$BG_PID")
      wait_ready "http://127.0.0.1:$port/health" 120
    done
    for i in $(seq 1 "$REPLICA_N"); do
      sleep "0.$((RANDOM % 900 + 100))"   # not in step with B's poll
      f=$(fresh rust)
      r=$(client converge "http://127.0.0.1:$pa" "http://127.0.0.1:$pb" rust "$f" "${LIMIT_S[$poll]}")
      printf '3\tpoll%s\trust\t%s\t%s\n' "$poll" "$i" "$r" >>"$OUT/results.tsv"
      set -- $r
      if [ "$1" = NA ]; then
        printf '  poll %5s ms #%s  B did not serve it within %s s  (A: PUT wall %s ms, compile %s ms, swap %s ms)\n' \
          "$poll" "$i" "${LIMIT_S[$poll]}" "$2" "$3" "$4"
      else
        printf '  poll %5s ms #%s  B serving after %5s ms, %5s ms after A answered  (A: PUT wall %s ms, compile %s ms, swap %s ms)\n' \
          "$poll" "$i" "$1" "$(($1 - $2))" "$2" "$3" "$4"
      fi
      rm -f "$f"
    done
    kill "${pids[@]}" 2>/dev/null || true
    for p in "${pids[@]}"; do
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    NOTIFY_FAILED[$poll]=$(grep -c "NOTIFY failed" "$OUT/replica-$poll-$pa.log" || true)
    NOTIFY_ERR[$poll]=$(grep -m1 "NOTIFY failed" "$OUT/replica-$poll-$pa.log" | sed 's/.*error=//' || true)
  done
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  DB_MADE=""
else
  echo "== 3. replica convergence: $REPLICA_NOTE"
fi

# ---- summary --------------------------------------------------------------------------------
size_kib() { echo $(( $(stat -c %s "$1") / 1024 )); }
echo
echo "==== summary: bench/deploy.sh $N $DEPLOYS $REPLICA_N ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)) ===="
echo "Spaceport admin API deploys (PUT /admin/components/{id}, fresh bytes each: a real compile); ms, median (min-max)"
echo "host cold start (compile rust+py+js): $COLD_START_MS ms"
echo
LOAD_NON2XX=0; LOAD_SOCKERR=0
for f in "$OUT"/wrk-load-*.txt; do
  LOAD_NON2XX=$((LOAD_NON2XX + $(wrk_field "$f" non2xx))); LOAD_SOCKERR=$((LOAD_SOCKERR + $(wrk_field "$f" sockerr)))
done
echo "1. upload → serving, $N per cell; under load = wrk -t2 -c16 GET /health: $(median <"$OUT/load-rps.txt") req/s median," \
  "p99 $(for f in "$OUT"/wrk-load-*.txt; do wrk_field "$f" p99; done | tr '\n' ' ')(per round)," \
  "non-2xx $LOAD_NON2XX, socket errors $LOAD_SOCKERR"
for f in "$OUT"/wrk-load-*.txt; do
  [ "$(wrk_field "$f" sockerr)" = 0 ] || echo "   socket errors in $(basename "$f" .txt): $(wrk_field "$f" sockdetail)" \
    "(timeout = no answer within wrk's 2 s), p99 $(wrk_field "$f" p99), max answered $(wrk_field "$f" max)"
done
printf '%-5s %-9s %-5s %-22s %-22s %-22s %s\n' lang size cond "PUT wall (client)" "compile_ms" "swap_ms" "swap - compile"
for l in "${LANGS[@]}"; do
  for c in idle load; do
    printf '%-5s %-9s %-5s %-22s %-22s %-22s %s\n' "$l" "$(size_kib "${SRC[$l]}") KiB" "$c" \
      "$(col 1 $c "$l" 5 | mmm)" "$(col 1 $c "$l" 6 | mmm)" "$(col 1 $c "$l" 7 | mmm)" \
      "$(paste <(col 1 $c "$l" 7) <(col 1 $c "$l" 6) | awk '{print $1 - $2}' | mmm)"
  done
done
for l in "${LANGS[@]}"; do
  ri=$(col 1 idle "$l" 5 | median); rl=$(col 1 load "$l" 5 | median)
  printf '%s load/idle PUT wall: %s   ' "$l" "$(awk -v a="$rl" -v b="$ri" 'BEGIN {printf "%.2f×", a / b}')"
done
echo
echo
echo "2. wrk -t2 -c16 GET /health (rust) during $DEPLOYS back-to-back deploys of rust ($DEPLOYS_MS ms, wrk 1 s before/after)"
printf '   requests %s, non-2xx %s, socket errors %s; p99 %s (%s without deploys), max %s (%s without)\n' \
  "$(wrk_field "$OUT/wrk-deploys.txt" requests)" "$(wrk_field "$OUT/wrk-deploys.txt" non2xx)" \
  "$(wrk_field "$OUT/wrk-deploys.txt" sockerr)" "$(wrk_field "$OUT/wrk-deploys.txt" p99)" \
  "$(wrk_field "$OUT/wrk-baseline.txt" p99)" "$(wrk_field "$OUT/wrk-deploys.txt" max)" \
  "$(wrk_field "$OUT/wrk-baseline.txt" max)"
printf '   deploy: PUT wall %s, compile_ms %s, swap_ms %s\n' "$(col 2 deploys rust 5 | mmm)" \
  "$(col 2 deploys rust 6 | mmm)" "$(col 2 deploys rust 7 | mmm)"
echo
if [ -z "$REPLICA_NOTE" ]; then
  echo "3. replica convergence on PostgreSQL (rust, $REPLICA_N per row): start of the PUT to A → B serves the new hash"
  for poll in "${POLLS[@]}"; do
    missed=$(col 3 poll$poll rust 5 | grep -c NA || true)
    printf '   SPACEPORT_DEPLOY_POLL_MS=%-6s B serving %s, after A answered %s; A: PUT wall %s, compile_ms %s%s\n' "$poll" \
      "$(col 3 poll$poll rust 5 | mmm)" \
      "$(awk -F'\t' -v c=poll$poll '$1==3 && $2==c && $5!="NA" {print $5 - $6}' "$OUT/results.tsv" | mmm)" \
      "$(col 3 poll$poll rust 6 | mmm)" "$(col 3 poll$poll rust 7 | mmm)" \
      "$([ "$missed" = 0 ] || echo "; $missed of $REPLICA_N did not follow within ${LIMIT_S[$poll]} s")"
  done
  notify_missed=$(col 3 poll60000 rust 5 | grep -c NA || true)
  nf=0; err=""
  for poll in "${POLLS[@]}"; do
    nf=$((nf + ${NOTIFY_FAILED[$poll]:-0})); err=${err:-${NOTIFY_ERR[$poll]:-}}
  done
  if [ "$nf" != 0 ]; then
    echo "   !! host A logged \"deployments: NOTIFY failed; replicas will see the change at their next poll\"" \
      "$nf× for $(( ${#POLLS[@]} * REPLICA_N )) deploys: error=$err"
  fi
  if [ "$notify_missed" = 0 ]; then
    echo "   NOTIFY wakes B: with a 60 s poll B followed every deploy within $(col 3 poll60000 rust 5 | sort -n | tail -1) ms" \
      "$([ "${NOTIFY_FAILED[60000]:-0}" = 0 ] || echo "(so the \"NOTIFY failed\" warnings above are false)")"
  else
    echo "   NOTIFY does not wake B: with a 60 s poll, $notify_missed of $REPLICA_N deploys did not reach B within ${LIMIT_S[60000]} s"
  fi
else
  echo "3. replica convergence: $REPLICA_NOTE"
fi
echo "raw: $OUT/results.tsv (part, cond, lang, i, then wall/compile/swap or converge/wall/compile/swap), wrk-*.txt, *.log"
