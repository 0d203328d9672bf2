"""Drive bench/ingest.sh: `ingest.py BASE_URL DOCUMENTS` registers a user and
saves DOCUMENTS documents of about eight 800-character chunks each over
`POST /api/{user_id}/documents` (chunked, embedded by the LLM double, stored),
one at a time; prints `documents chunks seconds chunks_per_s search_ms` (the
last: one hybrid `search_documents` afterwards). Standard library only."""

import json
import random
import sys
import time
import urllib.request

BASE = sys.argv[1].rstrip("/")
DOCS = int(sys.argv[2])
WORDS = ("robot sensor motor servo lidar camera battery wheel arm gripper controller feedback loop "
         "planning mapping kinematics torque voltage current signal filter noise estimate pose").split()


def call(method, path, body=None, token=None):
    req = urllib.request.Request(BASE + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.load(resp)


def document(rng):
    paragraphs = []
    for _ in range(8):
        words = [rng.choice(WORDS) for _ in range(110)]
        paragraphs.append(" ".join(words).capitalize() + ".")
    return "\n\n".join(paragraphs)


def main():
    rng = random.Random(3)
    email = "ingest@bench.test"
    try:
        call("POST", "/api/auth/register", {"email": email, "password": "password1", "name": "ingest"})
    except urllib.error.HTTPError:
        pass
    login = call("POST", "/api/auth/login", {"email": email, "password": "password1"})
    token, uid = login["access_token"], login["user"]["id"]
    bodies = [{"title": f"Document {i}", "content": document(rng)} for i in range(DOCS)]
    chunks = 0
    start = time.perf_counter()
    for body in bodies:
        saved = call("POST", f"/api/{uid}/documents", body, token)
        assert saved["search"] == "keyword+semantic", saved
        chunks += saved["chunks"]
    spent = time.perf_counter() - start
    t = time.perf_counter()
    found = call("POST", f"/api/{uid}/tools/search_documents", {"query": "servo feedback torque", "top_k": 5},
                 token)["result"]
    search_ms = (time.perf_counter() - t) * 1000
    assert found["search"] == "keyword+semantic" and found["results"], found
    print(f"{DOCS} {chunks} {spent:.1f} {chunks / spent:.0f} {search_ms:.0f}")


if __name__ == "__main__":
    main()
