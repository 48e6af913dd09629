//! The runtime bypass: `y = base(x) + (x Aᵀ)(s·B)ᵀ` for each sequence's own adapter.
//!
//! The base projection runs once for every token of the step (shared, possibly
//! quantized); the low-rank update then runs per adapter on only the rows of the
//! sequences using it and is added back with `index_add`. With one adapter for the
//! whole step the gather/scatter is skipped.

use candle_core::{Device, Tensor};

use super::load::LoraAdapter;
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

    /// Starts bringing `layer`'s adapter matrices into the CPU's caches: the base
    /// projections before their updates stream megabytes of weights, and the updates then
    /// read their matrices serially, from memory unless they were fetched meanwhile.
    pub fn prefetch(&self, layer: usize) {
        for (adapter, _) in &self.groups {
            for target in [Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down] {
                if let Some(weights) = adapter.weights(layer, target) {
                    weights.prefetch();
                }
            }
        }
    }

    /// Whether no sequence of the step uses an adapter.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds each adapter's update for projection `target` of `layer` to `y = base(x)`;
    /// `x` is `[1, tokens, in]`, `y` `[1, tokens, out]`.
    pub fn apply(&self, layer: usize, target: Target, x: &Tensor, y: Tensor) -> candle_core::Result<Tensor> {
        if self.groups.is_empty() {
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

    /// Adds each adapter's update for `target` of `layer` to columns `offset..` of `y`
    /// (rows of `stride` values: the target's part of a stacked product), for `x`
    /// (`[tokens, in]`), on the host; the arithmetic of [`LoraStep::apply`]'s host path.
    /// `false` when an adapter's matrices are not f32 on the CPU.
    pub fn add_on_host(
        &self,
        layer: usize,
        target: Target,
        x: &[f32],
        y: &mut [f32],
        (stride, offset): (usize, usize),
    ) -> candle_core::Result<bool> {
        let used: Vec<_> = self
            .groups
            .iter()
            .zip(&self.host_rows)
            .filter_map(|((adapter, _), rows)| Some((adapter.weights(layer, target)?, rows)))
            .collect();
        if used.len() <= 1 {
            for (weights, rows) in used {
                if !weights.add_delta_to_columns(x, y, (stride, offset), rows)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        // Several adapters in one step: each one's matrices are read from memory (they
        // do not stay cached across a step), so they run on all pool threads, each on
        // its own copy of `y`, and each adapter's rows (disjoint between adapters) are
        // copied back: the same arithmetic, row by row, as one adapter at a time.
        use rayon::prelude::*;
        let updated: Vec<Option<Vec<f32>>> = used
            .par_iter()
            .map(|(weights, rows)| {
                let mut copy = y.to_vec();
                Ok(weights.add_delta_to_columns(x, &mut copy, (stride, offset), rows)?.then_some(copy))
            })
            .collect::<candle_core::Result<_>>()?;
        for ((weights, rows), copy) in used.iter().zip(updated) {
            let Some(copy) = copy else { return Ok(false) };
            for &row in rows.iter() {
                let columns = row * stride + offset..row * stride + offset + weights.outputs();
                if let (Some(target), Some(source)) = (y.get_mut(columns.clone()), copy.get(columns)) {
                    target.copy_from_slice(source);
                }
            }
        }
        Ok(true)
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
        let handled = netgpt_kernels::with_f32(&x, |x| -> candle_core::Result<bool> {
            for ((adapter, _), rows) in self.groups.iter().zip(&self.host_rows) {
                let Some(weights) = adapter.weights(layer, target) else { continue };
                if !weights.add_delta_on_host(x, &mut out, rows)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })??;
        if !handled {
            return Ok(None);
        }
        Ok(Some(Tensor::from_vec(out, y.dims(), y.device())?))
    }
}

/// Steps up to this many tokens apply adapters on the host (see `apply_on_host`).
const HOST_MAX_TOKENS: usize = 16;
