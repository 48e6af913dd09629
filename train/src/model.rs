//! The training forward pass: the frozen base plus trainable LoRA matrices, written with
//! candle operations that all have gradients (candle-nn's fused RMSNorm and RoPE kernels
//! have none, so both are spelled out here).
//!
//! Frozen projections go through [`frozen_matmul`]: candle's matmul backward computes the
//! gradient of *both* operands, and for a frozen weight that is a second forward-sized
//! product thrown away — a third of the step. The custom op returns only the input's
//! gradient.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use candle_core::{CpuStorage, CustomOp1, D, DType, Device, Layout, Shape, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::TrainError;
use crate::base::{Base, RopeLayout};
use crate::sites::AdapterSites;

/// A model the trainer can optimise: the mean completion loss of one example.
pub trait CompletionLoss {
    /// Mean cross-entropy of `targets[i]` after `tokens[..=positions[i]]`; `train` turns
    /// dropout on.
    fn loss(&self, tokens: &[u32], positions: &[u32], targets: &[u32], train: bool) -> candle_core::Result<Tensor>;
}

/// `x · wᵀ` for a frozen `w` (`[out, in]`) whose gradient is never needed.
pub fn frozen_matmul(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && w.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(FrozenMatmul { weight: w.clone() })
    } else {
        // Other devices: candle's matmul (its weight gradient is computed and dropped).
        x.broadcast_matmul(&w.t()?)
    }
}

struct FrozenMatmul {
    weight: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else { candle_core::bail!("frozen-matmul: f32 input expected") };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("frozen-matmul: contiguous input expected")
        };
        let x = Tensor::from_slice(&data[start..end], layout.shape(), &Device::Cpu)?;
        let y = x.broadcast_matmul(&self.weight.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.broadcast_matmul(&self.weight)?))
    }
}

/// LoRA hyper-parameters.
#[derive(Debug, Clone)]
pub struct LoraSpec {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f32,
    /// PEFT module names (`q_proj`, `v_proj`, …).
    pub targets: Vec<String>,
}

