#!/usr/bin/env bash
# Held-streams benchmark: how much memory the host holds per long-lived chat
# SSE stream. STREAMS concurrent `POST /api/{user}/chat/stream` turns (one
# user), each answered by bench/llm-double streaming one token a second for
# SECONDS seconds (no tool calls), so every stream holds the client's
# connection and one model call for SECONDS s, and, with RELAY=0, one
# chat-agent instance (by default the host relays the answer: no instance is
# held while the model streams).
# Samples the host's VmRSS / VmHWM / descriptors every second; reports idle,
# peak and after-the-streams RSS, RSS per held stream, errors by kind and the
# host's WARN/ERROR log lines. Each held stream costs the host a descriptor
# (two with LLM_HTTP2=off: its model call has its own connection), so the
# open-file limit caps what can be held (the host says what it chose).
#
# Usage: bench/streams.sh [STREAMS] [SECONDS]   (defaults 10000 streams, 20 s)
#   env: OUT (target/bench-streams), BATCH (100 streams per ramp step),
#        RAMP_PAUSE (0.04 s between steps), AFTER (10 s sampled after the end),
#        WAVES (1; more: further waves on the same host, to see whether what
#        the first left behind is reused or grows),
#        PROFILE=dhat (run a heap-profiling build instead: what the host's heap
#        holds at its peak, by allocation site, per held stream; build it with
#        `cargo build --release -p spaceport --features dhat-heap` and copy
#        target/release/spaceport to target/release/spaceport-dhat; allocation
#        is ~10x slower under it, so ask for ~1000 streams, not 10,000; run
#        the normal build once first, so the compiled components are cached),
#        CACHE (target/bench-streams-cache: compiled components, kept),
#        SPACEPORT_BIN (target/release/spaceport: e.g. an older build, to compare),
#        LLM_HTTP2 (prior-knowledge: held model calls share HTTP/2 connections
#        to the double, 100 to a connection; `off`: one HTTP/1.1 connection each),
#        RELAY (1: chat-agent relays its answers through the host, up to
#        SPACEPORT_MAX_RELAYS=20000 within the open-file limit; 0: it streams
#        in its instance, up to SPACEPORT_MAX_INSTANCES=20000 within the
#        open-file limit and the address space)
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
STREAMS=${1:-10000}
SECS=${2:-20}
OUT=${OUT:-target/bench-streams}
BATCH=${BATCH:-100}
# Small steps: the host's listen backlog is 128 (the summary prints it); a
# burst of 500 connects overflows it and the dropped SYNs cost 1 s retransmits.
RAMP_PAUSE=${RAMP_PAUSE:-0.04}
AFTER=${AFTER:-10}
# Compiled components are kept between runs (a profiling build would take
# minutes to compile the Python and JavaScript ones itself).
CACHE=${CACHE:-target/bench-streams-cache}
rm -rf "$OUT" && mkdir -p "$OUT" "$CACHE"
. bench/lib.sh
# The host raises its own soft limit; the double and the client need ~STREAMS too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SPACEPORT_BIN=${SPACEPORT_BIN:-target/release/spaceport}
[ "${PROFILE:-}" = dhat ] && SPACEPORT_BIN=target/release/spaceport-dhat
for bin in "$SPACEPORT_BIN" target/release/llm-double components/target/wasm32-wasip2/release/chat_agent.wasm; do
  [ -e "$bin" ] || { echo "missing $bin: build it first (cargo build --release --locked -p spaceport -p llm-double; components: cargo build --release -p chat-agent ...)" >&2; exit 1; }
done

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc)); open-file limit $(ulimit -Sn)/$(ulimit -Hn)"
bg_start "$OUT/double.log" env LLM_DOUBLE_STREAM_INTERVAL_MS=1000 LLM_DOUBLE_STREAM_CHUNKS="$SECS" \
  ./target/release/llm-double 127.0.0.1:7911
