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
