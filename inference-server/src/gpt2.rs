//! GPT-2 from Hugging Face safetensors (`config.json` + `model.safetensors`).
//!
//! candle-transformers has no GPT-2. The HF checkpoints differ from most models in two
//! ways that matter here: projections are `Conv1D` layers whose weights are stored
//! `[in, out]` (so `y = x·W + b`, no transpose), and positions are learned embeddings
//! (`wpe`) added to the token embeddings instead of rotary encodings. The output head is
//! tied to the token embeddings.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

use crate::lora::{LoraAdapter, LoraLayout, LoraStep, Target};
use crate::model::{
    AttentionShape, KvCache, LanguageModel, ModelError, SequenceStep, cached_attention, check_context, last_hidden,
    step_tokens,
};

/// The fields of GPT-2's `config.json` this implementation reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub reorder_and_upcast_attn: bool,
}

fn default_layer_norm_epsilon() -> f64 {
    1e-5
}

fn default_activation() -> String {
    "gelu_new".into()
}

fn default_true() -> bool {
    true
}

/// Errors loading a GPT-2 checkpoint.
pub type Gpt2LoadError = crate::model::CheckpointError;

/// A `Conv1D` projection: weight `[in, out]`, bias `[out]`.
#[derive(Debug, Clone)]
struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Self> {
        Ok(Self { weight: vb.get((inputs, outputs), "weight")?, bias: vb.get(outputs, "bias")? })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.broadcast_matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Conv1D,
    attn_proj: Conv1D,
    ln_2: LayerNorm,
    c_fc: Conv1D,
    mlp_proj: Conv1D,
}

/// A loaded GPT-2 model.
#[derive(Debug, Clone)]
pub struct Gpt2 {
    config: Gpt2Config,
    wte: Embedding,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    device: Device,
}

