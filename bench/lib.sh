# Shared by the bench scripts (source it after `cd` to the repo root).

# wrk from Debian's packages, if missing.
need_wrk() {
  command -v wrk >/dev/null \
    || apt-get install -y wrk >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
}

# Background servers started with `bg_start`, killed when the script exits.
BG_PIDS=()
bg_stop() { for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap bg_stop EXIT
# bg_start LOG CMD...: start CMD in the background; its pid is in $BG_PID.
bg_start() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  BG_PID=$!; BG_PIDS+=("$BG_PID")
}

# wait_up URL: until URL answers 2xx (20 s at most).
wait_up() {
  for _ in $(seq 1 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "not up: $1" >&2; return 1
}

# login BASE EMAIL: register (if new) and log in; sets TOKEN and USER_ID.
login() {
  curl -sf -XPOST "$1/api/auth/register" -d "{\"email\":\"$2\",\"password\":\"password1\",\"name\":\"bench\"}" >/dev/null || true
  local answer
  answer=$(curl -sf -XPOST "$1/api/auth/login" -d "{\"email\":\"$2\",\"password\":\"password1\"}")
  TOKEN=$(python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])' <<<"$answer")
  USER_ID=$(python3 -c 'import sys,json;print(json.load(sys.stdin)["user"]["id"])' <<<"$answer")
}

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
