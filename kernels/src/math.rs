//! Vectorizable scalar math on host rows: `exp` and `erf` without libm calls, lane-split
//! folds, softmax and log-softmax, LayerNorm, bias + GELU. Used by the kernels (attention
//! softmax, SwiGLU, block scales), the sampler and the learned PII stage's encoder; the
//! element-wise loops run 512-bit vectors where the kernels use AVX-512 (`wide_vectors!`).

/// Runs an `#[inline(always)]` body compiled for 512-bit vectors where the kernels use
/// AVX-512 ([`crate::isa::Isa::Avx512Vnni`]: the CPU has AVX-512 F, VL, BW and VNNI, and
/// `NETGPT_KERNELS` does not lower the level; decided once per process), else as built
/// (x86-64-v3: 256-bit). The bodies
/// are element-wise loops over [`exp_approx`]/[`erf_approx`] whose results do not depend
/// on the vector width (same operations per element, same eight-lane folds). Measured on
/// the learned PII stage: 3–8 % off a long sentence, 3 % off a corpus.
macro_rules! wide_vectors {
    ($body:ident($($arg:ident: $ty:ty),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,fma,avx2")]
            unsafe fn wide($($arg: $ty),*) {
                $body($($arg),*)
            }
            if crate::isa::Isa::current() == crate::isa::Isa::Avx512Vnni {
                // SAFETY: `Isa::detect` returns Avx512Vnni only after checking AVX-512 F,
                // VL, BW and VNNI, AVX2 and FMA: every feature `wide` enables.
                return unsafe { wide($($arg),*) };
            }
        }
        $body($($arg),*)
    }};
}

/// Log-softmax of one row of logits, in f32 on the host.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let log_sum = log_sum_exp(logits);
    logits.iter().map(|l| l - log_sum).collect()
}

/// `ln Σ exp(l)` over one row of logits: what a logit's log-probability is relative to.
/// The exponentials are [`exp_approx`] (vectorized; a whole vocabulary of libm `expf`
/// calls cost 5 % of a 16-sequence decode step).
pub fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = lanes(logits, f32::NEG_INFINITY, |acc, l| acc.max(l), f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum = lanes(logits, 0.0, |acc, l| acc + exp_approx(l - max), |a, b| a + b);
    sum.ln() + max
}

/// Softmax of one row in place with [`exp_approx`] (libm's `expf` per value keeps a loop
/// scalar). An empty or all-`-inf` row is left as is; a row holding `+inf` or NaN becomes
/// all NaN (no distribution can be read from it). Callers keep a finite score per row.
pub fn softmax_in_place(row: &mut [f32]) {
    wide_vectors!(softmax_body(row: &mut [f32]))
}

#[inline(always)]
fn softmax_body(row: &mut [f32]) {
    // Separate passes, the folds split over lanes: each loop vectorizes.
    let max = lanes(row, f32::NEG_INFINITY, f32::max, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    if !max.is_finite() || row.iter().any(|v| v.is_nan()) {
        row.fill(f32::NAN);
        return;
    }
    row.iter_mut().for_each(|v| *v = exp_approx(*v - max));
    // The maximum's own term is 1, so the sum is at least 1.
    let inverse = 1.0 / lanes(row, 0.0, |a, v| a + v, |a, b| a + b);
    row.iter_mut().for_each(|v| *v *= inverse);
}

/// Layer normalization of one row in place: `(x − mean) / √(var + eps) · weight + bias`,
/// mean and (biased) variance over the row, as BERT's `LayerNorm`.
pub fn layer_norm_in_place(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    debug_assert!(weight.len() == row.len() && bias.len() == row.len(), "layer norm of mismatched widths");
    let n = row.len().max(1) as f32;
    let mean = lanes(row, 0.0, |a, v| a + v, |a, b| a + b) / n;
    let variance = lanes(row, 0.0, |a, v| a + (v - mean) * (v - mean), |a, b| a + b) / n;
    let inverse = 1.0 / (variance + eps).sqrt();
    for ((v, &w), &b) in row.iter_mut().zip(weight).zip(bias) {
        *v = (*v - mean) * inverse * w + b;
    }
}

/// Folds `values` in eight independent lanes, then the lanes together: a plain fold is
/// one long dependency chain (floating-point order is fixed), eight lanes vectorize.
#[inline(always)]
pub fn lanes(values: &[f32], init: f32, step: impl Fn(f32, f32) -> f32, merge: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &v| step(a, v));
    for chunk in chunks {
        for l in 0..8 {
            acc[l] = step(acc[l], chunk[l]);
        }
    }
    acc.into_iter().fold(tail, merge)
}

/// `e^x` within 3e-7 relative error for `x` in [-87, 88] (0 below): Cody–Waite
/// reduction to `r` in [-ln2/2, ln2/2] and a degree-6 polynomial, without calls so that
/// loops over it vectorize.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let clamped = x.clamp(-87.0, 88.0);
    let n = (clamped * std::f32::consts::LOG2_E + 0.5).floor();
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n from the bits of n + 1.5·2^23 (whose low mantissa bits hold n exactly): integer
    // operations on the bits vectorize, where `n as i32` saturates value by value.
    let biased = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000 - 127);
    let scale = f32::from_bits(biased << 23);
    // NaN stays NaN; below the clamp the true value is under f32's normal range.
    if x.is_nan() {
        x
    } else if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

