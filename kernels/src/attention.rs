//! Attention of a few new positions (decode steps, short prompt chunks) over a
//! sequence's KV cache, on the host: for one query row per head, candle's batched GEMM
//! spends more time packing operands and allocating intermediates than multiplying
//! (measured: ~20 % of a decode step at 512 positions). Longer queries (prompts) keep
//! candle's path.

use candle_core::{DType, Tensor};

use super::{CHUNK, accumulate_rows, with_f32};

/// Query positions per sequence up to which this path is used: decode steps and short
/// prompt chunks. (The host path runs one sequence on one thread; a long prompt alone in
/// a step is faster through candle's multi-threaded GEMM.)
pub const MAX_QUERY_ROWS: usize = 32;

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
/// Row by row (a query head at a position): scores four cached positions at a time,
/// softmax, then the weighted sum of values in register-sized accumulators. A dot
/// product at a time left one eight-lane accumulator chain per product and spent as
/// much on horizontal sums as on products; the weighted sum went through memory.
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
    for kv in 0..kv_heads {
        let k = &keys[kv * capacity * head_dim..][..(position + len) * head_dim];
        let v = &values[kv * capacity * head_dim..][..(position + len) * head_dim];
        for g in 0..groups {
            for i in 0..len {
                let query = &q[((kv * groups + g) * len + i) * head_dim..][..head_dim];
                // Causal: query position i sees keys up to and including its own.
                let visible = position + i + 1;
                let scores = &mut scores[..visible];
                let mut p = 0;
                while p + 4 <= visible {
                    let products = dot4(query, &k[p * head_dim..(p + 4) * head_dim]);
                    for (score, product) in scores[p..p + 4].iter_mut().zip(products) {
                        *score = product * scale;
                    }
                    p += 4;
                }
                for (p, score) in scores.iter_mut().enumerate().skip(p) {
                    *score = dot(query, &k[p * head_dim..(p + 1) * head_dim]) * scale;
                }
                let max = crate::math::lanes(scores, f32::NEG_INFINITY, f32::max, f32::max);
                for score in scores.iter_mut() {
                    *score = crate::math::exp_approx(*score - max);
                }
                let inverse = 1.0 / crate::math::lanes(scores, 0.0, |a, b| a + b, |a, b| a + b);
                let out_row = &mut out[(i * head_count + kv * groups + g) * head_dim..][..head_dim];
                weighted_sum(scores, v, inverse, out_row);
            }
        }
    }
    out
}

/// Bidirectional attention (BERT's) on the host for `windows` windows of `len`
/// positions. `qkv` holds one row per position, `[query | key | value]`, each `heads ·
/// head_dim` wide (a fused projection's output, no transposes); `key_bias[w · len + p]` is
/// added to every score of key `p` in window `w` (0, or a large negative number for
/// padding). Returns `[windows · len, heads · head_dim]`, the heads side by side as the
/// output projection reads them. Windows run in parallel on the current pool.
pub fn attend_bidirectional(
    qkv: &[f32],
    windows: usize,
    len: usize,
    heads: usize,
    head_dim: usize,
    key_bias: &[f32],
) -> Vec<f32> {
    use rayon::prelude::*;
    let hidden = heads * head_dim;
    assert!(
        qkv.len() == windows * len * 3 * hidden && key_bias.len() == windows * len,
        "attend_bidirectional: {} projection values and {} key biases for {windows} windows of {len}",
        qkv.len(),
        key_bias.len()
    );
    let mut out = vec![0f32; windows * len * hidden];
    if len == 0 || hidden == 0 {
        return out;
    }
    out.par_chunks_mut(len * hidden).enumerate().for_each(|(w, out)| {
        let rows = &qkv[w * len * 3 * hidden..][..len * 3 * hidden];
        let bias = &key_bias[w * len..][..len];
        match head_dim {
            32 => attend_window::<32>(rows, bias, heads, out),
            64 => attend_window::<64>(rows, bias, heads, out),
            _ => attend_window_any_width(rows, bias, heads, head_dim, out),
        }
    });
    out
}

/// Query rows per block of the score product, and key columns (the padding unit).
const QUERY_BLOCK: usize = 4;
const KEY_BLOCK: usize = 16;

