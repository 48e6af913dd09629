//! The gateway's HTTP API and the per-request workflow.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use netgpt_crds::DesensitizeFailure;
use netgpt_crds::config::WorkflowConfig;
use netgpt_runtime::unix_seconds;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::engine::{StepFailure, StepRecord, StepRunner, StepValue, execute};
use crate::forecast::{EdgeModel, Forecaster};
use crate::intent::{intent_request, parse_intent, post_webhook};
use crate::metrics::GatewayMetrics;
use crate::route::{ServedPath, completion_messages, confidence, finish_completion};
use netgpt_crds::graph::{Node, StepGraph, outcome_name};
use netgpt_crds::{StepKind, StepOutcome, Target};
use netgpt_runtime::{ErrorShape, GracefulServer, termination_signal};

/// Options of `netgpt gateway`.
#[derive(clap::Args, Clone, Debug)]
pub struct GatewayArgs {
    /// Compiled workflow (`WorkflowConfig` YAML) rendered by the operator or `netgpt local`.
    #[arg(long, default_value = "/etc/netgpt/workflow.yaml", env = "NETGPT_WORKFLOW_CONFIG")]
    pub config: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080", env = "NETGPT_LISTEN")]
    pub listen: SocketAddr,
    /// Seconds between reporting not-ready and closing the listener on SIGTERM, so load
    /// balancers stop sending traffic first (as `netgpt serve`'s flag).
    #[arg(long, default_value_t = 0, env = "NETGPT_SHUTDOWN_DELAY_SECONDS")]
    pub shutdown_delay_seconds: u64,
    /// Longest silence allowed between two chunks of a streamed cloud answer, once its
    /// first byte has arrived within the latency budget; then the stream ends with an
    /// error event.
    #[arg(long, default_value_t = DEFAULT_STREAM_IDLE_SECONDS, env = "NETGPT_STREAM_IDLE_TIMEOUT_SECONDS")]
    pub stream_idle_timeout_seconds: u64,
}

/// A cloud model pauses between tokens for well under a second; half a minute of
/// silence means it, or the path to it, is stuck (and is the default latency budget).
const DEFAULT_STREAM_IDLE_SECONDS: u64 = 30;

/// Gateway options that are not part of the workflow.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub listen: SocketAddr,
    /// See [`GatewayArgs::shutdown_delay_seconds`].
    pub shutdown_delay: Duration,
    /// See [`GatewayArgs::stream_idle_timeout_seconds`].
    pub stream_idle_timeout: Duration,
}

impl GatewaySettings {
    /// Defaults for everything but the address.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            shutdown_delay: Duration::ZERO,
            stream_idle_timeout: Duration::from_secs(DEFAULT_STREAM_IDLE_SECONDS),
        }
    }

    fn from_args(args: &GatewayArgs) -> Self {
        Self {
            listen: args.listen,
            shutdown_delay: Duration::from_secs(args.shutdown_delay_seconds),
            // Zero would end every stream at once.
            stream_idle_timeout: Duration::from_secs(args.stream_idle_timeout_seconds.max(1)),
        }
    }
}

