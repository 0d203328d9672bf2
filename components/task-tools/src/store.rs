//! Every statement is scoped to the authenticated user: another user's task
//! is indistinguishable from a missing one.

use serde::Serialize;
use spaceport_sdk::rows::{Row, rows};
use spaceport_sdk::sql::{self, Error as SqlError, Value};
use spaceport_sdk::time::now_rfc3339;

const DB: &str = "tasks";
const COLUMNS: &str = "id, title, description, completed, created_at, updated_at";

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// Why a task operation failed.
#[derive(Debug)]
pub enum StoreError {
    NotFound,
    Unavailable(String),
    Failed(String),
}

impl From<SqlError> for StoreError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Failed(format!("{other:?}")),
        }
    }
}

/// Which tasks to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Pending,
    Completed,
}

/// Changes to apply; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Patch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub completed: Option<bool>,
}

fn task(row: &Row) -> Task {
    Task {
        id: row.i64("id").unwrap_or_default(),
        title: row.text("title").unwrap_or_default(),
        description: row.text("description"),
        completed: row.bool("completed").unwrap_or(false),
        created_at: row.text("created_at").unwrap_or_default(),
        updated_at: row.text("updated_at").unwrap_or_default(),
    }
}

/// The one task a statement returned, or `NotFound`.
fn first(result: &sql::QueryResult) -> Result<Task, StoreError> {
    rows(result)
        .next()
        .map(|r| task(&r))
        .ok_or(StoreError::NotFound)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

pub fn list(user: &str, filter: Filter) -> Result<Vec<Task>, StoreError> {
    let result = match filter {
        Filter::All => sql::query(
            DB,
            &format!("SELECT {COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY id"),
            &[text(user)],
        )?,
        Filter::Pending | Filter::Completed => sql::query(
            DB,
            &format!(
                "SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND completed = $2 ORDER BY id"
            ),
            &[text(user), Value::Boolean(filter == Filter::Completed)],
        )?,
    };
    Ok(rows(&result).map(|r| task(&r)).collect())
}

pub fn get(user: &str, id: i64) -> Result<Task, StoreError> {
    let result = sql::query(
        DB,
        &format!("SELECT {COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"),
        &[Value::Integer(id), text(user)],
    )?;
    first(&result)
}

pub fn create(user: &str, title: &str, description: Option<&str>) -> Result<Task, StoreError> {
    let now = now_rfc3339();
    let result = sql::query(
        DB,
        &format!(
            "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        ),
        &[
            text(user),
            text(title),
            opt_text(description),
            Value::Boolean(false),
            text(&now),
        ],
    )?;
    rows(&result)
        .next()
        .map(|r| task(&r))
        .ok_or_else(|| StoreError::Failed("insert returned no row".into()))
}

/// Apply `patch` in one statement: fields it leaves out keep their value, so
/// concurrent patches of different fields do not undo each other.
pub fn update(user: &str, id: i64, patch: Patch) -> Result<Task, StoreError> {
    let result = sql::query(
        DB,
        &format!(
            "UPDATE tasks SET title = COALESCE($3, title), \
             description = CASE WHEN $4 THEN $5 ELSE description END, \
             completed = COALESCE($6, completed), updated_at = $7 \
             WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
        ),
        &[
            Value::Integer(id),
            text(user),
            opt_text(patch.title.as_deref()),
            Value::Boolean(patch.description.is_some()),
            opt_text(patch.description.flatten().as_deref()),
            patch.completed.map_or(Value::Null, Value::Boolean),
            text(&now_rfc3339()),
        ],
    )?;
    first(&result)
}

pub fn delete(user: &str, id: i64) -> Result<Task, StoreError> {
    let result = sql::query(
        DB,
        &format!("DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"),
        &[Value::Integer(id), text(user)],
    )?;
    first(&result)
}
