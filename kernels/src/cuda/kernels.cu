// NetGPT's own CUDA kernels for the decode step of the safetensors LLaMA model (f16/bf16).
// Compiled to PTX by build.rs (feature `cuda`) and loaded through candle's CUDA device.
//
// Why these exist: candle's generic ops cost one launch (and often one strided copy) each,
// and at batch 1 a 7B decode step is launch-bound. These fuse the per-layer glue:
//  - rope_append: RoPE on Q and K straight out of the fused QKV projection, and the new K/V
//    rows written in place into each sequence's cache (no split copies, no slice_set).
//  - attention: causal attention for every row of the step in one launch, each row over its
//    own sequence's cache (pointer table), single pass with an online softmax in f32.
//  - attention_decode: rope_append and attention in one launch for decode steps.
//  - gemv, matvec: the projections for a few rows (decode), 16-byte weight loads, f32
//    accumulation; each weight byte is read once for all rows. matvec can apply SwiGLU to
//    the fused gate/up projection in its epilogue.
//  - silu_mul: SwiGLU on the fused gate/up projection (cuBLAS steps).
//  - add_rms_norm: a residual connection and the RMSNorm after it.
//  - lora_bgmv: LoRA updates for a step whose rows use different adapters (or none), added
//    in place to a projection's output: each row gathers its own adapter's A and B.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

