//! Every error path of the HTTP API answers with the right status and OpenAI's error JSON,
//! and malformed input never takes the server down.

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use common::{assert_error_shape, client, spawn_server, url};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A server with small limits so each limit can be hit cheaply.
fn limited_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        spawn_server(|settings| {
            settings.context_length = Some(64);
            settings.max_new_tokens = Some(32);
            settings.max_body_bytes = 4096;
        })
    })
}

async fn send_raw(
    addr: SocketAddr,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = client()
        .post(url(addr, path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
    (status, body, headers)
}

async fn expect_error(addr: SocketAddr, path: &str, body: impl Into<reqwest::Body>, status: u16, code: &str) -> Value {
    let (actual, body, _) = send_raw(addr, path, body).await;
    assert_eq!(actual, status, "{body}");
    let error = assert_error_shape(&body).clone();
    assert_eq!(error["code"], code, "{body}");
    error
}

#[tokio::test]
async fn invalid_json_is_400() {
    let addr = limited_server();
    for path in ["/v1/chat/completions", "/v1/completions"] {
        expect_error(addr, path, "{\"messages\": [", 400, "invalid_json").await;
        expect_error(addr, path, "not json", 400, "invalid_json").await;
        expect_error(addr, path, "", 400, "invalid_json").await;
    }
}

#[tokio::test]
async fn wrong_types_are_400() {
    let addr = limited_server();
    let chat = |extra: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body.to_string()
    };
    expect_error(addr, "/v1/chat/completions", chat(json!({"temperature": "hot"})), 400, "invalid_json").await;
    expect_error(addr, "/v1/chat/completions", chat(json!({"max_tokens": -1})), 400, "invalid_json").await;
    expect_error(addr, "/v1/chat/completions", chat(json!({"messages": "hi"})), 400, "invalid_json").await;
    expect_error(addr, "/v1/chat/completions", chat(json!({"stream": "yes"})), 400, "invalid_json").await;
    expect_error(addr, "/v1/completions", json!({"prompt": 5}).to_string(), 400, "invalid_json").await;
    expect_error(addr, "/v1/completions", json!({"max_tokens": 3}).to_string(), 400, "invalid_json").await;
}

#[tokio::test]
async fn invalid_values_are_400_with_param() {
    let addr = limited_server();
    let error = expect_error(
        addr,
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 5}).to_string(),
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "temperature");
    let error =
        expect_error(addr, "/v1/chat/completions", json!({"messages": []}).to_string(), 400, "invalid_value").await;
    assert_eq!(error["param"], "messages");
    let error = expect_error(
        addr,
        "/v1/chat/completions",
        json!({"messages": [{"role": "wizard", "content": "hi"}]}).to_string(),
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "messages");
    let error =
        expect_error(addr, "/v1/completions", json!({"prompt": "hi", "n": 2}).to_string(), 400, "invalid_value").await;
    assert_eq!(error["param"], "n");
    let error = expect_error(
        addr,
        "/v1/completions",
        json!({"prompt": "hi", "max_tokens": 33}).to_string(),
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "max_tokens");
    let error =
        expect_error(addr, "/v1/completions", json!({"prompt": [99999999]}).to_string(), 400, "invalid_value").await;
    assert_eq!(error["param"], "prompt");
}

#[tokio::test]
async fn unknown_model_is_404() {
    let addr = limited_server();
    let error = expect_error(
        addr,
        "/v1/chat/completions",
        json!({"model": "gpt-7", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
        404,
        "model_not_found",
    )
    .await;
    assert_eq!(error["param"], "model");
    assert_eq!(error["type"], "not_found_error");
}

#[tokio::test]
async fn body_too_large_is_413() {
    let addr = limited_server();
    let big = json!({"prompt": "a ".repeat(5000)}).to_string();
    expect_error(addr, "/v1/completions", big, 413, "request_too_large").await;
}

#[tokio::test]
async fn prompt_longer_than_context_is_400() {
    let addr = limited_server();
    let long = "word ".repeat(100);
    let error = expect_error(
        addr,
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": long}]}).to_string(),
        400,
        "context_length_exceeded",
    )
    .await;
    assert!(error["message"].as_str().unwrap_or("").contains("64"), "{error}");
    // Prompt fits, but prompt plus max_tokens does not.
    expect_error(
        addr,
        "/v1/completions",
        json!({"prompt": "word ".repeat(40), "max_tokens": 30}).to_string(),
        400,
        "context_length_exceeded",
    )
    .await;
}

#[tokio::test]
async fn generation_stops_at_the_context_length() {
    let addr = limited_server();
    // No max_tokens: the default is whatever room the 64-token context leaves.
    let (status, body, _) = send_raw(
        addr,
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "Tell me a story."}], "temperature": 0}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["usage"]["total_tokens"].as_u64().unwrap_or(u64::MAX) <= 64, "{body}");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json_errors() {
    let addr = limited_server();
    let response = client().get(url(addr, "/v2/nothing")).send().await.expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("JSON");
    assert_error_shape(&body);
    let response = client().get(url(addr, "/v1/completions")).send().await.expect("request");
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("JSON");
    assert_error_shape(&body);
}

