//! Weight layouts the kernels read, built once at load from GGML blocks, and the 8-bit
//! activations they multiply with.
//!
//! GGML stores each row's 32-value blocks one after another with their f16 scales
//! inline. The kernels compute a group of rows at a time, so here the blocks of a group
//! are interleaved: block `b` of rows `G·g..G·g+G` is one contiguous run. A tile of rows
//! is then one sequential stream that the hardware prefetcher follows; short row streams
//! (576 bytes each for SmolLM2) end before it has learnt them, and decode measured 4 GB/s
//! instead of the machine's 18. Scales and minimums are f32 in their own arrays, in the
//! same order: no f16 conversion per block, and a group's scales load as one vector.
//!
//! Two group shapes ([`Layout`]), chosen for the instruction set at load:
//! - [`Layout::Rows4`]: four rows, each row's block bytes contiguous (AVX2, scalar);
//! - [`Layout::Rows16`]: sixteen rows, interleaved four bytes at a time, so one 64-byte
//!   vector holds the same four values of all sixteen rows and one `vpdpbusd` with four
//!   broadcast activation bytes advances sixteen row sums at once. The block's sums come
//!   out one row per lane: no horizontal reduction, and one conversion, one scale and
//!   one minimum term per sixteen rows instead of per four (AVX-512 VNNI).

use candle_core::quantized::GgmlDType;
use half::f16;

use super::isa::Isa;

/// Values per quantization block (every format here).
pub const BLOCK: usize = 32;
/// Bytes of a row's block that stay together in [`Layout::Rows16`] (one `vpdpbusd` lane).
const LANE_BYTES: usize = 4;

/// How the rows of a packed matrix are grouped and interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Groups of four rows, each row's block bytes contiguous.
    Rows4,
    /// Groups of sixteen rows; within a group's block, byte run `c` (bytes `4c..4c+4`)
    /// of all sixteen rows is one 64-byte run.
    Rows16,
}

impl Layout {
    /// Rows per group.
    pub const fn rows(self) -> usize {
        match self {
            Self::Rows4 => 4,
            Self::Rows16 => 16,
        }
    }

