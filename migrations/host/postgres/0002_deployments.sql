-- Components uploaded through the admin API (`spaceport deploy`), shared by
-- every replica on this database. Blobs are content-addressed (SHA-256 of the
-- .wasm); `component_versions` is an append-only log: a component serves the
-- hash of its latest row, or the image's file when that hash is NULL (a
-- reset) or it has no row. Same logical schema as ../sqlite/0002_deployments.sql.

CREATE TABLE component_blobs (
    hash       TEXT PRIMARY KEY,
    bytes      BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    created_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);

CREATE TABLE component_versions (
    seq        BIGSERIAL PRIMARY KEY,
    component  TEXT NOT NULL,
    hash       TEXT REFERENCES component_blobs (hash),
    action     TEXT NOT NULL,   -- deploy | rollback | reset
    actor      TEXT NOT NULL,   -- who asked: the admin client's address
    compile_ms BIGINT,
    created_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE INDEX component_versions_by_component ON component_versions (component, seq);
