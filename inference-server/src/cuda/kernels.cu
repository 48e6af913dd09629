// NetGPT's own CUDA kernels for the decode step of the safetensors LLaMA model (f16/bf16).
// Compiled to PTX by build.rs (feature `cuda`) and loaded through candle's CUDA device.
//
// Why these exist: candle's generic ops cost one launch (and often one strided copy) each,
// and at batch 1 a 7B decode step is launch-bound. These fuse the per-layer glue:
//  - rope_append: RoPE on Q and K straight out of the fused QKV projection, and the new K/V
//    rows written in place into each sequence's cache (no split copies, no slice_set).
//  - attention: causal attention for every row of the step in one launch, each row over its
//    own sequence's cache (pointer table), single pass with an online softmax in f32.
//  - gemv: the projections for a few rows (decode), 16-byte weight loads, f32 accumulation;
//    each weight byte is read once for all rows.
//  - silu_mul: SwiGLU on the fused gate/up projection.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

// Eight 16-bit values held in a 16-byte load, as floats.
template <typename T> __device__ __forceinline__ void unpack8(const uint4 &raw, float *out) {
    const T *v = reinterpret_cast<const T *>(&raw);
#pragma unroll
    for (int i = 0; i < 8; i++) out[i] = to_f(v[i]);
}

// qkv: [rows, (heads + 2 kv_heads) * head_dim]; cos/sin: [positions, head_dim / 2] f32.
// table: this layer's cache pointers, keys at [r], values at [rows + r]; each cache is
// [kv_heads, cap[r], head_dim]. q_out: [rows, heads, head_dim]. One block per (row, head
// of Q, K or V), head_dim / 2 threads: every thread does one load pair, so the launch is
// as short as a launch gets (it was one block per row looping over all heads: ~3x longer).
template <typename T>
__device__ void rope_append(const T *qkv, const float *cos, const float *sin, const uint64_t *table,
                            const uint32_t *pos, const uint32_t *cap, T *q_out, int rows, int heads, int kv_heads,
                            int head_dim) {
    const int r = blockIdx.x, h = blockIdx.y, j = threadIdx.x;
    const int half = head_dim / 2;
    const T *src = qkv + ((size_t)r * (heads + 2 * kv_heads) + h) * head_dim;
    const uint32_t p = pos[r];
    const size_t c = cap[r];
    if (h >= heads + kv_heads) {
        T *values = reinterpret_cast<T *>(table[rows + r]) + ((size_t)(h - heads - kv_heads) * c + p) * head_dim;
        values[j] = src[j];
        values[j + half] = src[j + half];
        return;
    }
    const float x1 = to_f(src[j]), x2 = to_f(src[j + half]);
    const float co = cos[(size_t)p * half + j], si = sin[(size_t)p * half + j];
    T *dst = h < heads ? q_out + ((size_t)r * heads + h) * head_dim
                       : reinterpret_cast<T *>(table[r]) + ((size_t)(h - heads) * c + p) * head_dim;
    dst[j] = from_f<T>(x1 * co - x2 * si);
    dst[j + half] = from_f<T>(x2 * co + x1 * si);
}

// Attention of row r (at position pos[r]) over positions 0..=pos[r] of its cache, for head
// blockIdx.y. head_dim is 128: sixteen threads hold one key/value row (8 values each, one
// 16-byte load), so a 256-thread block works on 16 positions at a time. Each 16-thread group
// keeps a running max, sum and output (online softmax); the groups merge at the end.
constexpr int HEAD_DIM = 128;
constexpr int ATTN_THREADS = 256;
constexpr int ATTN_GROUPS = ATTN_THREADS / 16;
constexpr int ATTN_UNROLL = 4;

