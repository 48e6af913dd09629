//! BERT encoder + token-classification head on the project's integer kernels.
//!
//! The same computation as candle-transformers' `BertModel` (which [`super::NerModel`]
//! keeps as the f32 reference), except that every `Linear` multiplies 8-bit activations
//! by the published 4-bit weights with [`PackedLinear`] — the kernels the LLaMA server
//! uses — instead of dequantized f32 weights through a float GEMM: the model is
//! compute-bound on the CPU, and integer dot products do several times the work per
//! instruction.

use candle_core::Tensor;
use candle_core::quantized::GgmlDType;
use candle_nn::{LayerNorm, Module};

use super::adapter::{Adapter, AdapterError, LowRank};
use super::onnx::{BertWeights, OnnxError};
use netgpt_kernels::PackedLinear;
use netgpt_kernels::formats::PackedWeights;

/// A `Linear` with integer weights (the published 4-bit ones, or 8-bit ones with an
/// adapter merged in) and an f32 bias.
struct QLinear {
    weight: PackedLinear,
    bias: Vec<f32>,
}

impl QLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(x, netgpt_kernels::math::add_bias)
    }

    /// `gelu(x·Wᵀ + b)` with the exact (erf) GELU, bias and activation in one host pass.
    fn forward_gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(x, netgpt_kernels::math::bias_gelu_erf)
    }

    /// The product's values finished by `epilogue(values, bias)` on the host: candle's
    /// broadcast add and its libm-based `gelu_erf` per value cost as much as the integer
    /// product itself on short texts.
    fn forward_with(&self, x: &Tensor, epilogue: fn(&mut [f32], &[f32])) -> candle_core::Result<Tensor> {
        let mut values = self.weight.forward_values(x)?;
        epilogue(&mut values, &self.bias);
        let mut dims = x.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.bias.len();
        }
        Tensor::from_vec(values, dims, x.device())
    }
}

struct Layer {
    query: QLinear,
    key: QLinear,
    value: QLinear,
    attention_out: QLinear,
    attention_norm: LayerNorm,
    intermediate: QLinear,
    output: QLinear,
    output_norm: LayerNorm,
}

/// The encoder and the classifier.
pub struct QuantizedBert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    classifier: QLinear,
    heads: usize,
}

/// Takes weights (and the adapter's updates) out of the loaded maps by name.
struct Parts {
    weights: BertWeights,
    adapter: Option<Adapter>,
}

/// Why the quantized model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Weights(#[from] OnnxError),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

impl Parts {
    fn float(&mut self, name: &str) -> Result<Tensor, OnnxError> {
        self.weights.floats.remove(name).ok_or_else(|| missing(name))
    }

    fn linear(&mut self, module: &str) -> Result<QLinear, BuildError> {
        let name = format!("{module}.weight");
        let q4 = self.weights.q4.remove(&name).ok_or_else(|| missing(&name))?;
        let update = match self.adapter.as_mut() {
            Some(adapter) => adapter.take(module, q4.rows, q4.cols)?,
            None => None,
        };
        let packed = PackedWeights::from_ggml(GgmlDType::Q4_0, q4.rows, q4.cols, &q4.ggml_q4_0)
            .map_err(|e| OnnxError::Tensor { name: name.clone(), problem: e.to_string() })?;
        let packed = match update {
            Some(update) => merge_to_q8(&packed, &update)
                .map_err(|e| OnnxError::Tensor { name: name.clone(), problem: format!("merging the adapter: {e}") })?,
            None => packed,
        };
        let bias = self.float(&format!("{module}.bias"))?;
        let bias = bias
            .flatten_all()
            .and_then(|b| b.to_vec1::<f32>())
            .map_err(|e| OnnxError::Tensor { name: format!("{module}.bias"), problem: e.to_string() })?;
        if bias.len() != packed.rows {
            return Err(BuildError::Weights(OnnxError::Tensor {
                name: format!("{module}.bias"),
                problem: format!("{} values for {} outputs", bias.len(), packed.rows),
            }));
        }
        Ok(QLinear { weight: PackedLinear::new(packed), bias })
    }

    fn norm(&mut self, module: &str, eps: f64) -> Result<LayerNorm, OnnxError> {
        Ok(LayerNorm::new(self.float(&format!("{module}.weight"))?, self.float(&format!("{module}.bias"))?, eps))
    }
}

