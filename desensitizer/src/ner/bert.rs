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

use super::adapter::{Adapter, AdapterError, LowRank};
use super::onnx::{BertWeights, OnnxError};
use netgpt_kernels::PackedLinear;
use netgpt_kernels::formats::PackedWeights;

/// A `Linear` with integer weights (the published 4-bit ones, or 8-bit ones with an
/// adapter merged in) and an f32 bias, on host rows.
struct QLinear {
    weight: PackedLinear,
    bias: Vec<f32>,
}

impl QLinear {
    /// (outputs, inputs).
    fn shape(&self) -> (usize, usize) {
        (self.weight.weights().rows, self.weight.weights().cols)
    }

    /// `x·Wᵀ + b` for whole rows of `x`.
    fn rows(&self, x: &[f32]) -> candle_core::Result<Vec<f32>> {
        self.rows_with(x, netgpt_kernels::math::add_bias)
    }

    /// `gelu(x·Wᵀ + b)` with the exact (erf) GELU, bias and activation in one host pass.
    fn rows_gelu(&self, x: &[f32]) -> candle_core::Result<Vec<f32>> {
        self.rows_with(x, netgpt_kernels::math::bias_gelu_erf)
    }

    /// The product's values finished by `epilogue(values, bias)` on the host: candle's
    /// broadcast add and its libm-based `gelu_erf` per value cost as much as the integer
    /// product itself on short texts.
    fn rows_with(&self, x: &[f32], epilogue: fn(&mut [f32], &[f32])) -> candle_core::Result<Vec<f32>> {
        let mut values = self.weight.forward_rows(x)?;
        epilogue(&mut values, &self.bias);
        Ok(values)
    }
}

/// BERT's `LayerNorm` on host rows.
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn apply(&self, x: &mut [f32]) {
        for row in x.chunks_exact_mut(self.weight.len().max(1)) {
            netgpt_kernels::math::layer_norm_in_place(row, &self.weight, &self.bias, self.eps);
        }
    }

    /// `norm(y + residual)`, in `y`'s buffer.
    fn residual(&self, mut y: Vec<f32>, residual: &[f32]) -> Vec<f32> {
        for (v, r) in y.iter_mut().zip(residual) {
            *v += r;
        }
        self.apply(&mut y);
        y
    }
}

/// One encoder layer. Query, key and value are one projection (their rows stacked): the
/// input is quantized once and multiplied in one pass, where three projections quantized
/// it three times (a tenth of a sentence's time went to quantizing activations).
struct Layer {
    qkv: QLinear,
    attention_out: QLinear,
    attention_norm: Norm,
    intermediate: QLinear,
    output: QLinear,
    output_norm: Norm,
}

/// The encoder and the classifier, run on host rows (`[windows · len, hidden]`): every
/// step is a host kernel, so a forward allocates a few vectors per layer and never waits
/// on candle's threads between small tensor operations.
pub struct QuantizedBert {
    /// Embedding tables, row-major with `hidden` values a row.
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    hidden: usize,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    classifier: QLinear,
    heads: usize,
}

/// One projection's weights in GGML form (before packing) and its bias.
struct QuantizedProjection {
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
    bias: Vec<f32>,
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
    #[error("{name}: {problem}")]
    Shape { name: String, problem: String },
}

fn shape_error(name: &str, problem: impl Into<String>) -> BuildError {
    BuildError::Shape { name: name.to_string(), problem: problem.into() }
}

