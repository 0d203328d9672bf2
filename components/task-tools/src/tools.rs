//! The five tools of the Todo chatbot, as the agent's LLM sees them.

use crate::input;
use crate::store::{self, Patch, StoreError, Task};
use serde_json::{Map, Value, json};
use spaceport_sdk::{Tool, ToolError, ToolProvider, context};

pub struct TaskTools;

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    Tool {
        name: name.into(),
        description: description.into(),
        parameters_schema: schema.to_string(),
    }
}

fn task_id_schema() -> Value {
    // Models often send ids as strings: the tool accepts both, and says so
    // (the host checks arguments against this schema before the tool runs).
    json!({
        "anyOf": [
            { "type": "integer", "minimum": 1, "maximum": i64::MAX },
            { "type": "string", "pattern": "^[0-9]{1,18}$" }
        ],
        "description": "The task's id (from list_tasks or add_task)"
    })
}

/// What `input` accepts as a title: some text besides white space, no NUL,
/// at most `MAX_TITLE` characters as sent.
fn title_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": input::MAX_TITLE,
        "pattern": input::TITLE_PATTERN,
        "description": "Short title, at most 200 characters"
    })
}

fn description_schema() -> Value {
    json!({
        "type": "string",
        "maxLength": input::MAX_DESCRIPTION,
        "pattern": input::DESCRIPTION_PATTERN,
        "description": "Optional details, at most 1000 characters"
    })
}

impl ToolProvider for TaskTools {
    fn describe() -> Vec<Tool> {
        vec![
            tool(
                "add_task",
                "Create a new task for the user.",
                json!({
                    "type": "object",
                    "properties": {
                        "title": title_schema(),
                        "description": description_schema()
                    },
                    "required": ["title"],
                    "additionalProperties": false
                }),
            ),
            tool(
                "list_tasks",
                "List the user's tasks, optionally only pending or completed ones.",
                json!({
                    "type": "object",
                    "properties": {
                        "status": { "type": "string", "enum": ["all", "pending", "completed"], "default": "all" }
                    },
                    "additionalProperties": false
                }),
            ),
            tool(
                "update_task",
                "Change a task's title and/or description.",
                json!({
                    "type": "object",
                    "properties": {
                        "task_id": task_id_schema(),
                        "title": title_schema(),
                        "description": description_schema()
                    },
                    "required": ["task_id"],
                    "additionalProperties": false
                }),
            ),
            tool(
                "complete_task",
                "Mark a task as completed.",
                json!({
                    "type": "object",
                    "properties": { "task_id": task_id_schema() },
                    "required": ["task_id"],
                    "additionalProperties": false
                }),
            ),
            tool(
                "delete_task",
                "Delete a task permanently.",
                json!({
                    "type": "object",
                    "properties": { "task_id": task_id_schema() },
                    "required": ["task_id"],
                    "additionalProperties": false
                }),
            ),
        ]
    }

    fn invoke(name: String, arguments: String) -> Result<String, ToolError> {
        let Some(user) = context::user() else {
            return Err(ToolError::Failed("tools need an authenticated user".into()));
        };
        let args: Map<String, Value> =
            match serde_json::from_str::<Value>(if arguments.trim().is_empty() {
                "{}"
            } else {
                &arguments
            }) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(ToolError::InvalidArguments("expected a JSON object".into())),
                Err(e) => return Err(ToolError::InvalidArguments(format!("not valid JSON: {e}"))),
            };
        let user = user.user_id;
        let bad = |e: input::FieldError| ToolError::InvalidArguments(e.to_string());
        let result = match name.as_str() {
            "add_task" => {
                let new = input::new_task(&args).map_err(bad)?;
                let task = store::create(&user, &new.title, new.description.as_deref())
                    .map_err(tool_error)?;
                status(&task, "created")
            }
            "list_tasks" => {
                let status = match args.get("status") {
                    None | Some(Value::Null) => "all",
                    Some(Value::String(s)) => s.as_str(),
                    Some(_) => {
                        return Err(ToolError::InvalidArguments(
                            "status: must be a string".into(),
                        ));
                    }
                };
                let filter = input::filter(status).map_err(bad)?;
                let tasks = store::list(&user, filter).map_err(tool_error)?;
                json!(tasks)
            }
            "update_task" => {
                let id = input::task_id(&args).map_err(bad)?;
                let mut patch = input::patch(&args).map_err(bad)?;
                // Completion has its own tool.
                patch.completed = None;
                let task = store::update(&user, id, patch).map_err(tool_error)?;
                status(&task, "updated")
            }
            "complete_task" => {
                let id = input::task_id(&args).map_err(bad)?;
                let patch = Patch {
                    completed: Some(true),
                    ..Patch::default()
                };
                let task = store::update(&user, id, patch).map_err(tool_error)?;
                status(&task, "completed")
            }
            "delete_task" => {
                let id = input::task_id(&args).map_err(bad)?;
                let task = store::delete(&user, id).map_err(tool_error)?;
                status(&task, "deleted")
            }
            other => return Err(ToolError::UnknownTool(other.to_string())),
        };
        Ok(result.to_string())
    }
}

fn status(task: &Task, status: &str) -> Value {
    json!({ "task_id": task.id, "status": status, "title": task.title })
}

fn tool_error(e: StoreError) -> ToolError {
    match e {
        StoreError::NotFound => ToolError::NotFound("no such task".into()),
        StoreError::Unavailable(m) => ToolError::Unavailable(m),
        StoreError::Failed(m) => ToolError::Failed(m),
    }
}
