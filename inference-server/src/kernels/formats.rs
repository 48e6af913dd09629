//! Weight layouts the kernels read, built once at load from GGML blocks, and the 8-bit
//! activations they multiply with.
//!
//! GGML stores each row's 32-value blocks one after another with their f16 scales
//! inline. The kernels compute four rows at a time, so here the blocks of four rows are
//! interleaved: block `b` of rows `4g..4g+4` is one contiguous run (64 bytes for 4-bit,
//! 128 for 8-bit). A tile of rows is then one sequential stream that the hardware
//! prefetcher follows; four short row streams (576 bytes each for SmolLM2) end before it
//! has learnt them, and decode measured 4 GB/s instead of the machine's 18. Scales and
//! minimums are f32 in their own arrays, in the same order: no f16 conversion per block,
//! and four rows' scales load as one vector.

use candle_core::quantized::GgmlDType;
use half::f16;

/// Values per quantization block (every format here).
pub const BLOCK: usize = 32;
/// Rows whose blocks are interleaved (the kernels' unit of work).
pub const GROUP: usize = 4;

/// How the values of a block are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 4-bit `q ∈ 0..16`, `w = d·q + m`. Byte `j` of a row's 16 holds value `j` in its low
    /// nibble and value `j + 16` in its high nibble, as GGML does. (GGML Q4_1; Q4_0 is
    /// the same with `m = −8·d`.)
    Q4,
    /// 8-bit `u = q + 128 ∈ 0..256`, `w = d·q = d·u + m` with `m = −128·d` (GGML Q8_0).
    /// Unsigned values make both formats one product shape: unsigned weights times
    /// signed activations (`vpdpbusd`), plus a per-block minimum term.
    Q8,
}

impl Kind {
    /// Bytes of one row's block.
    pub const fn row_block_bytes(self) -> usize {
        match self {
            Self::Q4 => BLOCK / 2,
            Self::Q8 => BLOCK,
        }
    }
}

/// A weight matrix `[rows, cols]` in the kernels' layout.
#[derive(Debug, Clone)]
pub struct PackedWeights {
    pub kind: Kind,
    pub rows: usize,
    pub cols: usize,
    /// Per (group, block): the four rows' values (rows past `rows` are zero padding).
    pub values: Vec<u8>,
    /// Per (group, block): the four rows' scales.
    pub scales: Vec<f32>,
    /// Per (group, block): the four rows' minimums.
    pub mins: Vec<f32>,
}

/// Why GGML bytes could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{0:?} weights have no packed kernel")]
    Unsupported(GgmlDType),
    #[error("a row of {cols} values is not a whole number of {BLOCK}-value blocks")]
    Ragged { cols: usize },
    #[error("{dtype:?} [{rows}, {cols}] needs {expected} bytes, got {actual}")]
    Size { dtype: GgmlDType, rows: usize, cols: usize, expected: usize, actual: usize },
    #[error("cannot stack weights of different formats or widths, or after a partial group of rows")]
    Mismatch,
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

