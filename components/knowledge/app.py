"""The `knowledge` component: the signed-in user's notes and documents, which
the chat agent can save, search, list and delete (tools), and a frontend can
manage over `/api/{user_id}/documents` (HTTP). World
`spaceport:platform/tool-component`.

Grants: `sql = ["knowledge"]` (documents and their chunks), `vectors =
["knowledge"]` (chunk embeddings), `llm = true` (embeddings through the
host's OpenAI-compatible endpoint), `context = true` (whose documents).

Search works without any key: keyword search (BM25 over the user's chunks)
always; when the host has an embedding model, semantic search too, the two
fused by reciprocal rank. Every result names its document, title and chunk,
so the agent can cite its sources.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Optional

from spaceport import AccessDenied, InvalidArguments, NotFound, ToolProvider, context, sql, tool  # noqa: F401
from spaceport import llm, vectors
from spaceport.http import HTTPError, IncomingHandler, Request, Response, route  # noqa: F401 - IncomingHandler is the export

DB = "knowledge"
COLLECTION = "knowledge"
CHUNK_CHARS = 800
# Candidate chunks keyword search scores at most (the newest documents first).
MAX_CANDIDATES = 2000
RRF_K = 60
_WORD = re.compile(r"[\w']+", re.UNICODE)
# White space as the host's JSON Schema patterns (and Rust's `trim`) see it:
# Python's own `str.strip()` would also strip \x1c-\x1f, which the schemas let
# through, so a text the host accepted could end up "blank" here.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
# Non-blank, no NUL: the pattern the tool and REST schemas give title and content.
TEXT_PATTERN = "^[\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*" \
    "[^\u0000\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
_STOP = frozenset(
    "a an and are as at be but by for from has have how i in is it its of on or that the this to was what "
    "when where which who why with you your my me do does did about".split()
)


def _user() -> str:
    uid = context.user_id()
    if not uid:
        raise AccessDenied("knowledge belongs to a signed-in user; this call has none")
    return uid


def _terms(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 1 and w not in _STOP]


def chunk(content: str, size: int = CHUNK_CHARS) -> list[str]:
    """Split on blank lines and headings, then pack paragraphs into chunks of
    about `size` characters; a longer paragraph is cut at sentence ends, the
    last sentence repeated at the start of the next piece for context."""
    paragraphs = [p.strip(WHITESPACE) for p in re.split(r"\n\s*\n|\n(?=#)", content) if p.strip(WHITESPACE)]
    pieces: list[str] = []
    for p in paragraphs:
        if len(p) <= size:
            pieces.append(p)
            continue
        sentences = re.split(r"(?<=[.!?])\s+", p)
        current = ""
        for s in sentences:
            while len(s) > size:  # one enormous "sentence": hard cut
                pieces.append(s[:size])
                s = s[size:]
            if current and len(current) + 1 + len(s) > size:
                pieces.append(current)
                last = re.split(r"(?<=[.!?])\s+", current)[-1]
                current = last if len(last) + 1 + len(s) <= size else ""
            current = f"{current} {s}".strip()
        if current:
            pieces.append(current)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 2 + len(piece) <= size:
            chunks[-1] = f"{chunks[-1]}\n\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def _embed(texts: list[str]) -> Optional[list[list[float]]]:
    """Embeddings, or None when the host has no model (or it failed: then
    keyword search still works, and the reason is in the log)."""
    try:
        return llm.embed(texts)
    except llm.LlmError as e:
        if e.kind != "unconfigured":
            print(f"embedding failed ({e.kind}); keyword search only", flush=True)
        return None


@tool
def add_document(
    title: Annotated[str, {"minLength": 1, "maxLength": 200, "pattern": TEXT_PATTERN}],
    content: Annotated[str, {"minLength": 1, "maxLength": 50000, "pattern": TEXT_PATTERN}],
    source_url: Annotated[Optional[str], {"maxLength": 2000, "pattern": "^[^\u0000]*$"}] = None,
) -> dict:
    """Save a note or document (plain text or Markdown) for the user, so that
    search_documents can find it later. Use it when the user asks you to
    remember something or shares a text to keep.

    Args:
        title: A short title.
        content: The text to save.
        source_url: Where the text came from, if anywhere.
    """
    return _save(_user(), title, content, source_url)


def _save(user: str, title: str, content: str, source_url: Optional[str]) -> dict:
    """Chunk, store and (when an embedding model is configured) embed one document."""
    pieces = chunk(content)
    if not pieces:
        raise InvalidArguments("field `content`: there is no text to save")
    with sql.transaction(DB) as tx:
        doc_id = tx.query(
            "INSERT INTO documents (user_id, title, source_url, chunks) VALUES ($1, $2, $3, $4) RETURNING id",
            user, title.strip(WHITESPACE), source_url, len(pieces),
        ).scalar()
        for i, text in enumerate(pieces):
            tx.execute(
                "INSERT INTO chunks (document_id, idx, user_id, text) VALUES ($1, $2, $3, $4)",
                doc_id, i, user, text,
            )
    semantic = False
    embeddings = _embed(pieces)
    if embeddings:
        try:
            vectors.ensure_collection(COLLECTION, len(embeddings[0]))
            vectors.upsert(COLLECTION, [
                (f"{doc_id}#{i}", e, {"user_id": user, "document_id": doc_id, "chunk": i})
                for i, e in enumerate(embeddings)
            ])
            sql.execute(DB, "UPDATE documents SET embedded = $1 WHERE id = $2", True, doc_id)
            semantic = True
        except vectors.VectorError as e:
            # A changed embedding model (dimension-mismatch) or an outage: the
            # document is saved and found by keyword; the log says why not by meaning.
            print(f"document {doc_id}: not embedded ({e.kind}: {e.message})", flush=True)
    return {
        "document_id": doc_id,
        "title": title.strip(WHITESPACE),
        "chunks": len(pieces),
        "search": "keyword+semantic" if semantic else "keyword",
    }


def _keyword(user: str, query: str, limit: int) -> list[tuple[tuple[int, int], float]]:
    terms = _terms(query)
    if not terms:
        return []
    rows = sql.query(
        DB,
        "SELECT document_id, idx, text FROM chunks WHERE user_id = $1 ORDER BY document_id DESC, idx LIMIT $2",
        user, MAX_CANDIDATES,
    )
    docs = [((r["document_id"], r["idx"]), _terms(r["text"])) for r in rows]
    if not docs:
        return []
    avg = sum(len(d) for _, d in docs) / len(docs) or 1.0
    df = {t: sum(1 for _, d in docs if t in d) for t in set(terms)}
    scored = []
    for key, words in docs:
        score = 0.0
        for t in set(terms):
            tf = words.count(t)
            if not tf:
                continue
            idf = math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5))
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / avg))
        if score > 0:
            scored.append((key, score))
    scored.sort(key=lambda s: -s[1])
    return scored[:limit]


def _semantic(user: str, query: str, limit: int) -> Optional[list[tuple[tuple[int, int], float]]]:
    embedded = sql.query(DB, "SELECT COUNT(*) FROM documents WHERE user_id = $1 AND embedded = $2", user, True).scalar()
    if not embedded:
        return None
    vecs = _embed([query])
    if not vecs:
        return None
    try:
        hits = vectors.search(COLLECTION, vecs[0], top_k=limit,
                              filter={"must": [{"key": "user_id", "match": user}]})
    except vectors.VectorError as e:
        print(f"semantic search skipped ({e.kind})", flush=True)
        return None
    return [((int(h.payload["document_id"]), int(h.payload["chunk"])), h.score) for h in hits]


@tool
def search_documents(
    query: Annotated[str, {"minLength": 1, "maxLength": 500, "pattern": "\\S"}],
    top_k: Annotated[int, {"minimum": 1, "maximum": 20}] = 5,
) -> dict:
    """Search the user's saved notes and documents. Use it before answering a
    question the user's own documents may answer, and cite the titles of the
    results you used.

    Args:
        query: What to look for, in the user's words.
        top_k: How many passages to return (1-20).
    """
    user = _user()
    keyword = _keyword(user, query, top_k * 2)
    semantic = _semantic(user, query, top_k * 2)
    fused: dict[tuple[int, int], float] = {}
    for ranking in (keyword, semantic or []):
        for rank, (key, _) in enumerate(ranking):
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
    best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    results = []
    for (doc_id, idx), score in best:
        row = sql.query(
            DB,
            "SELECT d.title, d.source_url, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.document_id = $1 AND c.idx = $2 AND c.user_id = $3",
            doc_id, idx, user,
        ).first()
        if row:
            results.append({
                "document_id": doc_id, "title": row["title"], "source_url": row["source_url"],
                "chunk": idx, "score": round(score, 6), "text": row["text"],
            })
    return {
        "query": query,
        "search": "keyword+semantic" if semantic is not None else "keyword",
        "results": results,
    }


@tool
def list_documents() -> list:
    """List the user's saved notes and documents, newest first."""
    user = _user()
    rows = sql.query(
        DB,
        "SELECT id, title, source_url, chunks, created_at FROM documents WHERE user_id = $1 ORDER BY id DESC LIMIT 200",
        user,
    )
    return [
        {"document_id": r["id"], "title": r["title"], "source_url": r["source_url"],
         "chunks": r["chunks"], "created_at": r["created_at"]}
        for r in rows
    ]


