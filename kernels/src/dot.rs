//! Dot products of packed weight rows with 8-bit activation rows, per instruction set.
//!
//! [`tile`] fills the products of a tile of weight rows with all `m` activation rows.
//! The rows of one interleaved group (four or sixteen, see [`super::formats`]) run
//! together so that every activation block loaded serves all of them; a tile's weights
//! stay in cache while the activation rows pass over them, so a batch of `m` sequences
//! reads the weights from memory once per step, not `m` times.
//!
//! Each instruction set has its own `#[target_feature]` function, chosen at run time, so
//! the binary runs on any x86-64 machine and uses AVX-512 VNNI where the CPU has it.

use super::formats::{BLOCK, Kind, Layout, PackedWeights, QuantizedRows};
use super::isa::Isa;

/// Activation rows handled per pass over a tile's weights: a tile's weights stay in
/// L1/L2 while this many activation rows pass over them.
const ACTIVATION_CHUNK: usize = 32;

/// Groups `groups` of `w` times every activation row: `write(j, first, products)` with
/// the products of activation row `j` and weight rows `first..first + products.len()`
/// (one group; padding rows of the last group are left out).
pub fn tile(
    isa: Isa,
    w: &PackedWeights,
    groups: std::ops::Range<usize>,
    a: &QuantizedRows,
    mut write: impl FnMut(usize, usize, &[f32]),
) {
    let m = a.rows;
    assert!(w.cols == a.cols && groups.end <= w.groups(), "tile outside the weights");
    // A caller naming a variant this CPU lacks gets the portable one, never illegal
    // instructions.
    let isa = if isa == Isa::current() || isa.supported() { isa } else { Isa::Scalar };
    let group_rows = w.layout.rows();
    let mut emit = |g: usize, j: usize, products: &[f32]| {
        let first = g * group_rows;
        write(j, first, &products[..(w.rows - first).min(group_rows)]);
    };
    match (isa, w.layout) {
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, Layout::Rows16) => {
            for j0 in (0..m).step_by(ACTIVATION_CHUNK) {
                let end = (j0 + ACTIVATION_CHUNK).min(m);
                for g in groups.clone() {
                    let mut j = j0;
                    while j < end {
                        // SAFETY: the CPU has AVX-512 VNNI (checked above), the layout is
                        // the kernel's, group `g` and rows `j..end` are in bounds.
                        let (done, products) = unsafe { x86::wide_rows(w, g, a, j, end - j) };
                        for (r, products) in products[..done].iter().enumerate() {
                            emit(g, j + r, products);
                        }
                        j += done;
                    }
                }
            }
        }
        (Isa::Avx512Vnni | Isa::Avx2, Layout::Rows4) => {
            for j0 in (0..m).step_by(ACTIVATION_CHUNK) {
                let end = (j0 + ACTIVATION_CHUNK).min(m);
                for g in groups.clone() {
                    for j in j0..end {
                        emit(g, j, &group_dot(isa, w, g, a, j));
                    }
                }
            }
        }
        _ => {
            let mut products = vec![0f32; group_rows];
            for g in groups {
                for j in 0..m {
                    for (i, product) in products.iter_mut().enumerate() {
                        let row = g * group_rows + i;
                        *product = if row < w.rows { row_dot_scalar(w, row, a, j) } else { 0.0 };
                    }
                    emit(g, j, &products);
                }
            }
        }
    }
}

/// Activation rows one call of the [`Layout::Rows16`] kernel serves: each block's
/// weights are loaded and unpacked once for all of them.
const WIDE_ROWS: usize = 8;

