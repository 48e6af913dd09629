//! Graceful shutdown of `serve`: readiness drops first, in-flight requests (streams
//! included) finish, then the listener closes. (The gateway's drain is tested in
//! `gateway/tests/shutdown.rs`.)

mod common;

use std::time::Duration;

use common::{client, model_path, streamed_text, url};
use netgpt_inference::ServerSettings;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_streams_and_reports_not_ready() {
    let mut settings = ServerSettings::for_model(model_path());
    settings.shutdown_delay = Duration::from_millis(500);
    let mut server = netgpt_inference::start(settings).await.expect("server starts");
    server.wait_loaded().await.expect("model loads");
    let addr = server.addr;
    assert!(server.is_ready());

    let in_flight = tokio::spawn(async move {
        let response = client()
            .post(url(addr, "/v1/completions"))
            .json(&json!({"prompt": "1, 2, 3,", "temperature": 0, "max_tokens": 24, "stream": true}))
            .send()
            .await
            .expect("request");
        response.text().await.expect("full SSE body")
    });
    // Let the request reach the engine before shutting down.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = client().get(url(addr, "/ready")).send().await.expect("ready probe");
    assert_eq!(ready.status(), 503, "readiness must drop before the listener closes");

    let body = in_flight.await.expect("in-flight task");
    let (text, finish) = streamed_text(&body);
    assert_eq!(finish.as_deref(), Some("length"), "stream cut short: {body}");
    assert!(!text.is_empty());
    assert!(body.trim_end().ends_with("data: [DONE]"));
    shutdown.await.expect("shutdown task").expect("clean shutdown");
    assert!(client().get(url(addr, "/health")).send().await.is_err(), "listener still open");
}
