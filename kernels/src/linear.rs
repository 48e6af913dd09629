//! Linear projections `y = x Wᵀ` over quantized weights, on candle tensors.
//!
//! Activations are quantized to 8 bits once per call and the packed integer kernels run
//! over row tiles in parallel, for decode steps and prompts alike. (Prompts of 128+ rows
//! used to dequantize the weights and run candle's f32 GEMM; since the sixteen-row
//! AVX-512 kernel, the integer path is 1.4-1.8x faster at 320 and 512 rows.)

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use rayon::prelude::*;

use super::dot::tile;
use super::formats::{Layout, PackError, PackedWeights, QuantizedRows};
use super::isa::Isa;

/// Smallest tile handed to one thread, in weight rows.
const MIN_TILE_ROWS: usize = 16;

/// A projection over packed 4- or 8-bit weights.
#[derive(Debug, Clone)]
pub struct PackedLinear {
    weights: Arc<PackedWeights>,
    isa: Isa,
}

impl PackedLinear {
    pub fn new(weights: PackedWeights) -> Self {
        Self { weights: Arc::new(weights), isa: Isa::current() }
    }

    /// The same weights multiplied with another instruction set (tests, benchmarks),
    /// repacked if that instruction set's kernels read another layout.
    pub fn with_isa(&self, isa: Isa) -> Self {
        let layout = Layout::for_isa(isa);
        let weights =
            if layout == self.weights.layout { self.weights.clone() } else { Arc::new(self.weights.relayout(layout)) };
        Self { weights, isa }
    }

    pub fn weights(&self) -> &PackedWeights {
        &self.weights
    }

    /// `x [..., cols] → [..., rows]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut out_dims = x.dims().to_vec();
        let values = self.forward_values(x)?;
        *out_dims.last_mut().unwrap_or(&mut 0) = self.weights.rows;
        Tensor::from_vec(values, out_dims, x.device())
    }

    /// [`PackedLinear::forward`]'s values on the host, row-major `[x rows, weight rows]`,
    /// for host code that reads (or adds to) them without a tensor round trip.
    pub fn forward_values(&self, x: &Tensor) -> candle_core::Result<Vec<f32>> {
        let cols = self.weights.cols;
        let Some(&last) = x.dims().last() else { candle_core::bail!("linear input must have at least one dimension") };
        if last != cols {
            candle_core::bail!("linear input width {last} does not match the weights' {cols}");
        }
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        super::with_f32(&x, |values| self.forward_rows(values))?
    }

    /// The product for host rows: `x` holds whole rows of `cols` values; the result is
    /// row-major `[x rows, weight rows]` (as [`PackedLinear::forward_values`]).
    pub fn forward_rows(&self, x: &[f32]) -> candle_core::Result<Vec<f32>> {
        let cols = self.weights.cols;
        if cols == 0 || !x.len().is_multiple_of(cols) {
            candle_core::bail!("{} input values are not whole rows of the weights' {cols}", x.len());
        }
        Ok(self.product(&QuantizedRows::quantize(x, x.len() / cols, cols)))
    }

    /// `out[j · rows + r]` for every activation row `j` and weight row `r` (the output
    /// layout itself, so nothing is transposed afterwards), tiles of row groups in
    /// parallel.
    fn product(&self, a: &QuantizedRows) -> Vec<f32> {
        let w = &*self.weights;
        let rows = w.rows;
        let mut out = vec![0f32; rows * a.rows];
        let groups = w.groups();
        let threads = rayon::current_num_threads();
        if threads <= 1 {
            tile(self.isa, w, 0..groups, a, |j, first, products| copy_products(&mut out[j * rows + first..], products));
            return out;
        }
        // A few tiles per thread so an unlucky thread does not hold up the step.
        let tile_groups = groups.div_ceil(threads * 4).max(MIN_TILE_ROWS.div_ceil(w.layout.rows()));
        let target = SharedOutput { values: out.as_mut_ptr(), len: out.len() };
        (0..groups.div_ceil(tile_groups)).into_par_iter().for_each(|t| {
            let range = t * tile_groups..((t + 1) * tile_groups).min(groups);
            // SAFETY: tiles cover disjoint row ranges, so no element is written twice;
            // `out` outlives the parallel loop, which joins before it is read.
            tile(self.isa, w, range, a, |j, first, products| unsafe { target.write(j * rows + first, products) });
        });
        out
    }
}

/// The output buffer shared by the tiles of one product, each writing its own rows.
#[derive(Clone, Copy)]
struct SharedOutput {
    values: *mut f32,
    len: usize,
}

// SAFETY: only used for writes to disjoint indexes from the tiles of one product.
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// # Safety
    /// No other thread may access indexes `at..at + values.len()` during the product.
    unsafe fn write(self, at: usize, values: &[f32]) {
        assert!(at + values.len() <= self.len, "output index out of range");
        // SAFETY: in bounds (checked above); the caller guarantees exclusive access.
        copy_products(unsafe { std::slice::from_raw_parts_mut(self.values.add(at), values.len()) }, values);
    }
}

