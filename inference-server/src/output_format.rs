//! What a chat request asks its output to look like — OpenAI's `response_format`,
//! `tools` and `tool_choice` — checked field by field (a 400 naming the parameter for
//! anything the server cannot honour, never a silent ignore), and turned into the
//! grammar the sampler follows ([`crate::structured`]) and the instructions the model
//! reads.
//!
//! Tool calls are generated as one JSON object `{"name": …, "arguments": {…}}` whose
//! arguments follow the function's `parameters` schema. The tool list reaches the model as
//! a system instruction (every chat template can carry one); with `tool_choice: auto` the
//! model may answer in text instead (anything not starting with `{`).

use serde_json::{Value, json};

use crate::api_error::ApiError;

/// The shape the output must take.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// Free text.
    Text,
    /// JSON valid against `schema` (`{"type": "object"}` for `json_object`).
    Json { schema: Value },
    /// A call of one of `functions`, or (`may_answer`) a text answer.
    ToolCall { functions: Vec<Function>, may_answer: bool },
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub description: Option<String>,
    /// JSON schema of the arguments object.
    pub parameters: Value,
}

/// Reads `response_format`, `tools`, `tool_choice` and `parallel_tool_calls`.
pub fn requested_format(
    response_format: Option<&Value>,
    tools: Option<&Value>,
    tool_choice: Option<&Value>,
    parallel_tool_calls: Option<&Value>,
) -> Result<OutputFormat, ApiError> {
    let functions = match tools {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.iter().enumerate().map(|(i, t)| function(i, t)).collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::invalid("tools", "tools must be an array")),
    };
    if let Some(names) = duplicate(&functions) {
        return Err(ApiError::invalid("tools", format!("function {names:?} is declared twice")));
    }
    if matches!(parallel_tool_calls, Some(Value::Bool(true))) && !functions.is_empty() {
        // One call per answer is what the grammar produces; asking for more must not be
        // answered with fewer in silence. OpenAI's default (absent) is accepted.
        return Err(ApiError::invalid(
            "parallel_tool_calls",
            "this server makes at most one tool call per answer; set parallel_tool_calls to false",
        ));
    }
    let choice = match tool_choice {
        None | Some(Value::Null) => {
            if functions.is_empty() {
                "none"
            } else {
                "auto"
            }
        }
        Some(Value::String(mode)) if matches!(mode.as_str(), "none" | "auto" | "required") => mode.as_str(),
        Some(Value::Object(named)) if named.get("type").and_then(Value::as_str) == Some("function") => {
            let name = named
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("tool_choice", "a named tool_choice needs function.name"))?;
            let chosen: Vec<Function> = functions.iter().filter(|f| f.name == name).cloned().collect();
            if chosen.is_empty() {
                return Err(ApiError::invalid("tool_choice", format!("no tool named {name:?} in tools")));
            }
            return with_response_format(
                response_format,
                OutputFormat::ToolCall { functions: chosen, may_answer: false },
            );
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "tool_choice",
                "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}",
            ));
        }
    };
    let format = match choice {
        "none" => OutputFormat::Text,
        _ if functions.is_empty() => {
            return Err(ApiError::invalid("tool_choice", format!("tool_choice {choice:?} needs tools")));
        }
        "required" => OutputFormat::ToolCall { functions, may_answer: false },
        _ => OutputFormat::ToolCall { functions, may_answer: true },
    };
    with_response_format(response_format, format)
}

