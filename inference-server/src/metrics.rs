//! Prometheus metrics of the server (prefix `netgpt_`, base units, `_total` counters).

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Bucket bounds for time to first token (seconds), as vLLM's exporter uses.
const TTFT_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
/// Bucket bounds for the gap between two generated tokens (seconds).
const INTER_TOKEN_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5,
];
/// Bucket bounds for whole HTTP requests (seconds).
const REQUEST_BUCKETS: &[f64] = &[0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// Bucket bounds for loading one LoRA adapter (seconds).
const ADAPTER_LOAD_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Every metric the server exposes.
#[derive(Clone)]
pub struct Metrics {
    pub(crate) registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_request_duration: HistogramVec,
    pub time_to_first_token: Histogram,
    pub inter_token_latency: Histogram,
    pub prompt_tokens: IntCounter,
    pub generation_tokens: IntCounter,
    /// Prompts that started from a finished prompt's cache, and the tokens not re-encoded.
    pub prefix_cache_hits: IntCounter,
    pub prefix_cache_reused_tokens: IntCounter,
    /// Bytes the prefix cache holds.
    pub prefix_cache_bytes: IntGauge,
    pub requests_finished: IntCounterVec,
    pub requests_queued: IntGauge,
    pub requests_running: IntGauge,
    pub requests_rejected: IntCounter,
    pub model_load_duration: Gauge,
    /// Generation requests admitted, by `adapter` (the base model's name for none).
    pub requests_by_adapter: IntCounterVec,
    pub adapters_loaded: IntGauge,
    pub adapter_memory_bytes: IntGaugeVec,
    pub adapter_load_duration: Histogram,
}

impl Metrics {
    /// Creates and registers all metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("netgpt_http_requests_total", "HTTP requests answered, by route and status code."),
            &["path", "status"],
        )?;
        let http_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "netgpt_http_request_duration_seconds",
                "Time from receiving an HTTP request to sending its response head.",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["path"],
        )?;
        let time_to_first_token = Histogram::with_opts(
            HistogramOpts::new(
                "netgpt_time_to_first_token_seconds",
                "Time from admission of a generation request to its first generated token.",
            )
            .buckets(TTFT_BUCKETS.to_vec()),
        )?;
        let inter_token_latency = Histogram::with_opts(
            HistogramOpts::new(
                "netgpt_inter_token_latency_seconds",
                "Time between two consecutive generated tokens of one sequence.",
            )
            .buckets(INTER_TOKEN_BUCKETS.to_vec()),
        )?;
        let prompt_tokens = IntCounter::new("netgpt_prompt_tokens_total", "Prompt tokens processed.")?;
        let generation_tokens = IntCounter::new("netgpt_generation_tokens_total", "Tokens generated.")?;
        let prefix_cache_hits = IntCounter::new(
            "netgpt_prefix_cache_hits_total",
            "Prompts that reused the keys and values of a finished prompt with the same start.",
        )?;
        let prefix_cache_reused_tokens = IntCounter::new(
            "netgpt_prefix_cache_reused_tokens_total",
            "Prompt tokens taken from the prefix cache instead of being encoded.",
        )?;
        let prefix_cache_bytes = IntGauge::new("netgpt_prefix_cache_bytes", "Memory held by the prefix cache.")?;
        let requests_finished = IntCounterVec::new(
            Opts::new(
                "netgpt_requests_finished_total",
                "Generation requests finished, by reason (stop, length, cancelled, error).",
            ),
            &["reason"],
        )?;
        let requests_queued = IntGauge::new(
            "netgpt_requests_queued",
            "Generation requests waiting for a free sequence slot (queue depth).",
        )?;
        let requests_running =
            IntGauge::new("netgpt_requests_running", "Generation requests being generated now (in flight).")?;
        let requests_rejected = IntCounter::new(
            "netgpt_requests_rejected_total",
            "Generation requests refused because the queue was full.",
        )?;
        let model_load_duration =
            Gauge::new("netgpt_model_load_duration_seconds", "Time it took to load the served model.")?;
        let requests_by_adapter = IntCounterVec::new(
            Opts::new(
                "netgpt_requests_total",
                "Generation requests accepted, by adapter (the base model's name when none).",
            ),
            &["adapter"],
        )?;
        let adapters_loaded = IntGauge::new("netgpt_adapters_loaded", "LoRA adapters loaded and selectable.")?;
        let adapter_memory_bytes = IntGaugeVec::new(
            Opts::new("netgpt_adapter_memory_bytes", "Memory of a loaded LoRA adapter's prepared matrices."),
            &["adapter"],
        )?;
        let adapter_load_duration = Histogram::with_opts(
            HistogramOpts::new(
                "netgpt_adapter_load_duration_seconds",
                "Time it took to load and prepare one LoRA adapter.",
            )
            .buckets(ADAPTER_LOAD_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(requests_by_adapter.clone()))?;
        registry.register(Box::new(adapters_loaded.clone()))?;
        registry.register(Box::new(adapter_memory_bytes.clone()))?;
        registry.register(Box::new(adapter_load_duration.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_request_duration.clone()))?;
        registry.register(Box::new(time_to_first_token.clone()))?;
        registry.register(Box::new(inter_token_latency.clone()))?;
        registry.register(Box::new(prompt_tokens.clone()))?;
        registry.register(Box::new(generation_tokens.clone()))?;
        registry.register(Box::new(prefix_cache_hits.clone()))?;
        registry.register(Box::new(prefix_cache_reused_tokens.clone()))?;
        registry.register(Box::new(prefix_cache_bytes.clone()))?;
        registry.register(Box::new(requests_finished.clone()))?;
        registry.register(Box::new(requests_queued.clone()))?;
        registry.register(Box::new(requests_running.clone()))?;
        registry.register(Box::new(requests_rejected.clone()))?;
        registry.register(Box::new(model_load_duration.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_request_duration,
            time_to_first_token,
            inter_token_latency,
            prompt_tokens,
            generation_tokens,
            prefix_cache_hits,
            prefix_cache_reused_tokens,
            prefix_cache_bytes,
            requests_finished,
            requests_queued,
            requests_running,
            requests_rejected,
            model_load_duration,
            requests_by_adapter,
            adapters_loaded,
            adapter_memory_bytes,
            adapter_load_duration,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        netgpt_runtime::metrics::render(&self.registry)
    }
}