/// Errors that stop the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("reading {path}: {source}")]
    ReadConfig { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(#[from] netgpt_crds::config::ConfigError),
    #[error("workflow steps: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Steps(Vec<netgpt_crds::graph::GraphError>),
    #[error("listening on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

/// Largest request body the gateway accepts.
const MAX_BODY: usize = 1 << 20;
/// Tokens the edge may spend completing a prompt.
const COMPLETION_TOKENS: u64 = 96;

struct Gateway {
    config: WorkflowConfig,
    /// The compiled steps, run for every request.
    graph: StepGraph,
    http: reqwest::Client,
    metrics: GatewayMetrics,
    /// Set on shutdown: `/ready` answers 503 while in-flight requests finish.
    draining: AtomicBool,
    /// Whether the last `/ready` found the edge model ready: a change is logged once with
    /// its reason, so a gateway stuck not-ready says why without a line per probe.
    edge_ready: AtomicBool,
    stream_idle_timeout: Duration,
    /// The workflow's `popularityPrediction` steps: every request is counted by each.
    forecasters: Vec<Arc<Forecaster>>,
}

/// A gateway running in this process (tests, `netgpt local`, `netgpt gateway`).
pub struct RunningGateway {
    pub addr: SocketAddr,
    gateway: Arc<Gateway>,
    http: GracefulServer,
    shutdown_delay: Duration,
    /// The forecasters' interval loops, stopped on shutdown.
    forecast_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningGateway {
    /// Drains like `netgpt serve`: readiness drops, the shutdown delay passes, the
    /// listener closes and in-flight requests (streams included) finish.
    pub async fn shutdown(self) {
        for task in &self.forecast_tasks {
            task.abort();
        }
        if let Err(error) = self.http.drain(&self.gateway.draining, self.shutdown_delay).await {
            tracing::error!(%error, "gateway server failed");
        }
    }
}

/// Starts a gateway for `config` on `listen` with default settings.
pub async fn start(config: WorkflowConfig, listen: SocketAddr) -> Result<RunningGateway, GatewayError> {
    start_with(config, GatewaySettings::new(listen)).await
}

/// Starts a gateway for `config`.
pub async fn start_with(config: WorkflowConfig, settings: GatewaySettings) -> Result<RunningGateway, GatewayError> {
    let metrics = GatewayMetrics::new();
    metrics.initialize_site(&config.site.name);
    let graph = StepGraph::compile(&config.steps, &config.routing, config.desensitization.enabled)
        .map_err(GatewayError::Steps)?;
    tracing::info!(steps = %graph.describe(), "workflow compiled");
    for node in &graph.nodes {
        metrics.initialize_step(&config.site.name, &node.name);
    }
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
    let edge = EdgeModel { url: config.edge.url.clone(), model: config.edge.model.clone() };
    let forecasters: Vec<Arc<Forecaster>> = graph
        .forecasts
        .iter()
        .map(|f| {
            let (site, workflow) = (config.site.name.as_str(), config.workflow.as_str());
            Arc::new(Forecaster::new(site, workflow, f.clone(), edge.clone(), http.clone(), metrics.clone()))
        })
        .collect();
    let forecast_tasks = forecasters.iter().cloned().map(crate::forecast::spawn).collect();
    let gateway = Arc::new(Gateway {
        graph,
        config,
        http,
        metrics,
        draining: AtomicBool::new(false),
        // Starts "ready" so that a gateway whose edge is not up yet logs it once.
        edge_ready: AtomicBool::new(true),
        stream_idle_timeout: settings.stream_idle_timeout,
        forecasters,
    });
    let listen = settings.listen;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| GatewayError::Bind { addr: listen, source })?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Bind { addr: listen, source })?;
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/v1/popularity", get(popularity))
        .route(
            "/metrics",
            get(|State(g): State<Arc<Gateway>>| async move { netgpt_runtime::metrics::response(&g.metrics.registry) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(gateway.clone());
    let http = GracefulServer::spawn(listener, app);
    tracing::info!(%addr, "gateway listening");
    Ok(RunningGateway { addr, gateway, http, shutdown_delay: settings.shutdown_delay, forecast_tasks })
}

/// `netgpt gateway`: runs until SIGTERM or Ctrl-C, then drains.
pub fn run(args: GatewayArgs) -> Result<(), GatewayError> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|source| GatewayError::ReadConfig { path: args.config.clone(), source })?;
    let config = WorkflowConfig::from_yaml(&text)?;
    let settings = GatewaySettings::from_args(&args);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(GatewayError::Runtime)?;
    runtime.block_on(async move {
        // Before the listener opens: from the first request on, SIGTERM means "drain".
        let stop = termination_signal();
        let gateway = start_with(config, settings).await?;
        stop.await;
        gateway.shutdown().await;
        Ok(())
    })
}

/// Ready when the site's edge model is ready (the cloud is optional: the edge falls back),
/// and not draining.
async fn ready(State(g): State<Arc<Gateway>>) -> Response {
    if g.draining.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let edge = g.config.edge.url.trim_end_matches('/');
    let outcome = match g.http.get(format!("{edge}/ready")).timeout(Duration::from_secs(2)).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{edge}/ready answered {}", r.status())),
        // The error's source chain names the cause (DNS, refused, timeout).
        Err(error) => Err(format!("{edge}/ready: {}", error_chain(&error))),
    };
    let was_ready = g.edge_ready.swap(outcome.is_ok(), Ordering::AcqRel);
    match outcome {
        Ok(()) => {
            if !was_ready {
                tracing::info!(edge, "edge model ready");
            }
            (StatusCode::OK, "ready").into_response()
        }
        Err(reason) => {
            if was_ready {
                tracing::warn!(%reason, "not ready: edge model unreachable or not ready");
            }
            (StatusCode::SERVICE_UNAVAILABLE, format!("edge model not ready: {reason}")).into_response()
        }
    }
}

/// An error and its sources, outermost first: reqwest's own message ("error sending
/// request") hides whether DNS, the connection or the peer failed.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `popularityPrediction` steps' counts, predictions and scores; 404 without any.
async fn popularity(State(g): State<Arc<Gateway>>) -> Response {
    if g.forecasters.is_empty() {
        return error_response(
            StatusCode::NOT_FOUND,
            "this workflow has no popularityPrediction step",
            "not_found_error",
            None,
        );
    }
    let steps: Vec<Value> = g.forecasters.iter().map(|f| f.view()).collect();
    axum::Json(json!({"workflow": g.config.workflow, "site": g.config.site.name, "steps": steps})).into_response()
}

fn error_response(status: StatusCode, message: &str, kind: &'static str, param: Option<&str>) -> Response {
    ErrorShape { param: param.map(str::to_string), ..ErrorShape::new(status, kind, message) }.into_response()
}

/// Why a call to an upstream failed.
#[derive(Debug)]
enum UpstreamError {
    Timeout,
    Unreachable(String),
    Status(u16, String),
    Invalid(String),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => write!(f, "timed out"),
            Self::Unreachable(e) => write!(f, "unreachable: {e}"),
            Self::Status(s, body) => write!(f, "answered {s}: {body}"),
            Self::Invalid(e) => write!(f, "invalid answer: {e}"),
        }
    }
}

