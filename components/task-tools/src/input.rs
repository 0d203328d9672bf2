//! Validation shared by the REST API and the tools: errors name the field.

use crate::store::{Filter, Patch};
use serde_json::{Map, Value};

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 1000;

/// JSON Schema `pattern`s for what `title` and `description` accept. A
/// title: something besides white space (Unicode `White_Space`, what
/// `str::trim` removes). Both: no NUL (PostgreSQL cannot store it). Written
/// out so that every regex dialect (the host's, a client's) reads them alike.
pub const TITLE_PATTERN: &str = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\0\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\0]*$";
pub const DESCRIPTION_PATTERN: &str = "^[^\0]*$";

/// A field that failed validation.
#[derive(Debug)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: &str) -> Self {
        Self {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
}

fn title(value: &Value) -> Result<String, FieldError> {
    let Value::String(s) = value else {
        return Err(FieldError::new("title", "must be a string"));
    };
    // The length as sent, as the schemas' `maxLength` counts it.
    if s.chars().count() > MAX_TITLE {
        return Err(FieldError::new("title", "must be at most 200 characters"));
    }
    if s.contains('\0') {
        return Err(FieldError::new("title", "must not contain NUL characters"));
    }
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldError::new("title", "must not be empty"));
    }
    Ok(t.to_string())
}

fn description(value: &Value) -> Result<Option<String>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() > MAX_DESCRIPTION => Err(FieldError::new(
            "description",
            "must be at most 1000 characters",
        )),
        Value::String(s) if s.contains('\0') => Err(FieldError::new(
            "description",
            "must not contain NUL characters",
        )),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(FieldError::new("description", "must be a string or null")),
    }
}

pub fn new_task(map: &Map<String, Value>) -> Result<NewTask, FieldError> {
    let title = title(
        map.get("title")
            .ok_or_else(|| FieldError::new("title", "is required"))?,
    )?;
    let description = match map.get("description") {
        None => None,
        Some(v) => description(v)?,
    };
    Ok(NewTask { title, description })
}

pub fn patch(map: &Map<String, Value>) -> Result<Patch, FieldError> {
    let mut patch = Patch::default();
    if let Some(v) = map.get("title") {
        patch.title = Some(title(v)?);
    }
    if let Some(v) = map.get("description") {
        patch.description = Some(description(v)?);
    }
    match map.get("completed") {
        None => {}
        Some(Value::Bool(b)) => patch.completed = Some(*b),
        Some(_) => return Err(FieldError::new("completed", "must be a boolean")),
    }
    Ok(patch)
}

pub fn filter(status: &str) -> Result<Filter, FieldError> {
    match status {
        "all" => Ok(Filter::All),
        "pending" => Ok(Filter::Pending),
        "completed" => Ok(Filter::Completed),
        _ => Err(FieldError::new(
            "status",
            "must be one of all, pending, completed",
        )),
    }
}

pub fn task_id(map: &Map<String, Value>) -> Result<i64, FieldError> {
    match map.get("task_id") {
        // `3.0` is an integer to JSON Schema.
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| FieldError::new("task_id", "must be an integer")),
        // Models sometimes send numbers as strings.
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| FieldError::new("task_id", "must be an integer")),
        Some(_) => Err(FieldError::new("task_id", "must be an integer")),
        None => Err(FieldError::new("task_id", "is required")),
    }
}