/// One window's heads for a head width `D` known at compile time: per head, the scores
/// as a small matrix product (four queries by sixteen keys per block, eight accumulator
/// chains, keys transposed so sixteen of them are two vector loads), the softmax per
/// row, then the weighted sum of values two queries at a time with the `2·D`
/// accumulators in registers. A dot product per (query, key) spent as much on horizontal
/// sums as on products, and a weighted sum through memory was a fifth of a sentence.
fn attend_window<const D: usize>(rows: &[f32], bias: &[f32], heads: usize, out: &mut [f32]) {
    let hidden = heads * D;
    let len = bias.len();
    let keys_padded = len.div_ceil(KEY_BLOCK) * KEY_BLOCK;
    let queries_padded = len.div_ceil(QUERY_BLOCK) * QUERY_BLOCK;
    let scale = 1.0 / (D as f32).sqrt();
    let mut queries = vec![0f32; queries_padded * D];
    let mut keys_t = vec![0f32; D * keys_padded];
    let mut values = vec![0f32; len * D];
    let mut scores = vec![0f32; queries_padded * keys_padded];
    for h in 0..heads {
        for (p, row) in rows.chunks_exact(3 * hidden).enumerate() {
            queries[p * D..(p + 1) * D].copy_from_slice(&row[h * D..(h + 1) * D]);
            for (d, &k) in row[hidden + h * D..hidden + (h + 1) * D].iter().enumerate() {
                keys_t[d * keys_padded + p] = k;
            }
            values[p * D..(p + 1) * D].copy_from_slice(&row[2 * hidden + h * D..2 * hidden + (h + 1) * D]);
        }
        for i0 in (0..queries_padded).step_by(QUERY_BLOCK) {
            for p0 in (0..keys_padded).step_by(KEY_BLOCK) {
                let mut acc = [[0f32; KEY_BLOCK]; QUERY_BLOCK];
                for d in 0..D {
                    let k: &[f32; KEY_BLOCK] =
                        keys_t[d * keys_padded + p0..][..KEY_BLOCK].try_into().expect("a slice of KEY_BLOCK values");
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let q = queries[(i0 + i) * D + d];
                        for c in 0..KEY_BLOCK {
                            acc[c] = fused_multiply_add(q, k[c], acc[c]);
                        }
                    }
                }
                for (i, acc) in acc.iter().enumerate() {
                    scores[(i0 + i) * keys_padded + p0..][..KEY_BLOCK].copy_from_slice(acc);
                }
            }
        }
        for i in 0..len {
            let row = &mut scores[i * keys_padded..i * keys_padded + len];
            for (score, b) in row.iter_mut().zip(bias) {
                *score = *score * scale + b;
            }
            crate::math::softmax_in_place(row);
        }
        for i0 in (0..len).step_by(2) {
            let pair = (len - i0).min(2);
            let mut acc = [[0f32; D]; 2];
            for (p, value) in values.chunks_exact(D).enumerate() {
                let value: &[f32; D] = value.try_into().expect("chunks_exact gives rows of D");
                for (i, acc) in acc.iter_mut().enumerate().take(pair) {
                    let weight = scores[(i0 + i) * keys_padded + p];
                    for c in 0..D {
                        acc[c] = fused_multiply_add(weight, value[c], acc[c]);
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate().take(pair) {
                out[(i0 + i) * hidden + h * D..][..D].copy_from_slice(acc);
            }
        }
    }
}

/// [`attend_window`] for any head width: a dot product per (query, key) and the decode
/// path's weighted sum.
fn attend_window_any_width(rows: &[f32], bias: &[f32], heads: usize, head_dim: usize, out: &mut [f32]) {
    let (hidden, len) = (heads * head_dim, bias.len());
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut values = vec![0f32; len * head_dim];
    let mut scores = vec![0f32; len];
    for h in 0..heads {
        // Head h's query (0), key (1) or value (2) in one position's row.
        let part = |row: &'_ [f32], which: usize| -> std::ops::Range<usize> {
            let start = which * hidden + h * head_dim;
            debug_assert!(start + head_dim <= row.len());
            start..start + head_dim
        };
        for (p, row) in rows.chunks_exact(3 * hidden).enumerate() {
            values[p * head_dim..(p + 1) * head_dim].copy_from_slice(&row[part(row, 2)]);
        }
        for (i, row) in rows.chunks_exact(3 * hidden).enumerate() {
            let query = &row[part(row, 0)];
            for ((score, key_row), b) in scores.iter_mut().zip(rows.chunks_exact(3 * hidden)).zip(bias) {
                *score = dot(query, &key_row[part(key_row, 1)]) * scale + b;
            }
            crate::math::softmax_in_place(&mut scores);
            weighted_sum(&scores, &values, 1.0, &mut out[i * hidden + h * head_dim..][..head_dim]);
        }
    }
}

/// `a·b + c`, one rounding where the build has FMA (one instruction), two otherwise (a
/// libm `fmaf` call per element would cost more than the product).
#[inline(always)]
fn fused_multiply_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") { a.mul_add(b, c) } else { a * b + c }
}

