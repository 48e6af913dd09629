//! The axum router: OpenAI-compatible generation endpoints, probes and metrics.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures::{Stream, StreamExt, stream};
use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::api_error::ApiError;
use crate::chat_template::{ChatMessage, ChatTemplate, TemplateError};
use crate::engine::{EngineHandle, GenerationEvent, GenerationRequest, SubmitError};
use crate::lora::{AdapterRegistry, AdminAccess, AdminToken, LoraAdapter, Origin};
use crate::metrics::Metrics;
use crate::openai::{
    ChatChoice, ChatChunkChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatDelta, ChatLogprobs,
    ChatMessageOut, Completion, CompletionChoice, CompletionLogprobs, CompletionRequest, FunctionCallOut,
    MessageContent, ModelCard, ModelList, PromptField, SamplingFields, ToolCallOut, Usage,
};
use crate::output_format::{Grammar, OutputFormat, requested_format};
use crate::sampler::SamplingParams;
use crate::structured::{Constraint, GrammarCompiler};
use crate::tokenizer::TextTokenizer;

/// Header carrying a request's id; accepted from clients and echoed back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Most alternatives a request may ask for per token.
const MAX_TOP_LOGPROBS: u32 = 20;
/// Routes the server answers, used as the `path` metric label.
const KNOWN_PATHS: &[&str] =
    &["/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/adapters", "/health", "/ready", "/metrics"];

/// The model once loaded, with what the handlers need to use it.
pub struct ServedModel {
    pub tokenizer: TextTokenizer,
    /// Compiles structured-output grammars against this model's vocabulary (or why it
    /// cannot).
    pub grammar: Result<GrammarCompiler, String>,
    pub chat_template: ChatTemplate,
    pub engine: EngineHandle,
    pub context_length: usize,
}

/// State shared by all handlers.
pub struct AppState {
    pub model_name: String,
    pub model: OnceLock<ServedModel>,
    pub shutting_down: AtomicBool,
    pub metrics: Metrics,
    /// Upper bound on `max_tokens`.
    pub max_new_tokens: Option<usize>,
    pub max_body_bytes: usize,
    /// Log each request's rendered prompt (`netgpt serve --log-requests`).
    pub log_requests: bool,
    pub created: u64,
    /// LoRA adapters selectable by `"model"`.
    pub adapters: AdapterRegistry,
    /// Who may load and unload adapters over HTTP.
    pub admin: AdminAccess,
    /// The bearer token `/v1/…` requests must carry (`--api-key`), if any.
    pub api_key: Option<AdminToken>,
}

impl AppState {
    /// Ready: the model is loaded and the server is not draining.
    pub fn is_ready(&self) -> bool {
        self.model.get().is_some() && !self.shutting_down.load(Ordering::Acquire)
    }

    fn served(&self) -> Result<&ServedModel, ApiError> {
        self.model.get().ok_or(ApiError::NotReady)
    }
}

/// The request log: what reached this server, verbatim (opt-in; prompts are user data).
fn log_request(state: &AppState, model: &str, prompt: &str) {
    if state.log_requests {
        tracing::info!(target: "netgpt::requests", model, prompt, "request");
    }
}

/// Builds the router over `state`. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: without the peer's address the
/// adapter admin routes refuse everyone unless an admin token is configured.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.max_body_bytes;
    // The OpenAI API behind `--api-key`; the admin routes keep their own rule (admin token,
    // else loopback); probes and scrapers stay open.
    let api = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(list_models))
        .route("/v1/adapters", get(list_adapters))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_api_key));
    Router::new()
        .merge(api)
        .merge(admin_router(state.clone()))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe_request))
        .with_state(state)
}

/// The routes that change which adapters are served, behind [`require_admin`]. A router
/// of their own so that no admin route can be added without the guard.
fn admin_router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/adapters", post(load_adapter))
        .route("/v1/adapters/{name}", delete(unload_adapter))
        // vLLM's names for the same, which routers such as AIBrix and KubeAI call.
        .route("/v1/load_lora_adapter", post(vllm_load_adapter))
        .route("/v1/unload_lora_adapter", post(vllm_unload_adapter))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

/// Answers 401 unless the request carries the `--api-key` token (when one is set).
async fn require_api_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(key) = &state.api_key else { return next.run(request).await };
    let authorization = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    match key.authorize(authorization) {
        Ok(()) => next.run(request).await,
        Err(error) => ApiError::ApiKey(error).into_response(),
    }
}

