//! Gateway metrics (`netgpt_gateway_*`).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Metrics of one gateway.
#[derive(Clone)]
pub struct GatewayMetrics {
    pub(crate) registry: Registry,
    /// Requests by the path that served them (edge, cloud, edge-fallback, error).
    pub requests: IntCounterVec,
    /// Latency of each workflow step that ran, by step name (a cloud step streamed to
    /// the client: to its first chunk).
    pub step_duration: HistogramVec,
    /// How each step ended (succeeded, failed, skipped), by step name.
    pub step_outcomes: IntCounterVec,
    /// Intents posted to their webhook, by outcome (delivered, failed).
    pub intent_webhooks: IntCounterVec,
    /// End-to-end latency by path.
    pub request_duration: HistogramVec,
    /// Edge confidence of each request's draft answer.
    pub edge_confidence: HistogramVec,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let latency = vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
        let requests = IntCounterVec::new(
            Opts::new("netgpt_gateway_requests_total", "Requests by the path that served them."),
            &["site", "path"],
        )
        .expect("valid metric");
        let step_duration = HistogramVec::new(
            HistogramOpts::new("netgpt_gateway_step_duration_seconds", "Latency of each workflow step.")
                .buckets(latency.clone()),
            &["site", "step"],
        )
        .expect("valid metric");
        let step_outcomes = IntCounterVec::new(
            Opts::new("netgpt_gateway_step_outcomes_total", "Workflow steps by how they ended."),
            &["site", "step", "outcome"],
        )
        .expect("valid metric");
        let intent_webhooks = IntCounterVec::new(
            Opts::new("netgpt_gateway_intent_webhooks_total", "Inferred intents posted to their webhook."),
            &["site", "outcome"],
        )
        .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new("netgpt_gateway_request_duration_seconds", "End-to-end request latency.")
                .buckets(latency),
            &["site", "path"],
        )
        .expect("valid metric");
        let edge_confidence = HistogramVec::new(
            HistogramOpts::new("netgpt_gateway_edge_confidence", "Edge confidence (0..1) of each draft answer.")
                .buckets((1..=10).map(|i| f64::from(i) / 10.0).collect()),
            &["site"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(step_duration.clone()),
            Box::new(step_outcomes.clone()),
            Box::new(intent_webhooks.clone()),
            Box::new(request_duration.clone()),
            Box::new(edge_confidence.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self { registry, requests, step_duration, step_outcomes, intent_webhooks, request_duration, edge_confidence }
    }

    /// Creates the request series of `site` at zero for every path, so error and ratio
    /// panels read 0 (not "no data") before the first request of a kind; the site is known
    /// at start and the paths are a closed set, so this adds no cardinality.
    pub fn initialize_site(&self, site: &str) {
        for path in ["edge", "cloud", "edge-fallback", "error"] {
            let _ = self.requests.with_label_values(&[site, path]);
        }
        for outcome in ["delivered", "failed"] {
            let _ = self.intent_webhooks.with_label_values(&[site, outcome]);
        }
    }

    /// Creates a step's outcome series at zero. Steps are the workflow's (at most 33,
    /// fixed at start), so the label stays bounded.
    pub fn initialize_step(&self, site: &str, step: &str) {
        for outcome in ["succeeded", "failed", "skipped"] {
            let _ = self.step_outcomes.with_label_values(&[site, step, outcome]);
        }
    }
}
