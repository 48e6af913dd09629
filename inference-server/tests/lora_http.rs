//! LoRA adapters over the HTTP API, on the tiny safetensors LLaMA: per-request selection
//! by `"model"`, `/v1/models`, hot load/unload with its errors, mixed-adapter batches,
//! readiness only after the configured adapters load, the adapter metrics, and who may
//! load and unload adapters (admin token, loopback-only without one, configuration-managed
//! adapters refused).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{assert_error_shape, client, spawn_server, url};
use netgpt_inference::ServerSettings;
use netgpt_inference::lora::{AdminAccess, AdminToken};
use netgpt_inference::model::log_softmax;
use serde::Deserialize;
use serde_json::{Value, json};

const BASE: &str = "tiny-llama";

#[derive(Deserialize)]
struct Reference {
    logits: Vec<Vec<f32>>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn prompt() -> String {
    let text = std::fs::read_to_string(fixtures().join("tiny-llama/reference_logits.json")).expect("reference");
    let value: Value = serde_json::from_str(&text).expect("JSON");
    value["prompt"].as_str().expect("prompt").to_string()
}

/// The log-probability of transformers' argmax after the whole prompt.
fn expected_first_logprob(fixture: &str) -> f32 {
    let text = std::fs::read_to_string(fixtures().join(fixture).join("reference_logits.json")).expect("reference");
    let reference: Reference = serde_json::from_str(&text).expect("JSON");
    let last = log_softmax(reference.logits.last().expect("logits"));
    last.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

fn settings(adapters: &[(&str, &str)]) -> ServerSettings {
    let mut settings = ServerSettings::for_model(fixtures().join(BASE));
    settings.model_name = BASE.to_string();
    settings.adapters = adapters.iter().map(|(name, dir)| (name.to_string(), fixtures().join(dir))).collect();
    settings.adapter_dir = Some(fixtures());
    settings
}

/// One server for the tests of this binary: `site-a` (all projections) and `site-qv`
/// (q/v only) from the configuration.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        common::model_path(); // pins candle to one thread, like the other tests
        spawn_server(|s| *s = settings(&[("site-a", "tiny-llama-lora"), ("site-qv", "tiny-llama-lora-qv")]))
    })
}

async fn complete(addr: SocketAddr, model: &str, max_tokens: u32) -> Value {
    let response = client()
        .post(url(addr, "/v1/completions"))
        .json(&json!({
            "model": model,
            "prompt": prompt(),
            "temperature": 0,
            "max_tokens": max_tokens,
            "logprobs": 1,
        }))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 200, "{body}");
    body
}

fn first_logprob(body: &Value) -> f32 {
    body["choices"][0]["logprobs"]["token_logprobs"][0].as_f64().expect("first logprob") as f32
}

async fn post_adapter(addr: SocketAddr, body: Value) -> (u16, Value) {
    let response = client().post(url(addr, "/v1/adapters")).json(&body).send().await.expect("request");
    (response.status().as_u16(), response.json().await.expect("JSON"))
}

#[tokio::test]
async fn models_lists_the_base_and_its_adapters() {
    let addr = server();
    let models: Value = client().get(url(addr, "/v1/models")).send().await.expect("models").json().await.expect("JSON");
    let data = models["data"].as_array().expect("data");
    assert_eq!(data[0]["id"], BASE);
    assert!(data[0].get("parent").is_none(), "{models}");
    for name in ["site-a", "site-qv"] {
        let card = data.iter().find(|m| m["id"] == name).unwrap_or_else(|| panic!("{name} in {models}"));
        assert_eq!(card["parent"], BASE);
        assert_eq!(card["object"], "model");
    }
}