@tool
def delete_document(document_id: Annotated[int, {"minimum": 1}]) -> dict:
    """Delete one of the user's saved documents (and everything search knew of it).

    Args:
        document_id: The document's id, from list_documents or search_documents.
    """
    return _delete(_user(), document_id)


def _delete(user: str, document_id: int) -> dict:
    with sql.transaction(DB) as tx:
        row = tx.query(
            "SELECT title, embedded FROM documents WHERE id = $1 AND user_id = $2", document_id, user
        ).first()
        if row is None:
            raise NotFound(f"no document {document_id}")
        tx.execute("DELETE FROM chunks WHERE document_id = $1", document_id)
        tx.execute("DELETE FROM documents WHERE id = $1", document_id)
    if row["embedded"] in (True, 1):
        try:
            vectors.delete_where(COLLECTION, {"must": [{"key": "document_id", "match": document_id},
                                                       {"key": "user_id", "match": user}]})
        except vectors.VectorError as e:
            print(f"document {document_id}: embeddings not deleted ({e.kind})", flush=True)
    return {"document_id": document_id, "status": "deleted", "title": row["title"]}


# ---------------------------------------------------------------------------
# HTTP: /api/{user_id}/documents (the host checks the token and that
# {user_id} is the caller's own id before a request reaches this component).

