//! NetGPT's per-site adapters, made rather than templated (the paper's §II, Fig. 3): a
//! teacher model writes concise → comprehensive prompt pairs for a site
//! ([`dataset`]), LoRA fine-tuning with candle over the exact base the edge serves turns
//! them into a PEFT adapter ([`model`], [`trainer`], [`peft`]), and [`eval`] measures what
//! the adapter changed against the template on prompts it never saw.

pub mod base;
pub mod cli;
pub mod client;
pub mod data;
pub mod dataset;
pub mod eval;
pub mod family;
pub mod gpt2;
pub mod model;
pub mod peft;
pub mod sites;
pub mod terms;
pub mod trainer;

/// Errors of dataset generation, training and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("base model: {0}")]
    Base(String),
    #[error("dataset: {0}")]
    Data(String),
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("teacher: {0}")]
    Teacher(String),
    #[error("writing the adapter: {0}")]
    Output(String),
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Writes a step's one-line JSON summary (Kubernetes reads at most 4 KiB of a
/// termination message; these are well under).
pub fn write_summary(path: Option<&std::path::Path>, summary: &serde_json::Value) -> Result<(), TrainError> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(path, summary.to_string()).map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))
}

/// The base model a command names, else the cached default (pulled on first use).
pub fn base_model_path(given: Option<&std::path::Path>) -> Result<std::path::PathBuf, TrainError> {
    match given {
        Some(path) => Ok(path.to_path_buf()),
        None => netgpt_inference::ensure_default_model().map_err(|e| TrainError::Base(e.to_string())),
    }
}
