//! Dot products of packed weight rows with 8-bit activation rows, per instruction set.
//!
//! [`tile`] fills the products of a tile of weight rows with all `m` activation rows.
//! Four weight rows (one interleaved group, see [`super::formats`]) run together so that
//! every activation block loaded serves four rows; a tile's weights stay in cache while
//! the activation rows pass over them, so a batch of `m` sequences reads the weights
//! from memory once per step, not `m` times.
//!
//! Each instruction set has its own `#[target_feature]` function, chosen at run time, so
//! the binary runs on any x86-64 machine and uses AVX-512 VNNI where the CPU has it.

use super::formats::{BLOCK, GROUP, Kind, PackedWeights, QuantizedRows};

/// The instruction set the kernels use, detected once at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust (any CPU).
    Scalar,
    /// AVX2 + FMA: `vpmaddubsw`/`vpmaddwd` for the 8-bit products.
    Avx2,
    /// AVX-512 VNNI on 256-bit vectors: one `vpdpbusd` per 32 products.
    Avx512Vnni,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx512Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Scalar
    }

    /// Whether this CPU can run the variant (a variant above [`Isa::detect`] cannot).
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            Self::Avx2 => Self::detect() != Self::Scalar,
            Self::Avx512Vnni => Self::detect() == Self::Avx512Vnni,
        }
    }

    /// The instruction set for this process: the detected one, or a lower one named by
    /// `NETGPT_KERNELS` (`scalar`, `avx2`) to rule the SIMD kernels out when debugging.
    pub fn current() -> Self {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            let detected = Self::detect();
            match std::env::var("NETGPT_KERNELS").as_deref() {
                Ok("scalar") => Self::Scalar,
                Ok("avx2") if detected != Self::Scalar => Self::Avx2,
                _ => detected,
            }
        })
    }
}

/// Activation rows handled per pass over a tile's weights: a tile's weights stay in
/// L1/L2 while this many activation rows pass over them.
const ACTIVATION_CHUNK: usize = 32;

/// Groups `groups` of `w` times every activation row: `write(row, j, value)` for each
/// real row (padding rows of the last group are skipped).
pub fn tile(
    isa: Isa,
    w: &PackedWeights,
    groups: std::ops::Range<usize>,
    a: &QuantizedRows,
    mut write: impl FnMut(usize, usize, f32),
) {
    let m = a.rows;
    assert!(w.cols == a.cols && groups.end <= w.groups(), "tile outside the weights");
    // A caller naming a variant this CPU lacks gets the portable one, never illegal
    // instructions.
    let isa = if isa == Isa::current() || isa.supported() { isa } else { Isa::Scalar };
    let mut emit = |g: usize, j: usize, rows: [f32; GROUP]| {
        for (i, value) in rows.into_iter().enumerate() {
            let row = g * GROUP + i;
            if row < w.rows {
                write(row, j, value);
            }
        }
    };
    for j0 in (0..m).step_by(ACTIVATION_CHUNK) {
        let end = (j0 + ACTIVATION_CHUNK).min(m);
        for g in groups.clone() {
            let mut j = j0;
            // Four activation rows at a time share each block's unpacked weights.
            while j + ACTIVATION_ROWS <= end {
                match group_dot_rows(isa, w, g, a, j) {
                    Some(products) => {
                        for (r, rows) in products.into_iter().enumerate() {
                            emit(g, j + r, rows);
                        }
                        j += ACTIVATION_ROWS;
                    }
                    None => break,
                }
            }
            for j in j..end {
                emit(g, j, group_dot(isa, w, g, a, j));
            }
        }
    }
}

/// Activation rows one multi-row kernel call serves.
const ACTIVATION_ROWS: usize = 4;

/// The four rows of group `g` times activation rows `j..j + 4`, where the instruction
/// set has a multi-row kernel (`None` otherwise). Each weight block is loaded, unpacked
/// and its scales spread once for the four activation rows; the arithmetic per row is
/// the single-row kernel's, in the same order, so the results are identical.
#[inline(always)]
fn group_dot_rows(
    isa: Isa,
    w: &PackedWeights,
    g: usize,
    a: &QuantizedRows,
    j: usize,
) -> Option<[[f32; GROUP]; ACTIVATION_ROWS]> {
    match (isa, w.kind) {
        // SAFETY: as in `group_dot`; rows `j..j + 4` are below `a.rows` (checked by `tile`'s loop).
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, Kind::Q4) => Some(unsafe { x86::q4_avx512_rows(w, g, a, j) }),
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, Kind::Q8) => Some(unsafe { x86::q8_avx512_rows(w, g, a, j) }),
        _ => None,
    }
}