impl Parts {
    fn floats(&mut self, name: &str) -> Result<Vec<f32>, OnnxError> {
        self.weights
            .floats
            .remove(name)
            .ok_or_else(|| missing(name))?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| OnnxError::Tensor { name: name.to_string(), problem: e.to_string() })
    }

    /// A projection's weights, with the adapter's update merged in where it has one.
    fn ggml(&mut self, module: &str) -> Result<QuantizedProjection, BuildError> {
        let name = format!("{module}.weight");
        let q4 = self.weights.q4.remove(&name).ok_or_else(|| missing(&name))?;
        let update = match self.adapter.as_mut() {
            Some(adapter) => adapter.take(module, q4.rows, q4.cols)?,
            None => None,
        };
        let (dtype, bytes) = match update {
            Some(update) => (GgmlDType::Q8_0, merge_to_q8(&name, q4.rows, q4.cols, &q4.ggml_q4_0, &update)?),
            None => (GgmlDType::Q4_0, q4.ggml_q4_0),
        };
        let bias = self.floats(&format!("{module}.bias"))?;
        if bias.len() != q4.rows {
            return Err(BuildError::Weights(OnnxError::Tensor {
                name: format!("{module}.bias"),
                problem: format!("{} values for {} outputs", bias.len(), q4.rows),
            }));
        }
        Ok(QuantizedProjection { dtype, rows: q4.rows, cols: q4.cols, bytes, bias })
    }

    fn linear(&mut self, module: &str) -> Result<QLinear, BuildError> {
        let ggml = self.ggml(module)?;
        pack(module, ggml)
    }

    /// Projections of the same input as one (`modules`' rows stacked in order). Where an
    /// adapter changed some of them but not all (PEFT's usual query and value), the 4-bit
    /// ones are widened to 8 bits exactly (same scale, same integers).
    fn stacked(&mut self, modules: &[String]) -> Result<QLinear, BuildError> {
        let name = modules.join("+");
        let mut parts = modules.iter().map(|m| self.ggml(m)).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = parts.first() else { return Err(shape_error(&name, "nothing to stack")) };
        let (dtype, cols) = (first.dtype, first.cols);
        if parts.iter().any(|p| p.dtype != dtype) {
            for part in parts.iter_mut().filter(|p| p.dtype == GgmlDType::Q4_0) {
                part.bytes = widen_q4_0_to_q8_0(&part.bytes);
                part.dtype = GgmlDType::Q8_0;
            }
        }
        if parts.iter().any(|p| p.cols != cols) {
            return Err(shape_error(&name, "inputs of different widths"));
        }
        let mut stacked =
            QuantizedProjection { dtype: parts[0].dtype, rows: 0, cols, bytes: Vec::new(), bias: Vec::new() };
        for part in parts {
            stacked.rows += part.rows;
            stacked.bytes.extend_from_slice(&part.bytes);
            stacked.bias.extend_from_slice(&part.bias);
        }
        pack(&name, stacked)
    }

    fn norm(&mut self, module: &str, eps: f64) -> Result<Norm, OnnxError> {
        let weight = self.floats(&format!("{module}.weight"))?;
        let bias = self.floats(&format!("{module}.bias"))?;
        if bias.len() != weight.len() {
            return Err(OnnxError::Tensor {
                name: format!("{module}.bias"),
                problem: format!("{} values for {} weights", bias.len(), weight.len()),
            });
        }
        Ok(Norm { weight, bias, eps: eps as f32 })
    }
}

fn pack(name: &str, ggml: QuantizedProjection) -> Result<QLinear, BuildError> {
    let packed = PackedWeights::from_ggml(ggml.dtype, ggml.rows, ggml.cols, &ggml.bytes)
        .map_err(|e| OnnxError::Tensor { name: name.to_string(), problem: e.to_string() })?;
    Ok(QLinear { weight: PackedLinear::new(packed), bias: ggml.bias })
}

/// GGML Q4_0 weights with an adapter's update merged in, as Q8_0. Back in 4 bits the
/// update would mostly round away (it is a fraction of one 4-bit step); 8 bits resolve it
/// 16 times more finely, and the same integer kernels run them at the base model's speed,
/// where a separate f32 low-rank term cost a fifth more time per sentence.
fn merge_to_q8(name: &str, rows: usize, cols: usize, q4_0: &[u8], update: &LowRank) -> Result<Vec<u8>, BuildError> {
    let packed = PackedWeights::from_ggml(GgmlDType::Q4_0, rows, cols, q4_0)
        .map_err(|e| OnnxError::Tensor { name: name.to_string(), problem: e.to_string() })?;
    merged_q8(&packed, update).map_err(|e| shape_error(name, format!("merging the adapter: {e}")))
}

