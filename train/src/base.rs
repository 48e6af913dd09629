//! The frozen base model a LoRA adapter is trained over, as plain tensors.
//!
//! A GGUF base is dequantized block by block into f32 at load: the trainer sees exactly
//! the weights the edge serves (QLoRA's point — the adapter learns to correct the
//! quantized model, not a full-precision one that is never deployed). A safetensors base
//! is read as stored. Nothing here is a variable; only the adapter's matrices are.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use netgpt_inference::chat_template::ChatTemplate;
use netgpt_inference::hf_llama::HfLlamaConfig;
use netgpt_inference::llama::LlamaConfig;
use netgpt_inference::tokenizer::TextTokenizer;

use crate::TrainError;
use crate::sites::{AdapterSites, QkRowOrder, Site};

/// The seven projections of a LLaMA block, in PEFT's names.
pub const PROJECTIONS: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// Their paths inside a block of a Hugging Face checkpoint (and in PEFT's keys).
const MODULES: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

/// How the base's Q/K rows pair dimensions for RoPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs (2i, 2i + 1): llama.cpp's converter permuted the Q/K rows into this order.
    /// An adapter's Q/K `lora_B` rows are permuted back before it is saved.
    Interleaved,
    /// Pairs (i, i + d/2): Hugging Face checkpoints.
    Halves,
}

/// Hyper-parameters the trainer needs.
#[derive(Debug, Clone)]
pub struct BaseConfig {
    pub layers: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_base: f32,
    pub rope: RopeLayout,
    pub context_length: usize,
}

impl BaseConfig {
    /// `(in, out)` of a projection.
    pub fn projection_shape(&self, name: &str) -> Option<(usize, usize)> {
        let (h, q, kv, i) = (self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate);
        Some(match name {
            "q_proj" => (h, q),
            "k_proj" | "v_proj" => (h, kv),
            "o_proj" => (q, h),
            "gate_proj" | "up_proj" => (h, i),
            "down_proj" => (i, h),
            _ => return None,
        })
    }
}

/// One block's frozen weights; projections are `[out, in]`, indexed like [`PROJECTIONS`].
pub struct BaseLayer {
    pub attention_norm: Tensor,
    pub ffn_norm: Tensor,
    pub projections: [Tensor; 7],
}

/// A frozen LLaMA-family base with its tokenizer and chat format.
pub struct Base {
    pub config: BaseConfig,
    pub embeddings: Tensor,
    pub layers: Vec<BaseLayer>,
    pub norm: Tensor,
    /// `[vocab, hidden]`; the embeddings when the model ties them.
    pub head: Tensor,
    pub tokenizer: TextTokenizer,
    pub chat_template: ChatTemplate,
    /// Where the base was read from (recorded in `adapter_config.json`).
    pub source: PathBuf,
}

impl Base {
    /// Loads a GGUF file or a safetensors directory (with `config.json`, `tokenizer.json`).
    pub fn load(path: &Path, device: &Device) -> Result<Self, TrainError> {
        if path.is_dir() { Self::load_safetensors(path, device) } else { Self::load_gguf(path, device) }
    }

