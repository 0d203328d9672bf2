-- Components uploaded through the admin API (`spaceport deploy`). Blobs are
-- content-addressed (SHA-256 of the .wasm); `component_versions` is an
-- append-only log: a component serves the hash of its latest row, or the
-- image's file when that hash is NULL (a reset) or it has no row.
-- Same logical schema as ../postgres/0002_deployments.sql.

CREATE TABLE component_blobs (
    hash       TEXT PRIMARY KEY,
    bytes      BLOB NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE component_versions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    component  TEXT NOT NULL,
    hash       TEXT REFERENCES component_blobs (hash),
    action     TEXT NOT NULL,   -- deploy | rollback | reset
    actor      TEXT NOT NULL,   -- who asked: the admin client's address
    compile_ms INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX component_versions_by_component ON component_versions (component, seq);