DOUBLE_PID=$BG_PID
RELAY=${RELAY:-1}
if [ "$RELAY" = 1 ]; then relay_var=true; else relay_var=false; fi
sed -e "s|= \"components/|= \"$PWD/components/|" -e "s|= \"migrations/|= \"$PWD/migrations/|" \
    -e 's|^\[component\.chat-agent\.limits\]$|&\nmax_concurrent = 20000|' \
    -e "s|^\[component\.chat-agent\.variables\]\$|&\nrelay = \"$relay_var\"|" spin-like.toml >"$OUT/bench.toml"
grep -q "^relay = \"$relay_var\"\$" "$OUT/bench.toml" || { echo "could not set chat-agent's relay variable" >&2; exit 1; }
grep -q '^max_concurrent = 20000$' "$OUT/bench.toml" || { echo "could not set chat-agent max_concurrent" >&2; exit 1; }
if [ "$RELAY" = 1 ]; then limits=(SPACEPORT_MAX_RELAYS=20000); else limits=(SPACEPORT_MAX_INSTANCES=20000); fi
bg_start "$OUT/spaceport.log" env SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_WATCH=false \
  RUST_LOG=warn,spaceport::cli::serve=info "${limits[@]}" \
  SPACEPORT_DHAT_OUT="$OUT/dhat-heap.json" SPACEPORT_CACHE_DIR="$CACHE" \
  SPACEPORT_AUTH_RATE_PER_MINUTE=1000 \
  SPACEPORT_LLM_RATE_PER_MINUTE=100000000 SPACEPORT_LLM_CONCURRENT_PER_USER=100000 \
  OPENAI_API_KEY=bench-key OPENAI_BASE_URL=http://127.0.0.1:7911/v1 LLM_HTTP2="${LLM_HTTP2:-prior-knowledge}" \
  JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789 \
  "$SPACEPORT_BIN" up --manifest "$OUT/bench.toml" --listen 127.0.0.1:7912
SP_PID=$BG_PID
# Compiling the Python and JavaScript components can take longer than
# wait_up's 20 s on a busy machine.
up=0
for _ in $(seq 1 6); do wait_up http://127.0.0.1:7912/health 2>/dev/null && { up=1; break; }; done
[ "$up" = 1 ] || { echo "host not up; log: $OUT/spaceport.log" >&2; tail -20 "$OUT/spaceport.log" >&2; exit 1; }
echo "listen backlogs (Send-Q): $(ss -Hltn '( sport = :7911 or sport = :7912 )' | awk '{printf "%s=%s ", $4, $3}')"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
STARTUP_RSS=$(rss_kb "$SP_PID")
# What the host made of SPACEPORT_MAX_INSTANCES (it logs when it lowers it).
MAX_INSTANCES=$(sed -n 's/.*SPACEPORT_MAX_INSTANCES exceeds.*allowed=\([0-9]*\).*/\1/p; s/.*allowed=\([0-9]*\).*SPACEPORT_MAX_INSTANCES exceeds.*/\1/p' "$OUT/spaceport.log" | sort -n | head -1)
MAX_INSTANCES=${MAX_INSTANCES:-20000}
if [ "$RELAY" = 1 ]; then
  # What holds the streams is relays: as many as the host chose.
  MAX_INSTANCES=$(sed -n 's/.*max_relays=\([0-9]*\).*/\1/p' "$OUT/spaceport.log" | head -1)
fi
echo "host pid $SP_PID: streams held at most $MAX_INSTANCES ($([ "$RELAY" = 1 ] && echo relays || echo instances); asked 20000; host soft open-file limit $(awk '/Max open files/ {print $4}' "/proc/$SP_PID/limits"))"
if [ "$STREAMS" -gt "$MAX_INSTANCES" ]; then
  echo "note: $STREAMS streams asked, the host holds at most $MAX_INSTANCES instances: expect ~$((STREAMS - MAX_INSTANCES)) 503 busy"
fi