impl LoraSpec {
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// One adapted projection: `Δy = scale · B(A(dropout(x)))`, `A` `[r, in]`, `B` `[out, r]`.
pub struct LoraPair {
    pub a: Var,
    pub b: Var,
}

/// The trainable matrices, keyed by `(layer, index into sites.projections)`.
pub struct Adapter {
    pub spec: LoraSpec,
    pub sites: AdapterSites,
    pub pairs: BTreeMap<(usize, usize), LoraPair>,
    /// Draws the dropout masks on the CPU. candle's own dropout draws from an unseeded
    /// thread-local generator there, which made two runs with the same seed end at
    /// different losses; the trainer reseeds this from its options.
    dropout_rng: Mutex<StdRng>,
}

impl Adapter {
    /// PEFT's initialisation: `A` Kaiming-uniform (bound `1/√in`), `B` zero, so training
    /// starts from the base model exactly. An empty target list means the base's default.
    pub fn new(
        sites: &AdapterSites,
        mut spec: LoraSpec,
        rng: &mut impl rand::Rng,
        device: &Device,
    ) -> Result<Self, TrainError> {
        if spec.rank == 0 {
            return Err(TrainError::Config("rank must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&spec.dropout) {
            return Err(TrainError::Config(format!("dropout {} is not in [0, 1)", spec.dropout)));
        }
        if spec.targets.is_empty() {
            spec.targets = sites.default_targets.iter().map(|t| t.to_string()).collect();
        }
        let mut indices = Vec::new();
        for target in &spec.targets {
            let selected = sites.select(target);
            if selected.is_empty() {
                return Err(TrainError::Config(format!(
                    "target module {target:?} is not one of {} ({} base)",
                    sites.target_names().join(", "),
                    sites.family
                )));
            }
            for index in selected {
                if !indices.contains(&index) {
                    indices.push(index);
                }
            }
        }
        indices.sort_unstable();
        let mut pairs = BTreeMap::new();
        for layer in 0..sites.layers {
            for &index in &indices {
                let site = &sites.projections[index];
                let (input, output) = (site.inputs, site.outputs);
                let bound = 1.0 / (input as f32).sqrt();
                let values: Vec<f32> = (0..spec.rank * input).map(|_| rng.random_range(-bound..bound)).collect();
                let a = Var::from_tensor(&Tensor::from_vec(values, (spec.rank, input), device)?)?;
                let b = Var::zeros((output, spec.rank), DType::F32, device)?;
                pairs.insert((layer, index), LoraPair { a, b });
            }
        }
        Ok(Self { spec, sites: sites.clone(), pairs, dropout_rng: Mutex::new(StdRng::seed_from_u64(0)) })
    }

    /// Seeds the dropout masks, so that a run is reproducible from its seed. On a GPU the
    /// masks come from the device's generator, which `seed` seeds as well.
    pub fn seed_dropout(&self, seed: u64, device: &Device) -> candle_core::Result<()> {
        *self.dropout_rng.lock().unwrap_or_else(PoisonError::into_inner) = StdRng::seed_from_u64(seed);
        if !device.is_cpu() {
            device.set_seed(seed)?;
        }
        Ok(())
    }

    /// Inverted dropout with probability `spec.dropout`.
    fn dropout(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let p = self.spec.dropout;
        if !x.device().is_cpu() {
            return candle_nn::ops::dropout(x, p);
        }
        let keep = 1.0 / (1.0 - p);
        let mask: Vec<f32> = {
            let mut rng = self.dropout_rng.lock().unwrap_or_else(PoisonError::into_inner);
            (0..x.elem_count()).map(|_| if rng.random::<f32>() < p { 0.0 } else { keep }).collect()
        };
        x * Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?
    }

    pub fn vars(&self) -> Vec<Var> {
        self.pairs.values().flat_map(|p| [p.a.clone(), p.b.clone()]).collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.pairs.values().map(|p| p.a.elem_count() + p.b.elem_count()).sum()
    }
}

/// `y + scale · B(A(dropout(x)))` when `adapter` adapts projection `site` (`(layer, index)`).
pub fn add_lora(
    x: &Tensor,
    y: Tensor,
    adapter: &Adapter,
    site: (usize, usize),
    train: bool,
) -> candle_core::Result<Tensor> {
    let Some(pair) = adapter.pairs.get(&site) else { return Ok(y) };
    let spec = &adapter.spec;
    let x = if train && spec.dropout > 0.0 { adapter.dropout(x)? } else { x.clone() };
    let delta = x.matmul(&pair.a.t()?)?.matmul(&pair.b.t()?)?;
    y + (delta * spec.scale())?
}

/// RoPE tables `[positions, head_dim / 2]`.
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(base: &Base, positions: usize, device: &Device) -> candle_core::Result<Self> {
        let dim = base.config.head_dim;
        let inverse: Vec<f32> =
            (0..dim).step_by(2).map(|i| 1f32 / base.config.rope_base.powf(i as f32 / dim as f32)).collect();
        let half = inverse.len();
        let inverse = Tensor::from_vec(inverse, (1, half), device)?;
        let t = Tensor::arange(0, positions as u32, device)?.to_dtype(DType::F32)?.reshape((positions, 1))?;
        let angles = t.matmul(&inverse)?;
        Ok(Self { cos: angles.cos()?, sin: angles.sin()? })
    }

    /// Rotates `x` (`[heads, tokens, head_dim]`).
    fn apply(&self, x: &Tensor, layout: RopeLayout) -> candle_core::Result<Tensor> {
        let (heads, tokens, dim) = x.dims3()?;
        let cos = self.cos.narrow(0, 0, tokens)?;
        let sin = self.sin.narrow(0, 0, tokens)?;
        match layout {
            RopeLayout::Interleaved => {
                let pairs = x.reshape((heads, tokens, dim / 2, 2))?;
                let (x0, x1) = (pairs.narrow(3, 0, 1)?.squeeze(3)?, pairs.narrow(3, 1, 1)?.squeeze(3)?);
                let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
                let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
                Tensor::stack(&[r0, r1], 3)?.reshape((heads, tokens, dim))
            }
            RopeLayout::Halves => {
                let (x0, x1) = (x.narrow(2, 0, dim / 2)?, x.narrow(2, dim / 2, dim / 2)?);
                let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
                let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
                Tensor::cat(&[r0, r1], 2)
            }
        }
    }
}

/// Softmax over the last dimension, from operations that all have gradients:
/// `candle_nn::ops::softmax_last_dim` is a fused kernel applied without a backward pass,
/// so a gradient reaching the attention weights stopped there and the query and key
/// adapters never learned. The row maximum is a constant shift (softmax does not depend
/// on it), so it is taken from the detached scores.
pub fn softmax_last_dim(scores: &Tensor) -> candle_core::Result<Tensor> {
    let max = scores.detach().max_keepdim(D::Minus1)?;
    let exp = scores.broadcast_sub(&max)?.exp()?;
    exp.broadcast_div(&exp.sum_keepdim(D::Minus1)?)
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(mean_square + eps)?.sqrt()?)?.broadcast_mul(weight)
}

/// The base plus an adapter, for one sequence at a time (`[tokens, hidden]` activations).
pub struct TrainableModel<'a> {
    pub base: &'a Base,
    pub adapter: &'a Adapter,
    rope: Rope,
    mask: Tensor,
}