template <typename T>
__device__ void attention(const T *q, const uint64_t *table, const uint32_t *pos, const uint32_t *cap, T *out,
                          int rows, int heads, int kv_heads, float scale) {
    __shared__ float group_max[ATTN_GROUPS];
    __shared__ float group_sum[ATTN_GROUPS];
    __shared__ float group_out[ATTN_GROUPS][HEAD_DIM];
    const int r = blockIdx.x, h = blockIdx.y;
    const int kvh = h / (heads / kv_heads);
    const uint32_t n = pos[r] + 1;
    const size_t c = cap[r];
    const T *keys = reinterpret_cast<const T *>(table[r]) + (size_t)kvh * c * HEAD_DIM;
    const T *values = reinterpret_cast<const T *>(table[rows + r]) + (size_t)kvh * c * HEAD_DIM;
    const int lane = threadIdx.x & 15, group = threadIdx.x >> 4;
    float qv[8];
    unpack8<T>(*reinterpret_cast<const uint4 *>(q + ((size_t)r * heads + h) * HEAD_DIM + lane * 8), qv);
#pragma unroll
    for (int i = 0; i < 8; i++) qv[i] *= scale;
    float m = -INFINITY, l = 0.f, acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    // Each group takes ATTN_UNROLL positions per iteration and issues all their loads before
    // using any: at batch 1 there are only `heads` blocks, so latency, not bandwidth, bounds
    // this loop. The trip count is uniform across the block: the shuffles need every lane.
    for (uint32_t base = 0; base < n; base += ATTN_GROUPS * ATTN_UNROLL) {
        uint4 kraw[ATTN_UNROLL], vraw[ATTN_UNROLL];
#pragma unroll
        for (int u = 0; u < ATTN_UNROLL; u++) {
            const uint32_t j = base + group + u * ATTN_GROUPS;
            if (j < n) {
                kraw[u] = *reinterpret_cast<const uint4 *>(keys + (size_t)j * HEAD_DIM + lane * 8);
                vraw[u] = *reinterpret_cast<const uint4 *>(values + (size_t)j * HEAD_DIM + lane * 8);
            } else {
                kraw[u] = vraw[u] = make_uint4(0, 0, 0, 0);
            }
        }
#pragma unroll
        for (int u = 0; u < ATTN_UNROLL; u++) {
            float kf[8], vf[8];
            unpack8<T>(kraw[u], kf);
            float s = 0.f;
#pragma unroll
            for (int i = 0; i < 8; i++) s += qv[i] * kf[i];
#pragma unroll
            for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (base + group + u * ATTN_GROUPS < n) {
                unpack8<T>(vraw[u], vf);
                const float mn = fmaxf(m, s);
                const float corr = __expf(m - mn), p = __expf(s - mn);
                l = l * corr + p;
#pragma unroll
                for (int i = 0; i < 8; i++) acc[i] = acc[i] * corr + p * vf[i];
                m = mn;
            }
        }
    }
    if (lane == 0) {
        group_max[group] = m;
        group_sum[group] = l;
    }
#pragma unroll
    for (int i = 0; i < 8; i++) group_out[group][lane * 8 + i] = acc[i];
    __syncthreads();
    if (threadIdx.x < HEAD_DIM) {
        float top = -INFINITY;
        for (int g = 0; g < ATTN_GROUPS; g++) top = fmaxf(top, group_max[g]);
        float sum = 0.f, o = 0.f;
        for (int g = 0; g < ATTN_GROUPS; g++) {
            if (group_max[g] == -INFINITY) continue;  // a group that saw no position
            const float w = __expf(group_max[g] - top);
            sum += group_sum[g] * w;
            o += group_out[g][threadIdx.x] * w;
        }
        out[((size_t)r * heads + h) * HEAD_DIM + threadIdx.x] = from_f<T>(o / sum);
    }
}

// y[m, n] = sum_k x[m, k] w[n, k] for M rows; SPLIT warps per output column n (each over
// K / SPLIT), 8 warps a block. K / SPLIT must be a multiple of 8 (16-byte loads); x and w
// 16-byte aligned. Splitting shortens each warp's chain of dependent load rounds, for rows
// too long (the down projection, K = 11008) or launches too small (4096 x 4096) to hide it.
template <typename T, int M, int SPLIT> __device__ void gemv(const T *x, const T *w, T *y, int K, int N) {
    __shared__ float partial[8][M];
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int n = blockIdx.x * (8 / SPLIT) + warp / SPLIT;
    const int span = K / SPLIT, k0 = (warp % SPLIT) * span;
    // No early return: with SPLIT > 1 every warp must reach the barrier below.
    const bool active = n < N;
    const T *wr = w + (size_t)(active ? n : 0) * K + k0;
    const T *xs = x + k0;
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; m++) acc[m] = 0.f;
    int k = active ? lane * 8 : span;
    // Four independent 16-byte weight loads in flight per lane before any arithmetic.
    for (; k + 3 * 256 < span; k += 4 * 256) {
        uint4 wv[4];
#pragma unroll
        for (int u = 0; u < 4; u++) wv[u] = __ldg(reinterpret_cast<const uint4 *>(wr + k + u * 256));
#pragma unroll
        for (int u = 0; u < 4; u++) {
            float wf[8];
            unpack8<T>(wv[u], wf);
#pragma unroll
            for (int m = 0; m < M; m++) {
                float xf[8];
                unpack8<T>(__ldg(reinterpret_cast<const uint4 *>(xs + (size_t)m * K + k + u * 256)), xf);
#pragma unroll
                for (int i = 0; i < 8; i++) acc[m] += wf[i] * xf[i];
            }
        }
    }
    // The remainder (a K = 11008 row: 3 loads after 10 rounds) as one predicated round
    // instead of three single-load rounds. Measured on an H100: predicating every round,
    // or eight loads a round, ran slower (more registers, fewer resident warps).
    if (k < span) {
        uint4 wv[3];
#pragma unroll
        for (int u = 0; u < 3; u++) {
            const int kk = k + u * 256;
            wv[u] = kk < span ? __ldg(reinterpret_cast<const uint4 *>(wr + kk)) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < 3; u++) {
            const int kk = k + u * 256;
            if (kk >= span) break;
            float wf[8];
            unpack8<T>(wv[u], wf);
#pragma unroll
            for (int m = 0; m < M; m++) {
                float xf[8];
                unpack8<T>(__ldg(reinterpret_cast<const uint4 *>(xs + (size_t)m * K + kk)), xf);
#pragma unroll
                for (int i = 0; i < 8; i++) acc[m] += wf[i] * xf[i];
            }
        }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
        float s = acc[m];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        acc[m] = s;
    }
    if (SPLIT == 1) {
        if (active && lane == 0)
#pragma unroll
            for (int m = 0; m < M; m++) y[(size_t)m * N + n] = from_f<T>(acc[m]);
        return;
    }
    if (lane == 0)