// Programmatic dependent launch (Hopper): every kernel here is launched with the
// programmatic-stream-serialization attribute, so it may start while the kernel before it
// in the stream is still running. `pdl_trigger` lets the next kernel start launching (its
// blocks get scheduled as ours retire instead of after a full drain), and `pdl_wait` blocks
// until the previous kernel has finished and its writes are visible. Every kernel waits
// before it reads anything a kernel of the current step may have written and before it
// writes anything (its output may reuse memory an earlier kernel still reads). Before the
// wait a kernel may read only what no kernel of the step writes: the weights, the step's
// tables and cache rows of earlier steps. Both are no-ops for a kernel launched without
// the attribute.
__device__ __forceinline__ void pdl_trigger() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Asks L2 to fetch the 128-byte line holding `p` (no register, no wait).
__device__ __forceinline__ void l2_prefetch(const void *p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// Eight 16-bit values held in a 16-byte load, as floats.
template <typename T> __device__ __forceinline__ void unpack8(const uint4 &raw, float *out) {
    const T *v = reinterpret_cast<const T *>(&raw);
#pragma unroll
    for (int i = 0; i < 8; i++) out[i] = to_f(v[i]);
}

// LoRA on decode steps (at most LORA_ROWS rows), fused into the kernels above: no launch
// of its own. Each projection group's low-rank values x·Aᵀ are computed by the kernel that
// already has x, or by extra blocks of a launch that does, and its update low·(s·B)ᵀ is
// added by the kernel that next touches the projection's output:
//   QKV:      x·Aᵀ by extra blocks of the QKV matvec; the update by attention_decode
//             (before RoPE).
//   output:   attended·Aᵀ by attention_decode (each head writes its part, the row's last
//             head sums them); the update in the output gemv's epilogue.
//   gate/up:  x·Aᵀ by extra blocks of the add_rms_norm before (they recompute the norm);
//             the update in the SwiGLU matvec's epilogue, before SwiGLU.
//   down:     x·Aᵀ by extra blocks of the down gemv; the update by the add_rms_norm after
//             (before the residual add).
// Values are rounded as the unfused path rounds them (the projection's output to T, then
// output + update to T). The low-rank values live in one f32 buffer per step with a part
// per group, low[(segment * LORA_ROWS + row) * LORA_MAX_RANK + j] within it, reused by
// every layer: a kernel writes only after pdl_wait, which returns once the kernel before
// has finished, and that one waited for its own predecessor, so no earlier reader of a
// part is still running when the next layer writes it. by_row: [rows] each row's rank (0:
// no adapter), then for every table entry and row the addresses of A and s·B at rows +
// (entry · rows + row) · 2 (0 where the row's adapter leaves that projection alone), so a
// lookup is one round trip, not a chain through the adapter's table. Every load a kernel
// makes before pdl_wait is of adapter matrices or tables, which no kernel of the step
// writes.
constexpr int LORA_THREADS = 256, LORA_COLS = 2048, LORA_MAX_RANK = 64, LORA_GROUP = 16, LORA_ROWS = 8;
// The most rows a decode matrix-vector kernel takes (GEMV_MAX_ROWS in mod.rs).
constexpr int GEMV_ROWS_MAX = 8;

// A row's matrices for one table entry (A [rank, in], s·B [out, rank]); rank 0 where the
// row has no adapter, the adapter leaves the projection alone, or the entry is -1.
struct LoraMats {
    const void *a, *b;
    int rank;
};

__device__ __forceinline__ LoraMats lora_mats(const long long *by_row, int rows, int m, int entry) {
    LoraMats mats{nullptr, nullptr, 0};
    if (entry < 0 || m >= rows) return mats;
    const int rank = (int)by_row[m];
    const long long *pair = by_row + rows + ((size_t)entry * rows + m) * 2;
    const void *a = reinterpret_cast<const void *>(pair[0]);
    const void *b = reinterpret_cast<const void *>(pair[1]);
    if (rank <= 0 || rank > LORA_MAX_RANK || a == nullptr || b == nullptr) return mats;
    return LoraMats{a, b, rank};
}

__device__ __forceinline__ float *low_at(float *low, int seg, int m) {
    return low + (seg * LORA_ROWS + m) * LORA_MAX_RANK;
}

// low · B[n] for output column n (B [out, rank], rank-contiguous rows).
template <typename T> __device__ __forceinline__ float lora_delta(const void *b, int rank, int n, const float *low) {
    const T *br = static_cast<const T *>(b) + (size_t)n * rank;
    float d = 0.f;
    if (rank % 8 == 0) {
        for (int j = 0; j < rank; j += 8) {
            float bv[8];
            unpack8<T>(__ldg(reinterpret_cast<const uint4 *>(br + j)), bv);
#pragma unroll
            for (int e = 0; e < 8; e++) d += low[j + e] * bv[e];
        }
    } else {
        for (int j = 0; j < rank; j++) d += low[j] * to_f(br[j]);
    }
    return d;
}

// Ranks 8 and 16 (the common PEFT ranks) take a fast path: B's row in two 16-byte
// registers loaded before pdl_wait, so after it only the low-rank values are read.
__device__ __forceinline__ bool lora_fast(int rank) { return rank == 8 || rank == 16; }

template <typename T> __device__ __forceinline__ void lora_load_row(uint4 (&raw)[2], const LoraMats mats, int n) {
    const uint4 *row = reinterpret_cast<const uint4 *>(static_cast<const T *>(mats.b) + (size_t)n * mats.rank);
    raw[0] = __ldg(row);
    raw[1] = mats.rank == 16 ? __ldg(row + 1) : make_uint4(0, 0, 0, 0);
}

// low · B[n] with B's row in `raw` (lora_load_row; rank 8 or 16); low may be global.
template <typename T> __device__ __forceinline__ float lora_dot(const uint4 (&raw)[2], const float *low, int rank) {
    float lv[16];
#pragma unroll
    for (int j = 0; j < 16; j++) lv[j] = j < rank ? low[j] : 0.f;
    float b0[8], b1[8], d = 0.f;
    unpack8<T>(raw[0], b0);
    unpack8<T>(raw[1], b1);
#pragma unroll
    for (int e = 0; e < 8; e++) d += lv[e] * b0[e] + lv[8 + e] * b1[e];
    return d;
}

// low · B[n] for any rank: the fast path where it applies, else lora_delta.
template <typename T> __device__ __forceinline__ float lora_delta_any(const LoraMats mats, int n, const float *low) {
    if (mats.rank == 0) return 0.f;
    if (lora_fast(mats.rank)) {
        uint4 raw[2];
        lora_load_row<T>(raw, mats, n);
        return lora_dot<T>(raw, low, mats.rank);
    }
    return lora_delta<T>(mats.b, mats.rank, n, low);
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
    pdl_trigger();
    pdl_wait();
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
constexpr int ATTN_UNROLL = 4;

// The attention loop of one (row, head) block over positions 0..n-1 of one KV head
// (`keys`/`values`: [cap, HEAD_DIM]), with the scaled query `qv` (this lane's 8 values).
// Position `newest` is read from `new_k`/`new_v` instead of the cache (the fused decode
// kernel has it in shared memory; pass newest >= n for none). Writes `out` (HEAD_DIM) and
// returns element threadIdx.x of it as stored (0 for threads past HEAD_DIM).
// With PREFETCHED, the first iteration's cache rows (those before `newest`) are already in
// `first_k`/`first_v`, loaded by the caller before pdl_wait.
template <typename T, int THREADS = ATTN_THREADS, int UNROLL = ATTN_UNROLL, bool PREFETCHED = false>
__device__ float attend(const float (&qv)[8], const T *keys, const T *values, uint32_t n, uint32_t newest,
                       const T *new_k, const T *new_v, T *out, const uint4 (&first_k)[UNROLL] = {},
                       const uint4 (&first_v)[UNROLL] = {}) {
    constexpr int ATTN_GROUPS = THREADS / 16, ATTN_UNROLL = UNROLL;
    __shared__ float group_max[ATTN_GROUPS];
    __shared__ float group_sum[ATTN_GROUPS];
    __shared__ float group_out[ATTN_GROUPS][HEAD_DIM];
    const int lane = threadIdx.x & 15, group = threadIdx.x >> 4;
    float m = -INFINITY, l = 0.f, acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    // Each group takes ATTN_UNROLL positions per iteration and issues all their loads before
    // using any: at batch 1 there are only `heads` blocks, so latency, not bandwidth, bounds
    // this loop. The trip count is uniform across the block: the shuffles need every lane.
    for (uint32_t base = 0; base < n; base += ATTN_GROUPS * ATTN_UNROLL) {
        uint4 kraw[ATTN_UNROLL], vraw[ATTN_UNROLL];
#pragma unroll
        for (int u = 0; u < ATTN_UNROLL; u++) {
            const uint32_t j = base + group + u * ATTN_GROUPS;
            if (PREFETCHED && base == 0 && j != newest) {
                kraw[u] = first_k[u];
                vraw[u] = first_v[u];
            } else if (j < n) {
                const T *k = j == newest ? new_k : keys + (size_t)j * HEAD_DIM;
                const T *v = j == newest ? new_v : values + (size_t)j * HEAD_DIM;
                kraw[u] = *reinterpret_cast<const uint4 *>(k + lane * 8);
                vraw[u] = *reinterpret_cast<const uint4 *>(v + lane * 8);
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
        const T value = from_f<T>(o / sum);
        out[threadIdx.x] = value;
        return to_f(value);
    }
    return 0.f;
}

template <typename T, int THREADS = ATTN_THREADS, int UNROLL = ATTN_UNROLL>
__device__ void attention(const T *q, const uint64_t *table, const uint32_t *pos, const uint32_t *cap, T *out,
                          int rows, int heads, int kv_heads, float scale) {
    pdl_trigger();
    pdl_wait();
    const int r = blockIdx.x, h = blockIdx.y;
    const int kvh = h / (heads / kv_heads);
    const uint32_t n = pos[r] + 1;
    const size_t c = cap[r];
    const T *keys = reinterpret_cast<const T *>(table[r]) + (size_t)kvh * c * HEAD_DIM;
    const T *values = reinterpret_cast<const T *>(table[rows + r]) + (size_t)kvh * c * HEAD_DIM;
    const int lane = threadIdx.x & 15;
    float qv[8];
    unpack8<T>(*reinterpret_cast<const uint4 *>(q + ((size_t)r * heads + h) * HEAD_DIM + lane * 8), qv);
#pragma unroll
    for (int i = 0; i < 8; i++) qv[i] *= scale;
    attend<T, THREADS, UNROLL>(qv, keys, values, n, n, nullptr, nullptr, out + ((size_t)r * heads + h) * HEAD_DIM);
}

// rope_append and attention in one launch, for decode steps (one row per sequence, so no
// block needs a cache row another block of this launch writes). Block (r, h) applies RoPE
// to its query head and to its KV head's new key straight from the QKV projection, keeps
// them and the new value in shared memory for position pos[r], and the first query head
// of each KV head writes the new key and value into the cache for later steps.
// Before pdl_wait it loads the tables and the first THREADS / 16 * UNROLL cached positions:
// those rows were written by earlier steps, and every step starts with ordinary (not
// programmatic) launches, which wait for all earlier work; the tables are copied in before
// the step's first kernel. So the cache's trip from memory overlaps the QKV projection.
// 512 threads: 128 positions loaded ahead of the wait (measured on an H100 at position
// 128: 0.02 ms a step faster than 256 threads; 1024 spills registers).
constexpr int DECODE_ATTN_THREADS = 512;

// The LoRA part of attention_decode (LORA true): the step's adapter rows (by_row), the
// QKV group's low-rank values (low_qkv, written by the QKV matvec's extra blocks), the
// output projection's (low_o, summed here from every head's part), and the table entries
// of Q, K, V and O (-1: no adapter of the step has it).
struct LoraAttention {
    const long long *by_row;
    float *low_qkv, *low_o;
    float *low_o_parts;  // [heads] parts of low_o, laid out as segments
    unsigned *counters;  // [rows] heads done, zero between layers
    int entries[4];
};

template <typename T, int THREADS, int UNROLL, bool LORA>
__device__ void attention_decode(const T *qkv, const float *cos, const float *sin, const uint64_t *table,
                                 const uint32_t *pos, const uint32_t *cap, T *out, int rows, int heads, int kv_heads,
                                 float scale, const LoraAttention lora) {
    constexpr int GROUPS = THREADS / 16;
    __shared__ __align__(16) T q_s[HEAD_DIM];
    __shared__ __align__(16) T new_k[HEAD_DIM];
    __shared__ __align__(16) T new_v[HEAD_DIM];
    // With LORA: this block's Q head, K head and V head after their updates, and this
    // head's columns of the output projection's A (staged before pdl_wait).
    __shared__ float updated[LORA ? 3 : 1][HEAD_DIM];
    __shared__ __align__(16) T a_s[LORA ? LORA_MAX_RANK : 1][HEAD_DIM];
    pdl_trigger();
    const int r = blockIdx.x, h = blockIdx.y, per_kv = heads / kv_heads, kvh = h / per_kv;
    const int lane = threadIdx.x & 15, group = threadIdx.x >> 4;
    const uint32_t p = pos[r];
    const size_t c = cap[r];
    T *keys = reinterpret_cast<T *>(table[r]) + (size_t)kvh * c * HEAD_DIM;
    T *values = reinterpret_cast<T *>(table[rows + r]) + (size_t)kvh * c * HEAD_DIM;
    uint4 first_k[UNROLL], first_v[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
        const uint32_t j = group + u * GROUPS;
        if (j < p) {
            first_k[u] = *reinterpret_cast<const uint4 *>(keys + (size_t)j * HEAD_DIM + lane * 8);
            first_v[u] = *reinterpret_cast<const uint4 *>(values + (size_t)j * HEAD_DIM + lane * 8);
        } else {
            first_k[u] = first_v[u] = make_uint4(0, 0, 0, 0);
        }
    }
    // Thread t < 3 * HEAD_DIM updates element t % HEAD_DIM of the Q (t / HEAD_DIM = 0), K
    // (1) or V (2) head; its column of the segment is that head's.
    const int seg = threadIdx.x / HEAD_DIM, elem = threadIdx.x % HEAD_DIM;
    const int column = (seg == 0 ? h : kvh) * HEAD_DIM + elem;
    LoraMats mats{nullptr, nullptr, 0}, out_mats{nullptr, nullptr, 0};
    uint4 b_raw[2] = {};
    if (LORA) {
        if (seg < 3) {
            mats = lora_mats(lora.by_row, rows, r, lora.entries[seg]);
            if (lora_fast(mats.rank)) lora_load_row<T>(b_raw, mats, column);
        }
        out_mats = lora_mats(lora.by_row, rows, r, lora.entries[3]);
        const T *a_o = static_cast<const T *>(out_mats.a) + h * HEAD_DIM;
        for (int i = threadIdx.x; i < out_mats.rank * HEAD_DIM; i += THREADS)
            a_s[i / HEAD_DIM][i % HEAD_DIM] = a_o[(size_t)(i / HEAD_DIM) * heads * HEAD_DIM + i % HEAD_DIM];
    }
    pdl_wait();
    const T *src = qkv + (size_t)r * (heads + 2 * kv_heads) * HEAD_DIM;
    constexpr int HALF = HEAD_DIM / 2;
    if (LORA) {
        // The row's low-rank values come straight from global memory, read together with
        // the projection's output (one round trip after the wait).
        if (seg < 3) {
            const int head = seg == 0 ? h : heads + (seg - 1) * kv_heads + kvh;
            float v = to_f(src[(size_t)head * HEAD_DIM + elem]);
            const float *low = low_at(lora.low_qkv, seg, r);
            if (lora_fast(mats.rank))
                v = to_f(from_f<T>(v + lora_dot<T>(b_raw, low, mats.rank)));
            else if (mats.rank > 0)
                v = to_f(from_f<T>(v + lora_delta<T>(mats.b, mats.rank, column, low)));
            updated[seg][elem] = v;
        }
        __syncthreads();
    }
    if (threadIdx.x < HALF) {
        const int j = threadIdx.x;
        const float co = cos[(size_t)p * HALF + j], si = sin[(size_t)p * HALF + j];
        const T *qh = src + (size_t)h * HEAD_DIM, *kh = src + (size_t)(heads + kvh) * HEAD_DIM;
        const T *vh = src + (size_t)(heads + kv_heads + kvh) * HEAD_DIM;
        float q1, q2, k1, k2;
        if (LORA) {
            q1 = updated[0][j], q2 = updated[0][j + HALF], k1 = updated[1][j], k2 = updated[1][j + HALF];
            new_v[j] = from_f<T>(updated[2][j]);
            new_v[j + HALF] = from_f<T>(updated[2][j + HALF]);
        } else {
            q1 = to_f(qh[j]), q2 = to_f(qh[j + HALF]), k1 = to_f(kh[j]), k2 = to_f(kh[j + HALF]);
            new_v[j] = vh[j];
            new_v[j + HALF] = vh[j + HALF];
        }
        q_s[j] = from_f<T>(q1 * co - q2 * si);
        q_s[j + HALF] = from_f<T>(q2 * co + q1 * si);
        new_k[j] = from_f<T>(k1 * co - k2 * si);
        new_k[j + HALF] = from_f<T>(k2 * co + k1 * si);
        if (h % per_kv == 0) {
            keys[(size_t)p * HEAD_DIM + j] = new_k[j];
            keys[(size_t)p * HEAD_DIM + j + HALF] = new_k[j + HALF];
            values[(size_t)p * HEAD_DIM + j] = new_v[j];
            values[(size_t)p * HEAD_DIM + j + HALF] = new_v[j + HALF];
        }
    }
    __syncthreads();
    float qv[8];
    unpack8<T>(*reinterpret_cast<const uint4 *>(q_s + lane * 8), qv);
#pragma unroll
    for (int i = 0; i < 8; i++) qv[i] *= scale;
    const float o = attend<T, THREADS, UNROLL, true>(qv, keys, values, p + 1, p, new_k, new_v,
                                                     out + ((size_t)r * heads + h) * HEAD_DIM, first_k, first_v);
    // The output projection's x·Aᵀ for row r: each head writes its part (a sum over its
    // HEAD_DIM inputs, which the first four warps hold), and the row's last head to finish
    // adds the parts in head order, so the result does not depend on block timing (atomic
    // adds would make a row's answer vary with the batch around it).
    if (LORA && out_mats.rank > 0) {
        __shared__ float warp_part[HEAD_DIM / 32][LORA_MAX_RANK];
        __shared__ bool last;
        if (threadIdx.x < HEAD_DIM) {
            for (int j0 = 0; j0 < out_mats.rank; j0 += 8) {
                float av[8];
#pragma unroll
                for (int g = 0; g < 8; g++) av[g] = j0 + g < out_mats.rank ? to_f(a_s[j0 + g][threadIdx.x]) : 0.f;
#pragma unroll
                for (int g = 0; g < 8; g++) {
                    float part = o * av[g];
#pragma unroll
                    for (int off = 16; off > 0; off >>= 1) part += __shfl_xor_sync(0xffffffffu, part, off);
                    if ((threadIdx.x & 31) == 0 && j0 + g < out_mats.rank) warp_part[threadIdx.x / 32][j0 + g] = part;
                }
            }
        }
        __syncthreads();
        if ((int)threadIdx.x < out_mats.rank) {
            float part = 0.f;
#pragma unroll
            for (int w = 0; w < HEAD_DIM / 32; w++) part += warp_part[w][threadIdx.x];
            low_at(lora.low_o_parts, h, r)[threadIdx.x] = part;
        }
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) last = atomicAdd(lora.counters + r, 1u) == (unsigned)heads - 1;
        __syncthreads();
        if (last && (int)threadIdx.x < out_mats.rank) {
            float sum = 0.f;
            for (int head = 0; head < heads; head++) sum += __ldcg(low_at(lora.low_o_parts, head, r) + threadIdx.x);
            low_at(lora.low_o, 0, r)[threadIdx.x] = sum;
            if (threadIdx.x == 0) lora.counters[r] = 0;  // for the next layer
        }
    }
}

// What a decode projection launch does for LoRA (see the LoRA notes at the top).
enum LoraRole {
    NO_LORA,
    LORA_LOW,    // extra leading blocks compute x·Aᵀ of each row's adapter for the next kernel
    LORA_APPLY,  // the epilogue adds low·(s·B)ᵀ of each row's adapter (low from the kernel before)
};

// The LoRA arguments of a projection launch: the step's adapter rows, this group's
// low-rank values, the segments' table entries (-1: none).
struct LoraProjection {
    const long long *by_row;
    float *low;
    int entries[3];
};

template <typename T, int GROUP>
__device__ void lora_low(const T *xr, const T *a, int rank, int in, float *low, float (*partial)[LORA_GROUP]);

// Ranks an extra block of a projection launch computes: these blocks share the
// projection's register allocation, and a wider round (16 ranks) took the QKV matvec from
// 46 to 124 registers a thread; more blocks, one round each, finish sooner.
constexpr int LORA_LOW_RANKS = 4;

// Extra block `block` (< segments · rows · groups) of a projection launch (LORA_THREADS
// threads): x[m]·Aᵀ of LORA_LOW_RANKS ranks of one segment of row m's adapter, written
// to the group's low-rank values for the kernel after.
template <typename T>
__device__ void lora_low_block(const T *x, int K, int rows, const LoraProjection lora, int block, int groups) {
    __shared__ float low_s[LORA_LOW_RANKS];
    __shared__ float partial[LORA_THREADS / 32][LORA_GROUP];
    pdl_trigger();
    const int seg = block / (rows * groups), m = block / groups % rows, j0 = block % groups * LORA_LOW_RANKS;
    const LoraMats mats = lora_mats(lora.by_row, rows, m, lora.entries[seg]);
    if (j0 >= mats.rank) return;
    const int ranks = min(LORA_LOW_RANKS, mats.rank - j0);
    const T *a = static_cast<const T *>(mats.a) + (size_t)j0 * K;
    for (int line = threadIdx.x; line < (ranks * K + 63) / 64; line += LORA_THREADS) l2_prefetch(a + (size_t)line * 64);
    pdl_wait();
    lora_low<T, LORA_LOW_RANKS>(x + (size_t)m * K, a, ranks, K, low_s, partial);
    if ((int)threadIdx.x < ranks) low_at(lora.low, seg, m)[j0 + threadIdx.x] = low_s[threadIdx.x];
}

// For LORA_APPLY: each row's adapter matrices for the launch's segments, looked up before
// pdl_wait by the first SEGS * M threads into shared memory (so nothing stays in registers
// across the projection's loop), read by the epilogue after a barrier.
template <int SEGS, int M> struct LoraRowsShared {
    const void *b[SEGS][M];
    int rank[SEGS][M];

    // Also asks L2 for B's rows of the block's output columns [first, first + columns).
    template <typename T> __device__ __forceinline__ void fill(const LoraProjection lora, int first, int columns) {
        if (threadIdx.x < SEGS * M) {
            const int seg = threadIdx.x / M, m = threadIdx.x % M;
            const LoraMats mats = lora_mats(lora.by_row, M, m, lora.entries[seg]);
            b[seg][m] = mats.b;
            rank[seg][m] = mats.rank;
            if (mats.rank > 0)
                for (int n = first; n < first + columns; n++)
                    l2_prefetch(static_cast<const T *>(mats.b) + (size_t)n * mats.rank);
        }
    }

    // Output `s` of column n, row m, segment seg as the unfused path stores it: rounded
    // to T, plus the row's update, rounded to T again.
    template <typename T>
    __device__ __forceinline__ float apply(float s, int seg, int m, int n, const LoraProjection lora) const {
        float v = to_f(from_f<T>(s));
        const LoraMats mats{nullptr, b[seg][m], rank[seg][m]};
        if (mats.rank > 0) v = to_f(from_f<T>(v + lora_delta_any<T>(mats, n, low_at(lora.low, seg, m))));
        return v;
    }
};

// y[m, n] = sum_k x[m, k] w[n, k] for M rows; SPLIT warps per output column n (each over
// K / SPLIT), 8 warps a block. K / SPLIT must be a multiple of 8 (16-byte loads); x and w
// 16-byte aligned. Splitting shortens each warp's chain of dependent load rounds, for rows
// too long (the down projection, K = 11008) or launches too small (4096 x 4096) to hide it.
// LR: see LoraRole; LORA_LOW launches M · groups extra leading blocks (segment 0),
// LORA_APPLY adds segment 0's update to every output.
template <typename T, int M, int SPLIT, LoraRole LR = NO_LORA>
__device__ void gemv(const T *x, const T *w, T *y, int K, int N, const LoraProjection lora = {}, int groups = 0) {
    __shared__ float partial[8][M];
    __shared__ LoraRowsShared<1, LR == LORA_APPLY ? M : 1> lora_rows;
    int block = blockIdx.x;
    if constexpr (LR == LORA_LOW) {
        if (block < M * groups) return lora_low_block<T>(x, K, M, lora, block, groups);
        block -= M * groups;
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int n = block * (8 / SPLIT) + warp / SPLIT;
    const int span = K / SPLIT, k0 = (warp % SPLIT) * span;
    // No early return: with SPLIT > 1 every warp must reach the barrier below.
    const bool active = n < N;
    const T *wr = w + (size_t)(active ? n : 0) * K + k0;
    const T *xs = x + k0;
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; m++) acc[m] = 0.f;
    int k = active ? lane * 8 : span;
    // The first round of weights is loaded before pdl_wait (weights never depend on the
    // previous kernel), so it streams in while that kernel finishes.
    uint4 wv[4];
    if (k + 3 * 256 < span)
#pragma unroll
        for (int u = 0; u < 4; u++) wv[u] = __ldg(reinterpret_cast<const uint4 *>(wr + k + u * 256));
    if constexpr (LR == LORA_APPLY)
        lora_rows.template fill<T>(lora, block * (8 / SPLIT), min(8 / SPLIT, N - block * (8 / SPLIT)));
    pdl_trigger();
    pdl_wait();
    // Four independent 16-byte weight loads in flight per lane before any arithmetic.
    for (; k + 3 * 256 < span; k += 4 * 256) {
        if (k != lane * 8)
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
        if constexpr (LR == LORA_APPLY) {
            __syncthreads();  // lora_rows
            if (!active || lane >= M) return;
            float s = 0.f;
#pragma unroll
            for (int m = 0; m < M; m++)
                if (m == lane) s = acc[m];
            y[(size_t)lane * N + n] = from_f<T>(lora_rows.template apply<T>(s, 0, lane, n, lora));
            return;
        }
        if (active && lane == 0)
#pragma unroll
            for (int m = 0; m < M; m++) y[(size_t)m * N + n] = from_f<T>(acc[m]);
        return;
    }
    if (lane == 0)
#pragma unroll
        for (int m = 0; m < M; m++) partial[warp][m] = acc[m];
    __syncthreads();
    if constexpr (LR == LORA_APPLY) {
        if (!active || lane >= M || warp % SPLIT != 0) return;
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < SPLIT; j++) s += partial[warp + j][lane];
        y[(size_t)lane * N + n] = from_f<T>(lora_rows.template apply<T>(s, 0, lane, n, lora));
        return;
    }
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

constexpr int NORM_THREADS = 512;

// One row of add_rms_norm by the whole block (a multiple of 32 threads, at most 512).
// Rows of up to NORM_VECS 16-byte vectors a thread (8192 values at 512 threads) take one
// round of loads, all issued before any is used: the element loop (kept for other rows)
// interleaves loads with stores that may alias them, so every iteration was a separate
// round trip to memory, ~8 us a row at batch 1 (measured on an H100: 0.3 ms a step).
constexpr int NORM_VECS = 2;

// With `lora` (rank > 0), `delta` gets the row's update low·(s·B)ᵀ first (rounded to T, as
// the unfused path stored the projection plus its update).
// Whether add_rms_norm_row takes its vector path (16-byte loads, at most NORM_VECS a thread).
template <typename T>
__device__ __forceinline__ bool norm_vectors(const T *x, const T *delta, const T *weight, const T *sum,
                                             const T *normed, int dim) {
    return dim % 8 == 0 && dim <= (int)blockDim.x * 8 * NORM_VECS &&
           ((uintptr_t)x | (uintptr_t)delta | (uintptr_t)weight | (uintptr_t)sum | (uintptr_t)normed) % 16 == 0;
}

// `update0` (with `has_update0`, on the vector path): updates already computed for this
// thread's first vector, added to delta the same way.
template <typename T>
__device__ __forceinline__ void add_rms_norm_row(const T *x, const T *delta, const T *weight, T *sum, T *normed,
                                                 int dim, float eps,
                                                 const LoraMats lora = LoraMats{nullptr, nullptr, 0},
                                                 const float *low = nullptr, bool has_update0 = false,
                                                 const float (&update0)[8] = {}) {
    __shared__ float partial[NORM_THREADS / 32];
    const int threads = blockDim.x;
    const bool vectors = norm_vectors(x, delta, weight, sum, normed, dim);
    float squares = 0.f;
    uint4 sv[NORM_VECS], wv[NORM_VECS];
    if (vectors) {
        uint4 xv[NORM_VECS], dv[NORM_VECS];
#pragma unroll
        for (int v = 0; v < NORM_VECS; v++) {
            const int i = (threadIdx.x + v * threads) * 8;
            if (i < dim) {
                xv[v] = *reinterpret_cast<const uint4 *>(x + i);
                dv[v] = *reinterpret_cast<const uint4 *>(delta + i);
                wv[v] = *reinterpret_cast<const uint4 *>(weight + i);
            }
        }
#pragma unroll
        for (int v = 0; v < NORM_VECS; v++) {
            const int i = (threadIdx.x + v * threads) * 8;
            if (i >= dim) break;
            float a[8], b[8];
            unpack8<T>(xv[v], a);
            unpack8<T>(dv[v], b);
            if (v == 0 && has_update0) {
#pragma unroll
                for (int e = 0; e < 8; e++) b[e] = to_f(from_f<T>(b[e] + update0[e]));
            } else if (lora.rank > 0) {
#pragma unroll
                for (int e = 0; e < 8; e++) b[e] = to_f(from_f<T>(b[e] + lora_delta<T>(lora.b, lora.rank, i + e, low)));
            }
            T *out = reinterpret_cast<T *>(&sv[v]);
#pragma unroll
            for (int e = 0; e < 8; e++) {
                out[e] = from_f<T>(a[e] + b[e]);
                const float r = to_f(out[e]);  // normalise what the next layer will add to
                squares += r * r;
            }
            *reinterpret_cast<uint4 *>(sum + i) = sv[v];
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += threads) {
            float d = to_f(delta[i]);
            if (lora.rank > 0) d = to_f(from_f<T>(d + lora_delta<T>(lora.b, lora.rank, i, low)));
            const T rounded = from_f<T>(to_f(x[i]) + d);
            sum[i] = rounded;
            squares += to_f(rounded) * to_f(rounded);
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, o);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = squares;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < threads / 32; w++) total += partial[w];
    const float scale = rsqrtf(total / dim + eps);
    if (vectors) {
#pragma unroll
        for (int v = 0; v < NORM_VECS; v++) {
            const int i = (threadIdx.x + v * threads) * 8;
            if (i >= dim) break;
            float a[8], wf[8];
            unpack8<T>(sv[v], a);
            unpack8<T>(wv[v], wf);
            uint4 out;
            T *o = reinterpret_cast<T *>(&out);
#pragma unroll
            for (int e = 0; e < 8; e++) o[e] = from_f<T>(a[e] * scale * wf[e]);
            *reinterpret_cast<uint4 *>(normed + i) = out;
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += threads) normed[i] = from_f<T>(to_f(sum[i]) * scale * to_f(weight[i]));
    }
}

// One round of weight loads; CHECK only for the last, partial round of a row (bounds
// checks on every round cost registers and issue slots).
template <bool CHECK, int U, int R, typename T>
__device__ __forceinline__ void load_round(uint4 (&wv)[R][U], const T *const (&rows)[R], int k, int span) {
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int kk = k + u * 256;
            wv[r][u] = !CHECK || kk < span ? __ldg(reinterpret_cast<const uint4 *>(rows[r] + kk))
                                           : make_uint4(0, 0, 0, 0);
        }
}

template <int U, int R, typename T>
__device__ __forceinline__ void load_any_round(uint4 (&wv)[R][U], const T *const (&rows)[R], int k, int base,
                                               int span) {
    if (base + U * 256 <= span) {
        load_round<false, U, R>(wv, rows, k, span);
    } else {
        load_round<true, U, R>(wv, rows, k, span);
    }
}

template <int M, int U, int R, typename T>
__device__ __forceinline__ void fma_round(float (&acc)[M][R], const uint4 (&wv)[R][U], const T *xs, int K, int k,
                                          int span) {
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int kk = k + u * 256;
        if (kk >= span) break;  // only in the last, partial round
        float xf[M][8];
#pragma unroll
        for (int m = 0; m < M; m++) unpack8<T>(__ldg(reinterpret_cast<const uint4 *>(xs + (size_t)m * K + kk)), xf[m]);
#pragma unroll
        for (int r = 0; r < R; r++) {
            float wf[8];
            unpack8<T>(wv[r][u], wf);
#pragma unroll
            for (int m = 0; m < M; m++)
#pragma unroll
                for (int i = 0; i < 8; i++) acc[m][r] += wf[i] * xf[m][i];
        }
    }
}

// What a matrix-vector launch does with its sums.
enum Epilogue {
    PLAIN,   // y = x w^T
    SWIGLU,  // y = silu(x w_gate^T) * (x w_up^T), w = [gate; up]
};

// The matrix-vector kernel for the wide decode projections. y[m, n] = sum_k x[m, k] w[n, k]
// for M rows of x. Each warp owns R weight rows (R consecutive rows; with SWIGLU,
// gate row g and up row g + N of a [2N, K] gate/up matrix, and it writes silu(gate) * up,
// so the SwiGLU launch disappears) over K / SPLIT of their length; 8 warps a block.
// Per round a lane issues U * R independent 16-byte weight loads (U * R * 512 bytes a
// warp) before any arithmetic, and the first round is issued before pdl_wait: weights do
// not depend on the previous kernel, so they stream in while it finishes.
// Needs K / SPLIT a multiple of 8, x and w 16-byte aligned, and N % R == 0 without SWIGLU.
// LR: LORA_LOW (QKV) launches 3 · M · groups extra leading blocks (segment, row, ranks);
// LORA_APPLY (SwiGLU only) adds the gate (segment 0) and up (1) updates before SwiGLU.
template <typename T, int M, int R, int SPLIT, int U, Epilogue E, LoraRole LR = NO_LORA>
__device__ void matvec(const T *x, const T *w, T *y, int K, int N, const LoraProjection lora = {}, int groups = 0) {
    constexpr int WARPS = 8, GROUPS = WARPS / SPLIT;
    constexpr bool GLU = E == SWIGLU;
    static_assert(LR != LORA_APPLY || GLU, "matvec applies LoRA updates only before SwiGLU");
    __shared__ float partial[WARPS][M][R];
    __shared__ LoraRowsShared<2, LR == LORA_APPLY ? M : 1> lora_rows;
    int block = blockIdx.x;
    if constexpr (LR == LORA_LOW) {
        if (block < 3 * M * groups) return lora_low_block<T>(x, K, M, lora, block, groups);
        block -= 3 * M * groups;
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int g = block * GROUPS + warp / SPLIT;
    const bool active = g < (GLU ? N : N / R);
    const int span = active ? K / SPLIT : 0, k0 = (warp % SPLIT) * (K / SPLIT);
    const T *rows[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int row = active ? (GLU ? g + r * N : g * R + r) : 0;
        rows[r] = w + (size_t)row * K + k0;
    }
    const T *xs = x + k0;
    float acc[M][R];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int r = 0; r < R; r++) acc[m][r] = 0.f;
    uint4 wv[R][U];
    int k = lane * 8;
    load_any_round<U, R>(wv, rows, k, 0, span);
    if constexpr (LR == LORA_APPLY)
        lora_rows.template fill<T>(lora, block * GROUPS, min(GROUPS, N - block * GROUPS));
    pdl_trigger();
    pdl_wait();
    while (true) {
        fma_round<M, U, R>(acc, wv, xs, K, k, span);
        k += U * 256;
        if (k - lane * 8 >= span) break;  // warp-uniform
        load_any_round<U, R>(wv, rows, k, k - lane * 8, span);
    }
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int r = 0; r < R; r++) {
            float s = acc[m][r];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            acc[m][r] = s;
        }
    if (SPLIT > 1) {
        if (lane == 0)
#pragma unroll
            for (int m = 0; m < M; m++)
#pragma unroll
                for (int r = 0; r < R; r++) partial[warp][m][r] = acc[m][r];
        __syncthreads();
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int r = 0; r < R; r++) {
                float s = 0.f;
#pragma unroll
                for (int j = 0; j < SPLIT; j++) s += partial[warp - warp % SPLIT + j][m][r];
                acc[m][r] = s;
            }
    }
    if constexpr (LR == LORA_APPLY) {
        if (SPLIT == 1) __syncthreads();  // lora_rows (with SPLIT > 1, the barrier above)
        if (!active || lane >= M || warp % SPLIT != 0) return;
        float gate = 0.f, up = 0.f;
#pragma unroll
        for (int m = 0; m < M; m++)
            if (m == lane) gate = acc[m][0], up = acc[m][R - 1];
        gate = lora_rows.template apply<T>(gate, 0, lane, g, lora);
        up = lora_rows.template apply<T>(up, 1, lane, g, lora);
        y[(size_t)lane * N + g] = from_f<T>(gate / (1.f + __expf(-gate)) * up);
        return;
    }
    if (!active || lane != 0 || warp % SPLIT != 0) return;
