//! Desensitizing OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`):
//! deny by default.
//!
//! Only parameters listed here are forwarded; any other top-level field, message field or
//! content-part type is refused with a 4xx naming it, never passed through unread. Of
//! what is forwarded, every string is scanned — message contents, names, tool-call ids
//! and arguments, `stop`, `user`, `prediction`, `metadata`, tool and function
//! definitions, `response_format` schemas — and so are object **keys** and **numbers**
//! wherever they occur (a JSON schema's property names, `{"phone": 13812345678}` in tool
//! arguments): a number found to be personal data becomes its placeholder string. The
//! text parts of one message are scanned as the model reads them, concatenated, so a
//! value split across parts is still found. The one exception is `model`, an identifier
//! the gateway sets: forwarded as written, it must look like a model name and is refused
//! if it holds personal data.

use serde_json::{Map, Value};

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

/// Parameters of `/v1/chat/completions` that are forwarded (OpenAI's, plus the sampling
/// extensions vLLM and llama.cpp accept). `messages` has its own walker; everything else
/// is scanned whole.
const CHAT_PARAMS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "response_format",
    "metadata",
    "prediction",
    "store",
    "service_tier",
    "reasoning_effort",
    "modalities",
    "top_k",
    "min_p",
    "repetition_penalty",
];

/// Parameters of `/v1/completions` that are forwarded.
const COMPLETION_PARAMS: &[&str] = &[
    "model",
    "prompt",
    "suffix",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "echo",
    "best_of",
    "user",
    "seed",
    "top_k",
    "min_p",
    "repetition_penalty",
];

/// Message fields that are forwarded (`role` is checked against [`ROLES`]).
const MESSAGE_FIELDS: &[&str] =
    &["role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal", "reasoning_content"];

const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool", "function"];

/// Content part types that carry text, and the field the text is in.
const TEXT_PARTS: &[(&str, &str)] =
    &[("text", "text"), ("input_text", "text"), ("output_text", "text"), ("refusal", "refusal")];

/// A pass over the strings of a request: first to validate and reserve placeholder-shaped
/// input, then to replace entities.
trait Visit {
    fn text(&mut self, s: &mut String) -> Result<(), DesensitizeError>;
    /// Strings the model reads as one text.
    fn joined(&mut self, parts: &mut [&mut String]) -> Result<(), DesensitizeError>;
}

struct Reserve<'a> {
    desensitizer: &'a Desensitizer,
    vault: &'a mut Vault,
}

impl Visit for Reserve<'_> {
    fn text(&mut self, s: &mut String) -> Result<(), DesensitizeError> {
        self.desensitizer.reserve_existing(s, self.vault);
        Ok(())
    }
    fn joined(&mut self, parts: &mut [&mut String]) -> Result<(), DesensitizeError> {
        let joined: String = parts.iter().map(|p| p.as_str()).collect();
        self.desensitizer.reserve_existing(&joined, self.vault);
        Ok(())
    }
}

struct Replace<'a> {
    desensitizer: &'a Desensitizer,
    vault: &'a mut Vault,
    counts: &'a mut EntityCounts,
}

impl Visit for Replace<'_> {
    fn text(&mut self, s: &mut String) -> Result<(), DesensitizeError> {
        if let Some(new) = self.desensitizer.desensitize_text(s, self.vault, self.counts)? {
            *s = new;
        }
        Ok(())
    }
    fn joined(&mut self, parts: &mut [&mut String]) -> Result<(), DesensitizeError> {
        self.desensitizer.desensitize_joined(parts, self.vault, self.counts)
    }
}

