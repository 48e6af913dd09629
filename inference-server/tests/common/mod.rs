//! Test support: the real SmolLM2 model served in-process over real HTTP.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use netgpt_inference::{ServerSettings, ensure_default_model};
use serde_json::Value;

/// Path of the default model, pulled into the cache on first use.
///
/// Also pins candle to one compute thread for the whole test process: candle's barrier
/// pool spins while a worker is descheduled, so on a busy CI machine (parallel builds)
/// two threads can be 5-10x slower than one. Speed is the benchmark's job, not the tests'.
pub fn model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        netgpt_inference::server::configure_threads(1);
        ensure_default_model().expect("pulling the default model")
    })
    .clone()
}

/// The default model's own tokenizer, read from its GGUF header.
pub fn tokenizer() -> netgpt_inference::tokenizer::TextTokenizer {
    let mut file = std::fs::File::open(model_path()).expect("open the model");
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).expect("read the GGUF header");
    netgpt_inference::tokenizer::TextTokenizer::from_gguf(&content).expect("build the tokenizer")
}

/// Starts a server on its own thread and runtime (so it outlives any one test's runtime)
/// and waits until the model is loaded.
pub fn spawn_server(customize: impl FnOnce(&mut ServerSettings)) -> SocketAddr {
    let mut settings = ServerSettings::for_model(model_path());
    customize(&mut settings);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("test runtime");
        runtime.block_on(async move {
            let mut server = netgpt_inference::start(settings).await.expect("server starts");
            server.wait_loaded().await.expect("model loads");
            tx.send(server.addr).expect("report address");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("server thread reports its address")
}

/// One server with default settings shared by all tests of a binary.
pub fn shared_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| spawn_server(|_| {}))
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The `data:` payloads of an SSE body, in order (including `[DONE]`).
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines().filter_map(|line| line.strip_prefix("data:")).map(|data| data.trim_start().to_string()).collect()
}

/// Concatenated `choices[0].delta.content` (chat) or `choices[0].text` (completions) of
/// an SSE body, plus the finish reason.
pub fn streamed_text(body: &str) -> (String, Option<String>) {
    let mut text = String::new();
    let mut finish = None;
    for data in sse_data(body) {
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(&data).expect("chunk is JSON");
        let Some(choice) = chunk["choices"].get(0) else {
            continue;
        };
        if let Some(piece) = choice["delta"]["content"].as_str() {
            text.push_str(piece);
        }
        if let Some(piece) = choice["text"].as_str() {
            text.push_str(piece);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = Some(reason.to_string());
        }
    }
    (text, finish)
}

/// Asserts the OpenAI error shape and returns the error object.
pub fn assert_error_shape(body: &Value) -> &Value {
    let error = &body["error"];
    assert!(error.is_object(), "no error object in {body}");
    assert!(error["message"].is_string(), "no message in {body}");
    assert!(error["type"].is_string(), "no type in {body}");
    assert!(error.get("param").is_some(), "no param in {body}");
    assert!(error.get("code").is_some(), "no code in {body}");
    error
}