#pragma unroll
    for (int m = 0; m < M; m++) {
        if (GLU) {
            // Rounded to T first, as the unfused projection stored gate and up.
            const float gate = to_f(from_f<T>(acc[m][0])), up = to_f(from_f<T>(acc[m][R - 1]));
            y[(size_t)m * N + g] = from_f<T>(gate / (1.f + __expf(-gate)) * up);
        } else {
#pragma unroll
            for (int r = 0; r < R; r++) y[(size_t)m * N + g * R + r] = from_f<T>(acc[m][r]);
        }
    }
}

// gate_up: [rows, 2 * inter] (gate first); out: [rows, inter] = silu(gate) * up.
template <typename T> __device__ void silu_mul(const T *gate_up, T *out, int rows, int inter) {
    pdl_trigger();
    pdl_wait();
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
template <typename T>
__device__ void add_rms_norm(const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps) {
    pdl_trigger();
    pdl_wait();
    const size_t row = (size_t)blockIdx.x * dim;
    add_rms_norm_row(x + row, delta + row, weight, sum + row, normed + row, dim, eps);
}


// An extra block of add_rms_norm_low: row m's normed values exactly as the row's own block
// computes them (same rounding, same reduction order), then their product with ranks
// [8·group, 8·group + 8) of A of segment `seg` of the row's adapter, for the projection
// after. Where the row is one 16-byte vector a thread, those A values are loaded before
// pdl_wait, so after it this block costs what the row's own block does plus a reduction.
template <typename T>
__device__ void add_rms_norm_low_block(const T *x, const T *delta, const T *weight, int dim, float eps, int rows,
                                       const LoraProjection lora, int seg, int m, int group) {
    constexpr int RANKS = 8;
    __shared__ float squares_s[NORM_THREADS / 32];
    __shared__ float partial[NORM_THREADS / 32][RANKS];
    pdl_trigger();
    const LoraMats mats = lora_mats(lora.by_row, rows, m, lora.entries[seg]);
    const int j0 = group * RANKS;
    if (j0 >= mats.rank) return;
    const T *a = static_cast<const T *>(mats.a);
    const int threads = blockDim.x, warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const bool one_vector = dim <= 8 * threads;
    uint4 a_raw[RANKS];
    {
        const int i = threadIdx.x * 8;
#pragma unroll
        for (int q = 0; q < RANKS; q++)
            a_raw[q] = one_vector && i < dim && j0 + q < mats.rank
                           ? __ldg(reinterpret_cast<const uint4 *>(a + (size_t)(j0 + q) * dim + i))
                           : make_uint4(0, 0, 0, 0);
    }
    pdl_wait();
    const T *xr = x + (size_t)m * dim, *dr = delta + (size_t)m * dim;
    float nv[NORM_VECS][8];
    float squares = 0.f;
#pragma unroll
    for (int v = 0; v < NORM_VECS; v++) {
        const int i = (threadIdx.x + v * threads) * 8;
        if (i >= dim) break;
        float xa[8], da[8];
        unpack8<T>(*reinterpret_cast<const uint4 *>(xr + i), xa);
        unpack8<T>(*reinterpret_cast<const uint4 *>(dr + i), da);
#pragma unroll
        for (int e = 0; e < 8; e++) {
            nv[v][e] = to_f(from_f<T>(xa[e] + da[e]));
            squares += nv[v][e] * nv[v][e];
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, o);
    if (lane == 0) squares_s[warp] = squares;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < threads / 32; w++) total += squares_s[w];
    const float scale = rsqrtf(total / dim + eps);
    float acc[RANKS] = {};
#pragma unroll
    for (int v = 0; v < NORM_VECS; v++) {
        const int i = (threadIdx.x + v * threads) * 8;
        if (i >= dim) break;
        float wf[8];
        unpack8<T>(*reinterpret_cast<const uint4 *>(weight + i), wf);
#pragma unroll
        for (int e = 0; e < 8; e++) nv[v][e] = to_f(from_f<T>(nv[v][e] * scale * wf[e]));
#pragma unroll
        for (int q = 0; q < RANKS; q++) {
            uint4 raw = a_raw[q];
            if (!one_vector)
                raw = j0 + q < mats.rank ? __ldg(reinterpret_cast<const uint4 *>(a + (size_t)(j0 + q) * dim + i))
                                         : make_uint4(0, 0, 0, 0);
            float av[8];
            unpack8<T>(raw, av);
#pragma unroll
            for (int e = 0; e < 8; e++) acc[q] += nv[v][e] * av[e];
        }
    }
#pragma unroll
    for (int q = 0; q < RANKS; q++) {
        float part = acc[q];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
        if (lane == 0) partial[warp][q] = part;
    }
    __syncthreads();
    if (threadIdx.x < RANKS && j0 + (int)threadIdx.x < mats.rank) {
        float sum = 0.f;
        for (int w = 0; w < threads / 32; w++) sum += partial[w][threadIdx.x];
        low_at(lora.low, seg, m)[j0 + threadIdx.x] = sum;
    }
}

// add_rms_norm with extra blocks (gridDim.x = rows + 2·rows·groups): for the gate
// (segment 0) and up (1) projections after, x·Aᵀ of the normed rows, 8 ranks a block.
template <typename T>
__device__ void add_rms_norm_low(const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps,
                                 int rows, const LoraProjection lora, int groups) {
    if ((int)blockIdx.x < rows) return add_rms_norm<T>(x, delta, weight, sum, normed, dim, eps);
    const int e = blockIdx.x - rows, per_seg = rows * groups;
    add_rms_norm_low_block<T>(x, delta, weight, dim, eps, rows, lora, e / per_seg, e % per_seg / groups,
                              e % groups);
}

// add_rms_norm whose delta (the down projection's output) first gets each row's update,
// from the low-rank values the down gemv's extra blocks wrote (segment 0).
template <typename T>
__device__ void add_rms_norm_apply(const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps,
                                   int rows, const LoraProjection lora) {
    __shared__ float low_s[LORA_MAX_RANK];
    pdl_trigger();
    const int m = blockIdx.x;
    const size_t row = (size_t)m * dim;
    const LoraMats mats = lora_mats(lora.by_row, rows, m, lora.entries[0]);
    // Fast path (rank 8 or 16, one vector a thread): B's rows for the thread's 8 columns
    // are loaded before the wait, so after it only the row's low-rank values are read, in
    // the same round trip as x and delta.
    const int i0 = threadIdx.x * 8;
    const bool fast = lora_fast(mats.rank) && dim <= 8 * (int)blockDim.x &&
                      norm_vectors(x + row, delta + row, weight, sum + row, normed + row, dim);
    uint4 b_raw[8][2];
    if (fast && i0 < dim)
#pragma unroll
        for (int c = 0; c < 8; c++) lora_load_row<T>(b_raw[c], mats, i0 + c);
    pdl_wait();
    float update[8] = {};
    if (fast) {
        if (i0 < dim) {
            const float *low = low_at(lora.low, 0, m);
#pragma unroll
            for (int c = 0; c < 8; c++) update[c] = lora_dot<T>(b_raw[c], low, mats.rank);
        }
        return add_rms_norm_row(x + row, delta + row, weight, sum + row, normed + row, dim, eps,
                                LoraMats{nullptr, nullptr, 0}, nullptr, true, update);
    }
    if ((int)threadIdx.x < mats.rank) low_s[threadIdx.x] = low_at(lora.low, 0, m)[threadIdx.x];
    __syncthreads();
    add_rms_norm_row(x + row, delta + row, weight, sum + row, normed + row, dim, eps, mats, low_s);
}

// LoRA for a batch of rows with mixed adapters, in the style of Punica's BGMV/SGMV
// (gathered, segmented matrix-vector products): y[row, seg] += (x[row] · Aᵀ) · (s·B)ᵀ with
// the A and B of the adapter the row's sequence uses, found through tables, so one launch
// serves any mix of adapters (and rows without one) instead of small GEMMs per adapter.
//
// info (i64): [slots] the device address of each slot's adapter table, [slots] each slot's
// rank, [slots + 1] where each slot's rows start in `order`, [rows] the step's rows
// grouped by slot (rows without an adapter are in no group). An adapter table holds, for
// every (layer, target) entry, the addresses of A ([rank, in]) and s·B ([out, rank]), or 0
// where the adapter leaves that projection alone.
// y is [rows, y_stride]; its columns are up to three segments (the fused QKV or gate/up
// projection's parts), segment i with `outs[i]` columns and table entry `entries[i]`
// (-1: skipped). Blocks are (column block or segment, slot, row of the slot).
//
// Two forms. lora_bgmv (decode steps of a few rows, where launches dominate): one launch a
// projection group; each block computes its row's x·Aᵀ itself (A stays in L2 across the
// blocks of a row) and then its LORA_COLS columns of the update. lora_shrink + lora_expand
// (larger steps, where recomputing x·Aᵀ per column block would read A from L2 dozens of
// times a row): x·Aᵀ once per row and segment into an f32 buffer, then the update.
// Weights (A, B) and the tables are read before pdl_wait: no kernel of the step writes
// them, so those loads overlap the projection before.
// Ranks a round of the fused kernel (fewer registers: measured faster at batch 1 than 16).
constexpr int LORA_FUSED_GROUP = 8;
constexpr int LORA_PER_THREAD = LORA_COLS / LORA_THREADS;

// The adapter matrices of one block: segment, columns, A, B and the row. False when the
// block has nothing to do (segment skipped, adapter without this projection, no such row).
struct LoraBlock {
    const void *a, *b;
    int rank, seg, out, offset, first, last;
    long long row;
};

__device__ __forceinline__ bool lora_block(LoraBlock &blk, const long long *info, int slots, int block, int seg_z,
                                           int entry0, int entry1, int entry2, int out0, int out1, int out2,
                                           int blocks0, int blocks1, bool by_segment) {
    const int slot = blockIdx.y;
    int entry = entry0, out = out0, offset = 0;
    // Column blocks (by_segment false) or one block per segment (true).
    int seg = 0;
    if (by_segment) {
        seg = seg_z;
    } else if (block >= blocks0) {
        block -= blocks0, seg = 1;
        if (block >= blocks1) block -= blocks1, seg = 2;
    }
    if (seg == 1) entry = entry1, out = out1, offset = out0;
    if (seg == 2) entry = entry2, out = out2, offset = out0 + out1;
    if (entry < 0) return false;
    const long long *table = reinterpret_cast<const long long *>(info[slot]);
    blk.rank = (int)info[slots + slot];
    const long long *starts = info + 2 * slots, *order = info + 3 * slots + 1;
    blk.a = reinterpret_cast<const void *>(table[2 * entry]);
    blk.b = reinterpret_cast<const void *>(table[2 * entry + 1]);
    if (blk.a == nullptr || blk.b == nullptr || blk.rank <= 0 || blk.rank > LORA_MAX_RANK) return false;
    const long long i = starts[slot] + blockIdx.z;
    if (i >= starts[slot + 1]) return false;
    blk.row = order[i];
    blk.seg = seg, blk.out = out, blk.offset = offset;
    blk.first = block * LORA_COLS, blk.last = min(blk.first + LORA_COLS, out);
    return true;
}

// low[0..rank) = x·Aᵀ for one row, with the whole block: each thread sums its 8-input
// chunks for LORA_GROUP ranks at once (every load of a round issued before the arithmetic,
// so the block waits for memory about once per round), then one reduction.
template <typename T, int GROUP>
__device__ void lora_low(const T *xr, const T *a, int rank, int in, float *low, float (*partial)[LORA_GROUP]) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, chunks = in / 8;
    for (int j0 = 0; j0 < rank; j0 += GROUP) {
        float acc[GROUP] = {};
#pragma unroll 2
        for (int c = threadIdx.x; c < chunks; c += LORA_THREADS) {
            const uint4 xraw = *reinterpret_cast<const uint4 *>(xr + c * 8);
            uint4 araw[GROUP];
#pragma unroll
            for (int g = 0; g < GROUP; g++)
                araw[g] = j0 + g < rank ? *reinterpret_cast<const uint4 *>(a + (size_t)(j0 + g) * in + c * 8)
                                        : make_uint4(0, 0, 0, 0);
            float xv[8];
            unpack8<T>(xraw, xv);
#pragma unroll
            for (int g = 0; g < GROUP; g++) {
                float av[8];
                unpack8<T>(araw[g], av);
#pragma unroll
                for (int e = 0; e < 8; e++) acc[g] += xv[e] * av[e];
            }
        }
#pragma unroll
        for (int g = 0; g < GROUP; g++) {
            float s = acc[g];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (lane == 0) partial[warp][g] = s;
        }
        __syncthreads();
        if (threadIdx.x < GROUP && j0 + (int)threadIdx.x < rank) {
            float s = 0.f;
#pragma unroll
            for (int w = 0; w < LORA_THREADS / 32; w++) s += partial[w][threadIdx.x];
            low[j0 + threadIdx.x] = s;
        }
        __syncthreads();
    }
}

