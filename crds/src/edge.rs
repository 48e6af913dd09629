//! `EdgeLLM`: a small LLM served at the edge of the network, one Deployment per site
//! (base station), each site personalised by its own LoRA adapter and location profile.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AdapterSpec, DNS_LABEL_PATTERN, ModelSpec, Placement, ResourceSpec, ServingLimits};
use crate::status::{conditions_schema, named_list_schema};

/// An edge LLM deployed to one or more sites. The model is shared; each site may pick
/// one of `adapters` and carries its own location profile, which the edge server uses to
/// turn a user's concise prompt into a complete, location-aware one.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "netgpt.io",
    version = "v1alpha1",
    kind = "EdgeLLM",
    plural = "edgellms",
    namespaced,
    status = "EdgeLLMStatus",
    shortname = "ellm",
    category = "netgpt",
    printcolumn = r#"{"name": "Arch", "type": "string", "jsonPath": ".spec.model.architecture"}"#,
    printcolumn = r#"{"name": "Model", "type": "string", "jsonPath": ".spec.model.servedName"}"#,
    printcolumn = r#"{"name": "Sites", "type": "string", "jsonPath": ".status.readySites", "description": "ready sites / sites"}"#,
    printcolumn = r#"{"name": "Adapters", "type": "integer", "jsonPath": ".status.adapterCount", "description": "LoRA adapters declared"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EdgeLLMSpec {
    /// The base model every site serves.
    pub model: ModelSpec,
    /// LoRA adapters available to the sites (one per site in the NetGPT design).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named_list_schema::<AdapterSpec>", length(max = 64))]
    pub adapters: Vec<AdapterSpec>,
    /// Sites (base stations) this model serves; one Deployment and Service each.
    #[schemars(schema_with = "named_list_schema::<EdgeSite>", length(min = 1, max = 256))]
    pub sites: Vec<EdgeSite>,
    /// Node-pool placement shared by all sites.
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

/// One site (base station) of an edge LLM.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EdgeSite {
    /// Site name; part of the names of the objects created for it.
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(min = 1, max = 40))]
    pub name: String,
    /// Labels selecting this site's nodes (merged with `placement.nodeSelector`).
    pub node_selector: BTreeMap<String, String>,
    /// What the edge model knows about where its users are.
    #[serde(default)]
    pub location: LocationProfile,
    /// Name of the entry in `adapters` that serves this site; the base model when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DNS_LABEL_PATTERN))]
    pub adapter: Option<String>,
    /// Serving pods at this site.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
}

fn one() -> i32 {
    1
}

/// Location context injected into prompt completion at a site.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationProfile {
    /// Cell identifier of the base station (e.g. an ECGI / NCGI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub cell_id: Option<String>,
    /// Human-readable place name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub place_name: Option<String>,
    /// WGS84 coordinates of the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
    /// Free-text local context: landmarks, services, language, events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub context: Option<String>,
}

/// WGS84 latitude/longitude in degrees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Coordinates {
    /// Degrees north, -90..90.
    #[schemars(range(min = -90.0, max = 90.0))]
    pub latitude: f64,
    /// Degrees east, -180..180.
    #[schemars(range(min = -180.0, max = 180.0))]
    pub longitude: f64,
}

/// Observed state of an EdgeLLM.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EdgeLLMStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing`, `Degraded`.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Ready sites over all sites, e.g. `2/3` (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_sites: Option<String>,
    /// Number of LoRA adapters declared (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_count: Option<i32>,
    /// Per-site rollout state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named_list_schema::<EdgeSiteStatus>")]
    pub sites: Vec<EdgeSiteStatus>,
}

/// Observed state of one site.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EdgeSiteStatus {
    /// Site name.
    pub name: String,
    /// Desired serving pods.
    pub replicas: i32,
    /// Pods that are ready (model and adapter loaded).
    pub ready_replicas: i32,
    /// Nodes the site's pods were scheduled to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// In-cluster URL of the site's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Adapter serving this site, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}
