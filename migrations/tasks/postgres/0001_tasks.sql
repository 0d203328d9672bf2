-- Database `tasks` (granted to task-tools): a schema owned by its own role.
-- `user_id` is the host's user id (the accounts live in the host's own
-- database, which no component can reach, so there is no foreign key).
-- Same logical schema as ../sqlite/0001_tasks.sql.

CREATE TABLE tasks (
    id          BIGSERIAL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    completed   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    updated_at  TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE INDEX tasks_user_id_idx ON tasks (user_id, id);