/// Text and token log-probabilities of one chat completion.
struct Answer {
    text: String,
    logprobs: Vec<f64>,
    finish_reason: String,
}

async fn chat(g: &Gateway, url: &str, body: &Value, timeout: Duration) -> Result<Answer, UpstreamError> {
    let url = format!("{}/v1/chat/completions", url.trim_end_matches('/'));
    let request = g.http.post(url).json(body).timeout(timeout).send();
    let response = request
        .await
        .map_err(|e| if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Unreachable(e.to_string()) })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Unreachable(e.to_string()) })?;
    if !status.is_success() {
        return Err(UpstreamError::Status(status.as_u16(), text.chars().take(300).collect()));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| UpstreamError::Invalid(e.to_string()))?;
    let choice = &v["choices"][0];
    let content =
        choice["message"]["content"].as_str().ok_or_else(|| UpstreamError::Invalid("no message content".into()))?;
    let logprobs = choice["logprobs"]["content"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["logprob"].as_f64()).collect())
        .unwrap_or_default();
    Ok(Answer {
        text: content.to_string(),
        logprobs,
        finish_reason: choice["finish_reason"].as_str().unwrap_or("stop").to_string(),
    })
}

/// The validated parts of a client request the workflow needs.
struct ClientRequest {
    body: Value,
    prompt: String,
    stream: bool,
    debug: bool,
}

/// A request the gateway refuses with 400, naming the parameter at fault.
struct BadRequest {
    message: String,
    param: Option<&'static str>,
}

impl BadRequest {
    fn new(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self { message: message.into(), param }
    }

    fn into_response(self) -> Response {
        error_response(StatusCode::BAD_REQUEST, &self.message, "invalid_request_error", self.param)
    }
}

fn parse_request(bytes: &[u8], headers: &HeaderMap) -> Result<ClientRequest, BadRequest> {
    let body: Value =
        serde_json::from_slice(bytes).map_err(|e| BadRequest::new(format!("invalid JSON body: {e}"), None))?;
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| BadRequest::new("messages must be a non-empty array", Some("messages")))?;
    let last = messages
        .last()
        .filter(|m| m["role"] == "user")
        .ok_or_else(|| BadRequest::new("the last message must come from the user", Some("messages")))?;
    let prompt = match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => return Err(BadRequest::new("the user message needs text content", Some("messages"))),
    };
    if body.get("stream").is_some_and(|s| !s.is_boolean() && !s.is_null()) {
        return Err(BadRequest::new("stream must be a boolean", Some("stream")));
    }
    let debug = headers.get("x-netgpt-debug").is_some_and(|v| v == "true" || v == "1")
        || body["netgpt"]["debug"].as_bool().unwrap_or(false);
    Ok(ClientRequest { stream: body["stream"].as_bool().unwrap_or(false), prompt, debug, body })
}

