#!/usr/bin/env bash
# Run every test: installs what is missing on a fresh machine, builds the
# host and the components, then runs the Rust test suite (real sockets, real
# components), the Rust lints, and the container test (the real image, built
# and run with podman; SPACEPORT_SKIP_CONTAINER_TEST=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Backtraces cost wasmtime hosts 20-25% throughput and nothing here needs them.
unset RUST_BACKTRACE

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: wasm32-wasip2 target, rustfmt, clippy"
rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "PostgreSQL for the tests (TEST_DATABASE_URL, else a local server on 5432, installed if missing)"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if ! command -v pg_ctlcluster >/dev/null || ! command -v psql >/dev/null; then
    apt-get install -y postgresql >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y postgresql >/dev/null; }
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  if psql "postgres://postgres@127.0.0.1:5432/postgres" -Atc 'select 1' >/dev/null 2>&1; then
    export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   # trust auth
  else
    # Password auth on TCP: give the postgres role a known test password over the local socket.
    runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'spaceport-test'" >/dev/null
    export TEST_DATABASE_URL=postgres://postgres:spaceport-test@127.0.0.1:5432/postgres
  fi
fi
psql "$TEST_DATABASE_URL" -Atc 'select version()'

step "openapi-spec-validator (the docs test checks /openapi.json with it)"
python3 -c 'import openapi_spec_validator' 2>/dev/null \
  || python3 -m pip install -q openapi-spec-validator 2>/dev/null \
  || python3 -m pip install -q --break-system-packages openapi-spec-validator   # Debian's PEP 668 Python

step "schemathesis (host/tests/schemathesis.rs runs it against /openapi.json), pinned, in a cached venv"
SCHEMATHESIS_VERSION=4.32.5
st_venv="$HOME/.cache/spaceport/st"
if [ "$("$st_venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  python3 -m venv --clear "$st_venv" 2>/dev/null \
    || { apt-get install -y python3-venv >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y python3-venv >/dev/null; }; python3 -m venv --clear "$st_venv"; }
  "$st_venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SPACEPORT_SCHEMATHESIS="$st_venv/bin/schemathesis"

step "MCP: the official Python SDK (host/tests/mcp.rs) and the conformance suite (npm), pinned, cached"
MCP_VERSION=2.3.0
mcp_venv="$HOME/.cache/spaceport/mcp"
if [ "$("$mcp_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" != "$MCP_VERSION" ]; then
  python3 -m venv --clear "$mcp_venv"
  "$mcp_venv/bin/pip" install -q "mcp==$MCP_VERSION"
fi
export SPACEPORT_MCP_PYTHON="$mcp_venv/bin/python"
# host/tests/mcp.rs runs scripts/mcp-conformance.sh, which installs the pinned suite once.
export SPACEPORT_MCP_CONFORMANCE=1

step "build the host (release: tests run the same optimised wasmtime users get)"
cargo build --release --locked -p spaceport

step "Python and JavaScript toolchains: componentize-py, componentize-js (pinned, once per machine)"
./scripts/componentize.sh install

step "Python SDK and dates unit tests (plain CPython, no Wasm)"
sh components/sdk-python/run-tests.sh

step "build the app's components (spaceport build: Rust, Python, JavaScript)"
./target/release/spaceport build --manifest spin-like.toml

step "build the test fixture components"
(cd components && cargo build --release --locked -p fault -p ok)

step "format and lint"
cargo fmt --all -- --check
(cd components && cargo fmt --all -- --check)
cargo clippy --release --locked --all-targets -- -D warnings
(cd components && cargo clippy --release --locked --all-targets -- -D warnings)

step "component unit tests (spaceport test: every component's cases, in-process)"
./target/release/spaceport test --manifest spin-like.toml --cache-dir target/test-compile-cache

step "tests"
# The Python and JS components were compiled into this cache by `spaceport
# test` above, so the many hosts the tests start load them in milliseconds.
cargo test --release --locked --workspace

step "container image: build and run the real Dockerfile (scripts/container-test.sh)"
if [ "${SPACEPORT_SKIP_CONTAINER_TEST:-0}" = 1 ]; then
  echo "skipped (SPACEPORT_SKIP_CONTAINER_TEST=1)"
elif command -v podman >/dev/null || apt-get install -y podman runc debootstrap >/dev/null 2>&1 \
     || { apt-get update >/dev/null 2>&1 && apt-get install -y podman runc debootstrap >/dev/null 2>&1; }; then
  ./scripts/container-test.sh
else
  echo "podman cannot be installed on this machine: container test skipped"
fi