impl Gpt2 {
    /// Loads `config.json` and `model.safetensors` from a Hugging Face model directory.
    pub fn from_dir(dir: &Path, device: &Device) -> Result<Self, Gpt2LoadError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|source| Gpt2LoadError::Read { path: config_path.display().to_string(), source })?;
        let config: Gpt2Config = serde_json::from_str(&text)?;
        let weights_path = dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&weights_path, device)?;
        Self::from_tensors(config, tensors, device)
    }

    /// Builds the model from named tensors (HF names, with or without `transformer.`).
    pub fn from_tensors(
        config: Gpt2Config,
        tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self, Gpt2LoadError> {
        if !matches!(config.activation_function.as_str(), "gelu_new" | "gelu_pytorch_tanh" | "gelu") {
            return Err(unsupported("GPT-2", format!("activation {}", config.activation_function)));
        }
        if config.scale_attn_by_inverse_layer_idx || config.reorder_and_upcast_attn {
            return Err(unsupported("GPT-2", "scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn"));
        }
        if !config.scale_attn_weights {
            return Err(unsupported("GPT-2", "scale_attn_weights = false"));
        }
        if config.n_head == 0 || !config.n_embd.is_multiple_of(config.n_head) {
            return Err(unsupported(
                "GPT-2",
                format!("n_embd {} is not divisible by n_head {}", config.n_embd, config.n_head),
            ));
        }
        let has_prefix = tensors.contains_key("transformer.wte.weight");
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let vb = if has_prefix { vb.pp("transformer") } else { vb };
        let n = config.n_embd;
        let inner = config.n_inner.unwrap_or(4 * n);
        let eps = config.layer_norm_epsilon;
        let wte = vb.get((config.vocab_size, n), "wte.weight")?;
        let wpe = vb.get((config.n_positions, n), "wpe.weight")?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for index in 0..config.n_layer {
            let b = vb.pp(format!("h.{index}"));
            blocks.push(Block {
                ln_1: candle_nn::layer_norm(n, eps, b.pp("ln_1"))?,
                c_attn: Conv1D::load(b.pp("attn.c_attn"), n, 3 * n)?,
                attn_proj: Conv1D::load(b.pp("attn.c_proj"), n, n)?,
                ln_2: candle_nn::layer_norm(n, eps, b.pp("ln_2"))?,
                c_fc: Conv1D::load(b.pp("mlp.c_fc"), n, inner)?,
                mlp_proj: Conv1D::load(b.pp("mlp.c_proj"), inner, n)?,
            });
        }
        let ln_f = candle_nn::layer_norm(n, eps, vb.pp("ln_f"))?;
        Ok(Self { wte: Embedding::new(wte, n), wpe, blocks, ln_f, device: device.clone(), config })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &Gpt2Config {
        &self.config
    }

    /// Logits for every position of one sequence, `[len, vocab]` (for tests and scoring).
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
        let normed = self.ln_f.forward(&hidden.i(0)?)?;
        Ok(normed.matmul(&self.wte.embeddings().t()?)?)
    }

    /// Final hidden states of all new tokens, `[1, total, n_embd]`, before `ln_f`.
    fn hidden_states(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        check_context(steps, self.config.n_positions)?;
        let lora = LoraStep::new(&step_tokens(steps), adapters, &self.device)?;
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for step in steps.iter() {
            ids.extend_from_slice(step.tokens);
            let start = step.cache.len() as u32;
            positions.extend(start..start + step.tokens.len() as u32);
        }
        let total = ids.len();
        let ids = Tensor::from_vec(ids, (1, total), &self.device)?;
        let positions = Tensor::from_vec(positions, total, &self.device)?;
        let mut hidden = self.wte.forward(&ids)?.broadcast_add(&self.wpe.index_select(&positions, 0)?)?;
        let n = self.config.n_embd;
        let shape = AttentionShape {
            heads: self.config.n_head,
            kv_heads: self.config.n_head,
            head_dim: n / self.config.n_head,
        };
        for (layer, block) in self.blocks.iter().enumerate() {
            let project = |m: &Conv1D, target, x: &Tensor| lora.apply(layer, target, x, m.forward(x)?);
            let qkv = project(&block.c_attn, Target::CAttn, &block.ln_1.forward(&hidden)?)?;
            let mut outputs = Vec::with_capacity(steps.len());
            let mut offset = 0usize;
            for step in steps.iter_mut() {
                let len = step.tokens.len();
                let part = |index: usize| -> candle_core::Result<Tensor> {
                    qkv.narrow(1, offset, len)?
                        .narrow(2, index * n, n)?
                        .reshape((1, len, shape.heads, shape.head_dim))?
                        .transpose(1, 2)?
                        .contiguous()
                };
                let q = part(0)?;
                outputs.push(cached_attention(step.cache, layer, shape, &q, part(1)?, part(2)?)?);
                offset += len;
            }
            let attention = project(&block.attn_proj, Target::AttnProj, &Tensor::cat(&outputs, 1)?)?;
            hidden = (hidden + attention)?;
            let inner = project(&block.c_fc, Target::CFc, &block.ln_2.forward(&hidden)?)?;
            // HF's "gelu" is the exact erf form; "gelu_new" the tanh approximation.
            let activated = if self.config.activation_function == "gelu" { inner.gelu_erf()? } else { inner.gelu()? };
            let mlp = project(&block.mlp_proj, Target::MlpProj, &activated)?;
            hidden = (hidden + mlp)?;
        }
        for step in steps.iter_mut() {
            step.cache.advance(step.tokens.len());
        }
        Ok(hidden)
    }
}

impl LanguageModel for Gpt2 {
    fn forward_with_adapters(
        &self,
        steps: &mut [SequenceStep<'_>],
        adapters: &[Option<&LoraAdapter>],
    ) -> Result<Tensor, ModelError> {
        let hidden = self.hidden_states(steps, adapters)?;
        let last = last_hidden(&hidden, steps, &self.device)?;
        let normed = self.ln_f.forward(&last)?;
        Ok(normed.matmul(&self.wte.embeddings().t()?)?)
    }

    fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.n_layer)
    }

    fn context_length(&self) -> usize {
        self.config.n_positions
    }

    fn lora_layout(&self) -> Option<LoraLayout> {
        let c = &self.config;
        Some(LoraLayout::gpt2(c.n_layer, c.n_embd, c.n_inner.unwrap_or(4 * c.n_embd)))
    }
}

fn unsupported(family: &'static str, detail: impl Into<String>) -> Gpt2LoadError {
    Gpt2LoadError::Unsupported { family, detail: detail.into() }
}
