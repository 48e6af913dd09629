//! What every served network shares: per-sequence KV caches, batched forward steps and
//! the attention over a sequence's cache.

use candle_core::{DType, Device, IndexOp, Tensor};

use crate::lora::{LoraAdapter, LoraLayout};

/// Errors loading a Hugging Face checkpoint directory (`config.json` + safetensors),
/// shared by the GPT-2 and LLaMA safetensors loaders.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config.json: {0}")]
    Config(#[from] serde_json::Error),
    #[error("unsupported {family} variant: {detail}")]
    Unsupported { family: &'static str, detail: String },
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<candle_core::Error> for CheckpointError {
    fn from(error: candle_core::Error) -> Self {
        Self::Model(ModelError::Candle(error))
    }
}

/// Errors loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model metadata {0} is missing or has the wrong type")]
    Metadata(String),
    #[error("unsupported architecture {0:?}")]
    UnsupportedArchitecture(String),
    /// A model file whose metadata or tensor table contradicts itself or asks for more
    /// memory than the file justifies.
    #[error("invalid model file: {0}")]
    Invalid(String),
    #[error("position {position} is beyond the model's context length {context_length}")]
    ContextExceeded { position: usize, context_length: usize },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Keys and values a sequence has produced so far, one pair per layer. Not `Clone`: the
/// tensors are written in place, so clones would share (and overwrite) one another's.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    len: usize,
}

/// One layer's keys and values, `[1, kv_heads, capacity, head_dim]`, filled up to the
/// sequence's length. Capacity grows by doubling, so appending a token writes it in place
/// instead of copying the whole cache (`Tensor::cat`) on every step.
#[derive(Debug, Clone)]
struct LayerCache {
    keys: Tensor,
    values: Tensor,
    capacity: usize,
}

/// Positions a new cache layer holds before its first growth.
const INITIAL_CACHE_POSITIONS: usize = 64;

impl LayerCache {
    fn with_capacity(
        (batch, heads, head_dim): (usize, usize, usize),
        dtype: DType,
        device: &Device,
        capacity: usize,
    ) -> candle_core::Result<Self> {
        let zeros = || Tensor::zeros((batch, heads, capacity, head_dim), dtype, device);
        Ok(Self { keys: zeros()?, values: zeros()?, capacity })
    }

    /// Makes the cache in `slot` hold at least `end` positions (`[batch, heads, ·, head_dim]`
    /// of `dtype` on `device`), keeping the first `position` ones, and returns it.
    fn reserve<'a>(
        slot: &'a mut Option<Self>,
        dims: (usize, usize, usize),
        dtype: DType,
        device: &Device,
        position: usize,
        end: usize,
    ) -> candle_core::Result<&'a Self> {
        let cache = match slot.take() {
            Some(cache) if cache.capacity >= end => cache,
            Some(old) => {
                let grown = Self::with_capacity(dims, dtype, device, end.next_power_of_two().max(old.capacity * 2))?;
                if position > 0 {
                    grown.keys.slice_set(&old.keys.narrow(2, 0, position)?.contiguous()?, 2, 0)?;
                    grown.values.slice_set(&old.values.narrow(2, 0, position)?.contiguous()?, 2, 0)?;
                }
                grown
            }
            None => Self::with_capacity(dims, dtype, device, end.next_power_of_two().max(INITIAL_CACHE_POSITIONS))?,
        };
        Ok(slot.insert(cache))
    }

    /// Writes `k`/`v` at `position` and returns the (shared) cache tensors.
    fn append(slot: &mut Option<Self>, position: usize, k: &Tensor, v: &Tensor) -> candle_core::Result<Self> {
        let (batch, heads, len, head_dim) = k.dims4()?;
        let cache = Self::reserve(slot, (batch, heads, head_dim), k.dtype(), k.device(), position, position + len)?;
        cache.keys.slice_set(&k.contiguous()?, 2, position)?;
        cache.values.slice_set(&v.contiguous()?, 2, position)?;
        Ok(cache.clone())
    }
}

impl KvCache {
    /// An empty cache for a model with `layers` layers.
    pub fn new(layers: usize) -> Self {
        Self { layers: vec![None; layers], len: 0 }
    }

