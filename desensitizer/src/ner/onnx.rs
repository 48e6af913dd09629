//! Reads the weights of a quantized BERT token classifier out of an ONNX file.
//!
//! The NER model ships as ONNX with 4-bit block-quantized matrices (onnxruntime's
//! `com.microsoft.MatMulNBits`) and 8-bit embeddings (`DequantizeLinear`). Only the
//! weights are needed — the graph is a standard `BertForTokenClassification`, which
//! candle-transformers implements — so this module decodes the protobuf messages it needs
//! (prost, a subset of `onnx.proto3`), dequantizes, and names every tensor as the Hugging
//! Face checkpoint would (`bert.encoder.layer.0.attention.self.query.weight`). The
//! shipped file is read as published (its SHA-256 is pinned by the model store): no
//! conversion step, no Python at run time.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use prost::Message;

/// `onnx.ModelProto`, only the graph.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

/// `onnx.GraphProto`, only nodes and initializers.
#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int64, tag = "3")]
    i: i64,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    int32_data: Vec<i32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

/// ONNX `TensorProto.DataType` values used here.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;

/// Why the weights could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the ONNX model has no graph")]
    NoGraph,
    #[error("tensor {name:?}: {problem}")]
    Tensor { name: String, problem: String },
    #[error("node {node:?}: {problem}")]
    Node { node: String, problem: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

fn tensor_error(name: &str, problem: impl Into<String>) -> OnnxError {
    OnnxError::Tensor { name: name.to_string(), problem: problem.into() }
}

fn node_error(node: &NodeProto, problem: impl Into<String>) -> OnnxError {
    OnnxError::Node { node: node.name.clone(), problem: problem.into() }
}

impl TensorProto {
    fn shape(&self) -> Result<Vec<usize>, OnnxError> {
        self.dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| tensor_error(&self.name, "negative dimension")))
            .collect()
    }

    fn element_count(&self) -> Result<usize, OnnxError> {
        self.shape()?
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| tensor_error(&self.name, "too many elements"))
    }

    fn floats(&self) -> Result<Vec<f32>, OnnxError> {
        if self.data_type != FLOAT {
            return Err(tensor_error(&self.name, format!("expected float32, found data type {}", self.data_type)));
        }
        let values: Vec<f32> = if self.raw_data.is_empty() {
            self.float_data.clone()
        } else {
            self.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        if values.len() != self.element_count()? {
            return Err(tensor_error(&self.name, "data length does not match its shape"));
        }
        Ok(values)
    }

    fn bytes(&self) -> Result<Vec<u8>, OnnxError> {
        if self.data_type != UINT8 {
            return Err(tensor_error(&self.name, format!("expected uint8, found data type {}", self.data_type)));
        }
        // Small uint8 tensors (a zero point) may be stored widened in `int32_data`.
        let values: Vec<u8> = if self.raw_data.is_empty() {
            self.int32_data.iter().map(|&v| v as u8).collect()
        } else {
            self.raw_data.clone()
        };
        if values.len() != self.element_count()? {
            return Err(tensor_error(&self.name, "data length does not match its shape"));
        }
        Ok(values)
    }
}

/// A 4-bit matrix `[rows, cols]` as GGML Q4_0 blocks (an f16 scale, then 16 bytes: value
/// `j` in the low nibble of byte `j`, value `j + 16` in its high nibble; `w = d·(q − 8)`),
/// the format the project's integer kernels pack. ONNX's block-32, zero-point-8 layout is
/// the same quantization with another nibble order and an f32 scale.
pub struct Q4Matrix {
    pub rows: usize,
    pub cols: usize,
    pub ggml_q4_0: Vec<u8>,
}

/// The model's weights under their Hugging Face names: floats (embeddings, biases,
/// LayerNorms) and the 4-bit matrices of every `Linear`, kept 4-bit.
pub struct BertWeights {
    pub floats: HashMap<String, Tensor>,
    pub q4: HashMap<String, Q4Matrix>,
}

/// Reads the weights, the `Linear` matrices as GGML Q4_0 (see [`Q4Matrix`]).
pub fn load_bert_q4(bytes: &[u8], device: &Device) -> Result<BertWeights, OnnxError> {
    let (floats, matrices) = read(bytes, device)?;
    let q4 = matrices
        .into_iter()
        .map(|(name, weight)| {
            let matrix = to_ggml_q4_0(&name, &weight)?;
            Ok((name, matrix))
        })
        .collect::<Result<_, OnnxError>>()?;
    Ok(BertWeights { floats, q4 })
}

