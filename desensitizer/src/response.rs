//! Restoring pseudonyms in OpenAI response bodies: whole JSON answers, and SSE streams
//! where every text field of every choice is restored by its own [`StreamRestorer`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::restore::{Restorer, StreamRestorer};

/// Restores every string of a JSON answer; `arguments` strings are JSON themselves and get
/// JSON-escaped originals.
pub fn restore_json(restorer: &Restorer, value: &mut Value) {
    restore_value(restorer, value, false);
}

fn restore_value(restorer: &Restorer, value: &mut Value, json_text: bool) {
    match value {
        Value::String(s) => {
            *s = if json_text { restorer.restore_json_text(s) } else { restorer.restore(s) };
        }
        Value::Array(items) => items.iter_mut().for_each(|v| restore_value(restorer, v, false)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                restore_value(restorer, v, key == "arguments");
            }
        }
        _ => {}
    }
}

/// One streamed text field of one choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Content,
    Reasoning,
    Refusal,
    /// `choices[].text` of `/v1/completions`.
    Text,
    ToolArguments(u64),
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Self::Content => "content",
            Self::Reasoning => "reasoning_content",
            Self::Refusal => "refusal",
            Self::Text => "text",
            Self::ToolArguments(_) => "arguments",
        }
    }
}

const DELTA_FIELDS: [Field; 3] = [Field::Content, Field::Reasoning, Field::Refusal];

/// Restores an SSE stream of chat/completion chunks, byte chunk by byte chunk.
#[derive(Debug)]
pub struct SseRestorer {
    restorer: Restorer,
    /// Bytes of an unfinished line (a chunk may end mid-line or mid-UTF-8 character).
    line: Vec<u8>,
    fields: BTreeMap<(u64, Field), StreamRestorer>,
    /// The last chunk seen, as a template for the chunk that releases held text at the end.
    template: Option<Value>,
    /// Whether the last chunk was a chat chunk (`delta`) rather than a completion (`text`).
    chat: bool,
}

impl SseRestorer {
    pub fn new(restorer: Restorer) -> Self {
        Self { restorer, line: Vec::new(), fields: BTreeMap::new(), template: None, chat: true }
    }