fn merged_q8(q4: &PackedWeights, update: &LowRank) -> candle_core::Result<Vec<u8>> {
    let mut dense = vec![0f32; q4.rows * q4.cols];
    q4.dequantize_rows(0, &mut dense);
    for (w, d) in dense.iter_mut().zip(update.merged()?.flatten_all()?.to_vec1::<f32>()?) {
        *w += d;
    }
    let dense = Tensor::from_vec(dense, (q4.rows, q4.cols), &candle_core::Device::Cpu)?;
    Ok(candle_core::quantized::QTensor::quantize(&dense, GgmlDType::Q8_0)?.data()?.to_vec())
}

/// GGML Q4_0 blocks (an f16 scale, then 32 nibbles: values 0–15 in the low nibbles, 16–31
/// in the high ones, each `scale · (nibble − 8)`) as Q8_0 blocks (the same scale, then 32
/// signed bytes) holding exactly the same values.
fn widen_q4_0_to_q8_0(q4_0: &[u8]) -> Vec<u8> {
    const Q4_BLOCK: usize = 18;
    let mut out = Vec::with_capacity(q4_0.len() / Q4_BLOCK * 34);
    for block in q4_0.chunks_exact(Q4_BLOCK) {
        let (scale, nibbles) = block.split_at(2);
        out.extend_from_slice(scale);
        out.extend(nibbles.iter().map(|b| ((b & 0x0F) as i8 - 8) as u8));
        out.extend(nibbles.iter().map(|b| ((b >> 4) as i8 - 8) as u8));
    }
    out
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
            return Err(shape_error("num_attention_heads", "0 heads"));
        }
        let mut parts = Parts { weights, adapter };
        let mut encoder = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("bert.encoder.layer.{i}");
            let attention = |part: &str| format!("{p}.attention.self.{part}");
            encoder.push(Layer {
                qkv: parts.stacked(&[attention("query"), attention("key"), attention("value")])?,
                attention_out: parts.linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: parts.norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: parts.linear(&format!("{p}.intermediate.dense"))?,
                output: parts.linear(&format!("{p}.output.dense"))?,
                output_norm: parts.norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        let embedding_norm = parts.norm("bert.embeddings.LayerNorm", eps)?;
        let hidden = embedding_norm.weight.len();
        let model = Self {
            word: parts.floats("bert.embeddings.word_embeddings.weight")?,
            position: parts.floats("bert.embeddings.position_embeddings.weight")?,
            token_type: parts.floats("bert.embeddings.token_type_embeddings.weight")?,
            hidden,
            embedding_norm,
            layers: encoder,
            classifier: parts.linear("classifier")?,
            heads,
        };
        model.check_shapes()?;
        if let Some(adapter) = parts.adapter {
            adapter.finish()?;
        }
        Ok(model)
    }

    /// Every width the host forward relies on, checked once: a model whose tensors
    /// disagree is refused here rather than read out of step at run time.
    fn check_shapes(&self) -> Result<(), BuildError> {
        let (hidden, heads) = (self.hidden, self.heads);
        let expect = |name: &str, ok: bool, what: String| if ok { Ok(()) } else { Err(shape_error(name, what)) };
        expect(
            "bert.embeddings.LayerNorm",
            hidden > 0 && hidden.is_multiple_of(heads),
            format!("width {hidden} for {heads} heads"),
        )?;
        for (name, table) in [("word", &self.word), ("position", &self.position), ("token_type", &self.token_type)] {
            let ok = !table.is_empty() && table.len().is_multiple_of(hidden);
            expect(
                &format!("bert.embeddings.{name}_embeddings"),
                ok,
                format!("{} values in rows of {hidden}", table.len()),
            )?;
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let (inner, _) = layer.intermediate.shape();
            for (part, (rows, cols), want) in [
                ("attention.self.query+key+value", layer.qkv.shape(), (3 * hidden, hidden)),
                ("attention.output.dense", layer.attention_out.shape(), (hidden, hidden)),
                ("intermediate.dense", layer.intermediate.shape(), (inner, hidden)),
                ("output.dense", layer.output.shape(), (hidden, inner)),
            ] {
                expect(
                    &format!("bert.encoder.layer.{i}.{part}"),
                    (rows, cols) == want,
                    format!("[{rows}, {cols}], expected {want:?}"),
                )?;
            }
            for (part, norm) in
                [("attention.output.LayerNorm", &layer.attention_norm), ("output.LayerNorm", &layer.output_norm)]
            {
                let width = norm.weight.len();
                expect(
                    &format!("bert.encoder.layer.{i}.{part}"),
                    width == hidden,
                    format!("width {width}, expected {hidden}"),
                )?;
            }
        }
        let (_, cols) = self.classifier.shape();
        expect("classifier", cols == hidden, format!("{cols} inputs, expected {hidden}"))
    }

    /// Logits `[batch, len, labels]` for `input_ids` `[batch, len]` (u32) with
    /// `mask` `[batch, len]` (1 = token, 0 = padding); token type 0 throughout.
    pub fn forward(&self, input_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = input_ids.dims2()?;
        let mut x = self.embed(&input_ids.flatten_all()?.to_vec1::<u32>()?, len)?;
        // Padding gets a large negative score before the softmax (finite, so that an
        // all-padding row cannot produce NaN).
        let key_bias: Vec<f32> = mask
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?
            .iter()
            .map(|m| (m - 1.0) * 1e9)
            .collect();
        for layer in &self.layers {
            x = self.layer(layer, &x, batch, len, &key_bias)?;
        }
        let logits = self.classifier.rows(&x)?;
        Tensor::from_vec(logits, (batch, len, self.classifier.bias.len()), input_ids.device())
    }

    /// Word + position (`p mod len` within each window) + token type 0, normalized.
    fn embed(&self, ids: &[u32], len: usize) -> candle_core::Result<Vec<f32>> {
        let hidden = self.hidden;
        let mut x = vec![0f32; ids.len() * hidden];
        let token_type = &self.token_type[..hidden];
        for (t, (&id, row)) in ids.iter().zip(x.chunks_exact_mut(hidden)).enumerate() {
            let (id, p) = (id as usize, t % len.max(1));
            let (Some(word), Some(position)) =
                (self.word.get(id * hidden..(id + 1) * hidden), self.position.get(p * hidden..(p + 1) * hidden))
            else {
                candle_core::bail!("token {id} at position {p} outside the embedding tables")
            };
            for (((v, w), p), t) in row.iter_mut().zip(word).zip(position).zip(token_type) {
                *v = w + p + t;
            }
        }
        self.embedding_norm.apply(&mut x);
        Ok(x)
    }

    fn layer(
        &self,
        layer: &Layer,
        x: &[f32],
        windows: usize,
        len: usize,
        key_bias: &[f32],
    ) -> candle_core::Result<Vec<f32>> {
        let hidden = self.hidden;
        let qkv = layer.qkv.rows(x)?;
        let context = netgpt_kernels::attention::attend_bidirectional(
            &qkv,
            windows,
            len,
            self.heads,
            hidden / self.heads,
            key_bias,
        );
        let attended = layer.attention_norm.residual(layer.attention_out.rows(&context)?, x);
        let inner = layer.intermediate.rows_gelu(&attended)?;
        Ok(layer.output_norm.residual(layer.output.rows(&inner)?, &attended))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widening 4-bit blocks to 8 bits keeps every value exactly.
    #[test]
    fn widened_q4_0_blocks_hold_the_same_values() {
        let (rows, cols) = (3, 64);
        let blocks = rows * cols / 32;
        let mut q4 = Vec::new();
        for b in 0..blocks {
            q4.extend_from_slice(&half::f16::from_f32(0.01 * (b as f32 + 1.0)).to_le_bytes());
            q4.extend((0..16u8).map(|j| j.wrapping_mul(7).wrapping_add(b as u8 * 3)));
        }
        let unpack = |dtype, bytes: &[u8]| {
            let packed = PackedWeights::from_ggml(dtype, rows, cols, bytes).expect("pack");
            let mut values = vec![0f32; rows * cols];
            packed.dequantize_rows(0, &mut values);
            values
        };
        let narrow = unpack(GgmlDType::Q4_0, &q4);
        assert_eq!(narrow, unpack(GgmlDType::Q8_0, &widen_q4_0_to_q8_0(&q4)));
        assert!(narrow.iter().any(|v| *v < 0.0) && narrow.iter().any(|v| *v > 0.0));
    }
}
