"""Drive bench/vectors.sh: `vectors.py URL SIZE SEARCHES` ingests SIZE random
1536-d points through the fault component's vectors endpoint (none when SIZE
is 0), then runs SEARCHES top-10 searches one at a time; prints
`ingest_points_per_s search_p50_ms search_p99_ms`. Standard library only."""

import json
import random
import sys
import time
import urllib.request

DIM = 1536
BATCH = 250


def call(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        answer = json.load(resp)
    if "error" in answer:
        raise SystemExit(f"{body.get('op')}: {answer['error']}")
    return answer


def vector(rng: random.Random) -> list:
    return [round(rng.gauss(0, 1), 5) for _ in range(DIM)]


def main() -> None:
    url, size, searches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(7)
    # SIZE 0: search only (the points are there from an earlier run).
    if size:
        call(url, {"op": "ensure", "collection": "bench", "dimension": DIM})
    # Bodies are made before the clock starts: the figure is the host's.
    spent = 0.0
    for start in range(0, size, BATCH):
        points = [{"id": f"p{i}", "vector": vector(rng), "payload": {"user": f"u{i % 10}", "chunk": i}}
                  for i in range(start, min(size, start + BATCH))]
        body = {"op": "upsert", "collection": "bench", "points": points}
        t = time.perf_counter()
        call(url, body)
        spent += time.perf_counter() - t
    times = []
    for _ in range(searches):
        body = {"op": "search", "collection": "bench", "vector": vector(rng), "top_k": 10}
        t = time.perf_counter()
        hits = call(url, body)["ok"]
        times.append(time.perf_counter() - t)
        assert len(hits) == 10, hits
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    print(f"{size / spent if spent else 0:.0f} {p(0.50):.1f} {p(0.99):.1f}")


if __name__ == "__main__":
    main()
