//! GPT-2 — the paper's edge model — as a frozen base for LoRA training, read from the
//! same Hugging Face directory `netgpt serve` serves it from (`config.json`,
//! `model.safetensors`, `tokenizer.json`), and its training forward pass.
//!
//! Differences from the LLaMA pass: LayerNorm with bias instead of RMSNorm, learned
//! position embeddings instead of RoPE, one fused `c_attn` projection for query, key and
//! value, biases on every projection, GELU. Checkpoints store projections as `Conv1D`
//! weights `[in, out]`; they are transposed once at load so the frozen product is the
//! same `x·Wᵀ` as LLaMA's. Adapters use PEFT's GPT-2 names (`c_attn`, `c_proj` — the
//! attention and the MLP output —, `c_fc`) with `fan_in_fan_out`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor};
use netgpt_inference::chat_template::ChatTemplate;
use netgpt_inference::gpt2::Gpt2Config;
use netgpt_inference::tokenizer::TextTokenizer;

use crate::TrainError;
use crate::model::{Adapter, CompletionLoss, add_lora, causal_mask, frozen_matmul, softmax_last_dim};
use crate::sites::{AdapterSites, Site};

/// A block's projections in forward order; indexes into [`Gpt2Block::projections`].
const C_ATTN: usize = 0;
const ATTN_PROJ: usize = 1;
const C_FC: usize = 2;
const MLP_PROJ: usize = 3;

/// One block's frozen weights; projections `[out, in]` with their biases.
pub struct Gpt2Block {
    ln_1: (Tensor, Tensor),
    ln_2: (Tensor, Tensor),
    projections: [(Tensor, Tensor); 4],
}

/// A frozen GPT-2 with its tokenizer and chat format.
pub struct Gpt2Base {
    pub config: Gpt2Config,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Gpt2Block>,
    ln_f: (Tensor, Tensor),
    /// Exact-erf GELU (`gelu`) rather than the tanh approximation (`gelu_new`).
    erf_gelu: bool,
    pub tokenizer: TextTokenizer,
    pub chat_template: ChatTemplate,
    pub source: PathBuf,
}

impl Gpt2Base {
    /// Whether `dir` holds a GPT-2 checkpoint (`config.json` says `model_type: gpt2`).
    pub fn is_gpt2(dir: &Path) -> bool {
        std::fs::read_to_string(dir.join("config.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|config| config["model_type"] == "gpt2")
    }

    pub fn load(dir: &Path, device: &Device) -> Result<Self, TrainError> {
        let base_error = |e: String| TrainError::Base(format!("{}: {e}", dir.display()));
        let text = std::fs::read_to_string(dir.join("config.json")).map_err(|e| base_error(e.to_string()))?;
        let config: Gpt2Config = serde_json::from_str(&text).map_err(|e| base_error(format!("config.json: {e}")))?;
        let erf_gelu = match config.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" => false,
            "gelu" => true,
            other => return Err(base_error(format!("activation {other} is not supported"))),
        };
        if config.scale_attn_by_inverse_layer_idx || config.reorder_and_upcast_attn || !config.scale_attn_weights {
            return Err(base_error("only GPT-2's standard attention scaling is supported".into()));
        }
        if config.n_head == 0 || !config.n_embd.is_multiple_of(config.n_head) {
            return Err(base_error(format!("n_embd {} is not divisible by n_head {}", config.n_embd, config.n_head)));
        }
        let file = dir.join("model.safetensors");
        let mut tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load(&file, device).map_err(|e| base_error(format!("model.safetensors: {e}")))?;
        let prefix = if tensors.contains_key("transformer.wte.weight") { "transformer." } else { "" };
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor, TrainError> {
            let key = format!("{prefix}{name}");
            let t = tensors.remove(&key).ok_or_else(|| base_error(format!("tensor {key} is missing")))?;
            if t.dims() != shape {
                return Err(base_error(format!("tensor {key} has shape {:?}, expected {shape:?}", t.dims())));
            }
            t.to_dtype(DType::F32).map_err(|e| base_error(format!("{key}: {e}")))
        };
        let n = config.n_embd;
        let inner = config.n_inner.unwrap_or(4 * n);
        let wte = take("wte.weight", &[config.vocab_size, n])?;
        let wpe = take("wpe.weight", &[config.n_positions, n])?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for index in 0..config.n_layer {
            let p = |name: &str| format!("h.{index}.{name}");
            let mut norm = |name: &str| -> Result<(Tensor, Tensor), TrainError> {
                Ok((take(&p(&format!("{name}.weight")), &[n])?, take(&p(&format!("{name}.bias")), &[n])?))
            };
            let (ln_1, ln_2) = (norm("ln_1")?, norm("ln_2")?);
            let mut conv = |name: &str, inputs: usize, outputs: usize| -> Result<(Tensor, Tensor), TrainError> {
                let weight = take(&p(&format!("{name}.weight")), &[inputs, outputs])?;
                let weight = weight.t().and_then(|w| w.contiguous()).map_err(|e| base_error(e.to_string()))?;
                Ok((weight, take(&p(&format!("{name}.bias")), &[outputs])?))
            };
            let projections = [
                conv("attn.c_attn", n, 3 * n)?,
                conv("attn.c_proj", n, n)?,
                conv("mlp.c_fc", n, inner)?,
                conv("mlp.c_proj", inner, n)?,
            ];
            blocks.push(Gpt2Block { ln_1, ln_2, projections });
        }
        let ln_f = (take("ln_f.weight", &[n])?, take("ln_f.bias", &[n])?);
        let (tokenizer, chat_template) =
            netgpt_inference::loader::hf_tokenizer(dir, None, None).map_err(|e| base_error(e.to_string()))?;
        Ok(Self { config, wte, wpe, blocks, ln_f, erf_gelu, tokenizer, chat_template, source: dir.to_path_buf() })
    }

    /// The four projections of every block, in PEFT's names.
    pub fn sites(&self) -> AdapterSites {
        let n = self.config.n_embd;
        let inner = self.config.n_inner.unwrap_or(4 * n);
        let site = |target, module, inputs, outputs| Site { target, module, inputs, outputs };
        AdapterSites {
            family: "gpt2",
            layers: self.config.n_layer,
            projections: vec![
                site("c_attn", "attn.c_attn", n, 3 * n),
                site("c_proj", "attn.c_proj", n, n),
                site("c_fc", "mlp.c_fc", n, inner),
                site("c_proj", "mlp.c_proj", inner, n),
            ],
            block_prefix: "transformer.h",
            fan_in_fan_out: true,
            qk_row_order: None,
            default_targets: &["c_attn", "c_proj"],
        }
    }
}

/// LayerNorm spelled out: candle-nn's fused kernel has no backward pass (as for RMSNorm
/// and the softmax in `model.rs`).
fn layer_norm(x: &Tensor, (weight, bias): &(Tensor, Tensor), eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(variance + eps)?.sqrt()?)?.broadcast_mul(weight)?.broadcast_add(bias)
}

