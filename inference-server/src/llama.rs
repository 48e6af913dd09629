//! LLaMA-family decoder over quantized GGUF weights, with one KV cache per sequence.
//!
//! Adapted from candle-transformers 0.11.1 `models/quantized_llama.rs`
//! (Copyright the candle authors, licensed MIT OR Apache-2.0). Changes:
//! - the KV cache lives outside the weights ([`KvCache`]), so one loaded model serves many
//!   sequences at once;
//! - [`Llama::forward`] takes several sequences at different positions in one call: the
//!   projections and MLP run on all their tokens together (one matmul per weight per step),
//!   attention runs per sequence against its own cache;
//! - RoPE tables cover the context length the file declares instead of a fixed 4096;
//! - projections run on NetGPT's packed kernels ([`netgpt_kernels`]) where the format
//!   has them, with Q/K/V and gate/up stacked into one product each;
//! - mixture-of-experts and the old GGML loader are dropped.

use candle_core::quantized::{QTensor, gguf_file};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Embedding;

use crate::lora::{LoraAdapter, LoraLayout, LoraStep, Target};
use crate::model::{
    AttentionShape, LanguageModel, cached_attention, check_context, last_hidden, step_ids, step_tokens,
};
pub use crate::model::{KvCache, ModelError, SequenceStep, log_softmax, logits_rows};
use netgpt_kernels::attention::{Heads, MAX_QUERY_ROWS, Projections, Rope, attend_sequence};
use netgpt_kernels::{Linear, StackedLinear, with_f32};

/// Longest context a GGUF file may declare: 2^20 positions, beyond every model served
/// here. `context_length` is a u32 in the file; unchecked, a few-KB file asks for RoPE
/// tables of 2^32 rows (found by the `gguf_load` fuzz target).
pub const MAX_CONTEXT_LENGTH: usize = 1 << 20;
/// Most entries one RoPE table (`context_length × rope_dim / 2` f32) may have: 2^26,
/// 256 MiB, what a 2^20-position model with 128-wide heads needs.
const MAX_ROPE_TABLE: usize = 1 << 26;
/// Tensors each layer needs (7 projections, 2 norms).
const TENSORS_PER_LAYER: usize = 9;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub architecture: String,
    pub layer_count: usize,
    pub head_count: usize,
    pub kv_head_count: usize,
    pub embedding_length: usize,
    pub head_dim: usize,
    pub rope_dim: usize,
    pub rope_freq_base: f32,
    pub rms_norm_eps: f64,
    pub context_length: usize,
    /// NEOX RoPE pairs (i, i + d/2); the llama convention pairs (2i, 2i + 1).
    pub rope_is_neox: bool,
}

