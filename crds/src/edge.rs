//! `EdgeLLM`: a small LLM served at the edge of the network, one Deployment per site
//! (base station), each site personalised by its own LoRA adapter and location profile.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    AdapterSpec, DNS_LABEL_PATTERN, LocalObjectRef, ModelSpec, Placement, ResourceSpec, ServingLimits,
};
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
    /// How the adapters of sites with `trainAdapter: true` are made: per site and
    /// location-profile revision, one Job generates the site's data with a teacher,
    /// fine-tunes a LoRA adapter over this EdgeLLM's base model and evaluates it; the
    /// site's serving pods then hot-load it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<AdapterTraining>,
}

/// Adapter training for the sites that ask for it (the paper's per-site LoRA fine-tuning
/// on location data). Lives on the EdgeLLM, next to the sites' location profiles and the
/// base model it trains over: editing a profile is the one edit that re-trains its site.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterTraining {
    /// Who writes the comprehensive prompts. Default: the base model itself, in the Job.
    #[serde(default)]
    pub teacher: TeacherSpec,
    /// Dataset generation.
    #[serde(default)]
    pub dataset: DatasetSettings,
    /// LoRA hyper-parameters.
    #[serde(default)]
    pub lora: LoraTrainingSettings,
    /// Where data and adapters are kept; the serving pods mount it read-only.
    pub storage: TrainingStorage,
    /// Compute of the training Job (`gpu` > 0: trains on CUDA with the CUDA image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSpec>,
    /// Node-pool placement of the training Job (e.g. a GPU pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Longest a training Job may run (`activeDeadlineSeconds`); default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 604800))]
    pub timeout_seconds: Option<i64>,
}

/// The teacher of dataset generation: a CloudLLM of this namespace, or any
/// OpenAI-compatible endpoint; neither means the base model, served inside the Job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeacherSpec {
    /// A CloudLLM in this namespace (its Service, its served model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_ref: Option<LocalObjectRef>,
    /// An OpenAI-compatible base URL up to `/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub url: Option<String>,
    /// Model asked at `url` (required with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub model: Option<String>,
}

/// `netgpt dataset generate` settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSettings {
    /// Teacher samples per seed prompt (default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub candidates: Option<i32>,
    /// Pairs kept per seed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16))]
    pub pairs_per_seed: Option<i32>,
    /// Percentage of seeds held out for evaluation (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 90))]
    pub heldout_percent: Option<i32>,
    /// Use only the first N built-in seeds (quick runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub limit_seeds: Option<i32>,
}

/// `netgpt train lora` settings; absent fields take the command's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoraTrainingSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub rank: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 4096.0))]
    pub alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 0.9))]
    pub dropout: Option<f64>,
    /// Projections to adapt (PEFT names: `q_proj`, `v_proj`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_modules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub epochs: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub learning_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub gradient_accumulation: Option<i32>,
    /// Train on at most this many pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_examples: Option<i32>,
}

/// Exactly one of a PersistentVolumeClaim (clusters) or a node directory (kind, one-node
/// test beds).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingStorage {
    /// Claim in this namespace; ReadWriteMany when sites run on several nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub persistent_volume_claim: Option<String>,
    /// Absolute directory on the nodes (created if missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1024))]
    pub host_path: Option<String>,
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
    /// Train this site's adapter from generated data (see `spec.training`) instead of
    /// naming one; the site serves the base model until its first adapter is trained.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub train_adapter: bool,
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
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
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
    /// Adapter training of this site (`trainAdapter: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<SiteTrainingStatus>,
}

/// Where a site's adapter training stands.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteTrainingStatus {
    /// Revision of the profile, model and settings being trained (a content hash).
    pub revision: String,
    /// `Pending`, `GeneratingData`, `Training`, `Evaluating`, `Succeeded` or `Failed`.
    pub phase: String,
    /// The Job of `revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Why it failed, or what it is waiting for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Pairs generated for training and held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_pairs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout_pairs: Option<i64>,
    /// Mean loss of the last optimizer steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_loss: Option<f64>,
    /// Completion loss on the held-out split after training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout_loss: Option<f64>,
    /// Evaluation score: share of held-out completions that name the site's own context,
    /// with the trained adapter and with the template alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_context_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_own_context_share: Option<f64>,
    /// Revision whose adapter the site serves (the last that succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_revision: Option<String>,
}