MAX_TITLE = 200
MAX_CONTENT = 50_000


def _field(value, name: str, limit: int, required: bool = True) -> Optional[str]:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise HTTPError(422, "validation_error", f"`{name}` must be a string")
    if required and not value.strip(WHITESPACE):
        raise HTTPError(422, "validation_error", f"`{name}` must not be blank")
    if len(value) > limit:
        raise HTTPError(422, "validation_error", f"`{name}` is longer than {limit} characters")
    if "\x00" in value:
        raise HTTPError(422, "validation_error", f"`{name}` must not contain NUL characters")
    return value


def _document_id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        # `43.0` and `4.3e1` are integers to JSON Schema (and to the OpenAPI document).
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number.is_integer()):
            raise HTTPError(422, "validation_error", "the document id must be an integer") from None
        value = int(number)
    if not 1 <= value <= 2**63 - 1:
        raise HTTPError(404, "not_found", f"no document {raw}")
    return value


@route("POST", "/api/:user_id/documents")
def create_document(request: Request, user_id: str) -> tuple:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.startswith("text/"):
        try:
            content = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(422, "validation_error", "the body must be UTF-8 text") from None
        _field(content, "content", MAX_CONTENT)
        first = next((line.strip(WHITESPACE).lstrip("#").strip(WHITESPACE)
                      for line in content.splitlines() if line.strip(WHITESPACE)), "")
        title = request.query_params.get("title") or first[:MAX_TITLE] or "Untitled"
        _field(title, "title", MAX_TITLE)
        source_url = request.query_params.get("source_url")
    else:
        body = request.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "validation_error", "the body must be a JSON object with `title` and `content`")
        unknown = sorted(set(body) - {"title", "content", "source_url"})
        if unknown:
            raise HTTPError(422, "validation_error", f"unknown field `{unknown[0]}`")
        title = _field(body.get("title"), "title", MAX_TITLE)
        content = _field(body.get("content"), "content", MAX_CONTENT)
        source_url = _field(body.get("source_url"), "source_url", 2000, required=False)
    saved = _save(_user(), title, content, source_url)
    return 201, {"id": saved["document_id"], "title": saved["title"], "chunks": saved["chunks"],
                 "search": saved["search"]}


@route("GET", "/api/:user_id/documents")
def documents(request: Request, user_id: str) -> list:
    return [
        {"id": d["document_id"], "title": d["title"], "source_url": d["source_url"],
         "chunks": d["chunks"], "created_at": d["created_at"]}
        for d in list_documents()
    ]


@route("GET", "/api/:user_id/documents/:document_id")
def document(request: Request, user_id: str, document_id: str) -> dict:
    user, doc = _user(), _document_id(document_id)
    row = sql.query(
        DB, "SELECT id, title, source_url, chunks, created_at FROM documents WHERE id = $1 AND user_id = $2",
        doc, user,
    ).first()
    if row is None:
        raise HTTPError(404, "not_found", f"no document {doc}")
    passages = sql.query(DB, "SELECT text FROM chunks WHERE document_id = $1 ORDER BY idx", doc)
    return {**row, "passages": [p["text"] for p in passages]}


@route("DELETE", "/api/:user_id/documents/:document_id")
def remove_document(request: Request, user_id: str, document_id: str) -> dict:
    deleted = _delete(_user(), _document_id(document_id))
    return {"id": deleted["document_id"], "status": "deleted", "title": deleted["title"]}