/// Answers 401/403 unless the request may administer adapters (see [`AdminAccess`]).
async fn require_admin(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let authorization = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    match state.admin.authorize(authorization, peer) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::warn!(%error, ?peer, path = request.uri().path(), "adapter administration refused");
            ApiError::from(error).into_response()
        }
    }
}

/// Echoes or assigns `x-request-id`, and counts the request by route and status.
async fn observe_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Routing happens after this middleware, so the route label is taken from the known
    // paths; anything else is "unmatched", which keeps the label set bounded.
    let path = KNOWN_PATHS
        .iter()
        .find(|p| **p == request.uri().path())
        .copied()
        .or_else(|| request.uri().path().starts_with("/v1/adapters/").then_some("/v1/adapters/{name}"))
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .cloned()
        .unwrap_or_else(new_request_id);
    let span = tracing::info_span!("request", id = ?request_id, path);
    let mut response = {
        let _entered = span.enter();
        tracing::debug!(method = %request.method(), "request");
        drop(_entered);
        next.run(request).await
    };
    response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), request_id);
    let status = response.status().as_u16().to_string();
    state.metrics.http_requests.with_label_values(&[path, status.as_str()]).inc();
    state.metrics.http_request_duration.with_label_values(&[path]).observe(started.elapsed().as_secs_f64());
    response
}

fn new_request_id() -> HeaderValue {
    let id: u128 = rand::rng().random();
    HeaderValue::from_str(&format!("{id:032x}")).unwrap_or(HeaderValue::from_static("unknown"))
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        axum::Json(serde_json::json!({"status": "ready"})).into_response()
    } else if state.shutting_down.load(Ordering::Acquire) {
        ApiError::ShuttingDown.into_response()
    } else {
        ApiError::NotReady.into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    netgpt_runtime::metrics::response(&state.metrics.registry)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(request.uri().path().to_string())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn list_models(State(state): State<Arc<AppState>>) -> Response {
    let max_model_len = state.model.get().map_or(0, |m| m.context_length);
    let mut data = vec![ModelCard {
        id: state.model_name.clone(),
        object: "model",
        created: state.created,
        owned_by: "netgpt",
        max_model_len,
        parent: None,
        root: None,
    }];
    data.extend(state.adapters.list().iter().map(|adapter| ModelCard {
        id: adapter.name.clone(),
        object: "model",
        created: state.created,
        owned_by: "netgpt",
        max_model_len,
        parent: Some(state.model_name.clone()),
        root: Some(adapter.path.display().to_string()),
    }));
    axum::Json(ModelList { object: "list", data }).into_response()
}

/// Body of `POST /v1/adapters`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadAdapterRequest {
    name: String,
    /// Directory with `adapter_config.json` and `adapter_model.safetensors`, inside the
    /// server's adapter directory (relative paths are taken from it).
    path: String,
    /// Replace an adapter already loaded under `name` (running requests keep the old one).
    #[serde(default)]
    replace: bool,
}

fn adapter_json(state: &AppState, adapter: &LoraAdapter) -> serde_json::Value {
    serde_json::json!({
        "id": adapter.name,
        "object": "model",
        "parent": state.model_name,
        "root": adapter.path.display().to_string(),
        "rank": adapter.config.r,
        "lora_alpha": adapter.config.lora_alpha,
        "target_modules": adapter.config.target_modules.as_ref().map(|t| match t {
            crate::lora::config::TargetModules::Names(names) => serde_json::json!(names),
            crate::lora::config::TargetModules::Pattern(pattern) => serde_json::json!(pattern),
        }),
        "modules": adapter.module_count(),
        "memory_bytes": adapter.bytes,
        "load_seconds": adapter.load_duration.as_secs_f64(),
        // Configuration-managed adapters cannot be replaced or unloaded over the API.
        "managed": state.adapters.origin(&adapter.name) == Some(Origin::Config),
    })
}

async fn load_adapter(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: LoadAdapterRequest = parse_body(body, state.max_body_bytes)?;
    let adapter = load_confined(&state, request.name, &request.path, request.replace).await?;
    Ok(axum::Json(adapter_json(&state, &adapter)).into_response())
}

/// Loads an adapter from `path` inside the adapter directory under `name`.
async fn load_confined(
    state: &Arc<AppState>,
    name: String,
    path: &str,
    replace: bool,
) -> Result<Arc<LoraAdapter>, ApiError> {
    let path = state.adapters.confine(path)?;
    // Reading and preparing the matrices is blocking work; keep it off the async workers.
    let worker = state.clone();
    let adapter = tokio::task::spawn_blocking(move || worker.adapters.load_from_api(&name, &path, replace))
        .await
        .map_err(|e| ApiError::Internal(format!("adapter loader failed: {e}")))??;
    Ok(adapter)
}

