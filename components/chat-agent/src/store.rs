//! Conversations and messages, always scoped to the authenticated user, so
//! any request (any replica, after any restart) can resume a conversation.

use serde_json::{Value as Json, json};
use spaceport_sdk::llm::{Message, Role, ToolCall};
use spaceport_sdk::rows::rows;
use spaceport_sdk::sql::{self, Error as SqlError, Value};
use spaceport_sdk::time::now_rfc3339;

const DB: &str = "chat";
/// How much history is replayed to the model by default.
pub const HISTORY: i64 = 100;

#[derive(Debug)]
pub enum StoreError {
    NotFound,
    Unavailable,
    Failed(String),
}

impl From<SqlError> for StoreError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unavailable(_) => StoreError::Unavailable,
            other => StoreError::Failed(format!("{other:?}")),
        }
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// The id of `user`'s conversation `id`, or a new conversation titled after `first_message`.
pub fn open(user: &str, id: Option<i64>, first_message: &str) -> Result<i64, StoreError> {
    match id {
        Some(id) => {
            let r = sql::query(
                DB,
                "SELECT id FROM conversations WHERE id = $1 AND user_id = $2",
                &[Value::Integer(id), text(user)],
            )?;
            rows(&r)
                .next()
                .and_then(|row| row.i64("id"))
                .ok_or(StoreError::NotFound)
        }
        None => {
            let title: String = first_message.chars().take(60).collect();
            let now = now_rfc3339();
            let r = sql::query(
                DB,
                "INSERT INTO conversations (user_id, title, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
                &[text(user), text(&title), text(&now)],
            )?;
            rows(&r)
                .next()
                .and_then(|row| row.i64("id"))
                .ok_or_else(|| StoreError::Failed("insert returned no id".into()))
        }
    }
}

/// `user`'s most recently active conversation, if any.
pub fn latest(user: &str) -> Result<Option<i64>, StoreError> {
    let r = sql::query(
        DB,
        "SELECT id FROM conversations WHERE user_id = $1 ORDER BY updated_at DESC, id DESC LIMIT 1",
        &[text(user)],
    )?;
    Ok(rows(&r).next().and_then(|row| row.i64("id")))
}

/// Append a message.
pub fn append(user: &str, conversation: i64, message: &Message) -> Result<(), StoreError> {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let tool_calls = if message.tool_calls.is_empty() {
        Value::Null
    } else {
        let calls: Vec<Json> = message
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
            .collect();
        text(&Json::Array(calls).to_string())
    };
    sql::execute(
        DB,
        "INSERT INTO messages (conversation_id, user_id, role, content, tool_calls, tool_call_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Value::Integer(conversation),
            text(user),
            text(role),
            message.content.as_deref().map_or(Value::Null, text),
            tool_calls,
            message.tool_call_id.as_deref().map_or(Value::Null, text),
            text(&now_rfc3339()),
        ],
    )?;
    Ok(())
}

/// Mark the conversation as just used (it sorts first in the list).
pub fn touch(user: &str, conversation: i64) -> Result<(), StoreError> {
    sql::execute(
        DB,
        "UPDATE conversations SET updated_at = $1 WHERE id = $2 AND user_id = $3",
        &[
            text(&now_rfc3339()),
            Value::Integer(conversation),
            text(user),
        ],
    )?;
    Ok(())
}

/// The conversation's recent messages, oldest first, as the model sees them.
pub fn history(user: &str, conversation: i64, limit: i64) -> Result<Vec<Message>, StoreError> {
    let r = sql::query(
        DB,
        "SELECT role, content, tool_calls, tool_call_id FROM \
         (SELECT id, role, content, tool_calls, tool_call_id FROM messages \
          WHERE conversation_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT $3) recent ORDER BY id",
        &[
            Value::Integer(conversation),
            text(user),
            Value::Integer(limit),
        ],
    )?;
    let mut messages: Vec<Message> = rows(&r)
        .map(|row| Message {
            role: match row.text("role").as_deref() {
                Some("system") => Role::System,
                Some("assistant") => Role::Assistant,
                Some("tool") => Role::Tool,
                _ => Role::User,
            },
            content: row.text("content"),
            tool_calls: row
                .text("tool_calls")
                .and_then(|t| serde_json::from_str::<Vec<Json>>(&t).ok())
                .unwrap_or_default()
                .into_iter()
                .map(|c| ToolCall {
                    id: c["id"].as_str().unwrap_or_default().to_string(),
                    name: c["name"].as_str().unwrap_or_default().to_string(),
                    arguments: c["arguments"].as_str().unwrap_or("{}").to_string(),
                })
                .collect(),
            tool_call_id: row.text("tool_call_id"),
        })
        .collect();
    // A cut through the middle of a tool exchange would orphan tool results.
    while messages
        .first()
        .is_some_and(|m| matches!(m.role, Role::Tool))
    {
        messages.remove(0);
    }
    Ok(messages)
}

pub fn list(user: &str) -> Result<Json, StoreError> {
    let r = sql::query(
        DB,
        "SELECT id, title, created_at, updated_at FROM conversations WHERE user_id = $1 ORDER BY updated_at DESC, id DESC",
        &[text(user)],
    )?;
    Ok(Json::Array(
        rows(&r)
            .map(|row| {
                json!({
                    "id": row.i64("id"),
                    "title": row.text("title"),
                    "created_at": row.text("created_at"),
                    "updated_at": row.text("updated_at"),
                })
            })
            .collect(),
    ))
}

pub fn get(user: &str, id: i64) -> Result<Json, StoreError> {
    let c = sql::query(
        DB,
        "SELECT id, title, created_at, updated_at FROM conversations WHERE id = $1 AND user_id = $2",
        &[Value::Integer(id), text(user)],
    )?;
    let Some(conv) = rows(&c).next().map(|row| {
        json!({
            "id": row.i64("id"),
            "title": row.text("title"),
            "created_at": row.text("created_at"),
            "updated_at": row.text("updated_at"),
        })
    }) else {
        return Err(StoreError::NotFound);
    };
    let m = sql::query(
        DB,
        "SELECT id, role, content, tool_calls, tool_call_id, created_at FROM messages \
         WHERE conversation_id = $1 AND user_id = $2 ORDER BY id",
        &[Value::Integer(id), text(user)],
    )?;
    let messages: Vec<Json> = rows(&m)
        .map(|row| {
            json!({
                "id": row.i64("id"),
                "role": row.text("role"),
                "content": row.text("content"),
                "tool_calls": row.text("tool_calls").and_then(|t| serde_json::from_str::<Json>(&t).ok()),
                "tool_call_id": row.text("tool_call_id"),
                "created_at": row.text("created_at"),
            })
        })
        .collect();
    let mut conv = conv;
    conv["messages"] = Json::Array(messages);
    Ok(conv)
}

pub fn delete(user: &str, id: i64) -> Result<(), StoreError> {
    let n = sql::execute(
        DB,
        "DELETE FROM conversations WHERE id = $1 AND user_id = $2",
        &[Value::Integer(id), text(user)],
    )?;
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
