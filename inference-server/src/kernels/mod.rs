//! CPU kernels for quantized projections, where candle's are the limit.
//!
//! candle 0.11 has no SIMD dot product for GGML Q4_1 (the format of the default model),
//! and its Q8_0 kernel re-quantizes activations per 256 values and runs one product per
//! `QMatMul` call. Here weights are repacked once at load ([`formats`]), activations are
//! quantized once per step and shared by the projections of one input, and the integer
//! dot products run on AVX2 or AVX-512 VNNI chosen at run time ([`dot`]), with row
//! tiles spread over the thread pool ([`linear`]).

pub mod attention;
pub mod dot;
pub mod formats;
pub mod linear;

pub use dot::Isa;
pub use linear::{Linear, PackedLinear, StackedLinear};

/// Runs `f` on the f32 values of a contiguous CPU tensor (no copy).
pub(crate) fn with_f32<R>(t: &candle_core::Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else { candle_core::bail!("host kernels need CPU tensors") };
    let Some((start, end)) = layout.contiguous_offsets() else { candle_core::bail!("tensor is not contiguous") };
    Ok(f(&cpu.as_slice::<f32>()?[start..end]))
}

/// Runs `f` on the f32 values of a contiguous CPU tensor, writable in place (for KV
/// caches the host path appends to). candle exposes its storage mutably only to
/// in-place custom ops, so this is one.
pub(crate) fn with_f32_mut<R>(t: &candle_core::Tensor, f: impl FnOnce(&mut [f32]) -> R) -> candle_core::Result<R> {
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
pub(crate) fn swiglu(gate_up: &[f32], inter: usize, out: &mut [f32]) {
    use rayon::prelude::*;
    let row = |(row, out): (&[f32], &mut [f32])| {
        let (gate, up) = row.split_at(inter);
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + crate::model::exp_approx(-g)) * u;
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
