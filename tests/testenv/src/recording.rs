//! A recording upstream standing in for the cloud model: it keeps the raw bytes of every
//! request and answers like an OpenAI server that repeats back the texts it received
//! (placeholders included), streamed in two-character pieces so that every placeholder is
//! split across chunks. Shared by the desensitizer's and the gateway's HTTP tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// Raw request bodies the upstream received.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl Recorder {
    pub fn all(&self) -> Vec<Vec<u8>> {
        self.0.lock().expect("recorder lock").clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().expect("recorder lock").len()
    }
    /// Every request body, as text, one per line.
    pub fn joined(&self) -> String {
        self.all().iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>().join("\n")
    }
    /// The last request body, as text.
    pub fn last(&self) -> String {
        let all = self.all();
        String::from_utf8_lossy(all.last().expect("the upstream received a request")).into_owned()
    }
}

/// Every text the request carries, in order: message contents, tool-call arguments, prompt.
pub fn texts_of(request: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for message in request["messages"].as_array().into_iter().flatten() {
        match &message["content"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(parts) => out.extend(parts.iter().filter_map(|p| p["text"].as_str().map(str::to_string))),
            _ => {}
        }
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            out.extend(call["function"]["arguments"].as_str().map(str::to_string));
        }
    }
    match &request["prompt"] {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => out.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string))),
        _ => {}
    }
    out
}

/// The assistant text of an answer read back through the sidecar: a JSON body (chat or
/// legacy completion) or an SSE stream's deltas joined.
pub fn answer_text(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        let choice = &value["choices"][0];
        return choice["message"]["content"].as_str().or(choice["text"].as_str()).unwrap_or_default().to_string();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .flat_map(|v| v["choices"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["delta"]["content"].as_str().or(c["text"].as_str()).map(str::to_string))
        .collect()
}

/// Records the body, then answers like an OpenAI server repeating the texts it received
/// (placeholders included); streamed in two-character pieces so placeholders are split.
async fn upstream_echo(State(recorder): State<Recorder>, body: Bytes) -> Response {
    recorder.0.lock().expect("recorder lock").push(body.to_vec());
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let echo = texts_of(&request).join("\n");
    let chat = request.get("messages").is_some();
    if request["stream"].as_bool().unwrap_or(false) {
        let chars: Vec<char> = echo.chars().collect();
        let mut sse = String::new();
        for piece in chars.chunks(2) {
            let piece: String = piece.iter().collect();
            let choice = if chat {
                json!({"index": 0, "delta": {"content": piece}, "finish_reason": null})
            } else {
                json!({"index": 0, "text": piece, "finish_reason": null})
            };
            sse.push_str(&format!("data: {}\n\n", json!({"id": "up", "object": "chunk", "choices": [choice]})));
        }
        let last = if chat {
            json!({"index": 0, "delta": {}, "finish_reason": "stop"})
        } else {
            json!({"index": 0, "text": "", "finish_reason": "stop"})
        };
        sse.push_str(&format!("data: {}\n\ndata: [DONE]\n\n", json!({"id": "up", "choices": [last]})));
        return ([(header::CONTENT_TYPE, "text/event-stream")], sse).into_response();
    }
    let choice = if chat {
        json!({"index": 0, "message": {"role": "assistant", "content": echo}, "finish_reason": "stop"})
    } else {
        json!({"index": 0, "text": echo, "finish_reason": "stop"})
    };
    axum::Json(json!({"id": "up", "object": "chat.completion", "choices": [choice]})).into_response()
}

pub async fn recording_upstream() -> (SocketAddr, Recorder) {
    let recorder = Recorder::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(upstream_echo))
        .route("/v1/completions", post(upstream_echo))
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, recorder)
}
