# Spaceport as a Hugging Face Docker Space (or any container platform).
# Build: docker build -t spaceport .   Run: docker run -p 7860:7860 -v spaceport-data:/app/data spaceport

# ---- builder: the host (release) and every component, precompiled ----
FROM docker.io/library/rust:1.95.0-slim-bookworm AS builder
RUN rustup target add wasm32-wasip2
WORKDIR /src
ENV CARGO_TERM_COLOR=never

# Dependency layers first: manifests and lock files with stub sources, so a
# source change does not rebuild every crate.
COPY Cargo.toml Cargo.lock ./
COPY host/Cargo.toml host/
COPY bench/native-ok/Cargo.toml bench/native-ok/
COPY bench/native-tasks/Cargo.toml bench/native-tasks/
COPY bench/inproc/Cargo.toml bench/inproc/
COPY bench/llm-double/Cargo.toml bench/llm-double/
RUN for d in host bench/native-ok bench/native-tasks bench/inproc bench/llm-double; do \
      mkdir -p "$d/src" && echo 'fn main() {}' > "$d/src/main.rs"; \
    done \
 && touch host/src/lib.rs \
 && cargo build --release --locked -p spaceport \
 && rm -rf host/src target/release/spaceport* target/release/deps/spaceport-* target/release/deps/libspaceport-* \
           target/release/.fingerprint/spaceport-*

COPY components/Cargo.toml components/Cargo.lock components/
COPY components/.cargo components/.cargo
COPY components/sdk/Cargo.toml components/sdk/
COPY components/health/Cargo.toml components/health/
COPY components/task-tools/Cargo.toml components/task-tools/
COPY components/chat-agent/Cargo.toml components/chat-agent/
COPY components/test-fixtures/fault/Cargo.toml components/test-fixtures/fault/
COPY components/test-fixtures/ok/Cargo.toml components/test-fixtures/ok/
WORKDIR /src/components
RUN for d in sdk health task-tools chat-agent test-fixtures/fault test-fixtures/ok; do \
      mkdir -p "$d/src" && touch "$d/src/lib.rs"; \
    done \
 && cargo build --release --locked -p spaceport-sdk \
 && rm -rf sdk/src target/wasm32-wasip2/release/.fingerprint/spaceport-sdk-*
WORKDIR /src

# The sources.
COPY wit wit
COPY migrations migrations
COPY host host
COPY components components
COPY spin-like.toml ./
RUN touch host/src/main.rs host/src/lib.rs \
 && cargo build --release --locked -p spaceport \
 && ./target/release/spaceport build \
 && SPACEPORT_CACHE_DIR=/out/precompiled ./target/release/spaceport check \
 && mkdir -p /out/app/components/target/wasm32-wasip2/release \
 && cp target/release/spaceport spin-like.toml /out/app/ \
 && cp components/target/wasm32-wasip2/release/health.wasm \
       components/target/wasm32-wasip2/release/task_tools.wasm \
       components/target/wasm32-wasip2/release/chat_agent.wasm \
       /out/app/components/target/wasm32-wasip2/release/

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