#[tokio::test]
async fn full_queue_is_429_with_retry_after() {
    let addr = spawn_server(|settings| {
        settings.max_running = 1;
        settings.max_queued = 0;
    });
    // Occupy the only slot with a long streamed generation.
    let busy = client()
        .post(url(addr, "/v1/completions"))
        .json(&json!({"prompt": "Tell me a long story.", "max_tokens": 2000, "stream": true}))
        .send()
        .await
        .expect("busy request");
    assert_eq!(busy.status(), 200);
    let (status, body, headers) =
        send_raw(addr, "/v1/completions", json!({"prompt": "hi", "max_tokens": 2}).to_string()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(assert_error_shape(&body)["code"], "queue_full");
    assert!(headers.get("retry-after").is_some());
    drop(busy);
    // Once the client has gone, the slot frees up again.
    let mut served = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, _, _) =
            send_raw(addr, "/v1/completions", json!({"prompt": "hi", "max_tokens": 2}).to_string()).await;
        if status == 200 {
            served = true;
            break;
        }
    }
    assert!(served, "the slot was not released after the client disconnected");
}

/// Random bytes, truncated valid requests and type-shuffled fields: every answer is a
/// status below 500 with JSON, and the server keeps answering.
#[tokio::test]
async fn fuzzed_bodies_never_break_the_server() {
    let addr = limited_server();
    let valid = [
        json!({"messages": [{"role": "user", "content": "hi é 東京"}], "max_tokens": 2, "temperature": 0}).to_string(),
        json!({"prompt": "hello", "max_tokens": 2, "stop": ["x"], "logprobs": 1}).to_string(),
    ];
    let values = [json!(null), json!(1), json!(-1), json!(1e300), json!("s"), json!([]), json!({}), json!(true)];
    let fields = [
        "messages",
        "prompt",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "seed",
        "logprobs",
        "model",
        "n",
        "top_k",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..120 {
        let path = if round % 2 == 0 { "/v1/chat/completions" } else { "/v1/completions" };
        let base = &valid[round % 2];
        let body: Vec<u8> = match round % 3 {
            0 => base.as_bytes()[..rng.random_range(0..base.len())].to_vec(),
            1 => (0..rng.random_range(0..200)).map(|_| rng.random()).collect(),
            _ => {
                let mut value: Value = serde_json::from_str(base).unwrap_or(json!({}));
                let field = fields[rng.random_range(0..fields.len())];
                value[field] = values[rng.random_range(0..values.len())].clone();
                value.to_string().into_bytes()
            }
        };
        let (status, response, _) = send_raw(addr, path, body.clone()).await;
        assert!(status < 500, "status {status} for {:?}: {response}", String::from_utf8_lossy(&body));
        if status != 200 {
            assert_error_shape(&response);
        }
    }
    let health = client().get(url(addr, "/health")).send().await.expect("health");
    assert_eq!(health.status(), 200);
}

/// `--api-key` (vLLM's flag): every `/v1/…` request needs the bearer token, answered with
/// OpenAI's 401 shape otherwise; probes and the metrics scrape stay open.
#[tokio::test]
async fn api_key_guards_the_openai_api_but_not_probes_or_metrics() {
    let addr = spawn_server(|settings| {
        settings.api_key = Some(netgpt_inference::lora::AdminToken::new("sk-edge-1").expect("token"));
    });
    let http = client();
    let missing = http.get(url(addr, "/v1/models")).send().await.expect("request");
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let body: Value = missing.json().await.expect("JSON error");
    assert_eq!(assert_error_shape(&body)["code"], "invalid_api_key", "{body}");
    let wrong = http
        .post(url(addr, "/v1/chat/completions"))
        .bearer_auth("sk-other")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let right = http
        .post(url(addr, "/v1/chat/completions"))
        .bearer_auth("sk-edge-1")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(right.status(), 200, "{:?}", right.text().await);
    for open in ["/health", "/ready", "/metrics"] {
        let response = http.get(url(addr, open)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{open} needs no key");
    }
}

/// A chat template given to the server (`--chat-template`, the spec's
/// `serving.chatTemplate`) replaces the model's own: the prompt is what it renders, and a
/// conversation it refuses (`raise_exception`) is a 400 naming `messages`.
#[tokio::test]
async fn a_configured_chat_template_is_used_and_its_refusals_are_400s() {
    let template = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}\
                    {% for m in messages %}### Instruction:\n{{ m['content'] }}\n\n{% endfor %}### Response:\n";
    let addr = spawn_server(|settings| settings.chat_template = Some(template.to_string()));
    let http = client();
    let answer: Value = http
        .post(url(addr, "/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 1}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    // The Alpaca-style prompt, tokenized (no BOS for SmolLM2), not SmolLM2's ChatML one.
    // Jinja drops the template source's one trailing newline (`keep_trailing_newline` is
    // off in transformers too), so the prompt ends at "Response:".
    let tokenizer = common::tokenizer();
    let expected = tokenizer.encode("### Instruction:\nSay hi\n\n### Response:").expect("encode").len();
    assert_eq!(answer["usage"]["prompt_tokens"], expected, "{answer}");
    let refused = http
        .post(url(addr, "/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("JSON error");
    let error = assert_error_shape(&body);
    assert_eq!(error["param"], "messages");
    assert!(error["message"].as_str().unwrap_or_default().contains("System role not supported"), "{body}");
}
