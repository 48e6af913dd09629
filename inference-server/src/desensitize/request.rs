//! Desensitizing OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`).
//!
//! The body stays a `serde_json::Value` so that fields this code does not know are
//! forwarded unchanged; but every field that carries user text is checked for its shape
//! first, and a shape the walker does not understand is an error, never a pass-through:
//! text that was not inspected must not reach the cloud.

use serde_json::Value;

use super::actions::{Desensitizer, EntityCounts};
use super::error::DesensitizeError;
use super::vault::Vault;

/// Result of desensitizing one request.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Pseudonyms to restore in the answer (empty unless the action is `pseudonymize`).
    pub vault: Vault,
    /// Entities found, per type.
    pub counts: EntityCounts,
    /// Whether the request asks for a streamed answer.
    pub stream: bool,
}

/// Message fields that are protocol, not text.
const STRUCTURAL_KEYS: &[&str] = &["role", "type", "id", "tool_call_id", "index"];

/// Content part types that carry text, and the field the text is in.
const TEXT_PARTS: &[(&str, &str)] =
    &[("text", "text"), ("input_text", "text"), ("output_text", "text"), ("refusal", "refusal")];

/// A pass over the strings of a request: first to reserve placeholder-shaped input, then to
/// replace entities.
trait Visit {
    fn text(&mut self, s: &mut String);
    /// Tool-call arguments: JSON inside a string.
    fn json_text(&mut self, s: &mut String);
}

struct Reserve<'a> {
    desensitizer: &'a Desensitizer,
    vault: &'a mut Vault,
}

impl Visit for Reserve<'_> {
    fn text(&mut self, s: &mut String) {
        self.desensitizer.reserve_existing(s, self.vault);
    }
    fn json_text(&mut self, s: &mut String) {
        self.desensitizer.reserve_existing(s, self.vault);
    }
}

struct Replace<'a> {
    desensitizer: &'a Desensitizer,
    vault: &'a mut Vault,
    counts: &'a mut EntityCounts,
}

impl Visit for Replace<'_> {
    fn text(&mut self, s: &mut String) {
        if let Some(new) = self.desensitizer.desensitize_text(s, self.vault, self.counts) {
            *s = new;
        }
    }

    fn json_text(&mut self, s: &mut String) {
        // Arguments are usually JSON: desensitize its strings one by one so that the result
        // is still valid JSON and a value like "John" is seen without its quotes. Not JSON
        // (a model's truncated call) → treat as plain text.
        match serde_json::from_str::<Value>(s) {
            Ok(mut parsed) => {
                let before = self.counts.total();
                walk_all_strings(&mut parsed, self);
                // Re-serializing reorders keys; leave untouched arguments as the model wrote them.
                if self.counts.total() != before {
                    *s = parsed.to_string();
                }
            }
            Err(_) => self.text(s),
        }
    }
}

/// Desensitizes every string inside `value` (keys are left alone).
fn walk_all_strings(value: &mut Value, visit: &mut dyn Visit) {
    match value {
        Value::String(s) => visit.text(s),
        Value::Array(items) => items.iter_mut().for_each(|v| walk_all_strings(v, visit)),
        Value::Object(map) => map.values_mut().for_each(|v| walk_all_strings(v, visit)),
        _ => {}
    }
}

/// Test builds only (`fault-injection` feature): a request carrying this marker makes
/// detection panic, so tests can prove a crashing desensitizer forwards nothing.
#[cfg(feature = "fault-injection")]
pub const PANIC_MARKER: &str = "__netgpt_inject_detector_panic__";

#[cfg(feature = "fault-injection")]
fn inject_fault(body: &Value) {
    if body.to_string().contains(PANIC_MARKER) {
        panic!("injected detector fault");
    }
}

#[cfg(not(feature = "fault-injection"))]
fn inject_fault(_body: &Value) {}

impl Desensitizer {
    /// Desensitizes a chat completion request in place.
    pub fn desensitize_chat(&self, body: &mut Value) -> Result<Outcome, DesensitizeError> {
        inject_fault(body);
        self.desensitize_body(body, Endpoint::Chat)
    }

    /// Desensitizes a (legacy) completion request in place.
    pub fn desensitize_completion(&self, body: &mut Value) -> Result<Outcome, DesensitizeError> {
        self.desensitize_body(body, Endpoint::Completion)
    }