/// Lanes of the accumulators (one AVX2 register of f32).
const LANES: usize = 8;

/// `query` times four consecutive rows of `keys` (each `query.len()` long): four
/// independent accumulator chains, one horizontal sum each at the end.
fn dot4(query: &[f32], keys: &[f32]) -> [f32; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    if query.len().is_multiple_of(LANES) {
        return fma::dot4(query, keys);
    }
    let d = query.len();
    let mut acc = [[0f32; LANES]; 4];
    let whole = d - d % LANES;
    for c in (0..whole).step_by(LANES) {
        let x = &query[c..c + LANES];
        for (r, acc) in acc.iter_mut().enumerate() {
            let key = &keys[r * d + c..r * d + c + LANES];
            for l in 0..LANES {
                acc[l] += x[l] * key[l];
            }
        }
    }
    std::array::from_fn(|r| {
        let tail: f32 = (whole..d).map(|c| query[c] * keys[r * d + c]).sum();
        acc[r].iter().sum::<f32>() + tail
    })
}

/// `out = inverse · Σ_p weights[p] · values[p]` (rows of `out.len()` values): 64
/// columns at a time held in eight eight-lane accumulators, so each value row is read
/// once and nothing is stored until the end.
fn weighted_sum(weights: &[f32], values: &[f32], inverse: f32, out: &mut [f32]) {
    let d = out.len();
    let mut start = 0;
    while start + CHUNK <= d {
        let mut acc = [0f32; CHUNK];
        accumulate_rows(weights, values, d, start, &mut acc);
        for (o, a) in out[start..start + CHUNK].iter_mut().zip(acc) {
            *o = a * inverse;
        }
        start += CHUNK;
    }
    if start < d {
        let tail = &mut out[start..];
        tail.fill(0.0);
        for (p, &weight) in weights.iter().enumerate() {
            for (o, &x) in tail.iter_mut().zip(&values[p * d + start..(p + 1) * d]) {
                *o += weight * x;
            }
        }
        tail.iter_mut().for_each(|o| *o *= inverse);
    }
}

/// [`dot4`] with AVX2 fused multiply-adds, where the build targets them
/// (`.cargo/config.toml`: x86-64-v3). Written out because the portable loop compiles to
/// lane shuffles and separate multiplies and adds.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod fma {
    use std::arch::x86_64::*;

    use super::LANES;

    /// [`super::dot4`] for `query.len()` a multiple of eight.
    pub(super) fn dot4(query: &[f32], keys: &[f32]) -> [f32; 4] {
        let d = query.len();
        assert!(d.is_multiple_of(LANES) && keys.len() >= 4 * d, "dot4 operands");
        // SAFETY: the build enables AVX2 and FMA (this module's cfg); loads stay inside
        // the slices: c + 8 <= d, and row r of keys ends at (r + 1)·d <= keys.len().
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for c in (0..d).step_by(LANES) {
                let x = _mm256_loadu_ps(query.as_ptr().add(c));
                for (r, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(x, _mm256_loadu_ps(keys.as_ptr().add(r * d + c)), *acc);
                }
            }
            // Lane sums of the four accumulators: [Σacc0, Σacc1, Σacc2, Σacc3].
            let pairs = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
            let sums = _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
            let mut out = [0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), sums);
            out
        }
    }
}