/// Scans every key, string and number inside `value`.
fn scan(value: &mut Value, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    match value {
        Value::String(s) => visit.text(s),
        Value::Number(n) => {
            // As written, and for a whole number written as a float (`4111111111111111.0`,
            // `1.3812345678e10`) also its digits: that is the value a reader takes from it.
            let written = n.to_string();
            let whole = n
                .as_f64()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21)
                .map(|f| format!("{f:.0}"))
                .filter(|digits| *digits != written);
            for form in std::iter::once(written).chain(whole) {
                let mut text = form.clone();
                visit.text(&mut text)?;
                if text != form {
                    *value = Value::String(text);
                    break;
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| scan(v, visit)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            let mut scanned = Map::with_capacity(entries.len());
            for (mut key, mut v) in entries {
                visit.text(&mut key)?;
                scan(&mut v, visit)?;
                // Two keys that read the same once replaced (two phone numbers masked
                // alike) would silently lose an entry: refused instead.
                if scanned.insert(key, v).is_some() {
                    return Err(DesensitizeError::invalid(
                        "body",
                        "two object keys become the same once their personal data is replaced",
                    ));
                }
            }
            *map = scanned;
            Ok(())
        }
        Value::Bool(_) | Value::Null => Ok(()),
    }
}

/// JSON inside a string (tool-call arguments): its keys, strings and numbers are scanned
/// one by one so that the result is still JSON; text that is not JSON (a model's
/// truncated call) is scanned as text.
fn scan_json_text(s: &mut String, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    match serde_json::from_str::<Value>(s) {
        Ok(mut parsed) => {
            scan(&mut parsed, visit)?;
            // Always the re-serialized form, never the bytes as written: a duplicate key
            // is read once by the parser but would travel twice in the original text.
            *s = parsed.to_string();
            Ok(())
        }
        Err(_) => visit.text(s),
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
        // The first pass validates the whole shape without changing anything, so a
        // request is either fully desensitized or rejected.
        let mut outcome = Outcome { stream, ..Default::default() };
        walk(body, endpoint, &mut Reserve { desensitizer: self, vault: &mut outcome.vault })?;
        walk(
            body,
            endpoint,
            &mut Replace { desensitizer: self, vault: &mut outcome.vault, counts: &mut outcome.counts },
        )?;
        Ok(outcome)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completion,
}

fn not_forwarded(param: impl Into<String>, what: impl Into<String>) -> DesensitizeError {
    DesensitizeError::Unsupported { param: param.into(), what: what.into() }
}

fn walk(body: &mut Value, endpoint: Endpoint, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    let object = body
        .as_object_mut()
        .ok_or_else(|| DesensitizeError::invalid("body", "the request body must be a JSON object"))?;
    let allowed = match endpoint {
        Endpoint::Chat => CHAT_PARAMS,
        Endpoint::Completion => COMPLETION_PARAMS,
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(not_forwarded(unknown.clone(), format!("unknown parameter `{unknown}`")));
    }
    match endpoint {
        Endpoint::Chat => {
            let messages = object
                .get_mut("messages")
                .and_then(Value::as_array_mut)
                .ok_or_else(|| DesensitizeError::invalid("messages", "`messages` must be an array"))?;
            for (i, message) in messages.iter_mut().enumerate() {
                walk_message(message, i, visit)?;
            }
        }
        Endpoint::Completion => match object.get_mut("prompt") {
            Some(Value::String(s)) => visit.text(s)?,
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter_mut().try_for_each(|v| scan(v, visit))?;
            }
            Some(Value::Array(_)) => return Err(not_forwarded("prompt", "token ids cannot be inspected")),
            _ => {
                return Err(DesensitizeError::invalid("prompt", "`prompt` must be a string or an array of strings"));
            }
        },
    }
    for key in ["user", "suffix"] {
        if object.get(key).is_some_and(|v| !(v.is_string() || v.is_null())) {
            return Err(DesensitizeError::invalid(key, format!("`{key}` must be a string")));
        }
    }
    check_model(object.get("model"), visit)?;
    for (key, value) in object.iter_mut() {
        if !matches!(key.as_str(), "messages" | "prompt" | "model") {
            scan(value, visit)?;
        }
    }
    Ok(())
}

/// `model` names the cloud model or adapter and is forwarded as written (a pseudonym would
/// break routing): it must look like a model name, and one that holds personal data is
/// refused rather than replaced.
fn check_model(model: Option<&Value>, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'))
    };
    match model {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if plain(s) => {
            let mut scanned = s.clone();
            visit.text(&mut scanned)?;
            if scanned == *s {
                Ok(())
            } else {
                Err(DesensitizeError::invalid("model", "`model` must not contain personal data"))
            }
        }
        Some(_) => Err(DesensitizeError::invalid(
            "model",
            "`model` must be a model name (at most 128 ASCII letters, digits and . _ - : /)",
        )),
    }
}

