-- Database `knowledge` (granted to the knowledge component): its own schema and role.
-- Same logical schema as ../sqlite/0001_documents.sql.

CREATE TABLE documents (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    title      TEXT NOT NULL,
    source_url TEXT,
    chunks     INTEGER NOT NULL,
    embedded   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE INDEX documents_user_idx ON documents (user_id, id);

CREATE TABLE chunks (
    document_id BIGINT NOT NULL REFERENCES documents (id),
    idx         INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (document_id, idx)
);
CREATE INDEX chunks_user_idx ON chunks (user_id);