/// Body of vLLM's `POST /v1/load_lora_adapter`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VllmLoadAdapterRequest {
    lora_name: String,
    lora_path: String,
    /// vLLM's name for `replace`.
    #[serde(default)]
    load_inplace: bool,
}

/// Body of vLLM's `POST /v1/unload_lora_adapter` (`lora_int_id` is accepted and ignored:
/// adapters are known by name here).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VllmUnloadAdapterRequest {
    lora_name: String,
    #[serde(default)]
    #[allow(dead_code)]
    lora_int_id: Option<i64>,
}

/// vLLM-compatible load: same checks and errors as `POST /v1/adapters`; success is vLLM's
/// plain-text 200.
async fn vllm_load_adapter(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: VllmLoadAdapterRequest = parse_body(body, state.max_body_bytes)?;
    let adapter = load_confined(&state, request.lora_name, &request.lora_path, request.load_inplace).await?;
    Ok(format!("Success: LoRA adapter '{}' added successfully.", adapter.name).into_response())
}

/// vLLM-compatible unload.
async fn vllm_unload_adapter(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: VllmUnloadAdapterRequest = parse_body(body, state.max_body_bytes)?;
    let removed = state.adapters.unload_from_api(&request.lora_name)?;
    Ok(format!("Success: LoRA adapter '{}' removed successfully.", removed.name).into_response())
}