#[tokio::test]
async fn selecting_an_adapter_changes_the_output_to_its_own() {
    let addr = server();
    let base = complete(addr, BASE, 1).await;
    let adapted = complete(addr, "site-a", 1).await;
    let qv = complete(addr, "site-qv", 1).await;
    assert_eq!(adapted["model"], "site-a");
    // Each matches transformers with that adapter merged (or none).
    for (body, fixture) in [(&base, "tiny-llama"), (&adapted, "tiny-llama-lora"), (&qv, "tiny-llama-lora-qv")] {
        let (actual, expected) = (first_logprob(body), expected_first_logprob(fixture));
        assert!((actual - expected).abs() < 1e-4, "{fixture}: {actual} vs {expected}: {body}");
    }
    assert!((first_logprob(&base) - first_logprob(&adapted)).abs() > 1e-3);

    let response = client()
        .post(url(addr, "/v1/chat/completions"))
        .json(&json!({"model": "site-nope", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(assert_error_shape(&body)["code"], "model_not_found");
}

#[tokio::test]
async fn two_adapters_in_flight_at_once_each_get_their_own_output() {
    let addr = server();
    let models = ["site-a", BASE, "site-qv"];
    let mut sequential = Vec::new();
    for model in models {
        sequential.push(complete(addr, model, 24).await["choices"][0]["text"].clone());
    }
    assert_ne!(sequential[0], sequential[1], "the adapter changes the greedy text");
    for _ in 0..2 {
        let concurrent = futures::future::join_all(models.iter().map(|m| complete(addr, m, 24))).await;
        for ((model, body), expected) in models.iter().zip(&concurrent).zip(&sequential) {
            assert_eq!(&body["choices"][0]["text"], expected, "{model}");
            assert_eq!(body["model"], *model);
        }
    }
}

#[tokio::test]
async fn adapters_load_replace_and_unload_over_http() {
    let addr = server();
    let (status, body) = post_adapter(addr, json!({"name": "hot", "path": "tiny-llama-lora-qv"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rank"], 2);
    assert_eq!(body["parent"], BASE);
    assert!(body["memory_bytes"].as_u64().expect("bytes") > 0);
    let hot = complete(addr, "hot", 1).await;
    assert!((first_logprob(&hot) - expected_first_logprob("tiny-llama-lora-qv")).abs() < 1e-4);

    // Same name again: 409 unless replacing.
    let (status, body) = post_adapter(addr, json!({"name": "hot", "path": "tiny-llama-lora"})).await;
    assert_eq!((status, &assert_error_shape(&body)["code"]), (409, &json!("adapter_exists")));
    let (status, body) = post_adapter(addr, json!({"name": "hot", "path": "tiny-llama-lora", "replace": true})).await;
    assert_eq!(status, 200, "{body}");
    let hot = complete(addr, "hot", 1).await;
    assert!((first_logprob(&hot) - expected_first_logprob("tiny-llama-lora")).abs() < 1e-4);

    // Refusals: the base's name, an adapter for another base, a path outside the adapter
    // directory, a missing directory, an invalid body.
    let cases = [
        (json!({"name": BASE, "path": "tiny-llama-lora"}), 409, "adapter_exists"),
        (json!({"name": "g", "path": "tiny-gpt2-lora"}), 400, "invalid_adapter"),
        (json!({"name": "x", "path": "/etc"}), 400, "adapter_path_forbidden"),
        (json!({"name": "x", "path": "../src"}), 400, "adapter_path_forbidden"),
        (json!({"name": "x", "path": "no-such-adapter"}), 400, "invalid_adapter"),
        (json!({"name": "bad name", "path": "tiny-llama-lora"}), 400, "invalid_value"),
        (json!({"name": "x"}), 400, "invalid_json"),
    ];
    for (request, status, code) in cases {
        let (actual, body) = post_adapter(addr, request.clone()).await;
        assert_eq!((actual, &assert_error_shape(&body)["code"]), (status, &json!(code)), "{request}: {body}");
    }
    let (_, body) = post_adapter(addr, json!({"name": "g", "path": "tiny-gpt2-lora"})).await;
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("does not exist in this llama base"), "{message}");

    let response = client().delete(url(addr, "/v1/adapters/hot")).send().await.expect("delete");
    assert_eq!(response.status(), 200);
    let response = client()
        .post(url(addr, "/v1/completions"))
        .json(&json!({"model": "hot", "prompt": "hi", "max_tokens": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let response = client().delete(url(addr, "/v1/adapters/hot")).send().await.expect("delete");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(assert_error_shape(&body)["code"], "adapter_not_found");
}

#[tokio::test]
async fn unloading_does_not_change_a_request_in_flight() {
    let addr = server();
    let (status, body) = post_adapter(addr, json!({"name": "leaving", "path": "tiny-llama-lora"})).await;
    assert_eq!(status, 200, "{body}");
    let expected = complete(addr, "site-a", 40).await["choices"][0]["text"].clone();
    let mut response = client()
        .post(url(addr, "/v1/completions"))
        .json(&json!({"model": "leaving", "prompt": prompt(), "temperature": 0, "max_tokens": 40, "stream": true}))
        .send()
        .await
        .expect("stream");
    let first = response.chunk().await.expect("chunk").expect("first chunk");
    let response_rest = async {
        let mut body = String::from_utf8_lossy(&first).into_owned();
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        body
    };
    let unload = client().delete(url(addr, "/v1/adapters/leaving")).send();
    let (body, unloaded) = tokio::join!(response_rest, unload);
    assert_eq!(unloaded.expect("delete").status(), 200);
    let (text, _) = common::streamed_text(&body);
    assert_eq!(json!(text), expected, "the stream kept the adapter it started with");
}

#[tokio::test]
async fn metrics_report_adapters() {
    let addr = server();
    complete(addr, "site-qv", 1).await;
    let text = client().get(url(addr, "/metrics")).send().await.expect("metrics").text().await.expect("text");
    for needle in [
        "netgpt_adapters_loaded ",
        "netgpt_adapter_memory_bytes{adapter=\"site-a\"}",
        "netgpt_adapter_load_duration_seconds_count",
        "netgpt_requests_total{adapter=\"site-qv\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[test]
fn ready_only_after_the_configured_adapters_load() {
    common::model_path();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        // An adapter that does not fit the base: the server never becomes ready.
        let mut server = netgpt_inference::start(settings(&[("site-g", "tiny-gpt2-lora")])).await.expect("starts");
        let error = server.wait_loaded().await.expect_err("the adapter does not fit");
        assert!(error.to_string().contains("site-g"), "{error}");
        assert!(!server.is_ready());
        let ready = client().get(url(server.addr, "/ready")).send().await.expect("ready");
        assert_eq!(ready.status(), 503);
        server.shutdown().await.expect("shutdown");

        // A good one: from the first moment `/ready` says 200, the adapter is served.
        let server = netgpt_inference::start(settings(&[("site-a", "tiny-llama-lora")])).await.expect("starts");
        loop {
            let ready = client().get(url(server.addr, "/ready")).send().await.expect("ready");
            if ready.status() == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        complete(server.addr, "site-a", 1).await;
        server.shutdown().await.expect("shutdown");
    });
}

/// A serving configuration for the tiny LLaMA naming `adapters`.
fn config_yaml(adapters: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: netgpt.io/v1alpha1\nkind: ServingConfig\nmodel:\n  name: {BASE}\n  architecture: llama\n  format: safetensors\n  path: {}\n",
        fixtures().join(BASE).display()
    );
    if !adapters.is_empty() {
        text.push_str("adapters:\n");
        for (name, dir) in adapters {
            text.push_str(&format!("  - name: {name}\n    path: {}\n", fixtures().join(dir).display()));
        }
    }
    text
}

async fn model_ids(addr: SocketAddr) -> Vec<String> {
    let models: Value = client().get(url(addr, "/v1/models")).send().await.expect("models").json().await.expect("JSON");
    models["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect()
}

/// Polls until `/v1/models` equals `expected` (the watcher runs every 20 ms here).
async fn wait_for_models(addr: SocketAddr, expected: &[&str]) {
    for _ in 0..500 {
        if model_ids(addr).await == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("models stayed {:?}, expected {expected:?}", model_ids(addr).await);
}

#[test]
fn a_changed_config_file_adds_replaces_and_removes_adapters_without_restart() {
    common::model_path();
    let dir = std::env::temp_dir().join(format!("netgpt-lora-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = dir.join("serving.yaml");
    std::fs::write(&config, config_yaml(&[("site-a", "tiny-llama-lora")])).expect("write");
    let args = netgpt_inference::ServeArgs {
        config: Some(config.clone()),
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        // `Default` does not apply clap's defaults.
        max_body_bytes: 1 << 20,
        step_token_budget: 256,
        ..netgpt_inference::ServeArgs::default()
    };
    let mut settings = ServerSettings::from_args(&args).expect("settings");
    settings.config_poll = std::time::Duration::from_millis(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut server = netgpt_inference::start(settings).await.expect("starts");
        server.wait_loaded().await.expect("loads");
        let addr = server.addr;
        assert_eq!(model_ids(addr).await, [BASE, "site-a"]);
        // An adapter loaded over the API is not the file's to remove.
        let (status, body) = post_adapter(addr, json!({"name": "api-only", "path": "tiny-llama-lora-qv"})).await;
        assert_eq!(status, 403, "no adapter directory configured here: {body}");

        // Add one and re-point the other (written like the kubelet does: a new file
        // swapped in by rename).
        let swap = |text: String| {
            let staged = dir.join("serving.yaml.new");
            std::fs::write(&staged, text).expect("write");
            std::fs::rename(&staged, &config).expect("rename");
        };
        swap(config_yaml(&[("site-a", "tiny-llama-lora-qv"), ("site-b", "tiny-llama-lora")]));
        wait_for_models(addr, &[BASE, "site-a", "site-b"]).await;
        for _ in 0..500 {
            let logprob = first_logprob(&complete(addr, "site-a", 1).await);
            if (logprob - expected_first_logprob("tiny-llama-lora-qv")).abs() < 1e-4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let site_a = first_logprob(&complete(addr, "site-a", 1).await);
        assert!((site_a - expected_first_logprob("tiny-llama-lora-qv")).abs() < 1e-4, "site-a re-pointed");

        // A broken file changes nothing; removing an entry unloads it.
        swap("not: [valid".into());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(model_ids(addr).await, [BASE, "site-a", "site-b"]);
        swap(config_yaml(&[("site-b", "tiny-llama-lora")]));
        wait_for_models(addr, &[BASE, "site-b"]).await;
        server.shutdown().await.expect("shutdown");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// vLLM's adapter endpoints (what AIBrix and KubeAI call) do what `/v1/adapters` does.
#[tokio::test]
async fn vllm_adapter_endpoints_load_replace_and_unload() {
    let addr = server();
    let post = |path: &'static str, body: Value| async move {
        let response = client().post(url(addr, path)).json(&body).send().await.expect("request");
        (response.status().as_u16(), response.text().await.expect("body"))
    };
    let (status, text) =
        post("/v1/load_lora_adapter", json!({"lora_name": "v", "lora_path": "tiny-llama-lora-qv"})).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("'v' added"), "{text}");
    assert!(model_ids(addr).await.contains(&"v".to_string()));
    let answer = complete(addr, "v", 1).await;
    assert!((first_logprob(&answer) - expected_first_logprob("tiny-llama-lora-qv")).abs() < 1e-4);
    // Loaded already: the same 409 as /v1/adapters, unless load_inplace.
    let (status, text) = post("/v1/load_lora_adapter", json!({"lora_name": "v", "lora_path": "tiny-llama-lora"})).await;
    assert_eq!(status, 409, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON error");
    assert_eq!(assert_error_shape(&body)["code"], "adapter_exists");
    let inplace = json!({"lora_name": "v", "lora_path": "tiny-llama-lora", "load_inplace": true});
    assert_eq!(post("/v1/load_lora_adapter", inplace).await.0, 200);
    let answer = complete(addr, "v", 1).await;
    assert!((first_logprob(&answer) - expected_first_logprob("tiny-llama-lora")).abs() < 1e-4);
    // Paths outside the adapter directory are refused here too.
    let (status, _) = post("/v1/load_lora_adapter", json!({"lora_name": "w", "lora_path": "/etc"})).await;
    assert_eq!(status, 400);
    let (status, text) = post("/v1/unload_lora_adapter", json!({"lora_name": "v", "lora_int_id": 1})).await;
    assert_eq!(status, 200, "{text}");
    assert!(!model_ids(addr).await.contains(&"v".to_string()));
    let (status, _) = post("/v1/unload_lora_adapter", json!({"lora_name": "v"})).await;
    assert_eq!(status, 404);
}

/// This host's address on a non-loopback interface: connecting to it from here makes the
/// server see a peer that is not loopback, as a request from another pod would be. The
/// UDP `connect` sends nothing; it only asks the kernel which source address it would use.
fn non_loopback_ip() -> std::net::IpAddr {
    for target in ["192.0.2.1:9", "8.8.8.8:53", "[2001:db8::1]:9"] {
        let bind = if target.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" };
        let Ok(socket) = std::net::UdpSocket::bind(bind) else { continue };
        if socket.connect(target).is_ok()
            && let Ok(local) = socket.local_addr()
            && !local.ip().is_loopback()
            && !local.ip().is_unspecified()
        {
            return local.ip();
        }
    }
    panic!("this test needs a non-loopback network interface with a route");
}

/// A server on all interfaces with `admin` as its adapter admin rule; returns its port.
fn admin_server(admin: AdminAccess) -> u16 {
    common::model_path();
    let addr = spawn_server(|s| {
        *s = settings(&[("site-a", "tiny-llama-lora")]);
        s.listen = "0.0.0.0:0".parse().expect("addr");
        s.admin = admin;
    });
    addr.port()
}

/// One call to each admin route, loading or unloading `name`; `None` token: no header.
async fn admin_calls(base: &str, token: Option<&str>, name: &str) -> Vec<(String, u16, String, Option<String>)> {
    let calls = [
        ("POST", "/v1/adapters".to_string(), json!({"name": name, "path": "tiny-llama-lora-qv"})),
        ("DELETE", format!("/v1/adapters/{name}"), Value::Null),
        ("POST", "/v1/load_lora_adapter".to_string(), json!({"lora_name": name, "lora_path": "tiny-llama-lora-qv"})),
        ("POST", "/v1/unload_lora_adapter".to_string(), json!({"lora_name": name})),
    ];
    let mut results = Vec::new();
    for (method, path, body) in calls {
        let mut request = match method {
            "DELETE" => client().delete(format!("{base}{path}")),
            _ => client().post(format!("{base}{path}")).json(&body),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii").to_string());
        results.push((format!("{method} {path}"), status, response.text().await.expect("body"), challenge));
    }
    results
}

fn error_code(body: &str) -> Value {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_error_shape(&body)["code"].clone()
}

#[tokio::test]
async fn with_an_admin_token_every_admin_route_needs_it_from_every_peer() {
    let token = "s3cret-admin";
    let port = admin_server(AdminAccess::Token(AdminToken::new(token).expect("token")));
    let local = format!("http://127.0.0.1:{port}");
    let remote = format!("http://{}", SocketAddr::new(non_loopback_ip(), port));

    // No header, even from loopback; a wrong token; another scheme.
    for (base, given, code) in
        [(&local, None, "missing_admin_token"), (&remote, Some("s3cret-admim"), "invalid_admin_token")]
    {
        for (call, status, body, challenge) in admin_calls(base, given, "hot").await {
            assert_eq!(status, 401, "{call}: {body}");
            assert_eq!(error_code(&body), code, "{call}");
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{call}");
        }
    }
    let response =
        client().delete(format!("{remote}/v1/adapters/hot")).basic_auth("admin", Some(token)).send().await.expect("r");
    assert_eq!(response.status(), 401);
    assert!(!model_ids_at(&local).await.contains(&"hot".to_string()), "nothing was loaded");

    // The right token works from any peer: load, unload, load (vLLM), unload (vLLM).
    for (call, status, body, _) in admin_calls(&remote, Some(token), "hot").await {
        assert_eq!(status, 200, "{call}: {body}");
    }
    // Reading and generating need no token.
    let listed = client().get(format!("{remote}/v1/adapters")).send().await.expect("list");
    assert_eq!(listed.status(), 200);
    let answer = client()
        .post(format!("{remote}/v1/completions"))
        .json(&json!({"model": "site-a", "prompt": prompt(), "max_tokens": 1}))
        .send()
        .await
        .expect("completion");
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn without_an_admin_token_admin_routes_answer_loopback_peers_only() {
    let port = admin_server(AdminAccess::LoopbackOnly);
    let local = format!("http://127.0.0.1:{port}");
    let remote = format!("http://{}", SocketAddr::new(non_loopback_ip(), port));

    for (call, status, body, _) in admin_calls(&remote, Some("anything"), "hot").await {
        assert_eq!(status, 403, "{call}: {body}");
        assert_eq!(error_code(&body), "admin_loopback_only", "{call}");
    }
    assert!(!model_ids_at(&local).await.contains(&"hot".to_string()));
    // Other peers still read and generate.
    let listed: Value =
        client().get(format!("{remote}/v1/adapters")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(listed["data"][0]["id"], "site-a");
    // From loopback the same calls succeed.
    for (call, status, body, _) in admin_calls(&local, None, "hot").await {
        assert_eq!(status, 200, "{call}: {body}");
    }
}

#[tokio::test]
async fn adapters_the_configuration_manages_cannot_be_replaced_or_unloaded_over_the_api() {
    let addr = server();
    let refused = [
        client().delete(url(addr, "/v1/adapters/site-a")),
        client().post(url(addr, "/v1/adapters")).json(&json!({"name": "site-a", "path": "tiny-llama-lora-qv"})),
        client()
            .post(url(addr, "/v1/adapters"))
            .json(&json!({"name": "site-qv", "path": "tiny-llama-lora", "replace": true})),
        client().post(url(addr, "/v1/unload_lora_adapter")).json(&json!({"lora_name": "site-qv"})),
        client()
            .post(url(addr, "/v1/load_lora_adapter"))
            .json(&json!({"lora_name": "site-a", "lora_path": "tiny-llama-lora-qv", "load_inplace": true})),
    ];
    for request in refused {
        let response = request.send().await.expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(status, 409, "{body}");
        let error = assert_error_shape(&body);
        assert_eq!((&error["code"], &error["param"]), (&json!("adapter_managed_by_config"), &json!("name")));
        assert!(error["message"].as_str().expect("message").contains("serving configuration"), "{body}");
    }
    // Both still serve what the configuration says.
    for (name, fixture) in [("site-a", "tiny-llama-lora"), ("site-qv", "tiny-llama-lora-qv")] {
        let answer = complete(addr, name, 1).await;
        assert!((first_logprob(&answer) - expected_first_logprob(fixture)).abs() < 1e-4, "{name}");
    }
    let listed: Value = client().get(url(addr, "/v1/adapters")).send().await.expect("list").json().await.expect("JSON");
    let site_a = listed["data"].as_array().expect("data").iter().find(|a| a["id"] == "site-a").expect("site-a");
    assert_eq!(site_a["managed"], true, "{listed}");
    // An adapter loaded over the API stays the API's to remove.
    let (status, body) = post_adapter(addr, json!({"name": "api-owned", "path": "tiny-llama-lora-qv"})).await;
    assert_eq!((status, &body["managed"]), (200, &json!(false)), "{body}");
    let response = client().delete(url(addr, "/v1/adapters/api-owned")).send().await.expect("delete");
    assert_eq!(response.status(), 200);
}

async fn model_ids_at(base: &str) -> Vec<String> {
    let models: Value =
        client().get(format!("{base}/v1/models")).send().await.expect("models").json().await.expect("JSON");
    models["data"].as_array().expect("data").iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect()
}
