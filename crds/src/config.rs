//! The configuration contract between the operator and the servers it deploys.
//!
//! The operator renders a [`ServingConfig`] into a ConfigMap mounted at
//! `/etc/netgpt/serving.yaml`; `netgpt serve --config` reads the same type. A field added
//! here for the operator is a field the server understands. Command-line flags override
//! file values.

use serde::{Deserialize, Serialize};

use crate::common::{Architecture, ModelFormat, ServingLimits};
use crate::edge::LocationProfile;

/// `apiVersion` of every NetGPT configuration file.
pub const CONFIG_API_VERSION: &str = "netgpt.io/v1alpha1";
/// `kind` of a model server's configuration file.
pub const SERVING_CONFIG_KIND: &str = "ServingConfig";

/// Configuration of one model server (`netgpt serve`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServingConfig {
    /// Always [`CONFIG_API_VERSION`].
    pub api_version: String,
    /// Always [`SERVING_CONFIG_KIND`].
    pub kind: String,
    /// The base model.
    pub model: ServedModel,
    /// LoRA adapters to load before the server reports ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<ServedAdapter>,
    /// The site this server serves (edge servers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteConfig>,
    /// Request and queue limits.
    #[serde(default)]
    pub limits: ServingLimits,
}

/// The base model as the server sees it: local paths, already staged.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServedModel {
    /// Name the OpenAI API serves it under.
    pub name: String,
    /// Model family.
    pub architecture: Architecture,
    /// Weight format.
    pub format: ModelFormat,
    /// Local path of the GGUF file or the safetensors directory.
    pub path: String,
    /// Local path of `tokenizer.json` when not inside the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_path: Option<String>,
}

/// A LoRA adapter directory (PEFT layout) on local disk.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServedAdapter {
    /// Name a request selects it by (`"model": "<name>"`).
    pub name: String,
    /// Directory with `adapter_config.json` and `adapter_model.safetensors`.
    pub path: String,
}

/// The edge site a server serves: its location profile and default adapter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteConfig {
    /// Site name.
    pub name: String,
    /// Location context used for prompt completion.
    #[serde(default)]
    pub location: LocationProfile,
    /// Adapter serving this site's requests by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// `kind` of a gateway / desensitizer configuration file.
pub const WORKFLOW_CONFIG_KIND: &str = "WorkflowConfig";

/// The compiled workflow of one site: what `netgpt gateway` runs for each request and
/// what the `netgpt desensitize` sidecar enforces. The operator renders it into the
/// gateway's ConfigMap (`/etc/netgpt/workflow.yaml`); `netgpt local` renders the same.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowConfig {
    /// Always [`CONFIG_API_VERSION`].
    pub api_version: String,
    /// Always [`WORKFLOW_CONFIG_KIND`].
    pub kind: String,
    /// Name of the LogicalAIWorkflow.
    pub workflow: String,
    /// The site this gateway serves, with its location profile.
    pub site: SiteConfig,
    /// The site's edge model server.
    pub edge: UpstreamModel,
    /// The cloud model server. The gateway never calls it directly: only through the
    /// desensitizer, which proxies to this URL.
    pub cloud: UpstreamModel,
    /// Where the gateway reaches the desensitizer sidecar (e.g. `http://127.0.0.1:8081`).
    pub desensitizer_url: String,
    /// Steps, in order or as a DAG (`dependsOn`).
    pub steps: Vec<crate::workflow::WorkflowStep>,
    /// Edge/cloud routing.
    pub routing: crate::workflow::RoutingPolicy,
    /// What the desensitizer removes and how.
    pub desensitization: crate::workflow::DesensitizationPolicy,
}

/// An OpenAI-compatible model endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamModel {
    /// Base URL, e.g. `http://llama-cloud.ns.svc:8000`.
    pub url: String,
    /// Value of `"model"` in requests (base model or adapter name).
    pub model: String,
}

impl WorkflowConfig {
    /// Parses and checks a workflow configuration file's text.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_norway::from_str(text).map_err(ConfigError::Parse)?;
        if config.api_version != CONFIG_API_VERSION || config.kind != WORKFLOW_CONFIG_KIND {
            return Err(ConfigError::WrongKind { api_version: config.api_version, kind: config.kind });
        }
        Ok(config)
    }

    /// Renders the configuration as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        serde_norway::to_string(self)
    }
}

/// Errors reading a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid YAML for this type.
    #[error("invalid configuration: {0}")]
    Parse(serde_norway::Error),
    /// `apiVersion`/`kind` name another configuration.
    #[error("unexpected apiVersion/kind {api_version} {kind} (want {CONFIG_API_VERSION})")]
    WrongKind { api_version: String, kind: String },
}

impl ServingConfig {
    /// Parses and checks a configuration file's text.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_norway::from_str(text).map_err(ConfigError::Parse)?;
        if config.api_version != CONFIG_API_VERSION || config.kind != SERVING_CONFIG_KIND {
            return Err(ConfigError::WrongKind { api_version: config.api_version, kind: config.kind });
        }
        Ok(config)
    }

    /// Renders the configuration as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        serde_norway::to_string(self)
    }
}