// This thread's rank-16 rows of B (its LORA_PER_THREAD columns), loaded before the wait.
template <typename T> struct LoraB16 {
    uint4 raw[LORA_PER_THREAD][2];
    __device__ __forceinline__ void load(const T *b, int first, int last) {
#pragma unroll
        for (int k = 0; k < LORA_PER_THREAD; k++) {
            const int c = first + threadIdx.x + k * LORA_THREADS;
            if (c < last) {
                const uint4 *br = reinterpret_cast<const uint4 *>(b + (size_t)c * 16);
                raw[k][0] = br[0];
                raw[k][1] = br[1];
            }
        }
    }
};

// yr[c] += low · B[c] for the block's columns (B's rank-16 rows from `b16` with use_b16).
template <typename T>
__device__ __forceinline__ void lora_update(T *yr, const T *b, const float *low, int rank, int first, int last,
                                            const LoraB16<T> &b16, bool use_b16) {
    if (use_b16) {
        T yv[LORA_PER_THREAD];
#pragma unroll
        for (int k = 0; k < LORA_PER_THREAD; k++) {
            const int c = first + threadIdx.x + k * LORA_THREADS;
            if (c < last) yv[k] = yr[c];
        }
#pragma unroll
        for (int k = 0; k < LORA_PER_THREAD; k++) {
            const int c = first + threadIdx.x + k * LORA_THREADS;
            if (c < last) {
                float b0[8], b1[8];
                unpack8<T>(b16.raw[k][0], b0);
                unpack8<T>(b16.raw[k][1], b1);
                float d = 0.f;
#pragma unroll
                for (int e = 0; e < 8; e++) d += low[e] * b0[e] + low[8 + e] * b1[e];
                yr[c] = from_f<T>(to_f(yv[k]) + d);
            }
        }
        return;
    }
    for (int c = first + threadIdx.x; c < last; c += LORA_THREADS)
        yr[c] = from_f<T>(to_f(yr[c]) + lora_delta<T>(b, rank, c, low));
}

