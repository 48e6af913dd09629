//! LLaMA-family decoder from Hugging Face safetensors (`config.json` +
//! `model.safetensors`, or shards listed in `model.safetensors.index.json`), with the same
//! per-sequence KV caches and batched steps as the GGUF model. On the CPU it runs in f32;
//! on a CUDA device (feature `cuda`) in f16 or bf16 with fused projections and NetGPT's
//! own decode kernels (`hf_llama_cuda`).
//!
//! Differences from the GGUF layout: projections are `nn.Linear` (`[out, in]`), and Q/K
//! rows are in HF order, so RoPE rotates halves (`rotate_half`, candle's `rope`) instead
//! of adjacent pairs (`rope_i`, which the GGUF converter's row permutation requires).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm, VarBuilder};
use serde::Deserialize;

#[cfg(feature = "cuda")]
mod cuda;
mod layer;

use layer::Layer;

use crate::lora::{AdapterDevice, LoraAdapter, LoraLayout, LoraStep, Target};
use crate::model::{
    AttentionShape, KvCache, LanguageModel, ModelError, SequenceStep, cached_attention, check_context, last_hidden,
    step_ids, step_tokens,
};

/// The fields of a LLaMA `config.json` this implementation reads.
#[derive(Debug, Clone, Deserialize)]
pub struct HfLlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Older files: `rope_scaling` (must be absent); transformers 5: `rope_parameters`.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
}

/// `rope_parameters` of transformers 5 configs.
#[derive(Debug, Clone, Deserialize)]
pub struct RopeParameters {
    pub rope_theta: Option<f32>,
    pub rope_type: Option<String>,
}