/// The four rows of group `g` ([`Layout::Rows4`]) times activation row `j`.
#[inline(always)]
fn group_dot(isa: Isa, w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; 4] {
    match (isa, w.kind) {
        // SAFETY: the variants are only chosen when the CPU reports their features (AVX2
        // is part of AVX-512 VNNI here, see `Isa::detect`); the kernels read group `g`
        // and row `j`, which `tile` checked are in bounds.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni | Isa::Avx2, Kind::Q4) => unsafe { x86::q4_avx2(w, g, a, j) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni | Isa::Avx2, Kind::Q8) => unsafe { x86::q8_avx2(w, g, a, j) },
        _ => std::array::from_fn(|i| if g * 4 + i < w.rows { row_dot_scalar(w, g * 4 + i, a, j) } else { 0.0 }),
    }
}

/// Weight row `row` times activation row `j`, in portable Rust (any layout).
fn row_dot_scalar(w: &PackedWeights, row: usize, a: &QuantizedRows, j: usize) -> f32 {
    let blocks = w.blocks();
    let mut total = 0f32;
    for b in 0..blocks {
        let slot = w.slot(row, b);
        let ab = j * blocks + b;
        let stored = w.row_block(row, b);
        let values = &stored[..w.kind.row_block_bytes()];
        let act = &a.values[ab * BLOCK..(ab + 1) * BLOCK];
        let sum: i32 = match w.kind {
            Kind::Q4 => values
                .iter()
                .enumerate()
                .map(|(k, &byte)| {
                    i32::from(byte & 0x0F) * i32::from(act[k]) + i32::from(byte >> 4) * i32::from(act[k + 16])
                })
                .sum(),
            Kind::Q8 => values.iter().zip(act).map(|(&u, &y)| i32::from(u) * i32::from(y)).sum(),
        };
        total += w.scales[slot] * a.scales[ab] * sum as f32 + w.mins[slot] * a.sums_for(w.kind)[ab];
    }
    total
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{BLOCK, Kind, PackedWeights, QuantizedRows, WIDE_ROWS};

    /// Rows of a [`super::Layout::Rows4`] group (the AVX2 kernels).
    const GROUP: usize = 4;
    /// Rows of a [`super::Layout::Rows16`] group (the AVX-512 kernel).
    const WIDE: usize = 16;

    /// How far ahead of the current block the weights are prefetched. A tile is one
    /// sequential stream, but the hardware prefetcher stops at every 4 KiB page and
    /// decode is bound by how many weight lines are in flight.
    const PREFETCH_BYTES: usize = 1024;

    /// Pointers to what one group-by-row product reads.
    struct Operands {
        values: *const u8,
        scales: *const f32,
        mins: *const f32,
        act: *const i8,
        act_scales: *const f32,
        act_sums: *const f32,
        blocks: usize,
    }

    #[inline(always)]
    fn operands(w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> Operands {
        let blocks = w.blocks();
        let slots = g * blocks * GROUP..(g + 1) * blocks * GROUP;
        let row_bytes = w.kind.row_block_bytes();
        // Whole ranges are sliced (and so bounds-checked) once per group and row, so the
        // raw loads below stay inside them even if the fields were inconsistent.
        Operands {
            values: w.values[slots.start * row_bytes..slots.end * row_bytes].as_ptr(),
            scales: w.scales[slots.clone()].as_ptr(),
            mins: w.mins[slots].as_ptr(),
            act: a.values[j * a.cols..(j + 1) * a.cols][..blocks * BLOCK].as_ptr(),
            act_scales: a.scales[j * blocks..(j + 1) * blocks].as_ptr(),
            act_sums: a.sums_for(w.kind)[j * blocks..(j + 1) * blocks].as_ptr(),
            blocks,
        }
    }

    /// Horizontal sums of four vectors: `[Σa, Σb, Σc, Σd]`.
    #[inline(always)]
    unsafe fn hsum4(a: __m128, b: __m128, c: __m128, d: __m128) -> __m128 {
        unsafe { _mm_hadd_ps(_mm_hadd_ps(a, b), _mm_hadd_ps(c, d)) }
    }

    #[inline(always)]
    unsafe fn halves(v: __m256) -> __m128 {
        unsafe { _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)) }
    }

    #[inline(always)]
    unsafe fn store(v: __m128) -> [f32; GROUP] {
        let mut out = [0f32; GROUP];
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), v) };
        out
    }

    /// Sixteen weight rows (group `g` of a [`Layout::Rows16`] matrix) times activation
    /// rows `j..`, as many of the next `n >= 1` as one kernel takes (at most
    /// `WIDE_ROWS`): returns that count and the products, first entries filled.
    #[inline(always)]
    pub(super) unsafe fn wide_rows(
        w: &PackedWeights,
        g: usize,
        a: &QuantizedRows,
        j: usize,
        n: usize,
    ) -> (usize, [[f32; WIDE]; WIDE_ROWS]) {
        let mut out = [[0f32; WIDE]; WIDE_ROWS];
        macro_rules! run {
            ($kernel:ident, $m:literal) => {{
                // SAFETY: forwarded from the caller.
                let rows = unsafe {
                    match w.kind {
                        Kind::Q4 => $kernel::<true>(w, g, a, j),
                        Kind::Q8 => $kernel::<false>(w, g, a, j),
                    }
                };
                out[..$m].copy_from_slice(&rows);
                $m
            }};
        }
        let done = match n {
            0 | 1 => run!(wide_1, 1),
            2 => run!(wide_2, 2),
            3 => run!(wide_3, 3),
            4..8 => run!(wide_4, 4),
            _ => run!(wide_8, 8),
        };
        (done, out)
    }

    /// AVX-512 VNNI over [`Layout::Rows16`] for activation rows `j..j + M`: per block,
    /// eight 64-byte vectors hold the sixteen rows' values four at a time (4-bit: four
    /// loads, low and high nibbles); each is multiplied with the matching four
    /// activation bytes broadcast to every lane, so lane `i` sums row `i`'s block. Two
    /// sums per activation row alternate to halve the `vpdpbusd` dependency chain.
    ///
    /// Generated per `M` with the rows written out (constant indexes), so every
    /// per-row value stays in a register: a loop over rows kept them on the stack.
    /// Every activation row gets the same arithmetic whatever `M` is, so batching never
    /// changes a row's result.
    macro_rules! wide_kernel {
        ($name:ident, $m:literal, $chains:literal, [$($r:literal),+]) => {
            #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
            unsafe fn $name<const Q4: bool>(
                w: &PackedWeights,
                g: usize,
                a: &QuantizedRows,
                j: usize,
            ) -> [[f32; WIDE]; $m] {
                let blocks = w.blocks();
                let block_bytes = WIDE * w.kind.row_block_bytes();
                // Whole ranges are sliced (and so bounds-checked) once per call, so the
                // raw loads below stay inside them even if the fields were inconsistent.
                let values = w.values[g * blocks * block_bytes..(g + 1) * blocks * block_bytes].as_ptr();
                let scales = w.scales[g * blocks * WIDE..(g + 1) * blocks * WIDE].as_ptr();
                let mins = w.mins[g * blocks * WIDE..(g + 1) * blocks * WIDE].as_ptr();
                let row = |r: usize| j + r;
                let act: [*const i8; $m] =
                    std::array::from_fn(|r| a.values[row(r) * a.cols..(row(r) + 1) * a.cols][..blocks * BLOCK].as_ptr());
                let act_scales: [*const f32; $m] =
                    std::array::from_fn(|r| a.scales[row(r) * blocks..(row(r) + 1) * blocks].as_ptr());
                let sums = a.sums_for(w.kind);
                let act_sums: [*const f32; $m] =
                    std::array::from_fn(|r| sums[row(r) * blocks..(row(r) + 1) * blocks].as_ptr());
                unsafe {
                    let mask = _mm512_set1_epi8(0x0F);
                    let mut acc = [_mm512_setzero_ps(); $m];
                    for b in 0..blocks {
                        let base = values.add(b * block_bytes);
                        for line in (0..block_bytes).step_by(64) {
                            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(PREFETCH_BYTES + line) as *const i8);
                        }
                        // Vector k holds activation bytes 4k..4k + 4 of every row.
                        let mut weights = [_mm512_setzero_si512(); 8];
                        if Q4 {
                            for c in 0..4 {
                                let packed = _mm512_loadu_si512(base.add(c * 64) as *const __m512i);
                                weights[c] = _mm512_and_si512(packed, mask);
                                weights[c + 4] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), mask);
                            }
                        } else {
                            for (c, weights) in weights.iter_mut().enumerate() {
                                *weights = _mm512_loadu_si512(base.add(c * 64) as *const __m512i);
                            }
                        }
                        let y: [*const i32; $m] = [$(act[$r].add(b * BLOCK) as *const i32),+];
                        let mut partial = [[_mm512_setzero_si512(); $chains]; $m];
                        for k in (0..8).step_by($chains) {
                            for c in 0..$chains {
                                $(
                                    partial[$r][c] = _mm512_dpbusd_epi32(
                                        partial[$r][c],
                                        weights[k + c],
                                        _mm512_set1_epi32(y[$r].add(k + c).read_unaligned()),
                                    );
                                )+
                            }
                        }
                        let w_scales = _mm512_loadu_ps(scales.add(b * WIDE));
                        let w_mins = _mm512_loadu_ps(mins.add(b * WIDE));
                        $(
                            // Integer sums: how they were split into chains does not change them.
                            let sum = partial[$r].iter().fold(_mm512_setzero_si512(), |s, &p| _mm512_add_epi32(s, p));
                            let block_sums = _mm512_cvtepi32_ps(sum);
                            let row_scales = _mm512_mul_ps(w_scales, _mm512_set1_ps(*act_scales[$r].add(b)));
                            acc[$r] = _mm512_fmadd_ps(
                                w_mins,
                                _mm512_set1_ps(*act_sums[$r].add(b)),
                                _mm512_fmadd_ps(block_sums, row_scales, acc[$r]),
                            );
                        )+
                    }
                    std::array::from_fn(|r| {
                        let mut out = [0f32; WIDE];
                        _mm512_storeu_ps(out.as_mut_ptr(), acc[r]);
                        out
                    })
                }
            }
        };
    }

    // Fewer rows, more chains per row: enough independent `vpdpbusd` chains either way.
    wide_kernel!(wide_1, 1, 4, [0]);
    wide_kernel!(wide_2, 2, 2, [0, 1]);
    wide_kernel!(wide_3, 3, 2, [0, 1, 2]);
    wide_kernel!(wide_4, 4, 1, [0, 1, 2, 3]);
    wide_kernel!(wide_8, 8, 1, [0, 1, 2, 3, 4, 5, 6, 7]);

    /// 4-bit, AVX2: one row at a time, `vpmaddubsw` + `vpmaddwd` (products ≤ 2·15·127
    /// fit the i16 pairs).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn q4_avx2(w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; GROUP] {
        let o = operands(w, g, a, j);
        unsafe {
            let mask = _mm_set1_epi8(0x0F);
            let ones = _mm256_set1_epi16(1);
            let mut acc = [_mm256_setzero_ps(); GROUP];
            let mut acc_min = _mm_setzero_ps();
            for b in 0..o.blocks {
                let y = _mm256_loadu_si256(o.act.add(b * BLOCK) as *const __m256i);
                let dy = *o.act_scales.add(b);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let packed = _mm_loadu_si128(o.values.add((b * GROUP + i) * 16) as *const __m128i);
                    let low = _mm_and_si128(packed, mask);
                    let high = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
                    let x = _mm256_set_m128i(high, low);
                    let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones);
                    let scale = _mm256_set1_ps(*o.scales.add(b * GROUP + i) * dy);
                    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, *acc);
                }
                acc_min = _mm_fmadd_ps(_mm_loadu_ps(o.mins.add(b * GROUP)), _mm_set1_ps(*o.act_sums.add(b)), acc_min);
            }
            let rows = hsum4(halves(acc[0]), halves(acc[1]), halves(acc[2]), halves(acc[3]));
            store(_mm_add_ps(rows, acc_min))
        }
    }

    /// 8-bit, AVX2: the stored `q + 128` back to signed `q`, then the sign trick
    /// (`|q|` times `y` with `q`'s sign) so `vpmaddubsw` cannot saturate; with signed
    /// values the minimum term is not needed.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn q8_avx2(w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; GROUP] {
        let o = operands(w, g, a, j);
        unsafe {
            let bias = _mm256_set1_epi8(-128);
            let ones = _mm256_set1_epi16(1);
            let mut acc = [_mm256_setzero_ps(); GROUP];
            for b in 0..o.blocks {
                let y = _mm256_loadu_si256(o.act.add(b * BLOCK) as *const __m256i);
                let dy = *o.act_scales.add(b);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let u = _mm256_loadu_si256(o.values.add((b * GROUP + i) * BLOCK) as *const __m256i);
                    let x = _mm256_xor_si256(u, bias);
                    let products = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
                    let sums = _mm256_madd_epi16(products, ones);
                    let scale = _mm256_set1_ps(*o.scales.add(b * GROUP + i) * dy);
                    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, *acc);
                }
            }
            store(hsum4(halves(acc[0]), halves(acc[1]), halves(acc[2]), halves(acc[3])))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::PackedWeights;
    use candle_core::quantized::GgmlDType;
    use half::f16;

    /// Random GGML bytes for `rows × cols` of a format, from a fixed LCG.
    fn random_ggml(dtype: GgmlDType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let mut bytes = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            let scale = f16::from_f32(0.001 + (next() % 1000) as f32 / 50_000.0);
            bytes.extend(scale.to_le_bytes());
            match dtype {
                GgmlDType::Q4_1 => {
                    bytes.extend(f16::from_f32(-((next() % 100) as f32) / 1000.0).to_le_bytes());
                    bytes.extend((0..16).map(|_| next() as u8));
                }
                GgmlDType::Q4_0 => bytes.extend((0..16).map(|_| next() as u8)),
                _ => bytes.extend((0..32).map(|_| (next() % 255) as u8 ^ 0x80)),
            }
        }
        bytes
    }

    /// Every instruction set and layout agrees with the dequantized f32 product (up to
    /// rounding of the activations, which are quantized identically for all of them).
    #[test]
    fn kernels_match_the_dequantized_product() {
        // Nine activation rows: two four-row passes and a single row.
        let (rows, cols, m) = (35, 96, 9);
        let x: Vec<f32> = (0..m * cols).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
        let a = QuantizedRows::quantize(&x, m, cols);
        let dequantized_x: Vec<f32> =
            a.values.iter().enumerate().map(|(i, &q)| a.scales[i / BLOCK] * f32::from(q)).collect();
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let ggml = random_ggml(dtype, rows, cols, 7);
            for layout in [Layout::Rows4, Layout::Rows16] {
                let w = PackedWeights::from_ggml_in(layout, dtype, rows, cols, &ggml).expect("packs");
                let mut dense = vec![0f32; rows * cols];
                w.dequantize_rows(0, &mut dense);
                for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni] {
                    // Groups from the second on: the last one padded past row 34.
                    let first_row = layout.rows();
                    let mut out = vec![f32::NAN; rows * m];
                    tile(isa, &w, 1..w.groups(), &a, |j, first, products| {
                        for (i, &v) in products.iter().enumerate() {
                            out[(first + i) * m + j] = v;
                        }
                    });
                    for r in 0..rows {
                        for j in 0..m {
                            let got = out[r * m + j];
                            if r < first_row {
                                assert!(got.is_nan(), "{dtype:?} {layout:?} {isa:?}: row {r} outside the tile written");
                                continue;
                            }
                            let expected: f32 =
                                (0..cols).map(|k| dense[r * cols + k] * dequantized_x[j * cols + k]).sum();
                            assert!(
                                (got - expected).abs() <= 1e-4 * (1.0 + expected.abs()),
                                "{dtype:?} {layout:?} {isa:?} row {r} act {j}: {got} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Repacking into the other layout keeps every value, scale and minimum.
    #[test]
    fn layouts_hold_the_same_matrix() {
        let (rows, cols) = (21, 64);
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let ggml = random_ggml(dtype, rows, cols, 3);
            let narrow = PackedWeights::from_ggml_in(Layout::Rows4, dtype, rows, cols, &ggml).expect("packs");
            let wide = PackedWeights::from_ggml_in(Layout::Rows16, dtype, rows, cols, &ggml).expect("packs");
            let (mut a, mut b) = (vec![0f32; rows * cols], vec![0f32; rows * cols]);
            narrow.dequantize_rows(0, &mut a);
            wide.dequantize_rows(0, &mut b);
            assert_eq!(a, b, "{dtype:?}");
            let back = wide.relayout(Layout::Rows4);
            assert_eq!((back.values, back.scales, back.mins), (narrow.values, narrow.scales, narrow.mins));
        }
    }
}

#[cfg(test)]
mod isa_agreement {
    use super::*;
    use crate::formats::PackedWeights;
    use candle_core::quantized::GgmlDType;

    /// The SIMD kernels compute what the scalar one does, on model-sized rows.
    #[test]
    fn simd_kernels_agree_with_scalar_on_wide_rows() {
        let (rows, cols, m) = (64, 1536, 11);
        let mut state = 12345u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let x: Vec<f32> = (0..m * cols).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
        let a = QuantizedRows::quantize(&x, m, cols);
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let block_bytes = if dtype == GgmlDType::Q4_1 { 20 } else { 34 };
            let mut bytes = Vec::new();
            for _ in 0..rows * cols / BLOCK {
                bytes.extend(half::f16::from_f32(0.01 + (next() % 100) as f32 / 5000.0).to_le_bytes());
                let rest = block_bytes - 2;
                if dtype == GgmlDType::Q4_1 {
                    bytes.extend(half::f16::from_f32(-0.05).to_le_bytes());
                    bytes.extend((0..rest - 2).map(|_| next() as u8));
                } else {
                    bytes.extend((0..rest).map(|_| (next() % 255) as u8 ^ 0x80));
                }
            }
            let w = PackedWeights::from_ggml(dtype, rows, cols, &bytes).expect("packs");
            let product = |isa: Isa, a: &QuantizedRows| {
                let mut out = vec![0f32; rows * a.rows];
                tile(isa, &w, 0..w.groups(), a, |j, first, products| {
                    for (i, &v) in products.iter().enumerate() {
                        out[(first + i) * a.rows + j] = v;
                    }
                });
                out
            };
            let reference = product(Isa::Scalar, &a);
            let simd = product(Isa::current(), &a);
            let worst = reference.iter().zip(&simd).map(|(r, s)| (r - s).abs() / (1.0 + r.abs())).fold(0f32, f32::max);
            eprintln!("{dtype:?} {:?}: worst relative difference {worst:e}", Isa::current());
            // f32 sums in another order: ~1e-5 relative on these wide rows (AVX2 Q8_0
            // reached 1.02e-5 on an EPYC VM); a wrong kernel is off by orders more.
            assert!(worst < 5e-5, "{dtype:?}: {worst}");
            // Batched rows give exactly what each row alone gives (a batch must not change
            // a sequence's tokens): the multi-row kernels repeat the single-row arithmetic.
            for j in 0..m {
                let alone = QuantizedRows::quantize(&x[j * cols..(j + 1) * cols], 1, cols);
                let single = product(Isa::current(), &alone);
                for row in 0..rows {
                    assert_eq!(single[row].to_bits(), simd[row * m + j].to_bits(), "{dtype:?} row {row} act {j}");
                }
            }
        }
    }
}