template <typename T>
__device__ void lora_prefetch(const LoraBlock &blk, int in, bool with_a, bool with_b) {
    const T *a = static_cast<const T *>(blk.a), *b = static_cast<const T *>(blk.b);
    if (with_a)
        for (int line = threadIdx.x; line < (blk.rank * in + 63) / 64; line += LORA_THREADS)
            l2_prefetch(a + (size_t)line * 64);
    if (with_b)
        for (int line = threadIdx.x; line < ((blk.last - blk.first) * blk.rank + 63) / 64; line += LORA_THREADS)
            l2_prefetch(b + (size_t)blk.first * blk.rank + (size_t)line * 64);
}

// Grid: (column blocks of every segment, slots, most rows of a slot).
template <typename T>
__device__ void lora_bgmv(const T *x, T *y, const long long *info, int slots, int in, int y_stride, int entry0,
                          int entry1, int entry2, int out0, int out1, int out2, int blocks0, int blocks1) {
    pdl_trigger();
    LoraBlock blk;
    if (!lora_block(blk, info, slots, blockIdx.x, 0, entry0, entry1, entry2, out0, out1, out2, blocks0, blocks1, false))
        return;
    __shared__ float low[LORA_MAX_RANK];
    __shared__ float partial[LORA_THREADS / 32][LORA_GROUP];
    const T *b = static_cast<const T *>(blk.b);
    lora_prefetch<T>(blk, in, true, true);
    pdl_wait();
    lora_low<T, LORA_FUSED_GROUP>(x + blk.row * in, static_cast<const T *>(blk.a), blk.rank, in, low, partial);
    // B's rows (L2 hits after the prefetch) and y for all of the thread's columns are
    // loaded before the first is used (measured: the column loop with a load pair per
    // iteration cost a quarter more at batch 1); holding B in registers across the wait
    // measured slower than this.
    LoraB16<T> b16;
    if (blk.rank == 16) b16.load(b, blk.first, blk.last);
    lora_update<T>(y + blk.row * y_stride + blk.offset, b, low, blk.rank, blk.first, blk.last, b16, blk.rank == 16);
}

