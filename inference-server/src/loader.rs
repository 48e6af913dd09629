//! Loads a served model (weights, tokenizer, chat template) from disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::Device;
use candle_core::quantized::gguf_file;

use crate::chat_template::ChatTemplate;
use crate::gpt2::Gpt2;
use crate::hf_llama::HfLlama;
use crate::llama::{Llama, ModelError};
use crate::model::LanguageModel;
use crate::tokenizer::{TextTokenizer, TokenizerError};

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
    #[error(transparent)]
    Checkpoint(#[from] crate::model::CheckpointError),
    #[error("configured LoRA {0}")]
    Adapter(#[from] crate::lora::RegistryError),
}

/// Where a model's files are and what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A LLaMA-family GGUF file (tokenizer and chat template inside).
    LlamaGguf(PathBuf),
    /// A Hugging Face GPT-2 directory (`config.json`, `model.safetensors`) and its
    /// `tokenizer.json` (default: inside the directory).
    Gpt2Safetensors { dir: PathBuf, tokenizer: Option<PathBuf> },
    /// A Hugging Face LLaMA directory, likewise.
    LlamaSafetensors { dir: PathBuf, tokenizer: Option<PathBuf> },
}

impl ModelSource {
    /// Guesses the kind from the path: a file is GGUF; a directory is a safetensors
    /// checkpoint whose `config.json` `model_type` says GPT-2 or (otherwise) LLaMA.
    pub fn from_path(path: &Path, tokenizer: Option<PathBuf>) -> Self {
        if !path.is_dir() {
            return Self::LlamaGguf(path.to_path_buf());
        }
        let model_type = std::fs::read_to_string(path.join("config.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|config| config["model_type"].as_str().map(str::to_string));
        let dir = path.to_path_buf();
        if model_type.as_deref() == Some("gpt2") {
            Self::Gpt2Safetensors { dir, tokenizer }
        } else {
            Self::LlamaSafetensors { dir, tokenizer }
        }
    }

    /// The model file or directory.
    pub fn path(&self) -> &Path {
        match self {
            Self::LlamaGguf(path) => path,
            Self::Gpt2Safetensors { dir, .. } | Self::LlamaSafetensors { dir, .. } => dir,
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Caps the model's context length.
    pub context_limit: Option<usize>,
    /// Re-quantize GGUF weight types without fast CPU kernels (Q4_1, Q5_x) to Q8_0.
    pub requantize: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { context_limit: None, requantize: true }
    }
}

/// Loads any supported model.
pub fn load(source: &ModelSource, options: LoadOptions) -> Result<LoadedModel, LoadError> {
    let context_limit = options.context_limit;
    match source {
        ModelSource::LlamaGguf(path) => load_gguf(path, options),
        ModelSource::Gpt2Safetensors { dir, tokenizer } => {
            let started = Instant::now();
            let model = Gpt2::from_dir(dir, &Device::Cpu)?;
            finish_safetensors(Box::new(model), dir, tokenizer.as_deref(), context_limit, started)
        }
        ModelSource::LlamaSafetensors { dir, tokenizer } => {
            let started = Instant::now();
            let model = HfLlama::from_dir(dir, &Device::Cpu)?;
            finish_safetensors(Box::new(model), dir, tokenizer.as_deref(), context_limit, started)
        }
    }
}

/// Adds the tokenizer (`tokenizer.json`) and chat template (`tokenizer_config.json`'s
/// `chat_template`, when present) of a Hugging Face model directory.
fn finish_safetensors(
    model: Box<dyn LanguageModel>,
    dir: &Path,
    tokenizer_path: Option<&Path>,
    context_limit: Option<usize>,
    started: Instant,
) -> Result<LoadedModel, LoadError> {
    let tokenizer_path = tokenizer_path.map(Path::to_path_buf).unwrap_or_else(|| dir.join("tokenizer.json"));
    let tokenizer = TextTokenizer::from_tokenizer_json(&tokenizer_path)?;
    let template_source = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|config| config["chat_template"].as_str().map(str::to_string));
    let model_context = model.context_length();
    Ok(LoadedModel {
        model,
        tokenizer,
        chat_template: ChatTemplate::from_template_source(template_source.as_deref()),
        context_length: context_limit.map_or(model_context, |limit| limit.min(model_context)),
        load_duration: started.elapsed(),
    })
}

/// A model ready to serve.
pub struct LoadedModel {
    pub model: Box<dyn LanguageModel>,
    pub tokenizer: TextTokenizer,
    pub chat_template: ChatTemplate,
    /// Positions the model supports (from the file, capped by configuration).
    pub context_length: usize,
    pub load_duration: Duration,
}

/// Loads a LLaMA-family GGUF file.
pub fn load_gguf(path: &Path, options: LoadOptions) -> Result<LoadedModel, LoadError> {
    let context_limit = options.context_limit;
    let started = Instant::now();
    let mut file = std::fs::File::open(path).map_err(|source| LoadError::Open { path: path.to_path_buf(), source })?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|source| LoadError::NotGguf { path: path.to_path_buf(), source })?;
    let tokenizer = TextTokenizer::from_gguf(&content)?;
    let model = Llama::from_gguf_with(&content, &mut file, &Device::Cpu, options.requantize)?;
    let chat_template = ChatTemplate::from_template_source(tokenizer.chat_template());
    let model_context = model.config().context_length;
    let context_length = context_limit.map_or(model_context, |limit| limit.min(model_context));
    Ok(LoadedModel {
        model: Box::new(model),
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
        quantized_kernels = ?crate::kernels::Isa::current(),
        "CPU kernels"
    );
}
