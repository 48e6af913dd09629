//! The workflow's step graph executed as declared, over real HTTP: the gateway, the real
//! desensitizer sidecar and a recording cloud, with an edge model server that answers by
//! script (so that which request reached it, when, and with what confidence can be
//! asserted exactly) and, for the fast path, the real SmolLM2 edge model. Ordering,
//! parallel branches, per-step timeouts, a failing branch and its fallback, routing
//! decided from the completion step (no edge draft paid for on the cloud path).

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
use netgpt_crds::{DesensitizationPolicy, RoutingPolicy, WorkflowStep};
use netgpt_desensitizer::proxy::{SidecarSettings, start as start_sidecar};
use netgpt_gateway::{RunningGateway, start as start_gateway};
use netgpt_testenv::recording::recording_upstream;
use serde_json::{Value, json};

/// One request the scripted edge received: when (from its start) and the last user text.
#[derive(Clone, Debug)]
struct Seen {
    at: Duration,
    done: Duration,
    prompt: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// An edge model server that answers every chat request with `edge: <last user text>`
/// (a completion request — the gateway's rewrite prompt — with `<short request> in
/// Pudong`), after 150 ms, or 2 s when the text says `slow`; its one token's
/// log-probability is high when the text says `sure`, low otherwise.
async fn scripted_edge() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let t0 = Instant::now();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |State(log): State<Log>, body: Bytes| async move {
                let at = t0.elapsed();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let last = v["messages"].as_array().and_then(|m| m.last()).map(|m| m["content"].clone());
                let prompt = last.and_then(|c| c.as_str().map(str::to_string)).unwrap_or_default();
                let wait = if prompt.contains("slow") { 2_000 } else { 150 };
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let text = match prompt.split_once("Short request: ") {
                    Some((_, rest)) => format!("{} in Pudong", rest.trim_end_matches("\nDetailed question:")),
                    None => format!("edge: {prompt}"),
                };
                let logprob = if prompt.contains("sure") { -0.01 } else { -3.0 };
                log.lock().expect("lock").push(Seen { at, done: t0.elapsed(), prompt });
                axum::Json(json!({
                    "id": "e", "object": "chat.completion", "created": 0, "model": "edge",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop", "logprobs": {"content": [{"logprob": logprob}]}}]
                }))
            }),
        )
        .route("/ready", axum::routing::get(|| async { "ready" }))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, log)
}

async fn sidecar(cloud_url: &str) -> String {
    let mut settings = SidecarSettings::new(cloud_url.to_string(), DesensitizationPolicy::default());
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.site_places = vec!["Pudong, Shanghai".into()];
    let running = start_sidecar(settings).await.expect("sidecar starts");
    let url = format!("http://{}", running.addr);
    std::mem::forget(running); // lives for the test binary
    url
}

async fn gateway(edge: SocketAddr, cloud_url: &str, steps: Value, budget_ms: i32) -> RunningGateway {
    let steps: Vec<WorkflowStep> = serde_json::from_value(steps).expect("steps");
    let config = WorkflowConfig {
        api_version: CONFIG_API_VERSION.into(),
        kind: WORKFLOW_CONFIG_KIND.into(),
        workflow: "graph".into(),
        site: serde_json::from_value::<SiteConfig>(json!({
            "name": "pudong", "location": {"placeName": "Pudong, Shanghai", "context": "Lujiazui."}
        }))
        .expect("site"),
        edge: UpstreamModel { url: format!("http://{edge}"), model: "smollm2".into() },
        cloud: UpstreamModel { url: cloud_url.into(), model: "cloud-model".into() },
        desensitizer_url: sidecar(cloud_url).await,
        steps,
        routing: RoutingPolicy { latency_budget_ms: budget_ms, ..Default::default() },
        desensitization: DesensitizationPolicy::default(),
    };
    start_gateway(config, "127.0.0.1:0".parse().expect("addr")).await.expect("gateway starts")
}

async fn ask(gw: &RunningGateway, prompt: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gw.addr))
        .json(&json!({"model": "netgpt", "messages": [{"role": "user", "content": prompt}], "max_tokens": 16}))
        .send()
        .await
        .expect("gateway answers");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

/// The `netgpt.steps` entry of `name`.
fn step<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["netgpt"]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {body}"))
}