    /// Number of positions already processed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been processed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes `layer`'s cache (`[1, kv_heads, capacity, head_dim]`) hold at least `end`
    /// positions and returns its key and value tensors, which share storage with the cache:
    /// kernels write new positions into them in place. Growth doubles the capacity.
    #[cfg(feature = "cuda")]
    pub(crate) fn reserve(
        &mut self,
        layer: usize,
        (kv_heads, head_dim): (usize, usize),
        dtype: DType,
        device: &Device,
        end: usize,
    ) -> candle_core::Result<(Tensor, Tensor, usize)> {
        let Some(slot) = self.layers.get_mut(layer) else {
            candle_core::bail!("no cache for layer {layer}");
        };
        let cache = LayerCache::reserve(slot, (1, kv_heads, head_dim), dtype, device, self.len, end)?;
        Ok((cache.keys.clone(), cache.values.clone(), cache.capacity))
    }

    /// Host (CPU, f32) access to `layer`'s cache grown to hold `end` positions: `f` gets
    /// the keys and values (`[kv_heads, capacity, head_dim]`), writable so that new
    /// positions are stored in place, and the capacity.
    pub(crate) fn with_host_layer<R>(
        &mut self,
        layer: usize,
        (kv_heads, head_dim): (usize, usize),
        end: usize,
        f: impl FnOnce(&mut [f32], &mut [f32], usize) -> R,
    ) -> candle_core::Result<R> {
        let Some(slot) = self.layers.get_mut(layer) else {
            candle_core::bail!("no cache for layer {layer}");
        };
        let cache = LayerCache::reserve(slot, (1, kv_heads, head_dim), DType::F32, &Device::Cpu, self.len, end)?;
        let capacity = cache.capacity;
        netgpt_kernels::with_f32_mut(&cache.keys, |keys| {
            netgpt_kernels::with_f32_mut(&cache.values, |values| f(keys, values, capacity))
        })?
    }

    /// A deep copy whose first `positions` positions are this cache's (a shared prompt
    /// prefix): the copy owns its storage, so writing new positions into it never touches
    /// this cache, and the positions after `positions` are overwritten as it grows.
    pub fn fork_prefix(&self, positions: usize) -> candle_core::Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                layer
                    .as_ref()
                    .map(|c| Ok(LayerCache { keys: c.keys.copy()?, values: c.values.copy()?, capacity: c.capacity }))
                    .transpose()
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { layers, len: positions.min(self.len) })
    }

    /// Bytes the cache's tensors hold (all of their capacity).
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|c| (c.keys.elem_count() + c.values.elem_count()) * c.keys.dtype().size_in_bytes())
            .sum()
    }

    /// Records that `tokens` more positions were processed (after all layers ran).
    pub(crate) fn advance(&mut self, tokens: usize) {
        self.len += tokens;
    }
}

/// New tokens of one sequence for a forward step, with that sequence's cache.
pub struct SequenceStep<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
}

