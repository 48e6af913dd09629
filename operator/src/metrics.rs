//! The operator's Prometheus metrics (`netgpt_operator_*`), served on `/metrics`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Metrics of one operator process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles by resource kind and result (`success`, `invalid_spec`, `error`).
    pub reconciles: IntCounterVec,
    /// Reconcile duration by resource kind.
    pub reconcile_duration: HistogramVec,
    /// Custom resources currently managed, by kind.
    pub managed: IntGaugeVec,
    /// Child objects written, by child kind and action (`created`, `updated`, `deleted`).
    pub children: IntCounterVec,
    /// 1 while this process holds the leader lease.
    pub leader: IntGauge,
    /// Site adapter trainings by outcome (`started`, `succeeded`, `failed`).
    pub adapter_trainings: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("netgpt_operator_reconciles_total", "Reconciles by resource kind and result."),
            &["kind", "result"],
        )
        .expect("valid metric");
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new("netgpt_operator_reconcile_duration_seconds", "Time spent in one reconcile.")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["kind"],
        )
        .expect("valid metric");
        let managed = IntGaugeVec::new(
            Opts::new("netgpt_operator_managed_resources", "Custom resources currently managed, by kind."),
            &["kind"],
        )
        .expect("valid metric");
        let children = IntCounterVec::new(
            Opts::new("netgpt_operator_child_writes_total", "Child objects created, updated or deleted."),
            &["kind", "action"],
        )
        .expect("valid metric");
        let leader = IntGauge::new("netgpt_operator_leader", "1 while this process holds the leader lease.")
            .expect("valid metric");
        let adapter_trainings = IntCounterVec::new(
            Opts::new(
                "netgpt_operator_adapter_trainings_total",
                "Site adapter training Jobs started, succeeded and failed.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        // Exposed at zero from the start, so that rates and alerts see the series.
        for outcome in ["started", "succeeded", "failed"] {
            adapter_trainings.with_label_values(&[outcome]);
        }
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconcile_duration.clone()),
            Box::new(managed.clone()),
            Box::new(children.clone()),
            Box::new(leader.clone()),
            Box::new(adapter_trainings.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self { registry, reconciles, reconcile_duration, managed, children, leader, adapter_trainings }
    }

    /// The registry every metric is in (for `/metrics`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
