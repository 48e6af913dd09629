//! The sidecar: an OpenAI-compatible proxy that desensitizes requests before they reach the
//! cloud model and restores pseudonyms in its answers.
//!
//! Fail closed: a body that cannot be parsed or fully desensitized is answered with an
//! error and never forwarded, and the forwarded body is always the re-serialized,
//! desensitized one — never the bytes the client sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use netgpt_crds::workflow::DesensitizationPolicy;
use netgpt_runtime::GracefulServer;
use serde_json::Value;

use super::actions::Desensitizer;
use super::error::DesensitizeError;
use super::metrics::Metrics;
use super::request::Outcome;
use super::response::{SseRestorer, restore_json};
use super::restore::Restorer;

/// Header with the number of entities replaced in the request (a count, never values).
pub const ENTITIES_HEADER: &str = "x-netgpt-desensitized-entities";
const REQUEST_ID: &str = "x-request-id";

/// Everything the sidecar needs to run.
#[derive(Debug, Clone)]
pub struct SidecarSettings {
    pub listen: SocketAddr,
    /// A second listener serving only `/metrics`, `/health` and `/ready`, so Prometheus
    /// can scrape the sidecar while its API stays on loopback (reachable from the gateway
    /// container of the same pod only).
    pub metrics_listen: Option<SocketAddr>,
    /// Base URL of the cloud model server (`cloud.url` of the workflow).
    pub upstream: String,
    pub policy: DesensitizationPolicy,
    pub max_body_bytes: usize,
    /// Limit for the cloud's response head (a streamed body may take longer).
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    /// `mask` keeps separators (`-`, spaces, `@`, `.`) so that shapes stay readable.
    pub mask_keeps_separators: bool,
    /// The site's own place names (its location profile's `placeName`), which the
    /// workflow shares with the cloud on purpose; see `Desensitizer::sharing_site_places`.
    pub site_places: Vec<String>,
    /// Directory of the learned PII detector (`netgpt model pull pii-rampart`); `None`
    /// runs the rule detectors only.
    pub pii_model: Option<std::path::PathBuf>,
    /// The adapter the learned detector runs with (the project's trained one by default).
    pub pii_adapter: super::ner::AdapterChoice,
    /// Requests desensitized at once; more wait up to [`DETECTION_QUEUE_WAIT`], then get
    /// 503. Detection is CPU-bound and cannot be cancelled once started, so an unbounded
    /// number of large bodies would starve every other request.
    pub max_concurrent_detections: usize,
    /// Tokens the learned detector reads per request at most (see
    /// `ner::with_token_budget`); more is refused with 413.
    pub max_learned_tokens: usize,
}

/// How long a request waits for a detection slot before it is shed with 503.
pub const DETECTION_QUEUE_WAIT: Duration = Duration::from_secs(2);

impl SidecarSettings {
    pub fn new(upstream: impl Into<String>, policy: DesensitizationPolicy) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            metrics_listen: None,
            upstream: upstream.into(),
            policy,
            max_body_bytes: 8 * 1024 * 1024,
            upstream_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            mask_keeps_separators: true,
            site_places: Vec::new(),
            pii_model: None,
            pii_adapter: super::ner::AdapterChoice::Builtin,
            max_concurrent_detections: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_learned_tokens: 32_768,
        }
    }
}

/// Errors starting the sidecar.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("upstream URL must start with http:// or https://: {0}")]
    Upstream(String),
    #[error("the learned PII detector: {0}")]
    PiiModel(#[from] super::ner::NerError),
}

struct Shared {
    desensitizer: Desensitizer,
    upstream: String,
    client: reqwest::Client,
    metrics: Metrics,
    max_body_bytes: usize,
    upstream_timeout: Duration,
    detection_slots: Arc<tokio::sync::Semaphore>,
    max_learned_tokens: usize,
}

/// A running sidecar; dropping it does not stop it, [`RunningSidecar::shutdown`] does.
pub struct RunningSidecar {
    pub addr: SocketAddr,
    /// Address of the metrics-only listener, when one was asked for.
    pub metrics_addr: Option<SocketAddr>,
    http: GracefulServer,
    draining: Arc<AtomicBool>,
}

impl RunningSidecar {
    /// Drains like the model server: `/ready` turns 503, the listener closes and
    /// in-flight requests (streams included) finish.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.http.drain(&self.draining, Duration::ZERO).await
    }

    /// Waits until the server stops by itself (it does not, short of an I/O error).
    pub async fn wait(self) -> std::io::Result<()> {
        self.http.wait().await
    }
}

