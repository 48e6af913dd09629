//! Loads a served model (weights, tokenizer, chat template) from disk.

use std::io::{BufReader, Read, Seek, SeekFrom};
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
    #[error(transparent)]
    ChatTemplate(#[from] crate::chat_template::TemplateError),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Caps the model's context length.
    pub context_limit: Option<usize>,
    /// Re-quantize GGUF weight types without fast CPU kernels (Q4_1, Q5_x) to Q8_0.
    pub requantize: bool,
    /// Where the weights live. Only LLaMA safetensors checkpoints run on CUDA.
    pub device: DeviceSpec,
    /// Weight and activation type; `None`: f32 on the CPU, f16 on CUDA.
    pub dtype: Option<WeightDType>,
    /// A Jinja chat template that replaces the model's own (for models that ship none).
    pub chat_template: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { context_limit: None, requantize: true, device: DeviceSpec::Cpu, dtype: None, chat_template: None }
    }
}

/// `cpu`, `cuda` (device 0) or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device {text:?} (expected cpu, cuda or cuda:N)")),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device; CUDA needs a build with the `cuda` feature and a driver.
    pub fn open(self) -> Result<Device, LoadError> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => {
                let device = Device::new_cuda(n).map_err(|error| {
                    LoadError::Unsupported(format!(
                        "opening cuda:{n}: {error} (CUDA needs a build with --features cuda)"
                    ))
                })?;
                #[cfg(feature = "cuda")]
                if let Device::Cuda(cuda) = &device {
                    // SAFETY: NetGPT queues all work for a device on candle's one stream, so
                    // no cross-stream ordering is needed; tracking would create and destroy
                    // two CUDA events for every tensor allocated (hundreds per decode step).
                    unsafe { cuda.disable_event_tracking() };
                }
                Ok(device)
            }
        }
    }
}

/// Weight types of safetensors checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightDType {
    F32,
    F16,
    Bf16,
}

impl WeightDType {
    fn candle(self) -> candle_core::DType {
        match self {
            Self::F32 => candle_core::DType::F32,
            Self::F16 => candle_core::DType::F16,
            Self::Bf16 => candle_core::DType::BF16,
        }
    }
}

