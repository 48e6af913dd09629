//! `CloudLLM`: a large LLM on the cloud GPU pool that answers the prompts the edge
//! completed (and desensitized).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AdapterSpec, ModelSpec, Placement, ResourceSpec, ServingLimits};
use crate::status::{conditions_schema, named_list_schema};

/// A cloud LLM: one Deployment and Service on the cloud node pool.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "netgpt.io",
    version = "v1alpha1",
    kind = "CloudLLM",
    plural = "cloudllms",
    namespaced,
    status = "CloudLLMStatus",
    shortname = "cllm",
    category = "netgpt",
    printcolumn = r#"{"name": "Arch", "type": "string", "jsonPath": ".spec.model.architecture"}"#,
    printcolumn = r#"{"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"}"#,
    printcolumn = r#"{"name": "Available", "type": "integer", "jsonPath": ".status.readyReplicas"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CloudLLMSpec {
    /// The base model.
    pub model: ModelSpec,
    /// LoRA adapters (cloud fine-tunes), selected per request by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named_list_schema::<AdapterSpec>", length(max = 64))]
    pub adapters: Vec<AdapterSpec>,
    /// Serving pods.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Node-pool placement (e.g. the cloud GPU pool and its taints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Compute for each serving pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSpec>,
    /// Request and queue limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<ServingLimits>,
    /// Container image override; defaults to the operator's own version of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
}

fn one() -> i32 {
    1
}

/// Observed state of a CloudLLM.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudLLMStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing`, `Degraded`.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Desired serving pods.
    #[serde(default)]
    pub replicas: i32,
    /// Pods that are ready (model and adapters loaded).
    #[serde(default)]
    pub ready_replicas: i32,
    /// Nodes the pods were scheduled to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// In-cluster URL of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}