fn answer_text(body: &Value) -> &str {
    body["choices"][0]["message"]["content"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn independent_branches_run_at_once_and_a_join_waits_for_both() {
    let (edge, log) = scripted_edge().await;
    let (cloud, _) = recording_upstream().await;
    let gw = gateway(
        edge,
        &format!("http://{cloud}"),
        json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "plain", "kind": "generate", "target": "edge"},
            {"name": "local", "kind": "generate", "target": "edge", "dependsOn": ["complete"]},
            {"name": "final", "kind": "generate", "target": "edge", "dependsOn": ["plain", "local"], "input": "local"}
        ]),
        30_000,
    )
    .await;
    let (status, body) = ask(&gw, "dinner?").await;
    assert_eq!(status, 200, "{body}");
    let seen = log.lock().expect("lock").clone();
    let prompts: Vec<&str> = seen.iter().map(|s| s.prompt.as_str()).collect();
    assert_eq!(seen.len(), 4, "one request per step: {prompts:?}");
    // `complete` and `plain` are roots: they arrive together, before anything else.
    let roots: Vec<&Seen> = seen.iter().take(2).collect();
    assert!(roots.iter().any(|s| s.prompt == "dinner?"), "plain gets the client's prompt: {prompts:?}");
    assert!(roots.iter().any(|s| s.prompt.contains("Short request: dinner?")), "{prompts:?}");
    assert!(roots[1].at < roots[0].done, "the two roots overlap: {roots:?}");
    // `local` runs on the completed prompt once `complete` is done; `final` on `local`'s
    // answer once both branches are done.
    assert_eq!(seen[2].prompt, "dinner? in Pudong");
    assert!(seen[2].at >= seen.iter().find(|s| s.prompt.contains("Short request")).expect("complete").done);
    assert_eq!(seen[3].prompt, "edge: dinner? in Pudong");
    assert!(seen[3].at >= seen[0].done.max(seen[1].done).max(seen[2].done));
    assert_eq!(answer_text(&body), "edge: edge: dinner? in Pudong", "the last generate step answers");
    assert_eq!(body["netgpt"]["path"], "edge");
    for name in ["complete", "plain", "local", "final"] {
        assert_eq!(step(&body, name)["outcome"], "succeeded", "{body}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn the_route_is_decided_from_the_completion_so_the_cloud_path_pays_for_no_edge_draft() {
    let (edge, log) = scripted_edge().await;
    let (cloud, recorder) = recording_upstream().await;
    let steps = json!([
        {"name": "complete", "kind": "promptCompletion"},
        {"name": "local", "kind": "generate", "target": "edge", "dependsOn": ["complete"],
         "when": {"step": "complete", "confidenceAtLeast": 0.5}},
        {"name": "scrub", "kind": "desensitize", "dependsOn": ["complete"],
         "when": {"step": "complete", "confidenceBelow": 0.5}},
        {"name": "answer", "kind": "generate", "target": "cloud", "dependsOn": ["scrub"]},
        {"name": "rescue", "kind": "generate", "target": "edge", "dependsOn": ["answer"],
         "when": {"step": "answer", "outcome": "failed"}}
    ]);
    let gw = gateway(edge, &format!("http://{cloud}"), steps.clone(), 30_000).await;

    // A confident completion: the edge answers; nothing reaches the cloud.
    let (status, body) = ask(&gw, "sure: dinner?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "edge");
    assert_eq!(answer_text(&body), "edge: sure: dinner? in Pudong");
    assert_eq!(step(&body, "scrub")["outcome"], "skipped");
    assert_eq!(step(&body, "answer")["outcome"], "skipped");
    assert_eq!(step(&body, "rescue")["outcome"], "skipped", "its condition is on a skipped step");
    assert_eq!(recorder.count(), 0);
    assert_eq!(log.lock().expect("lock").len(), 2);

    // An unsure completion goes to the cloud straight away: one edge request only (the
    // completion), and the cloud gets the completed prompt with the e-mail scrubbed.
    log.lock().expect("lock").clear();
    let (status, body) = ask(&gw, "dinner? mail li.wei@example.com").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["netgpt"]["path"], "cloud", "{body}");
    assert_eq!(step(&body, "local")["outcome"], "skipped");
    let edge_requests = log.lock().expect("lock").clone();
    assert_eq!(edge_requests.len(), 1, "no edge draft on the cloud path: {edge_requests:?}");
    let sent = recorder.last();
    assert!(sent.contains("in Pudong") && !sent.contains("li.wei@example.com"), "{sent}");
    assert!(answer_text(&body).contains("li.wei@example.com"), "restored in the answer: {body}");
    gw.shutdown().await;

    // The cloud down: the declared fallback branch answers.
    let gw = gateway(edge, "http://127.0.0.1:9", steps, 30_000).await;
    let (status, body) = ask(&gw, "dinner?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(step(&body, "answer")["outcome"], "failed");
    assert_eq!(step(&body, "rescue")["outcome"], "succeeded");
    assert_eq!(body["netgpt"]["path"], "edge-fallback");
    assert!(body["netgpt"]["fallbackReason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_step_over_its_time_limit_fails_alone_and_its_dependents_are_skipped() {
    let (edge, _) = scripted_edge().await;
    let (cloud, _) = recording_upstream().await;
    let gw = gateway(
        edge,
        &format!("http://{cloud}"),
        json!([
            {"name": "slow", "kind": "generate", "target": "edge", "timeoutMs": 300, "input": null},
            {"name": "after-slow", "kind": "generate", "target": "edge", "dependsOn": ["slow"], "input": "slow"},
            {"name": "other", "kind": "generate", "target": "edge", "dependsOn": []}
        ]),
        30_000,
    )
    .await;
    let started = Instant::now();
    let (status, body) = ask(&gw, "slow: dinner?").await;
    let took = started.elapsed();
    // `other` is a root too (no dependsOn) but also slow: it is the answer, after ~2 s;
    // `slow` was cut at 300 ms and `after-slow` never ran.
    assert_eq!(status, 200, "{body}");
    assert_eq!(step(&body, "slow")["outcome"], "failed");
    assert!(step(&body, "slow")["reason"].as_str().is_some_and(|r| r.contains("300 ms")), "{body}");
    assert_eq!(step(&body, "after-slow")["outcome"], "skipped");
    assert_eq!(step(&body, "other")["outcome"], "succeeded");
    assert!(took < Duration::from_secs(4), "{took:?}");
    gw.shutdown().await;

    // Over the whole budget: every step that was still running fails, and the gateway
    // answers 502 with an OpenAI error naming the steps, instead of hanging.
    let gw = gateway(
        edge,
        &format!("http://{cloud}"),
        json!([{"name": "complete", "kind": "promptCompletion"}, {"name": "local", "kind": "generate", "target": "edge"}]),
        500,
    )
    .await;
    let started = Instant::now();
    let (status, body) = ask(&gw, "slow: dinner?").await;
    assert!(started.elapsed() < Duration::from_millis(1_500), "{:?}", started.elapsed());
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["type"], "upstream_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("local") && message.contains("latency budget"), "{message}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_fast_path_with_the_real_edge_model() {
    let edge = common::shared_server();
    let (cloud, recorder) = recording_upstream().await;
    // Thresholds 0 and 1: the real model's completion always routes one way.
    for (threshold, path) in [(0.0, "edge"), (1.0, "cloud")] {
        let steps = json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "local", "kind": "generate", "target": "edge", "dependsOn": ["complete"],
             "when": {"step": "complete", "confidenceAtLeast": threshold}},
            {"name": "scrub", "kind": "desensitize", "dependsOn": ["complete"],
             "when": {"step": "complete", "confidenceBelow": threshold}},
            {"name": "answer", "kind": "generate", "target": "cloud", "dependsOn": ["scrub"]}
        ]);
        let before = recorder.count();
        let gw = gateway(edge, &format!("http://{cloud}"), steps, 60_000).await;
        let (status, body) = ask(&gw, "Where can I eat?").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["netgpt"]["path"], path, "{body}");
        let completion = step(&body, "complete");
        let c = completion["confidence"].as_f64().expect("the completion step reports a confidence");
        assert!((0.0..=1.0).contains(&c), "{completion}");
        assert_eq!(recorder.count() - before, usize::from(path == "cloud"));
        if path == "cloud" {
            assert!(recorder.last().contains("Pudong"), "the cloud gets the completed prompt");
        }
        gw.shutdown().await;
    }
}

/// The `intent` step of `examples/network-intent.yaml`, as shipped.
fn shipped_intent_step() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/network-intent.yaml");
    let manifest: Value = serde_norway::from_str(&std::fs::read_to_string(path).expect("example")).expect("YAML");
    manifest["spec"]["steps"][0].clone()
}