/// Combines the tool choice with `response_format` (both shaping one output is refused).
fn with_response_format(response_format: Option<&Value>, tools: OutputFormat) -> Result<OutputFormat, ApiError> {
    let format = match response_format {
        None | Some(Value::Null) => OutputFormat::Text,
        Some(Value::Object(rf)) => match rf.get("type").and_then(Value::as_str) {
            Some("text") => OutputFormat::Text,
            Some("json_object") => OutputFormat::Json { schema: json!({"type": "object"}) },
            Some("json_schema") => {
                let spec = rf.get("json_schema").and_then(Value::as_object).ok_or_else(|| {
                    ApiError::invalid("response_format", "json_schema needs a json_schema object with a schema")
                })?;
                if spec.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(ApiError::invalid("response_format", "json_schema.name is required"));
                }
                match spec.get("schema") {
                    Some(schema @ Value::Object(_)) => OutputFormat::Json { schema: schema.clone() },
                    None => OutputFormat::Json { schema: json!({}) },
                    Some(_) => {
                        return Err(ApiError::invalid("response_format", "json_schema.schema must be an object"));
                    }
                }
            }
            other => {
                return Err(ApiError::invalid(
                    "response_format",
                    format!("unsupported response_format type {other:?}: use text, json_object or json_schema"),
                ));
            }
        },
        Some(_) => return Err(ApiError::invalid("response_format", "response_format must be an object")),
    };
    match (format, tools) {
        (format, OutputFormat::Text) => Ok(format),
        (OutputFormat::Text, tools) => Ok(tools),
        _ => Err(ApiError::invalid(
            "response_format",
            "a JSON response_format and a tool call cannot both shape one answer; set tool_choice to \"none\"",
        )),
    }
}

fn function(i: usize, tool: &Value) -> Result<Function, ApiError> {
    let bad = |message: &str| ApiError::invalid("tools", format!("tools[{i}]: {message}"));
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return Err(bad("only tools of type \"function\" are supported"));
    }
    let f = tool.get("function").and_then(Value::as_object).ok_or_else(|| bad("function is required"))?;
    let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
    let valid_name =
        (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        return Err(bad("function.name must be 1-64 letters, digits, _ or -"));
    }
    let parameters = match f.get("parameters") {
        None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => return Err(bad("function.parameters must be a JSON schema object")),
    };
    Ok(Function {
        name: name.to_string(),
        description: f.get("description").and_then(Value::as_str).map(str::to_string),
        parameters,
    })
}

fn duplicate(functions: &[Function]) -> Option<&str> {
    functions
        .iter()
        .enumerate()
        .find(|(i, f)| functions[..*i].iter().any(|g| g.name == f.name))
        .map(|(_, f)| f.name.as_str())
}

impl OutputFormat {
    /// JSON schema of a tool call of one of `functions`.
    fn call_schema(functions: &[Function]) -> Value {
        let one = |f: &Function| {
            json!({
                "type": "object",
                "properties": {"name": {"const": f.name}, "arguments": f.parameters},
                "required": ["name", "arguments"],
                "additionalProperties": false
            })
        };
        match functions {
            [f] => one(f),
            many => json!({"anyOf": many.iter().map(one).collect::<Vec<_>>()}),
        }
    }

    /// The grammar, as the grammar engine reads it: a JSON schema or a Lark grammar.
    pub fn grammar(&self) -> Option<Grammar> {
        match self {
            Self::Text => None,
            Self::Json { schema } => Some(Grammar::JsonSchema(schema.clone())),
            Self::ToolCall { functions, may_answer: false } => Some(Grammar::JsonSchema(Self::call_schema(functions))),
            Self::ToolCall { functions, may_answer: true } => {
                // A text answer is anything that does not open a JSON object.
                let schema = Self::call_schema(functions);
                Some(Grammar::Lark(format!("start: call | answer\ncall: %json {schema}\nanswer: /[^{{][\\s\\S]*/\n")))
            }
        }
    }