B=http://127.0.0.1:7912
login "$B" bench@streams.test
# Warm-up: three non-streaming turns (tool call + answer) instantiate chat-agent
# and task-tools, opens the chat database and the model client, so the idle
# RSS below already holds the one-time costs.
for i in 1 2 3; do
  curl -sf -XPOST "$B/api/$USER_ID/chat" -H "authorization: Bearer $TOKEN" -d "{\"message\":\"warm-up $i\"}" >/dev/null
done
sleep 2

WAVES=${WAVES:-1} python3 - "$STREAMS" "$SECS" "$USER_ID" "$TOKEN" "$SP_PID" "$DOUBLE_PID" "$OUT" "$BATCH" "$RAMP_PAUSE" "$AFTER" \
  "$STARTUP_RSS" "$MAX_INSTANCES" <<'PY'
import asyncio, collections, json, os, re, resource, sys, time

(streams, secs, user, token, sp_pid, dbl_pid, out, batch, ramp_pause, after,
 startup_rss, max_instances) = sys.argv[1:]
streams, secs, batch, after = int(streams), int(secs), int(batch), int(after)
ramp_pause, startup_rss, max_instances = float(ramp_pause), int(startup_rss), int(max_instances)
waves = int(os.environ.get("WAVES", "1"))
HOST, PORT = "127.0.0.1", 7912
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