async fn list_adapters(State(state): State<Arc<AppState>>) -> Response {
    let data: Vec<serde_json::Value> =
        state.adapters.list().iter().map(|adapter| adapter_json(&state, adapter)).collect();
    axum::Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

async fn unload_adapter(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let removed = state.adapters.unload_from_api(&name)?;
    Ok(axum::Json(serde_json::json!({"id": removed.name, "object": "model", "deleted": true})).into_response())
}

/// Parses a JSON body, mapping every failure to the API's error shape.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::InvalidJson(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// The adapter a request's `model` selects: none for the base model (or no `model`).
fn select_model(state: &AppState, requested: Option<&str>) -> Result<Option<Arc<LoraAdapter>>, ApiError> {
    match requested {
        Some(name) if name != state.model_name => {
            state.adapters.get(name).map(Some).ok_or_else(|| ApiError::ModelNotFound(name.to_string()))
        }
        _ => Ok(None),
    }
}

/// The name responses report: the adapter's, or the base model's.
fn served_name(state: &AppState, adapter: Option<&Arc<LoraAdapter>>) -> String {
    adapter.map_or_else(|| state.model_name.clone(), |a| a.name.clone())
}

/// Validated generation settings of one request.
#[derive(Debug, Clone)]
pub struct Generation {
    /// `usize::MAX` when the request sets no limit.
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
}

/// The checks of a chat completion request that need no model, in the handler's order
/// (after model selection): `top_logprobs`, the sampling settings, then the messages.
/// Public so that the `chat_request` fuzz target runs exactly what the handler runs.
pub fn check_chat_request(request: &ChatCompletionRequest) -> Result<(Generation, Vec<ChatMessage>), ApiError> {
    let top_logprobs = request.top_logprobs.unwrap_or(0);
    if top_logprobs > MAX_TOP_LOGPROBS {
        return Err(ApiError::invalid("top_logprobs", format!("top_logprobs may be at most {MAX_TOP_LOGPROBS}")));
    }
    let max_tokens = request.max_completion_tokens.or(request.sampling.max_tokens);
    let generation =
        validate_sampling(&request.sampling, max_tokens, if request.logprobs { top_logprobs as usize } else { 0 })?;
    let messages = render_messages(request)?;
    Ok((generation, messages))
}

/// The one prompt of a completion request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinglePrompt<'a> {
    Text(&'a str),
    Tokens(&'a [u32]),
}

/// The checks of a completion request that need no model, in the handler's order:
/// `echo`, `logprobs`, the sampling settings, then exactly one prompt. Public for the
/// `chat_request` fuzz target, like [`check_chat_request`].
pub fn check_completion_request(request: &CompletionRequest) -> Result<(Generation, SinglePrompt<'_>), ApiError> {
    if request.echo {
        return Err(ApiError::invalid("echo", "echo is not supported"));
    }
    let top_logprobs = request.logprobs.unwrap_or(0);
    if top_logprobs > 5 {
        return Err(ApiError::invalid("logprobs", "logprobs may be at most 5"));
    }
    let generation =
        validate_sampling(&request.sampling, request.sampling.max_tokens.or(Some(16)), top_logprobs as usize)?;
    let prompt = match &request.prompt {
        PromptField::Text(text) => SinglePrompt::Text(text),
        PromptField::Texts(texts) if texts.len() == 1 => SinglePrompt::Text(&texts[0]),
        PromptField::Tokens(ids) => SinglePrompt::Tokens(ids),
        PromptField::TokenLists(lists) if lists.len() == 1 => SinglePrompt::Tokens(&lists[0]),
        _ => {
            return Err(ApiError::invalid("prompt", "exactly one prompt per request is supported"));
        }
    };
    Ok((generation, prompt))
}

/// How many tokens a request may generate: the context and `max_tokens` limits. Public
/// for the `chat_request` fuzz target (pure arithmetic on client-controlled numbers).
pub fn completion_budget(
    context_length: usize,
    prompt_tokens: usize,
    max_new_tokens: Option<usize>,
    generation: &Generation,
    prompt_param: &'static str,
) -> Result<usize, ApiError> {
    if prompt_tokens == 0 {
        return Err(ApiError::invalid(prompt_param, "the prompt is empty"));
    }
    if prompt_tokens >= context_length {
        return Err(ApiError::ContextLengthExceeded { context_length, prompt_tokens, detail: String::new() });
    }
    if let Some(limit) = max_new_tokens
        && generation.max_tokens != usize::MAX
        && generation.max_tokens > limit
    {
        return Err(ApiError::invalid("max_tokens", format!("max_tokens may be at most {limit}")));
    }
    let room = context_length - prompt_tokens;
    if generation.max_tokens == usize::MAX {
        Ok(room.min(max_new_tokens.unwrap_or(usize::MAX)))
    } else if generation.max_tokens > room {
        Err(ApiError::ContextLengthExceeded {
            context_length,
            prompt_tokens,
            detail: format!(" and asks for {} completion tokens", generation.max_tokens),
        })
    } else {
        Ok(generation.max_tokens)
    }
}

fn validate_sampling(
    fields: &SamplingFields,
    max_tokens: Option<u32>,
    top_logprobs: usize,
) -> Result<Generation, ApiError> {
    if let Some(n) = fields.n.filter(|n| *n != 1) {
        return Err(ApiError::invalid("n", format!("only n = 1 is supported, got {n}")));
    }
    let temperature = fields.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid("temperature", "temperature must be between 0 and 2"));
    }
    let top_p = fields.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid("top_p", "top_p must be in (0, 1]"));
    }
    let repetition_penalty = fields.repetition_penalty.unwrap_or(1.0);
    if !(repetition_penalty > 0.0 && repetition_penalty.is_finite()) {
        return Err(ApiError::invalid("repetition_penalty", "repetition_penalty must be positive"));
    }
    let presence_penalty = fields.presence_penalty.unwrap_or(0.0);
    let frequency_penalty = fields.frequency_penalty.unwrap_or(0.0);
    for (param, value) in [("presence_penalty", presence_penalty), ("frequency_penalty", frequency_penalty)] {
        if !(-2.0..=2.0).contains(&value) {
            return Err(ApiError::invalid(param, format!("{param} must be between -2 and 2")));
        }
    }
    if max_tokens == Some(0) {
        return Err(ApiError::invalid("max_tokens", "max_tokens must be at least 1"));
    }
    let stop = fields.stop.clone().map(|s| s.into_vec()).unwrap_or_default();
    if stop.len() > 4 {
        return Err(ApiError::invalid("stop", "at most 4 stop sequences are allowed"));
    }
    Ok(Generation {
        max_tokens: max_tokens.map_or(usize::MAX, |m| m as usize),
        sampling: SamplingParams {
            temperature,
            top_p,
            top_k: fields.top_k.unwrap_or(0) as usize,
            repetition_penalty,
            presence_penalty,
            frequency_penalty,
            seed: fields.seed,
            top_logprobs,
        },
        stop,
        stream: fields.stream,
        include_usage: fields.stream_options.as_ref().is_some_and(|o| o.include_usage),
    })
}

