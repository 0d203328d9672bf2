-- Database `tasks` (granted to task-tools): its own SQLite file.
-- Same logical schema as ../postgres/0001_tasks.sql (see there).
-- Booleans are INTEGER 0/1; ids are INTEGER PRIMARY KEY (64-bit rowid).

CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX tasks_user_id_idx ON tasks (user_id, id);