/// The client's messages with the last user turn replaced by `prompt`.
fn with_prompt(body: &Value, prompt: &str) -> Vec<Value> {
    let mut messages = body["messages"].as_array().cloned().unwrap_or_default();
    if let Some(last) = messages.last_mut() {
        last["content"] = Value::String(prompt.to_string());
    }
    // The `netgpt` extension and sampling are set per call; roles/content pass through.
    messages
}

async fn chat_completions(State(g): State<Arc<Gateway>>, headers: HeaderMap, bytes: Bytes) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{:016x}", rand::random::<u64>()));
    let span = tracing::info_span!("workflow", request_id = %request_id, site = %g.config.site.name);
    let mut response = match parse_request(&bytes, &headers) {
        Ok(req) => {
            for forecaster in &g.forecasters {
                forecaster.record(&req.prompt);
            }
            run_workflow(&g, req).instrument(span).await
        }
        Err(bad) => bad.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// What a step produced.
struct StepData {
    /// What a later step takes as its prompt.
    text: String,
    confidence: Option<f64>,
    /// An answer the client can get: a generate step's.
    answer: Option<StepAnswer>,
    /// An `intentInference` step's result.
    intent: Option<Value>,
}

enum StepAnswer {
    Edge(Answer),
    Cloud(CloudAnswer),
}

impl StepValue for StepData {
    fn text(&self) -> &str {
        &self.text
    }
    fn confidence(&self) -> Option<f64> {
        self.confidence
    }
}

/// Runs the steps of one client request against the edge model and, through the
/// desensitizer, the cloud model.
struct RequestSteps<'a> {
    g: &'a Gateway,
    req: &'a ClientRequest,
}

impl StepRunner for RequestSteps<'_> {
    type Output = StepData;

    async fn run(&self, node: &Node, input: String, limit: Duration) -> Result<StepData, StepFailure> {
        let g = self.g;
        let span = tracing::info_span!("step", name = %node.name);
        // The engine cuts the step at `limit` and says which limit ran out; the HTTP
        // client's own timeout is only a backstop behind it.
        let limit = limit + Duration::from_secs(1);
        match (node.kind, node.target) {
            (StepKind::PromptCompletion, _) => {
                let body = json!({
                    "model": g.config.edge.model,
                    "messages": completion_messages(&g.config.site, &input),
                    "temperature": 0.0,
                    "max_tokens": COMPLETION_TOKENS,
                    "stop": ["\n"],
                    // For conditions on the completion (deciding the route before any draft).
                    "logprobs": true,
                });
                let answer = chat(g, &g.config.edge.url, &body, limit)
                    .instrument(span)
                    .await
                    .map_err(|e| StepFailure::new(e.to_string()))?;
                Ok(StepData {
                    confidence: confidence(&answer.logprobs, g.config.routing.confidence_metric),
                    text: finish_completion(&g.config.site, &answer.text, &input),
                    answer: None,
                    intent: None,
                })
            }
            // Runs in the cloud step's hop: the sidecar scrubs, forwards and restores, so
            // the gateway never holds a connection to the cloud.
            (StepKind::Desensitize, _) => Ok(StepData { text: input, confidence: None, answer: None, intent: None }),
            (StepKind::Generate, Some(Target::Cloud)) => {
                let body = self.model_body(&g.config.cloud.model, &input);
                let stream = self.req.stream && !node.consumed;
                let answer = call_cloud(g, &body, stream, limit)
                    .instrument(span)
                    .await
                    .map_err(|f| StepFailure { reason: f.reason, privacy: f.privacy })?;
                let (text, confidence) = match &answer {
                    CloudAnswer::Whole(v) => {
                        let choice = &v["choices"][0];
                        (
                            choice["message"]["content"].as_str().unwrap_or_default().to_string(),
                            logprob_confidence(g, choice),
                        )
                    }
                    CloudAnswer::Stream { .. } => (String::new(), None),
                };
                Ok(StepData { text, confidence, answer: Some(StepAnswer::Cloud(answer)), intent: None })
            }
            (StepKind::IntentInference, _) => {
                let intent = node.intent.as_ref().ok_or_else(|| StepFailure::new("the step has no intent schema"))?;
                let model = intent.model.as_deref().unwrap_or(&g.config.edge.model);
                let body = intent_request(model, intent, &input);
                let answer = chat(g, &g.config.edge.url, &body, limit)
                    .instrument(span)
                    .await
                    .map_err(|e| StepFailure::new(e.to_string()))?;
                let value = parse_intent(&answer.text, &answer.finish_reason).map_err(StepFailure::new)?;
                Ok(StepData {
                    confidence: confidence(&answer.logprobs, g.config.routing.confidence_metric),
                    text: answer.text,
                    answer: None,
                    intent: Some(value),
                })
            }
            // Compiled out of the per-request graph (crate::forecast runs it).
            (StepKind::PopularityPrediction, _) => {
                Err(StepFailure::new("a popularityPrediction step runs per interval, not per request"))
            }
            (StepKind::Generate, _) => {
                let mut body = self.model_body(&g.config.edge.model, &input);
                body["stream"] = Value::Bool(false);
                body["logprobs"] = Value::Bool(true);
                let answer = chat(g, &g.config.edge.url, &body, limit)
                    .instrument(span)
                    .await
                    .map_err(|e| StepFailure::new(e.to_string()))?;
                let confidence = confidence(&answer.logprobs, g.config.routing.confidence_metric);
                if let Some(c) = confidence {
                    g.metrics.edge_confidence.with_label_values(&[g.config.site.name.as_str()]).observe(c);
                }
                Ok(StepData {
                    text: answer.text.clone(),
                    confidence,
                    answer: Some(StepAnswer::Edge(answer)),
                    intent: None,
                })
            }
        }
    }

    /// A failed prompt completion falls back to the client's prompt with the site's place:
    /// the steps after it still get a location-aware prompt.
    fn fallback(&self, node: &Node, input: &str, _failure: &StepFailure) -> Option<StepData> {
        (node.kind == StepKind::PromptCompletion).then(|| StepData {
            text: finish_completion(&self.g.config.site, "", input),
            confidence: None,
            answer: None,
            intent: None,
        })
    }
}

