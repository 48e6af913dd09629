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
