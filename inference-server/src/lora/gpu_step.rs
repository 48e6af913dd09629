//! One CUDA step's adapters: which rows use which adapter, and the launches that add
//! their updates to a projection group's output.
//!
//! A step with several adapters costs the same launches per projection group (QKV, output,
//! gate/up, down) that any of its adapters targets, whatever the mix: each row gathers its
//! own adapter's matrices, so there is no loop over adapters and no gather/scatter of rows.

use candle_core::{Device, Tensor};
use netgpt_kernels::cuda::{self, LoraDecode, LoraRows, LoraSegment};

use super::gpu::{GpuAdapter, entry};
use super::load::LoraAdapter;
use super::target::Target;

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
        let tables: Vec<(&Tensor, &[i64], usize)> = used.iter().map(|a| a.table()).collect();
        let rows = LoraRows::new(device, &row_slots, &tables)?;
        Ok(Some(Self { rows, adapters: used }))
    }

    /// Whether any adapter of the step adapts one of `targets` in `layer`.
    pub fn adapts(&self, layer: usize, targets: &[Target]) -> bool {
        self.adapters.iter().any(|a| targets.iter().any(|&t| a.has(layer, t)))
    }

    /// `layer`'s table entry for `target` when some adapter of the step adapts it.
    pub fn entry(&self, layer: usize, target: Target) -> Option<usize> {
        entry(layer, target).filter(|_| self.adapters.iter().any(|a| a.has(layer, target)))
    }

    /// The step's adapters for the kernels that apply them inside a decode step's own
    /// launches (`None` for steps of more than [`cuda::GEMV_MAX_ROWS`] rows).
    /// `heads`: the model's query heads.
    pub fn fused(&self, heads: usize) -> candle_core::Result<Option<LoraDecode<'_>>> {
        LoraDecode::new(&self.rows, heads)
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
