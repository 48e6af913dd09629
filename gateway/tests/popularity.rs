//! The `popularityPrediction` step over real HTTP with the real SmolLM2 edge model: request
//! topics counted per interval (counts only, no prompt kept), the next interval predicted
//! by the model under constrained decoding, scored against what was then asked next to
//! the two baselines, and published at `GET /v1/popularity`, as metrics and to the
//! step's webhook.

#[path = "../../inference-server/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netgpt_crds::config::{CONFIG_API_VERSION, SiteConfig, UpstreamModel, WORKFLOW_CONFIG_KIND, WorkflowConfig};
use netgpt_crds::{DesensitizationPolicy, RoutingPolicy, WorkflowStep};
use netgpt_gateway::{RunningGateway, start as start_gateway};
use netgpt_testenv::recording::recording_upstream;
use serde_json::{Value, json};

async fn gateway(edge: SocketAddr, steps: Value) -> RunningGateway {
    let steps: Vec<WorkflowStep> = serde_json::from_value(steps).expect("steps");
    let config = WorkflowConfig {
        api_version: CONFIG_API_VERSION.into(),
        kind: WORKFLOW_CONFIG_KIND.into(),
        workflow: "forecast".into(),
        site: serde_json::from_value::<SiteConfig>(json!({"name": "pudong", "location": {"placeName": "Pudong"}}))
            .expect("site"),
        edge: UpstreamModel { url: format!("http://{edge}"), model: "smollm2".into() },
        cloud: UpstreamModel { url: "http://127.0.0.1:9".into(), model: "unused".into() },
        desensitizer_url: "http://127.0.0.1:9".into(),
        steps,
        routing: RoutingPolicy::default(),
        desensitization: DesensitizationPolicy::default(),
    };
    start_gateway(config, "127.0.0.1:0".parse().expect("addr")).await.expect("gateway starts")
}

async fn ask_all(gw: &RunningGateway, prompts: &[&str]) {
    let client = reqwest::Client::new();
    let requests = prompts.iter().map(|p| {
        client
            .post(format!("http://{}/v1/chat/completions", gw.addr))
            .json(&json!({"model": "netgpt", "messages": [{"role": "user", "content": p}], "max_tokens": 2}))
            .send()
    });
    for response in futures::future::join_all(requests).await {
        let response = response.expect("gateway answers");
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
}

async fn popularity(gw: &RunningGateway) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}/v1/popularity", gw.addr)).await.expect("gateway answers");
    (response.status().as_u16(), response.json().await.expect("JSON"))
}

