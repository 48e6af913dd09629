//! Prometheus metrics of the sidecar. Labels are bounded: entity type names, outcomes and
//! block reasons from fixed lists — never request text.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

use super::actions::EntityCounts;
use super::entity;

const DURATION_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
const UPSTREAM_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Every metric of the sidecar, in its own registry (one per server, so tests can run
/// several in one process).
#[derive(Clone)]
pub struct Metrics {
    pub(crate) registry: Registry,
    pub entities: IntCounterVec,
    pub requests: IntCounterVec,
    pub blocked: IntCounterVec,
    pub desensitize_duration: Histogram,
    pub upstream_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let entities = IntCounterVec::new(
            Opts::new("netgpt_desensitizer_entities_total", "Personal-data entities replaced, by type."),
            &["type"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "netgpt_desensitizer_requests_total",
                "Requests handled, by outcome (forwarded, blocked, upstream_error).",
            ),
            &["outcome"],
        )?;
        let blocked = IntCounterVec::new(
            Opts::new(
                "netgpt_desensitizer_blocked_total",
                "Requests not forwarded to the cloud (or answers not returned), by reason.",
            ),
            &["reason"],
        )?;
        let desensitize_duration = Histogram::with_opts(
            HistogramOpts::new(
                "netgpt_desensitizer_desensitize_duration_seconds",
                "Time to parse and desensitize one request body.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )?;
        let upstream_duration = Histogram::with_opts(
            HistogramOpts::new(
                "netgpt_desensitizer_upstream_duration_seconds",
                "Time from forwarding a request to the cloud's response head.",
            )
            .buckets(UPSTREAM_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(entities.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(blocked.clone()))?;
        registry.register(Box::new(desensitize_duration.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        // Pre-create every series so dashboards see zeros rather than gaps.
        for kind in entity::ALL {
            entities.with_label_values(&[entity::name(kind)]);
        }
        for outcome in ["forwarded", "blocked", "upstream_error"] {
            requests.with_label_values(&[outcome]);
        }
        Ok(Self { registry, entities, requests, blocked, desensitize_duration, upstream_duration })
    }

    pub fn record_entities(&self, counts: &EntityCounts) {
        for (name, n) in counts.nonzero() {
            self.entities.with_label_values(&[name]).inc_by(u64::from(n));
        }
    }

    pub fn record_blocked(&self, reason: &str, outcome: &str) {
        self.blocked.with_label_values(&[reason]).inc();
        self.requests.with_label_values(&[outcome]).inc();
    }
}
