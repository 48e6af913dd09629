//! Attention of a few new positions (decode steps) over a sequence's KV cache, on the
//! host: for one query row per head, candle's batched GEMM spends more time packing
//! operands and allocating intermediates than multiplying (measured: ~20 % of a decode
//! step at 512 positions). Longer queries (prompts) keep candle's path.

use candle_core::{DType, Tensor};

use super::with_f32;

/// Query positions per sequence up to which this path is used.
pub const MAX_QUERY_ROWS: usize = 4;

/// Head layout: `kv_heads · groups` query heads, `groups` of them per KV head.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub kv_heads: usize,
    pub groups: usize,
    pub head_dim: usize,
}

/// `q` is `[1, kv_heads·groups, len, head_dim]` for positions `position..position + len`;
/// `keys`/`values` are a layer's whole cache `[1, kv_heads, capacity, head_dim]`, already
/// holding those positions. Returns `[1, len, heads·head_dim]`, or `None` when the tensors
/// are not f32 on the CPU (the caller then uses candle's path).
pub fn attend_cached(
    q: &Tensor,
    keys: &Tensor,
    values: &Tensor,
    position: usize,
    heads: Heads,
) -> candle_core::Result<Option<Tensor>> {
    if [q.dtype(), keys.dtype(), values.dtype()] != [DType::F32; 3] || !q.device().is_cpu() {
        return Ok(None);
    }
    let (batch, head_count, len, head_dim) = q.dims4()?;
    let capacity = keys.dim(2)?;
    let cache_dims = [1, heads.kv_heads, capacity, heads.head_dim];
    if batch != 1
        || head_count != heads.kv_heads * heads.groups
        || head_dim != heads.head_dim
        || position + len > capacity
        || keys.dims() != cache_dims
        || values.dims() != cache_dims
    {
        candle_core::bail!("attention shapes disagree: q {:?}, cache {:?}", q.dims(), keys.dims());
    }
    let q = q.contiguous()?;
    let out =
        with_f32(&q, |q| with_f32(keys, |k| with_f32(values, |v| attend(q, k, v, capacity, position, len, heads))))???;
    let out = Tensor::from_vec(out, (1, len, head_count * head_dim), q.device())?;
    Ok(Some(out))
}

/// RoPE tables on the host, `cos`/`sin` `[positions, head_dim / 2]`.
#[derive(Debug, Clone, Copy)]
pub struct Rope<'a> {
    pub cos: &'a [f32],
    pub sin: &'a [f32],
    /// NEOX pairs `(i, i + head_dim / 2)`; otherwise `(2i, 2i + 1)` (llama's GGUF layout).
    pub neox: bool,
}