/// Binds and starts serving.
pub async fn start(settings: SidecarSettings) -> Result<RunningSidecar, StartError> {
    if !(settings.upstream.starts_with("http://") || settings.upstream.starts_with("https://")) {
        return Err(StartError::Upstream(settings.upstream));
    }
    let client = reqwest::Client::builder().connect_timeout(settings.connect_timeout).build()?;
    // Detection patterns and word lists are built lazily; build them before serving rather
    // than on the first request. A failure here would surface on that request anyway.
    let _ = tokio::task::spawn_blocking(super::detect::warm_up).await;
    let mut desensitizer = Desensitizer::new(settings.policy.clone())
        .keeping_mask_separators(settings.mask_keeps_separators)
        .sharing_site_places(settings.site_places.iter().map(String::as_str));
    if let Some(dir) = settings.pii_model.clone() {
        let adapter = settings.pii_adapter.clone();
        let model = tokio::task::spawn_blocking(move || {
            super::ner::NerModel::load_with(&dir, super::ner::Precision::Quantized, &adapter)
        })
        .await
        .map_err(|e| StartError::Upstream(format!("loading the PII model panicked: {e}")))??;
        desensitizer = desensitizer.with_learned(Arc::new(model));
    }
    let shared = Arc::new(Shared {
        desensitizer,
        detection_slots: Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_detections.max(1))),
        max_learned_tokens: settings.max_learned_tokens,
        upstream: settings.upstream.trim_end_matches('/').to_string(),
        client,
        metrics: Metrics::new()?,
        max_body_bytes: settings.max_body_bytes,
        upstream_timeout: settings.upstream_timeout,
    });
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: settings.listen, source })?;
    let metrics_addr = match settings.metrics_listen {
        Some(metrics_listen) => {
            let metrics_listener = tokio::net::TcpListener::bind(metrics_listen)
                .await
                .map_err(|source| StartError::Bind { addr: metrics_listen, source })?;
            let metrics_addr =
                metrics_listener.local_addr().map_err(|source| StartError::Bind { addr: metrics_listen, source })?;
            let app = metrics_router(shared.clone());
            // Lives as long as the process: a scrape during the API's drain still answers.
            tokio::spawn(async move {
                if let Err(error) = axum::serve(metrics_listener, app).await {
                    tracing::error!(%error, "desensitizer metrics listener stopped");
                }
            });
            Some(metrics_addr)
        }
        None => None,
    };
    let draining = Arc::new(AtomicBool::new(false));
    let http = GracefulServer::spawn(listener, router(shared, draining.clone()));
    Ok(RunningSidecar { addr, metrics_addr, http, draining })
}

fn router(shared: Arc<Shared>, draining: Arc<AtomicBool>) -> Router {
    let ready = move || async move {
        if draining.load(Ordering::Acquire) {
            (StatusCode::SERVICE_UNAVAILABLE, "draining")
        } else {
            (StatusCode::OK, "ready")
        }
    };
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|request: Request| async move {
            DesensitizeError::NotFound(format!("{} {}", request.method(), request.uri().path()))
        })
        // The body limit is enforced by the handlers, so that it is answered in JSON.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// The metrics-only listener: no API route, so exposing it on the pod network lets no
/// request reach the cloud without passing the gateway.
fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(|| async { "ready" }))
        .fallback(|request: Request| async move {
            DesensitizeError::NotFound(format!("{} {}", request.method(), request.uri().path()))
        })
        .with_state(shared)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    netgpt_runtime::metrics::response(&shared.metrics.registry)
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    handle(shared, headers, body, Kind::Chat).await
}

async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    handle(shared, headers, body, Kind::Completion).await
}

/// `GET /v1/models` carries no user text: forwarded as is.
async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let request = shared.client.get(format!("{}/v1/models", shared.upstream));
    match send(&shared, copy_headers(request, &headers)).await {
        Ok(upstream) => {
            let status = upstream.status().as_u16();
            let body = upstream.bytes().await.unwrap_or_default();
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Chat,
    Completion,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Completion => "/v1/completions",
        }
    }
}

async fn handle(shared: Arc<Shared>, headers: HeaderMap, body: Body, kind: Kind) -> Response {
    let request_id = headers.get(REQUEST_ID).cloned();
    let mut response = match forward(&shared, &headers, body, kind).await {
        Ok(response) => response,
        Err(error) => {
            let outcome = match error {
                DesensitizeError::UpstreamUnavailable(_)
                | DesensitizeError::UpstreamTimeout(_)
                | DesensitizeError::UpstreamBroken(_) => "upstream_error",
                _ => "blocked",
            };
            if outcome == "blocked" {
                shared.metrics.record_blocked(error.reason(), outcome);
            } else {
                shared.metrics.requests.with_label_values(&[outcome]).inc();
            }
            tracing::warn!(reason = error.reason(), path = kind.path(), "request not forwarded");
            error.into_response()
        }
    };
    if let Some(id) = request_id {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID), id);
    }
    response
}