#pragma unroll
        for (int m = 0; m < M; m++) partial[warp][m] = acc[m];
    __syncthreads();
    if (active && lane == 0 && warp % SPLIT == 0) {
#pragma unroll
        for (int m = 0; m < M; m++) {
            float s = 0.f;
#pragma unroll
            for (int j = 0; j < SPLIT; j++) s += partial[warp + j][m];
            y[(size_t)m * N + n] = from_f<T>(s);
        }
    }
}

// gate_up: [rows, 2 * inter] (gate first); out: [rows, inter] = silu(gate) * up.
template <typename T> __device__ void silu_mul(const T *gate_up, T *out, int rows, int inter) {
    const size_t total = (size_t)rows * inter;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / inter, j = i % inter;
        const float g = to_f(gate_up[r * 2 * inter + j]);
        const float u = to_f(gate_up[r * 2 * inter + inter + j]);
        out[i] = from_f<T>(g / (1.f + __expf(-g)) * u);
    }
}

// sum = x + delta; normed = sum / rms(sum) * weight, per row of `dim`; one block per row.
// Replaces candle's add and rms_norm launches (two per residual connection).
constexpr int NORM_THREADS = 512;

template <typename T>
__device__ void add_rms_norm(const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps) {
    __shared__ float partial[NORM_THREADS / 32];
    const size_t row = (size_t)blockIdx.x * dim;
    float squares = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        const float v = to_f(x[row + i]) + to_f(delta[row + i]);
        const T rounded = from_f<T>(v);
        sum[row + i] = rounded;
        const float r = to_f(rounded);  // normalise what the next layer will add to
        squares += r * r;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = squares;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < (int)(blockDim.x / 32); w++) total += partial[w];
    const float scale = rsqrtf(total / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        normed[row + i] = from_f<T>(to_f(sum[row + i]) * scale * to_f(weight[i]));
    }
}

#define FOR_TYPE(NAME, T)                                                                                          \
    extern "C" __global__ void rope_append_##NAME(const T *qkv, const float *cos, const float *sin,               \
                                                  const uint64_t *table, const uint32_t *pos, const uint32_t *cap, \
                                                  T *q_out, int rows, int heads, int kv_heads, int head_dim) {     \
        rope_append<T>(qkv, cos, sin, table, pos, cap, q_out, rows, heads, kv_heads, head_dim);                    \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                                                     \
        attention_##NAME(const T *q, const uint64_t *table, const uint32_t *pos, const uint32_t *cap, T *out,      \
                         int rows, int heads, int kv_heads, float scale) {                                         \
        attention<T>(q, table, pos, cap, out, rows, heads, kv_heads, scale);                                       \
    }                                                                                                              \
    extern "C" __global__ void silu_mul_##NAME(const T *gate_up, T *out, int rows, int inter) {                   \
        silu_mul<T>(gate_up, out, rows, inter);                                                                    \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                     \
        add_rms_norm_##NAME(const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps) {  \
        add_rms_norm<T>(x, delta, weight, sum, normed, dim, eps);                                                  \
    }

#define GEMV_SPLIT(NAME, T, M, SPLIT)                                                                              \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        gemv_##NAME##_##M##_s##SPLIT(const T *x, const T *w, T *y, int K, int N) {                                 \
        gemv<T, M, SPLIT>(x, w, y, K, N);                                                                          \
    }

#define GEMV(NAME, T, M) GEMV_SPLIT(NAME, T, M, 1) GEMV_SPLIT(NAME, T, M, 2) GEMV_SPLIT(NAME, T, M, 4)

#define GEMVS(NAME, T)                                                                                             \
    GEMV(NAME, T, 1) GEMV(NAME, T, 2) GEMV(NAME, T, 3) GEMV(NAME, T, 4) GEMV(NAME, T, 5) GEMV(NAME, T, 6)          \
        GEMV(NAME, T, 7) GEMV(NAME, T, 8)

FOR_TYPE(f16, __half)
FOR_TYPE(bf16, __nv_bfloat16)
GEMVS(f16, __half)
GEMVS(bf16, __nv_bfloat16)