/// How many new tokens each sequence brings to a step (what LoRA groups rows by).
pub(crate) fn step_tokens(steps: &[SequenceStep<'_>]) -> Vec<usize> {
    steps.iter().map(|s| s.tokens.len()).collect()
}

/// A decoder-only network that runs several sequences per step.
pub trait LanguageModel: Send + 'static {
    /// Runs the new tokens of each sequence, appends them to the sequences' caches and
    /// returns the logits after each sequence's last token, `[sequences, vocab]`.
    fn forward(&self, steps: &mut [SequenceStep<'_>]) -> Result<Tensor, ModelError> {
        self.forward_with_adapters(steps, &[])
    }
    /// [`LanguageModel::forward`] with a LoRA adapter (or none) per sequence; `adapters`
    /// is parallel to `steps`, or empty for none at all.
    fn forward_with_adapters(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError>;
    /// The projections adapters can target; `None` when the model takes no adapters.
    fn lora_layout(&self) -> Option<LoraLayout> {
        None
    }
    /// A fresh cache for a new sequence.
    fn new_cache(&self) -> KvCache;
    /// Positions the network supports.
    fn context_length(&self) -> usize;
}

/// Fails when a step would run past `context_length`.
pub(crate) fn check_context(steps: &[SequenceStep<'_>], context_length: usize) -> Result<(), ModelError> {
    for step in steps {
        let end = step.cache.len() + step.tokens.len();
        if end > context_length {
            return Err(ModelError::ContextExceeded { position: end, context_length });
        }
    }
    Ok(())
}

/// The attention head size NetGPT's CUDA kernels are written for.
pub(crate) const CUDA_HEAD_DIM: usize = 128;

/// Attention shapes of one model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Appends `k`/`v` (`[1, kv_heads, len, head_dim]`) to the cache of `layer` and attends
/// `q` (`[1, heads, len, head_dim]`) over everything cached, causally. Returns
/// `[1, len, heads * head_dim]`.
///
/// Grouped-query attention folds the heads sharing a KV head into the query rows
/// (`[1, kv_heads, groups·len, head_dim]`) instead of repeating the cache per head.
pub(crate) fn cached_attention(
    cache: &mut KvCache,
    layer: usize,
    shape: AttentionShape,
    q: &Tensor,
    k: Tensor,
    v: Tensor,
) -> candle_core::Result<Tensor> {
    let len = q.dim(2)?;
    let position = cache.len();
    let layer_cache = LayerCache::append(&mut cache.layers[layer], position, &k, &v)?;
    let kv_len = position + len;
    let kv_heads = shape.kv_heads.max(1);
    let groups = shape.heads / kv_heads;
    if len <= netgpt_kernels::attention::MAX_QUERY_ROWS
        && let Some(y) = netgpt_kernels::attention::attend_cached(
            q,
            &layer_cache.keys,
            &layer_cache.values,
            position,
            netgpt_kernels::attention::Heads { kv_heads, groups, head_dim: shape.head_dim },
        )?
    {
        return Ok(y);
    }
    let k = layer_cache.keys.narrow(2, 0, kv_len)?;
    let v = layer_cache.values.narrow(2, 0, kv_len)?;
    let q = q.contiguous()?.reshape((1, kv_heads, groups * len, shape.head_dim))?;
    let scores = (q.matmul(&k.t()?)? / (shape.head_dim as f64).sqrt())?;
    let scores = if len > 1 {
        scores
            .reshape((1, kv_heads, groups, len, kv_len))?
            .broadcast_add(&causal_mask(len, position, q.device())?.to_dtype(scores.dtype())?)?
            .reshape((1, kv_heads, groups * len, kv_len))?
    } else {
        scores
    };
    let weights = candle_nn::ops::softmax_last_dim(&scores)?;
    weights.matmul(&v)?.reshape((1, shape.heads, len, shape.head_dim))?.transpose(1, 2)?.reshape((
        1,
        len,
        shape.heads * shape.head_dim,
    ))
}

/// Row indexes of each sequence's last token in the concatenated batch.
pub(crate) fn last_token_rows(steps: &[SequenceStep<'_>], device: &Device) -> candle_core::Result<Tensor> {
    let mut rows = Vec::with_capacity(steps.len());
    let mut offset = 0usize;
    for step in steps {
        offset += step.tokens.len();
        rows.push((offset - 1) as u32);
    }
    Tensor::from_vec(rows, steps.len(), device)
}

/// The hidden state after each sequence's last new token, `[sequences, hidden]`, from a
/// step's `[1, total, hidden]` (what the head turns into next-token logits).
pub(crate) fn last_hidden(hidden: &Tensor, steps: &[SequenceStep<'_>], device: &Device) -> candle_core::Result<Tensor> {
    hidden.i(0)?.index_select(&last_token_rows(steps, device)?, 0)
}

/// The new tokens of every sequence of a step, in order, as one `[1, total]` row of ids
/// (every model batches a step as one long row).
pub(crate) fn step_ids(steps: &[SequenceStep<'_>], device: &Device) -> candle_core::Result<Tensor> {
    let ids: Vec<u32> = steps.iter().flat_map(|s| s.tokens.iter().copied()).collect();
    let total = ids.len();
    Tensor::from_vec(ids, (1, total), device)
}

/// Additive mask `[len, position + len]`: query `i` (at `position + i`) sees keys up to
/// and including its own position.
fn causal_mask(len: usize, position: usize, device: &Device) -> candle_core::Result<Tensor> {
    let kv_len = position + len;
    let mask: Vec<f32> = (0..len)
        .flat_map(|i| (0..kv_len).map(move |j| if j > position + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (len, kv_len), device)
}

pub use netgpt_kernels::math::{exp_approx, lanes, log_softmax, log_sum_exp};

/// Converts `[sequences, vocab]` logits into one host vector per sequence.
pub fn logits_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>, ModelError> {
    Ok(logits.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}
