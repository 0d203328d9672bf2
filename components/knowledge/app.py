"""The `knowledge` component: the signed-in user's notes and documents, which
the chat agent can save, search, list and delete (tools), and a frontend can
manage over `/api/{user_id}/documents` (HTTP). World
`spaceport:platform/tool-component`.

Grants: `sql = ["knowledge"]` (documents and their chunks), `vectors =
["knowledge"]` (chunk embeddings), `llm = true` (embeddings through the
host's OpenAI-compatible endpoint), `context = true` (whose documents).

Search works without any key: keyword search (the database's full-text
index: SQLite FTS5 or PostgreSQL tsvector) always; when the host has an embedding model, semantic search too, the two
fused by reciprocal rank. Every result names its document, title and chunk,
so the agent can cite its sources.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Optional

from spaceport import AccessDenied, InvalidArguments, NotFound, ToolProvider, context, sql, tool  # noqa: F401
from spaceport import llm, variables, vectors
from spaceport.http import HTTPError, IncomingHandler, Request, Response, route  # noqa: F401 - IncomingHandler is the export

DB = "knowledge"
# The owner of the shared library: documents every user's search reads, added
# and removed only by the component's librarians. No account or session id
# can be this (ids are UUIDs or `anon-` hashes).
SHARED = "*shared*"
COLLECTION = "knowledge"
# An existing, populated collection (a textbook loaded by another pipeline):
# with Qdrant, the host maps this grant to QDRANT_COLLECTION, read-only. Its
# passages are searched by meaning only (their text is not in this database).
LIBRARY = "library"
# Payload keys an ingestion pipeline commonly writes a passage's text, title,
# link and position under, tried in order.
TEXT_KEYS = ("text", "content", "page_content", "chunk_text", "document")
TITLE_KEYS = ("title", "source", "chapter", "file_name", "filename")
URL_KEYS = ("source_url", "url", "link")
CHUNK_KEYS = ("chunk", "chunk_index", "chunk_id")
CHUNK_CHARS = 800
RRF_K = 60
# Points per vector upsert (the capability takes at most 1000).
UPSERT_BATCH = 256
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


def _librarian() -> bool:
    """Whether the caller may add to or remove from the shared library: their
    email is in the `librarians` variable (comma-separated; none by default)."""
    who = context.user()
    allowed = {e.strip().lower() for e in (variables.get("librarians") or "").split(",") if e.strip()}
    return bool(who and who.email and who.email.lower() in allowed)


class NotLibrarian(Exception):
    """The caller tried to change the shared library without being a librarian."""

    def __init__(self) -> None:
        super().__init__("only the knowledge component's librarians (its `librarians` variable) may change "
                         "the shared library")


def _owner(user: str, shared: bool) -> str:
    """Whose a new or changed document is: the caller's, or the shared library's."""
    if not shared:
        return user
    if not _librarian():
        raise NotLibrarian()
    return SHARED


def _forbidden(e: NotLibrarian) -> HTTPError:
    return HTTPError(403, "forbidden", str(e))


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
    semantic = _index(user, doc_id, pieces) is None
    return {
        "document_id": doc_id,
        "title": title.strip(WHITESPACE),
        "chunks": len(pieces),
        "search": "keyword+semantic" if semantic else "keyword",
    }


def _index(user: str, doc_id: int, pieces: list[str]) -> Optional[str]:
    """Embed a stored document's chunks into the collection; `None` when done,
    else why not (`unconfigured`, `unavailable`, `dimension-mismatch`, ...).
    The document is marked embedded only once every point is written, so one
    cut short (the store went down mid-way) still says `keyword`, and a retry
    (`POST .../documents/{id}/embed`) writes the same point ids again."""
    try:
        embeddings = llm.embed(pieces)
    except llm.LlmError as e:
        if e.kind != "unconfigured":
            print(f"document {doc_id}: not embedded ({e.kind})", flush=True)
        return e.kind
    if not embeddings:
        return "unconfigured"
    try:
        vectors.ensure_collection(COLLECTION, len(embeddings[0]))
        for start in range(0, len(embeddings), UPSERT_BATCH):
            vectors.upsert(COLLECTION, [
                (f"{doc_id}#{i}", e, {"user_id": user, "document_id": doc_id, "chunk": i})
                for i, e in enumerate(embeddings[start:start + UPSERT_BATCH], start)
            ])
    except vectors.VectorError as e:
        # A changed embedding model (dimension-mismatch) or an outage: the
        # document is saved and found by keyword; the log says why not by meaning.
        print(f"document {doc_id}: not embedded ({e.kind}: {e.message})", flush=True)
        return e.kind
    sql.execute(DB, "UPDATE documents SET embedded = $1 WHERE id = $2", True, doc_id)
    return None


def _keyword(user: str, query: str, limit: int) -> list[tuple[tuple[int, int], float]]:
    """The caller's and the shared library's best chunks for the query's words,
    ranked by the database's full-text index: SQLite's FTS5 (BM25, Porter
    stemming) or PostgreSQL's tsvector (ts_rank_cd, English stemming), as the
    migration that built it says. Any word may match (OR)."""
    terms = sorted(set(_terms(query)))
    if not terms:
        return []
    engine = sql.query(DB, "SELECT kind FROM search_engine").scalar()
    if engine == "fts5":
        # Each word quoted: FTS5's query syntax never sees the user's text.
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        rows = sql.query(
            DB,
            "SELECT c.document_id, c.idx, -bm25(chunks_fts) AS score FROM chunks_fts "
            "JOIN chunks c ON c.rowid = chunks_fts.rowid "
            "WHERE chunks_fts MATCH $1 AND (c.user_id = $2 OR c.user_id = $3) "
            "ORDER BY bm25(chunks_fts), c.document_id DESC, c.idx LIMIT $4",
            match, user, SHARED, limit,
        )
    else:
        # websearch_to_tsquery reads any text without a syntax error.
        rows = sql.query(
            DB,
            "SELECT document_id, idx, ts_rank_cd(tsv, q) AS score "
            "FROM chunks, websearch_to_tsquery('english', $1) AS q "
            "WHERE tsv @@ q AND (user_id = $2 OR user_id = $3) "
            "ORDER BY score DESC, document_id DESC, idx LIMIT $4",
            " or ".join(terms), user, SHARED, limit,
        )
    return [((int(r["document_id"]), int(r["idx"])), float(r["score"])) for r in rows]


def _first(payload: dict, keys: tuple, kind=str):
    return next((payload[k] for k in keys if isinstance(payload.get(k), kind)), None)


def _has_library() -> bool:
    """Whether a library collection is there to search (granted and existing)."""
    try:
        return vectors.count(LIBRARY) > 0
    except vectors.VectorError:
        return False


def _library(vector: list, limit: int) -> list:
    """The library collection's best passages for `vector`, as
    `(("library", point id), score, passage)`; none when there is no library
    (not granted, not configured, or another model's dimension)."""
    try:
        hits = vectors.search(LIBRARY, vector, top_k=limit)
    except vectors.VectorError as e:
        if e.kind not in ("not-found", "access-denied"):
            print(f"library search skipped ({e.kind})", flush=True)
        return []
    out = []
    for h in hits:
        text = _first(h.payload, TEXT_KEYS)
        if not text:
            continue
        out.append(((LIBRARY, h.id), h.score, {
            "document_id": None,
            "title": _first(h.payload, TITLE_KEYS) or "Library",
            "source_url": _first(h.payload, URL_KEYS),
            "chunk": _first(h.payload, CHUNK_KEYS, int) or 0,
            "text": text,
            "shared": True,
        }))
    return out


def _semantic(user: str, query: str, limit: int, passages: dict) -> Optional[list]:
    """The caller's, the shared library's and the library collection's best
    chunks by meaning; library passages are put in `passages` by key."""
    owners = [o for (o,) in sql.query(
        DB, "SELECT DISTINCT user_id FROM documents WHERE (user_id = $1 OR user_id = $2) AND embedded = $3",
        user, SHARED, True,
    ).rows]
    # Nothing to search by meaning: no query embedding (it costs the user's budget).
    if not owners and not _has_library():
        return None
    vecs = _embed([query])
    if not vecs:
        return None
    scored = []
    try:
        # The caller's points and the shared library's, each searched by its
        # owner (a filter matches one value), then merged by score.
        for owner in owners:
            scored += [((int(h.payload["document_id"]), int(h.payload["chunk"])), h.score)
                       for h in vectors.search(COLLECTION, vecs[0], top_k=limit,
                                               filter={"must": [{"key": "user_id", "match": owner}]})]
    except vectors.VectorError as e:
        print(f"semantic search skipped ({e.kind})", flush=True)
        scored = []
    for key, score, passage in _library(vecs[0], limit):
        passages[key] = passage
        scored.append((key, score))
    if not owners and not passages:
        return None
    scored.sort(key=lambda ks: -ks[1])
    return scored[:limit]


@tool
def search_documents(
    query: Annotated[str, {"minLength": 1, "maxLength": 500, "pattern": "\\S"}],
    top_k: Annotated[int, {"minimum": 1, "maximum": 20}] = 5,
    mode: Annotated[str, {"enum": ["hybrid", "keyword", "semantic"]}] = "hybrid",
) -> dict:
    """Search the user's saved notes and documents. Use it before answering a
    question the user's own documents may answer, and cite the titles of the
    results you used.

    Args:
        query: What to look for, in the user's words.
        top_k: How many passages to return (1-20).
        mode: `hybrid` (default: by keyword and, with an embedding model, by meaning), or only `keyword` or `semantic`.
    """
    user = _user()
    keyword = _keyword(user, query, top_k * 2) if mode != "semantic" else []
    passages: dict = {}
    semantic = _semantic(user, query, top_k * 2, passages) if mode != "keyword" else None
    fused: dict[tuple[int, int], float] = {}
    for ranking in (keyword, semantic or []):
        for rank, (key, _) in enumerate(ranking):
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
    best = sorted(fused.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top_k]
    results = []
    for key, score in best:
        if key in passages:
            results.append({**passages[key], "score": round(score, 6)})
            continue
        doc_id, idx = key
        row = sql.query(
            DB,
            "SELECT d.title, d.source_url, c.text, c.user_id FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.document_id = $1 AND c.idx = $2 AND (c.user_id = $3 OR c.user_id = $4)",
            doc_id, idx, user, SHARED,
        ).first()
        if row:
            results.append({
                "document_id": doc_id, "title": row["title"], "source_url": row["source_url"],
                "chunk": idx, "score": round(score, 6), "text": row["text"], "shared": row["user_id"] == SHARED,
            })
    return {
        "query": query,
        # What was searched: "keyword+semantic", "keyword", "semantic", or
        # "none" (semantic only, without an embedding model).
        "search": "+".join([m for m, on in (("keyword", mode != "semantic"), ("semantic", semantic is not None)) if on])
        or "none",
        "results": results,
    }


@tool
def list_documents() -> list:
    """List the user's saved notes and documents (and the shared library's), newest first."""
    user = _user()
    rows = sql.query(
        DB,
        "SELECT id, title, source_url, chunks, created_at, embedded, user_id FROM documents "
        "WHERE user_id = $1 OR user_id = $2 ORDER BY id DESC LIMIT 200",
        user, SHARED,
    )
    return [
        {"document_id": r["id"], "title": r["title"], "source_url": r["source_url"],
         "chunks": r["chunks"], "created_at": r["created_at"], "search": _search_of(r["embedded"]),
         "shared": r["user_id"] == SHARED}
        for r in rows
    ]


def _search_of(embedded) -> str:
    """How a document can be found: by keyword always, by meaning once embedded."""
    return "keyword+semantic" if embedded in (True, 1) else "keyword"


@tool
def delete_document(document_id: Annotated[int, {"minimum": 1}]) -> dict:
    """Delete one of the user's saved documents (and everything search knew of it).

    Args:
        document_id: The document's id, from list_documents or search_documents.
    """
    try:
        return _delete(_user(), document_id)
    except NotLibrarian as e:
        # The tool protocol has no "forbidden": the arguments name a document this caller may not delete.
        raise InvalidArguments(f"field `document_id`: {e}") from None


def _delete(user: str, document_id: int) -> dict:
    with sql.transaction(DB) as tx:
        row = tx.query(
            "SELECT title, embedded, user_id FROM documents WHERE id = $1 AND (user_id = $2 OR user_id = $3)",
            document_id, user, SHARED,
        ).first()
        if row is None:
            raise NotFound(f"no document {document_id}")
        user = _owner(user, row["user_id"] == SHARED)
        tx.execute("DELETE FROM chunks WHERE document_id = $1", document_id)
        tx.execute("DELETE FROM documents WHERE id = $1", document_id)
    # Also for a document never marked embedded: an indexing cut short may
    # have written some of its points.
    try:
        vectors.delete_where(COLLECTION, {"must": [{"key": "document_id", "match": document_id},
                                                   {"key": "user_id", "match": user}]})
    except vectors.VectorError as e:
        if e.kind != "not-found" or row["embedded"] in (True, 1):
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
        shared = request.query_params.get("shared", "false").lower() in ("true", "1")
    else:
        body = request.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "validation_error", "the body must be a JSON object with `title` and `content`")
        unknown = sorted(set(body) - {"title", "content", "source_url", "shared"})
        if unknown:
            raise HTTPError(422, "validation_error", f"unknown field `{unknown[0]}`")
        title = _field(body.get("title"), "title", MAX_TITLE)
        content = _field(body.get("content"), "content", MAX_CONTENT)
        source_url = _field(body.get("source_url"), "source_url", 2000, required=False)
        shared = body.get("shared", False)
        if not isinstance(shared, bool):
            raise HTTPError(422, "validation_error", "`shared` must be true or false")
    try:
        owner = _owner(_user(), shared)
    except NotLibrarian as e:
        raise _forbidden(e) from None
    saved = _save(owner, title, content, source_url)
    return 201, {"id": saved["document_id"], "title": saved["title"], "chunks": saved["chunks"],
                 "search": saved["search"], "shared": shared}