/// Enforces the context and `max_tokens` limits and queues the request.
fn submit(
    state: &AppState,
    served: &ServedModel,
    prompt_ids: Vec<u32>,
    generation: &Generation,
    prompt_param: &'static str,
    adapter: Option<Arc<LoraAdapter>>,
    constraint: Option<Constraint>,
) -> Result<mpsc::UnboundedReceiver<GenerationEvent>, ApiError> {
    let max_tokens =
        completion_budget(served.context_length, prompt_ids.len(), state.max_new_tokens, generation, prompt_param)?;
    let label = served_name(state, adapter.as_ref());
    let events = served
        .engine
        .submit(GenerationRequest {
            prompt_ids,
            max_tokens,
            sampling: generation.sampling.clone(),
            stop: generation.stop.clone(),
            adapter,
            constraint,
        })
        .map_err(|error| match error {
            SubmitError::QueueFull { .. } => ApiError::Overloaded(error.to_string()),
            SubmitError::EngineStopped => ApiError::ShuttingDown,
        })?;
    state.metrics.requests_by_adapter.with_label_values(&[label.as_str()]).inc();
    Ok(events)
}

fn completion_id(prefix: &str) -> String {
    let id: u64 = rand::rng().random();
    format!("{prefix}-{id:016x}")
}

