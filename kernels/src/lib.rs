//! CPU kernels for quantized projections, where candle's are the limit.
//!
//! candle 0.11 has no SIMD dot product for GGML Q4_1 (the format of the default model),
//! and its Q8_0 kernel re-quantizes activations per 256 values and runs one product per
//! `QMatMul` call. Here weights are repacked once at load ([`formats`]), activations are
//! quantized once per step and shared by the projections of one input, and the integer
//! dot products run on AVX2 or AVX-512 VNNI chosen at run time ([`dot`]), with row
//! tiles spread over the thread pool ([`linear`]). [`math`] holds the vectorizable
//! scalar math (`exp`, lane folds, log-softmax) the kernels and the sampler share; with
//! the `cuda` feature, [`cuda`] holds the GPU kernels of the f16/bf16 decode path.
//!
//! This crate depends on no other NetGPT crate: model code sits above it.

pub mod attention;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod dot;
pub mod formats;
pub mod isa;
pub mod linear;
pub mod math;

pub use isa::Isa;
pub use linear::{Linear, PackedLinear, StackedLinear};

/// Runs `f` on the values of a contiguous CPU tensor of element type `T` (no copy); a
/// tensor of another type is an error.
pub fn with_values<T: candle_core::WithDType, R>(
    t: &candle_core::Tensor,
    f: impl FnOnce(&[T]) -> R,
) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else { candle_core::bail!("host kernels need CPU tensors") };
    let Some((start, end)) = layout.contiguous_offsets() else { candle_core::bail!("tensor is not contiguous") };
    Ok(f(&cpu.as_slice::<T>()?[start..end]))
}

/// Runs `f` on the f32 values of a contiguous CPU tensor (no copy).
pub fn with_f32<R>(t: &candle_core::Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    with_values(t, f)
}

/// Runs `f` on the f32 values of a contiguous CPU tensor, writable in place (for KV
/// caches the host path appends to). candle exposes its storage mutably only to
/// in-place custom ops, so this is one.
pub fn with_f32_mut<R>(t: &candle_core::Tensor, f: impl FnOnce(&mut [f32]) -> R) -> candle_core::Result<R> {
    struct InPlace<F, R> {
        f: std::cell::Cell<Option<F>>,
        result: std::cell::Cell<Option<R>>,
    }
    impl<F: FnOnce(&mut [f32]) -> R, R> candle_core::InplaceOp1 for InPlace<F, R> {
        fn name(&self) -> &'static str {
            "netgpt-host-write"
        }
        fn cpu_fwd(
            &self,
            storage: &mut candle_core::CpuStorage,
            layout: &candle_core::Layout,
        ) -> candle_core::Result<()> {
            let candle_core::CpuStorage::F32(values) = storage else {
                candle_core::bail!("host writes need f32 tensors")
            };
            let Some((start, end)) = layout.contiguous_offsets() else {
                candle_core::bail!("tensor is not contiguous")
            };
            let Some(f) = self.f.take() else { candle_core::bail!("in-place op ran twice") };
            self.result.set(Some(f(&mut values[start..end])));
            Ok(())
        }
    }
    let op = InPlace { f: std::cell::Cell::new(Some(f)), result: std::cell::Cell::new(None) };
    t.inplace_op1(&op)?;
    op.result.take().ok_or_else(|| candle_core::Error::Msg("in-place op did not run".into()))
}

/// SwiGLU on the host: `out = silu(gate) · up` row by row, for a stacked gate/up
/// product (`gate_up` rows of `2·inter`: gate then up; `out` rows of `inter`). One pass
/// with a vectorized `exp` instead of candle's silu (a libm call per value), multiply
/// and the two copies that split the stacked product.
pub fn swiglu(gate_up: &[f32], inter: usize, out: &mut [f32]) {
    use rayon::prelude::*;
    let row = |(row, out): (&[f32], &mut [f32])| {
        let (gate, up) = row.split_at(inter);
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + crate::math::exp_approx(-g)) * u;
        }
    };
    if inter == 0 {
        return;
    }
    // Prompt-sized inputs on every pool thread; a decode step's rows are too few to share.
    if out.len() >= 1 << 16 {
        gate_up.par_chunks_exact(2 * inter).zip(out.par_chunks_exact_mut(inter)).for_each(row);
    } else {
        gate_up.chunks_exact(2 * inter).zip(out.chunks_exact_mut(inter)).for_each(row);
    }
}

/// Columns [`accumulate_rows`] holds in registers: eight eight-lane accumulators.
pub const CHUNK: usize = 64;

