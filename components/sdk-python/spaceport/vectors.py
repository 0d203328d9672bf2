"""`spaceport:platform/vectors` with Python values (grant: `vectors = ["docs"]`).

    vectors.ensure_collection("docs", 1536)                   # cosine by default
    vectors.upsert("docs", [("doc1#0", embedding, {"user": uid, "title": "Notes"})])
    for hit in vectors.search("docs", query_embedding, top_k=5,
                              filter={"must": [{"key": "user", "match": uid}]}):
        print(hit.id, hit.score, hit.payload["title"])

Payloads are dicts (stored as JSON); filters are dicts of the documented shape
(`{"must": [{"key", "match"} | {"key", "range": {"gte", ...}}]}`). Failures
raise `VectorError`, whose `kind` is the WIT case (`not-found`,
`dimension-mismatch`, `invalid-filter`, `access-denied`, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

from componentize_py_types import Err
from wit_world.imports import vectors as _vectors

from ._wit import case_name


class VectorError(Exception):
    """A vectors call failed. `kind` is the WIT error case, e.g. `dimension-mismatch`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Hit:
    """One search result: the point's id, its score and its payload."""

    id: str
    score: float
    payload: dict


_DISTANCES = {
    "cosine": _vectors.Distance.COSINE,
    "dot": _vectors.Distance.DOT,
    "euclid": _vectors.Distance.EUCLID,
}


def ensure_collection(name: str, dimension: int,
                      distance: Literal["cosine", "dot", "euclid"] = "cosine") -> None:
    """Create collection `name` if it does not exist; an existing one must match."""
    _call(_vectors.ensure_collection, name, dimension, _DISTANCES[distance])


def upsert(collection: str, points: Iterable[tuple[str, Sequence[float], dict]]) -> None:
    """Insert or replace `(id, vector, payload)` points (at most 1000 per call)."""
    wit_points = [
        _vectors.Point(id=str(pid), vector=[float(x) for x in vector], payload=json.dumps(payload or {}))
        for pid, vector, payload in points
    ]
    _call(_vectors.upsert, collection, wit_points)


def search(collection: str, vector: Sequence[float], top_k: int = 10,
           filter: dict | None = None, score_threshold: float | None = None) -> list[Hit]:
    """The points nearest to `vector`, best first."""
    query = _vectors.Query(
        vector=[float(x) for x in vector],
        top_k=top_k,
        filter=None if filter is None else json.dumps(filter),
        score_threshold=score_threshold,
    )
    hits = _call(_vectors.search, collection, query)
    return [Hit(h.id, h.score, json.loads(h.payload or "{}")) for h in hits]


def delete(collection: str, ids: Iterable[str]) -> int:
    """Delete points by id; returns how many existed."""
    return _call(_vectors.delete_points, collection, [str(i) for i in ids])


def delete_where(collection: str, filter: dict) -> int:
    """Delete the points whose payload matches `filter`; returns how many."""
    return _call(_vectors.delete_where, collection, json.dumps(filter))


def count(collection: str, filter: dict | None = None) -> int:
    """How many points (matching `filter`, if given) the collection holds."""
    return _call(_vectors.count, collection, None if filter is None else json.dumps(filter))


def _call(fn, *args: Any) -> Any:
    try:
        return fn(*args)
    except Err as e:
        raise VectorError(case_name(e.value, "VectorError_"), str(getattr(e.value, "value", "") or "")) from None
