-- Database `chat` (granted to chat-agent): conversations and their messages.
-- `user_id` is the host's user id (no foreign key: accounts live in the
-- host's own database). Same logical schema as ../sqlite/0001_chat.sql.

CREATE TABLE conversations (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    title      TEXT,
    created_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    updated_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE INDEX conversations_user_id_idx ON conversations (user_id, updated_at);

CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content         TEXT,
    tool_calls      TEXT,
    tool_call_id    TEXT,
    created_at      TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE INDEX messages_conversation_id_idx ON messages (conversation_id, id);
