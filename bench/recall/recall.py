"""Recall@5 of the knowledge component's search on bench/recall/corpus.json:
`recall.py BASE_URL` registers a user, saves every document over REST, asks
every question through the `search_documents` tool (HTTP tool path) in each
mode, and prints a Markdown table: the share of questions whose document is
among the first 5 results (and is the first), by mode and question kind.
Standard library only."""

import json
import sys
import urllib.request
from pathlib import Path

BASE = sys.argv[1].rstrip("/")
CORPUS = json.loads((Path(__file__).parent / "corpus.json").read_text())


def call(method, path, body=None, token=None):
    req = urllib.request.Request(BASE + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json",
                                          **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.load(resp)


def main():
    email = "recall@bench.test"
    try:
        call("POST", "/api/auth/register", {"email": email, "password": "password1", "name": "recall"})
    except urllib.error.HTTPError:
        pass
    login = call("POST", "/api/auth/login", {"email": email, "password": "password1"})
    token, uid = login["access_token"], login["user"]["id"]
    ids = {}
    for d in CORPUS["documents"]:
        saved = call("POST", f"/api/{uid}/documents", {"title": d["title"], "content": d["content"]}, token)
        ids[saved["id"]] = d["key"]
    modes = ["keyword", "semantic", "hybrid"]
    kinds = ["lexical", "paraphrase"]
    hits = {(m, k): 0 for m in modes for k in kinds}
    firsts = {(m, k): 0 for m in modes for k in kinds}
    totals = {k: sum(1 for q in CORPUS["questions"] if q["kind"] == k) for k in kinds}
    searched = {}
    for q in CORPUS["questions"]:
        for m in modes:
            answer = call("POST", f"/api/{uid}/tools/search_documents",
                          {"query": q["q"], "top_k": 5, "mode": m}, token)["result"]
            searched[m] = answer["search"]
            found = [ids.get(r["document_id"]) for r in answer["results"]]
            hits[(m, q["kind"])] += q["doc"] in found
            firsts[(m, q["kind"])] += found[:1] == [q["doc"]]
    print(f"| search (what ran) | recall@5 lexical ({totals['lexical']}) | recall@5 paraphrase "
          f"({totals['paraphrase']}) | recall@5 all | first hit, all |")
    print("|---|---|---|---|---|")
    n = sum(totals.values())
    for m in modes:
        both = hits[(m, "lexical")] + hits[(m, "paraphrase")]
        first = firsts[(m, "lexical")] + firsts[(m, "paraphrase")]
        print(f"| {m} ({searched[m]}) | {hits[(m, 'lexical')] / totals['lexical']:.2f} "
              f"| {hits[(m, 'paraphrase')] / totals['paraphrase']:.2f} | {both / n:.2f} | {first / n:.2f} |")

if __name__ == "__main__":
    main()
