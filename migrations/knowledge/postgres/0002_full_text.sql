-- Keyword search by the database: a tsvector of each chunk's text (English
-- stemming), computed on write and indexed with GIN, ranked by ts_rank_cd.
-- Same logical schema as ../sqlite/0002_full_text.sql.

-- Which engine answers (the component writes its full-text query for it).
CREATE TABLE search_engine (kind TEXT NOT NULL);
INSERT INTO search_engine (kind) VALUES ('tsvector');

-- Filled for the chunks stored before this migration too.
ALTER TABLE chunks ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('english', text)) STORED;
CREATE INDEX chunks_tsv_idx ON chunks USING GIN (tsv);