fn render_messages(request: &ChatCompletionRequest) -> Result<Vec<ChatMessage>, ApiError> {
    if request.messages.is_empty() {
        return Err(ApiError::invalid("messages", "messages must not be empty"));
    }
    request
        .messages
        .iter()
        .map(|message| {
            if !matches!(message.role.as_str(), "system" | "user" | "assistant" | "tool" | "developer") {
                return Err(ApiError::invalid("messages", format!("unknown role {:?}", message.role)));
            }
            let content = match &message.content {
                None => String::new(),
                Some(MessageContent::Text(text)) => text.clone(),
                Some(MessageContent::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part.kind.as_str(), &part.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(ApiError::invalid(
                                    "messages",
                                    format!("unsupported content part type {kind:?}"),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            // An assistant turn that called tools: the model sees the JSON it wrote.
            let mut content = content;
            for call in message.tool_calls.iter().flatten() {
                let arguments: serde_json::Value =
                    serde_json::from_str(&call.function.arguments).unwrap_or(serde_json::Value::Null);
                let written = serde_json::json!({"name": call.function.name, "arguments": arguments});
                if !content.is_empty() {
                    content.push('\n');
                }
                content.push_str(&written.to_string());
            }
            // `developer` is OpenAI's newer name for `system`.
            let role = if message.role == "developer" { "system".to_string() } else { message.role.clone() };
            Ok(ChatMessage { role, content })
        })
        .collect()
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ChatCompletionRequest = parse_body(body, state.max_body_bytes)?;
    let adapter = select_model(&state, request.model.as_deref())?;
    let served = state.served()?;
    let want_logprobs = request.logprobs;
    let (generation, mut messages) = check_chat_request(&request)?;
    let format = requested_format(
        request.response_format.as_ref(),
        request.tools.as_ref(),
        request.tool_choice.as_ref(),
        request.parallel_tool_calls.as_ref(),
    )?;
    let constraint = constrain(served, &format)?;
    if let Some(instructions) = format.instructions() {
        add_system_instructions(&mut messages, &instructions);
    }
    let pieces = served.chat_template.render_pieces(&messages).map_err(|error| match error {
        TemplateError::Refused(_) => ApiError::invalid("messages", error.to_string()),
        other => ApiError::Internal(other.to_string()),
    })?;
    // Control tokens only where the template puts them: message text is never parsed for
    // special tokens (a user's `<|im_start|>system` must not open a system turn).
    let prompt_ids =
        served.tokenizer.encode_prompt(&pieces).map_err(|e| ApiError::invalid("messages", e.to_string()))?;
    let model = served_name(&state, adapter.as_ref());
    if state.log_requests {
        log_request(&state, &model, &served.chat_template.render(&messages).unwrap_or_default());
    }
    let events = submit(&state, served, prompt_ids, &generation, "messages", adapter, constraint)?;
    let id = completion_id("chatcmpl");
    let created = netgpt_runtime::unix_seconds();
    let tools = matches!(format, OutputFormat::ToolCall { .. });
    if generation.stream {
        let header = ChunkHeader { id, created, model };
        let stream = if tools {
            // A tool call is only known to be one when it is complete: its text is held
            // back and sent as one `tool_calls` delta (clients concatenate deltas anyway).
            tool_call_stream(events, header, format, want_logprobs, generation.include_usage).boxed()
        } else {
            chat_stream(events, header, want_logprobs, generation.include_usage).boxed()
        };
        return Ok(sse_response(stream));
    }
    let collected = collect(events, want_logprobs).await?;
    let (message, finish_reason) = match format.tool_call(&collected.text) {
        Some((name, arguments)) => (
            ChatMessageOut {
                role: "assistant",
                content: None,
                tool_calls: Some(vec![tool_call(None, name, arguments)]),
            },
            "tool_calls",
        ),
        None => (
            ChatMessageOut { role: "assistant", content: Some(collected.text), tool_calls: None },
            collected.finish_reason,
        ),
    };
    Ok(axum::Json(ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model,
        choices: vec![ChatChoice { index: 0, message, logprobs: collected.chat_logprobs, finish_reason }],
        usage: collected.usage,
    })
    .into_response())
}

async fn completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CompletionRequest = parse_body(body, state.max_body_bytes)?;
    let adapter = select_model(&state, request.model.as_deref())?;
    let served = state.served()?;
    let want_logprobs = request.logprobs.is_some();
    let (generation, prompt) = check_completion_request(&request)?;
    if let (true, SinglePrompt::Text(text)) = (state.log_requests, &prompt) {
        log_request(&state, &served_name(&state, adapter.as_ref()), text);
    }
    let prompt_ids = match prompt {
        SinglePrompt::Text(text) => served.tokenizer.encode(text),
        SinglePrompt::Tokens(ids) => Ok(ids.to_vec()),
    }
    .map_err(|e| ApiError::invalid("prompt", e.to_string()))?;
    let vocab = served.tokenizer.vocab_size() as u32;
    if let Some(bad) = prompt_ids.iter().find(|id| **id >= vocab) {
        return Err(ApiError::invalid("prompt", format!("token id {bad} is out of range")));
    }
    let model = served_name(&state, adapter.as_ref());
    let events = submit(&state, served, prompt_ids, &generation, "prompt", adapter, None)?;
    let header = ChunkHeader { id: completion_id("cmpl"), created: netgpt_runtime::unix_seconds(), model };
    if generation.stream {
        let stream = completion_stream(events, header, want_logprobs, generation.include_usage);
        return Ok(sse_response(stream));
    }
    let collected = collect(events, want_logprobs).await?;
    Ok(axum::Json(Completion {
        id: header.id,
        object: "text_completion",
        created: header.created,
        model: header.model,
        choices: vec![CompletionChoice {
            index: 0,
            text: collected.text,
            logprobs: collected.completion_logprobs,
            finish_reason: Some(collected.finish_reason),
        }],
        usage: Some(collected.usage),
    })
    .into_response())
}

/// Everything a non-streamed response needs.
struct Collected {
    text: String,
    chat_logprobs: Option<ChatLogprobs>,
    completion_logprobs: Option<CompletionLogprobs>,
    finish_reason: &'static str,
    usage: Usage,
}

async fn collect(
    mut events: mpsc::UnboundedReceiver<GenerationEvent>,
    want_logprobs: bool,
) -> Result<Collected, ApiError> {
    let mut text = String::new();
    let mut chat_logprobs = want_logprobs.then(ChatLogprobs::default);
    let mut completion_logprobs = want_logprobs.then(CompletionLogprobs::default);
    while let Some(event) = events.recv().await {
        match event {
            GenerationEvent::Delta { text: delta, tokens } => {
                if let Some(l) = chat_logprobs.as_mut() {
                    l.extend(&tokens);
                }
                if let Some(l) = completion_logprobs.as_mut() {
                    let start = l.text_offset.last().copied().unwrap_or(0) + l.tokens.last().map_or(0, String::len);
                    l.extend(&tokens, start);
                }
                text.push_str(&delta);
            }
            GenerationEvent::Finished { reason, prompt_tokens, completion_tokens } => {
                return Ok(Collected {
                    text,
                    chat_logprobs,
                    completion_logprobs,
                    finish_reason: reason.as_str(),
                    usage: Usage::new(prompt_tokens, completion_tokens),
                });
            }
            GenerationEvent::Failed { message } => return Err(ApiError::Internal(message)),
        }
    }
    Err(ApiError::Internal("the engine stopped mid-generation".into()))
}

/// Fields every chunk of one streamed response repeats.
#[derive(Clone)]
struct ChunkHeader {
    id: String,
    created: u64,
    model: String,
}

fn sse_response(stream: impl Stream<Item = Event> + Send + 'static) -> Response {
    Sse::new(stream.map(Ok::<_, Infallible>)).keep_alive(KeepAlive::default()).into_response()
}

fn json_event<T: serde::Serialize>(value: &T) -> Event {
    Event::default().json_data(value).unwrap_or_else(|_| Event::default().data("{}"))
}

fn done_event() -> Event {
    Event::default().data("[DONE]")
}

/// Turns engine events into SSE events with `render`; after the final event comes
/// `data: [DONE]`. Dropping the stream (client gone) drops the receiver, which cancels
/// the generation.
fn event_stream<F>(
    events: mpsc::UnboundedReceiver<GenerationEvent>,
    first: Vec<Event>,
    mut render: F,
) -> impl Stream<Item = Event> + Send + 'static
where
    F: FnMut(GenerationEvent) -> Vec<Event> + Send + 'static,
{
    let body = stream::unfold(Some(events), move |receiver| async move {
        let mut receiver = receiver?;
        match receiver.recv().await {
            Some(event) => {
                let last = !matches!(event, GenerationEvent::Delta { .. });
                Some((event, (!last).then_some(receiver)))
            }
            None => Some((GenerationEvent::Failed { message: "the engine stopped mid-generation".into() }, None)),
        }
    })
    .flat_map(move |event| {
        let last = !matches!(event, GenerationEvent::Delta { .. });
        let mut out = render(event);
        if last {
            out.push(done_event());
        }
        stream::iter(out)
    });
    stream::iter(first).chain(body)
}

fn chat_stream(
    events: mpsc::UnboundedReceiver<GenerationEvent>,
    header: ChunkHeader,
    want_logprobs: bool,
    include_usage: bool,
) -> impl Stream<Item = Event> + Send + 'static {
    let chunk = move |header: &ChunkHeader,
                      delta: ChatDelta,
                      logprobs: Option<ChatLogprobs>,
                      finish_reason: Option<&'static str>| {
        ChatCompletionChunk {
            id: header.id.clone(),
            object: "chat.completion.chunk",
            created: header.created,
            model: header.model.clone(),
            choices: vec![ChatChunkChoice { index: 0, delta, logprobs, finish_reason }],
            usage: None,
        }
    };
    let opening = json_event(&chunk(
        &header,
        ChatDelta { role: Some("assistant"), content: Some(String::new()), tool_calls: None },
        None,
        None,
    ));
    event_stream(events, vec![opening], move |event| match event {
        GenerationEvent::Delta { text, tokens } => {
            let logprobs = want_logprobs.then(|| {
                let mut l = ChatLogprobs::default();
                l.extend(&tokens);
                l
            });
            vec![json_event(&chunk(
                &header,
                ChatDelta { role: None, content: Some(text), tool_calls: None },
                logprobs,
                None,
            ))]
        }
        GenerationEvent::Finished { reason, prompt_tokens, completion_tokens } => {
            let mut out = vec![json_event(&chunk(&header, ChatDelta::default(), None, Some(reason.as_str())))];
            if include_usage {
                let mut usage_chunk = chunk(&header, ChatDelta::default(), None, None);
                usage_chunk.choices.clear();
                usage_chunk.usage = Some(Usage::new(prompt_tokens, completion_tokens));
                out.push(json_event(&usage_chunk));
            }
            out
        }
        GenerationEvent::Failed { message } => {
            vec![json_event(&ApiError::Internal(message).body_json())]
        }
    })
}

