//! Graceful shutdown of `netgpt gateway`: on SIGTERM readiness drops first, in-flight
//! requests finish, then the listener closes and the process exits cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use netgpt_crds::config::{CONFIG_API_VERSION, SiteConfig, UpstreamModel, WORKFLOW_CONFIG_KIND, WorkflowConfig};
use netgpt_crds::{DesensitizationPolicy, RoutingPolicy};
use netgpt_gateway::GatewayArgs;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// `netgpt gateway` as a process of its own: SIGTERM mid-request drains it like `serve`.
/// The in-flight request is held by a slow edge model; after the signal readiness drops
/// (for the shutdown delay, the listener still open), then new connections are refused
/// while the request is still running, the request completes, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_drains_in_flight_requests_on_sigterm() {
    let (edge, reached_edge) = slow_edge(Duration::from_secs(4)).await;
    let dir = std::env::temp_dir().join(format!("netgpt-gateway-drain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let config = dir.join("workflow.yaml");
    std::fs::write(&config, edge_only_workflow(edge).to_yaml().expect("YAML")).expect("write config");
    let addr = free_local_addr();
    let mut gateway = ChildGateway::spawn(&config, addr);
    wait_until_serving(addr, &mut gateway).await;

    let in_flight = tokio::spawn(async move {
        let response = client()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&json!({"messages": [{"role": "user", "content": "Where can I eat?"}]}))
            .send()
            .await
            .expect("in-flight request");
        let status = response.status();
        (status, response.json::<Value>().await.expect("JSON answer"))
    });
    tokio::time::timeout(Duration::from_secs(10), reached_edge.notified()).await.expect("request reached the edge");

    gateway.terminate();
    // Readiness drops first while the listener stays open (the shutdown delay)…
    let mut saw_not_ready = false;
    for _ in 0..20 {
        let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
        if let Ok(ready) = fresh.get(format!("http://{addr}/ready")).send().await
            && ready.status() == 503
        {
            saw_not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(saw_not_ready, "/ready must answer 503 during the shutdown delay");
    // …then new connections are refused while the request is still running…
    let closed = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(3), closed).await.expect("listener closes after the delay");
    assert!(!in_flight.is_finished(), "the listener closed before the in-flight request ended");
    // …which completes, and the process exits cleanly.
    let (status, body) = in_flight.await.expect("in-flight task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Eat at the market.", "{body}");
    let exit = gateway.wait(Duration::from_secs(10));
    assert!(exit.success(), "gateway exit: {exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

const CHILD_CONFIG_VAR: &str = "NETGPT_TEST_GATEWAY_CONFIG";
const CHILD_LISTEN_VAR: &str = "NETGPT_TEST_GATEWAY_LISTEN";

/// The gateway process of the test above: `netgpt gateway`'s own entry point, which
/// returns once SIGTERM has drained it.
#[test]
#[ignore = "run by gateway_drains_in_flight_requests_on_sigterm as a child process"]
fn gateway_child_process() {
    let config = std::env::var(CHILD_CONFIG_VAR).expect("config path");
    let listen = std::env::var(CHILD_LISTEN_VAR).expect("listen address");
    netgpt_gateway::run(GatewayArgs {
        config: config.into(),
        listen: listen.parse().expect("listen address"),
        shutdown_delay_seconds: 1,
        stream_idle_timeout_seconds: 30,
    })
    .expect("the gateway runs and drains");
}

/// The gateway child process; killed if the test fails before it exits.
struct ChildGateway(std::process::Child);

impl ChildGateway {
    fn spawn(config: &std::path::Path, addr: SocketAddr) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let child = std::process::Command::new(exe)
            .args(["--exact", "gateway_child_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_CONFIG_VAR, config)
            .env(CHILD_LISTEN_VAR, addr.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn the gateway process");
        Self(child)
    }

    /// What Kubernetes sends a pod that is being stopped.
    fn terminate(&self) {
        let status =
            std::process::Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().expect("child status")
    }

    fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the gateway did not exit within {limit:?} of draining");
    }
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn wait_until_serving(addr: SocketAddr, gateway: &mut ChildGateway) {
    for _ in 0..600 {
        if let Some(status) = gateway.exited() {
            panic!("the gateway process exited before serving: {status}");
        }
        if let Ok(health) = client().get(format!("http://{addr}/health")).send().await
            && health.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway process never served /health on {addr}");
}

/// A port nothing listens on right now (the child binds it a moment later).
fn free_local_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// An edge model that takes `delay` to answer; `notified` fires when a request arrives.
async fn slow_edge(delay: Duration) -> (SocketAddr, Arc<Notify>) {
    let arrived = Arc::new(Notify::new());
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |State(arrived): State<Arc<Notify>>| async move {
                arrived.notify_one();
                tokio::time::sleep(delay).await;
                axum::Json(json!({
                    "id": "e1", "object": "chat.completion", "created": 0, "model": "edge",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Eat at the market."},
                                 "finish_reason": "stop", "logprobs": {"content": [{"logprob": -0.1}]}}]
                }))
            }),
        )
        .route("/ready", get(|| async { "ready" }))
        .with_state(arrived.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, arrived)
}

/// A workflow whose only step is the edge answer.
fn edge_only_workflow(edge: SocketAddr) -> WorkflowConfig {
    WorkflowConfig {
        api_version: CONFIG_API_VERSION.into(),
        kind: WORKFLOW_CONFIG_KIND.into(),
        workflow: "drain".into(),
        site: serde_json::from_value::<SiteConfig>(json!({"name": "site-a", "location": {"placeName": "Pudong"}}))
            .expect("site"),
        edge: UpstreamModel { url: format!("http://{edge}"), model: "edge".into() },
        cloud: UpstreamModel { url: "http://127.0.0.1:9".into(), model: "cloud".into() },
        desensitizer_url: "http://127.0.0.1:9".into(),
        steps: serde_json::from_value(json!([{"name": "answer", "kind": "generate", "target": "edge"}]))
            .expect("steps"),
        routing: RoutingPolicy::default(),
        desensitization: DesensitizationPolicy::default(),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("HTTP client")
}
