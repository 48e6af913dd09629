//! The CUDA forward step of [`crate::hf_llama::HfLlama`] (f16/bf16).
//!
//! Compared with the CPU path, per layer: one QKV and one gate/up projection (weights
//! concatenated at load), RoPE and the KV-cache write in one kernel, attention for every
//! row of the step in one kernel (each row over its own sequence's cache, through a table
//! of cache addresses built once per step), each residual add fused with the RMSNorm after
//! it, SwiGLU in one kernel, and cuBLAS for the projections. Nine launches a layer; no
//! cache is copied except when it doubles its capacity.
//!
//! Decode steps of up to `GEMV_MAX_ROWS` sequences take five launches a layer instead:
//! matrix-vector kernels for the projections, the gate/up one with SwiGLU in its epilogue,
//! and RoPE, the cache write and attention in one kernel. Every NetGPT kernel is launched
//! with programmatic dependent launch, so each starts (and the projections start loading
//! weights) while the one before it finishes. (Applying SwiGLU inside the down
//! projection's kernel was tried and measured slower: every warp recomputes it for the
//! whole row. Folding the residual add + RMSNorm into the projection before it, done by
//! its last block, measured slower than the separate launch.)
//!
//! Adapters on such a decode step take no launch of their own either: each projection
//! group's `x·Aᵀ` is computed by the kernel that already reads `x` (or by extra blocks of
//! its launch) and the update is added by the kernel that next reads the projection's
//! output (`netgpt_kernels::cuda::LoraDecode`). Larger steps add them with the gathered
//! kernels of `lora::gpu_step`, one or two launches per adapted projection group.

use std::sync::OnceLock;

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm};

use super::layer::Layer;
use crate::lora::gpu_step::GpuLoraStep;
use crate::lora::{LoraAdapter, Target};
use crate::model::{ModelError, SequenceStep};
use netgpt_kernels::cuda::{self, Heads, StepTables};

/// One decoder layer with fused projections.
#[derive(Debug, Clone)]
pub(crate) struct FusedLayer {
    input_norm: Tensor,
    /// `[q + k + v rows, hidden]`.
    qkv: Tensor,
    o: Tensor,
    post_attention_norm: Tensor,
    /// `[2·intermediate, hidden]`, gate rows first.
    gate_up: Tensor,
    down: Tensor,
}

impl FusedLayer {
    pub(crate) fn new(layer: Layer) -> candle_core::Result<Self> {
        let w = |l: &Linear| l.weight().contiguous();
        Ok(Self {
            input_norm: layer.input_norm.weight().contiguous()?,
            qkv: Tensor::cat(&[w(&layer.q_proj)?, w(&layer.k_proj)?, w(&layer.v_proj)?], 0)?,
            o: w(&layer.o_proj)?,
            post_attention_norm: layer.post_attention_norm.weight().contiguous()?,
            gate_up: Tensor::cat(&[w(&layer.gate_proj)?, w(&layer.up_proj)?], 0)?,
            down: w(&layer.down_proj)?,
        })
    }
}

/// What the CUDA step reads of the model.
pub(crate) struct ModelView<'a> {
    pub layers: &'a [FusedLayer],
    pub embed_tokens: &'a Embedding,
    pub norm: &'a RmsNorm,
    pub lm_head: &'a Linear,
    pub rope_cos: &'a Tensor,
    pub rope_sin: &'a Tensor,
    pub eps: f64,
    pub heads: Heads,
}

/// Whether `x` `[rows, in]` is few enough rows for the matrix-vector kernels (each weight
/// byte read once, no cuBLAS heuristics); `multiple` is what they need `in` to divide by.
fn matrix_vector(x: &Tensor, multiple: usize) -> candle_core::Result<bool> {
    Ok(x.dim(0)? <= cuda::GEMV_MAX_ROWS && x.dim(1)?.is_multiple_of(multiple))
}

/// `x · wᵀ` for `x` `[rows, in]`, `w` `[out, in]`: [`cuda::gemv`] for a few rows, cuBLAS
/// beyond. For the output and down projections.
fn project(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if matrix_vector(x, 8)? { cuda::gemv(x, w) } else { x.matmul(&w.t()?) }
}

/// As [`project`] with [`cuda::matvec`], for the wide projections (QKV, the LM head).
fn project_wide(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if matrix_vector(x, 32)? { cuda::matvec(x, w) } else { x.matmul(&w.t()?) }
}