impl<'a> TrainableModel<'a> {
    pub fn new(base: &'a Base, adapter: &'a Adapter, max_tokens: usize, device: &Device) -> Result<Self, TrainError> {
        let rope = Rope::new(base, max_tokens, device)?;
        let mask = causal_mask(max_tokens, device)?;
        Ok(Self { base, adapter, rope, mask })
    }

    fn projection(&self, x: &Tensor, layer: usize, index: usize, train: bool) -> candle_core::Result<Tensor> {
        let y = frozen_matmul(x, &self.base.layers[layer].projections[index])?;
        add_lora(x, y, self.adapter, (layer, index), train)
    }

    /// Mean cross-entropy of `targets[i]` after `tokens[..=positions[i]]`: the loss on the
    /// completion tokens only (the prompt is context, not something to learn to write).
    pub fn loss(&self, tokens: &[u32], positions: &[u32], targets: &[u32], train: bool) -> candle_core::Result<Tensor> {
        let logits = self.logits(tokens, positions, train)?;
        candle_nn::loss::cross_entropy(&logits, &Tensor::new(targets, logits.device())?)
    }

    /// Logits (`[positions, vocab]`) after `tokens[..=p]` for each `p` of `positions`.
    pub fn logits(&self, tokens: &[u32], positions: &[u32], train: bool) -> candle_core::Result<Tensor> {
        let c = &self.base.config;
        let device = self.base.embeddings.device();
        let n = tokens.len();
        let ids = Tensor::new(tokens, device)?;
        let mut h = self.base.embeddings.index_select(&ids, 0)?;
        let mask = self.mask.narrow(0, 0, n)?.narrow(1, 0, n)?;
        let group = c.heads / c.kv_heads;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        for (l, layer) in self.base.layers.iter().enumerate() {
            let x = rms_norm(&h, &layer.attention_norm, c.rms_norm_eps)?;
            let heads = |t: Tensor, count: usize| t.reshape((n, count, c.head_dim))?.transpose(0, 1)?.contiguous();
            let q = heads(self.projection(&x, l, 0, train)?, c.heads)?;
            let k = heads(self.projection(&x, l, 1, train)?, c.kv_heads)?;
            let v = heads(self.projection(&x, l, 2, train)?, c.kv_heads)?;
            let q = self.rope.apply(&q, c.rope)?;
            let k = self.rope.apply(&k, c.rope)?;
            // Grouped-query attention: each key/value head serves `group` query heads.
            let expand = |t: Tensor| -> candle_core::Result<Tensor> {
                if group == 1 {
                    return Ok(t);
                }
                t.unsqueeze(1)?.broadcast_as((c.kv_heads, group, n, c.head_dim))?.reshape((c.heads, n, c.head_dim))
            };
            let (k, v) = (expand(k)?, expand(v)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let attention = softmax_last_dim(&scores)?.matmul(&v)?;
            let attention = attention.transpose(0, 1)?.reshape((n, c.heads * c.head_dim))?;
            h = (h + self.projection(&attention, l, 3, train)?)?;
            let x = rms_norm(&h, &layer.ffn_norm, c.rms_norm_eps)?;
            let gate = candle_nn::ops::silu(&self.projection(&x, l, 4, train)?)?;
            let up = self.projection(&x, l, 5, train)?;
            h = (h + self.projection(&(gate * up)?, l, 6, train)?)?;
        }
        // Only the rows that predict a completion token reach the vocabulary projection.
        let rows = h.index_select(&Tensor::new(positions, device)?, 0)?;
        let rows = rms_norm(&rows, &self.base.norm, c.rms_norm_eps)?;
        frozen_matmul(&rows, &self.base.head)
    }
}

impl CompletionLoss for TrainableModel<'_> {
    fn loss(&self, tokens: &[u32], positions: &[u32], targets: &[u32], train: bool) -> candle_core::Result<Tensor> {
        TrainableModel::loss(self, tokens, positions, targets, train)
    }
}

/// An upper-triangular `-inf` mask `[n, n]` for causal attention.
pub fn causal_mask(n: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> =
        (0..n).flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (n, n), device)
}