/// The four rows of group `g` times activation row `j`.
#[inline(always)]
fn group_dot(isa: Isa, w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; GROUP] {
    match (isa, w.kind) {
        // SAFETY: the variants are only chosen when the CPU reports their features; the
        // kernels read group `g` and row `j`, which `tile` checked are in bounds.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, Kind::Q4) => unsafe { x86::q4_avx512(w, g, a, j) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, Kind::Q8) => unsafe { x86::q8_avx512(w, g, a, j) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, Kind::Q4) => unsafe { x86::q4_avx2(w, g, a, j) },
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, Kind::Q8) => unsafe { x86::q8_avx2(w, g, a, j) },
        _ => group_dot_scalar(w, g, a, j),
    }
}

fn group_dot_scalar(w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; GROUP] {
    let blocks = w.blocks();
    let row_bytes = w.kind.row_block_bytes();
    let mut out = [0f32; GROUP];
    for (i, total) in out.iter_mut().enumerate() {
        for b in 0..blocks {
            let slot = (g * blocks + b) * GROUP + i;
            let ab = j * blocks + b;
            let values = &w.values[slot * row_bytes..(slot + 1) * row_bytes];
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
            *total += w.scales[slot] * a.scales[ab] * sum as f32 + w.mins[slot] * a.sums_for(w.kind)[ab];
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{ACTIVATION_ROWS as ROWS, BLOCK, GROUP, PackedWeights, QuantizedRows};

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

    /// 4-bit, AVX-512 VNNI: one 64-byte load holds block `b` of all four rows; each
    /// 128-bit lane is one row, multiplied with the activation block broadcast to every
    /// lane, low nibbles with values 0..16 and high nibbles with 16..32.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn q4_avx512(w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; GROUP] {
        let o = operands(w, g, a, j);
        unsafe {
            let mask = _mm512_set1_epi8(0x0F);
            let spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
            let mut acc = _mm512_setzero_ps();
            let mut acc_min = _mm_setzero_ps();
            for b in 0..o.blocks {
                _mm_prefetch::<_MM_HINT_T0>(o.values.wrapping_add(b * 64 + PREFETCH_BYTES) as *const i8);
                let packed = _mm512_loadu_si512(o.values.add(b * 64) as *const __m512i);
                let low = _mm512_and_si512(packed, mask);
                let high = _mm512_and_si512(_mm512_srli_epi16(packed, 4), mask);
                let y_low = _mm512_broadcast_i32x4(_mm_loadu_si128(o.act.add(b * BLOCK) as *const __m128i));
                let y_high = _mm512_broadcast_i32x4(_mm_loadu_si128(o.act.add(b * BLOCK + 16) as *const __m128i));
                let sums = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), low, y_low), high, y_high);
                let scales = _mm_mul_ps(_mm_loadu_ps(o.scales.add(b * GROUP)), _mm_set1_ps(*o.act_scales.add(b)));
                let scales = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(scales));
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scales, acc);
                acc_min = _mm_fmadd_ps(_mm_loadu_ps(o.mins.add(b * GROUP)), _mm_set1_ps(*o.act_sums.add(b)), acc_min);
            }
            let rows = hsum4(
                _mm512_castps512_ps128(acc),
                _mm512_extractf32x4_ps(acc, 1),
                _mm512_extractf32x4_ps(acc, 2),
                _mm512_extractf32x4_ps(acc, 3),
            );
            store(_mm_add_ps(rows, acc_min))
        }
    }

    /// 8-bit, AVX-512 VNNI: two rows per 64-byte register, the activation block
    /// broadcast to both 256-bit halves.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn q8_avx512(w: &PackedWeights, g: usize, a: &QuantizedRows, j: usize) -> [f32; GROUP] {
        let o = operands(w, g, a, j);
        unsafe {
            let spread_01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
            let spread_23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
            let mut acc_01 = _mm512_setzero_ps();
            let mut acc_23 = _mm512_setzero_ps();
            let mut acc_min = _mm_setzero_ps();
            for b in 0..o.blocks {
                _mm_prefetch::<_MM_HINT_T0>(o.values.wrapping_add(b * 128 + PREFETCH_BYTES) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(o.values.wrapping_add(b * 128 + PREFETCH_BYTES + 64) as *const i8);
                let rows_01 = _mm512_loadu_si512(o.values.add(b * 128) as *const __m512i);
                let rows_23 = _mm512_loadu_si512(o.values.add(b * 128 + 64) as *const __m512i);
                let y = _mm512_broadcast_i64x4(_mm256_loadu_si256(o.act.add(b * BLOCK) as *const __m256i));
                let sums_01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), rows_01, y);
                let sums_23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), rows_23, y);
                let scales = _mm_mul_ps(_mm_loadu_ps(o.scales.add(b * GROUP)), _mm_set1_ps(*o.act_scales.add(b)));
                let scales = _mm512_castps128_ps512(scales);
                acc_01 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums_01), _mm512_permutexvar_ps(spread_01, scales), acc_01);
                acc_23 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums_23), _mm512_permutexvar_ps(spread_23, scales), acc_23);
                acc_min = _mm_fmadd_ps(_mm_loadu_ps(o.mins.add(b * GROUP)), _mm_set1_ps(*o.act_sums.add(b)), acc_min);
            }
            let half = |v: __m512, upper: bool| -> __m128 {
                let v = _mm512_castps_pd(v);
                let h = if upper { _mm512_extractf64x4_pd(v, 1) } else { _mm512_castpd512_pd256(v) };
                halves(_mm256_castpd_ps(h))
            };
            let rows = hsum4(half(acc_01, false), half(acc_01, true), half(acc_23, false), half(acc_23, true));
            store(_mm_add_ps(rows, acc_min))
        }
    }

    /// [`q4_avx512`] for activation rows `j..j + 4`.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn q4_avx512_rows(
        w: &PackedWeights,
        g: usize,
        a: &QuantizedRows,
        j: usize,
    ) -> [[f32; GROUP]; ROWS] {
        let o: [Operands; ROWS] = std::array::from_fn(|r| operands(w, g, a, j + r));
        unsafe {
            let mask = _mm512_set1_epi8(0x0F);
            let spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
            let mut acc = [_mm512_setzero_ps(); ROWS];
            let mut acc_min = [_mm_setzero_ps(); ROWS];
            let (values, scales, mins) = (o[0].values, o[0].scales, o[0].mins);
            for b in 0..o[0].blocks {
                _mm_prefetch::<_MM_HINT_T0>(values.wrapping_add(b * 64 + PREFETCH_BYTES) as *const i8);
                let packed = _mm512_loadu_si512(values.add(b * 64) as *const __m512i);
                let low = _mm512_and_si512(packed, mask);
                let high = _mm512_and_si512(_mm512_srli_epi16(packed, 4), mask);
                // Spreading the weight scales before the multiplication gives each lane
                // the same product as the single-row kernel's multiply-then-spread.
                let w_scales =
                    _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_loadu_ps(scales.add(b * GROUP))));
                let w_mins = _mm_loadu_ps(mins.add(b * GROUP));
                for r in 0..ROWS {
                    let act = o[r].act.add(b * BLOCK);
                    let y_low = _mm512_broadcast_i32x4(_mm_loadu_si128(act as *const __m128i));
                    let y_high = _mm512_broadcast_i32x4(_mm_loadu_si128(act.add(16) as *const __m128i));
                    let sums =
                        _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), low, y_low), high, y_high);
                    let row_scales = _mm512_mul_ps(w_scales, _mm512_set1_ps(*o[r].act_scales.add(b)));
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), row_scales, acc[r]);
                    acc_min[r] = _mm_fmadd_ps(w_mins, _mm_set1_ps(*o[r].act_sums.add(b)), acc_min[r]);
                }
            }
            std::array::from_fn(|r| {
                let rows = hsum4(
                    _mm512_castps512_ps128(acc[r]),
                    _mm512_extractf32x4_ps(acc[r], 1),
                    _mm512_extractf32x4_ps(acc[r], 2),
                    _mm512_extractf32x4_ps(acc[r], 3),
                );
                store(_mm_add_ps(rows, acc_min[r]))
            })
        }
    }

    /// [`q8_avx512`] for activation rows `j..j + 4`.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn q8_avx512_rows(
        w: &PackedWeights,
        g: usize,
        a: &QuantizedRows,
        j: usize,
    ) -> [[f32; GROUP]; ROWS] {
        let o: [Operands; ROWS] = std::array::from_fn(|r| operands(w, g, a, j + r));
        unsafe {
            let spread_01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
            let spread_23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
            let mut acc_01 = [_mm512_setzero_ps(); ROWS];
            let mut acc_23 = [_mm512_setzero_ps(); ROWS];
            let mut acc_min = [_mm_setzero_ps(); ROWS];
            let (values, scales, mins) = (o[0].values, o[0].scales, o[0].mins);
            for b in 0..o[0].blocks {
                _mm_prefetch::<_MM_HINT_T0>(values.wrapping_add(b * 128 + PREFETCH_BYTES) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(values.wrapping_add(b * 128 + PREFETCH_BYTES + 64) as *const i8);
                let rows_01 = _mm512_loadu_si512(values.add(b * 128) as *const __m512i);
                let rows_23 = _mm512_loadu_si512(values.add(b * 128 + 64) as *const __m512i);
                let w_scales = _mm512_castps128_ps512(_mm_loadu_ps(scales.add(b * GROUP)));
                let (w_scales_01, w_scales_23) =
                    (_mm512_permutexvar_ps(spread_01, w_scales), _mm512_permutexvar_ps(spread_23, w_scales));
                let w_mins = _mm_loadu_ps(mins.add(b * GROUP));
                for r in 0..ROWS {
                    let y = _mm512_broadcast_i64x4(_mm256_loadu_si256(o[r].act.add(b * BLOCK) as *const __m256i));
                    let sums_01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), rows_01, y);
                    let sums_23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), rows_23, y);
                    let dy = _mm512_set1_ps(*o[r].act_scales.add(b));
                    acc_01[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums_01), _mm512_mul_ps(w_scales_01, dy), acc_01[r]);
                    acc_23[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums_23), _mm512_mul_ps(w_scales_23, dy), acc_23[r]);
                    acc_min[r] = _mm_fmadd_ps(w_mins, _mm_set1_ps(*o[r].act_sums.add(b)), acc_min[r]);
                }
            }
            let half = |v: __m512, upper: bool| -> __m128 {
                let v = _mm512_castps_pd(v);
                let h = if upper { _mm512_extractf64x4_pd(v, 1) } else { _mm512_castpd512_pd256(v) };
                halves(_mm256_castpd_ps(h))
            };
            std::array::from_fn(|r| {
                let rows =
                    hsum4(half(acc_01[r], false), half(acc_01[r], true), half(acc_23[r], false), half(acc_23[r], true));
                store(_mm_add_ps(rows, acc_min[r]))
            })
        }
    }

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
    use crate::kernels::formats::PackedWeights;
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

    /// Every instruction set agrees with the dequantized f32 product (up to rounding of
    /// the activations, which are quantized identically for all of them).
    #[test]
    fn kernels_match_the_dequantized_product() {
        // Six activation rows: one four-row pass and two single rows.
        let (rows, cols, m) = (11, 96, 6);
        let x: Vec<f32> = (0..m * cols).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
        let a = QuantizedRows::quantize(&x, m, cols);
        let dequantized_x: Vec<f32> =
            a.values.iter().enumerate().map(|(i, &q)| a.scales[i / BLOCK] * f32::from(q)).collect();
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let w = PackedWeights::from_ggml(dtype, rows, cols, &random_ggml(dtype, rows, cols, 7)).expect("packs");
            let mut dense = vec![0f32; rows * cols];
            w.dequantize_rows(0, &mut dense);
            let mut isas = vec![Isa::Scalar];
            if Isa::current() != Isa::Scalar {
                isas.push(Isa::Avx2);
            }
            if Isa::current() == Isa::Avx512Vnni {
                isas.push(Isa::Avx512Vnni);
            }
            for isa in isas {
                // Groups 1..3: rows 4..11, the last group padded past row 10.
                let mut out = vec![0f32; 2 * GROUP * m];
                tile(isa, &w, 1..3, &a, |row, j, v| out[(row - 4) * m + j] = v);
                for r in 4..rows {
                    for j in 0..m {
                        let expected: f32 = (0..cols).map(|k| dense[r * cols + k] * dequantized_x[j * cols + k]).sum();
                        let got = out[(r - 4) * m + j];
                        assert!(
                            (got - expected).abs() <= 1e-4 * (1.0 + expected.abs()),
                            "{dtype:?} {isa:?} row {r} act {j}: {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod isa_agreement {
    use super::*;
    use crate::kernels::formats::PackedWeights;
    use candle_core::quantized::GgmlDType;

    /// The SIMD kernels compute what the scalar one does, on model-sized rows.
    #[test]
    fn simd_kernels_agree_with_scalar_on_wide_rows() {
        let (rows, cols, m) = (64, 1536, 5);
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
            let mut reference = vec![0f32; rows * m];
            tile(Isa::Scalar, &w, 0..w.groups(), &a, |row, j, v| reference[row * m + j] = v);
            let mut simd = vec![0f32; rows * m];
            tile(Isa::current(), &w, 0..w.groups(), &a, |row, j, v| simd[row * m + j] = v);
            let worst = reference.iter().zip(&simd).map(|(r, s)| (r - s).abs() / (1.0 + r.abs())).fold(0f32, f32::max);
            eprintln!("{dtype:?} {:?}: worst relative difference {worst:e}", Isa::current());
            assert!(worst < 1e-5, "{dtype:?}: {worst}");
            // Batched rows give exactly what each row alone gives (a batch must not change
            // a sequence's tokens): the multi-row kernels repeat the single-row arithmetic.
            for j in 0..m {
                let alone = QuantizedRows::quantize(&x[j * cols..(j + 1) * cols], 1, cols);
                let mut single = vec![0f32; rows];
                tile(Isa::current(), &w, 0..w.groups(), &alone, |row, _, v| single[row] = v);
                for row in 0..rows {
                    assert_eq!(single[row].to_bits(), simd[row * m + j].to_bits(), "{dtype:?} row {row} act {j}");
                }
            }
        }
    }
}