/// Float weights by their Hugging Face names.
type Floats = HashMap<String, Tensor>;

/// The float weights and, under `….weight`, every `Linear`'s 4-bit matrix as stored: one
/// decode of the file for both loaders.
fn read(bytes: &[u8], device: &Device) -> Result<(Floats, Vec<(String, Nbits)>), OnnxError> {
    let graph = ModelProto::decode(bytes)?.graph.ok_or(OnnxError::NoGraph)?;
    let initializers: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let get = |name: &str| initializers.get(name).copied().ok_or_else(|| tensor_error(name, "missing initializer"));
    let floats = float_weights(&graph, &get, device)?;
    // 4-bit matrices: one `MatMulNBits` node per Linear, named after its module path.
    let matrices = graph
        .node
        .iter()
        .filter(|n| n.op_type == "MatMulNBits")
        .map(|node| Ok((format!("{}.weight", module_name(node)?), read_nbits(node, &get)?)))
        .collect::<Result<_, OnnxError>>()?;
    Ok((floats, matrices))
}

fn module_name(node: &NodeProto) -> Result<String, OnnxError> {
    node.name
        .strip_suffix("/MatMul_Q4")
        .map(|path| path.trim_start_matches('/').replace('/', "."))
        .ok_or_else(|| node_error(node, "unexpected node name"))
}

/// Repacks ONNX 4-bit blocks into GGML Q4_0 (same values: `scale · (q − 8)`, blocks of
/// 32; only the nibble order and the scale's width differ).
fn to_ggml_q4_0(name: &str, weight: &Nbits) -> Result<Q4Matrix, OnnxError> {
    const BLOCK: usize = 32;
    if weight.block != BLOCK || !weight.k.is_multiple_of(BLOCK) {
        return Err(tensor_error(name, "only 32-value blocks map onto GGML Q4_0"));
    }
    let blocks = weight.k / BLOCK;
    let mut out = Vec::with_capacity(weight.n * blocks * 18);
    for row in 0..weight.n {
        for b in 0..blocks {
            let q = &weight.quants[(row * blocks + b) * BLOCK..][..BLOCK];
            out.extend_from_slice(&half::f16::from_f32(weight.scales[row * blocks + b]).to_le_bytes());
            for j in 0..BLOCK / 2 {
                out.push(q[j] | (q[j + BLOCK / 2] << 4));
            }
        }
    }
    Ok(Q4Matrix { rows: weight.n, cols: weight.k, ggml_q4_0: out })
}

fn float_weights<'a>(
    graph: &'a GraphProto,
    get: &impl Fn(&str) -> Result<&'a TensorProto, OnnxError>,
    device: &Device,
) -> Result<HashMap<String, Tensor>, OnnxError> {
    let mut weights = HashMap::new();
    // Float initializers that already carry their checkpoint name: biases, LayerNorms.
    for tensor in &graph.initializer {
        let hf_name = tensor.name.starts_with("bert.") || tensor.name.starts_with("classifier.");
        if hf_name && tensor.data_type == FLOAT && !tensor.dims.is_empty() {
            weights.insert(tensor.name.clone(), Tensor::from_vec(tensor.floats()?, tensor.shape()?, device)?);
        }
    }
    // 8-bit embeddings: `bert.embeddings.X.weight_quantized` with a scalar scale and zero point.
    for tensor in &graph.initializer {
        if let Some(stem) = tensor.name.strip_suffix(".weight_quantized") {
            let scale = scalar(get(&format!("{stem}.weight_scale"))?.floats()?, &tensor.name)?;
            let zero = scalar(get(&format!("{stem}.weight_zero_point"))?.bytes()?, &tensor.name)?;
            let values: Vec<f32> = tensor.bytes()?.iter().map(|&q| (f32::from(q) - f32::from(zero)) * scale).collect();
            weights.insert(format!("{stem}.weight"), Tensor::from_vec(values, tensor.shape()?, device)?);
        }
    }
    Ok(weights)
}

/// The model's float weights under their Hugging Face names, on `device`.
pub fn load_bert_weights(bytes: &[u8], device: &Device) -> Result<HashMap<String, Tensor>, OnnxError> {
    let (mut weights, matrices) = read(bytes, device)?;
    for (name, weight) in matrices {
        weights.insert(name, Tensor::from_vec(weight.dequantize(), (weight.n, weight.k), device)?);
    }
    Ok(weights)
}