/// `erf(x)` within 1e-6 absolute error in f32 (Abramowitz & Stegun 7.1.26: 1.5e-7 in exact
/// arithmetic; the approximation PyTorch's vectorized CPU `erf` uses), without calls so
/// that loops over it vectorize.
#[inline(always)]
pub fn erf_approx(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * exp_approx(-a * a)).copysign(x)
}

/// `values[i] = gelu(values[i] + bias[i mod width])` for rows of `width` values: the exact
/// (erf) GELU of BERT's intermediate layer, with the projection's bias added in the same
/// pass. libm's `erff` per value cost as much as the projection before it.
pub fn bias_gelu_erf(values: &mut [f32], bias: &[f32]) {
    wide_vectors!(bias_gelu_erf_body(values: &mut [f32], bias: &[f32]))
}

#[inline(always)]
fn bias_gelu_erf_body(values: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in values.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            let x = *v + b;
            *v = 0.5 * x * (1.0 + erf_approx(x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// `values[i] += bias[i mod width]` for rows of `width` values.
pub fn add_bias(values: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in values.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_gelu_match_libm() {
        let mut worst = 0f64;
        for i in -6_000..=6_000 {
            let x = i as f32 / 1000.0;
            let want = libm_erf(f64::from(x));
            worst = worst.max((f64::from(erf_approx(x)) - want).abs());
        }
        assert!(worst < 1e-6, "worst absolute error of erf {worst:e}");
        assert_eq!(erf_approx(20.0), 1.0);
        assert_eq!(erf_approx(-20.0), -1.0);
        let mut values = vec![-3.0f32, -0.5, 0.0, 0.7, 2.0, 10.0];
        let bias = [0.5f32, -0.5];
        let expected: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let x = f64::from(v + bias[i % 2]);
                0.5 * x * (1.0 + libm_erf(x / 2f64.sqrt()))
            })
            .collect();
        let mut narrow = values.clone();
        bias_gelu_erf(&mut values, &bias);
        for (got, want) in values.iter().zip(&expected) {
            assert!((f64::from(*got) - want).abs() < 1e-6 * want.abs().max(1.0), "{got} vs {want}");
        }
        // The 512-bit path (where this CPU has it) and the 256-bit body agree bit for bit.
        bias_gelu_erf_body(&mut narrow, &bias);
        assert_eq!(values, narrow);
    }

    /// erf in f64 from its Taylor series (|x| < 3) or its asymptotic complement: the
    /// reference the approximation is checked against, independent of it.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let value = if a < 3.0 {
            let mut term = a;
            let mut sum = a;
            for n in 1..200 {
                term *= -a * a / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) ≈ e^{-a²}/(a√π) · (1 − 1/(2a²) + 3/(4a⁴) − 15/(8a⁶))
            let inv = 1.0 / (2.0 * a * a);
            let series = 1.0 - inv + 3.0 * inv * inv - 15.0 * inv * inv * inv;
            1.0 - (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * series
        };
        value.copysign(x)
    }

    #[test]
    fn softmax_in_place_matches_f64() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin() * 12.0).collect();
        row[5] = f32::NEG_INFINITY; // a masked score
        let max = row.iter().copied().fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(v)));
        let total: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
        let want: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp() / total).collect();
        softmax_in_place(&mut row);
        for (got, want) in row.iter().zip(&want) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(row[5], 0.0);
        let mut masked = [f32::NEG_INFINITY; 3];
        softmax_in_place(&mut masked);
        assert!(masked.iter().all(|v| *v == f32::NEG_INFINITY), "an all-masked row is left as is");
        for bad in [f32::INFINITY, f32::NAN] {
            let mut row = [0.5, bad, -1.0];
            softmax_in_place(&mut row);
            assert!(row.iter().all(|v| v.is_nan()), "{bad} in a row: {row:?}");
        }
        softmax_in_place(&mut []);
        // The 512-bit path (where this CPU has it) and the 256-bit body agree bit for bit.
        let row: Vec<f32> = (0..61).map(|i| (i as f32 * 1.3).cos() * 20.0).collect();
        let (mut wide, mut narrow) = (row.clone(), row);
        softmax_in_place(&mut wide);
        softmax_body(&mut narrow);
        assert_eq!(wide, narrow);
    }

    #[test]
    fn exp_approx_matches_libm() {
        let mut worst = 0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (f64::from(exp_approx(x)), f64::from(x).exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp_approx(-100.0), 0.0);
        assert!(exp_approx(f32::NAN).is_nan());
        let logits = [1.0f32, 2.0, 3.0, f32::NEG_INFINITY];
        let exact = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        assert!((f64::from(log_sum_exp(&logits)) - exact).abs() < 1e-6);
    }
}