impl HfLlamaConfig {
    /// RoPE base frequency, wherever the file keeps it.
    fn rope_base(&self) -> f32 {
        self.rope_parameters.as_ref().and_then(|p| p.rope_theta).unwrap_or(self.rope_theta)
    }
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_rope_theta() -> f32 {
    10_000.0
}

fn default_hidden_act() -> String {
    "silu".into()
}

/// Errors loading a LLaMA checkpoint.
pub type HfLlamaLoadError = crate::model::CheckpointError;

/// A LLaMA model loaded from safetensors.
#[derive(Debug, Clone)]
pub struct HfLlama {
    config: HfLlamaConfig,
    shape: AttentionShape,
    embed_tokens: Embedding,
    /// CPU layers (empty on CUDA, where `cuda_layers` holds fused weights instead).
    layers: Vec<Layer>,
    #[cfg(feature = "cuda")]
    cuda_layers: Vec<cuda::FusedLayer>,
    norm: RmsNorm,
    lm_head: Linear,
    rope_cos: Tensor,
    rope_sin: Tensor,
    device: Device,
}

fn linear(vb: VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Linear> {
    Ok(Linear::new(vb.get((outputs, inputs), "weight")?, None))
}

impl HfLlama {
    /// Loads `config.json` and the safetensors weights from a Hugging Face model
    /// directory, in f32.
    pub fn from_dir(dir: &Path, device: &Device) -> Result<Self, HfLlamaLoadError> {
        Self::from_dir_as(dir, device, DType::F32)
    }

    /// [`Self::from_dir`] in `dtype`: f32 on the CPU; f16 or bf16 on CUDA.
    pub fn from_dir_as(dir: &Path, device: &Device, dtype: DType) -> Result<Self, HfLlamaLoadError> {
        let config_path = dir.join("config.json");
        let config: HfLlamaConfig = serde_json::from_str(&read(&config_path)?)?;
        let mut tensors = HashMap::new();
        for file in weight_files(dir)? {
            tensors.extend(candle_core::safetensors::load(&file, device)?);
        }
        Self::from_tensors_as(config, tensors, device, dtype)
    }

    /// Builds the model from HF-named tensors, in f32.
    pub fn from_tensors(
        config: HfLlamaConfig,
        tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self, HfLlamaLoadError> {
        Self::from_tensors_as(config, tensors, device, DType::F32)
    }

    /// [`Self::from_tensors`] in `dtype`.
    pub fn from_tensors_as(
        config: HfLlamaConfig,
        tensors: HashMap<String, Tensor>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, HfLlamaLoadError> {
        check_placement(device, dtype)?;
        let scaled_rope = config.rope_scaling.as_ref().is_some_and(|v| !v.is_null())
            || config
                .rope_parameters
                .as_ref()
                .and_then(|p| p.rope_type.as_deref())
                .is_some_and(|kind| kind != "default");
        if scaled_rope {
            return Err(unsupported("LLaMA", "scaled RoPE"));
        }
        if config.attention_bias || config.mlp_bias {
            return Err(unsupported("LLaMA", "projection biases"));
        }
        if config.hidden_act != "silu" {
            return Err(unsupported("LLaMA", format!("hidden_act {}", config.hidden_act)));
        }
        let heads = config.num_attention_heads;
        let kv_heads = config.num_key_value_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(unsupported("LLaMA", format!("{heads} attention heads with {kv_heads} key/value heads")));
        }
        let head_dim = config.head_dim.unwrap_or(config.hidden_size / heads);
        let shape = AttentionShape { heads, kv_heads, head_dim };
        let has_lm_head = tensors.contains_key("lm_head.weight");
        if device.is_cuda() && head_dim != crate::model::CUDA_HEAD_DIM {
            return Err(unsupported("LLaMA", format!("head_dim {head_dim} on CUDA (the kernels need 128)")));
        }
        #[cfg(feature = "cuda")]
        let mut cuda_layers = Vec::new();
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        let h = config.hidden_size;
        let eps = config.rms_norm_eps;
        let model = vb.pp("model");
        let embeddings = model.get((config.vocab_size, h), "embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let l = model.pp(format!("layers.{index}"));
            let attention = l.pp("self_attn");
            let mlp = l.pp("mlp");
            let layer = Layer {
                input_norm: candle_nn::rms_norm(h, eps, l.pp("input_layernorm"))?,
                q_proj: linear(attention.pp("q_proj"), h, heads * head_dim)?,
                k_proj: linear(attention.pp("k_proj"), h, kv_heads * head_dim)?,
                v_proj: linear(attention.pp("v_proj"), h, kv_heads * head_dim)?,
                o_proj: linear(attention.pp("o_proj"), heads * head_dim, h)?,
                post_attention_norm: candle_nn::rms_norm(h, eps, l.pp("post_attention_layernorm"))?,
                gate_proj: linear(mlp.pp("gate_proj"), h, config.intermediate_size)?,
                up_proj: linear(mlp.pp("up_proj"), h, config.intermediate_size)?,
                down_proj: linear(mlp.pp("down_proj"), config.intermediate_size, h)?,
            };
            // On CUDA the projections are concatenated (one launch instead of three, or
            // two). The loaded tensors stay alive until loading ends, so loading peaks at
            // about twice the weights in device memory.
            #[cfg(feature = "cuda")]
            if device.is_cuda() {
                cuda_layers.push(cuda::FusedLayer::new(layer)?);
                continue;
            }
            layers.push(layer);
        }
        let norm = candle_nn::rms_norm(h, eps, model.pp("norm"))?;
        let lm_head = if has_lm_head && !config.tie_word_embeddings {
            linear(vb.pp("lm_head"), h, config.vocab_size)?
        } else {
            Linear::new(embeddings.clone(), None)
        };
        let (rope_cos, rope_sin) = rope_tables(head_dim, config.rope_base(), config.max_position_embeddings, device)?;
        Ok(Self {
            embed_tokens: Embedding::new(embeddings, h),
            layers,
            #[cfg(feature = "cuda")]
            cuda_layers,
            norm,
            lm_head,
            rope_cos,
            rope_sin,
            device: device.clone(),
            shape,
            config,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &HfLlamaConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    #[cfg(feature = "cuda")]
    fn cuda_view(&self) -> cuda::ModelView<'_> {
        cuda::ModelView {
            layers: &self.cuda_layers,
            embed_tokens: &self.embed_tokens,
            norm: &self.norm,
            lm_head: &self.lm_head,
            rope_cos: &self.rope_cos,
            rope_sin: &self.rope_sin,
            eps: self.config.rms_norm_eps,
            heads: netgpt_kernels::cuda::Heads {
                heads: self.shape.heads,
                kv_heads: self.shape.kv_heads,
                head_dim: self.shape.head_dim,
            },
        }
    }

    /// Logits for every position of one sequence, `[len, vocab]` (tests, scoring).
    pub fn forward_all(&self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        self.forward_all_with_adapter(tokens, None)
    }

    /// [`Self::forward_all`] with a LoRA adapter applied.
    pub fn forward_all_with_adapter(
        &self,
        tokens: &[u32],
        adapter: Option<&LoraAdapter>,
    ) -> Result<Tensor, ModelError> {
        let mut cache = self.new_cache();
        let hidden = self.hidden_states(&mut [SequenceStep { tokens, cache: &mut cache }], &[adapter])?;
        let normed = self.norm.forward(&hidden.i(0)?)?;
        Ok(self.lm_head.forward(&normed)?)
    }

    fn hidden_states(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        check_context(steps, self.config.max_position_embeddings)?;
        #[cfg(feature = "cuda")]
        if self.device.is_cuda() {
            return Ok(cuda::hidden_states(self.cuda_view(), steps, adapters)?.unsqueeze(0)?);
        }
        let lora = LoraStep::new(&step_tokens(steps), adapters, &self.device)?;
        let ids = step_ids(steps, &self.device)?;
        let mut hidden = self.embed_tokens.forward(&ids)?;
        let shape = self.shape;
        for (index, layer) in self.layers.iter().enumerate() {
            let normed = layer.input_norm.forward(&hidden)?;
            let project = |m: &Linear, target, x: &Tensor| lora.apply(index, target, x, m.forward(x)?);
            let q_all = project(&layer.q_proj, Target::Q, &normed)?;
            let k_all = project(&layer.k_proj, Target::K, &normed)?;
            let v_all = project(&layer.v_proj, Target::V, &normed)?;
            let mut outputs = Vec::with_capacity(steps.len());
            let mut offset = 0usize;
            for step in steps.iter_mut() {
                let len = step.tokens.len();
                let position = step.cache.len();
                let split = |t: &Tensor, heads: usize| -> candle_core::Result<Tensor> {
                    t.narrow(1, offset, len)?.reshape((1, len, heads, shape.head_dim))?.transpose(1, 2)?.contiguous()
                };
                let cos = self.rope_cos.narrow(0, position, len)?;
                let sin = self.rope_sin.narrow(0, position, len)?;
                let q = candle_nn::rotary_emb::rope(&split(&q_all, shape.heads)?, &cos, &sin)?;
                let k = candle_nn::rotary_emb::rope(&split(&k_all, shape.kv_heads)?, &cos, &sin)?;
                let v = split(&v_all, shape.kv_heads)?;
                outputs.push(cached_attention(step.cache, index, shape, &q, k, v)?);
                offset += len;
            }
            let attention = project(&layer.o_proj, Target::O, &Tensor::cat(&outputs, 1)?)?;
            hidden = (hidden + attention)?;
            let normed = layer.post_attention_norm.forward(&hidden)?;
            let gate = candle_nn::ops::silu(&project(&layer.gate_proj, Target::Gate, &normed)?)?;
            let up = project(&layer.up_proj, Target::Up, &normed)?;
            let mlp = project(&layer.down_proj, Target::Down, &(gate * up)?)?;
            hidden = (hidden + mlp)?;
        }
        for step in steps.iter_mut() {
            step.cache.advance(step.tokens.len());
        }
        Ok(hidden)
    }
}

fn rope_tables(
    head_dim: usize,
    theta: f32,
    positions: usize,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let inverse: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1f32 / theta.powf(i as f32 / head_dim as f32)).collect();
    let half = inverse.len();
    let inverse = Tensor::from_vec(inverse, (1, half), device)?;
    let angles =
        Tensor::arange(0, positions as u32, device)?.to_dtype(DType::F32)?.reshape((positions, 1))?.matmul(&inverse)?;
    Ok((angles.cos()?, angles.sin()?))
}

impl LanguageModel for HfLlama {
    fn forward_with_adapters(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        let hidden = self.hidden_states(steps, adapters)?;
        let last = last_hidden(&hidden, steps, &self.device)?;
        #[cfg(feature = "cuda")]
        if self.device.is_cuda() {
            return cuda::head(self.cuda_view(), &last);
        }
        Ok(self.lm_head.forward(&self.norm.forward(&last)?)?)
    }

    fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.num_hidden_layers)
    }

    fn context_length(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn lora_layout(&self) -> Option<LoraLayout> {
        let c = &self.config;
        // HF order: Q/K rows are used as stored, no permutation.
        let device = if self.device.is_cuda() {
            AdapterDevice::Cuda { device: self.device.clone(), dtype: self.embed_tokens.embeddings().dtype() }
        } else {
            AdapterDevice::Host
        };
        Some(
            LoraLayout::llama(
                c.num_hidden_layers,
                c.hidden_size,
                c.intermediate_size,
                self.shape.heads,
                self.shape.kv_heads,
                self.shape.head_dim,
                false,
            )
            .on(device),
        )
    }
}

/// The safetensors files of a checkpoint: `model.safetensors`, or every shard that
/// `model.safetensors.index.json` names (large checkpoints are saved in shards).
fn weight_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, HfLlamaLoadError> {
    let single = dir.join("model.safetensors");
    let index_path = dir.join("model.safetensors.index.json");
    if single.exists() || !index_path.exists() {
        return Ok(vec![single]);
    }
    #[derive(Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let index: Index = serde_json::from_str(&read(&index_path)?)?;
    let mut files: Vec<String> = index.weight_map.into_values().collect();
    files.sort();
    files.dedup();
    // Shard names come from the file: keep them inside the model directory.
    if let Some(bad) = files.iter().find(|f| Path::new(f).components().count() != 1 || f.starts_with('.')) {
        return Err(unsupported("LLaMA", format!("shard path {bad:?} outside the model directory")));
    }
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

fn read(path: &Path) -> Result<String, HfLlamaLoadError> {
    std::fs::read_to_string(path).map_err(|source| HfLlamaLoadError::Read { path: path.display().to_string(), source })
}

/// f32 on the CPU (the CPU kernels are f32), f16/bf16 on CUDA (the CUDA kernels' types).
fn check_placement(device: &Device, dtype: DType) -> Result<(), HfLlamaLoadError> {
    let ok = match device {
        Device::Cpu => dtype == DType::F32,
        Device::Cuda(_) => matches!(dtype, DType::F16 | DType::BF16),
        _ => false,
    };
    if ok { Ok(()) } else { Err(unsupported("LLaMA", format!("{dtype:?} on {device:?}"))) }
}

fn unsupported(family: &'static str, detail: impl Into<String>) -> HfLlamaLoadError {
    HfLlamaLoadError::Unsupported { family, detail: detail.into() }
}