    fn desensitize_body(&self, body: &mut Value, endpoint: Endpoint) -> Result<Outcome, DesensitizeError> {
        let object = body
            .as_object()
            .ok_or_else(|| DesensitizeError::invalid("body", "the request body must be a JSON object"))?;
        let stream = match object.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(DesensitizeError::invalid("stream", "`stream` must be a boolean"));
            }
        };
        // Validate the whole shape before touching anything: a request is either fully
        // desensitized or rejected.
        validate(body, endpoint)?;
        let mut outcome = Outcome { stream, ..Default::default() };
        walk(body, endpoint, &mut Reserve { desensitizer: self, vault: &mut outcome.vault });
        walk(
            body,
            endpoint,
            &mut Replace { desensitizer: self, vault: &mut outcome.vault, counts: &mut outcome.counts },
        );
        Ok(outcome)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completion,
}

fn validate(body: &Value, endpoint: Endpoint) -> Result<(), DesensitizeError> {
    match endpoint {
        Endpoint::Chat => {
            let messages = body
                .get("messages")
                .and_then(Value::as_array)
                .ok_or_else(|| DesensitizeError::invalid("messages", "`messages` must be an array"))?;
            for (i, message) in messages.iter().enumerate() {
                validate_message(message, i)?;
            }
        }
        Endpoint::Completion => match body.get("prompt") {
            Some(Value::String(_)) => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(Value::Array(_)) => {
                return Err(DesensitizeError::Unsupported {
                    param: "prompt".into(),
                    what: "token ids cannot be inspected".into(),
                });
            }
            _ => {
                return Err(DesensitizeError::invalid("prompt", "`prompt` must be a string or an array of strings"));
            }
        },
    }
    for key in ["user", "suffix"] {
        if let Some(v) = body.get(key)
            && !(v.is_string() || v.is_null())
        {
            return Err(DesensitizeError::invalid(key, format!("`{key}` must be a string")));
        }
    }
    Ok(())
}

fn validate_message(message: &Value, i: usize) -> Result<(), DesensitizeError> {
    let param = |field: &str| format!("messages[{i}]{field}");
    let object =
        message.as_object().ok_or_else(|| DesensitizeError::invalid(param(""), "a message must be an object"))?;
    if !object.get("role").is_some_and(Value::is_string) {
        return Err(DesensitizeError::invalid(param(".role"), "`role` must be a string"));
    }
    match object.get("content") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).ok_or_else(|| {
                    DesensitizeError::invalid(param(&format!(".content[{j}].type")), "a content part needs a `type`")
                })?;
                let Some((_, field)) = TEXT_PARTS.iter().find(|(t, _)| *t == kind) else {
                    return Err(DesensitizeError::Unsupported {
                        param: param(&format!(".content[{j}]")),
                        what: format!("content part type `{kind}`"),
                    });
                };
                if !part.get(*field).is_some_and(Value::is_string) {
                    return Err(DesensitizeError::invalid(
                        param(&format!(".content[{j}].{field}")),
                        format!("a `{kind}` part needs a string `{field}`"),
                    ));
                }
            }
        }
        Some(_) => {
            return Err(DesensitizeError::invalid(
                param(".content"),
                "`content` must be a string or an array of parts",
            ));
        }
    }
    if let Some(calls) = object.get("tool_calls").filter(|v| !v.is_null()) {
        let calls = calls
            .as_array()
            .ok_or_else(|| DesensitizeError::invalid(param(".tool_calls"), "`tool_calls` must be an array"))?;
        for (j, call) in calls.iter().enumerate() {
            let arguments = call.get("function").and_then(|f| f.get("arguments"));
            if !arguments.is_none_or(Value::is_string) {
                return Err(DesensitizeError::invalid(
                    param(&format!(".tool_calls[{j}].function.arguments")),
                    "`arguments` must be a string",
                ));
            }
        }
    }
    Ok(())
}

fn walk(body: &mut Value, endpoint: Endpoint, visit: &mut dyn Visit) {
    match endpoint {
        Endpoint::Chat => {
            if let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) {
                for message in messages {
                    walk_message(message, visit);
                }
            }
        }
        Endpoint::Completion => match body.get_mut("prompt") {
            Some(Value::String(s)) => visit.text(s),
            Some(Value::Array(items)) => items.iter_mut().for_each(|v| walk_all_strings(v, visit)),
            _ => {}
        },
    }
    for key in ["user", "suffix"] {
        if let Some(Value::String(s)) = body.get_mut(key) {
            visit.text(s);
        }
    }
    // Free-form metadata and tool descriptions also travel to the cloud.
    if let Some(metadata) = body.get_mut("metadata") {
        walk_all_strings(metadata, visit);
    }
    if let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut) {
        for tool in tools {
            walk_descriptions(tool, visit);
        }
    }
}