impl LlamaConfig {
    /// Reads the hyper-parameters of a llama-style GGUF file.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self, ModelError> {
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| ModelError::Metadata("general.architecture".into()))?;
        // Families whose GGUF tensors follow llama's names and layout.
        let rope_is_neox = match architecture.as_str() {
            "llama" | "mistral" => false,
            "qwen2" => true,
            other => return Err(ModelError::UnsupportedArchitecture(other.to_string())),
        };
        let key = |name: &str| format!("{architecture}.{name}");
        let get_u32 = |name: &str| -> Result<usize, ModelError> {
            let k = key(name);
            content.metadata.get(&k).and_then(|v| v.to_u32().ok()).map(|v| v as usize).ok_or(ModelError::Metadata(k))
        };
        let get_f32 = |name: &str| -> Option<f32> { content.metadata.get(&key(name)).and_then(|v| v.to_f32().ok()) };
        let head_count = get_u32("attention.head_count")?;
        let embedding_length = get_u32("embedding_length")?;
        let head_dim = embedding_length / head_count.max(1);
        let config = Self {
            layer_count: get_u32("block_count")?,
            head_count,
            kv_head_count: get_u32("attention.head_count_kv").unwrap_or(head_count),
            embedding_length,
            head_dim,
            rope_dim: get_u32("rope.dimension_count").unwrap_or(head_dim),
            rope_freq_base: get_f32("rope.freq_base").unwrap_or(10_000.0),
            rms_norm_eps: f64::from(get_f32("attention.layer_norm_rms_epsilon").unwrap_or(1e-5)),
            context_length: get_u32("context_length").unwrap_or(4096),
            rope_is_neox,
            architecture,
        };
        config.check(content.tensor_infos.len())?;
        Ok(config)
    }

    /// Rejects hyper-parameters that contradict each other or the tensor table, or that
    /// would make loading allocate far more than the file holds. Found by the `gguf_load`
    /// fuzz target: `block_count` sized a `Vec` up front (2^32 layers: capacity overflow),
    /// `context_length` and `rope.dimension_count` sized the RoPE tables.
    fn check(&self, tensor_count: usize) -> Result<(), ModelError> {
        let invalid = |message: String| Err(ModelError::Invalid(message));
        if self.head_count == 0 || self.embedding_length == 0 || !self.embedding_length.is_multiple_of(self.head_count)
        {
            return invalid(format!(
                "embedding_length {} is not a positive multiple of attention.head_count {}",
                self.embedding_length, self.head_count
            ));
        }
        if self.kv_head_count == 0 || !self.head_count.is_multiple_of(self.kv_head_count) {
            return invalid(format!(
                "attention.head_count {} is not a multiple of attention.head_count_kv {}",
                self.head_count, self.kv_head_count
            ));
        }
        if self.rope_dim > self.head_dim {
            return invalid(format!("rope.dimension_count {} exceeds the head size {}", self.rope_dim, self.head_dim));
        }
        if self.context_length == 0 || self.context_length > MAX_CONTEXT_LENGTH {
            return invalid(format!("context_length {} is not in 1..={MAX_CONTEXT_LENGTH}", self.context_length));
        }
        if self.context_length.saturating_mul(self.rope_dim.div_ceil(2)) > MAX_ROPE_TABLE {
            return invalid(format!(
                "RoPE tables of {} positions × {} dimensions exceed {MAX_ROPE_TABLE} entries",
                self.context_length, self.rope_dim
            ));
        }
        if self.layer_count.saturating_mul(TENSORS_PER_LAYER) > tensor_count {
            return invalid(format!(
                "block_count {} needs {TENSORS_PER_LAYER} tensors per layer, the file has {tensor_count}",
                self.layer_count
            ));
        }
        Ok(())
    }
}

/// Reads a tensor after checking its declared size: candle-core 0.11.1 multiplies the
/// dimensions unchecked (`Shape::elem_count`, then `× type_size`), so a crafted shape
/// overflows (a panic with overflow checks, a wrong size without them; found by the
/// `gguf_load` fuzz target). The tensor must have elements and its data must lie inside
/// the file.
fn read_tensor(
    content: &gguf_file::Content,
    reader: &mut std::fs::File,
    name: &str,
    device: &Device,
) -> Result<QTensor, ModelError> {
    if let Some(info) = content.tensor_infos.get(name) {
        let dtype = info.ggml_dtype;
        let bytes = info
            .shape
            .dims()
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            // No weight is empty; candle would also build a misaligned empty slice from
            // it (`slice::from_raw_parts` on an empty `Vec<u8>`: undefined behaviour,
            // caught by the fuzz build's debug assertions).
            .filter(|elements| *elements > 0)
            .and_then(|elements| (elements / dtype.block_size()).checked_mul(dtype.type_size()));
        let file_len = reader.metadata().map_err(candle_core::Error::from)?.len();
        let end = bytes.and_then(|bytes| {
            content.tensor_data_offset.checked_add(info.offset)?.checked_add(u64::try_from(bytes).ok()?)
        });
        if end.is_none_or(|end| end > file_len) {
            return Err(ModelError::Invalid(format!(
                "tensor {name} of shape {:?} ({dtype:?}) does not fit in the file",
                info.shape.dims()
            )));
        }
    }
    Ok(content.tensor(reader, name, device)?)
}

#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn load(
        content: &gguf_file::Content,
        reader: &mut std::fs::File,
        name: &str,
        eps: f64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let weight = read_tensor(content, reader, name, device)?.dequantize(device)?;
        Ok(Self { weight, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.weight, self.eps)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    /// Q, K and V projections of the normed input.
    attention_qkv: StackedLinear,
    attention_output: Linear,
    attention_norm: RmsNorm,
    /// Gate and up projections of the normed input.
    ffn_gate_up: StackedLinear,
    ffn_down: Linear,
    ffn_norm: RmsNorm,
}

/// A loaded LLaMA-family model. Weights are reference-counted; cloning is cheap.
#[derive(Debug, Clone)]
pub struct Llama {
    config: LlamaConfig,
    embeddings: Embedding,
    layers: Vec<Layer>,
    output_norm: RmsNorm,
    output: Linear,
    /// Rows of `ffn_up` (what adapters of the MLP must match).
    intermediate_size: usize,
    rope_cos: Tensor,
    rope_sin: Tensor,
    device: Device,
    /// Whether decode-sized steps take [`Llama::host_attention`] (always, except in the
    /// test that checks it against candle's ops).
    host_decode: bool,
}

