//! The workflow gateway with the real SmolLM2 edge model over real HTTP: routing by the
//! confidence threshold, edge fallback when the cloud path is down or too slow, no
//! personal data reaching a recording cloud, and fail-closed when the desensitizer is
//! missing; streamed cloud answers bounded by the budget to their first byte, then by an
//! idle timeout per chunk.

// The model-server test support of the inference-server crate: a real SmolLM2 edge model over HTTP.
#[path = "../../inference-server/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use netgpt_crds::config::{CONFIG_API_VERSION, SiteConfig, UpstreamModel, WORKFLOW_CONFIG_KIND, WorkflowConfig};
use netgpt_crds::{DesensitizationPolicy, DesensitizeFailure, RoutingPolicy, WorkflowStep};
use netgpt_desensitizer::proxy::{SidecarSettings, start as start_sidecar};
use netgpt_gateway::{GatewaySettings, start as start_gateway, start_with as start_gateway_with};
use serde_json::{Value, json};

fn steps() -> Vec<WorkflowStep> {
    serde_json::from_value(json!([
        {"name": "complete", "kind": "promptCompletion"},
        {"name": "scrub", "kind": "desensitize"},
        {"name": "answer", "kind": "generate", "target": "cloud"}
    ]))
    .expect("steps")
}

fn config(edge: SocketAddr, cloud_url: &str, desensitizer_url: &str, threshold: f64, budget_ms: i32) -> WorkflowConfig {
    WorkflowConfig {
        api_version: CONFIG_API_VERSION.into(),
        kind: WORKFLOW_CONFIG_KIND.into(),
        workflow: "test".into(),
        site: serde_json::from_value::<SiteConfig>(json!({
            "name": "pudong",
            "location": {"placeName": "Pudong, Shanghai", "context": "Lujiazui; Shanghai Tower; metro line 2."}
        }))
        .expect("site"),
        edge: UpstreamModel { url: format!("http://{edge}"), model: "smollm2".into() },
        cloud: UpstreamModel { url: cloud_url.into(), model: "cloud-model".into() },
        desensitizer_url: desensitizer_url.into(),
        steps: steps(),
        routing: RoutingPolicy { confidence_threshold: threshold, latency_budget_ms: budget_ms, ..Default::default() },
        desensitization: DesensitizationPolicy::default(),
    }
}