/// GPT-2 plus an adapter, one sequence at a time (`[tokens, n_embd]` activations).
pub struct Gpt2Trainable<'a> {
    base: &'a Gpt2Base,
    adapter: &'a Adapter,
    mask: Tensor,
}

impl<'a> Gpt2Trainable<'a> {
    pub fn new(
        base: &'a Gpt2Base,
        adapter: &'a Adapter,
        max_tokens: usize,
        device: &Device,
    ) -> Result<Self, TrainError> {
        if max_tokens > base.config.n_positions {
            return Err(TrainError::Config(format!(
                "examples of {max_tokens} tokens exceed GPT-2's {} positions (lower --max-tokens)",
                base.config.n_positions
            )));
        }
        Ok(Self { base, adapter, mask: causal_mask(max_tokens, device)? })
    }

    fn projection(&self, x: &Tensor, layer: usize, index: usize, train: bool) -> candle_core::Result<Tensor> {
        let (weight, bias) = &self.base.blocks[layer].projections[index];
        let y = frozen_matmul(x, weight)?.broadcast_add(bias)?;
        add_lora(x, y, self.adapter, (layer, index), train)
    }

    /// Logits (`[positions, vocab]`) after `tokens[..=p]` for each `p` of `positions`.
    pub fn logits(&self, tokens: &[u32], positions: &[u32], train: bool) -> candle_core::Result<Tensor> {
        let c = &self.base.config;
        let device = self.base.wte.device();
        let n = tokens.len();
        let (heads, head_dim) = (c.n_head, c.n_embd / c.n_head);
        let ids = Tensor::new(tokens, device)?;
        let mut h = self.base.wte.index_select(&ids, 0)?.broadcast_add(&self.base.wpe.narrow(0, 0, n)?)?;
        let mask = self.mask.narrow(0, 0, n)?.narrow(1, 0, n)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        for (l, block) in self.base.blocks.iter().enumerate() {
            let x = layer_norm(&h, &block.ln_1, c.layer_norm_epsilon)?;
            let qkv = self.projection(&x, l, C_ATTN, train)?;
            let split = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, i * c.n_embd, c.n_embd)?.reshape((n, heads, head_dim))?.transpose(0, 1)?.contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let attention = softmax_last_dim(&scores)?.matmul(&v)?;
            let attention = attention.transpose(0, 1)?.reshape((n, c.n_embd))?;
            h = (h + self.projection(&attention, l, ATTN_PROJ, train)?)?;
            let x = layer_norm(&h, &block.ln_2, c.layer_norm_epsilon)?;
            let inner = self.projection(&x, l, C_FC, train)?;
            let inner = if self.base.erf_gelu { inner.gelu_erf()? } else { inner.gelu()? };
            h = (h + self.projection(&inner, l, MLP_PROJ, train)?)?;
        }
        // Only the rows that predict a completion token reach the (tied) vocabulary head.
        let rows = h.index_select(&Tensor::new(positions, device)?, 0)?;
        let rows = layer_norm(&rows, &self.base.ln_f, c.layer_norm_epsilon)?;
        frozen_matmul(&rows, &self.base.wte)
    }
}

impl CompletionLoss for Gpt2Trainable<'_> {
    fn loss(&self, tokens: &[u32], positions: &[u32], targets: &[u32], train: bool) -> candle_core::Result<Tensor> {
        let logits = self.logits(tokens, positions, train)?;
        candle_nn::loss::cross_entropy(&logits, &Tensor::new(targets, logits.device())?)
    }
}