fn rope_tables(config: &LlamaConfig, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let dim = config.rope_dim;
    let inverse_frequencies: Vec<f32> =
        (0..dim).step_by(2).map(|i| 1f32 / config.rope_freq_base.powf(i as f32 / dim as f32)).collect();
    let half = inverse_frequencies.len();
    let inverse_frequencies = Tensor::from_vec(inverse_frequencies, (1, half), device)?;
    let positions = Tensor::arange(0, config.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((config.context_length, 1))?;
    let angles = positions.matmul(&inverse_frequencies)?;
    Ok((angles.cos()?, angles.sin()?))
}

impl Llama {
    /// Loads the weights of a llama-style GGUF file, re-quantizing types that lack fast
    /// CPU kernels (Q5_0/Q5_1 become Q8_0).
    pub fn from_gguf(
        content: &gguf_file::Content,
        reader: &mut std::fs::File,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::from_gguf_with(content, reader, device, true)
    }

    /// Loads the weights; `requantize = false` keeps every weight in the file's own type
    /// (slower on CPU for Q5_0/Q5_1).
    pub fn from_gguf_with(
        content: &gguf_file::Content,
        reader: &mut std::fs::File,
        device: &Device,
        requantize: bool,
    ) -> Result<Self, ModelError> {
        let config = LlamaConfig::from_gguf(content)?;
        let eps = config.rms_norm_eps;
        let embeddings_q = read_tensor(content, reader, "token_embd.weight", device)?;
        let embeddings = embeddings_q.dequantize(device)?;
        // The RoPE tables and every attention shape follow embedding_length: it must be
        // the width the file's embeddings actually have.
        if embeddings.dims().get(1) != Some(&config.embedding_length) {
            return Err(ModelError::Invalid(format!(
                "token_embd.weight has shape {:?}, embedding_length is {}",
                embeddings.dims(),
                config.embedding_length
            )));
        }
        let output_norm = RmsNorm::load(content, reader, "output_norm.weight", eps, device)?;
        // Small models tie the output projection to the embeddings.
        let output = match read_tensor(content, reader, "output.weight", device) {
            Ok(tensor) => tensor,
            Err(_) => embeddings_q,
        };
        let mut layers = Vec::with_capacity(config.layer_count);
        for index in 0..config.layer_count {
            let prefix = format!("blk.{index}");
            let mut linear = |name: &str| -> Result<Linear, ModelError> {
                let tensor = read_tensor(content, reader, &format!("{prefix}.{name}.weight"), device)?;
                Ok(Linear::from_qtensor(tensor, requantize)?)
            };
            let attention_qkv = StackedLinear::new(vec![linear("attn_q")?, linear("attn_k")?, linear("attn_v")?])?;
            let attention_output = linear("attn_output")?;
            let ffn_gate_up = StackedLinear::new(vec![linear("ffn_gate")?, linear("ffn_up")?])?;
            let ffn_down = linear("ffn_down")?;
            layers.push(Layer {
                attention_qkv,
                attention_output,
                ffn_gate_up,
                ffn_down,
                attention_norm: RmsNorm::load(content, reader, &format!("{prefix}.attn_norm.weight"), eps, device)?,
                ffn_norm: RmsNorm::load(content, reader, &format!("{prefix}.ffn_norm.weight"), eps, device)?,
            });
        }
        let (rope_cos, rope_sin) = rope_tables(&config, device)?;
        let intermediate_size = content
            .tensor_infos
            .get("blk.0.ffn_up.weight")
            .and_then(|info| info.shape.dims().first().copied())
            .unwrap_or(0);
        Ok(Self {
            intermediate_size,
            embeddings: Embedding::new(embeddings, config.embedding_length),
            layers,
            output_norm,
            output: Linear::from_qtensor(output, requantize)?,
            rope_cos,
            rope_sin,
            device: device.clone(),
            host_decode: true,
            config,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// A fresh, empty cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.layer_count)
    }

    /// Runs the new tokens of each sequence through the model, appends them to the
    /// sequences' caches and returns the logits after each sequence's last token,
    /// shape `[sequences, vocab]`.
    pub fn forward(&self, steps: &mut [SequenceStep<'_>]) -> Result<Tensor, ModelError> {
        self.forward_with_adapters(steps, &[])
    }

    /// [`Llama::forward`] with a LoRA adapter (or none) per sequence.
    pub fn forward_with_adapters(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        // The whole step runs on a pool thread, so each projection's parallel tiles are
        // shared with a sibling worker instead of being injected from outside the pool
        // (a wake-up and a blocking hand-back per projection, ~200 per token).
        rayon::scope(|_| self.forward_in_pool(steps, adapters))
    }

    fn forward_in_pool(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        check_context(steps, self.config.context_length)?;
        let lora = LoraStep::new(&step_tokens(steps), adapters, &self.device)?;
        let ids = step_ids(steps, &self.device)?;
        let mut hidden = self.embeddings.forward(&ids)?;
        for (layer_index, layer) in self.layers.iter().enumerate() {
            let residual = &hidden;
            let normed = layer.attention_norm.forward(&hidden)?;
            let attention = self.attention(layer, layer_index, &normed, steps, &lora)?;
            let after_attention = (attention + residual)?;
            let normed = layer.ffn_norm.forward(&after_attention)?;
            let activated = match self.host_swiglu(layer, layer_index, &normed, &lora)? {
                Some(activated) => activated,
                None => {
                    let [gate, up] = two(layer.ffn_gate_up.forward(&normed)?)?;
                    let gate = lora.apply(layer_index, Target::Gate, &normed, gate)?;
                    let up = lora.apply(layer_index, Target::Up, &normed, up)?;
                    (candle_nn::ops::silu(&gate)? * up)?
                }
            };
            let mlp = lora.apply(layer_index, Target::Down, &activated, layer.ffn_down.forward(&activated)?)?;
            hidden = (mlp + after_attention)?;
        }
        for step in steps.iter_mut() {
            step.cache.advance(step.tokens.len());
        }
        // Only each sequence's last position is needed for sampling.
        let last = last_hidden(&hidden, steps, &self.device)?;
        let normed = self.output_norm.forward(&last)?;
        Ok(self.output.forward(&normed)?)
    }

    fn rotate(&self, x: &Tensor, position: usize, len: usize) -> candle_core::Result<Tensor> {
        let cos = self.rope_cos.narrow(0, position, len)?;
        let sin = self.rope_sin.narrow(0, position, len)?;
        if self.config.rope_is_neox {
            candle_nn::rotary_emb::rope(x, &cos, &sin)
        } else {
            candle_nn::rotary_emb::rope_i(x, &cos, &sin)
        }
    }

    /// The MLP's gate/up product and SwiGLU in one host pass over the stacked product
    /// ([`netgpt_kernels::swiglu`]), adapters' updates added to it on the host; `None`
    /// off the CPU, for unstacked projections, or for prompt chunks longer than
    /// [`MAX_QUERY_ROWS`] with adapters.
    fn host_swiglu(
        &self,
        layer: &Layer,
        layer_index: usize,
        x: &Tensor,
        lora: &LoraStep<'_>,
    ) -> Result<Option<Tensor>, ModelError> {
        // Long prompts with adapters take candle's GEMMs for the updates.
        if !self.device.is_cpu() || (!lora.is_empty() && x.dim(1)? > MAX_QUERY_ROWS) {
            return Ok(None);
        }
        let Some((mut values, stride)) = layer.ffn_gate_up.forward_joined(x)? else { return Ok(None) };
        let inter = stride / 2;
        let mut dims = x.dims().to_vec();
        *dims.last_mut().unwrap_or(&mut 0) = inter;
        add_adapters_on_host(lora, layer_index, x, &mut values, stride, &[(Target::Gate, 0), (Target::Up, inter)])?;
        let mut out = vec![0f32; values.len() / 2];
        netgpt_kernels::swiglu(&values, inter, &mut out);
        Ok(Some(Tensor::from_vec(out, dims, &self.device)?))
    }

    /// Decode steps on the CPU without a candle op per sequence: RoPE, the cache append
    /// and the attention of every sequence run on host slices of the stacked Q/K/V
    /// product, the sequences in parallel. At 16 sequences the per-sequence plumbing it
    /// replaces (splits, copies, RoPE, `slice_set`, concatenation: a dozen candle ops per
    /// sequence and layer) cost more than the attention itself. Adapters' Q/K/V updates
    /// are added to the stacked product on the host. `None` where it does not apply:
    /// prompt chunks longer than [`MAX_QUERY_ROWS`], other devices, partial RoPE or
    /// unstacked projections. Returns `[1, tokens, embedding]`.
    fn host_attention(
        &self,
        layer: &Layer,
        layer_index: usize,
        x: &Tensor,
        steps: &mut [SequenceStep<'_>],
        lora: &LoraStep<'_>,
    ) -> Result<Option<Tensor>, ModelError> {
        let c = &self.config;
        if !self.host_decode
            || !self.device.is_cpu()
            || c.rope_dim != c.head_dim
            || steps.iter().any(|step| step.tokens.len() > MAX_QUERY_ROWS)
        {
            return Ok(None);
        }
        let Some((mut data, width)) = layer.attention_qkv.forward_joined(x)? else { return Ok(None) };
        let total: usize = steps.iter().map(|step| step.tokens.len()).sum();
        let (q_width, kv_width) = (c.head_count * c.head_dim, c.kv_head_count * c.head_dim);
        if width != q_width + 2 * kv_width || data.len() != total * width {
            return Err(ModelError::Invalid(format!("stacked Q/K/V output of width {width} for {total} tokens")));
        }
        let targets = [(Target::Q, 0), (Target::K, q_width), (Target::V, q_width + kv_width)];
        add_adapters_on_host(lora, layer_index, x, &mut data, width, &targets)?;
        let data = data.as_slice();
        let heads = Heads { kv_heads: c.kv_head_count, groups: c.head_count / c.kv_head_count, head_dim: c.head_dim };
        let mut out = vec![0f32; total * q_width];
        with_f32(&self.rope_cos, |cos| {
            with_f32(&self.rope_sin, |sin| {
                let projections = Projections { data, width, q: 0, k: q_width, v: q_width + kv_width };
                let rope = Rope { cos, sin, neox: c.rope_is_neox };
                // Each sequence's output rows, split off `out` in step order.
                let mut parts = Vec::with_capacity(steps.len());
                let (mut rest, mut first_row) = (out.as_mut_slice(), 0);
                for step in steps.iter_mut() {
                    let len = step.tokens.len();
                    let (part, tail) = std::mem::take(&mut rest).split_at_mut(len * q_width);
                    rest = tail;
                    parts.push((step, first_row, part));
                    first_row += len;
                }
                let run = |(step, first_row, part): (&mut SequenceStep<'_>, usize, &mut [f32])| {
                    let (len, position) = (step.tokens.len(), step.cache.len());
                    let dims = (c.kv_head_count, c.head_dim);
                    step.cache.with_host_layer(layer_index, dims, position + len, |keys, values, capacity| {
                        attend_sequence(
                            projections,
                            first_row,
                            len,
                            position,
                            rope,
                            heads,
                            (keys, values, capacity),
                            part,
                        )
                    })
                };
                if parts.len() > 1 {
                    use rayon::prelude::*;
                    parts.into_par_iter().try_for_each(run)
                } else {
                    parts.into_iter().try_for_each(run)
                }
            })
        })???;
        Ok(Some(Tensor::from_vec(out, (1, total, q_width), &self.device)?))
    }

    /// Self-attention of every sequence against its own cache; input and output are
    /// `[1, total_tokens, embedding]`.
    fn attention(
        &self,
        layer: &Layer,
        layer_index: usize,
        x: &Tensor,
        steps: &mut [SequenceStep<'_>],
        lora: &LoraStep<'_>,
    ) -> Result<Tensor, ModelError> {
        if let Some(y) = self.host_attention(layer, layer_index, x, steps, lora)? {
            return Ok(lora.apply(layer_index, Target::O, &y, layer.attention_output.forward(&y)?)?);
        }
        let c = &self.config;
        let [q_all, k_all, v_all] = three(layer.attention_qkv.forward(x)?)?;
        let q_all = lora.apply(layer_index, Target::Q, x, q_all)?;
        let k_all = lora.apply(layer_index, Target::K, x, k_all)?;
        let v_all = lora.apply(layer_index, Target::V, x, v_all)?;
        let offsets: Vec<usize> = steps
            .iter()
            .scan(0usize, |offset, step| {
                let start = *offset;
                *offset += step.tokens.len();
                Some(start)
            })
            .collect();
        let attend = |step: &mut SequenceStep<'_>, offset: usize| -> candle_core::Result<Tensor> {
            let len = step.tokens.len();
            let position = step.cache.len();
            let split = |t: &Tensor, heads: usize| -> candle_core::Result<Tensor> {
                t.narrow(1, offset, len)?.reshape((1, len, heads, c.head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = self.rotate(&split(&q_all, c.head_count)?, position, len)?;
            let k = self.rotate(&split(&k_all, c.kv_head_count)?, position, len)?;
            let v = split(&v_all, c.kv_head_count)?;
            let shape = AttentionShape { heads: c.head_count, kv_heads: c.kv_head_count, head_dim: c.head_dim };
            cached_attention(step.cache, layer_index, shape, &q, k, v)
        };
        // Sequences attend to their own caches independently: with several in the batch
        // they run on all pool threads (one after another, this part of a 16-sequence
        // step left every thread but one idle).
        let outputs: Vec<Tensor> = if steps.len() > 1 {
            use rayon::prelude::*;
            steps.par_iter_mut().zip(offsets).map(|(step, offset)| attend(step, offset)).collect::<Result<_, _>>()?
        } else {
            steps.iter_mut().zip(offsets).map(|(step, offset)| attend(step, offset)).collect::<Result<_, _>>()?
        };
        let y = Tensor::cat(&outputs, 1)?;
        Ok(lora.apply(layer_index, Target::O, &y, layer.attention_output.forward(&y)?)?)
    }
}

impl LanguageModel for Llama {
    fn forward_with_adapters(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        Llama::forward_with_adapters(self, steps, adapters)
    }

    fn lora_layout(&self) -> Option<LoraLayout> {
        let c = &self.config;
        // GGUF files from llama.cpp's converter hold Q/K rows permuted for adjacent-pair
        // RoPE (`rope_i`); NEOX-RoPE families (qwen2) are converted without it.
        Some(LoraLayout::llama(
            c.layer_count,
            c.embedding_length,
            self.intermediate_size,
            c.head_count,
            c.kv_head_count,
            c.head_dim,
            !c.rope_is_neox,
        ))
    }

    fn new_cache(&self) -> KvCache {
        Llama::new_cache(self)
    }

    fn context_length(&self) -> usize {
        self.config.context_length
    }
}

/// Adds the step's adapter updates for `targets` (each with its first column) to a
/// stacked product `y` (rows of `stride` values) of the input `x`, on the host.
fn add_adapters_on_host(
    lora: &LoraStep<'_>,
    layer: usize,
    x: &Tensor,
    y: &mut [f32],
    stride: usize,
    targets: &[(Target, usize)],
) -> candle_core::Result<()> {
    if lora.is_empty() {
        return Ok(());
    }
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    with_f32(&x, |x| lora.add_on_host(layer, targets, x, y, stride))?
}

fn two(outputs: Vec<Tensor>) -> candle_core::Result<[Tensor; 2]> {
    outputs
        .try_into()
        .map_err(|v: Vec<Tensor>| candle_core::Error::Msg(format!("expected 2 projections, got {}", v.len())))
}

fn three(outputs: Vec<Tensor>) -> candle_core::Result<[Tensor; 3]> {
    outputs
        .try_into()
        .map_err(|v: Vec<Tensor>| candle_core::Error::Msg(format!("expected 3 projections, got {}", v.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host decode path computes exactly what candle's ops compute for the same
    /// steps: one token, chunks of three and four (causal within the chunk), and two
    /// sequences at different positions in one step.
    #[test]
    fn host_attention_matches_candle_ops() {
        let path = crate::ensure_default_model().expect("default model");
        let mut file = std::fs::File::open(&path).expect("open model");
        let content = gguf_file::Content::read(&mut file).expect("GGUF header");
        let host = Llama::from_gguf(&content, &mut file, &Device::Cpu).expect("load model");
        let candle = Llama { host_decode: false, ..host.clone() };
        let run = |model: &Llama| {
            let (mut a, mut b) = (model.new_cache(), model.new_cache());
            let mut logits = Vec::new();
            for (first, second) in [
                (&[504u32][..], &[1604u32, 3987][..]),
                (&[3575, 282, 4649], &[46477]),
                (&[314, 1604, 3987, 24], &[94, 727, 2367]),
            ] {
                let step = model
                    .forward(&mut [
                        SequenceStep { tokens: first, cache: &mut a },
                        SequenceStep { tokens: second, cache: &mut b },
                    ])
                    .and_then(|l| crate::model::logits_rows(&l))
                    .expect("forward");
                logits.push(step);
            }
            logits
        };
        let (got, want) = (run(&host), run(&candle));
        for (step, (got, want)) in got.iter().zip(&want).enumerate() {
            for (sequence, (got, want)) in got.iter().zip(want).enumerate() {
                let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst <= 1e-5, "step {step}, sequence {sequence}: logits differ by {worst}");
            }
        }
    }
}
