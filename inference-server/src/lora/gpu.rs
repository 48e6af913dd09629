//! Adapters of a CUDA base: their matrices on the GPU in the model's half type, a table the
//! gathered low-rank kernel ([`netgpt_kernels::cuda::lora_bgmv`]) finds them through, and
//! the per-step assignment of rows to adapters.
//!
//! A step with several adapters costs one extra launch per projection group (QKV, output,
//! gate/up, down) that any of its adapters targets, whatever the mix: each row gathers its
//! own adapter's matrices, so there is no loop over adapters and no gather/scatter of rows.

use candle_core::{DType, Device, Tensor};
use netgpt_kernels::cuda::{self, LoraRows, LoraSegment};

use super::load::LoraAdapter;
use super::target::Target;

/// The LLaMA projections in table order; an entry is `layer · 7 + index`.
const TARGETS: [Target; 7] = [Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down];

fn entry(layer: usize, target: Target) -> Option<usize> {
    TARGETS.iter().position(|t| *t == target).map(|index| layer * TARGETS.len() + index)
}

/// One adapter's matrices on the GPU.
#[derive(Debug)]
pub struct GpuAdapter {
    /// `A` `[r, in]` and `s·B` `[out, r]` of every adapted projection; the table holds
    /// their addresses, so they live exactly as long as it does.
    matrices: Vec<(Tensor, Tensor)>,
    /// [`cuda::lora_table`]: addresses per (layer, projection).
    table: Tensor,
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
        let table = cuda::lora_table(device, entries, &refs)?;
        Ok(Self { matrices: placed, table, present, rank })
    }

    /// Device memory of the matrices.
    pub fn bytes(&self) -> u64 {
        self.matrices.iter().map(|(a, b)| ((a.elem_count() + b.elem_count()) * a.dtype().size_in_bytes()) as u64).sum()
    }

    fn has(&self, layer: usize, target: Target) -> bool {
        entry(layer, target).and_then(|e| self.present.get(e).copied()).unwrap_or(false)
    }
}

/// The adapters of one CUDA step and which rows use which.
pub struct GpuLoraStep<'a> {
    rows: LoraRows,
    adapters: Vec<&'a GpuAdapter>,
}

impl<'a> GpuLoraStep<'a> {
    /// `None` when no sequence uses an adapter. `tokens[i]` is how many rows sequence `i`
    /// brings to the step (consecutive), `adapters[i]` its adapter (parallel, or empty).
    pub fn new(
        tokens: &[usize],
        adapters: &[Option<&'a LoraAdapter>],
        device: &Device,
    ) -> candle_core::Result<Option<Self>> {
        if adapters.iter().all(Option::is_none) {
            return Ok(None);
        }
        if adapters.len() != tokens.len() {
            candle_core::bail!("{} adapters given for {} sequences", adapters.len(), tokens.len());
        }
        let mut used: Vec<&'a GpuAdapter> = Vec::new();
        let mut row_slots = Vec::with_capacity(tokens.iter().sum());
        for (&len, adapter) in tokens.iter().zip(adapters) {
            let slot = match adapter {
                None => None,
                Some(adapter) => {
                    let Some(gpu) = adapter.gpu() else {
                        candle_core::bail!(
                            "adapter {:?} was loaded for the CPU, not for this CUDA model",
                            adapter.name
                        );
                    };
                    // Identity, not name: two versions of one name may share a step.
                    Some(match used.iter().position(|u| std::ptr::eq(*u, gpu)) {
                        Some(slot) => slot,
                        None => {
                            used.push(gpu);
                            used.len() - 1
                        }
                    })
                }
            };
            row_slots.extend(std::iter::repeat_n(slot, len));
        }
        let tables: Vec<(&Tensor, usize)> = used.iter().map(|a| (&a.table, a.rank)).collect();
        let rows = LoraRows::new(device, &row_slots, &tables)?;
        Ok(Some(Self { rows, adapters: used }))
    }

    /// Adds the updates for `layer`'s projections `parts` (target and output width, in the
    /// order their columns appear in `y`) to `y` in place; `x` is the projections' input.
    /// No launch when no adapter of the step adapts any of them.
    pub fn add(&self, layer: usize, parts: &[(Target, usize)], x: &Tensor, y: &Tensor) -> candle_core::Result<()> {
        let mut any = false;
        let mut segments = Vec::with_capacity(parts.len());
        for &(target, columns) in parts {
            let used = self.adapters.iter().any(|a| a.has(layer, target));
            any |= used;
            segments.push(LoraSegment { entry: entry(layer, target).filter(|_| used), columns });
        }
        if !any {
            return Ok(());
        }
        cuda::lora_bgmv(x, y, &self.rows, &segments)
    }
}