impl PackedWeights {
    /// Packs a GGML tensor `[rows, cols]` (row-major blocks) of a supported type.
    pub fn from_ggml(dtype: GgmlDType, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, PackError> {
        if !cols.is_multiple_of(BLOCK) {
            return Err(PackError::Ragged { cols });
        }
        let (kind, block_bytes) = match dtype {
            GgmlDType::Q4_0 => (Kind::Q4, 18),
            GgmlDType::Q4_1 => (Kind::Q4, 20),
            GgmlDType::Q8_0 => (Kind::Q8, 34),
            other => return Err(PackError::Unsupported(other)),
        };
        let blocks_per_row = cols / BLOCK;
        let expected = rows * blocks_per_row * block_bytes;
        if bytes.len() != expected {
            return Err(PackError::Size { dtype, rows, cols, expected, actual: bytes.len() });
        }
        let mut packed = Self::zeroed(kind, rows, cols);
        let row_bytes = kind.row_block_bytes();
        for row in 0..rows {
            for b in 0..blocks_per_row {
                let block = &bytes[(row * blocks_per_row + b) * block_bytes..][..block_bytes];
                let slot = packed.slot(row, b);
                let d = f16_at(block, 0);
                packed.scales[slot] = d;
                let values = &mut packed.values[slot * row_bytes..(slot + 1) * row_bytes];
                match dtype {
                    GgmlDType::Q4_1 => {
                        packed.mins[slot] = f16_at(block, 2);
                        values.copy_from_slice(&block[4..]);
                    }
                    GgmlDType::Q4_0 => {
                        packed.mins[slot] = -8.0 * d;
                        values.copy_from_slice(&block[2..]);
                    }
                    _ => {
                        packed.mins[slot] = -128.0 * d;
                        for (v, &q) in values.iter_mut().zip(&block[2..]) {
                            *v = q ^ 0x80; // i8 two's complement + 128
                        }
                    }
                }
            }
        }
        Ok(packed)
    }

    fn zeroed(kind: Kind, rows: usize, cols: usize) -> Self {
        let slots = rows.next_multiple_of(GROUP) * (cols / BLOCK);
        Self {
            kind,
            rows,
            cols,
            values: vec![0; slots * kind.row_block_bytes()],
            scales: vec![0.0; slots],
            mins: vec![0.0; slots],
        }
    }

    /// Blocks per row.
    pub fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    /// Groups of four rows, the last one possibly padded.
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP)
    }

    /// Index of (row, block) in `scales`/`mins` (and, times the row block size, `values`).
    pub fn slot(&self, row: usize, block: usize) -> usize {
        ((row / GROUP) * self.blocks() + block) * GROUP + row % GROUP
    }

    /// Stacks matrices of one format and width into one with all their rows, so that
    /// projections of the same input (Q/K/V, gate/up) run as one product. Every part but
    /// the last must fill whole groups of rows.
    pub fn concat_rows(parts: Vec<PackedWeights>) -> Result<Self, PackError> {
        let mut parts = parts.into_iter();
        let Some(mut first) = parts.next() else { return Err(PackError::Mismatch) };
        for part in parts {
            if part.kind != first.kind || part.cols != first.cols || first.rows % GROUP != 0 {
                return Err(PackError::Mismatch);
            }
            first.rows += part.rows;
            first.values.extend(part.values);
            first.scales.extend(part.scales);
            first.mins.extend(part.mins);
        }
        Ok(first)
    }

    /// Bytes the weights occupy in memory.
    pub fn size_in_bytes(&self) -> usize {
        self.values.len() + 4 * (self.scales.len() + self.mins.len())
    }

    /// Writes rows `first..first + out.len() / cols` as f32 into `out`.
    pub fn dequantize_rows(&self, first: usize, out: &mut [f32]) {
        let row_bytes = self.kind.row_block_bytes();
        for (r, row) in out.chunks_exact_mut(self.cols).enumerate() {
            for (b, values) in row.chunks_exact_mut(BLOCK).enumerate() {
                let slot = self.slot(first + r, b);
                let (d, m) = (self.scales[slot], self.mins[slot]);
                let bytes = &self.values[slot * row_bytes..(slot + 1) * row_bytes];
                match self.kind {
                    Kind::Q4 => {
                        for (j, &byte) in bytes.iter().enumerate() {
                            values[j] = d * f32::from(byte & 0x0F) + m;
                            values[j + 16] = d * f32::from(byte >> 4) + m;
                        }
                    }
                    Kind::Q8 => {
                        for (v, &u) in values.iter_mut().zip(bytes) {
                            *v = d * f32::from(u) + m;
                        }
                    }
                }
            }
        }
    }
}

/// Activation rows quantized to 8 bits per block of 32 (GGML's Q8_1): `x ≈ d·q`, with
/// `d·Σq` kept per block for the minimum term: rounded to f16 as GGML does for 4-bit
/// weights' minimums, exact for the `−128·d` offset of 8-bit weights, where the term
/// cancels most of the product and f16 rounding would show.
#[derive(Debug, Default)]
pub struct QuantizedRows {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<i8>,
    pub scales: Vec<f32>,
    pub sums: Vec<f32>,
    pub exact_sums: Vec<f32>,
}

