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

/// Errors reading a configuration file.
#[derive(Debug)]
pub enum ConfigError {
    /// The file is not valid YAML for this type.
    Parse(serde_norway::Error),
    /// `apiVersion`/`kind` name another configuration.
    WrongKind { api_version: String, kind: String },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "invalid serving configuration: {e}"),
            Self::WrongKind { api_version, kind } => write!(
                f,
                "expected apiVersion {CONFIG_API_VERSION} kind {SERVING_CONFIG_KIND}, found {api_version} {kind}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ServingConfig {
    /// Parses and checks a configuration file's text.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_norway::from_str(text).map_err(ConfigError::Parse)?;
        if config.api_version != CONFIG_API_VERSION || config.kind != SERVING_CONFIG_KIND {
            return Err(ConfigError::WrongKind {
                api_version: config.api_version,
                kind: config.kind,
            });
        }
        Ok(config)
    }

    /// Renders the configuration as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        serde_norway::to_string(self)
    }
}