    fn load_gguf(path: &Path, device: &Device) -> Result<Self, TrainError> {
        let io = |e: std::io::Error| TrainError::Base(format!("{}: {e}", path.display()));
        let mut file = std::fs::File::open(path).map_err(io)?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| TrainError::Base(e.to_string()))?;
        let llama = LlamaConfig::from_gguf(&content).map_err(|e| TrainError::Base(e.to_string()))?;
        if llama.rope_dim != llama.head_dim {
            return Err(TrainError::Base(format!(
                "partial RoPE (rope.dimension_count {} of head size {}) is not supported for training",
                llama.rope_dim, llama.head_dim
            )));
        }
        let mut read = |name: &str| -> Result<Tensor, TrainError> {
            let q = content.tensor(&mut file, name, device).map_err(|e| TrainError::Base(format!("{name}: {e}")))?;
            q.dequantize(device).map_err(|e| TrainError::Base(format!("{name}: {e}")))
        };
        let embeddings = read("token_embd.weight")?;
        let norm = read("output_norm.weight")?;
        let head = if content.tensor_infos.contains_key("output.weight") {
            read("output.weight")?
        } else {
            embeddings.clone()
        };
        let mut layers = Vec::with_capacity(llama.layer_count);
        for index in 0..llama.layer_count {
            let p = |name: &str| format!("blk.{index}.{name}.weight");
            let names = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];
            let mut projections = Vec::with_capacity(7);
            for name in names {
                projections.push(read(&p(name))?);
            }
            let projections: [Tensor; 7] =
                projections.try_into().map_err(|_| TrainError::Base("seven projections expected".into()))?;
            layers.push(BaseLayer {
                attention_norm: read(&p("attn_norm"))?,
                ffn_norm: read(&p("ffn_norm"))?,
                projections,
            });
        }
        let intermediate = layers.first().map(|l| l.projections[5].dims()[0]).unwrap_or(0);
        let config = BaseConfig {
            layers: llama.layer_count,
            hidden: llama.embedding_length,
            intermediate,
            heads: llama.head_count,
            kv_heads: llama.kv_head_count,
            head_dim: llama.head_dim,
            rms_norm_eps: llama.rms_norm_eps,
            rope_base: llama.rope_freq_base,
            rope: if llama.rope_is_neox { RopeLayout::Halves } else { RopeLayout::Interleaved },
            context_length: llama.context_length,
        };
        let tokenizer = TextTokenizer::from_gguf(&content).map_err(|e| TrainError::Base(e.to_string()))?;
        let chat_template = ChatTemplate::new(tokenizer.chat_template(), tokenizer.bos_token(), tokenizer.eos_token())
            .map_err(|e| TrainError::Base(e.to_string()))?;
        let base =
            Self { config, embeddings, layers, norm, head, tokenizer, chat_template, source: path.to_path_buf() };
        base.check()?;
        Ok(base)
    }

    fn load_safetensors(dir: &Path, device: &Device) -> Result<Self, TrainError> {
        let read_text = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| TrainError::Base(format!("{}/{name}: {e}", dir.display())))
        };
        let hf: HfLlamaConfig = serde_json::from_str(&read_text("config.json")?)
            .map_err(|e| TrainError::Base(format!("config.json: {e}")))?;
        if hf.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) || hf.attention_bias || hf.mlp_bias {
            return Err(TrainError::Base("scaled RoPE and projection biases are not supported for training".into()));
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| TrainError::Base(format!("{}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        let mut tensors = std::collections::HashMap::new();
        for file in &files {
            let loaded = candle_core::safetensors::load(file, device)
                .map_err(|e| TrainError::Base(format!("{}: {e}", file.display())))?;
            tensors.extend(loaded);
        }
        let mut take = |name: String| -> Result<Tensor, TrainError> {
            let t = tensors.remove(&name).ok_or_else(|| TrainError::Base(format!("tensor {name} is missing")))?;
            t.to_dtype(DType::F32).map_err(|e| TrainError::Base(format!("{name}: {e}")))
        };
        let heads = hf.num_attention_heads;
        let embeddings = take("model.embed_tokens.weight".into())?;
        let mut layers = Vec::with_capacity(hf.num_hidden_layers);
        for index in 0..hf.num_hidden_layers {
            let p = |name: &str| format!("model.layers.{index}.{name}.weight");
            let mut projections = Vec::with_capacity(7);
            for name in MODULES {
                projections.push(take(p(name))?);
            }
            let projections: [Tensor; 7] =
                projections.try_into().map_err(|_| TrainError::Base("seven projections expected".into()))?;
            layers.push(BaseLayer {
                attention_norm: take(p("input_layernorm"))?,
                ffn_norm: take(p("post_attention_layernorm"))?,
                projections,
            });
        }
        let norm = take("model.norm.weight".into())?;
        let head = match take("lm_head.weight".into()) {
            Ok(head) if !hf.tie_word_embeddings => head,
            _ => embeddings.clone(),
        };
        let rope_base = hf.rope_parameters.as_ref().and_then(|p| p.rope_theta).unwrap_or(hf.rope_theta);
        let config = BaseConfig {
            layers: hf.num_hidden_layers,
            hidden: hf.hidden_size,
            intermediate: hf.intermediate_size,
            heads,
            kv_heads: hf.num_key_value_heads.unwrap_or(heads),
            head_dim: hf.head_dim.unwrap_or(hf.hidden_size / heads.max(1)),
            rms_norm_eps: hf.rms_norm_eps,
            rope_base,
            rope: RopeLayout::Halves,
            context_length: hf.max_position_embeddings,
        };
        let (tokenizer, chat_template) =
            netgpt_inference::loader::hf_tokenizer(dir, None, None).map_err(|e| TrainError::Base(e.to_string()))?;
        let base = Self { config, embeddings, layers, norm, head, tokenizer, chat_template, source: dir.to_path_buf() };
        base.check()?;
        Ok(base)
    }

    /// The seven projections of every block, in [`PROJECTIONS`] order, and PEFT's names.
    pub fn sites(&self) -> AdapterSites {
        let c = &self.config;
        let projections = PROJECTIONS
            .iter()
            .zip(MODULES)
            .map(|(&target, module)| {
                let (inputs, outputs) = c.projection_shape(target).unwrap_or((0, 0));
                Site { target, module, inputs, outputs }
            })
            .collect();
        let gguf = c.rope == RopeLayout::Interleaved && self.source.is_file();
        AdapterSites {
            family: "llama",
            layers: c.layers,
            projections,
            block_prefix: "model.layers",
            fan_in_fan_out: false,
            qk_row_order: gguf.then_some(QkRowOrder { heads: c.heads, kv_heads: c.kv_heads, head_dim: c.head_dim }),
            default_targets: &["q_proj", "k_proj", "v_proj", "o_proj"],
        }
    }

    /// Shapes agree with the hyper-parameters (a mismatch would fail deep in a matmul).
    fn check(&self) -> Result<(), TrainError> {
        let c = &self.config;
        if c.heads == 0 || c.kv_heads == 0 || !c.heads.is_multiple_of(c.kv_heads) || !c.head_dim.is_multiple_of(2) {
            return Err(TrainError::Base(format!(
                "{} heads, {} key/value heads of {}",
                c.heads, c.kv_heads, c.head_dim
            )));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            for (name, weight) in PROJECTIONS.iter().zip(&layer.projections) {
                let (input, output) = c.projection_shape(name).unwrap_or((0, 0));
                if weight.dims() != [output, input] {
                    return Err(TrainError::Base(format!(
                        "layer {index} {name} has shape {:?}, expected [{output}, {input}]",
                        weight.dims()
                    )));
                }
            }
        }
        Ok(())
    }
}