fn scalar<T: Copy>(values: Vec<T>, name: &str) -> Result<T, OnnxError> {
    match values.as_slice() {
        [v] => Ok(*v),
        _ => Err(tensor_error(name, "quantization parameters must be per-tensor scalars")),
    }
}

/// A `MatMulNBits` matrix as stored: `[N, K]` in blocks of `block` values along K.
struct Nbits {
    n: usize,
    k: usize,
    block: usize,
    /// The scale of every (row, block).
    scales: Vec<f32>,
    /// The 4-bit values (0..16) in row order, `n × blocks × block` (zero-padded past `k`).
    quants: Vec<u8>,
}

impl Nbits {
    /// `scale · (q − 8)`, row-major `[N, K]`: the matrix a `Linear(K → N)` stores.
    fn dequantize(&self) -> Vec<f32> {
        let blocks = self.k.div_ceil(self.block);
        let mut values = vec![0f32; self.n * self.k];
        for (row, out) in values.chunks_exact_mut(self.k.max(1)).enumerate() {
            for (col, value) in out.iter_mut().enumerate() {
                let (b, i) = (col / self.block, col % self.block);
                let q = self.quants[(row * blocks + b) * self.block + i];
                *value = (f32::from(q) - 8.0) * self.scales[row * blocks + b];
            }
        }
        values
    }
}

/// `MatMulNBits` (bits = 4): `B` is `[N, K / block, block / 2]` bytes, two weights per
/// byte, low nibble first; `scales` is `[N, K / block]`; without a zero-point input the
/// zero point is 8. Read as stored ([`Nbits`]); the values are `scale · (q − 8)`.
fn read_nbits<'a>(
    node: &NodeProto,
    get: &impl Fn(&str) -> Result<&'a TensorProto, OnnxError>,
) -> Result<Nbits, OnnxError> {
    let attribute = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| usize::try_from(a.i).ok())
            .ok_or_else(|| node_error(node, format!("missing attribute {name}")))
    };
    let (k, n, bits, block) = (attribute("K")?, attribute("N")?, attribute("bits")?, attribute("block_size")?);
    if bits != 4 || node.input.len() != 3 || block == 0 || block % 2 != 0 {
        return Err(node_error(node, "only 4-bit weights with a scale and no zero point are supported"));
    }
    let packed = get(&node.input[1])?.bytes()?;
    let scales = get(&node.input[2])?.floats()?;
    let blocks = k.div_ceil(block);
    let sizes = n.checked_mul(blocks).and_then(|nb| Some((nb, nb.checked_mul(block)?, n.checked_mul(k)?)));
    let Some((scale_count, value_count, _)) = sizes else {
        return Err(node_error(node, "K, N and block_size are too large"));
    };
    if packed.len() != value_count / 2 || scales.len() != scale_count {
        return Err(node_error(node, "weight and scale sizes do not match K, N and block_size"));
    }
    let mut quants = Vec::with_capacity(value_count);
    for byte in &packed {
        quants.extend([byte & 0x0f, byte >> 4]);
    }
    Ok(Nbits { n, k, block, scales, quants })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_dequantize_low_first_around_eight() {
        let node = NodeProto {
            name: "/classifier/MatMul_Q4".into(),
            op_type: "MatMulNBits".into(),
            input: vec!["x".into(), "w".into(), "s".into()],
            attribute: [("K", 4), ("N", 1), ("bits", 4), ("block_size", 4)]
                .into_iter()
                .map(|(name, i)| AttributeProto { name: name.into(), i })
                .collect(),
            ..Default::default()
        };
        let w = TensorProto {
            name: "w".into(),
            data_type: UINT8,
            dims: vec![1, 1, 2],
            raw_data: vec![0x9f, 0x08],
            ..Default::default()
        };
        let s = TensorProto {
            name: "s".into(),
            data_type: FLOAT,
            dims: vec![1, 1],
            float_data: vec![0.5],
            ..Default::default()
        };
        let get = |name: &str| match name {
            "w" => Ok(&w),
            "s" => Ok(&s),
            _ => Err(tensor_error(name, "missing")),
        };
        let d = read_nbits(&node, &get).expect("reads");
        // 0x9f → low nibble 15, high 9; 0x08 → 8, 0.
        assert_eq!(d.dequantize(), vec![3.5, 0.5, 0.0, -4.0]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(load_bert_weights(b"not a protobuf \xff\xff", &Device::Cpu).is_err());
        assert!(matches!(load_bert_weights(&[], &Device::Cpu), Err(OnnxError::NoGraph)));
    }
}