/// The grammar `format` asks for, compiled for this model; `None` for free text.
fn constrain(served: &ServedModel, format: &OutputFormat) -> Result<Option<Constraint>, ApiError> {
    let Some(grammar) = format.grammar() else {
        return Ok(None);
    };
    let param = if matches!(format, OutputFormat::ToolCall { .. }) { "tools" } else { "response_format" };
    let compiler = served.grammar.as_ref().map_err(|why| ApiError::invalid(param, why.clone()))?;
    let compiled = match &grammar {
        Grammar::JsonSchema(schema) => compiler.json(schema),
        Grammar::Lark(lark) => compiler.lark(lark),
    };
    compiled.map(Some).map_err(|e| ApiError::invalid(param, format!("the schema cannot be followed: {e}")))
}

/// Puts `instructions` into the leading system message (a new one when there is none).
fn add_system_instructions(messages: &mut Vec<ChatMessage>, instructions: &str) {
    match messages.first_mut() {
        Some(first) if first.role == "system" => {
            first.content = format!("{}\n\n{instructions}", first.content);
        }
        _ => messages.insert(0, ChatMessage { role: "system".into(), content: instructions.to_string() }),
    }
}

fn tool_call(index: Option<u32>, name: String, arguments: String) -> ToolCallOut {
    ToolCallOut { index, id: completion_id("call"), kind: "function", function: FunctionCallOut { name, arguments } }
}

