-- The embedded vector store (`spaceport:platform/vectors`): collections a
-- manifest grants (`vectors = ["docs"]`) and their points. Vectors are
-- little-endian float32 blobs; search is exact (every point of the
-- collection that matches the filter is scored).
-- Same logical schema as ../postgres/0003_vectors.sql.

CREATE TABLE vector_collections (
    name       TEXT PRIMARY KEY,
    dimension  INTEGER NOT NULL,
    distance   TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE vector_points (
    collection TEXT NOT NULL REFERENCES vector_collections (name),
    id         TEXT NOT NULL,
    vector     BLOB NOT NULL,
    payload    TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