@route("GET", "/api/:user_id/documents")
def documents(request: Request, user_id: str) -> list:
    return [
        {"id": d["document_id"], "title": d["title"], "source_url": d["source_url"],
         "chunks": d["chunks"], "created_at": d["created_at"], "search": d["search"], "shared": d["shared"]}
        for d in list_documents()
    ]


@route("GET", "/api/:user_id/documents/:document_id")
def document(request: Request, user_id: str, document_id: str) -> dict:
    user, doc = _user(), _document_id(document_id)
    row = sql.query(
        DB, "SELECT id, title, source_url, chunks, created_at, embedded, user_id FROM documents "
        "WHERE id = $1 AND (user_id = $2 OR user_id = $3)",
        doc, user, SHARED,
    ).first()
    if row is None:
        raise HTTPError(404, "not_found", f"no document {doc}")
    passages = sql.query(DB, "SELECT text FROM chunks WHERE document_id = $1 ORDER BY idx", doc)
    detail = {k: v for k, v in row.items() if k not in ("embedded", "user_id")}
    return {**detail, "search": _search_of(row["embedded"]), "shared": row["user_id"] == SHARED,
            "passages": [p["text"] for p in passages]}


# Why indexing failed, as the retry endpoint answers it.
_INDEX_ERRORS = {
    "unconfigured": (503, "embeddings_unconfigured",
                     "no embedding model is configured (OPENAI_API_KEY); the document is found by keyword"),
    "dimension-mismatch": (409, "dimension_mismatch",
                           "the embedding model's dimension differs from the collection's; the document is "
                           "found by keyword"),
}