/// A cloud model that records every request body and answers by echoing the last user
/// message (so placeholders come back and can be restored).
async fn recording_cloud() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(|State(seen): State<Arc<Mutex<Vec<Vec<u8>>>>>, body: Bytes| async move {
                seen.lock().expect("lock").push(body.to_vec());
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let last = v["messages"].as_array().and_then(|m| m.last()).map(|m| m["content"].clone());
                let text = format!("Cloud answer about: {}", last.and_then(|c| c.as_str().map(str::to_string)).unwrap_or_default());
                axum::Json(json!({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": "cloud-model",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
                }))
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

async fn sidecar(cloud_url: &str) -> String {
    let mut settings = SidecarSettings::new(cloud_url.to_string(), DesensitizationPolicy::default());
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    // As `netgpt desensitize` reads it from the site's workflow configuration.
    settings.site_places = vec!["Pudong, Shanghai".into()];
    let running = start_sidecar(settings).await.expect("sidecar starts");
    let url = format!("http://{}", running.addr);
    std::mem::forget(running); // lives for the test binary
    url
}

async fn ask(gateway: SocketAddr, prompt: &str) -> (reqwest::StatusCode, Value, reqwest::header::HeaderMap) {
    let resp = reqwest::Client::new()
        .post(format!("http://{gateway}/v1/chat/completions"))
        .header("x-netgpt-debug", "true")
        .header("x-request-id", "req-42")
        .json(&json!({"model": "netgpt", "messages": [{"role": "user", "content": prompt}], "temperature": 0.0, "max_tokens": 24}))
        .send()
        .await
        .expect("gateway answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, resp.json().await.expect("json"), headers)
}

#[tokio::test]
async fn threshold_routes_between_edge_and_cloud_and_pii_never_reaches_the_cloud() {
    let edge = common::shared_server();
    let (cloud_url, seen) = recording_cloud().await;
    let desensitizer = sidecar(&cloud_url).await;

    // Threshold 0: the edge always answers; nothing goes to the cloud.
    let gw = start_gateway(config(edge, &cloud_url, &desensitizer, 0.0, 60_000), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("gateway");
    let (status, body, headers) = ask(gw.addr, "Where can I eat?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "edge");
    assert_eq!(headers["x-netgpt-path"], "edge");
    assert_eq!(headers["x-request-id"], "req-42");
    let completed = body["netgpt"]["completedPrompt"].as_str().expect("debug shows the completed prompt");
    assert!(completed.contains("Pudong"), "completion carries the site's location: {completed}");
    assert!(seen.lock().expect("lock").is_empty());
    gw.shutdown().await;

    // Threshold 1: the cloud answers, through the desensitizer; PII never reaches it and
    // comes back restored.
    let gw = start_gateway(config(edge, &cloud_url, &desensitizer, 1.0, 60_000), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("gateway");
    let email = "li.wei@example.com";
    let phone = "+86 138 0013 8000";
    let (status, body, _) = ask(gw.addr, &format!("Book a table, mail {email} or call {phone}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "cloud");
    let recorded = seen.lock().expect("lock").clone();
    assert_eq!(recorded.len(), 1, "one request reached the cloud");
    let sent = String::from_utf8_lossy(&recorded[0]);
    assert!(
        !sent.contains(email) && !sent.contains("138 0013 8000") && !sent.contains("13800138000"),
        "PII leaked: {sent}"
    );
    assert!(sent.contains("Pudong"), "the cloud receives the completed prompt: {sent}");
    gw.shutdown().await;
}

#[tokio::test]
async fn cloud_down_or_desensitizer_missing_falls_back_to_the_edge_within_budget() {
    let edge = common::shared_server();
    // Nothing listens on these ports.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let dead_url = format!("http://{dead}");

    // Cloud down behind a live desensitizer.
    let desensitizer = sidecar(&dead_url).await;
    let gw = start_gateway(config(edge, &dead_url, &desensitizer, 1.0, 60_000), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("gateway");
    let started = Instant::now();
    let (status, body, _) = ask(gw.addr, "Where can I eat?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "edge-fallback", "{body}");
    assert!(body["netgpt"]["fallbackReason"].as_str().is_some());
    assert!(started.elapsed() < Duration::from_secs(60));
    gw.shutdown().await;

    // Desensitizer unreachable: nothing may go to the cloud; edgeFallback answers at the edge.
    let (cloud_url, seen) = recording_cloud().await;
    let gw = start_gateway(config(edge, &cloud_url, &dead_url, 1.0, 60_000), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("gateway");
    let (status, body, _) = ask(gw.addr, "My email is a@b.cn, where can I eat?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "edge-fallback");
    assert!(seen.lock().expect("lock").is_empty(), "the gateway never calls the cloud itself");
    gw.shutdown().await;

    // …and with onFailure: reject the user gets a 503 instead.
    let mut cfg = config(edge, &cloud_url, &dead_url, 1.0, 60_000);
    cfg.desensitization.on_failure = DesensitizeFailure::Reject;
    let gw = start_gateway(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("gateway");
    let (status, body, _) = ask(gw.addr, "Where can I eat?").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].is_string());
    assert!(seen.lock().expect("lock").is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_tight_budget_answers_at_the_edge_instead_of_waiting_for_a_slow_cloud() {
    let edge = common::shared_server();
    // A cloud that never answers in time.
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(120)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let slow = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let desensitizer = sidecar(&slow).await;
    // The budget covers the edge work (a few seconds here) but not a 120 s cloud.
    let gw = start_gateway(config(edge, &slow, &desensitizer, 1.0, 20_000), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("gateway");
    let started = Instant::now();
    let (status, body, _) = ask(gw.addr, "Where can I eat?").await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "edge-fallback", "{body}");
    assert!(took < Duration::from_secs(25), "answered within the budget: {took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let edge = common::shared_server();
    let gw = start_gateway(
        config(edge, "http://127.0.0.1:9", "http://127.0.0.1:9", 0.0, 10_000),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("gateway");
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    for (body, param) in [
        ("{not json", Value::Null),
        (r#"{"messages": []}"#, json!("messages")),
        (r#"{"messages": [{"role": "assistant", "content": "hi"}]}"#, json!("messages")),
        (r#"{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}"#, json!("stream")),
    ] {
        let resp =
            client.post(&url).header("content-type", "application/json").body(body).send().await.expect("answer");
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], param, "{body}");
    }
    gw.shutdown().await;
}

/// Concatenated `delta.content` of an SSE body, and the `netgpt` metadata it carried.
fn sse_text(body: &str) -> (String, Value, bool) {
    let mut text = String::new();
    let mut meta = Value::Null;
    let mut done = false;
    for data in common::sse_data(body) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(&data).expect("chunk is JSON");
        if !v["netgpt"].is_null() {
            meta = v["netgpt"].clone();
        }
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    (text, meta, done)
}

#[tokio::test]
async fn streaming_answers_carry_the_path_on_both_routes() {
    let edge = common::shared_server();
    let cloud_url = format!("http://{edge}"); // the same real model plays the cloud
    let desensitizer = sidecar(&cloud_url).await;
    for (threshold, path) in [(0.0, "edge"), (1.0, "cloud")] {
        let mut cfg = config(edge, &cloud_url, &desensitizer, threshold, 60_000);
        cfg.cloud.model = "smollm2".into();
        let gw = start_gateway(cfg, "127.0.0.1:0".parse().expect("addr")).await.expect("gateway");
        let resp = reqwest::Client::new()
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .json(&json!({"model": "netgpt", "stream": true, "temperature": 0.0, "max_tokens": 16,
                          "messages": [{"role": "user", "content": "Name one famous tower."}]}))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        assert_eq!(resp.headers()["x-netgpt-path"], path);
        let body = resp.text().await.expect("body");
        let (text, meta, done) = sse_text(&body);
        assert!(done, "stream ends with [DONE]: {body}");
        assert_eq!(meta["path"], path, "{body}");
        assert!(!text.trim().is_empty(), "{path}: streamed some text: {body}");
        gw.shutdown().await;
    }
}

/// An edge model that drafts at once with low confidence, so every request takes the
/// cloud path without waiting for a real model: these tests time the cloud's stream.
async fn unsure_edge() -> SocketAddr {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            axum::Json(json!({
                "id": "e1", "object": "chat.completion", "created": 0, "model": "edge",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Edge draft."},
                             "finish_reason": "stop", "logprobs": {"content": [{"logprob": -3.0}]}}]
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// How the streaming cloud below paces its answer.
#[derive(Clone, Copy)]
struct Pace {
    /// Before the response headers.
    first_byte: Duration,
    chunks: usize,
    gap: Duration,
    /// A silence before the third chunk.
    stall: Duration,
}

/// An SSE chat answer of `pace.chunks` chunks `part0 part1 …`, then `[DONE]`.
fn paced_stream(pace: Pace) -> axum::body::Body {
    let events = futures::stream::unfold(0usize, move |i| async move {
        if i > pace.chunks {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(pace.gap).await;
        }
        if i == 2 {
            tokio::time::sleep(pace.stall).await;
        }
        let event = if i == pace.chunks {
            "data: [DONE]\n\n".to_string()
        } else {
            let chunk = json!({"object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": format!("part{i} ")}, "finish_reason": null}]});
            format!("data: {chunk}\n\n")
        };
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(event)), i + 1))
    });
    axum::body::Body::from_stream(events)
}

/// A cloud (in the desensitizer's place: the gateway only talks to that URL) that streams
/// with `pace`.
async fn streaming_cloud(pace: Pace) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            tokio::time::sleep(pace.first_byte).await;
            ([("content-type", "text/event-stream")], paced_stream(pace))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

const STREAM_BUDGET_MS: i32 = 1_000;

/// A gateway with a 1 s latency budget and a 1 s stream idle timeout, whose cloud path
/// goes to `cloud`; returns the streamed body, its path header and how long it took.
async fn stream_through_gateway(cloud: &str) -> (String, String, Duration) {
    let mut cfg = config(unsure_edge().await, cloud, cloud, 0.9, STREAM_BUDGET_MS);
    cfg.steps = serde_json::from_value(json!([
        {"name": "scrub", "kind": "desensitize"},
        {"name": "answer", "kind": "generate", "target": "cloud"}
    ]))
    .expect("steps");
    let mut settings = GatewaySettings::new("127.0.0.1:0".parse().expect("addr"));
    settings.stream_idle_timeout = Duration::from_secs(1);
    let gw = start_gateway_with(cfg, settings).await.expect("gateway");
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.addr))
        .json(&json!({"stream": true, "messages": [{"role": "user", "content": "Tell me a story."}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let path = resp.headers()["x-netgpt-path"].to_str().expect("ascii").to_string();
    let body = resp.text().await.expect("body");
    let took = started.elapsed();
    gw.shutdown().await;
    (body, path, took)
}

fn stream_errors(body: &str) -> Vec<Value> {
    common::sse_data(body)
        .iter()
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter(|v| v.get("error").is_some())
        .collect()
}

#[tokio::test]
async fn a_cloud_stream_longer_than_the_budget_arrives_whole() {
    // 12 chunks 150 ms apart: 1.65 s in all, past the 1 s budget, never 1 s idle.
    let pace = Pace { first_byte: Duration::ZERO, chunks: 12, gap: Duration::from_millis(150), stall: Duration::ZERO };
    let (body, path, took) = stream_through_gateway(&streaming_cloud(pace).await).await;
    assert_eq!(path, "cloud");
    let (text, meta, done) = sse_text(&body);
    let expected: String = (0..12).map(|i| format!("part{i} ")).collect();
    assert_eq!(text, expected, "{body}");
    assert!(done && stream_errors(&body).is_empty(), "{body}");
    assert_eq!(meta["path"], "cloud");
    assert!(took > Duration::from_millis(STREAM_BUDGET_MS as u64), "the stream outlasted the budget: {took:?}");
}

#[tokio::test]
async fn a_stalled_cloud_stream_ends_with_an_error_event() {
    // Two chunks, then 6 s of silence: the 1 s idle timeout ends it.
    let pace =
        Pace { first_byte: Duration::ZERO, chunks: 4, gap: Duration::from_millis(50), stall: Duration::from_secs(6) };
    let (body, path, took) = stream_through_gateway(&streaming_cloud(pace).await).await;
    assert_eq!(path, "cloud");
    let (text, _, done) = sse_text(&body);
    assert_eq!(text, "part0 part1 ", "{body}");
    let errors = stream_errors(&body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["error"]["code"], "stream_idle_timeout", "{body}");
    assert_eq!(errors[0]["error"]["type"], "upstream_error");
    assert!(done, "the stream still ends with [DONE]: {body}");
    assert!(took < Duration::from_secs(4), "ended by the idle timeout, not the upstream: {took:?}");
}

#[tokio::test]
async fn a_cloud_stream_that_starts_after_the_budget_falls_back_to_the_edge() {
    let pace = Pace { first_byte: Duration::from_secs(3), chunks: 2, gap: Duration::ZERO, stall: Duration::ZERO };
    let (body, path, took) = stream_through_gateway(&streaming_cloud(pace).await).await;
    assert_eq!(path, "edge-fallback", "{body}");
    let (text, meta, done) = sse_text(&body);
    assert_eq!(text, "Edge draft.");
    assert!(done);
    let reason = meta["fallbackReason"].as_str().unwrap_or_default();
    assert!(reason.contains("latency budget ran out"), "{meta}");
    let answer = meta["steps"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "answer")).expect("answer step");
    assert_eq!(answer["outcome"], "failed", "{meta}");
    assert!(took < Duration::from_secs(2), "answered at the budget: {took:?}");
}
