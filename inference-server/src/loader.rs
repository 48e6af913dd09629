//! Loads a served model (weights, tokenizer, chat template) from disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::Device;
use candle_core::quantized::gguf_file;

use crate::chat_template::ChatTemplate;
use crate::gguf_tokenizer::{GgufTokenizer, TokenizerError};
use crate::llama::{Llama, ModelError};

/// Errors loading a model.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readable GGUF file: {source}")]
    NotGguf {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// A model ready to serve.
pub struct LoadedModel {
    pub model: Llama,
    pub tokenizer: GgufTokenizer,
    pub chat_template: ChatTemplate,
    /// Positions the model supports (from the file, capped by configuration).
    pub context_length: usize,
    pub load_duration: Duration,
}

/// Loads a LLaMA-family GGUF file. `context_limit` caps the file's context length.
pub fn load_gguf(path: &Path, context_limit: Option<usize>) -> Result<LoadedModel, LoadError> {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).map_err(|source| LoadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let content = gguf_file::Content::read(&mut file).map_err(|source| LoadError::NotGguf {
        path: path.to_path_buf(),
        source,
    })?;
    let tokenizer = GgufTokenizer::from_gguf(&content)?;
    let model = Llama::from_gguf(&content, &mut file, &Device::Cpu)?;
    let chat_template = ChatTemplate::from_template_source(tokenizer.chat_template());
    let model_context = model.config().context_length;
    let context_length = context_limit.map_or(model_context, |limit| limit.min(model_context));
    Ok(LoadedModel {
        model,
        tokenizer,
        chat_template,
        context_length,
        load_duration: started.elapsed(),
    })
}

/// Logs the CPU features candle's kernels were compiled for: without AVX2/FMA (a build
/// without `-C target-cpu=…`) quantized matmuls fall back to scalar code.
pub fn log_cpu_features() {
    tracing::info!(
        avx = candle_core::utils::with_avx(),
        f16c = candle_core::utils::with_f16c(),
        neon = candle_core::utils::with_neon(),
        simd128 = candle_core::utils::with_simd128(),
        threads = candle_core::utils::get_num_threads(),
        "candle CPU kernels"
    );
}