impl RequestSteps<'_> {
    /// The client's request for `model`, its last user turn replaced by `prompt`.
    fn model_body(&self, model: &str, prompt: &str) -> Value {
        let mut body = self.req.body.clone();
        if let Some(obj) = body.as_object_mut() {
            obj.remove("netgpt");
            obj.insert("model".into(), Value::String(model.to_string()));
            obj.insert("messages".into(), Value::Array(with_prompt(&self.req.body, prompt)));
        }
        body
    }
}

fn logprob_confidence(g: &Gateway, choice: &Value) -> Option<f64> {
    let logprobs: Vec<f64> = choice["logprobs"]["content"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["logprob"].as_f64()).collect())
        .unwrap_or_default();
    confidence(&logprobs, g.config.routing.confidence_metric)
}

async fn run_workflow(g: &Gateway, req: ClientRequest) -> Response {
    let started = Instant::now();
    let site = g.config.site.name.as_str();
    let deadline = started + Duration::from_millis(g.config.routing.latency_budget_ms.max(1) as u64);
    let graph = &g.graph;
    let mut run = execute(graph, &RequestSteps { g, req: &req }, &req.prompt, deadline).await;

    for (node, record) in graph.nodes.iter().zip(&run.records) {
        let outcome = outcome_name(record.outcome);
        g.metrics.step_outcomes.with_label_values(&[site, node.name.as_str(), outcome]).inc();
        if record.outcome != StepOutcome::Skipped {
            g.metrics
                .step_duration
                .with_label_values(&[site, node.name.as_str()])
                .observe(record.duration.as_secs_f64());
        }
        if let Some(reason) = &record.reason {
            tracing::info!(step = %node.name, outcome, %reason, "workflow step did not run as planned");
        }
    }
    // The answer is the last generate step (in execution order) that succeeded.
    let answer = (0..graph.nodes.len())
        .rev()
        .find(|&i| graph.nodes[i].kind == StepKind::Generate && run.records[i].outcome == StepOutcome::Succeeded);
    let cloud_failure = graph
        .nodes
        .iter()
        .zip(&run.records)
        .find(|(n, r)| n.is_cloud_generate() && r.outcome == StepOutcome::Failed)
        .map(|(_, r)| r);
    // The routing confidence: the last edge draft's.
    let edge_confidence = (0..graph.nodes.len())
        .rev()
        .find(|&i| graph.nodes[i].is_edge_generate() && run.records[i].outcome == StepOutcome::Succeeded)
        .and_then(|i| run.records[i].confidence);
    let completed = (0..graph.nodes.len())
        .rev()
        .find(|&i| graph.nodes[i].kind == StepKind::PromptCompletion)
        .and_then(|i| run.outputs[i].as_ref())
        .map_or_else(|| req.prompt.clone(), |o| o.text.clone());
    let steps: Vec<Value> = graph
        .nodes
        .iter()
        .zip(&run.records)
        .map(|(n, r)| {
            let mut v = json!({
                "name": n.name, "outcome": outcome_name(r.outcome),
                "startMs": r.start.as_millis() as u64, "durationMs": r.duration.as_millis() as u64,
            });
            if let Some(c) = r.confidence {
                v["confidence"] = json!(c);
            }
            if let Some(reason) = &r.reason {
                v["reason"] = Value::String(reason.clone());
            }
            v
        })
        .collect();
    let intents: serde_json::Map<String, Value> = graph
        .nodes
        .iter()
        .zip(&run.outputs)
        .filter_map(|(n, o)| Some((n.name.clone(), o.as_ref()?.intent.clone()?)))
        .collect();
    send_webhooks(g, &intents);
    let meta = |path: ServedPath, reason: Option<&str>| {
        let mut m = json!({"path": path.as_str(), "site": site, "confidence": edge_confidence,
            "workflow": g.config.workflow, "steps": steps});
        if !intents.is_empty() {
            m["intents"] = Value::Object(intents.clone());
        }
        if let Some(r) = reason {
            m["fallbackReason"] = Value::String(r.to_string());
        }
        if req.debug {
            m["completedPrompt"] = Value::String(completed.clone());
        }
        m
    };
    let finish = |path: ServedPath| {
        g.metrics.requests.with_label_values(&[site, path.as_str()]).inc();
        g.metrics.request_duration.with_label_values(&[site, path.as_str()]).observe(started.elapsed().as_secs_f64());
    };
    let failure_reason = |r: &StepRecord| r.reason.clone().unwrap_or_else(|| "failed".into());

    if let Some(failed) = cloud_failure.filter(|r| r.privacy_failure)
        && g.config.desensitization.on_failure == DesensitizeFailure::Reject
    {
        g.metrics.requests.with_label_values(&[site, "error"]).inc();
        return error_response(StatusCode::SERVICE_UNAVAILABLE, &failure_reason(failed), "desensitization_error", None);
    }
    // A workflow without generate steps answers with its (last) intent.
    let intent_answer = (0..graph.nodes.len()).rev().find(|&i| {
        graph.nodes[i].kind == StepKind::IntentInference && run.records[i].outcome == StepOutcome::Succeeded
    });
    if answer.is_none()
        && !graph.nodes.iter().any(|n| n.kind == StepKind::Generate)
        && let Some(output) = intent_answer.and_then(|i| run.outputs[i].take())
    {
        finish(ServedPath::Edge);
        let answer = Answer { text: output.text, logprobs: Vec::new(), finish_reason: "stop".into() };
        return answer_response(g, &req, answer, meta(ServedPath::Edge, None));
    }
    let Some(i) = answer else {
        g.metrics.requests.with_label_values(&[site, "error"]).inc();
        let reasons: Vec<String> = graph
            .nodes
            .iter()
            .zip(&run.records)
            .filter(|(n, r)| {
                matches!(n.kind, StepKind::Generate | StepKind::IntentInference) && r.outcome == StepOutcome::Failed
            })
            .map(|(n, r)| format!("{}: {}", n.name, failure_reason(r)))
            .collect();
        let message = if reasons.is_empty() {
            "no answering step of the workflow ran for this request".to_string()
        } else {
            format!("no answering step succeeded ({})", reasons.join("; "))
        };
        return error_response(StatusCode::BAD_GATEWAY, &message, "upstream_error", None);
    };
    match run.outputs[i].take().and_then(|o| o.answer) {
        Some(StepAnswer::Cloud(answer)) => {
            finish(ServedPath::Cloud);
            cloud_response(g, answer, meta(ServedPath::Cloud, None))
        }
        Some(StepAnswer::Edge(answer)) => {
            let path = if cloud_failure.is_some() { ServedPath::EdgeFallback } else { ServedPath::Edge };
            let reason = cloud_failure.map(failure_reason);
            if let Some(reason) = &reason {
                tracing::warn!(%reason, "cloud path failed; answering at the edge");
            }
            finish(path);
            answer_response(g, &req, answer, meta(path, reason.as_deref()))
        }
        None => {
            g.metrics.requests.with_label_values(&[site, "error"]).inc();
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the answering step kept no answer",
                "internal_error",
                None,
            )
        }
    }
}