// Grid: (segments, slots, most rows of a slot). low_buf: [rows, 3, LORA_MAX_RANK] f32.
template <typename T>
__device__ void lora_shrink(const T *x, float *low_buf, const long long *info, int slots, int in, int entry0,
                            int entry1, int entry2) {
    pdl_trigger();
    LoraBlock blk;
    if (!lora_block(blk, info, slots, 0, blockIdx.x, entry0, entry1, entry2, 1, 1, 1, 1, 1, true)) return;
    __shared__ float low[LORA_MAX_RANK];
    __shared__ float partial[LORA_THREADS / 32][LORA_GROUP];
    lora_prefetch<T>(blk, in, true, false);
    pdl_wait();
    lora_low<T, LORA_GROUP>(x + blk.row * in, static_cast<const T *>(blk.a), blk.rank, in, low, partial);
    if (threadIdx.x < blk.rank) low_buf[(blk.row * 3 + blockIdx.x) * LORA_MAX_RANK + threadIdx.x] = low[threadIdx.x];
}

// Grid: (column blocks of every segment, slots, most rows of a slot).
template <typename T>
__device__ void lora_expand(const float *low_buf, T *y, const long long *info, int slots, int y_stride, int entry0,
                            int entry1, int entry2, int out0, int out1, int out2, int blocks0, int blocks1) {
    pdl_trigger();
    LoraBlock blk;
    if (!lora_block(blk, info, slots, blockIdx.x, 0, entry0, entry1, entry2, out0, out1, out2, blocks0, blocks1, false))
        return;
    __shared__ float low[LORA_MAX_RANK];
    const T *b = static_cast<const T *>(blk.b);
    LoraB16<T> b16;
    if (blk.rank == 16) b16.load(b, blk.first, blk.last);
    if (blk.rank != 16) lora_prefetch<T>(blk, 0, false, true);
    pdl_wait();
    if (threadIdx.x < blk.rank) low[threadIdx.x] = low_buf[(blk.row * 3 + blk.seg) * LORA_MAX_RANK + threadIdx.x];
    __syncthreads();
    lora_update<T>(y + blk.row * y_stride + blk.offset, b, low, blk.rank, blk.first, blk.last,
                   b16, blk.rank == 16);
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
    extern "C" __global__ void __launch_bounds__(DECODE_ATTN_THREADS) attention_decode_##NAME(                     \
        const T *qkv, const float *cos, const float *sin, const uint64_t *table, const uint32_t *pos,              \
        const uint32_t *cap, T *out, int rows, int heads, int kv_heads, float scale) {                             \
        attention_decode<T, DECODE_ATTN_THREADS, ATTN_UNROLL, false>(qkv, cos, sin, table, pos, cap, out, rows,    \
                                                                     heads, kv_heads, scale, LoraAttention{});     \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(DECODE_ATTN_THREADS) attention_decode_lora_##NAME(                \
        const T *qkv, const float *cos, const float *sin, const uint64_t *table, const uint32_t *pos,              \
        const uint32_t *cap, T *out, int rows, int heads, int kv_heads, float scale, const long long *by_row,      \
        float *low_qkv, float *low_o, float *low_o_parts, unsigned *counters, int entry_q, int entry_k,            \
        int entry_v, int entry_o) {                                                                                \
        const LoraAttention lora{by_row, low_qkv, low_o, low_o_parts, counters,                                    \
                                 {entry_q, entry_k, entry_v, entry_o}};                                            \
        attention_decode<T, DECODE_ATTN_THREADS, ATTN_UNROLL, true>(qkv, cos, sin, table, pos, cap, out, rows,     \
                                                                    heads, kv_heads, scale, lora);                 \
    }                                                                                                              \
    extern "C" __global__ void silu_mul_##NAME(const T *gate_up, T *out, int rows, int inter) {                   \
        silu_mul<T>(gate_up, out, rows, inter);                                                                    \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                     \
        add_rms_norm_##NAME(const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps) {  \
        add_rms_norm<T>(x, delta, weight, sum, normed, dim, eps);                                                  \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS) add_rms_norm_low_##NAME(                            \
        const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps, int rows,              \
        const long long *by_row, float *low, int entry0, int entry1, int groups) {                                 \
        add_rms_norm_low<T>(x, delta, weight, sum, normed, dim, eps, rows,                                         \
                            LoraProjection{by_row, low, {entry0, entry1, -1}}, groups);                             \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS) add_rms_norm_apply_##NAME(                          \
        const T *x, const T *delta, const T *weight, T *sum, T *normed, int dim, float eps, int rows,              \
        const long long *by_row, float *low, int entry0) {                                                         \
        add_rms_norm_apply<T>(x, delta, weight, sum, normed, dim, eps, rows,                                       \
                              LoraProjection{by_row, low, {entry0, -1, -1}});                                       \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(LORA_THREADS)                                                     \
        lora_bgmv_##NAME(const T *x, T *y, const long long *info, int slots, int in, int y_stride, int entry0,     \
                         int entry1, int entry2, int out0, int out1, int out2, int blocks0, int blocks1) {         \
        lora_bgmv<T>(x, y, info, slots, in, y_stride, entry0, entry1, entry2, out0, out1, out2, blocks0, blocks1); \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(LORA_THREADS)                                                     \
        lora_shrink_##NAME(const T *x, float *low_buf, const long long *info, int slots, int in, int entry0,       \
                           int entry1, int entry2) {                                                               \
        lora_shrink<T>(x, low_buf, info, slots, in, entry0, entry1, entry2);                                       \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(LORA_THREADS) lora_expand_##NAME(                                 \
        const float *low_buf, T *y, const long long *info, int slots, int y_stride, int entry0, int entry1,        \
        int entry2, int out0, int out1, int out2, int blocks0, int blocks1) {                                      \
        lora_expand<T>(low_buf, y, info, slots, y_stride, entry0, entry1, entry2, out0, out1, out2, blocks0,       \
                       blocks1);                                                                                   \
    }