/// Polls the step's view until `ready` holds (at most a minute).
async fn wait_for(gw: &RunningGateway, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = popularity(gw).await;
        assert_eq!(status, 200, "{body}");
        let step = body["steps"][0].clone();
        if ready(&step) {
            return step;
        }
        assert!(Instant::now() < until, "no {what} within a minute: {step}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sum of a topic's counts over the history and the interval in progress.
fn total(step: &Value, topic: &str) -> u64 {
    let history = step["history"].as_array().cloned().unwrap_or_default();
    history.iter().chain([&step["current"]]).map(|i| i["counts"][topic].as_u64().unwrap_or(0)).sum()
}

fn metric(text: &str, name: &str, labels: &str) -> f64 {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in metrics"))
}

#[tokio::test]
async fn topics_are_counted_and_the_edge_model_predicts_the_next_interval() {
    let edge = common::shared_server();
    let (hook, recorder) = recording_upstream().await;
    let gw = gateway(
        edge,
        json!([
            {"name": "answer", "kind": "generate", "target": "edge"},
            {"name": "forecast", "kind": "popularityPrediction", "popularity": {
                "intervalSeconds": 3, "topN": 2, "historyIntervals": 4,
                "topics": [
                    {"name": "food", "keywords": ["dinner", "restaurant", "noodles"]},
                    {"name": "coffee", "keywords": ["coffee", "latte"]},
                    {"name": "transport", "keywords": ["metro", "taxi"]}
                ],
                "webhook": format!("http://{hook}/v1/chat/completions")
            }}
        ]),
    )
    .await;
    let steps = gw_steps(&gw).await;
    assert_eq!(steps["topics"], json!(["food", "coffee", "transport", "other"]));

    // One interval of food, some coffee and a request about none of the topics (whose
    // words, marked, must never be kept).
    ask_all(
        &gw,
        &[
            "Where is a good restaurant for dinner?",
            "Best noodles nearby?",
            "dinner for two tonight",
            "A restaurant with a view",
            "late dinner options",
            "Where can I get a latte?",
            "coffee to go",
            "Tell me about Zanzibar-7731",
        ],
    )
    .await;
    let step = wait_for(&gw, "prediction", |s| s["prediction"]["source"].is_string()).await;
    assert_eq!((total(&step, "food"), total(&step, "coffee"), total(&step, "other")), (5, 2, 1), "{step}");
    let prediction = &step["prediction"];
    assert_eq!(prediction["source"], "model", "the model answers under its grammar: {prediction}");
    let top: Vec<&str> = prediction["top"].as_array().expect("top").iter().filter_map(Value::as_str).collect();
    assert_eq!(top.len(), 2, "{prediction}");
    assert_ne!(top[0], top[1], "{prediction}");
    assert!(top.iter().all(|t| ["food", "coffee", "transport"].contains(t)), "{prediction}");
    assert_eq!(prediction["baselines"]["frequency"], json!(["food", "coffee"]), "{prediction}");

    // The prediction reaches the webhook and the metrics.
    let until = Instant::now() + Duration::from_secs(10);
    while recorder.count() == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posted: Value = serde_json::from_str(&recorder.last()).expect("webhook payload is JSON");
    assert_eq!((posted["site"].as_str(), posted["step"].as_str()), (Some("pudong"), Some("forecast")), "{posted}");
    assert_eq!(posted["top"].as_array().map(Vec::len), Some(2), "{posted}");
    let metrics =
        reqwest::get(format!("http://{}/metrics", gw.addr)).await.expect("metrics").text().await.expect("text");
    let labels = |topic: &str| format!("site=\"pudong\",step=\"forecast\",topic=\"{topic}\"");
    assert_eq!(metric(&metrics, "netgpt_gateway_topic_requests_total", &labels("food")), 5.0);
    assert_eq!(metric(&metrics, "netgpt_gateway_topic_requests_total", &labels("other")), 1.0);
    assert_eq!(metric(&metrics, "netgpt_gateway_popularity_rank", &labels(top[0])), 1.0);
    assert_eq!(metric(&metrics, "netgpt_gateway_popularity_rank", &labels("other")), 0.0);

    // The next interval is scored against the prediction made for it.
    ask_all(&gw, &["metro to the airport", "taxi please", "metro line 2", "dinner near the metro?"]).await;
    let step = wait_for(&gw, "evaluation", |s| s["evaluation"]["intervals"].as_u64() >= Some(1)).await;
    let evaluation = &step["evaluation"];
    let places = evaluation["places"].as_u64().expect("places");
    assert!((1..=2).contains(&places), "{evaluation}");
    for predictor in ["step", "model", "frequency", "sequence"] {
        let rate = evaluation["hitRate"][predictor].as_f64().expect("a hit rate per predictor");
        assert!((0.0..=1.0).contains(&rate), "{evaluation}");
    }
    let metrics =
        reqwest::get(format!("http://{}/metrics", gw.addr)).await.expect("metrics").text().await.expect("text");
    let step_labels = "site=\"pudong\",step=\"forecast\"";
    assert!(metric(&metrics, "netgpt_gateway_popularity_places_total", step_labels) >= places as f64);

    let (_, body) = popularity(&gw).await;
    assert!(!body.to_string().contains("Zanzibar"), "no prompt text is kept: {body}");
    gw.shutdown().await;
}

async fn gw_steps(gw: &RunningGateway) -> Value {
    let (status, body) = popularity(gw).await;
    assert_eq!(status, 200, "{body}");
    body["steps"][0].clone()
}

#[tokio::test]
async fn a_workflow_without_the_step_says_so() {
    let gw = gateway(common::shared_server(), json!([{"name": "answer", "kind": "generate", "target": "edge"}])).await;
    let (status, body) = popularity(&gw).await;
    assert_eq!(status, 404, "{body}");
    common::assert_error_shape(&body);
    gw.shutdown().await;
}