/// Dot product in eight independent lanes, so the compiler vectorizes it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..LANES {
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
        // 72 columns: one 64-column accumulator pass plus a tail; 8: the tail alone.
        for head_dim in [8, 72] {
            grouped_attention_case(head_dim);
        }
    }

    fn grouped_attention_case(head_dim: usize) {
        let heads = Heads { kv_heads: 2, groups: 3, head_dim };
        let (capacity, position) = (16, 5);
        let value = |seed: usize| ((seed * 7919 % 97) as f32 - 48.0) / 50.0;
        let keys: Vec<f32> = (0..2 * capacity * head_dim).map(|i| value(i + 1)).collect();
        let values: Vec<f32> = (0..2 * capacity * head_dim).map(|i| value(i + 5000)).collect();
        for len in [1, 2, 3, 4, 7] {
            let head_count = 6;
            let q: Vec<f32> = (0..head_count * len * head_dim).map(|i| value(i + 9000 + len)).collect();
            let got = attend(&q, &keys, &values, capacity, position, len, heads);
            for head in 0..head_count {
                let kv = head / 3;
                for i in 0..len {
                    let visible = position + i + 1;
                    let query = &q[(head * len + i) * head_dim..][..head_dim];
                    let scores: Vec<f64> = (0..visible)
                        .map(|p| {
                            let key = &keys[(kv * capacity + p) * head_dim..][..head_dim];
                            query.iter().zip(key).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>()
                                / (head_dim as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    for d in 0..head_dim {
                        let expected: f64 = (0..visible)
                            .map(|p| {
                                (scores[p] - max).exp() / total * f64::from(values[(kv * capacity + p) * head_dim + d])
                            })
                            .sum();
                        let actual = f64::from(got[(i * head_count + head) * head_dim + d]);
                        assert!(
                            (actual - expected).abs() < 1e-5,
                            "len {len} head {head} pos {i} dim {d}: {actual} vs {expected}"
                        );
                    }
                }
            }
        }
    }

    /// BERT's attention on the host against f64 arithmetic: head widths with a
    /// compile-time kernel (32, 64) and without (24), lengths that are and are not whole
    /// blocks, two windows, padding keys that must get no weight.
    #[test]
    fn bidirectional_attention_matches_plain_arithmetic() {
        for (head_dim, len, heads) in
            [(32, 21, 3), (32, 16, 3), (64, 5, 3), (24, 9, 3), (72, 6, 2), (32, 1, 1), (24, 1, 1)]
        {
            let windows = 2;
            let hidden = heads * head_dim;
            let qkv: Vec<f32> =
                (0..windows * len * 3 * hidden).map(|i| ((i * 7919 % 2003) as f32 / 2003.0 - 0.5) * 2.0).collect();
            // The second window's last two positions are padding (its only one when len is 1).
            let key_bias: Vec<f32> =
                (0..windows * len).map(|t| if t >= windows * len - 2.min(len) { -1e9 } else { 0.0 }).collect();
            let got = attend_bidirectional(&qkv, windows, len, heads, head_dim, &key_bias);
            let at = |w: usize, p: usize, part: usize, h: usize, d: usize| {
                f64::from(qkv[(w * len + p) * 3 * hidden + part * hidden + h * head_dim + d])
            };
            for w in 0..windows {
                for h in 0..heads {
                    for i in 0..len {
                        let keys: Vec<usize> = (0..len).filter(|&p| key_bias[w * len + p] == 0.0).collect();
                        // A window of padding only: every score is the same -1e9 in f32, so
                        // the weights are uniform (finite, as candle's additive mask gives).
                        let uniform = keys.is_empty();
                        let keys: Vec<usize> = if uniform { (0..len).collect() } else { keys };
                        let scores: Vec<f64> = keys
                            .iter()
                            .map(|&p| {
                                let product = (0..head_dim).map(|d| at(w, i, 0, h, d) * at(w, p, 1, h, d)).sum::<f64>();
                                if uniform { 0.0 } else { product / (head_dim as f64).sqrt() }
                            })
                            .collect();
                        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                        for d in 0..head_dim {
                            let expected: f64 = keys
                                .iter()
                                .zip(&scores)
                                .map(|(&p, s)| (s - max).exp() / total * at(w, p, 2, h, d))
                                .sum();
                            let actual = f64::from(got[(w * len + i) * hidden + h * head_dim + d]);
                            assert!(
                                (actual - expected).abs() < 1e-5,
                                "head_dim {head_dim} len {len} window {w} head {h} pos {i} dim {d}: {actual} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }
}
