-- Keyword search by the database: an FTS5 index over the chunks' text
-- (Porter stemming), kept in step by triggers, ranked with BM25 by the query.
-- Same logical schema as ../postgres/0002_full_text.sql.

-- Which engine answers (the component writes its full-text query for it).
CREATE TABLE search_engine (kind TEXT NOT NULL);
INSERT INTO search_engine (kind) VALUES ('fts5');

CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text,
    content = 'chunks',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61'
);
-- The chunks stored before this migration.
INSERT INTO chunks_fts (rowid, text) SELECT rowid, text FROM chunks;

CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER chunks_fts_update AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