/// Posts each inferred intent whose step has a webhook, after the answer (a slow or failed
/// webhook never delays or fails the request; outcomes are counted).
fn send_webhooks(g: &Gateway, intents: &serde_json::Map<String, Value>) {
    for (step, intent) in intents {
        let Some(url) = g.graph.position(step).and_then(|i| g.graph.nodes[i].intent.as_ref()?.webhook.clone()) else {
            continue;
        };
        let payload =
            json!({"workflow": g.config.workflow, "site": g.config.site.name, "step": step, "intent": intent});
        let (http, metrics, site) = (g.http.clone(), g.metrics.clone(), g.config.site.name.clone());
        tokio::spawn(async move {
            let outcome = match post_webhook(&http, &url, &payload).await {
                Ok(()) => "delivered",
                Err(error) => {
                    tracing::warn!(%error, %url, "intent webhook failed");
                    "failed"
                }
            };
            metrics.intent_webhooks.with_label_values(&[site.as_str(), outcome]).inc();
        });
    }
}

fn path_headers(meta: &Value) -> [(&'static str, String); 2] {
    [
        ("x-netgpt-path", meta["path"].as_str().unwrap_or_default().to_string()),
        ("x-netgpt-confidence", meta["confidence"].as_f64().map(|c| format!("{c:.4}")).unwrap_or_default()),
    ]
}

fn completion_id() -> String {
    format!("chatcmpl-{:016x}", rand::random::<u64>())
}

/// An answer the gateway already holds (the edge draft), streamed or not.
fn answer_response(g: &Gateway, req: &ClientRequest, answer: Answer, meta: Value) -> Response {
    let id = completion_id();
    let model = format!("netgpt/{}", g.config.workflow);
    let headers = path_headers(&meta);
    if !req.stream {
        let body = json!({
            "id": id, "object": "chat.completion", "created": unix_seconds(), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": answer.finish_reason}],
            "netgpt": meta,
        });
        let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        set_headers(&mut resp, &headers);
        return resp;
    }
    let chunk = |delta: Value, finish: Value, extra: Option<&Value>| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": unix_seconds(), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if let Some(m) = extra {
            c["netgpt"] = m.clone();
        }
        format!("data: {c}\n\n")
    };
    let events = vec![
        chunk(json!({"role": "assistant"}), Value::Null, Some(&meta)),
        chunk(json!({"content": answer.text}), Value::Null, None),
        chunk(json!({}), Value::String(answer.finish_reason), None),
        "data: [DONE]\n\n".to_string(),
    ];
    let stream = futures::stream::iter(events.into_iter().map(|e| Ok::<_, std::io::Error>(Bytes::from(e))));
    let mut resp = sse(Body::from_stream(stream));
    set_headers(&mut resp, &headers);
    resp
}