body = b'{"message":"hi"}'
request = (f"POST /api/{user}/chat/stream HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
           f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
           f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body

def proc_status(pid):
    """VmRSS, VmHWM (kB), threads, open descriptors of pid."""
    f = {}
    try:
        with open(f"/proc/{pid}/status") as s:
            for line in s:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                    f[k] = int(v.split()[0])
        f["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    return f

def smaps(pid):
    """The host's anonymous (private, written) memory in kB by where it is
    mapped: `cwasm` (pages of linear memories written over their copy-on-write
    image, which wasmtime maps from the compiled .cwasm file), `anon <size>`
    (contiguous anonymous regions of 1 GiB or more, by size: allocator arenas,
    wasmtime's pools of linear memories, stacks and tables), `small anon` (the
    other anonymous mappings), `other files`. Sums to RssAnon; `(pss)` is the proportional set size."""
    out = collections.Counter()
    regions = []   # [lo, hi, kind, anonymous kB]
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    parts = line.split()
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    name = parts[5] if len(parts) > 5 else ""
                    kind = ("cwasm" if name.endswith(".cwasm") else "other files" if name.startswith("/")
                            else "anon" if not name else "other")
                    if kind == "anon" and regions and regions[-1][2] == "anon" and regions[-1][1] == lo:
                        regions[-1][1] = hi
                    else:
                        regions.append([lo, hi, kind, 0])
                elif first == "Anonymous:" and regions:
                    regions[-1][3] += int(line.split()[1])
                elif first == "Pss:":
                    # Shared pages divided among their mappers: a page of a
                    # .cwasm mapped into many memory slots counts once here,
                    # but once per slot in RSS.
                    out["(pss)"] += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    for lo, hi, kind, kb in regions:
        if kind == "anon":
            size = hi - lo
            kind = (f"anon {size / 2**40:.1f} TiB" if size >= 1 << 40 else f"anon {size / 2**30:.1f} GiB"
                    if size >= 1 << 30 else "small anon")
        out[kind] += kb
    return out

def fmt_smaps(m):
    parts = [f"{k} {v/1024:.0f}" for k, v in sorted(m.items(), key=lambda kv: -kv[1])
             if v >= 1024 and k != "(pss)"]
    return ", ".join(parts) + f" (PSS {m['(pss)']/1024:.0f} MB)"

def tcp_ext():
    """System-wide TcpExt counters (listen-queue overflows and drops)."""
    with open("/proc/net/netstat") as f:
        rows = [l.split() for l in f if l.startswith("TcpExt:")]
    d = dict(zip(rows[0][1:], map(int, rows[1][1:])))
    return {k: d.get(k, 0) for k in ("ListenOverflows", "ListenDrops", "SyncookiesSent")}

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as s:
        parts = s.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

held = 0          # 200 received, body not finished
peak_held = 0
records = []
samples = []
t0 = time.monotonic()

async def one(i):
    global held, peak_held
    rec = {"i": i, "start": None, "status": None, "done": False, "bytes": 0, "first_byte": None,
           "first_token": None, "duration": None, "error": None, "events": {}}
    raw = bytearray()
    counted = False
    start = time.monotonic()
    rec["start"] = round(start - t0, 3)
    try:
        async def run():
            nonlocal counted
            global held, peak_held
            r, w = await asyncio.open_connection(HOST, PORT)
            try:
                w.write(request)
                await w.drain()
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    if rec["first_byte"] is None:
                        rec["first_byte"] = time.monotonic() - start
                    if rec["first_token"] is None and b'"type":"token"' in data:
                        rec["first_token"] = time.monotonic() - start
                    raw.extend(data)
                    if rec["status"] is None and b"\r\n" in raw:
                        try:
                            rec["status"] = int(raw.split(b"\r\n", 1)[0].split()[1])
                        except (IndexError, ValueError):
                            rec["status"] = -1
                        if rec["status"] == 200:
                            counted = True
                            held += 1
                            peak_held = max(peak_held, held)
            finally:
                w.close()
        await asyncio.wait_for(run(), timeout=secs + 120)
    except asyncio.TimeoutError:
        rec["error"] = "client timeout"
    except (ConnectionResetError, BrokenPipeError) as e:
        rec["error"] = f"reset ({type(e).__name__})"
    except OSError as e:
        rec["error"] = f"os error ({e.strerror or e})"
    finally:
        if counted:
            held -= 1
    rec["duration"] = time.monotonic() - start
    rec["bytes"] = len(raw)
    parse(rec, bytes(raw))
    records.append(rec)

def parse(rec, raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        if rec["error"] is None:
            rec["error"] = "no response" if not raw else "truncated headers"
        return
    headers = head.decode("latin-1").lower()
    if "transfer-encoding: chunked" in headers:
        payload, pos = bytearray(), 0
        while True:
            nl = rest.find(b"\r\n", pos)
            if nl < 0:
                rec["truncated"] = True
                break
            size = int(rest[pos:nl].split(b";")[0] or b"0", 16)
            if size == 0:
                break
            payload += rest[nl + 2:nl + 2 + size]
            if nl + 2 + size > len(rest):
                rec["truncated"] = True
                break
            pos = nl + 2 + size + 2
        payload = bytes(payload)
    else:
        payload = rest
    if rec["status"] != 200:
        try:
            rec["error_code"] = json.loads(payload).get("error")
        except (ValueError, AttributeError):
            rec["error_code"] = None
        return
    for event in payload.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b":"):
                rec["events"]["keepalive"] = rec["events"].get("keepalive", 0) + 1
            elif line.startswith(b"data:"):
                try:
                    kind = json.loads(line[5:]).get("type", "?")
                except ValueError:
                    kind = "unparsable"
                rec["events"][kind] = rec["events"].get(kind, 0) + 1
                if kind == "error":
                    rec["sse_error"] = json.loads(line[5:]).get("error")
    rec["done"] = rec["events"].get("done", 0) > 0

async def sampler(stop):
    last = (time.monotonic(), cpu_s(sp_pid), cpu_s(dbl_pid))
    while True:
        now = (time.monotonic(), cpu_s(sp_pid), cpu_s(dbl_pid))
        dt = max(now[0] - last[0], 1e-3)
        cpu_host, cpu_dbl = (now[1] - last[1]) / dt * 100, (now[2] - last[2]) / dt * 100
        last = now
        s = proc_status(sp_pid)
        d = proc_status(dbl_pid)
        if s:
            with open("/proc/loadavg") as f:
                load = float(f.read().split()[0])
            samples.append({"t": time.monotonic() - t0, "held": held, "rss": s["VmRSS"], "hwm": s["VmHWM"],
                            "anon": s["RssAnon"], "file": s["RssFile"],
                            "fds": s["fds"], "threads": s["Threads"], "load1": load,
                            "cpu_host": cpu_host, "cpu_double": cpu_dbl,
                            "double_rss": d["VmRSS"] if d else 0, "double_fds": d["fds"] if d else 0})
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass

async def wave():
    """One wave: ramp STREAMS streams up, wait for them all to end."""
    global records, held, peak_held
    records, held, peak_held = [], 0, 0
    begin = time.monotonic() - t0
    tasks = []
    for b in range(0, streams, batch):
        tasks += [asyncio.create_task(one(i)) for i in range(b, min(streams, b + batch))]
        await asyncio.sleep(ramp_pause)
    ramp = time.monotonic() - t0 - begin
    await asyncio.sleep(secs / 2)
    held_smaps = smaps(sp_pid)
    await asyncio.gather(*tasks)
    return {"records": records, "peak_held": peak_held, "begin": begin, "ramp": ramp, "smaps": held_smaps,
            "end": time.monotonic() - t0}

async def main():
    global t0, startup_hwm
    # VmHWM so far is the start-up's (compiling the components): note it,
    # then reset it (clear_refs 5) so the run's own high-water shows.
    startup_hwm = proc_status(sp_pid)["VmHWM"]
    try:
        with open(f"/proc/{sp_pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError as e:
        print(f"cannot reset VmHWM ({e}): it includes the start-up", file=sys.stderr)
    idle = proc_status(sp_pid)
    idle["smaps"] = smaps(sp_pid)
    cpu0 = cpu_s(sp_pid)
    net0 = tcp_ext()
    t0 = time.monotonic()
    stop = asyncio.Event()
    sam = asyncio.create_task(sampler(stop))
    first = await wave()
    cpu1 = cpu_s(sp_pid)
    net1 = tcp_ext()
    net = {k: net1[k] - net0[k] for k in net0}
    await asyncio.sleep(min(after, 10))
    after10 = proc_status(sp_pid)
    after10["smaps"] = smaps(sp_pid)
    await asyncio.sleep(max(0, after - 10))
    after_s = proc_status(sp_pid)
    # Further waves on the same host: is what the first left behind reused?
    more = []
    for _ in range(1, waves):
        w = await wave()
        w["peak_rss"] = max(s["rss"] for s in samples if s["t"] >= w["begin"])
        await asyncio.sleep(10)
        w["after10"] = proc_status(sp_pid)
        more.append(w)
    stop.set()
    await sam
    return first, idle, after10, after_s, cpu1 - cpu0, net, more

startup_hwm = 0
first, idle, after10, after_s, cpu, net, more = asyncio.run(main())
records, peak_held, ramp_end, end = first["records"], first["peak_held"], first["ramp"], first["end"]
wave1 = [s for s in samples if not more or s["t"] < more[0]["begin"]]

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")

ok = [r for r in records if r["status"] == 200 and r["done"]]
kinds = collections.Counter()
for r in records:
    if r["status"] == 200 and r["done"]:
        continue
    if r["error"]:
        kinds[r["error"]] += 1
    elif r["status"] == 503:
        kinds[f"503 {r.get('error_code')}"] += 1
    elif r["status"] != 200:
        kinds[f"HTTP {r['status']} {r.get('error_code')}"] += 1
    elif r.get("sse_error"):
        kinds[f"200 + SSE error event: {r['sse_error']}"] += 1
    elif r.get("truncated"):
        kinds["200, body cut short (no done)"] += 1
    else:
        kinds["200 without a done event"] += 1
got200 = sum(1 for r in records if r["status"] == 200)
peak = max(wave1, key=lambda s: (s["held"], s["rss"]))
max_rss = max(s["rss"] for s in wave1)
held_for_cost = peak["held"] or peak_held
per_stream_kb = (peak["rss"] - idle["VmRSS"]) / held_for_cost if held_for_cost else float("nan")
tokens = [r["events"].get("token", 0) for r in ok]
fb = [r["first_byte"] for r in records if r["first_byte"] is not None and r["status"] == 200]
ft = [r["first_token"] for r in ok if r["first_token"] is not None]
dur = [r["duration"] for r in ok]
MB = 1024

# The host's WARN/ERROR lines, grouped by message.
levels, groups, examples = collections.Counter(), collections.Counter(), {}
with open(f"{out}/spaceport.log", errors="replace") as f:
    for line in f:
        m = re.match(r"^\S+\s+(WARN|ERROR)\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        level, rest = m.groups()
        levels[level] += 1
        msg = re.sub(r"^(?:[\w:]+\{[^}]*\}:\s*)+", "", rest)
        msg = re.split(r"\s\w+=", msg, 1)[0]
        key = f"{level} {msg}"
        groups[key] += 1
        examples.setdefault(key, line.strip()[:400])

with open(f"{out}/samples.csv", "w") as f:
    f.write("t,held,rss_kb,hwm_kb,anon_kb,file_kb,fds,threads,load1,host_cpu_pct,double_cpu_pct,double_rss_kb,double_fds\n")
    for s in samples:
        f.write(f"{s['t']:.1f},{s['held']},{s['rss']},{s['hwm']},{s['anon']},{s['file']},{s['fds']},{s['threads']},{s['load1']},{s['cpu_host']:.0f},{s['cpu_double']:.0f},{s['double_rss']},{s['double_fds']}\n")
with open(f"{out}/streams.jsonl", "w") as f:
    for r in sorted(records, key=lambda r: r["i"]):
        f.write(json.dumps(r) + "\n")

lines = [
    f"== held chat streams: {streams} asked x {secs} s (ramp {batch} every {ramp_pause} s), {os.cpu_count()} cores ==",
    f"host max streams (relays, or instances with RELAY=0): {max_instances} (asked 20000, lowered to fit the open-file limit {hard}); "
    f"reachable streams: {min(streams, max_instances)}",
    f"streams started: {len(records)}; HTTP 200: {got200}; completed OK (200 + done event): {len(ok)}",
    "errors by kind: " + (", ".join(f"{k}: {v}" for k, v in kinds.most_common()) or "none"),
    f"peak concurrent held (client): {peak_held}; in the peak sample: {peak['held']} at t={peak['t']:.0f}s "
    f"(ramp took {ramp_end:.1f} s, last stream ended at {end:.1f} s)",
    f"host RSS: startup {startup_rss/MB:.0f} MB, idle after warm-up {idle['VmRSS']/MB:.0f} MB, "
    f"at peak {peak['rss']/MB:.0f} MB (anon {peak['anon']/MB:.0f}, file {peak['file']/MB:.0f}; max sampled {max_rss/MB:.0f} MB), "
    f"VmHWM during the run {after_s['VmHWM']/MB:.0f} MB (start-up's VmHWM, reset before the run: {startup_hwm/MB:.0f} MB)",
    f"RSS per held stream: ({peak['rss']/MB:.0f} - {idle['VmRSS']/MB:.0f} MB) / {held_for_cost} = {per_stream_kb:.1f} KB "
    f"(with the max sampled RSS instead: {(max_rss - idle['VmRSS']) / held_for_cost if held_for_cost else 0:.1f} KB)",
    f"RSS 10 s after the last stream ended: {after10['VmRSS']/MB:.0f} MB "
    f"({(after10['VmRSS'] - idle['VmRSS'])/MB:+.0f} MB vs idle; anon {after10['RssAnon']/MB:.0f} MB vs {idle['RssAnon']/MB:.0f} idle; "
    f"{after10['fds']} fds open vs {idle['fds']} idle)",
] + ([f"RSS {after} s after the last stream ended: {after_s['VmRSS']/MB:.0f} MB "
      f"({(after_s['VmRSS'] - idle['VmRSS'])/MB:+.0f} MB vs idle; {after_s['fds']} fds open)"] if after > 10 else []) + [
    f"host anonymous memory by mapping (MB): idle: {fmt_smaps(idle['smaps'])}; mid-hold: {fmt_smaps(first['smaps'])}; "
    f"10 s after: {fmt_smaps(after10['smaps'])}",
    f"host fds at peak: {peak['fds']}; threads at peak: {peak['threads']}; host CPU during the streams: {cpu:.1f} s "
    f"({cpu/end*100:.0f}% of one core)",
    f"llm-double at peak: RSS {peak['double_rss']/MB:.0f} MB, {peak['double_fds']} fds",
    f"first token (OK streams): p50 {pct(ft,.5)*1000:.0f} ms, p99 {pct(ft,.99)*1000:.0f} ms, max {max(ft or [0])*1000:.0f} ms (the double sends the first after 1 s)",
    f"first byte (200s): p50 {pct(fb,.5)*1000:.0f} ms, p99 {pct(fb,.99)*1000:.0f} ms, max {max(fb or [0])*1000:.0f} ms; "
    f"OK stream duration: p50 {pct(dur,.5):.1f} s, p99 {pct(dur,.99):.1f} s, max {max(dur or [0]):.1f} s",
    f"token events per OK stream: min {min(tokens or [0])}, max {max(tokens or [0])} (expected {secs}); "
    f"bytes per OK stream: p50 {pct([r['bytes'] for r in ok], .5)}",
    f"TCP listen-queue overflows / drops / SYN cookies during the streams (system-wide): "
    f"{net['ListenOverflows']} / {net['ListenDrops']} / {net['SyncookiesSent']} (a dropped SYN costs its client a 1 s retransmit)",
    f"CPU (% of one core, per-second samples): host max {max(s['cpu_host'] for s in wave1):.0f}, "
    f"llm-double max {max(s['cpu_double'] for s in wave1):.0f}",
    f"load average (1 min): max {max(s['load1'] for s in samples):.2f} during the run",
] + [f"wave {n}: OK {sum(1 for r in w['records'] if r['status'] == 200 and r['done'])}/{len(w['records'])}, "
     f"peak held {w['peak_held']}, peak RSS {w['peak_rss']/MB:.0f} MB, 10 s after {w['after10']['VmRSS']/MB:.0f} MB, "
     f"VmHWM {w['after10']['VmHWM']/MB:.0f} MB"
     for n, w in enumerate(more, 2)] + [
    f"host log: {levels.get('WARN', 0)} WARN, {levels.get('ERROR', 0)} ERROR lines",
]
for key, n in groups.most_common(8):
    lines.append(f"  {n:6d} x {key}")
    lines.append(f"         e.g. {examples[key]}")
lines.append(f"(per-second samples: {out}/samples.csv; per-stream records: {out}/streams.jsonl)")
summary = "\n".join(lines)
print(summary)
with open(f"{out}/summary.txt", "w") as f:
    f.write(summary + "\n")
PY

if [ "${PROFILE:-}" = dhat ]; then
  # The profile is written when the host exits: stop it and wait.
  kill "$SP_PID" 2>/dev/null || true
  for _ in $(seq 1 600); do kill -0 "$SP_PID" 2>/dev/null || break; sleep 0.2; done
  peak_held=$(python3 -c 'import json,sys; rs=[json.loads(l) for l in open(sys.argv[1])]; print(sum(1 for r in rs if r["status"]==200))' "$OUT/streams.jsonl")
  python3 bench/dhat-top.py "$OUT/dhat-heap.json" "$peak_held" | tee "$OUT/dhat-top.txt"
fi
