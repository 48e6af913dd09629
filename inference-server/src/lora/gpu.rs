//! Adapters of a CUDA base: their matrices on the GPU in the model's half type and the
//! table the gathered low-rank kernel ([`netgpt_kernels::cuda::lora_bgmv`]) finds them
//! through. A step applies them with [`super::gpu_step`].

use candle_core::{DType, Device, Tensor};
use netgpt_kernels::cuda;

use super::target::Target;

/// The LLaMA projections in table order; an entry is `layer · 7 + index`.
const TARGETS: [Target; 7] = [Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down];

pub(crate) fn entry(layer: usize, target: Target) -> Option<usize> {
    TARGETS.iter().position(|t| *t == target).map(|index| layer * TARGETS.len() + index)
}

/// One adapter's matrices on the GPU.
#[derive(Debug)]
pub struct GpuAdapter {
    /// `A` `[r, in]` and `s·B` `[out, r]` of every adapted projection; the table holds
    /// their addresses, so they live exactly as long as it does.
    matrices: Vec<(Tensor, Tensor)>,
    /// [`cuda::lora_table`]: addresses per (layer, projection), and its host copy (decode
    /// steps gather each row's addresses from it).
    table: Tensor,
    host_table: Vec<i64>,
    /// Which entries the adapter has (to skip launches no adapter of a step needs).
    present: Vec<bool>,
    rank: usize,
}

impl GpuAdapter {
    /// Copies `matrices` (`((layer, target), A, s·B)`, f32 on the host) to `device` in
    /// `dtype` and builds the table for `layers` layers.
    pub fn new(
        matrices: &[((usize, Target), Tensor, Tensor)],
        rank: usize,
        layers: usize,
        device: &Device,
        dtype: DType,
    ) -> candle_core::Result<Self> {
        let entries = layers * TARGETS.len();
        let mut present = vec![false; entries];
        let mut placed = Vec::with_capacity(matrices.len());
        let mut indexed = Vec::with_capacity(matrices.len());
        for ((layer, target), a, b) in matrices {
            let Some(index) = entry(*layer, *target).filter(|&e| e < entries) else {
                candle_core::bail!("layer {layer} {target:?} is not a LLaMA projection of a {layers}-layer base");
            };
            let a = a.to_dtype(dtype)?.to_device(device)?.contiguous()?;
            let b = b.to_dtype(dtype)?.to_device(device)?.contiguous()?;
            present[index] = true;
            indexed.push(index);
            placed.push((a, b));
        }
        let refs: Vec<(usize, &Tensor, &Tensor)> =
            indexed.iter().zip(&placed).map(|(&index, (a, b))| (index, a, b)).collect();
        let (table, host_table) = cuda::lora_table(device, entries, &refs)?;
        Ok(Self { matrices: placed, table, host_table, present, rank })
    }

    /// Device memory of the matrices.
    pub fn bytes(&self) -> u64 {
        self.matrices.iter().map(|(a, b)| ((a.elem_count() + b.elem_count()) * a.dtype().size_in_bytes()) as u64).sum()
    }

    /// Whether the adapter adapts `target` of `layer`.
    pub(crate) fn has(&self, layer: usize, target: Target) -> bool {
        entry(layer, target).and_then(|e| self.present.get(e).copied()).unwrap_or(false)
    }

    /// The device table of matrix addresses, its host copy and the rank, for a step's slots.
    pub(crate) fn table(&self) -> (&Tensor, &[i64], usize) {
        (&self.table, &self.host_table, self.rank)
    }
}
