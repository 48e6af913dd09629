//! The runtime bypass: `y = base(x) + (x Aᵀ)(s·B)ᵀ` for each sequence's own adapter.
//!
//! The base projection runs once for every token of the step (shared, possibly
//! quantized); the low-rank update then runs per adapter on only the rows of the
//! sequences using it and is added back with `index_add`. With one adapter for the
//! whole step the gather/scatter is skipped.

use candle_core::{Device, Tensor};

use super::load::{LoraAdapter, LoraWeights};
use super::target::Target;

/// Which rows of a batched step each adapter in use covers.
pub struct LoraStep<'a> {
    /// An adapter and the row indexes of its sequences (`None`: every row).
    groups: Vec<(&'a LoraAdapter, Option<Tensor>)>,
    /// The same rows on the host, for the host path (built once per step, not per
    /// projection).
    host_rows: Vec<Vec<usize>>,
}

impl<'a> LoraStep<'a> {
    /// Groups the step's rows by adapter. `tokens[i]` is how many new tokens sequence
    /// `i` brings to the step; `adapters` is parallel to it (or empty: no adapters at all).
    pub fn new(tokens: &[usize], adapters: &[Option<&'a LoraAdapter>], device: &Device) -> candle_core::Result<Self> {
        if adapters.iter().all(Option::is_none) {
            return Ok(Self { groups: Vec::new(), host_rows: Vec::new() });
        }
        if adapters.len() != tokens.len() {
            candle_core::bail!("{} adapters given for {} sequences", adapters.len(), tokens.len());
        }
        let total: usize = tokens.iter().sum();
        let mut rows: Vec<(&'a LoraAdapter, Vec<u32>)> = Vec::new();
        let mut offset = 0u32;
        for (&len, adapter) in tokens.iter().zip(adapters) {
            let len = len as u32;
            if let Some(adapter) = adapter {
                // Identity, not name: two versions of one name may be in the same step.
                match rows.iter_mut().find(|(a, _)| std::ptr::eq(*a, *adapter)) {
                    Some((_, r)) => r.extend(offset..offset + len),
                    None => rows.push((adapter, (offset..offset + len).collect())),
                }
            }
            offset += len;
        }
        let host_rows = rows.iter().map(|(_, r)| r.iter().map(|&i| i as usize).collect()).collect();
        let groups = rows
            .into_iter()
            .map(|(adapter, r)| {
                if r.len() == total {
                    Ok((adapter, None))
                } else {
                    let n = r.len();
                    Ok((adapter, Some(Tensor::from_vec(r, n, device)?)))
                }
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { groups, host_rows })
    }

    /// Whether no sequence of the step uses an adapter.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds each adapter's update for projection `target` of `layer` to `y = base(x)`;
    /// `x` is `[1, tokens, in]`, `y` `[1, tokens, out]`.
    pub fn apply(&self, layer: usize, target: Target, x: &Tensor, y: Tensor) -> candle_core::Result<Tensor> {
        // No adapter of the step adapts this projection (e.g. the MLP of attention-only
        // adapters): nothing to add, and no copy of `y`.
        if !self.groups.iter().any(|(adapter, _)| adapter.weights(layer, target).is_some()) {
            return Ok(y);
        }
        if let Some(y) = self.apply_on_host(layer, target, x, &y)? {
            return Ok(y);
        }
        let x = x.squeeze(0)?;
        let mut y = y.squeeze(0)?;
        for (adapter, rows) in &self.groups {
            let Some(weights) = adapter.weights(layer, target) else {
                continue;
            };
            y = match rows {
                None => (y + weights.delta(&x)?)?,
                Some(rows) => {
                    let delta = weights.delta(&x.index_select(rows, 0)?)?;
                    y.index_add(rows, &delta, 0)?
                }
            };
        }
        y.unsqueeze(0)
    }

    /// Adds each adapter's updates for `targets` of `layer` (each with its first column in
    /// `y`) to `y`, rows of `stride` values (a stacked product), for `x` (`[tokens, in]`),
    /// on the host.
    ///
    /// Every (row, target, column part) is its own task, and the tasks run on all pool
    /// threads: the base projections around them keep every thread busy, and an update
    /// run on one thread alone left the others to fall asleep and be woken again for the
    /// next projection, which cost more than the update itself (measured: 2 threads, one
    /// adapter, batch 1: +18 % per decode step with the updates on the calling thread,
    /// +3 % with the updates skipped). Rows of different adapters are disjoint, so a step
    /// mixing adapters needs no copies.
    pub fn add_on_host(
        &self,
        layer: usize,
        targets: &[(Target, usize)],
        x: &[f32],
        y: &mut [f32],
        stride: usize,
    ) -> candle_core::Result<()> {
        let threads = rayon::current_num_threads();
        let mut tasks: Vec<HostTask<'_>> = Vec::new();
        for ((adapter, _), rows) in self.groups.iter().zip(&self.host_rows) {
            for &(target, offset) in targets {
                let Some(weights) = adapter.weights(layer, target) else { continue };
                let outputs = weights.outputs();
                for &row in rows {
                    tasks.push(HostTask { weights, row, start: row * stride + offset, columns: 0..outputs });
                }
            }
        }
        // Fewer tasks than threads: each task's columns in parts (whole register chunks),
        // so that every thread takes a share.
        if tasks.len() < threads {
            let parts = threads.div_ceil(tasks.len().max(1));
            tasks = tasks.into_iter().flat_map(|task| task.split(parts)).collect();
        }
        // The tasks' ranges of `y` are disjoint: split it into one slice per task.
        tasks.sort_by_key(|task| task.start + task.columns.start);
        let mut work = Vec::with_capacity(tasks.len());
        let mut rest = &mut y[..];
        let mut at = 0;
        for task in &tasks {
            let from = task.start + task.columns.start;
            let (Some(skip), len) = (from.checked_sub(at), task.columns.len()) else {
                candle_core::bail!("overlapping LoRA updates in one step");
            };
            if skip + len > rest.len() {
                candle_core::bail!("LoRA update beyond the product ({} values per row)", stride);
            }
            let (slice, tail) = std::mem::take(&mut rest)[skip..].split_at_mut(len);
            rest = tail;
            at = from + len;
            work.push((task, slice));
        }
        let run = |(task, y): (&HostTask<'_>, &mut [f32])| {
            let inputs = task.weights.inputs();
            let Some(x) = x.get(task.row * inputs..(task.row + 1) * inputs) else {
                candle_core::bail!("LoRA input row {} outside the step", task.row);
            };
            task.weights.add_row_on_host(x, y, task.columns.clone())
        };
        if work.len() > 1 && threads > 1 {
            use rayon::prelude::*;
            work.into_par_iter().try_for_each(run)?;
        } else {
            work.into_iter().try_for_each(run)?;
        }
        Ok(())
    }

    /// Decode-sized steps on the host: a rank-8 update of a few rows is a few thousand
    /// multiply-adds, and candle's two GEMMs plus gather/scatter per projection cost more
    /// than the base projection itself (measured: +18 % per decode step with the packed
    /// kernels). `None` for longer steps or non-f32/non-CPU tensors.
    fn apply_on_host(
        &self,
        layer: usize,
        target: Target,
        x: &Tensor,
        y: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let tokens = x.dim(1)?;
        if tokens > HOST_MAX_TOKENS || x.dtype() != candle_core::DType::F32 || y.dtype() != candle_core::DType::F32 {
            return Ok(None);
        }
        if !x.device().is_cpu() {
            return Ok(None);
        }
        let x = x.contiguous()?;
        let mut out = y.flatten_all()?.to_vec1::<f32>()?;
        let stride = y.dims().last().copied().unwrap_or(0);
        netgpt_kernels::with_f32(&x, |x| self.add_on_host(layer, &[(target, 0)], x, &mut out, stride))??;
        Ok(Some(Tensor::from_vec(out, y.dims(), y.device())?))
    }
}

/// One row's update for one projection (or a part of its columns), into `y[start + columns]`.
struct HostTask<'a> {
    weights: &'a LoraWeights,
    row: usize,
    /// Where the projection's columns of this row begin in the stacked product.
    start: usize,
    columns: std::ops::Range<usize>,
}

impl<'a> HostTask<'a> {
    /// The task in up to `parts` parts of whole register chunks of columns.
    fn split(self, parts: usize) -> Vec<HostTask<'a>> {
        let chunk = netgpt_kernels::CHUNK;
        let len = self.columns.len();
        let step = len.div_ceil(parts.max(1)).next_multiple_of(chunk);
        (0..len)
            .step_by(step.max(chunk))
            .map(|from| HostTask { columns: from..(from + step).min(len), ..self })
            .collect()
    }
}

/// Steps up to this many tokens apply adapters on the host (see `apply_on_host`).
const HOST_MAX_TOKENS: usize = 16;
