//! `{name}`: a tool the app's agents can call (world `tool-only`: no HTTP handler).

use serde_json::{Value, json};
use spaceport_sdk::{Tool, ToolError, ToolProvider};

struct Tools;

impl ToolProvider for Tools {
    fn describe() -> Vec<Tool> {
        vec![Tool {
            name: "{snake}".into(),
            description: "Count the words and characters of a text.".into(),
            // The host checks every call's arguments against this schema before the tool runs.
            parameters_schema: json!({
                "type": "object",
                "properties": { "text": { "type": "string", "maxLength": 100000 } },
                "required": ["text"],
                "additionalProperties": false
            })
            .to_string(),
        }]
    }

    fn invoke(name: String, arguments: String) -> Result<String, ToolError> {
        let args: Value = serde_json::from_str(&arguments)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        match name.as_str() {
            "{snake}" => {
                let text = args["text"].as_str().unwrap_or_default();
                let result = json!({
                    "words": text.split_whitespace().count(),
                    "characters": text.chars().count(),
                });
                Ok(result.to_string())
            }
            other => Err(ToolError::UnknownTool(other.into())),
        }
    }
}

spaceport_sdk::tool_provider!(Tools);