async fn forward(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, DesensitizeError> {
    let limit = shared.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| DesensitizeError::PayloadTooLarge { limit })?;
    let started = Instant::now();
    let permit = tokio::time::timeout(DETECTION_QUEUE_WAIT, shared.detection_slots.clone().acquire_owned())
        .await
        .map_err(|_| DesensitizeError::Overloaded)?
        .map_err(|_| DesensitizeError::Overloaded)?;
    let desensitizer = shared.desensitizer.clone();
    let token_budget = shared.max_learned_tokens;
    // Detection runs off the async workers (large bodies take milliseconds), and a panic in
    // it becomes an error here rather than a forwarded body.
    let (body, outcome) = tokio::task::spawn_blocking(move || -> Result<(Value, Outcome), DesensitizeError> {
        let _permit = permit;
        let mut body: Value =
            serde_json::from_slice(&bytes).map_err(|e| DesensitizeError::InvalidJson(e.to_string()))?;
        let outcome = super::ner::with_token_budget(token_budget, || match kind {
            Kind::Chat => desensitizer.desensitize_chat(&mut body),
            Kind::Completion => desensitizer.desensitize_completion(&mut body),
        })?;
        Ok((body, outcome))
    })
    .await
    .map_err(|_| DesensitizeError::DetectionFailed)??;
    shared.metrics.desensitize_duration.observe(started.elapsed().as_secs_f64());
    shared.metrics.record_entities(&outcome.counts);
    let types: Vec<String> = outcome.counts.nonzero().map(|(t, n)| format!("{t}={n}")).collect();
    tracing::info!(path = kind.path(), entities = outcome.counts.total(), types = %types.join(","), "desensitized");

    let payload = serde_json::to_vec(&body).map_err(|_| DesensitizeError::DetectionFailed)?;
    let request = shared
        .client
        .post(format!("{}{}", shared.upstream, kind.path()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(payload);
    let started = Instant::now();
    let upstream = send(shared, copy_headers(request, headers)).await?;
    shared.metrics.upstream_duration.observe(started.elapsed().as_secs_f64());

    let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = upstream
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let restore = shared.desensitizer.restores() && !outcome.vault.is_empty();
    let restorer = Restorer::new(Arc::new(outcome.vault));
    let is_sse = content_type.starts_with("text/event-stream");
    let body = if !restore {
        Body::from_stream(upstream.bytes_stream())
    } else if is_sse {
        sse_body(upstream, restorer)
    } else {
        let bytes = upstream.bytes().await.map_err(|e| DesensitizeError::UpstreamBroken(e.to_string()))?;
        Body::from(restore_whole(&restorer, &bytes))
    };
    // Counted once the answer is in hand (a broken non-streamed body counts as an
    // upstream error instead).
    shared.metrics.requests.with_label_values(&["forwarded"]).inc();
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(ENTITIES_HEADER, HeaderValue::from(outcome.counts.total()));
    if is_sse {
        response = response.header(header::CACHE_CONTROL, "no-cache");
    }
    response.body(body).map_err(|_| DesensitizeError::DetectionFailed)
}

fn copy_headers(mut request: reqwest::RequestBuilder, headers: &HeaderMap) -> reqwest::RequestBuilder {
    for name in [header::AUTHORIZATION, header::ACCEPT, HeaderName::from_static(REQUEST_ID)] {
        if let Some(value) = headers.get(&name)
            && let Ok(value) = reqwest::header::HeaderValue::from_bytes(value.as_bytes())
        {
            request = request.header(name.as_str(), value);
        }
    }
    request
}

async fn send(shared: &Shared, request: reqwest::RequestBuilder) -> Result<reqwest::Response, DesensitizeError> {
    match tokio::time::timeout(shared.upstream_timeout, request.send()).await {
        Err(_) => Err(DesensitizeError::UpstreamTimeout(shared.upstream_timeout)),
        Ok(Err(e)) => Err(DesensitizeError::UpstreamUnavailable(without_url(&e))),
        Ok(Ok(response)) => Ok(response),
    }
}

/// reqwest's error text, without the URL (it is configuration, but keep messages short).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    kind.to_string()
}

fn restore_whole(restorer: &Restorer, bytes: &Bytes) -> Bytes {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut value) => {
            restore_json(restorer, &mut value);
            Bytes::from(value.to_string())
        }
        Err(_) => Bytes::from(restorer.restore(&String::from_utf8_lossy(bytes))),
    }
}

fn sse_body(upstream: reqwest::Response, restorer: Restorer) -> Body {
    let state = (upstream.bytes_stream().boxed(), SseRestorer::new(restorer), false);
    let stream = futures::stream::unfold(state, |(mut source, mut sse, done)| async move {
        if done {
            return None;
        }
        let (out, done) = match source.next().await {
            Some(Ok(bytes)) => (sse.push(&bytes), false),
            Some(Err(e)) => {
                let mut out = sse.finish();
                let error = DesensitizeError::UpstreamBroken(without_url(&e));
                out.extend_from_slice(format!("data: {}\n\n", error.body_json()).as_bytes());
                (out, true)
            }
            None => (sse.finish(), true),
        };
        Some((Ok::<_, std::io::Error>(Bytes::from(out)), (source, sse, done)))
    });
    Body::from_stream(stream)
}