/// Loads any supported model.
pub fn load(source: &ModelSource, options: LoadOptions) -> Result<LoadedModel, LoadError> {
    let context_limit = options.context_limit;
    let cpu_only = |kind: &str| {
        LoadError::Unsupported(format!("{kind} models run on the CPU only; {} was asked for", options.device))
    };
    if !matches!(source, ModelSource::LlamaSafetensors { .. }) {
        if options.device != DeviceSpec::Cpu {
            return Err(cpu_only(if matches!(source, ModelSource::LlamaGguf(_)) { "GGUF" } else { "GPT-2" }));
        }
        if options.dtype.is_some_and(|dtype| dtype != WeightDType::F32) {
            return Err(LoadError::Unsupported("only LLaMA safetensors models take --dtype".into()));
        }
    }
    match source {
        ModelSource::LlamaGguf(path) => load_gguf(path, options),
        ModelSource::Gpt2Safetensors { dir, tokenizer } => {
            let started = Instant::now();
            let model = Gpt2::from_dir(dir, &Device::Cpu)?;
            finish_safetensors(
                Box::new(model),
                dir,
                tokenizer.as_deref(),
                context_limit,
                options.chat_template,
                started,
            )
        }
        ModelSource::LlamaSafetensors { dir, tokenizer } => {
            let started = Instant::now();
            let device = options.device.open()?;
            let default = if device.is_cpu() { WeightDType::F32 } else { WeightDType::F16 };
            let model = HfLlama::from_dir_as(dir, &device, options.dtype.unwrap_or(default).candle())?;
            finish_safetensors(
                Box::new(model),
                dir,
                tokenizer.as_deref(),
                context_limit,
                options.chat_template,
                started,
            )
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
    template_override: Option<String>,
    started: Instant,
) -> Result<LoadedModel, LoadError> {
    let (tokenizer, chat_template) = hf_tokenizer(dir, tokenizer_path, template_override)?;
    let model_context = model.context_length();
    Ok(LoadedModel {
        model,
        tokenizer,
        chat_template,
        context_length: context_limit.map_or(model_context, |limit| limit.min(model_context)),
        load_duration: started.elapsed(),
    })
}

/// The tokenizer (`tokenizer.json`, or `tokenizer_path`) and chat template of a Hugging
/// Face model directory: `tokenizer_config.json` gives the template and the BOS/EOS
/// strings it sees; `template_override` replaces its template.
pub fn hf_tokenizer(
    dir: &Path,
    tokenizer_path: Option<&Path>,
    template_override: Option<String>,
) -> Result<(TextTokenizer, ChatTemplate), LoadError> {
    let tokenizer_path = tokenizer_path.map(Path::to_path_buf).unwrap_or_else(|| dir.join("tokenizer.json"));
    let config = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .unwrap_or_default();
    // `bos_token` is a string, or an AddedToken object with its `content`.
    let token = |key: &str| match &config[key] {
        serde_json::Value::String(token) => Some(token.clone()),
        other => other["content"].as_str().map(str::to_string),
    };
    let tokenizer = TextTokenizer::from_tokenizer_json(&tokenizer_path)?
        .with_special_token_strings(token("bos_token"), token("eos_token"));
    let source = template_override.or_else(|| config["chat_template"].as_str().map(str::to_string));
    let chat_template = ChatTemplate::new(source.as_deref(), tokenizer.bos_token(), tokenizer.eos_token())?;
    Ok((tokenizer, chat_template))
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
    let not_gguf = |source| LoadError::NotGguf { path: path.to_path_buf(), source };
    check_gguf_alignment(&mut file).map_err(not_gguf)?;
    let content = gguf_file::Content::read(&mut file).map_err(not_gguf)?;
    let tokenizer = TextTokenizer::from_gguf(&content)?;
    let model = Llama::from_gguf_with(&content, &mut file, &Device::Cpu, options.requantize)?;
    let source = options.chat_template.as_deref().or(tokenizer.chat_template());
    let chat_template = ChatTemplate::new(source, tokenizer.bos_token(), tokenizer.eos_token())?;
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

/// Rejects a GGUF file whose `general.alignment` is 0 before candle parses it, and
/// rewinds the file.
///
/// candle-core 0.11.1's `gguf_file::Content::read` rounds the tensor data offset up to
/// that alignment with `div_ceil`, which panics on 0 (found by the `gguf_load` fuzz
/// target; fixed upstream by huggingface/candle#3876, not released yet). This walks the
/// metadata as candle does, keeping nothing, and looks only at that key (the last entry
/// wins, as in candle's map). Whatever it cannot walk is left for candle to report.
fn check_gguf_alignment<R: Read + Seek>(file: &mut R) -> Result<(), candle_core::Error> {
    let start = file.stream_position()?;
    let zero = {
        let mut walker = MetadataWalker { reader: BufReader::new(&mut *file), wide: true };
        walker.alignment_is_zero().unwrap_or(false)
    };
    file.seek(SeekFrom::Start(start))?;
    if zero {
        candle_core::bail!("gguf: general.alignment is 0");
    }
    Ok(())
}

/// Reads GGUF metadata entries without keeping them (see [`check_gguf_alignment`]).
struct MetadataWalker<R> {
    reader: BufReader<R>,
    /// v2/v3 lengths and counts are u64; v1's are u32.
    wide: bool,
}

/// GGUF value types that candle accepts as `general.alignment` (u8, i8, u16, i16, u32,
/// i32), with their sizes; other types make candle use the default alignment.
fn alignment_type_size(value_type: u32) -> Option<usize> {
    match value_type {
        0 | 1 => Some(1),
        2 | 3 => Some(2),
        4 | 5 => Some(4),
        _ => None,
    }
}

impl<R: Read + Seek> MetadataWalker<R> {
    /// Depth of nested arrays candle accepts.
    const MAX_DEPTH: usize = 64;

    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.reader.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn length(&mut self) -> std::io::Result<u64> {
        if self.wide { Ok(u64::from_le_bytes(self.bytes()?)) } else { Ok(u64::from(self.u32()?)) }
    }

    fn skip(&mut self, bytes: u64) -> std::io::Result<()> {
        let bytes = i64::try_from(bytes).map_err(|_| std::io::ErrorKind::InvalidData)?;
        self.reader.seek_relative(bytes)
    }

    /// Whether the file's (last) `general.alignment` is an integer 0.
    fn alignment_is_zero(&mut self) -> std::io::Result<bool> {
        const KEY: &[u8; 17] = b"general.alignment";
        let _magic = self.u32()?;
        self.wide = self.u32()? >= 2;
        let _tensor_count = self.length()?;
        let entries = self.length()?;
        let mut zero = false;
        for _ in 0..entries {
            let key_length = self.length()?;
            let is_alignment = key_length == KEY.len() as u64 && &self.bytes::<17>()? == KEY;
            if key_length != KEY.len() as u64 {
                self.skip(key_length)?;
            }
            let value_type = self.u32()?;
            match (is_alignment, alignment_type_size(value_type)) {
                (true, Some(size)) => {
                    let mut value = [0u8; 4];
                    self.reader.read_exact(&mut value[..size])?;
                    zero = value == [0; 4];
                }
                (true, None) => {
                    zero = false;
                    self.skip_value(value_type, 0)?;
                }
                (false, _) => self.skip_value(value_type, 0)?,
            }
        }
        Ok(zero)
    }

    fn skip_value(&mut self, value_type: u32, depth: usize) -> std::io::Result<()> {
        let fixed = |value_type: u32| match value_type {
            0 | 1 | 7 => Some(1u64),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        if let Some(size) = fixed(value_type) {
            return self.skip(size);
        }
        match value_type {
            8 => {
                let length = self.length()?;
                self.skip(length)
            }
            9 if depth < Self::MAX_DEPTH => {
                let element_type = self.u32()?;
                let count = self.length()?;
                if let Some(size) = fixed(element_type) {
                    return self.skip(count.checked_mul(size).ok_or(std::io::ErrorKind::InvalidData)?);
                }
                for _ in 0..count {
                    self.skip_value(element_type, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(std::io::ErrorKind::InvalidData.into()),
        }
    }
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
        quantized_kernels = ?netgpt_kernels::Isa::current(),
        "CPU kernels"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::model::SequenceStep;

    /// The `gguf_load` fuzz target's seed: a complete one-layer LLaMA of 5 KB
    /// (`fuzz/make_seeds.py`).
    const TINY: &[u8] = include_bytes!("../../fuzz/corpus/gguf_load/tiny-llama");

    fn load_bytes(bytes: &[u8]) -> Result<LoadedModel, LoadError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("netgpt-loader-{}-{}.gguf", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, bytes).expect("write the test model");
        let result = load_gguf(&path, LoadOptions::default());
        let _ = std::fs::remove_file(&path);
        result
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack.windows(needle.len()).position(|w| w == needle).expect("pattern in the seed")
    }

    /// The tiny model with metadata `key` (a u32 entry) set to `value`.
    fn with_u32(key: &str, value: u32) -> Vec<u8> {
        let mut pattern = key.as_bytes().to_vec();
        pattern.extend(4u32.to_le_bytes());
        let at = find(TINY, &pattern) + pattern.len();
        let mut bytes = TINY.to_vec();
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        bytes
    }

    fn error_of(bytes: &[u8]) -> String {
        match load_bytes(bytes) {
            Ok(_) => panic!("loaded"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_fuzz_seed_loads_and_runs() {
        let loaded = load_bytes(TINY).expect("tiny model");
        assert_eq!(loaded.context_length, 64);
        let ids = loaded.tokenizer.encode("hello").expect("encode");
        assert_eq!(ids, [14]);
        let mut cache = loaded.model.new_cache();
        let logits =
            loaded.model.forward(&mut [SequenceStep { tokens: &[3, 14], cache: &mut cache }]).expect("forward");
        assert_eq!(logits.dims(), [1, 15]);
    }

    #[test]
    fn zero_alignment_is_an_error_not_a_panic() {
        // candle-core 0.11.1 divides by it (huggingface/candle#3876).
        assert!(error_of(&with_u32("general.alignment", 0)).contains("general.alignment is 0"));
        // The shape of the upstream report: no tensors, one u8 entry at the end of the file.
        let minimal = include_bytes!("../../fuzz/corpus/gguf_load/regression-zero-alignment");
        assert!(error_of(minimal).contains("general.alignment is 0"));
        // The check rewinds the file: a non-zero alignment still loads.
        assert!(load_bytes(&with_u32("general.alignment", 32)).is_ok());
    }

    #[test]
    fn metadata_that_would_allocate_without_bound_is_rejected() {
        // Each used to size an allocation by a u32 from the file: a `Vec` of 2^32 layers,
        // RoPE tables of 2^32 rows.
        assert!(error_of(&with_u32("llama.block_count", u32::MAX)).contains("block_count"));
        assert!(error_of(&with_u32("llama.context_length", u32::MAX)).contains("context_length"));
        assert!(error_of(&with_u32("llama.context_length", 0)).contains("context_length"));
        assert!(error_of(&with_u32("llama.embedding_length", 1 << 30)).contains("embedding_length"));
        assert!(error_of(&with_u32("llama.rope.dimension_count", u32::MAX)).contains("rope.dimension_count"));
        assert!(error_of(&with_u32("llama.attention.head_count", 0)).contains("head_count"));
        assert!(error_of(&with_u32("llama.attention.head_count_kv", 0)).contains("head_count_kv"));
    }

    #[test]
    fn fuzz_crash_inputs_are_errors() {
        // Inputs the `gguf_load` fuzz target crashed on (kept in its seed corpus): a shape
        // whose element count overflows, one whose byte size overflows, and an empty
        // tensor (candle's misaligned empty slice).
        for (name, bytes) in [
            ("shape-overflow", &include_bytes!("../../fuzz/corpus/gguf_load/regression-shape-overflow")[..]),
            ("size-overflow", &include_bytes!("../../fuzz/corpus/gguf_load/regression-size-overflow")[..]),
            ("empty-tensor", &include_bytes!("../../fuzz/corpus/gguf_load/regression-empty-tensor")[..]),
        ] {
            assert!(load_bytes(bytes).is_err(), "{name} loaded");
        }
    }

    #[test]
    fn tensor_shapes_that_overflow_are_rejected() {
        // token_embd.weight's two dimensions, as stored: n_dims = 2, then u64s.
        let mut pattern = b"token_embd.weight".to_vec();
        pattern.extend(2u32.to_le_bytes());
        let at = find(TINY, &pattern) + pattern.len();
        let mut bytes = TINY.to_vec();
        bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        bytes[at + 8..at + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(error_of(&bytes).contains("does not fit in the file"));
    }
}
