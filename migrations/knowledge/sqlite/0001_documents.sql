-- Database `knowledge` (granted to the knowledge component): its own SQLite file.
-- Same logical schema as ../postgres/0001_documents.sql.
-- A document is split into chunks, searched by keyword here and, when an
-- embedding model is configured, by meaning in the `knowledge` vector collection.

CREATE TABLE documents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    source_url TEXT,
    chunks     INTEGER NOT NULL,
    embedded   INTEGER NOT NULL DEFAULT 0 CHECK (embedded IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX documents_user_idx ON documents (user_id, id);

CREATE TABLE chunks (
    document_id INTEGER NOT NULL REFERENCES documents (id),
    idx         INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (document_id, idx)
);
CREATE INDEX chunks_user_idx ON chunks (user_id);
