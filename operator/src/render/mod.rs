//! Pure rendering: custom resource spec → the child objects it should own. Unit-tested
//! without a cluster; the controllers apply what these functions return.

pub mod artifacts;
pub mod cloud;
pub mod desensitization;
pub mod edge;
pub mod labels;
pub mod pod;
pub mod policy;
pub mod security;
pub mod training;
pub mod workflow;

/// Why a spec cannot be rendered. Reported as an `InvalidSpec` condition naming `field`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("{field}: {reason}")]
    InvalidSource { field: String, reason: String },
    #[error("rendering the serving configuration: {0}")]
    Config(String),
    /// A rule validation checks too; rendering repeats it rather than trust the order.
    #[error("{0}")]
    Field(crate::validate::FieldError),
}

impl RenderError {
    /// The spec field the error is about.
    pub fn field(&self) -> &str {
        match self {
            Self::InvalidSource { field, .. } => field,
            Self::Config(_) => "spec",
            Self::Field(e) => &e.field,
        }
    }
}

/// What every pod the operator renders inherits from the operator's own settings: the
/// images serving pods run (the CPU build, and the CUDA build for pods that serve on GPUs,
/// `spec.serving.device` resolved to CUDA; a resource's `spec.image` wins) and the log
/// format (`NETGPT_LOG_FORMAT` in every container, so the chart's `logging.format`
/// reaches the data plane too).
#[derive(Clone, Debug)]
pub struct PodDefaults {
    pub cpu_image: String,
    pub cuda_image: String,
    /// `text` or `json`.
    pub log_format: String,
}

impl PodDefaults {
    /// The image of a serving pod on `device` (already resolved: never `auto`).
    pub fn serving<'a>(&'a self, spec_image: Option<&'a str>, device: ServingDevice) -> &'a str {
        spec_image.unwrap_or(match device {
            ServingDevice::Cuda => &self.cuda_image,
            ServingDevice::Auto | ServingDevice::Cpu => &self.cpu_image,
        })
    }

    /// The environment every rendered container gets.
    pub fn env(&self) -> Vec<k8s_openapi::api::core::v1::EnvVar> {
        vec![k8s_openapi::api::core::v1::EnvVar {
            name: "NETGPT_LOG_FORMAT".into(),
            value: Some(self.log_format.clone()),
            value_from: None,
        }]
    }
}

/// Directory models are mounted under in the serving container.
pub const MODEL_DIR: &str = "/var/lib/netgpt/model";
/// Directory tokenizers are mounted under.
pub const TOKENIZER_DIR: &str = "/var/lib/netgpt/tokenizer";
/// Directory adapters are mounted under (one sub-directory per adapter).
pub const ADAPTER_DIR: &str = "/var/lib/netgpt/adapters";

use netgpt_crds::config::{
    CONFIG_API_VERSION, SERVING_CONFIG_KIND, ServedAdapter, ServedModel, ServingConfig, SiteConfig,
};
use netgpt_crds::{AdapterSpec, ModelFormat, ModelSpec, ServingDevice, ServingLimits};

use artifacts::{ADAPTER_FILES, ArtifactKind, SAFETENSORS_MODEL_FILES, StagedArtifact, stage};

/// The serving configuration for a model whose files are at the given local paths.
/// Shared by the operator (paths inside the pod) and `netgpt local` (paths on this host).
/// `device` is the resolved one ([`ServingDevice::resolve`]): the server is told the
/// concrete device, never `auto`.
pub fn serving_config(
    model: &ModelSpec,
    served_name: &str,
    paths: ResolvedPaths,
    site: Option<SiteConfig>,
    limits: Option<&ServingLimits>,
    device: ServingDevice,
) -> ServingConfig {
    let mut limits = limits.cloned().unwrap_or_default();
    limits.device = Some(device);
    ServingConfig {
        api_version: CONFIG_API_VERSION.to_string(),
        kind: SERVING_CONFIG_KIND.to_string(),
        model: ServedModel {
            name: served_name.to_string(),
            architecture: model.architecture,
            format: model.format,
            path: paths.model,
            tokenizer_path: paths.tokenizer,
        },
        adapters: paths.adapters.into_iter().map(|(name, path)| ServedAdapter { name, path }).collect(),
        site,
        limits,
    }
}

/// Where a model's files are, once staged.
#[derive(Clone, Debug, Default)]
pub struct ResolvedPaths {
    pub model: String,
    pub tokenizer: Option<String>,
    /// (adapter name, directory)
    pub adapters: Vec<(String, String)>,
}

/// The adapters a server loads: entries of `spec.adapters` (with their index, for error
/// fields), and a trained one (name, directory on the training volume the caller mounts).
#[derive(Default)]
pub(crate) struct ServerAdapters<'a> {
    pub declared: Vec<(usize, &'a AdapterSpec)>,
    pub trained: Option<(String, String)>,
}

/// Stages the model, its tokenizer and `adapters` into the pod, and builds the serving
/// configuration that points at where they land in the container.
pub(crate) fn stage_serving(
    model: &ModelSpec,
    served_name: &str,
    adapters: ServerAdapters<'_>,
    site: Option<SiteConfig>,
    limits: Option<&ServingLimits>,
    device: ServingDevice,
    image: &str,
) -> Result<(String, Vec<StagedArtifact>), RenderError> {
    let model_kind = match model.format {
        ModelFormat::Gguf => ArtifactKind::File,
        ModelFormat::Safetensors => ArtifactKind::Directory(SAFETENSORS_MODEL_FILES),
    };
    let staged_model = stage(&model.source, "model", MODEL_DIR, model_kind, image, "spec.model.source.uri")?;
    let mut paths = ResolvedPaths { model: staged_model.local_path.clone(), ..Default::default() };
    let mut artifacts = vec![staged_model];
    if let Some(tokenizer) = &model.tokenizer {
        let staged =
            stage(tokenizer, "tokenizer", TOKENIZER_DIR, ArtifactKind::File, image, "spec.model.tokenizer.uri")?;
        paths.tokenizer = Some(staged.local_path.clone());
        artifacts.push(staged);
    }
    for (index, adapter) in adapters.declared {
        let staged = stage(
            &adapter.source,
            &format!("lora-{}", adapter.name),
            &format!("{ADAPTER_DIR}/{}", adapter.name),
            ArtifactKind::Directory(ADAPTER_FILES),
            image,
            &format!("spec.adapters[{index}].source.uri"),
        )?;
        paths.adapters.push((adapter.name.clone(), staged.local_path.clone()));
        artifacts.push(staged);
    }
    // A trained adapter is read from the training volume the caller mounts.
    paths.adapters.extend(adapters.trained);
    let yaml = serving_config(model, served_name, paths, site, limits, device)
        .to_yaml()
        .map_err(|e| RenderError::Config(e.to_string()))?;
    Ok((yaml, artifacts))
}

/// FNV-1a: a hash that is stable across releases and platforms (unlike std's), for
/// names and annotations derived from content.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests;