/// SwiGLU of the gate/up projection, `[rows, intermediate]`: one fused matrix-vector
/// launch for a few rows, cuBLAS and a SwiGLU kernel beyond.
fn gate_up_swiglu(x: &Tensor, gate_up: &Tensor) -> candle_core::Result<Tensor> {
    if matrix_vector(x, 32)? { cuda::matvec_swiglu(x, gate_up) } else { cuda::silu_mul(&x.matmul(&gate_up.t()?)?) }
}

/// Runs the step's tokens through every layer, appending to the caches, with each
/// sequence's adapter (`adapters`, parallel to `steps`, or empty) added to the projections
/// it adapts. Returns the hidden states `[tokens, hidden]`, the sequences' tokens in order.
pub(crate) fn hidden_states(
    model: ModelView<'_>,
    steps: &mut [SequenceStep<'_>],
    adapters: &[Option<&LoraAdapter>],
) -> Result<Tensor, ModelError> {
    let device = model.rope_cos.device();
    let dtype = model.embed_tokens.embeddings().dtype();
    let heads = model.heads;
    let layers = model.layers.len();
    let mut caches: Vec<Vec<(Tensor, Tensor)>> = vec![Vec::with_capacity(steps.len()); layers];
    let mut lens = Vec::with_capacity(steps.len());
    let mut positions = Vec::new();
    let mut capacities = Vec::new();
    let mut ids = Vec::new();
    for step in steps.iter_mut() {
        let start = step.cache.len();
        let len = step.tokens.len();
        let mut capacity = 0;
        for (layer, cache) in caches.iter_mut().enumerate() {
            let (keys, values, cap) =
                step.cache.reserve(layer, (heads.kv_heads, heads.head_dim), dtype, device, start + len)?;
            cache.push((keys, values));
            capacity = cap;
        }
        lens.push(len);
        positions.extend((start..start + len).map(|p| p as u32));
        capacities.extend(std::iter::repeat_n(capacity as u32, len));
        ids.extend_from_slice(step.tokens);
    }
    // A decode step at small batch (each sequence adds one token) takes the fused RoPE +
    // attention kernel; prefill rows attend to positions other rows of the step write.
    let decode = lens.iter().all(|&len| len == 1) && lens.len() <= cuda::GEMV_MAX_ROWS;
    let tables = StepTables::new(device, &caches, &lens, &positions, &capacities)?;
    let lora = GpuLoraStep::new(&lens, adapters, device)?;
    let q_width = heads.heads * heads.head_dim;
    let kv_width = heads.kv_heads * heads.head_dim;
    let total = ids.len();
    let ids = Tensor::from_vec(ids, total, device)?;
    let mut hidden = model.embed_tokens.forward(&ids)?;
    let eps = model.eps as f32;
    let Some(first) = model.layers.first() else {
        return Err(ModelError::Invalid("a model without layers".into()));
    };
    let mut normed = candle_nn::ops::rms_norm(&hidden, &first.input_norm, eps)?;
    // A decode step with adapters adds them inside its own launches (no launch of their
    // own) where every projection takes the matrix-vector kernels.
    let fused = match &lora {
        Some(lora) if decode && fused_lora_enabled() && fusable(&model, &normed)? => lora.fused(heads.heads)?,
        _ => None,
    };
    for (index, layer) in model.layers.iter().enumerate() {
        let next_norm = model.layers.get(index + 1).map_or(model.norm.weight(), |next| &next.input_norm);
        if let (Some(fused), Some(lora)) = (&fused, &lora) {
            let entry = |target| lora.entry(index, target);
            let qkv = cuda::matvec_lora_low(
                &normed,
                &layer.qkv,
                fused,
                [entry(Target::Q), entry(Target::K), entry(Target::V)],
            )?;
            let attended = cuda::attention_decode_lora(
                &qkv,
                model.rope_cos,
                model.rope_sin,
                &tables,
                index,
                heads,
                fused,
                [entry(Target::Q), entry(Target::K), entry(Target::V), entry(Target::O)],
            )?;
            let attention = cuda::gemv_lora_apply(&attended, &layer.o, fused, entry(Target::O))?;
            let (sum, post_normed) = cuda::add_rms_norm_lora_low(
                &hidden,
                &attention,
                &layer.post_attention_norm,
                eps,
                fused,
                [entry(Target::Gate), entry(Target::Up)],
            )?;
            let activated = cuda::matvec_swiglu_lora(
                &post_normed,
                &layer.gate_up,
                fused,
                [entry(Target::Gate), entry(Target::Up)],
            )?;
            let mlp = cuda::gemv_lora_low(&activated, &layer.down, fused, entry(Target::Down))?;
            (hidden, normed) = cuda::add_rms_norm_lora_apply(&sum, &mlp, next_norm, eps, fused, entry(Target::Down))?;
            continue;
        }
        let qkv = project_wide(&normed, &layer.qkv)?;
        if let Some(lora) = &lora {
            lora.add(index, &[(Target::Q, q_width), (Target::K, kv_width), (Target::V, kv_width)], &normed, &qkv)?;
        }
        let attention = if decode {
            cuda::attention_decode(&qkv, model.rope_cos, model.rope_sin, &tables, index, heads)?
        } else {
            let q = cuda::rope_append(&qkv, model.rope_cos, model.rope_sin, &tables, index, heads)?;
            cuda::attention(&q, &tables, index, heads)?
        };
        let attended = attention;
        let attention = project(&attended, &layer.o)?;
        if let Some(lora) = &lora {
            lora.add(index, &[(Target::O, attention.dim(1)?)], &attended, &attention)?;
        }
        let (sum, post_normed) = cuda::add_rms_norm(&hidden, &attention, &layer.post_attention_norm, eps)?;
        // The gate/up updates go in before SwiGLU, so a step whose adapters touch gate/up
        // runs the projection, the update and the SwiGLU kernel instead of the fused
        // projection-with-SwiGLU kernel; other steps (PEFT's common q/v targets) keep it.
        let activated = match lora.as_ref().filter(|l| l.adapts(index, &[Target::Gate, Target::Up])) {
            None => gate_up_swiglu(&post_normed, &layer.gate_up)?,
            Some(lora) => {
                let inter = layer.gate_up.dim(0)? / 2;
                let gate_up = project_wide(&post_normed, &layer.gate_up)?;
                lora.add(index, &[(Target::Gate, inter), (Target::Up, inter)], &post_normed, &gate_up)?;
                cuda::silu_mul(&gate_up)?
            }
        };
        let mlp = project(&activated, &layer.down)?;
        if let Some(lora) = &lora {
            lora.add(index, &[(Target::Down, mlp.dim(1)?)], &activated, &mlp)?;
        }
        // The residual add fuses with the next layer's input norm (the last layer's with
        // the final norm, whose output `head` recomputes for the rows it needs).
        (hidden, normed) = cuda::add_rms_norm(&sum, &mlp, next_norm, eps)?;
    }
    for step in steps.iter_mut() {
        step.cache.advance(step.tokens.len());
    }
    debug_assert_eq!(hidden.dtype(), dtype);
    Ok(hidden)
}

/// Whether decode steps add adapters inside their own launches (on unless
/// `NETGPT_CUDA_LORA_FUSED=0`, which keeps the separate update launches: a switch for
/// measuring the two side by side and for ruling the fused kernels out when debugging).
fn fused_lora_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("NETGPT_CUDA_LORA_FUSED").map_or(true, |v| v != "0"))
}

/// Whether a decode step can take the fused LoRA kernels: every projection on the
/// matrix-vector kernels (widths they divide), rows the norm's extra blocks hold.
fn fusable(model: &ModelView<'_>, normed: &Tensor) -> candle_core::Result<bool> {
    let Some(layer) = model.layers.first() else { return Ok(false) };
    let hidden = normed.dim(1)?;
    let inter = layer.gate_up.dim(0)? / 2;
    Ok(matrix_vector(normed, 32)?
        && hidden.is_multiple_of(32)
        && inter.is_multiple_of(32)
        && hidden <= 8192
        && model.heads.head_dim == cuda::HEAD_DIM)
}

/// Logits `[rows, vocab]` (model dtype) for the final hidden states `last` `[rows, hidden]`.
pub(crate) fn head(model: ModelView<'_>, last: &Tensor) -> Result<Tensor, ModelError> {
    let normed = model.norm.forward(&last.contiguous()?)?;
    let logits = project_wide(&normed, &model.lm_head.weight().contiguous()?)?;
    // Sampling and the host copy expect f32 logits; the vocabulary row is small.
    Ok(logits.to_dtype(DType::F32)?)
}