    /// Feeds bytes from upstream; returns the bytes to send to the client now.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 16);
        for &b in bytes {
            self.line.push(b);
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, &mut out);
            }
        }
        out
    }

    /// End of the upstream stream: releases a trailing partial line and held text.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            line.push(b'\n');
            self.process_line(&line, &mut out);
        }
        self.flush_all(&mut out);
        out
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(line);
        let body = text.trim_end_matches(['\n', '\r']);
        let Some(data) = body.strip_prefix("data:") else {
            out.extend_from_slice(line);
            return;
        };
        let data = data.trim_start();
        if data == "[DONE]" {
            self.flush_all(out);
            out.extend_from_slice(line);
            return;
        }
        match serde_json::from_str::<Value>(data) {
            Ok(mut chunk) => {
                self.restore_chunk(&mut chunk);
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(chunk.to_string().as_bytes());
                out.push(b'\n');
            }
            // Not JSON: restore what can be restored, keep the framing.
            Err(_) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(self.restorer.restore(data).as_bytes());
                out.push(b'\n');
            }
        }
    }

    fn restore_chunk(&mut self, chunk: &mut Value) {
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else {
            // Error objects and usage-only chunks: plain restore.
            restore_json(&self.restorer, chunk);
            return;
        };
        for (position, choice) in choices.iter_mut().enumerate() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(position as u64);
            let finished = choice.get("finish_reason").is_some_and(|f| !f.is_null());
            if let Some(delta) = choice.get_mut("delta") {
                self.chat = true;
                for field in DELTA_FIELDS {
                    if let Some(Value::String(s)) = delta.get_mut(field.key()) {
                        *s = self.stream_for(index, field).push(s);
                    }
                }
                if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for (k, call) in calls.iter_mut().enumerate() {
                        let call_index = call.get("index").and_then(Value::as_u64).unwrap_or(k as u64);
                        if let Some(Value::String(s)) = call.get_mut("function").and_then(|f| f.get_mut("arguments")) {
                            *s = self.stream_for(index, Field::ToolArguments(call_index)).push(s);
                        }
                    }
                }
            } else if let Some(Value::String(s)) = choice.get_mut("text") {
                self.chat = false;
                *s = self.stream_for(index, Field::Text).push(s);
            }
            if finished {
                self.flush_choice(index, choice);
            }
        }
        let mut template = chunk.clone();
        if let Some(choices) = template.get_mut("choices").and_then(Value::as_array_mut) {
            choices.clear();
        }
        self.template = Some(template);
    }

    fn stream_for(&mut self, index: u64, field: Field) -> &mut StreamRestorer {
        let json_text = matches!(field, Field::ToolArguments(_));
        self.fields.entry((index, field)).or_insert_with(|| self.restorer.stream(json_text))
    }

    /// Appends the held text of every field of choice `index` to that choice's chunk.
    fn flush_choice(&mut self, index: u64, choice: &mut Value) {
        let keys: Vec<(u64, Field)> =
            self.fields.range((index, Field::Content)..).take_while(|(k, _)| k.0 == index).map(|(k, _)| *k).collect();
        for key in keys {
            let Some(mut stream) = self.fields.remove(&key) else {
                continue;
            };
            let held = stream.finish();
            if held.is_empty() {
                continue;
            }
            append_field(choice, key.1, &held, self.chat);
        }
    }

    /// Emits one extra chunk with whatever is still held (stream ended without a
    /// `finish_reason` for some choice).
    fn flush_all(&mut self, out: &mut Vec<u8>) {
        if self.fields.values().all(|s| s.held().is_empty()) {
            self.fields.clear();
            return;
        }
        let mut choices = Vec::new();
        let indexes: Vec<u64> = self.fields.keys().map(|k| k.0).collect();
        for index in indexes {
            if choices.iter().any(|c: &Value| c.get("index").and_then(Value::as_u64) == Some(index)) {
                continue;
            }
            let mut choice = if self.chat {
                serde_json::json!({"index": index, "delta": {}, "finish_reason": null})
            } else {
                serde_json::json!({"index": index, "text": "", "finish_reason": null})
            };
            self.flush_choice(index, &mut choice);
            choices.push(choice);
        }
        let mut chunk = self.template.clone().unwrap_or_else(|| serde_json::json!({}));
        chunk["choices"] = Value::Array(choices);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(chunk.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

fn append_field(choice: &mut Value, field: Field, text: &str, chat: bool) {
    let Some(choice) = choice.as_object_mut() else {
        return;
    };
    let target = if chat {
        let delta = choice.entry("delta").or_insert_with(|| serde_json::json!({}));
        match field {
            Field::ToolArguments(call_index) => {
                let Some(delta) = delta.as_object_mut() else {
                    return;
                };
                let calls = delta.entry("tool_calls").or_insert_with(|| Value::Array(Vec::new()));
                let Some(calls) = calls.as_array_mut() else {
                    return;
                };
                let position = calls.iter().position(|c| c.get("index").and_then(Value::as_u64) == Some(call_index));
                let call = match position {
                    Some(p) => &mut calls[p],
                    None => {
                        calls.push(serde_json::json!({"index": call_index, "function": {}}));
                        let last = calls.len() - 1;
                        &mut calls[last]
                    }
                };
                match call.get_mut("function") {
                    Some(function) => function,
                    None => return,
                }
            }
            _ => delta,
        }
    } else {
        // Completions carry text on the choice itself.
        return append_string(choice, "text", text);
    };
    if let Some(object) = target.as_object_mut() {
        append_string(object, field.key(), text);
    }
}

fn append_string(object: &mut serde_json::Map<String, Value>, key: &str, text: &str) {
    match object.get_mut(key) {
        Some(Value::String(s)) => s.push_str(text),
        _ => {
            object.insert(key.to_string(), Value::String(text.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use netgpt_crds::workflow::EntityType;

    use super::*;
    use crate::vault::Vault;

    fn restorer() -> Restorer {
        let mut vault = Vault::new();
        vault.pseudonym(EntityType::Email, "jo@example.com");
        Restorer::new(Arc::new(vault))
    }

    fn chunk(content: &str, finish: Option<&str>) -> String {
        format!(
            "data: {}\n\n",
            serde_json::json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]})
        )
    }

    fn contents(sse: &str) -> String {
        sse.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .flat_map(|v| v["choices"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["delta"]["content"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn split_placeholder_across_chunks_and_byte_boundaries() {
        let upstream = [
            chunk("Mail [EMA", None),
            chunk("IL_1] now [EM", None),
            chunk("", Some("stop")),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        // Feed one byte at a time: lines and UTF-8 split anywhere.
        let mut sse = SseRestorer::new(restorer());
        let mut out = Vec::new();
        for b in upstream.as_bytes() {
            out.extend(sse.push(std::slice::from_ref(b)));
        }
        out.extend(sse.finish());
        let out = String::from_utf8(out).expect("utf-8");
        assert_eq!(contents(&out), "Mail jo@example.com now [EM");
        assert!(out.trim_end().ends_with("data: [DONE]"));
    }

    #[test]
    fn held_text_is_released_when_stream_ends_without_finish() {
        let mut sse = SseRestorer::new(restorer());
        let mut out = sse.push(chunk("x [EMAIL_", None).as_bytes());
        out.extend(sse.finish());
        assert_eq!(contents(&String::from_utf8_lossy(&out)), "x [EMAIL_");
    }

    #[test]
    fn streamed_tool_arguments_and_several_choices() {
        let tool = |index: u64, args: &str, finish: Option<&str>| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [{"index": index, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}, "finish_reason": finish}]})
            )
        };
        let upstream = [
            tool(0, "{\"to\":\"[EMAI", None),
            tool(1, "{\"to\":\"[EM", None),
            tool(0, "L_1]\"}", Some("tool_calls")),
            tool(1, "AIL_1]\"}", Some("tool_calls")),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let mut sse = SseRestorer::new(restorer());
        let mut out = sse.push(upstream.as_bytes());
        out.extend(sse.finish());
        let mut arguments = [String::new(), String::new()];
        for line in String::from_utf8_lossy(&out).lines() {
            let Some(chunk) = line.strip_prefix("data: ").and_then(|d| serde_json::from_str::<Value>(d).ok()) else {
                continue;
            };
            for choice in chunk["choices"].as_array().into_iter().flatten() {
                let index = choice["index"].as_u64().unwrap_or(9) as usize;
                if let Some(a) = choice["delta"]["tool_calls"][0]["function"]["arguments"].as_str() {
                    arguments[index].push_str(a);
                }
            }
        }
        assert_eq!(arguments, ["{\"to\":\"jo@example.com\"}", "{\"to\":\"jo@example.com\"}"]);
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pieces: [&[u8]; 8] = [
            b"data: ",
            b"[DONE]",
            b"\n",
            b"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[EMA",
            b"IL_1]\"},\"finish_reason\":null}]}",
            "\u{00e9}\u{4e2d}".as_bytes(),
            &[0xff, 0xfe, 0xc3],
            b"\r\n",
        ];
        for _ in 0..2000 {
            let mut sse = SseRestorer::new(restorer());
            for _ in 0..rng.random_range(0..12) {
                let piece = pieces[rng.random_range(0..pieces.len())];
                let cut = rng.random_range(0..=piece.len());
                let _ = sse.push(&piece[..cut]);
            }
            let _ = sse.finish();
        }
    }

    #[test]
    fn json_answer_and_tool_arguments() {
        let mut answer = serde_json::json!({"choices": [{"message": {"content": "to [EMAIL_1]", "tool_calls": [{"function": {"arguments": "{\"to\":\"[EMAIL_1]\"}"}}]}}]});
        restore_json(&restorer(), &mut answer);
        assert_eq!(answer["choices"][0]["message"]["content"], "to jo@example.com");
        assert_eq!(
            answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"to\":\"jo@example.com\"}"
        );
    }
}