/// As much of the cloud's answer (pseudonyms already restored by the desensitizer) as the
/// gateway waits for before it commits to the cloud path.
enum CloudAnswer {
    /// A whole chat completion (the client did not ask for a stream).
    Whole(Value),
    /// A stream whose first chunk has arrived; `rest` follows.
    Stream { first: Bytes, rest: BoxStream<'static, reqwest::Result<Bytes>> },
}

/// Why the cloud path failed; the edge answers instead, unless this is a privacy failure
/// and the policy says reject.
struct CloudFailure {
    /// The desensitizer refused or could not be reached: nothing safe reached the cloud.
    privacy: bool,
    reason: String,
}

impl CloudFailure {
    fn other(reason: String) -> Self {
        Self { privacy: false, reason }
    }
}

/// Sends the request through the desensitizer. The latency `budget` bounds the wait for
/// the whole answer, or for a stream's first byte: until then nothing has reached the
/// client and the edge can still answer. A stream that has started is bounded per chunk
/// instead ([`idle_guarded`]), so a long answer is never cut for being long.
async fn call_cloud(g: &Gateway, body: &Value, stream: bool, budget: Duration) -> Result<CloudAnswer, CloudFailure> {
    let url = format!("{}/v1/chat/completions", g.config.desensitizer_url.trim_end_matches('/'));
    let attempt = async {
        let response = g.http.post(url).json(body).send().await.map_err(|e| CloudFailure {
            // The client's 5 s connect timeout is a slow path, not a missing desensitizer.
            privacy: e.is_connect() && !e.is_timeout(),
            reason: format!("desensitizer unreachable: {e}"),
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            // The sidecar refuses (4xx) when it cannot desensitize: a privacy failure.
            return Err(CloudFailure {
                privacy: status.is_client_error(),
                reason: format!("desensitizer/cloud answered {status}: {}", text.chars().take(200).collect::<String>()),
            });
        }
        if stream { first_chunk(response).await } else { whole_answer(response).await }
    };
    tokio::time::timeout(budget, attempt)
        .await
        .unwrap_or_else(|_| Err(CloudFailure::other("cloud path exceeded the latency budget".into())))
}

async fn whole_answer(response: reqwest::Response) -> Result<CloudAnswer, CloudFailure> {
    match response.json::<Value>().await {
        Ok(body) if body.is_object() => Ok(CloudAnswer::Whole(body)),
        Ok(_) => Err(CloudFailure::other("cloud answer is not a JSON object".into())),
        Err(e) => Err(CloudFailure::other(format!("cloud answer unreadable: {e}"))),
    }
}

async fn first_chunk(response: reqwest::Response) -> Result<CloudAnswer, CloudFailure> {
    let mut rest = response.bytes_stream().boxed();
    match rest.next().await {
        Some(Ok(first)) => Ok(CloudAnswer::Stream { first, rest }),
        Some(Err(e)) => Err(CloudFailure::other(format!("cloud stream broke before its first byte: {e}"))),
        None => Err(CloudFailure::other("cloud answered an empty stream".into())),
    }
}

/// The cloud's answer with the gateway's metadata added.
fn cloud_response(g: &Gateway, answer: CloudAnswer, meta: Value) -> Response {
    let headers = path_headers(&meta);
    let mut resp = match answer {
        CloudAnswer::Whole(mut body) => {
            body["netgpt"] = meta;
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        CloudAnswer::Stream { first, rest } => {
            // First our metadata as a chunk of its own, then the upstream SSE verbatim.
            let head =
                format!("data: {}\n\n", json!({"object": "chat.completion.chunk", "choices": [], "netgpt": meta}));
            let body = futures::stream::iter([Bytes::from(head), first])
                .chain(idle_guarded(rest, g.stream_idle_timeout))
                .map(Ok::<_, Infallible>);
            sse(Body::from_stream(body))
        }
    };
    set_headers(&mut resp, &headers);
    resp
}

/// The rest of a streamed cloud answer, each chunk within `idle` of the one before, with
/// no limit on the total. A stall or a broken upstream ends the stream with an OpenAI
/// error event and `[DONE]`, as `netgpt serve` ends a failed generation, so the client
/// learns why instead of seeing a cut connection.
fn idle_guarded(
    rest: BoxStream<'static, reqwest::Result<Bytes>>,
    idle: Duration,
) -> impl Stream<Item = Bytes> + Send + 'static {
    futures::stream::unfold(Some(rest), move |rest| async move {
        let mut rest = rest?;
        let (message, code) = match tokio::time::timeout(idle, rest.next()).await {
            Ok(Some(Ok(chunk))) => return Some((chunk, Some(rest))),
            Ok(None) => return None,
            Ok(Some(Err(e))) => (format!("the cloud stream broke: {e}"), "upstream_stream_error"),
            Err(_) => {
                (format!("the cloud stream stalled: no data for {:.1} s", idle.as_secs_f64()), "stream_idle_timeout")
            }
        };
        tracing::warn!(%message, "cloud stream ended early");
        Some((stream_error_event(&message, code), None))
    })
}

/// The events that end a failed stream. They start with a blank line: if the upstream
/// stopped mid-event, that closes the partial event so the error is parsed on its own
/// (extra blank lines between events dispatch nothing).
fn stream_error_event(message: &str, code: &str) -> Bytes {
    let error = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}});
    Bytes::from(format!("\n\ndata: {error}\n\ndata: [DONE]\n\n"))
}

fn sse(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn set_headers(resp: &mut Response, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
}