impl Rope<'_> {
    /// Rotates one head's vector to `position`, with the arithmetic of candle's
    /// `rope`/`rope_i` (so both paths give identical values).
    pub fn rotate(&self, x: &mut [f32], position: usize) {
        let half = x.len() / 2;
        let cos = &self.cos[position * half..][..half];
        let sin = &self.sin[position * half..][..half];
        if self.neox {
            let (a, b) = x.split_at_mut(half);
            for i in 0..half {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * cos[i] - x1 * sin[i];
                b[i] = x0 * sin[i] + x1 * cos[i];
            }
        } else {
            for (i, pair) in x.chunks_exact_mut(2).enumerate() {
                let (x0, x1) = (pair[0], pair[1]);
                pair[0] = x0 * cos[i] - x1 * sin[i];
                pair[1] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

/// A step's Q, K and V rows as column ranges of one row-major matrix (the stacked
/// projection's output, so nothing is split or copied first).
#[derive(Debug, Clone, Copy)]
pub struct Projections<'a> {
    pub data: &'a [f32],
    /// Values per row.
    pub width: usize,
    /// First column of the queries, keys and values.
    pub q: usize,
    pub k: usize,
    pub v: usize,
}

/// One sequence's decode attention on host slices: rotates its `len` new queries and
/// keys (rows `first_row..` of `projections`, at positions `position..`), writes the
/// keys and values into its cache (`[kv_heads, capacity, head_dim]`) and attends over
/// everything cached. Writes `[len, heads·head_dim]` into `out`.
#[allow(clippy::too_many_arguments)]
pub fn attend_sequence(
    projections: Projections<'_>,
    first_row: usize,
    len: usize,
    position: usize,
    rope: Rope<'_>,
    heads: Heads,
    (keys, values, capacity): (&mut [f32], &mut [f32], usize),
    out: &mut [f32],
) {
    let Heads { kv_heads, groups, head_dim } = heads;
    let head_count = kv_heads * groups;
    let row = |t: usize, column: usize| &projections.data[(first_row + t) * projections.width + column..][..head_dim];
    // Queries as `[heads, len, head_dim]`, the order `attend` reads.
    let mut q = vec![0f32; head_count * len * head_dim];
    for t in 0..len {
        for h in 0..head_count {
            let query = &mut q[(h * len + t) * head_dim..][..head_dim];
            query.copy_from_slice(row(t, projections.q + h * head_dim));
            rope.rotate(query, position + t);
        }
        for h in 0..kv_heads {
            let at = (h * capacity + position + t) * head_dim;
            let key = &mut keys[at..at + head_dim];
            key.copy_from_slice(row(t, projections.k + h * head_dim));
            rope.rotate(key, position + t);
            values[at..at + head_dim].copy_from_slice(row(t, projections.v + h * head_dim));
        }
    }
    out.copy_from_slice(&attend(&q, keys, values, capacity, position, len, heads));
}

/// Output `[len, heads, head_dim]` (row-major), i.e. already transposed for the
/// output projection.
///
/// The query heads sharing a KV head are served together, position by position, so each
/// key and value row is read from memory once for all of them (grouped-query attention
/// has several query heads per KV head).
fn attend(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    capacity: usize,
    position: usize,
    len: usize,
    heads: Heads,
) -> Vec<f32> {
    let Heads { kv_heads, groups, head_dim } = heads;
    let head_count = kv_heads * groups;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let kv_len = position + len;
    // One score row per (query head of the group, query position).
    let rows = groups * len;
    let mut out = vec![0f32; len * head_count * head_dim];
    let mut scores = vec![0f32; rows * kv_len];
    let mut inverse_totals = vec![0f32; rows];
    // Causal: query position i sees keys up to and including its own.
    let visible = |row: usize| position + row % len + 1;
    for kv in 0..kv_heads {
        let k = &keys[kv * capacity * head_dim..][..kv_len * head_dim];
        let v = &values[kv * capacity * head_dim..][..kv_len * head_dim];
        let query = |row: usize| {
            let (g, i) = (row / len, row % len);
            &q[((kv * groups + g) * len + i) * head_dim..][..head_dim]
        };
        for (p, key) in k.chunks_exact(head_dim).enumerate() {
            for row in 0..rows {
                if p < visible(row) {
                    scores[row * kv_len + p] = dot(query(row), key) * scale;
                }
            }
        }
        for (row, inverse) in inverse_totals.iter_mut().enumerate() {
            let row_scores = &mut scores[row * kv_len..][..visible(row)];
            let max = row_scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0f32;
            for score in row_scores.iter_mut() {
                *score = crate::model::exp_approx(*score - max);
                total += *score;
            }
            *inverse = 1.0 / total;
        }
        for (p, value) in v.chunks_exact(head_dim).enumerate() {
            for row in 0..rows {
                if p >= visible(row) {
                    continue;
                }
                let (g, i) = (row / len, row % len);
                let weight = scores[row * kv_len + p] * inverse_totals[row];
                let out_row = &mut out[(i * head_count + kv * groups + g) * head_dim..][..head_dim];
                for (o, &x) in out_row.iter_mut().zip(value) {
                    *o += weight * x;
                }
            }
        }
    }
    out
}

/// Dot product in eight independent lanes, so the compiler vectorizes it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grouped host path against a plain per-head softmax attention.
    #[test]
    fn grouped_attention_matches_per_head_reference() {
        let heads = Heads { kv_heads: 2, groups: 3, head_dim: 8 };
        let (capacity, position) = (16, 5);
        let value = |seed: usize| ((seed * 7919 % 97) as f32 - 48.0) / 50.0;
        let keys: Vec<f32> = (0..2 * capacity * 8).map(|i| value(i + 1)).collect();
        let values: Vec<f32> = (0..2 * capacity * 8).map(|i| value(i + 5000)).collect();
        for len in 1..=MAX_QUERY_ROWS {
            let head_count = 6;
            let q: Vec<f32> = (0..head_count * len * 8).map(|i| value(i + 9000 + len)).collect();
            let got = attend(&q, &keys, &values, capacity, position, len, heads);
            for head in 0..head_count {
                let kv = head / 3;
                for i in 0..len {
                    let visible = position + i + 1;
                    let query = &q[(head * len + i) * 8..][..8];
                    let scores: Vec<f64> = (0..visible)
                        .map(|p| {
                            let key = &keys[(kv * capacity + p) * 8..][..8];
                            query.iter().zip(key).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>() / 8f64.sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    for d in 0..8 {
                        let expected: f64 = (0..visible)
                            .map(|p| (scores[p] - max).exp() / total * f64::from(values[(kv * capacity + p) * 8 + d]))
                            .sum();
                        let actual = f64::from(got[(i * head_count + head) * 8 + d]);
                        assert!(
                            (actual - expected).abs() < 1e-5,
                            "len {len} head {head} pos {i} dim {d}: {actual} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
