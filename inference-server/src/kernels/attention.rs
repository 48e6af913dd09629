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
    let mut out = vec![0f32; len * head_count * head_dim];
    let mut scores = vec![0f32; position + len];
    for head in 0..head_count {
        let kv = head / groups;
        let k = &keys[kv * capacity * head_dim..][..(position + len) * head_dim];
        let v = &values[kv * capacity * head_dim..][..(position + len) * head_dim];
        for i in 0..len {
            let query = &q[(head * len + i) * head_dim..][..head_dim];
            // Causal: position i sees keys up to and including its own.
            let visible = position + i + 1;
            let scores = &mut scores[..visible];
            let mut max = f32::NEG_INFINITY;
            for (score, key) in scores.iter_mut().zip(k.chunks_exact(head_dim)) {
                *score = dot(query, key) * scale;
                max = max.max(*score);
            }
            let mut total = 0f32;
            for score in scores.iter_mut() {
                *score = crate::model::exp_approx(*score - max);
                total += *score;
            }
            let row = &mut out[(i * head_count + head) * head_dim..][..head_dim];
            for (&weight, value) in scores.iter().zip(v.chunks_exact(head_dim)) {
                let weight = weight / total;
                for (o, &x) in row.iter_mut().zip(value) {
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
