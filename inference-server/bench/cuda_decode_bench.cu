// Standalone timing of NetGPT's decode kernels (src/cuda/kernels.cu) at LLaMA-7B shapes,
// without the Rust build: the matrix-vector variants per projection shape, and a whole
// batch-1 decode step (32 layers + LM head, the launch sequence of hf_llama_cuda.rs) with
// and without programmatic dependent launch (PDL). Build and run on the GPU node:
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -o /tmp/decode_bench inference-server/bench/cuda_decode_bench.cu
//   /tmp/decode_bench [--step]     # --step: only the whole step (10 s on an H100)
//
// Weights are random f16 (never zeros), one copy per layer (12.9 GB), so L2 never serves a
// repeat; the KV caches hold 128 positions. Each per-shape variant is checked against the
// one-warp-per-row gemv, each step configuration's logits against the first one's
// (relative L2 error; the ABLATION rows skip kernels, so only their times mean anything).
#include "../src/cuda/kernels.cu"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define CK(call)                                                                                    \
    do {                                                                                            \
        cudaError_t e_ = (call);                                                                    \
        if (e_ != cudaSuccess) {                                                                    \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                                \
        }                                                                                           \
    } while (0)

static bool g_pdl = false;

template <typename... Exp, typename... Act>
static void launch(void (*kernel)(Exp...), dim3 grid, dim3 block, cudaStream_t stream, Act... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    if (g_pdl) {
        cfg.attrs = attr;
        cfg.numAttrs = 1;
    }
    CK(cudaLaunchKernelEx(&cfg, kernel, ((Exp)args)...));
}

__global__ void fill(__half *p, size_t n, uint32_t seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        p[i] = __float2half(((h & 0xffff) / 65535.f - 0.5f) * 2.f * scale);
    }
}

static __half *alloc_fill(size_t n, uint32_t seed, float scale) {
    __half *p;
    CK(cudaMalloc(&p, n * 2));
    fill<<<1024, 256>>>(p, n, seed, scale);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    return p;
}

// A matrix-vector variant: kernel, launch shape.
typedef void (*GemvFn)(const __half *, const __half *, __half *, int, int);
struct Variant {
    std::string name;
    GemvFn fn;
    int rows_per_block;  // output columns per block
    bool swiglu;
};

template <int M, int R, int SPLIT, int U, bool SWIGLU, int MINB>
__global__ void __launch_bounds__(256, MINB) mv(const __half *x, const __half *w, __half *y, int K, int N) {
    matvec<__half, M, R, SPLIT, U, SWIGLU ? Epilogue::SWIGLU : PLAIN>(x, w, y, K, N);
}
template <int SPLIT> __global__ void __launch_bounds__(256) old_gemv(const __half *x, const __half *w, __half *y, int K, int N) {
    gemv<__half, 1, SPLIT>(x, w, y, K, N);
}

template <int R, int SPLIT, int U, bool SWIGLU = false, int MINB = 1> static Variant mk(const char *name) {
    return Variant{name, mv<1, R, SPLIT, U, SWIGLU, MINB>, SWIGLU ? 8 / SPLIT : R * 8 / SPLIT, SWIGLU};
}

static void run_variant(const Variant &v, const __half *x, const __half *w, __half *y, int K, int N, cudaStream_t s) {
    // N: weight rows; a SwiGLU variant writes N / 2 outputs.
    const int outputs = v.swiglu ? N / 2 : N;
    launch(v.fn, dim3((outputs + v.rows_per_block - 1) / v.rows_per_block), dim3(256), s, x, w, y, K, outputs);
}

static double rel_err(const std::vector<__half> &a, const std::vector<__half> &b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); i++) {
        double d = (double)__half2float(a[i]) - (double)__half2float(b[i]);
        num += d * d;
        den += (double)__half2float(b[i]) * __half2float(b[i]);
    }
    return std::sqrt(num / den);
}

static std::vector<__half> download(const __half *p, size_t n) {
    std::vector<__half> h(n);
    CK(cudaMemcpy(h.data(), p, n * 2, cudaMemcpyDeviceToHost));
    return h;
}

__global__ void ref_silu(const __half *gu, __half *out, int inter) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < inter) {
        float g = __half2float(gu[i]), u = __half2float(gu[inter + i]);
        out[i] = __float2half(g / (1.f + __expf(-g)) * u);
    }
}