/// A webhook that records what it receives.
async fn recording_webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = Router::new()
        .route(
            "/intents",
            post(|State(seen): State<Arc<Mutex<Vec<Value>>>>, body: Bytes| async move {
                seen.lock().expect("lock").push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                "ok"
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/intents"), seen)
}

/// Checks an intent against the shipped network-intent schema by hand.
fn assert_network_intent(intent: &Value) {
    let obj = intent.as_object().unwrap_or_else(|| panic!("not an object: {intent}"));
    let allowed = ["bandwidthMbps", "source", "destination", "protection", "maxLatencyMs", "start", "end"];
    assert!(obj.keys().all(|k| allowed.contains(&k.as_str())), "{intent}");
    assert!(obj["bandwidthMbps"].as_i64().is_some_and(|b| (1..=400_000).contains(&b)), "{intent}");
    assert!(obj["source"].is_string() && obj["destination"].is_string() && obj["protection"].is_boolean(), "{intent}");
}

#[tokio::test]
async fn an_intent_branch_runs_beside_the_answer_branch_with_the_real_model() {
    let edge = common::shared_server();
    let (cloud, _) = recording_upstream().await;
    let (webhook, received) = recording_webhook().await;
    let mut intent = shipped_intent_step();
    intent["intent"]["webhook"] = json!(webhook);
    // Two roots: the intent (on the client's words) and the completion; the edge answers
    // the completed prompt.
    let steps = json!([
        intent,
        {"name": "complete", "kind": "promptCompletion", "dependsOn": []},
        {"name": "local", "kind": "generate", "target": "edge", "dependsOn": ["complete"]}
    ]);
    let gw = gateway(edge, &format!("http://{cloud}"), steps, 120_000).await;
    let sentence = "I need 10 Gbps from Access 1 to Cloud 2 with protection.";
    let (status, body) = ask(&gw, sentence).await;
    assert_eq!(status, 200, "{body}");
    let inferred = &body["netgpt"]["intents"]["intent"];
    assert_network_intent(inferred);
    assert!(!answer_text(&body).is_empty() && !answer_text(&body).starts_with('{'), "local answered: {body}");
    let (i, c) = (step(&body, "intent"), step(&body, "complete"));
    assert_eq!((i["outcome"].as_str(), c["outcome"].as_str()), (Some("succeeded"), Some("succeeded")));
    assert!(i["startMs"].as_u64() < Some(50) && c["startMs"].as_u64() < Some(50), "both roots start at once: {body}");
    assert!(step(&body, "local")["startMs"].as_u64() >= c["durationMs"].as_u64(), "{body}");
    // The webhook gets the same intent, after the answer.
    let delivered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(v) = received.lock().expect("lock").first().cloned() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the webhook was called");
    assert_eq!(&delivered["intent"], inferred);
    assert_eq!(delivered["step"], "intent");
    assert_eq!(delivered["site"], "pudong");
    gw.shutdown().await;

    // An intent-only workflow (the shipped example) answers with the intent itself.
    let gw = gateway(edge, &format!("http://{cloud}"), json!([shipped_intent_step()]), 120_000).await;
    let (status, body) = ask(&gw, "Set up 500 Mbps between Edge-3 and DC-West, no protection needed.").await;
    assert_eq!(status, 200, "{body}");
    let answered: Value = serde_json::from_str(answer_text(&body)).expect("the answer is the intent");
    assert_network_intent(&answered);
    assert_eq!(&answered, &body["netgpt"]["intents"]["intent"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_graph_the_operator_would_refuse_does_not_start() {
    let (edge, _) = scripted_edge().await;
    let steps: Vec<WorkflowStep> = serde_json::from_value(json!([
        {"name": "complete", "kind": "promptCompletion"},
        {"name": "answer", "kind": "generate", "target": "cloud"}
    ]))
    .expect("steps");
    let config = WorkflowConfig {
        api_version: CONFIG_API_VERSION.into(),
        kind: WORKFLOW_CONFIG_KIND.into(),
        workflow: "graph".into(),
        site: serde_json::from_value::<SiteConfig>(json!({"name": "pudong", "location": {}})).expect("site"),
        edge: UpstreamModel { url: format!("http://{edge}"), model: "smollm2".into() },
        cloud: UpstreamModel { url: "http://127.0.0.1:9".into(), model: "cloud".into() },
        desensitizer_url: "http://127.0.0.1:9".into(),
        steps,
        routing: RoutingPolicy::default(),
        desensitization: DesensitizationPolicy::default(),
    };
    let error = start_gateway(config, "127.0.0.1:0".parse().expect("addr")).await.err().expect("refused");
    assert!(error.to_string().contains("must depend on a desensitize step"), "{error}");
}