fn walk_message(message: &mut Value, i: usize, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    let param = |field: &str| format!("messages[{i}]{field}");
    let object =
        message.as_object_mut().ok_or_else(|| DesensitizeError::invalid(param(""), "a message must be an object"))?;
    if let Some(unknown) = object.keys().find(|k| !MESSAGE_FIELDS.contains(&k.as_str())) {
        return Err(not_forwarded(param(&format!(".{unknown}")), format!("message field `{unknown}`")));
    }
    match object.get("role").and_then(Value::as_str) {
        Some(role) if ROLES.contains(&role) => {}
        Some(_) => return Err(DesensitizeError::invalid(param(".role"), "unknown role")),
        None => return Err(DesensitizeError::invalid(param(".role"), "`role` must be a string")),
    }
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("role", _) | (_, Value::Null) => {}
            ("content", Value::String(s)) => visit.text(s)?,
            ("content", Value::Array(parts)) => walk_parts(parts, &param(".content"), visit)?,
            ("content", _) => {
                return Err(DesensitizeError::invalid(
                    param(".content"),
                    "`content` must be a string or an array of parts",
                ));
            }
            ("tool_calls", Value::Array(calls)) => {
                for (j, call) in calls.iter_mut().enumerate() {
                    walk_call(call, &param(&format!(".tool_calls[{j}]")), visit)?;
                }
            }
            ("tool_calls", _) => {
                return Err(DesensitizeError::invalid(param(".tool_calls"), "`tool_calls` must be an array"));
            }
            ("function_call", call) => walk_function(call, &param(".function_call"), visit)?,
            (_, Value::String(s)) => visit.text(s)?,
            (field, _) => {
                return Err(DesensitizeError::invalid(
                    param(&format!(".{field}")),
                    format!("`{field}` must be a string"),
                ));
            }
        }
    }
    Ok(())
}

/// A message's parts: text parts are scanned as one text (the model reads them
/// concatenated); any other part type is refused.
fn walk_parts(parts: &mut [Value], param: &str, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    let mut texts: Vec<&mut String> = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter_mut().enumerate() {
        let object = part
            .as_object_mut()
            .ok_or_else(|| DesensitizeError::invalid(format!("{param}[{j}]"), "a content part must be an object"))?;
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| DesensitizeError::invalid(format!("{param}[{j}].type"), "a content part needs a `type`"))?;
        let Some((kind, field)) = TEXT_PARTS.iter().find(|(t, _)| *t == kind) else {
            return Err(not_forwarded(format!("{param}[{j}]"), format!("content part type `{kind}`")));
        };
        if let Some(unknown) = object.keys().find(|k| k.as_str() != "type" && k.as_str() != *field) {
            return Err(not_forwarded(format!("{param}[{j}].{unknown}"), format!("content part field `{unknown}`")));
        }
        match object.get_mut(*field) {
            Some(Value::String(s)) => texts.push(s),
            _ => {
                return Err(DesensitizeError::invalid(
                    format!("{param}[{j}].{field}"),
                    format!("a `{kind}` part needs a string `{field}`"),
                ));
            }
        }
    }
    visit.joined(&mut texts)
}

fn walk_call(call: &mut Value, param: &str, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    let object =
        call.as_object_mut().ok_or_else(|| DesensitizeError::invalid(param, "a tool call must be an object"))?;
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("type", Value::String(t)) if t == "function" => {}
            ("id", Value::String(s)) => visit.text(s)?,
            ("function", function) => walk_function(function, &format!("{param}.function"), visit)?,
            (field, _) => return Err(not_forwarded(format!("{param}.{field}"), format!("tool call field `{field}`"))),
        }
    }
    Ok(())
}

fn walk_function(function: &mut Value, param: &str, visit: &mut dyn Visit) -> Result<(), DesensitizeError> {
    let object = function
        .as_object_mut()
        .ok_or_else(|| DesensitizeError::invalid(param, "a function call must be an object"))?;
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("name", Value::String(s)) => visit.text(s)?,
            ("arguments", Value::String(s)) => scan_json_text(s, visit)?,
            ("arguments", _) => {
                return Err(DesensitizeError::invalid(format!("{param}.arguments"), "`arguments` must be a string"));
            }
            (field, _) => {
                return Err(not_forwarded(format!("{param}.{field}"), format!("function call field `{field}`")));
            }
        }
    }
    Ok(())
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
        // Re-serialized JSON (key order follows serde_json's map: sorted, or the client's
        // where a dependency enables `preserve_order`).
        let arguments = body["messages"][2]["tool_calls"][0]["function"]["arguments"].as_str().expect("text");
        let arguments: Value = serde_json::from_str(arguments).expect("JSON");
        assert_eq!(arguments, json!({"to": "[EMAIL_2]", "n": 3}));
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