// Per-shape bandwidth of each variant, 8 rotating weight copies.
static void shapes(cudaStream_t s) {
    struct Shape {
        const char *name;
        int N, K;
        bool swiglu_ok;
    } shapes[] = {{"qkv", 12288, 4096, false},
                  {"o", 4096, 4096, false},
                  {"gate_up", 22016, 4096, true},
                  {"down", 4096, 11008, false},
                  {"lm_head", 32000, 4096, false}};
    std::vector<Variant> variants = {
        {"old s1", old_gemv<1>, 8, false},  {"old s2", old_gemv<2>, 4, false}, mk<1, 1, 4>("R1 S1 U4"),
        mk<1, 1, 8>("R1 S1 U8"),            mk<2, 1, 4>("R2 S1 U4"),           mk<1, 2, 4>("R1 S2 U4"),
        mk<2, 2, 4>("R2 S2 U4"),            mk<1, 2, 8>("R1 S2 U8"),           mk<1, 4, 4>("R1 S4 U4"),
        mk<2, 4, 4>("R2 S4 U4"),            mk<4, 1, 2>("R4 S1 U2"),           mk<2, 1, 8>("R2 S1 U8"),
        mk<2, 1, 4, true>("swiglu S1 U4"),  mk<2, 2, 4, true>("swiglu S2 U4"), mk<2, 1, 8, true>("swiglu S1 U8"),
        mk<2, 2, 8, true>("swiglu S2 U8"),  mk<2, 4, 4, true>("swiglu S4 U4"),
        mk<1, 1, 4, false, 8>("R1 S1 U4 b8"), mk<1, 2, 4, false, 8>("R1 S2 U4 b8"), mk<1, 4, 4, false, 8>("R1 S4 U4 b8"),
        mk<1, 1, 8, false, 4>("R1 S1 U8 b4"), mk<2, 1, 2, true, 8>("swiglu S1 U2 b8"),
    };
    for (int pdl = 0; pdl < 2; pdl++) {
        g_pdl = pdl;
        printf("\n== per shape, %s (us, TB/s, rel err vs old s1) ==\n", pdl ? "PDL" : "plain launches");
        for (auto &sh : shapes) {
            std::vector<__half *> ws;
            for (int c = 0; c < 8; c++) ws.push_back(alloc_fill((size_t)sh.N * sh.K, 100 + c, 0.05f));
            __half *x = alloc_fill(sh.K, 7, 1.0f), *y, *yref, *sref;
            CK(cudaMalloc(&y, sh.N * 2));
            CK(cudaMalloc(&yref, sh.N * 2));
            CK(cudaMalloc(&sref, sh.N * 2));
            g_pdl = false;
            run_variant(variants[0], x, ws[0], yref, sh.K, sh.N, s);
            ref_silu<<<(sh.N / 2 + 255) / 256, 256, 0, s>>>(yref, sref, sh.N / 2);
            CK(cudaStreamSynchronize(s));
            g_pdl = pdl;
            auto ref = download(yref, sh.N), sref_h = download(sref, sh.N / 2);
            for (auto &v : variants) {
                if (v.swiglu && !sh.swiglu_ok) continue;
                CK(cudaMemset(y, 0xff, sh.N * 2));
                run_variant(v, x, ws[0], y, sh.K, sh.N, s);
                CK(cudaStreamSynchronize(s));
                double err = v.swiglu ? rel_err(download(y, sh.N / 2), sref_h) : rel_err(download(y, sh.N), ref);
                cudaEvent_t a, b;
                CK(cudaEventCreate(&a));
                CK(cudaEventCreate(&b));
                std::vector<float> times;
                for (int rep = 0; rep < 5; rep++) {
                    CK(cudaEventRecord(a, s));
                    for (int i = 0; i < 4; i++)
                        for (auto w : ws) run_variant(v, x, w, y, sh.K, sh.N, s);
                    CK(cudaEventRecord(b, s));
                    CK(cudaEventSynchronize(b));
                    float ms;
                    CK(cudaEventElapsedTime(&ms, a, b));
                    times.push_back(ms / 32);
                }
                std::sort(times.begin(), times.end());
                double us = times[2] * 1e3;
                printf("%-8s %-14s %7.1f us %5.2f TB/s err %.1e\n", sh.name, v.name.c_str(), us,
                       (double)sh.N * sh.K * 2 / (us * 1e-6) / 1e12, err);
            }
            for (auto w : ws) CK(cudaFree(w));
            CK(cudaFree(x));
            CK(cudaFree(y));
            CK(cudaFree(yref));
            CK(cudaFree(sref));
        }
    }
}

