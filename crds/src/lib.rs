//! NetGPT's custom resources, API group `netgpt.io`, version `v1alpha1`:
//!
//! - [`EdgeLLM`] — a small LLM at the edge, one Deployment per site (base station), each
//!   site personalised by a LoRA adapter and a location profile;
//! - [`CloudLLM`] — a large LLM on the cloud GPU pool;
//! - [`LogicalAIWorkflow`] — per request: edge prompt completion → routing decision →
//!   desensitization → cloud generation.
//!
//! # Design notes (what was borrowed, what was improved)
//!
//! - From KServe `LLMInferenceService`: one `model` block with a URI-typed source
//!   (`pvc://`, `http(s)://`) and a named `adapters` list. Improved: rank/alpha are read
//!   from each adapter's own `adapter_config.json` instead of being restated (and possibly
//!   contradicted) in YAML, and an optional `sha256` pins every download.
//! - From KubeAI `Model`: flat, readable placement and an image override. Improved: the
//!   placement uses the real Kubernetes `tolerations`/`affinity` types rather than named
//!   profiles hidden in Helm values, and status has conditions (KubeAI has none).
//! - From KubeEdge Sedna `JointInferenceService`: the edge/cloud pairing and the
//!   confidence threshold for "answer at the edge". Improved: sites are first-class (node
//!   selector, location profile, adapter per site) instead of pinning by `nodeName` in
//!   pod templates, and the workflow is declarative (steps, timeouts, latency budget)
//!   rather than environment variables read by an SDK.
//! - New: desensitization policy in the workflow with fail-closed failure modes only;
//!   switching it off also takes the [`ALLOW_UNPROTECTED_ANNOTATION`], and what a policy
//!   leaves unprotected is reported in status.
//!
//! Lists of named entries (`sites`, `adapters`, `steps`, `conditions`) are
//! `x-kubernetes-list-type: map`, so duplicates are rejected by the apiserver and
//! server-side apply merges them by name. Cross-field rules (a site's adapter exists, the
//! step graph has no cycle) are checked by the operator and reported as conditions.
//!
//! Kubernetes compatibility: the schemas use only what CRD `apiextensions.k8s.io/v1` on
//! Kubernetes 1.20 accepts (no CEL rules, no selectable fields).

pub mod cloud;
pub mod common;
pub mod config;
pub mod edge;
pub mod graph;
pub mod status;
pub mod workflow;

pub use cloud::{CloudLLM, CloudLLMSpec, CloudLLMStatus};
pub use common::*;
pub use edge::{
    AdapterTraining, Coordinates, DatasetSettings, EdgeLLM, EdgeLLMSpec, EdgeLLMStatus, EdgeSite, EdgeSiteStatus,
    LocationProfile, LoraTrainingSettings, SiteTrainingStatus, TeacherSpec, TrainingStorage,
};
pub use workflow::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every NetGPT resource.
pub const GROUP: &str = "netgpt.io";

/// All NetGPT CRDs, in a stable order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![EdgeLLM::crd(), CloudLLM::crd(), LogicalAIWorkflow::crd()]
}

/// One CRD as YAML, as written to `charts/netgpt/crds/<name>.yaml`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(crd)
}

/// All CRDs as one multi-document YAML stream (what `netgpt crd` prints).
pub fn all_crds_yaml() -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in all_crds() {
        out.push_str("---\n");
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}

/// File name of a CRD inside `charts/netgpt/crds/`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}
