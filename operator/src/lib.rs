//! The NetGPT operator (`netgpt operator`): kube-runtime controllers that turn EdgeLLM and
//! CloudLLM resources into placed, GPU-aware serving workloads, plus `netgpt fetch`, the
//! init container that stages http(s) artifacts.
//!
//! - [`render`]: pure functions, spec → desired children (unit-tested without a cluster);
//! - [`validate`]: the rules the CRD schema cannot express ([`quantity`] reads resource
//!   quantities for them);
//! - [`controller`]: reconcile loops (server-side apply, pruning by label, status, Events);
//! - [`run`]: leader election, metrics/health endpoints, start-up and shutdown;
//! - [`fetch`]: downloads with retry, SHA-256 verification and atomic rename.

pub mod controller;
pub mod fetch;
pub mod metrics;
pub mod quantity;
pub mod render;
pub mod run;
pub mod validate;

pub use run::{OperatorArgs, run, run_until};