    /// A system instruction that tells the model about its tools (none without tools).
    pub fn instructions(&self) -> Option<String> {
        let Self::ToolCall { functions, may_answer } = self else {
            return None;
        };
        let listed: Vec<Value> = functions
            .iter()
            .map(|f| json!({"name": f.name, "description": f.description, "parameters": f.parameters}))
            .collect();
        let how = if *may_answer {
            "To call a function, reply with only a JSON object {\"name\": <function name>, \"arguments\": <arguments object>}; otherwise answer in plain text."
        } else {
            "Reply with only a JSON object {\"name\": <function name>, \"arguments\": <arguments object>} that calls one of them."
        };
        Some(format!("You can call these functions:\n{}\n{how}", Value::Array(listed)))
    }

    /// Reads a finished output as a tool call, when it is one.
    pub fn tool_call(&self, text: &str) -> Option<(String, String)> {
        let Self::ToolCall { functions, .. } = self else {
            return None;
        };
        let value: Value = serde_json::from_str(text.trim()).ok()?;
        let name = value.get("name")?.as_str()?;
        let arguments = value.get("arguments")?;
        functions.iter().any(|f| f.name == name).then(|| (name.to_string(), arguments.to_string()))
    }
}

/// A grammar for [`crate::structured::GrammarCompiler`].
#[derive(Debug, Clone, PartialEq)]
pub enum Grammar {
    JsonSchema(Value),
    Lark(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(result: Result<OutputFormat, ApiError>) -> Option<String> {
        match result {
            Err(ApiError::InvalidParameter { param, .. }) => Some(param.to_string()),
            _ => None,
        }
    }

    #[test]
    fn formats_are_read_and_unsupported_ones_name_their_parameter() {
        let weather = json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
        assert_eq!(requested_format(None, None, None, None).ok(), Some(OutputFormat::Text));
        assert!(matches!(
            requested_format(Some(&json!({"type": "json_object"})), None, None, None),
            Ok(OutputFormat::Json { .. })
        ));
        assert!(matches!(
            requested_format(None, Some(&weather), None, None),
            Ok(OutputFormat::ToolCall { may_answer: true, .. })
        ));
        assert!(matches!(
            requested_format(None, Some(&weather), Some(&json!("required")), Some(&json!(false))),
            Ok(OutputFormat::ToolCall { may_answer: false, .. })
        ));
        assert_eq!(requested_format(None, Some(&weather), Some(&json!("none")), None).ok(), Some(OutputFormat::Text));
        for (rf, tools, choice, parallel, want) in [
            (Some(json!({"type": "grammar"})), None, None, None, "response_format"),
            (Some(json!({"type": "json_schema", "json_schema": {"schema": {}}})), None, None, None, "response_format"),
            (None, Some(json!({"x": 1})), None, None, "tools"),
            (None, Some(json!([{"type": "retrieval"}])), None, None, "tools"),
            (None, None, Some(json!("required")), None, "tool_choice"),
            (
                None,
                Some(weather.clone()),
                Some(json!({"type": "function", "function": {"name": "x"}})),
                None,
                "tool_choice",
            ),
            (None, Some(weather.clone()), None, Some(json!(true)), "parallel_tool_calls"),
            (
                Some(json!({"type": "json_object"})),
                Some(weather.clone()),
                Some(json!("required")),
                None,
                "response_format",
            ),
        ] {
            let got = param(requested_format(rf.as_ref(), tools.as_ref(), choice.as_ref(), parallel.as_ref()));
            assert_eq!(got.as_deref(), Some(want), "{rf:?} {tools:?} {choice:?}");
        }
    }

    #[test]
    fn tool_calls_are_read_back_only_for_declared_functions() {
        let format = OutputFormat::ToolCall {
            functions: vec![Function { name: "f".into(), description: None, parameters: json!({"type": "object"}) }],
            may_answer: true,
        };
        assert_eq!(
            format.tool_call(r#"{"name": "f", "arguments": {"a": 1}}"#),
            Some(("f".into(), r#"{"a":1}"#.into()))
        );
        assert_eq!(format.tool_call(r#"{"name": "g", "arguments": {}}"#), None);
        assert_eq!(format.tool_call("It is sunny."), None);
    }
}