/// A streamed answer that may be a tool call: text deltas are held until the output is
/// complete, then sent as one `tool_calls` delta (finish reason `tool_calls`) or, for a
/// text answer, as one content delta.
fn tool_call_stream(
    events: mpsc::UnboundedReceiver<GenerationEvent>,
    header: ChunkHeader,
    format: OutputFormat,
    want_logprobs: bool,
    include_usage: bool,
) -> impl Stream<Item = Event> + Send + 'static {
    let chunk = move |header: &ChunkHeader,
                      delta: ChatDelta,
                      logprobs: Option<ChatLogprobs>,
                      finish_reason: Option<&'static str>| ChatCompletionChunk {
        id: header.id.clone(),
        object: "chat.completion.chunk",
        created: header.created,
        model: header.model.clone(),
        choices: vec![ChatChunkChoice { index: 0, delta, logprobs, finish_reason }],
        usage: None,
    };
    let opening =
        json_event(&chunk(&header, ChatDelta { role: Some("assistant"), ..ChatDelta::default() }, None, None));
    let mut text = String::new();
    let mut logprobs = want_logprobs.then(ChatLogprobs::default);
    event_stream(events, vec![opening], move |event| match event {
        GenerationEvent::Delta { text: delta, tokens } => {
            text.push_str(&delta);
            if let Some(l) = logprobs.as_mut() {
                l.extend(&tokens);
            }
            Vec::new()
        }
        GenerationEvent::Finished { reason, prompt_tokens, completion_tokens } => {
            let (delta, finish) = match format.tool_call(&text) {
                Some((name, arguments)) => (
                    ChatDelta { tool_calls: Some(vec![tool_call(Some(0), name, arguments)]), ..ChatDelta::default() },
                    "tool_calls",
                ),
                None => {
                    (ChatDelta { content: Some(std::mem::take(&mut text)), ..ChatDelta::default() }, reason.as_str())
                }
            };
            let mut out = vec![json_event(&chunk(&header, delta, logprobs.take(), None))];
            out.push(json_event(&chunk(&header, ChatDelta::default(), None, Some(finish))));
            if include_usage {
                let mut usage_chunk = chunk(&header, ChatDelta::default(), None, None);
                usage_chunk.choices.clear();
                usage_chunk.usage = Some(Usage::new(prompt_tokens, completion_tokens));
                out.push(json_event(&usage_chunk));
            }
            out
        }
        GenerationEvent::Failed { message } => vec![json_event(&ApiError::Internal(message).body_json())],
    })
}

fn completion_stream(
    events: mpsc::UnboundedReceiver<GenerationEvent>,
    header: ChunkHeader,
    want_logprobs: bool,
    include_usage: bool,
) -> impl Stream<Item = Event> + Send + 'static {
    let mut text_offset = 0usize;
    let chunk = move |header: &ChunkHeader,
                      text: String,
                      logprobs: Option<CompletionLogprobs>,
                      finish_reason: Option<&'static str>,
                      usage: Option<Usage>| Completion {
        id: header.id.clone(),
        object: "text_completion",
        created: header.created,
        model: header.model.clone(),
        choices: vec![CompletionChoice { index: 0, text, logprobs, finish_reason }],
        usage,
    };
    event_stream(events, Vec::new(), move |event| match event {
        GenerationEvent::Delta { text, tokens } => {
            let logprobs = want_logprobs.then(|| {
                let mut l = CompletionLogprobs::default();
                l.extend(&tokens, text_offset);
                l
            });
            text_offset += tokens.iter().map(|t| t.text.len()).sum::<usize>();
            vec![json_event(&chunk(&header, text, logprobs, None, None))]
        }
        GenerationEvent::Finished { reason, prompt_tokens, completion_tokens } => {
            let usage = include_usage.then(|| Usage::new(prompt_tokens, completion_tokens));
            vec![json_event(&chunk(&header, String::new(), None, Some(reason.as_str()), usage))]
        }
        GenerationEvent::Failed { message } => {
            vec![json_event(&ApiError::Internal(message).body_json())]
        }
    })
}