@route("POST", "/api/:user_id/documents/:document_id/embed")
def embed_document(request: Request, user_id: str, document_id: str) -> dict:
    """Embed a document again (after an outage cut its indexing short): its
    chunks are read back and written with the same point ids, so it is
    complete afterwards whatever was written before."""
    user, doc = _user(), _document_id(document_id)
    row = sql.query(
        DB, "SELECT id, title, chunks, user_id FROM documents WHERE id = $1 AND (user_id = $2 OR user_id = $3)",
        doc, user, SHARED,
    ).first()
    if row is None:
        raise HTTPError(404, "not_found", f"no document {doc}")
    try:
        owner = _owner(user, row["user_id"] == SHARED)
    except NotLibrarian as e:
        raise _forbidden(e) from None
    pieces = [p["text"] for p in sql.query(DB, "SELECT text FROM chunks WHERE document_id = $1 ORDER BY idx", doc)]
    failed = _index(owner, doc, pieces)
    if failed is not None:
        status, code, detail = _INDEX_ERRORS.get(
            failed, (503, "index_unavailable", "the embedding model or the vector store is unavailable; retry shortly"))
        raise HTTPError(status, code, detail, [("retry-after", "10")] if status == 503 else None)
    return {"id": row["id"], "title": row["title"], "chunks": row["chunks"], "search": "keyword+semantic"}


@route("DELETE", "/api/:user_id/documents/:document_id")
def remove_document(request: Request, user_id: str, document_id: str) -> dict:
    try:
        deleted = _delete(_user(), _document_id(document_id))
    except NotLibrarian as e:
        raise _forbidden(e) from None
    return {"id": deleted["document_id"], "status": "deleted", "title": deleted["title"]}