impl QuantizedRows {
    /// The block sums a weight format's minimum term uses.
    pub fn sums_for(&self, kind: Kind) -> &[f32] {
        match kind {
            Kind::Q4 => &self.sums,
            Kind::Q8 => &self.exact_sums,
        }
    }

    /// Quantizes `rows` rows of `cols` values (`x.len() == rows · cols`, `cols` a multiple
    /// of [`BLOCK`]).
    pub fn quantize(x: &[f32], rows: usize, cols: usize) -> Self {
        let blocks = rows * cols / BLOCK;
        let mut out = Self {
            rows,
            cols,
            values: vec![0; rows * cols],
            scales: vec![0.0; blocks],
            sums: vec![0.0; blocks],
            exact_sums: vec![0.0; blocks],
        };
        for (b, (block, q)) in x.chunks_exact(BLOCK).zip(out.values.chunks_exact_mut(BLOCK)).enumerate() {
            let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            // Subnormal maxima make 1/d infinite: such a block is zero for our purposes.
            let inverse = if d > 0.0 && (1.0 / d).is_finite() { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in q.iter_mut().zip(block) {
                // Round half away from zero, as GGML does (NaN becomes 0).
                let r = ((v * inverse).round() as i32).clamp(-127, 127);
                *q = r as i8;
                sum += r;
            }
            // GGML keeps both in f16; rounding them the same way keeps results within
            // llama.cpp's on near-ties (tests/llama_reference.rs).
            out.sums[b] = f16::from_f32(d * sum as f32).to_f32();
            let d = f16::from_f32(d).to_f32();
            out.scales[b] = d;
            out.exact_sums[b] = d * sum as f32;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q4_1_block(d: f32, m: f32, q: &[u8; 32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(f16::from_f32(d).to_le_bytes());
        bytes.extend(f16::from_f32(m).to_le_bytes());
        bytes.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
        bytes
    }

    #[test]
    fn q4_1_dequantizes_as_ggml_does() {
        let q: [u8; 32] = std::array::from_fn(|i| (i % 16) as u8);
        let bytes = q4_1_block(0.5, -1.0, &q);
        let w = PackedWeights::from_ggml(GgmlDType::Q4_1, 1, 32, &bytes).expect("packs");
        let mut out = vec![0f32; 32];
        w.dequantize_rows(0, &mut out);
        for (i, v) in out.iter().enumerate() {
            assert_eq!(*v, 0.5 * (i % 16) as f32 - 1.0, "value {i}");
        }
    }

    #[test]
    fn q8_0_dequantizes_as_ggml_does() {
        let mut bytes = f16::from_f32(0.25).to_le_bytes().to_vec();
        bytes.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let w = PackedWeights::from_ggml(GgmlDType::Q8_0, 1, 32, &bytes).expect("packs");
        let mut out = vec![0f32; 32];
        w.dequantize_rows(0, &mut out);
        for (i, v) in out.iter().enumerate() {
            assert_eq!(*v, 0.25 * (i as f32 - 16.0), "value {i}");
        }
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        assert!(matches!(PackedWeights::from_ggml(GgmlDType::Q4_1, 2, 32, &[0; 20]), Err(PackError::Size { .. })));
        assert!(matches!(PackedWeights::from_ggml(GgmlDType::Q8_0, 1, 31, &[0; 34]), Err(PackError::Ragged { .. })));
        assert!(matches!(PackedWeights::from_ggml(GgmlDType::F32, 1, 32, &[0; 128]), Err(PackError::Unsupported(_))));
    }

    #[test]
    fn activations_round_trip_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
        let q = QuantizedRows::quantize(&x, 1, 64);
        for (i, v) in x.iter().enumerate() {
            let d = q.scales[i / BLOCK];
            // Half a step, plus the f16 rounding of the scale over up to 127 steps.
            assert!((d * f32::from(q.values[i]) - v).abs() <= d / 2.0 + 127.0 * d / 2048.0 + 1e-6);
        }
    }
}