/// Every message field except protocol ones is text the cloud will read: content, name,
/// refusal, reasoning, tool-call arguments, and anything a newer API adds.
fn walk_message(message: &mut Value, visit: &mut dyn Visit) {
    let Some(object) = message.as_object_mut() else {
        return;
    };
    for (key, value) in object.iter_mut() {
        if STRUCTURAL_KEYS.contains(&key.as_str()) {
            continue;
        }
        match (key.as_str(), value) {
            ("content", Value::Array(parts)) => {
                for part in parts {
                    for (_, field) in TEXT_PARTS {
                        if let Some(Value::String(s)) = part.get_mut(*field) {
                            visit.text(s);
                        }
                    }
                }
            }
            ("tool_calls", Value::Array(calls)) => {
                for call in calls {
                    walk_call(call, visit);
                }
            }
            ("function_call", call) => walk_function(call, visit),
            (_, value) => walk_all_strings(value, visit),
        }
    }
}

fn walk_call(call: &mut Value, visit: &mut dyn Visit) {
    if let Some(function) = call.get_mut("function") {
        walk_function(function, visit);
    }
}

fn walk_function(function: &mut Value, visit: &mut dyn Visit) {
    if let Some(Value::String(arguments)) = function.get_mut("arguments") {
        visit.json_text(arguments);
    }
}

fn walk_descriptions(value: &mut Value, visit: &mut dyn Visit) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "description" => visit.text(s),
                    other => walk_descriptions(other, visit),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk_descriptions(v, visit)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use netgpt_crds::workflow::EntityType;
    use serde_json::json;

    use super::*;

    #[test]
    fn every_text_field_is_desensitized_consistently() {
        let d = Desensitizer::new(Default::default());
        let mut body = json!({
            "model": "m",
            "stream": true,
            "user": "jo@example.com",
            "messages": [
                {"role": "system", "content": "Assistant of Maria Gonzalez."},
                {"role": "user", "content": [{"type": "text", "text": "Mail jo@example.com, I am [EMAIL_1]"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "send", "arguments": "{\"to\":\"jo@example.com\",\"n\":3}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "sent to Maria Gonzalez"}
            ]
        });
        let outcome = d.desensitize_chat(&mut body).expect("valid request");
        let text = body.to_string();
        assert!(!text.contains("jo@example.com"), "{text}");
        assert!(!text.contains("Gonzalez"), "{text}");
        assert!(outcome.stream);
        // [EMAIL_1] was in the input: the e-mail gets [EMAIL_2] everywhere.
        assert_eq!(outcome.vault.original("[EMAIL_2]"), Some("jo@example.com"));
        assert_eq!(outcome.vault.original("[EMAIL_1]"), None);
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"n\":3,\"to\":\"[EMAIL_2]\"}");
        assert_eq!(body["messages"][3]["tool_call_id"], "c1");
        assert_eq!(outcome.counts.get(EntityType::Email), 3);
        assert_eq!(outcome.counts.get(EntityType::Person), 2);
    }

    #[test]
    fn shapes_it_cannot_inspect_are_rejected() {
        let d = Desensitizer::new(Default::default());
        for body in [
            json!([]),
            json!({"messages": "hi"}),
            json!({"messages": [{"content": "no role"}]}),
            json!({"messages": [{"role": "user", "content": 5}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            json!({"messages": [], "stream": "yes"}),
        ] {
            let mut b = body.clone();
            assert!(d.desensitize_chat(&mut b).is_err(), "{body}");
        }
        let mut tokens = json!({"prompt": [1, 2, 3]});
        assert!(matches!(d.desensitize_completion(&mut tokens), Err(DesensitizeError::Unsupported { .. })));
        let mut ok = json!({"prompt": ["call +86 138 1234 5678"]});
        d.desensitize_completion(&mut ok).expect("strings are fine");
        assert_eq!(ok["prompt"][0], "call [PHONE_1]");
    }
}