// ---- the whole decode step ----
constexpr int LAYERS = 32, HID = 4096, INTER = 11008, HEADS = 32, VOCAB = 32000, CAP = 256, POS = 128;

struct Layer {
    __half *qkv, *o, *gate_up, *down, *norm1, *norm2, *kcache, *vcache;
};

struct Step {
    std::vector<Layer> layers;
    __half *lm_head, *final_norm;
    __half *hidden, *normed, *qkv, *q, *att, *oout, *sum, *normed2, *gu, *act, *mlp, *logits;
    uint64_t *table;
    uint32_t *pos;  // [pos, cap]
    float *cos_t, *sin_t;
};

static Step make_step() {
    Step st;
    for (int l = 0; l < LAYERS; l++) {
        Layer L;
        L.qkv = alloc_fill((size_t)3 * HID * HID, 1000 + l, 0.03f);
        L.o = alloc_fill((size_t)HID * HID, 2000 + l, 0.03f);
        L.gate_up = alloc_fill((size_t)2 * INTER * HID, 3000 + l, 0.03f);
        L.down = alloc_fill((size_t)HID * INTER, 4000 + l, 0.02f);
        L.norm1 = alloc_fill(HID, 5000 + l, 1.0f);
        L.norm2 = alloc_fill(HID, 6000 + l, 1.0f);
        L.kcache = alloc_fill((size_t)HEADS * CAP * 128, 7000 + l, 1.0f);
        L.vcache = alloc_fill((size_t)HEADS * CAP * 128, 8000 + l, 1.0f);
        st.layers.push_back(L);
    }
    st.lm_head = alloc_fill((size_t)VOCAB * HID, 9000, 0.03f);
    st.final_norm = alloc_fill(HID, 9001, 1.0f);
    st.hidden = alloc_fill(HID, 9002, 1.0f);
    st.normed = alloc_fill(HID, 9003, 1.0f);
    auto buf = [](size_t n) {
        __half *p;
        CK(cudaMalloc(&p, n * 2));
        return p;
    };
    st.qkv = buf(3 * HID);
    st.q = buf(HID);
    st.att = buf(HID);
    st.oout = buf(HID);
    st.sum = buf(HID);
    st.normed2 = buf(HID);
    st.gu = buf(2 * INTER);
    st.act = buf(INTER);
    st.mlp = buf(HID);
    st.logits = buf(VOCAB);
    std::vector<uint64_t> table;
    for (auto &L : st.layers) {
        table.push_back((uint64_t)L.kcache);
        table.push_back((uint64_t)L.vcache);
    }
    CK(cudaMalloc(&st.table, table.size() * 8));
    CK(cudaMemcpy(st.table, table.data(), table.size() * 8, cudaMemcpyHostToDevice));
    uint32_t pc[2] = {POS, CAP};
    CK(cudaMalloc(&st.pos, 8));
    CK(cudaMemcpy(st.pos, pc, 8, cudaMemcpyHostToDevice));
    std::vector<float> c((size_t)CAP * 64), sn((size_t)CAP * 64);
    for (int p = 0; p < CAP; p++)
        for (int j = 0; j < 64; j++) {
            float f = p * std::pow(10000.f, -2.f * j / 128);
            c[p * 64 + j] = std::cos(f);
            sn[p * 64 + j] = std::sin(f);
        }
    CK(cudaMalloc(&st.cos_t, c.size() * 4));
    CK(cudaMalloc(&st.sin_t, sn.size() * 4));
    CK(cudaMemcpy(st.cos_t, c.data(), c.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(st.sin_t, sn.data(), sn.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaDeviceSynchronize());
    return st;
}

template <int THREADS, int UNROLL>
__global__ void __launch_bounds__(THREADS) attn_t(const __half *q, const uint64_t *table, const uint32_t *pos,
                                                  const uint32_t *cap, __half *out, int rows, int heads, int kv_heads,
                                                  float scale) {
    attention<__half, THREADS, UNROLL>(q, table, pos, cap, out, rows, heads, kv_heads, scale);
}
template <int THREADS, int UNROLL>
__global__ void __launch_bounds__(THREADS) attn_dec(const __half *qkv, const float *cos, const float *sin,
                                                    const uint64_t *table, const uint32_t *pos, const uint32_t *cap,
                                                    __half *out, int rows, int heads, int kv_heads, float scale) {
    attention_decode<__half, THREADS, UNROLL>(qkv, cos, sin, table, pos, cap, out, rows, heads, kv_heads, scale);
}
typedef void (*AttnDecFn)(const __half *, const float *, const float *, const uint64_t *, const uint32_t *,
                          const uint32_t *, __half *, int, int, int, float);
typedef void (*AttnFn)(const __half *, const uint64_t *, const uint32_t *, const uint32_t *, __half *, int, int, int,
                       float);

struct Config {
    const char *name;
    Variant qkv, o, gate_up, down, lm_head;  // gate_up.swiglu: no silu_mul launch
    bool pdl;
    bool fused_attention = false;  // attention_decode instead of rope_append + attention
    int skip = 0;  // timing ablations (wrong results): 1 attention, 2 add_rms_norm launches
    AttnFn attn = nullptr;  // unfused attention variant (default: the committed attention_f16)
    int attn_threads = ATTN_THREADS;
    AttnDecFn attn_dec = nullptr;  // fused variant (with fused_attention)
};

static void step(const Step &st, const Config &c, cudaStream_t s) {
    g_pdl = c.pdl;
    const float eps = 1e-6f, scale = 1.f / std::sqrt(128.f);
    __half *hidden = st.hidden, *normed = st.normed;
    for (int l = 0; l < LAYERS; l++) {
        const Layer &L = st.layers[l];
        run_variant(c.qkv, normed, L.qkv, st.qkv, HID, 3 * HID, s);
        if (c.skip & 1) {
        } else if (c.fused_attention) {
            launch(c.attn_dec ? c.attn_dec : attention_decode_f16, dim3(1, HEADS), dim3(c.attn_threads), s, (const __half *)st.qkv,
                   (const float *)st.cos_t, (const float *)st.sin_t, (const uint64_t *)(st.table + 2 * l),
                   (const uint32_t *)st.pos, (const uint32_t *)(st.pos + 1), st.att, 1, HEADS, HEADS, scale);
        } else {
            launch(rope_append_f16, dim3(1, 3 * HEADS), dim3(64), s, (const __half *)st.qkv, (const float *)st.cos_t,
                   (const float *)st.sin_t, (const uint64_t *)(st.table + 2 * l), (const uint32_t *)st.pos,
                   (const uint32_t *)(st.pos + 1), st.q, 1, HEADS, HEADS, 128);
            launch(c.attn ? c.attn : attention_f16, dim3(1, HEADS), dim3(c.attn_threads), s, (const __half *)st.q,
                   (const uint64_t *)(st.table + 2 * l), (const uint32_t *)st.pos, (const uint32_t *)(st.pos + 1),
                   st.att, 1, HEADS, HEADS, scale);
        }
        run_variant(c.o, st.att, L.o, st.oout, HID, HID, s);
        if (!(c.skip & 2))
            launch(add_rms_norm_f16, dim3(1), dim3(NORM_THREADS), s, (const __half *)hidden, (const __half *)st.oout,
                   (const __half *)L.norm2, st.sum, st.normed2, HID, eps);
        if (c.gate_up.swiglu) {
            run_variant(c.gate_up, st.normed2, L.gate_up, st.act, HID, 2 * INTER, s);
        } else {
            run_variant(c.gate_up, st.normed2, L.gate_up, st.gu, HID, 2 * INTER, s);
            launch(silu_mul_f16, dim3((INTER + 255) / 256), dim3(256), s, (const __half *)st.gu, st.act, 1, INTER);
        }
        const __half *next = l + 1 < LAYERS ? st.layers[l + 1].norm1 : st.final_norm;
        run_variant(c.down, st.act, L.down, st.mlp, INTER, HID, s);
        if (!(c.skip & 2))
            launch(add_rms_norm_f16, dim3(1), dim3(NORM_THREADS), s, (const __half *)st.sum, (const __half *)st.mlp, next,
                   hidden, normed, HID, eps);
    }
    run_variant(c.lm_head, normed, st.lm_head, st.logits, HID, VOCAB, s);
}

static void whole_step(cudaStream_t s) {
    Step st = make_step();
    Variant old1{"old s1", old_gemv<1>, 8, false}, old2{"old s2", old_gemv<2>, 4, false};
    auto s4 = mk<1, 4, 4>(""), s2 = mk<1, 2, 4>(""), glu4 = mk<2, 4, 4, true>(""), glu2 = mk<2, 2, 4, true>("");
    auto none = (AttnFn) nullptr;
    Variant old4{"old s4", old_gemv<4>, 2, false};
    // The unfused kernels without PDL approximate the launch sequence before PDL (with
    // today's add_rms_norm); "committed" is what hf_llama_cuda.rs runs at batch 1.
    std::vector<Config> configs = {
        {"unfused, no PDL", old1, old2, old1, old2, old1, false},
        {"unfused + PDL", old1, old2, old1, old2, old1, true},
        {"committed: matvec qkv/glu/lm, gemv s2 o/down, fused attn", s4, old2, glu4, old2, s4, true, true, 0, none, 512,
         attn_dec<512, 4>},
        {"committed, no PDL", s4, old2, glu4, old2, s4, false, true, 0, none, 512, attn_dec<512, 4>},
        {"committed, fused attention 256/4", s4, old2, glu4, old2, s4, true, true, 0, none, 256, attn_dec<256, 4>},
        {"matvec S4 everywhere", s4, s4, glu4, s4, s4, true, true, 0, none, 512, attn_dec<512, 4>},
        {"gemv s4 o/down", s4, old4, glu4, old4, s4, true, true, 0, none, 512, attn_dec<512, 4>},
        {"matvec S2", s2, s2, glu2, s2, s2, true, true, 0, none, 512, attn_dec<512, 4>},
        {"ABLATION committed without attention", s4, old2, glu4, old2, s4, true, false, 1},
        {"ABLATION committed without attention, norms", s4, old2, glu4, old2, s4, true, false, 3},
    };
    printf("\n== whole batch-1 decode step (32 layers + LM head, position %d) ==\n", POS);
    std::vector<__half> first_logits;
    for (auto &c : configs) {
        // Same input for every config: the step overwrites hidden/normed, so refill them.
        auto reset = [&] {
            fill<<<64, 256, 0, s>>>(st.hidden, HID, 9002, 1.0f);
            fill<<<64, 256, 0, s>>>(st.normed, HID, 9003, 1.0f);
        };
        reset();
        step(st, c, s);
        CK(cudaStreamSynchronize(s));
        CK(cudaGetLastError());
        auto logits = download(st.logits, VOCAB);
        if (first_logits.empty()) first_logits = logits;
        double err = rel_err(logits, first_logits);
        cudaEvent_t a, b;
        CK(cudaEventCreate(&a));
        CK(cudaEventCreate(&b));
        std::vector<float> times;
        for (int rep = 0; rep < 7; rep++) {
            CK(cudaEventRecord(a, s));
            for (int i = 0; i < 10; i++) step(st, c, s);
            CK(cudaEventRecord(b, s));
            CK(cudaEventSynchronize(b));
            float ms;
            CK(cudaEventElapsedTime(&ms, a, b));
            times.push_back(ms / 10);
        }
        std::sort(times.begin(), times.end());
        printf("%-48s step %.3f ms (min %.3f) = %.1f tok/s; logits rel err vs first %.1e\n", c.name, times[3],
               times[0], 1e3 / times[3], err);
        // The same step captured in a CUDA graph: what launch overhead is left on the table.
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        step(st, c, s);
        CK(cudaStreamEndCapture(s, &graph));
        CK(cudaGraphInstantiate(&exec, graph, 0));
        times.clear();
        for (int rep = 0; rep < 7; rep++) {
            CK(cudaEventRecord(a, s));
            for (int i = 0; i < 10; i++) CK(cudaGraphLaunch(exec, s));
            CK(cudaEventRecord(b, s));
            CK(cudaEventSynchronize(b));
            float ms;
            CK(cudaEventElapsedTime(&ms, a, b));
            times.push_back(ms / 10);
        }
        std::sort(times.begin(), times.end());
        printf("%-48s graph %.3f ms = %.1f tok/s\n", "", times[3], 1e3 / times[3]);
        CK(cudaGraphExecDestroy(exec));
        CK(cudaGraphDestroy(graph));
    }
}

int main(int argc, char **argv) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs\n", prop.name, prop.multiProcessorCount);
    const bool only_step = argc > 1 && !strcmp(argv[1], "--step");
    if (!only_step) shapes(s);
    whole_step(s);
    return 0;
}