#define GEMV_SPLIT(NAME, T, M, SPLIT)                                                                              \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        gemv_##NAME##_##M##_s##SPLIT(const T *x, const T *w, T *y, int K, int N) {                                 \
        gemv<T, M, SPLIT>(x, w, y, K, N);                                                                          \
    }

// Blocks a multiprocessor must hold of a LORA_LOW launch, by rows: as many as the plain
// kernel of the same shape gets with the registers ptxas gives it (sm_90, CUDA 13.0). The
// extra blocks' x·Aᵀ loop raised the projection's registers (QKV at one row 46 -> 61, the
// down projection at eight 112 -> 146), which cost a block per multiprocessor; capped,
// the extra blocks (not the projection's loop) give up registers.
constexpr int MV_LOW_BLOCKS[GEMV_ROWS_MAX + 1] = {1, 5, 4, 4, 4, 4, 3, 3, 3};
constexpr int GEMV_LOW_BLOCKS[3][GEMV_ROWS_MAX + 1] = {
    {},
    {1, 6, 5, 4, 4, 3, 3, 3, 2},  // split 1
    {1, 5, 4, 3, 3, 3, 2, 2, 2},  // split 2
};

// The LoRA forms (see LoraRole) for the splits the output and down projections use.
#define GEMV_LORA(NAME, T, M, SPLIT)                                                                               \
    extern "C" __global__ void __launch_bounds__(256, GEMV_LOW_BLOCKS[SPLIT][M])                                   \
        gemv_low_##NAME##_##M##_s##SPLIT(                                                                          \
        const T *x, const T *w, T *y, int K, int N, const long long *by_row, float *low, int entry, int groups) {  \
        gemv<T, M, SPLIT, LORA_LOW>(x, w, y, K, N, LoraProjection{by_row, low, {entry, -1, -1}}, groups);          \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(256) gemv_apply_##NAME##_##M##_s##SPLIT(                          \
        const T *x, const T *w, T *y, int K, int N, const long long *by_row, float *low, int entry) {              \
        gemv<T, M, SPLIT, LORA_APPLY>(x, w, y, K, N, LoraProjection{by_row, low, {entry, -1, -1}});                \
    }

