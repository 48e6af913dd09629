//! Gateway metrics (`netgpt_gateway_*`).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

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
    /// Requests by topic, per `popularityPrediction` step (its topics and `other`).
    pub topic_requests: IntCounterVec,
    /// The published prediction: rank (1 = most requested) of each predicted topic for
    /// the next interval, 0 for the others.
    pub popularity_rank: IntGaugeVec,
    /// Predictions published, by source (`model`; `fallback`: the model failed and the
    /// frequency baseline was published).
    pub popularity_predictions: IntCounterVec,
    /// Predicted topics that were among the interval's top N, by predictor (`step`: what
    /// was published; the `frequency` and `sequence` baselines alongside).
    pub popularity_hits: IntCounterVec,
    /// Places there were to hit (N per interval with requests, fewer when fewer topics
    /// were asked for): hit-rate@N = hits / places.
    pub popularity_places: IntCounterVec,
    /// Places of the intervals the edge model answered for (its own hit rate's
    /// denominator).
    pub popularity_model_places: IntCounterVec,
    /// Predictions posted to the step's webhook, by outcome (delivered, failed).
    pub popularity_webhooks: IntCounterVec,
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
        let topic_requests = IntCounterVec::new(
            Opts::new("netgpt_gateway_topic_requests_total", "Requests by topic (popularityPrediction steps)."),
            &["site", "step", "topic"],
        )
        .expect("valid metric");
        let popularity_rank = IntGaugeVec::new(
            Opts::new(
                "netgpt_gateway_popularity_rank",
                "Predicted rank of each topic in the next interval (0: not predicted).",
            ),
            &["site", "step", "topic"],
        )
        .expect("valid metric");
        let popularity_predictions = IntCounterVec::new(
            Opts::new("netgpt_gateway_popularity_predictions_total", "Popularity predictions published, by source."),
            &["site", "step", "source"],
        )
        .expect("valid metric");
        let popularity_hits = IntCounterVec::new(
            Opts::new("netgpt_gateway_popularity_hits_total", "Predicted topics that were among the interval's top N."),
            &["site", "step", "predictor"],
        )
        .expect("valid metric");
        let popularity_places = IntCounterVec::new(
            Opts::new(
                "netgpt_gateway_popularity_places_total",
                "Top-N places there were to hit (hit rate denominator).",
            ),
            &["site", "step"],
        )
        .expect("valid metric");
        let popularity_model_places = IntCounterVec::new(
            Opts::new(
                "netgpt_gateway_popularity_model_places_total",
                "Top-N places of the intervals the edge model predicted (its hit rate denominator).",
            ),
            &["site", "step"],
        )
        .expect("valid metric");
        let popularity_webhooks = IntCounterVec::new(
            Opts::new("netgpt_gateway_popularity_webhooks_total", "Popularity predictions posted to their webhook."),
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
            Box::new(topic_requests.clone()),
            Box::new(popularity_rank.clone()),
            Box::new(popularity_predictions.clone()),
            Box::new(popularity_hits.clone()),
            Box::new(popularity_places.clone()),
            Box::new(popularity_model_places.clone()),
            Box::new(popularity_webhooks.clone()),
            Box::new(request_duration.clone()),
            Box::new(edge_confidence.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            step_duration,
            step_outcomes,
            intent_webhooks,
            topic_requests,
            popularity_rank,
            popularity_predictions,
            popularity_hits,
            popularity_places,
            popularity_model_places,
            popularity_webhooks,
            request_duration,
            edge_confidence,
        }
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

    /// Creates a `popularityPrediction` step's series at zero: its topics are declared
    /// (at most 64 and `other`), so the labels stay bounded.
    pub fn initialize_forecast(&self, site: &str, step: &str, labels: &[&str]) {
        for topic in labels {
            let _ = self.topic_requests.with_label_values(&[site, step, topic]);
            let _ = self.popularity_rank.with_label_values(&[site, step, topic]);
        }
        for source in ["model", "frequency", "sequence", "fallback"] {
            let _ = self.popularity_predictions.with_label_values(&[site, step, source]);
        }
        for predictor in ["step", "model", "frequency", "sequence"] {
            let _ = self.popularity_hits.with_label_values(&[site, step, predictor]);
        }
        let _ = self.popularity_places.with_label_values(&[site, step]);
        let _ = self.popularity_model_places.with_label_values(&[site, step]);
        for outcome in ["delivered", "failed"] {
            let _ = self.popularity_webhooks.with_label_values(&[site, outcome]);
        }
    }
}
