-- A collection's version, bumped in the transaction of every write to its
-- points: a host keeps a collection decoded in memory between searches and
-- reads it again when the version moved (a write here or in another replica).
-- Same logical schema as ../postgres/0004_vector_versions.sql.

ALTER TABLE vector_collections ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