#define GEMV(NAME, T, M)                                                                                           \
    GEMV_SPLIT(NAME, T, M, 1) GEMV_SPLIT(NAME, T, M, 2) GEMV_SPLIT(NAME, T, M, 4) GEMV_LORA(NAME, T, M, 1)         \
        GEMV_LORA(NAME, T, M, 2)

#define GEMVS(NAME, T)                                                                                             \
    GEMV(NAME, T, 1) GEMV(NAME, T, 2) GEMV(NAME, T, 3) GEMV(NAME, T, 4) GEMV(NAME, T, 5) GEMV(NAME, T, 6)          \
        GEMV(NAME, T, 7) GEMV(NAME, T, 8)

// The decode matrix-vector launches: one warp per row (two for SwiGLU's gate and up),
// four warps along each row, four 16-byte loads per lane per round (measured on an H100
// with programmatic dependent launch, 2026-11-26: the fastest of 1-4 rows per warp, 1-4
// warps per row and 2-8 loads a round for every LLaMA-7B projection shape).
constexpr int MV_SPLIT = 4, MV_LOADS = 4;

#define MATVEC(NAME, T, M)                                                                                         \
    extern "C" __global__ void __launch_bounds__(256) matvec_##NAME##_##M(const T *x, const T *w, T *y, int K,     \
                                                                          int N) {                                 \
        matvec<T, M, 1, MV_SPLIT, MV_LOADS, PLAIN>(x, w, y, K, N);                                                 \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(256) matvec_glu_##NAME##_##M(const T *x, const T *w, T *y, int K, \
                                                                              int N) {                             \
        matvec<T, M, 2, MV_SPLIT, MV_LOADS, SWIGLU>(x, w, y, K, N);                                                \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(256, MV_LOW_BLOCKS[M]) matvec_low_##NAME##_##M(                   \
        const T *x, const T *w, T *y, int K, int N, const long long *by_row, float *low, int entry0, int entry1,   \
        int entry2, int groups) {                                                                                  \
        matvec<T, M, 1, MV_SPLIT, MV_LOADS, PLAIN, LORA_LOW>(                                                      \
            x, w, y, K, N, LoraProjection{by_row, low, {entry0, entry1, entry2}}, groups);                         \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(256) matvec_glu_apply_##NAME##_##M(                               \
        const T *x, const T *w, T *y, int K, int N, const long long *by_row, float *low, int entry0, int entry1) {  \
        matvec<T, M, 2, MV_SPLIT, MV_LOADS, SWIGLU, LORA_APPLY>(x, w, y, K, N,                                     \
                                                                LoraProjection{by_row, low, {entry0, entry1, -1}}); \
    }

#define MATVECS(NAME, T)                                                                                           \
    MATVEC(NAME, T, 1) MATVEC(NAME, T, 2) MATVEC(NAME, T, 3) MATVEC(NAME, T, 4) MATVEC(NAME, T, 5)                 \
        MATVEC(NAME, T, 6) MATVEC(NAME, T, 7) MATVEC(NAME, T, 8)

FOR_TYPE(f16, __half)
FOR_TYPE(bf16, __nv_bfloat16)
GEMVS(f16, __half)
GEMVS(bf16, __nv_bfloat16)
MATVECS(f16, __half)
MATVECS(bf16, __nv_bfloat16)