/// Copies one group's products into the output: a whole sixteen-row group as a
/// fixed-size copy (two vector moves) rather than a `memcpy` call per group and row.
#[inline(always)]
fn copy_products(out: &mut [f32], products: &[f32]) {
    match (<&mut [f32; 16]>::try_from(&mut out[..products.len()]), <&[f32; 16]>::try_from(products)) {
        (Ok(out), Ok(products)) => *out = *products,
        _ => out[..products.len()].copy_from_slice(products),
    }
}

/// A projection: packed kernels where the weight format has them, candle's `QMatMul`
/// otherwise (K-quants, f16/f32, and any device other than the CPU).
#[derive(Debug, Clone)]
pub enum Linear {
    Packed(PackedLinear),
    Candle(QMatMul),
}

impl Linear {
    /// Wraps GGUF weights `[rows, cols]`. `requantize` turns formats without fast kernels
    /// (Q5_0/Q5_1) into Q8_0 first.
    pub fn from_qtensor(tensor: QTensor, requantize: bool) -> candle_core::Result<Self> {
        let on_cpu = tensor.device().is_cpu();
        // candle's switch for numerical reference runs (every weight dequantized to f32
        // or f16) applies to the packed kernels too.
        let dequantize_all = std::env::var_os("CANDLE_DEQUANTIZE_ALL").is_some()
            || std::env::var_os("CANDLE_DEQUANTIZE_ALL_F16").is_some();
        let tensor = if on_cpu && requantize { with_fast_kernel(tensor)? } else { tensor };
        if on_cpu
            && !dequantize_all
            && let Some(packed) = pack(&tensor)?
        {
            return Ok(Self::Packed(PackedLinear::new(packed)));
        }
        Ok(Self::Candle(QMatMul::from_qtensor(tensor)?))
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Packed(p) => p.forward(x),
            Self::Candle(q) => q.forward(x),
        }
    }
}

/// The packed layout of a CPU tensor, or `None` for formats without packed kernels.
fn pack(tensor: &QTensor) -> candle_core::Result<Option<PackedWeights>> {
    let dtype = tensor.dtype();
    if !matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q8_0) {
        return Ok(None);
    }
    let &[rows, cols] = tensor.shape().dims() else { return Ok(None) };
    match PackedWeights::from_ggml(dtype, rows, cols, &tensor.data()?) {
        Ok(packed) => Ok(Some(packed)),
        Err(PackError::Ragged { .. }) => Ok(None),
        Err(error) => candle_core::bail!("packing {dtype:?} weights: {error}"),
    }
}

/// Re-quantizes Q5_0/Q5_1, which have neither candle SIMD kernels nor packed ones, to
/// Q8_0: it represents every 5-bit value within 1/254 of its block's range.
fn with_fast_kernel(tensor: QTensor) -> candle_core::Result<QTensor> {
    match tensor.dtype() {
        GgmlDType::Q5_0 | GgmlDType::Q5_1 if tensor.shape().dims().last().is_some_and(|k| k % 32 == 0) => {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)
        }
        _ => Ok(tensor),
    }
}

/// Projections of one input (Q/K/V; gate/up): one packed product over their stacked
/// rows when all are packed in one format, so the input is quantized once and the
/// threads are woken once; otherwise each on its own.
#[derive(Debug, Clone)]
pub enum StackedLinear {
    Stacked { linear: PackedLinear, widths: Vec<usize> },
    Separate(Vec<Linear>),
}

impl StackedLinear {
    pub fn new(parts: Vec<Linear>) -> candle_core::Result<Self> {
        let all_packed = parts.iter().all(|p| matches!(p, Linear::Packed(_)));
        if !all_packed || parts.len() < 2 {
            return Ok(Self::Separate(parts));
        }
        let weights: Vec<PackedWeights> = parts
            .iter()
            .filter_map(|p| match p {
                Linear::Packed(p) => Some(p.weights().clone()),
                Linear::Candle(_) => None,
            })
            .collect();
        let widths = weights.iter().map(|w| w.rows).collect();
        match PackedWeights::concat_rows(weights) {
            Ok(stacked) => Ok(Self::Stacked { linear: PackedLinear::new(stacked), widths }),
            Err(PackError::Mismatch) => Ok(Self::Separate(parts)),
            Err(error) => candle_core::bail!("stacking projections: {error}"),
        }
    }

    /// The stacked product on the host, row-major with rows of `Σ part rows` values (and
    /// that width), when the parts are stacked.
    pub fn forward_joined(&self, x: &Tensor) -> candle_core::Result<Option<(Vec<f32>, usize)>> {
        match self {
            Self::Stacked { linear, .. } => Ok(Some((linear.forward_values(x)?, linear.weights().rows))),
            Self::Separate(_) => Ok(None),
        }
    }

    /// One output per part, each `[..., part rows]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        match self {
            Self::Separate(parts) => parts.iter().map(|p| p.forward(x)).collect(),
            Self::Stacked { linear, widths } => {
                let y = linear.forward(x)?;
                let last = y.rank() - 1;
                let mut offset = 0;
                let mut outputs = Vec::with_capacity(widths.len());
                for &width in widths {
                    outputs.push(y.narrow(last, offset, width)?.contiguous()?);
                    offset += width;
                }
                Ok(outputs)
            }
        }
    }
}