/// `acc += Σ_p coefficients[p] · rows[p·row_len + start..][..64]`: the 64 columns stay
/// in registers over all rows, so each row is read once and `acc` written once (the
/// weighted sum of cached values in attention, the up-projection of LoRA updates). AVX2
/// fused multiply-adds where the build targets them (`.cargo/config.toml`: x86-64-v3).
pub fn accumulate_rows(coefficients: &[f32], rows: &[f32], row_len: usize, start: usize, acc: &mut [f32; CHUNK]) {
    assert!(
        start + CHUNK <= row_len && rows.len() >= coefficients.len() * row_len,
        "accumulate_rows: rows of {row_len} from {start}"
    );
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        use std::arch::x86_64::*;
        // SAFETY: the build enables AVX2 and FMA (this block's cfg); row p's columns
        // start..start + 64 lie inside `rows` and `acc` holds 64 values (checked above).
        unsafe {
            let mut sums: [__m256; 8] = std::array::from_fn(|c| _mm256_loadu_ps(acc.as_ptr().add(8 * c)));
            for (p, &coefficient) in coefficients.iter().enumerate() {
                let w = _mm256_set1_ps(coefficient);
                let row = rows.as_ptr().add(p * row_len + start);
                for (c, sum) in sums.iter_mut().enumerate() {
                    *sum = _mm256_fmadd_ps(w, _mm256_loadu_ps(row.add(8 * c)), *sum);
                }
            }
            for (c, sum) in sums.iter().enumerate() {
                _mm256_storeu_ps(acc.as_mut_ptr().add(8 * c), *sum);
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        let mut sums = [[0f32; 8]; 8];
        for (c, sums) in sums.iter_mut().enumerate() {
            sums.copy_from_slice(&acc[8 * c..8 * c + 8]);
        }
        for (p, &coefficient) in coefficients.iter().enumerate() {
            let row = &rows[p * row_len + start..p * row_len + start + CHUNK];
            for (c, sums) in sums.iter_mut().enumerate() {
                for l in 0..8 {
                    sums[l] += coefficient * row[8 * c + l];
                }
            }
        }
        for (c, sums) in sums.iter().enumerate() {
            acc[8 * c..8 * c + 8].copy_from_slice(sums);
        }
    }
}

/// [`accumulate_rows`] over rows stored in f16 (half the bytes to read), widened to f32
/// in registers (F16C, part of x86-64-v3) and accumulated in f32.
pub fn accumulate_rows_f16(
    coefficients: &[f32],
    rows: &[half::f16],
    row_len: usize,
    start: usize,
    acc: &mut [f32; CHUNK],
) {
    assert!(
        start + CHUNK <= row_len && rows.len() >= coefficients.len() * row_len,
        "accumulate_rows_f16: rows of {row_len} from {start}"
    );
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma", target_feature = "f16c"))]
    {
        use std::arch::x86_64::*;
        // SAFETY: the build enables AVX2, FMA and F16C (this block's cfg); row p's
        // columns start..start + 64 lie inside `rows` and `acc` holds 64 values (checked
        // above); each 128-bit load reads eight f16 values of one row.
        unsafe {
            let mut sums: [__m256; 8] = std::array::from_fn(|c| _mm256_loadu_ps(acc.as_ptr().add(8 * c)));
            for (p, &coefficient) in coefficients.iter().enumerate() {
                let w = _mm256_set1_ps(coefficient);
                let row = rows.as_ptr().add(p * row_len + start).cast::<__m128i>();
                for (c, sum) in sums.iter_mut().enumerate() {
                    let values = _mm256_cvtph_ps(_mm_loadu_si128(row.add(c)));
                    *sum = _mm256_fmadd_ps(w, values, *sum);
                }
            }
            for (c, sum) in sums.iter().enumerate() {
                _mm256_storeu_ps(acc.as_mut_ptr().add(8 * c), *sum);
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma", target_feature = "f16c")))]
    for (p, &coefficient) in coefficients.iter().enumerate() {
        let row = &rows[p * row_len + start..p * row_len + start + CHUNK];
        for (a, r) in acc.iter_mut().zip(row) {
            *a += coefficient * r.to_f32();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both row accumulations against f64 arithmetic, at a column offset inside wider
    /// rows and starting from a non-zero accumulator; the f16 rows hold values that f16
    /// represents exactly, so both must agree with the same reference.
    #[test]
    fn row_accumulations_match_plain_arithmetic() {
        let (count, row_len, start) = (5, 3 * CHUNK, 70);
        let rows: Vec<f32> = (0..count * row_len).map(|i| ((i * 37 % 101) as f32 - 50.0) / 64.0).collect();
        let rows_f16: Vec<half::f16> = rows.iter().map(|&v| half::f16::from_f32(v)).collect();
        assert!(rows.iter().zip(&rows_f16).all(|(&v, h)| h.to_f32() == v));
        let coefficients = [0.5f32, -1.25, 2.0, 0.125, -0.75];
        let initial: [f32; CHUNK] = std::array::from_fn(|c| c as f32 / 8.0);
        let want: Vec<f64> = (0..CHUNK)
            .map(|c| {
                let sum: f64 =
                    (0..count).map(|p| f64::from(coefficients[p]) * f64::from(rows[p * row_len + start + c])).sum();
                f64::from(initial[c]) + sum
            })
            .collect();
        let (mut got, mut got_f16) = (initial, initial);
        accumulate_rows(&coefficients, &rows, row_len, start, &mut got);
        accumulate_rows_f16(&coefficients, &rows_f16, row_len, start, &mut got_f16);
        // Every input is a small multiple of a power of two, so every product and sum is
        // exact in f32: any difference is a wrong element, not rounding.
        for c in 0..CHUNK {
            assert_eq!(f64::from(got[c]), want[c], "column {c}");
            assert_eq!(f64::from(got_f16[c]), want[c], "f16 column {c}");
        }
    }

    #[test]
    #[should_panic(expected = "accumulate_rows_f16")]
    fn row_accumulation_refuses_columns_past_the_row() {
        let rows = vec![half::f16::ZERO; 2 * CHUNK];
        accumulate_rows_f16(&[1.0, 1.0], &rows, CHUNK, 1, &mut [0.0; CHUNK]);
    }
}
