//! Vectorizable scalar math on host rows: `exp` without libm calls, lane-split folds,
//! log-softmax. Used by the kernels (attention softmax, SwiGLU, block scales) and by the
//! sampler; it depends on nothing.

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
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    // NaN stays NaN; below the clamp the true value is under f32's normal range.
    if x.is_nan() {
        x
    } else if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