/// The 4-bit weights with the adapter's update merged in, as 8-bit weights (GGML Q8_0:
/// one f16 scale per 32 values). Back in 4 bits the update would mostly round away (it
/// is a fraction of one 4-bit step); 8 bits resolve it 16 times more finely, and the same
/// integer kernels run them at the base model's speed, where a separate f32 low-rank term
/// cost a fifth more time per sentence.
fn merge_to_q8(q4: &PackedWeights, update: &LowRank) -> candle_core::Result<PackedWeights> {
    let (rows, cols) = (q4.rows, q4.cols);
    let mut dense = vec![0f32; rows * cols];
    q4.dequantize_rows(0, &mut dense);
    let delta = update.merged()?.flatten_all()?.to_vec1::<f32>()?;
    for (w, d) in dense.iter_mut().zip(delta) {
        *w += d;
    }
    let merged = Tensor::from_vec(dense, (rows, cols), &candle_core::Device::Cpu)?;
    let q8 = candle_core::quantized::QTensor::quantize(&merged, GgmlDType::Q8_0)?;
    PackedWeights::from_ggml(GgmlDType::Q8_0, rows, cols, &q8.data()?)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))
}

fn missing(name: &str) -> OnnxError {
    OnnxError::Tensor { name: name.to_string(), problem: "missing from the model".into() }
}

impl QuantizedBert {
    pub fn new(
        weights: BertWeights,
        adapter: Option<Adapter>,
        layers: usize,
        heads: usize,
        eps: f64,
    ) -> Result<Self, BuildError> {
        if heads == 0 {
            return Err(missing("num_attention_heads (0)").into());
        }
        let mut parts = Parts { weights, adapter };
        let mut encoder = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("bert.encoder.layer.{i}");
            encoder.push(Layer {
                query: parts.linear(&format!("{p}.attention.self.query"))?,
                key: parts.linear(&format!("{p}.attention.self.key"))?,
                value: parts.linear(&format!("{p}.attention.self.value"))?,
                attention_out: parts.linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: parts.norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: parts.linear(&format!("{p}.intermediate.dense"))?,
                output: parts.linear(&format!("{p}.output.dense"))?,
                output_norm: parts.norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        let model = Self {
            word: parts.float("bert.embeddings.word_embeddings.weight")?,
            position: parts.float("bert.embeddings.position_embeddings.weight")?,
            token_type: parts.float("bert.embeddings.token_type_embeddings.weight")?,
            embedding_norm: parts.norm("bert.embeddings.LayerNorm", eps)?,
            layers: encoder,
            classifier: parts.linear("classifier")?,
            heads,
        };
        if let Some(adapter) = parts.adapter {
            adapter.finish()?;
        }
        Ok(model)
    }

    /// Logits `[batch, len, labels]` for `input_ids` `[batch, len]` (u32) with
    /// `mask` `[batch, len]` (1 = token, 0 = padding); token type 0 throughout.
    pub fn forward(&self, input_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = input_ids.dims2()?;
        let words = self.word.embedding(&input_ids.flatten_all()?)?.reshape((batch, len, ()))?;
        let positions = self.position.narrow(0, 0, len)?;
        let token_type = self.token_type.narrow(0, 0, 1)?;
        let mut x = self.embedding_norm.forward(&words.broadcast_add(&positions)?.broadcast_add(&token_type)?)?;
        // Padding gets a large negative score before the softmax (finite, so that an
        // all-padding row cannot produce NaN).
        let mask_bias = ((mask.to_dtype(candle_core::DType::F32)? - 1.0)? * 1e9)?.reshape((batch, 1, 1, len))?;
        for layer in &self.layers {
            x = self.layer(layer, &x, &mask_bias)?;
        }
        self.classifier.forward(&x)
    }

    fn layer(&self, layer: &Layer, x: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len, hidden) = x.dims3()?;
        let head_dim = hidden / self.heads;
        let split = |t: Tensor| t.reshape((batch, len, self.heads, head_dim))?.transpose(1, 2)?.contiguous();
        let q = split(layer.query.forward(x)?)?;
        let k = split(layer.key.forward(x)?)?;
        let v = split(layer.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?.broadcast_add(mask_bias)?;
        let probabilities = softmax_rows(&scores)?;
        let context = probabilities.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((batch, len, hidden))?;
        let attended = layer.attention_norm.forward(&(layer.attention_out.forward(&context)? + x)?)?;
        let inner = layer.intermediate.forward_gelu(&attended)?;
        layer.output_norm.forward(&(layer.output.forward(&inner)? + attended)?)
    }
}

/// Softmax over the last dimension on the host with the kernels' vectorized `exp`
/// (candle's calls libm's `expf` per score). Padding scores are finite (see `forward`),
/// so every row has a finite maximum.
fn softmax_rows(scores: &Tensor) -> candle_core::Result<Tensor> {
    let width = scores.dims().last().copied().unwrap_or(1).max(1);
    let mut values = scores.flatten_all()?.to_vec1::<f32>()?;
    values.chunks_exact_mut(width).for_each(netgpt_kernels::math::softmax_in_place);
    Tensor::from_vec(values, scores.dims(), scores.device())
}
