//! Building blocks shared by EdgeLLM and CloudLLM: where a model comes from, its LoRA
//! adapters, where pods may run, how much they may use and what a server will accept.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A DNS-1123 label: the shape Kubernetes requires of names that end up in object names.
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// The URI schemes a model, tokenizer or adapter may be fetched from.
pub const SOURCE_URI_PATTERN: &str =
    r"^(file:///|hostpath:///|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/|https?://[^/\s]+/)\S*$";

/// Model family. Decides which network the server builds from the weights.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Architecture {
    /// LLaMA family (LLaMA 2/3, SmolLM, Mistral-style decoders).
    Llama,
    /// GPT-2 family (the edge model of the NetGPT paper is GPT-2-base).
    Gpt2,
}

/// On-disk format of the weights.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ModelFormat {
    /// A single GGUF file (quantized or float), tokenizer and chat template inside.
    Gguf,
    /// Hugging Face layout: `*.safetensors` plus `config.json` (and `tokenizer.json`).
    Safetensors,
}

/// Where a file (or a directory, for safetensors models and adapters) comes from.
///
/// - `file:///abs/path` or `hostpath:///abs/path`: pre-staged on the node, mounted read-only;
/// - `pvc://<claim>/<path>`: a path inside a PersistentVolumeClaim of the same namespace;
/// - `https://…` / `http://…`: fetched by an init container before the server starts,
///   verified against `sha256` when given.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSource {
    /// Location of the artifact (`file:///`, `hostpath:///`, `pvc://claim/path`, `http(s)://`).
    #[schemars(regex(pattern = SOURCE_URI_PATTERN), length(max = 2048))]
    pub uri: String,
    /// Expected SHA-256 of the file, lowercase hex. A mismatch fails the download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-f0-9]{64}$"))]
    pub sha256: Option<String>,
}

/// The base model a server loads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Model family.
    pub architecture: Architecture,
    /// Weight file format.
    pub format: ModelFormat,
    /// Where the weights come from.
    pub source: ArtifactSource,
    /// Tokenizer (`tokenizer.json`) when it is not inside the model (GGUF carries its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<ArtifactSource>,
    /// Name the OpenAI-compatible API serves the base model under. Defaults to the
    /// resource's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub served_name: Option<String>,
}

/// A LoRA adapter in the PEFT layout (`adapter_config.json` + `adapter_model.safetensors`).
/// Rank, alpha and target modules are read from the adapter's own `adapter_config.json`,
/// so the manifest cannot disagree with the file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterSpec {
    /// Adapter name: what a request puts in `"model"` to select it. At most 48 characters
    /// so that the pod volume derived from it stays a valid name.
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(min = 1, max = 48))]
    pub name: String,
    /// Directory holding `adapter_config.json` and `adapter_model.safetensors`.
    pub source: ArtifactSource,
}

/// Node-pool placement applied to every pod of the resource (merged with a site's own
/// node selector for EdgeLLM sites).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Labels a node must carry (e.g. `netgpt.io/pool: edge`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations for tainted pools (e.g. `nvidia.com/gpu:NoSchedule`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Standard Kubernetes affinity rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

/// Compute for each serving pod. `cpu`/`memory` become requests (memory also the limit);
/// `gpu` becomes the `nvidia.com/gpu` limit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// CPU request, e.g. `"2"` or `"500m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory request and limit, e.g. `"2Gi"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Number of NVIDIA GPUs (`nvidia.com/gpu`); 0 or absent serves on CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 16))]
    pub gpu: Option<i32>,
}

/// Limits a server enforces on each request and on its queue.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServingLimits {
    /// Maximum tokens of prompt plus completion. Defaults to the model's own context length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 16, max = 1048576))]
    pub context_length: Option<i32>,
    /// Upper bound on `max_tokens` a request may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65536))]
    pub max_new_tokens: Option<i32>,
    /// Requests generated at once; more wait in the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub max_concurrent_requests: Option<i32>,
    /// Requests that may wait; beyond this the server answers 429 with `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65536))]
    pub max_queued_requests: Option<i32>,
    /// Log every request's rendered prompt (target `netgpt::requests`, level info), as
    /// vLLM's request log does. Meant for the cloud side: it shows what actually left the
    /// edge (desensitized text). Off by default, since prompts are user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_requests: Option<bool>,
    /// Where the model runs. `auto` (the default): CUDA when the pod gets GPUs
    /// (`resources.gpu`), else the CPU. CUDA serves LLaMA-family safetensors checkpoints;
    /// anything else is refused as `InvalidSpec` naming this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<ServingDevice>,
    /// Weight precision of safetensors checkpoints. `auto`: f16 on CUDA, f32 on the CPU.
    /// GGUF models keep their file's quantization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<ServingDType>,
    /// A chat template (Jinja, Hugging Face's `chat_template` format) replacing the
    /// model's own: for models that ship none (an Alpaca-style instruction format, say) or
    /// ship a wrong one. Unset: the template inside the GGUF file or next to the
    /// safetensors (`tokenizer_config.json`), else ChatML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 65536))]
    pub chat_template: Option<String>,
}

/// Where a model server runs (`spec.serving.device`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ServingDevice {
    /// CUDA when the pod gets GPUs, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Weight precision of safetensors checkpoints (`spec.serving.dtype`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ServingDType {
    /// f16 on CUDA, f32 on the CPU.
    #[default]
    Auto,
    F16,
    Bf16,
    F32,
}

impl ServingDevice {
    /// The device pods with this `serving` block and these `resources` serve on: `auto`
    /// (or nothing) means CUDA exactly when the pod gets GPUs. Never returns
    /// [`ServingDevice::Auto`]. The operator, its validation and its rendering all ask here.
    pub fn resolve(serving: Option<&ServingLimits>, resources: Option<&ResourceSpec>) -> Self {
        let gpus = resources.and_then(|r| r.gpu).unwrap_or(0);
        match serving.and_then(|s| s.device).unwrap_or_default() {
            Self::Auto if gpus > 0 => Self::Cuda,
            Self::Auto => Self::Cpu,
            explicit => explicit,
        }
    }
}

/// A reference to another object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the referenced object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}