    /// The layout the kernels of `isa` read.
    pub fn for_isa(isa: Isa) -> Self {
        if isa == Isa::Avx512Vnni { Self::Rows16 } else { Self::Rows4 }
    }
}

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
    pub layout: Layout,
    pub rows: usize,
    pub cols: usize,
    /// Per (group, block): the group's values (rows past `rows` are zero padding).
    pub values: Vec<u8>,
    /// Per (group, block): the group's scales, one per row.
    pub scales: Vec<f32>,
    /// Per (group, block): the group's minimums, one per row.
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
    /// Packs a GGML tensor `[rows, cols]` (row-major blocks) of a supported type, in the
    /// layout of this process's kernels ([`Isa::current`]).
    pub fn from_ggml(dtype: GgmlDType, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, PackError> {
        Self::from_ggml_in(Layout::for_isa(Isa::current()), dtype, rows, cols, bytes)
    }

    /// [`PackedWeights::from_ggml`] in a given layout.
    pub fn from_ggml_in(
        layout: Layout,
        dtype: GgmlDType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<Self, PackError> {
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
        let mut packed = Self::zeroed(kind, layout, rows, cols);
        let mut values = [0u8; BLOCK];
        for row in 0..rows {
            for b in 0..blocks_per_row {
                let block = &bytes[(row * blocks_per_row + b) * block_bytes..][..block_bytes];
                let slot = packed.slot(row, b);
                let d = f16_at(block, 0);
                packed.scales[slot] = d;
                let (min, stored) = match dtype {
                    GgmlDType::Q4_1 => (f16_at(block, 2), &block[4..]),
                    GgmlDType::Q4_0 => (-8.0 * d, &block[2..]),
                    _ => (-128.0 * d, &block[2..]),
                };
                packed.mins[slot] = min;
                let values = &mut values[..stored.len()];
                values.copy_from_slice(stored);
                if kind == Kind::Q8 {
                    values.iter_mut().for_each(|v| *v ^= 0x80); // i8 two's complement + 128
                }
                packed.set_row_block(row, b, values);
            }
        }
        Ok(packed)
    }

    /// The same matrix in another layout.
    pub fn relayout(&self, layout: Layout) -> Self {
        if layout == self.layout {
            return self.clone();
        }
        let mut packed = Self::zeroed(self.kind, layout, self.rows, self.cols);
        for row in 0..self.rows {
            for b in 0..self.blocks() {
                let (from, to) = (self.slot(row, b), packed.slot(row, b));
                packed.scales[to] = self.scales[from];
                packed.mins[to] = self.mins[from];
                let values = self.row_block(row, b);
                packed.set_row_block(row, b, &values[..self.kind.row_block_bytes()]);
            }
        }
        packed
    }

    /// Offset in `values` of byte `k` of (row, block)'s values.
    fn value_offset(&self, row: usize, block: usize, k: usize) -> usize {
        let row_bytes = self.kind.row_block_bytes();
        let group_rows = self.layout.rows();
        let group_block = (row / group_rows) * self.blocks() + block;
        match self.layout {
            Layout::Rows4 => self.slot(row, block) * row_bytes + k,
            Layout::Rows16 => {
                group_block * group_rows * row_bytes
                    + (k / LANE_BYTES) * group_rows * LANE_BYTES
                    + (row % group_rows) * LANE_BYTES
                    + k % LANE_BYTES
            }
        }
    }

    /// The stored values of (row, block) (the first [`Kind::row_block_bytes`] bytes).
    pub fn row_block(&self, row: usize, block: usize) -> [u8; BLOCK] {
        let mut out = [0u8; BLOCK];
        for k in (0..self.kind.row_block_bytes()).step_by(LANE_BYTES) {
            let at = self.value_offset(row, block, k);
            out[k..k + LANE_BYTES].copy_from_slice(&self.values[at..at + LANE_BYTES]);
        }
        out
    }

    fn set_row_block(&mut self, row: usize, block: usize, values: &[u8]) {
        for k in (0..values.len()).step_by(LANE_BYTES) {
            let at = self.value_offset(row, block, k);
            self.values[at..at + LANE_BYTES].copy_from_slice(&values[k..k + LANE_BYTES]);
        }
    }

    fn zeroed(kind: Kind, layout: Layout, rows: usize, cols: usize) -> Self {
        let slots = rows.next_multiple_of(layout.rows()) * (cols / BLOCK);
        Self {
            kind,
            layout,
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

    /// Groups of rows, the last one possibly padded.
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(self.layout.rows())
    }

    /// Index of (row, block) in `scales`/`mins`.
    pub fn slot(&self, row: usize, block: usize) -> usize {
        let group_rows = self.layout.rows();
        ((row / group_rows) * self.blocks() + block) * group_rows + row % group_rows
    }

    /// Stacks matrices of one format and width into one with all their rows, so that
    /// projections of the same input (Q/K/V, gate/up) run as one product. Every part but
    /// the last must fill whole groups of rows.
    pub fn concat_rows(parts: Vec<PackedWeights>) -> Result<Self, PackError> {
        let mut parts = parts.into_iter();
        let Some(mut first) = parts.next() else { return Err(PackError::Mismatch) };
        for part in parts {
            if part.kind != first.kind
                || part.layout != first.layout
                || part.cols != first.cols
                || !first.rows.is_multiple_of(first.layout.rows())
            {
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
        for (r, row) in out.chunks_exact_mut(self.cols).enumerate() {
            for (b, values) in row.chunks_exact_mut(BLOCK).enumerate() {
                let slot = self.slot(first + r, b);
                let (d, m) = (self.scales[slot], self.mins[slot]);
                let stored = self.row_block(first + r, b);
                let bytes = &stored[..self.kind.row_block_bytes()];
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
            // Eight lanes so the maximum vectorizes (the maximum is exact in any order).
            let amax = crate::math::lanes(block, 0f32, |m, v| m.max(v.abs()), f32::max);
            let d = amax / 127.0;
            // Subnormal maxima make 1/d infinite: such a block is zero for our purposes.
            let inverse = if d > 0.0 && (1.0 / d).is_finite() { 1.0 / d } else { 0.0 };
            let sum = quantize_block(block, inverse, q);
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

/// One block of activations to 8 bits: `q = round(v · inverse)` (half away from zero,
/// as GGML does; clamped to ±127; NaN becomes 0). Returns `Σq`.
fn quantize_block(block: &[f32], inverse: f32, q: &mut [i8]) -> i32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if let (Ok(block), Ok(q)) = (<&[f32; BLOCK]>::try_from(block), <&mut [i8; BLOCK]>::try_from(&mut *q)) {
        return avx2::quantize_block(block, inverse, q);
    }
    let mut sum = 0i32;
    for (q, &v) in q.iter_mut().zip(block) {
        let r = round_half_away(v * inverse).clamp(-127.0, 127.0) as i32;
        *q = r as i8;
        sum += r;
    }
    sum
}

/// [`quantize_block`] with AVX2, where the build targets it (`.cargo/config.toml`:
/// x86-64-v3): a call per value to the scalar conversions made quantizing 8 % of a
/// 16-sequence decode step.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
mod avx2 {
    use std::arch::x86_64::*;

    use super::BLOCK;

    pub(super) fn quantize_block(block: &[f32; BLOCK], inverse: f32, q: &mut [i8; BLOCK]) -> i32 {
        // SAFETY: the build enables AVX2 (this module's cfg); the loads and the store
        // cover exactly the 32 values of `block` and `q`.
        unsafe {
            let scale = _mm256_set1_ps(inverse);
            let sign = _mm256_set1_ps(-0.0);
            let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
            let (low, high) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
            let ints: [__m256i; 4] = std::array::from_fn(|c| {
                let x = _mm256_mul_ps(_mm256_loadu_ps(block.as_ptr().add(8 * c)), scale);
                // round_half_away: truncate, then one step away from zero where the
                // dropped fraction is at least a half.
                let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(x);
                let fraction = _mm256_andnot_ps(sign, _mm256_sub_ps(x, t));
                let step = _mm256_or_ps(_mm256_and_ps(x, sign), one);
                let r = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(fraction, half), step));
                // NaN to 0 before clamping (min/max would turn it into a bound).
                let r = _mm256_and_ps(r, _mm256_cmp_ps::<_CMP_ORD_Q>(x, x));
                _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, low), high))
            });
            let sums = _mm256_add_epi32(_mm256_add_epi32(ints[0], ints[1]), _mm256_add_epi32(ints[2], ints[3]));
            let sums = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
            let sums = _mm_add_epi32(sums, _mm_shuffle_epi32::<0b01_00_11_10>(sums));
            let sum = _mm_cvtsi128_si32(_mm_add_epi32(sums, _mm_shuffle_epi32::<0b10_11_00_01>(sums)));
            // Narrowing packs work within 128-bit halves; the permutation restores order.
            let words = _mm256_packs_epi32(ints[0], ints[1]);
            let words_high = _mm256_packs_epi32(ints[2], ints[3]);
            let bytes = _mm256_packs_epi16(words, words_high);
            let ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(q.as_mut_ptr() as *mut __m256i, ordered);
            sum
        }
    }
}

/// `x.round()` (half away from zero) without the libm call: truncation, and one step
/// away from zero where the dropped fraction is at least a half. Exact: `x - trunc(x)`
/// is representable for every finite `x`.
#[inline(always)]
fn round_half_away(x: f32) -> f32 {
    let t = x.trunc();
    if (x - t).abs() >= 0.5 { t + 1f32.copysign(x) } else { t }
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

    /// The vectorized block quantization gives what the scalar definition gives,
    /// including ties, clamping and NaN.
    #[test]
    fn block_quantization_matches_the_scalar_definition() {
        let mut values: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) * 0.25).collect();
        values[3] = f32::NAN;
        values[7] = 1e9;
        values[9] = -1e9;
        for inverse in [0.0, 1.0, 2.0, 4.0, 127.0 / 3.7] {
            let mut fast = [0i8; BLOCK];
            let sum = quantize_block(&values, inverse, &mut fast);
            let mut expected = [0i8; BLOCK];
            let mut expected_sum = 0;
            for (q, &v) in expected.iter_mut().zip(&values) {
                let r = (v * inverse).round().clamp(-127.0, 127.0) as i32;
                *q = r as i8;
                expected_sum += r;
            }
            assert_eq!((fast, sum), (expected, expected_sum), "inverse {inverse}");
        }
    }

    #[test]
    fn rounding_matches_the_standard_library() {
        let mut x = -300.0f32;
        while x < 300.0 {
            for v in [x, x + 0.5, x - 0.5, x.next_up(), (x + 0.5).next_down(), (x + 0.5).next_up()] {
                assert_eq!(round_half_away(v).to_bits(), v.round().to_bits(), "{v}");
            }
            x += 0.25;
        }
        assert!(round_half_away(f32::NAN).is_nan());
        assert_eq!(round_half_away(-0.3).to_bits(), (-0.3f32).round().to_bits());
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
