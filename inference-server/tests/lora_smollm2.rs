//! A random LoRA adapter on the default model, SmolLM2-135M-Instruct Q4_1 GGUF, against
//! transformers + PEFT: the reference (`tests/fixtures/smollm2-lora/reference.json`, from
//! `tests/fixtures/make_smollm2_lora.py`) is the HF model transformers builds from the same
//! GGUF (weights dequantized to f32, Q/K rows un-permuted to HF order) with the adapter
//! merged into its weights (`W + (alpha/r)·B·A`). The adapter itself (~3.7 MB) is not
//! committed: both sides draw it from the same seeded splitmix64 stream and this test
//! writes the PEFT files (and checks it rebuilt exactly the script's adapter).
//!
//! Two bases, one adapter:
//!
//! - **f32**: every weight dequantized (`CANDLE_DEQUANTIZE_ALL`), i.e. exactly the numbers
//!   transformers computes with. The only differences left are f32 summation order, so
//!   base and base + adapter must match the reference to `TOLERANCE` (1e-3; measured:
//!   ~2e-5), a thousand times below the adapter's effect on the same log-probabilities
//!   (~1). This is the check of the adapter itself (names, scale, the GGUF Q/K row
//!   permutation): without the permutation the error is ~0.9.
//! - **Q4_1 as stored** (`requantize = false`, the server's `--keep-quantization`): the
//!   served path with the quantized kernels. Not the server's default Q8_0 re-quantization,
//!   which changes the weights themselves (each Q4_1 value to within 1/254 of its block's
//!   range) and so no longer multiplies by the reference's numbers. Even with Q4_1 candle
//!   quantizes activations to 8 bits inside each dot product, which moves SmolLM2's top-20
//!   log-probabilities by up to ~0.5 from the float reference on the base alone (as much
//!   as half the adapter's effect), so this path is checked relative to that measured
//!   noise: with the adapter the error against the merged reference may not exceed the
//!   base's error against the base reference by more than `NOISE_SLACK`, and must beat the
//!   unpermuted adapter.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use netgpt_inference::llama::Llama;
use netgpt_inference::lora::{AdapterOptions, HostPrecision, LoraAdapter, LoraLayout};
use netgpt_inference::model::{LanguageModel, SequenceStep, logits_rows};
use serde::Deserialize;

/// Largest |Δ log-probability| (over every position and the reference's top-20 tokens)
/// allowed between the f32 base (with or without the adapter) and transformers.
const TOLERANCE: f64 = 1e-3;
/// The adapter must move the reference's top log-probabilities by far more than that, so
/// matching the merged reference cannot be the base's output.
const MIN_EFFECT: f64 = 0.3;
/// Q4_1 path: how much worse than the base's own quantization noise the adapter's error
/// against the merged reference may be (factor).
const NOISE_SLACK: f64 = 1.25;

#[derive(Deserialize)]
struct Top {
    ids: Vec<u32>,
    logprobs: Vec<f64>,
}

#[derive(Deserialize)]
struct AdapterSpec {
    seed: u64,
    r: usize,
    lora_alpha: usize,
    target_modules: Vec<String>,
    amplitude_a: f32,
    amplitude_b: f32,
    count: usize,
    sum: f64,
    sum_abs: f64,
    first: Vec<f32>,
    last: Vec<f32>,
}

#[derive(Deserialize)]
struct Reference {
    input_ids: Vec<u32>,
    adapter: AdapterSpec,
    merged: Vec<Top>,
    base: Vec<Top>,
}

fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-lora/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference")).expect("reference JSON")
}

/// Element `index` of the script's stream: splitmix64 of `seed + (index + 1)·γ`, top 24
/// bits as a uniform value in [-1, 1) (exact in f32, so both sides agree bit for bit).
fn uniform(seed: u64, index: u64) -> f32 {
    let mut z = seed.wrapping_add((index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32) * (1.0 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// The adapter's tensors under PEFT's names, in the script's drawing order.
fn adapter_tensors(spec: &AdapterSpec, layers: usize, hidden: usize, kv: usize) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut tensors = Vec::new();
    let mut offset = 0u64;
    for layer in 0..layers {
        for module in &spec.target_modules {
            let (in_dim, out_dim) = match module.as_str() {
                "q_proj" | "o_proj" => (hidden, hidden),
                "k_proj" | "v_proj" => (hidden, kv),
                other => panic!("unexpected target {other}"),
            };
            let prefix = format!("base_model.model.model.layers.{layer}.self_attn.{module}");
            for (half, shape, amplitude) in
                [("lora_A", [spec.r, in_dim], spec.amplitude_a), ("lora_B", [out_dim, spec.r], spec.amplitude_b)]
            {
                let count = (shape[0] * shape[1]) as u64;
                let values = (offset..offset + count).map(|i| uniform(spec.seed, i) * amplitude).collect();
                offset += count;
                tensors.push((format!("{prefix}.{half}.weight"), shape.to_vec(), values));
            }
        }
    }
    tensors
}

/// Writes the PEFT adapter into a fresh directory and checks it is the script's.
fn write_adapter(spec: &AdapterSpec, model: &Llama) -> PathBuf {
    let config = model.config();
    let kv = config.kv_head_count * config.head_dim;
    let tensors = adapter_tensors(spec, config.layer_count, config.embedding_length, kv);
    let all: Vec<f32> = tensors.iter().flat_map(|(_, _, v)| v.iter().copied()).collect();
    assert_eq!(all.len(), spec.count, "adapter size");
    assert_eq!(&all[..4], &spec.first[..], "first values of the stream");
    assert_eq!(&all[all.len() - 4..], &spec.last[..], "last values of the stream");
    let sum: f64 = all.iter().map(|&v| v as f64).sum();
    let sum_abs: f64 = all.iter().map(|&v| (v as f64).abs()).sum();
    assert!((sum - spec.sum).abs() < 1e-6 * spec.sum_abs, "sum {sum} vs {}", spec.sum);
    assert!((sum_abs - spec.sum_abs).abs() < 1e-9 * spec.sum_abs, "sum |x| {sum_abs} vs {}", spec.sum_abs);

    let dir = std::env::temp_dir().join(format!("netgpt-smollm2-lora-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let map: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(name, shape, values)| (name, Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")))
        .collect();
    candle_core::safetensors::save(&map, dir.join("adapter_model.safetensors")).expect("save safetensors");
    let adapter_config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "SmolLM2-135M-Instruct",
        "r": spec.r,
        "lora_alpha": spec.lora_alpha,
        "lora_dropout": 0.0,
        "target_modules": spec.target_modules,
        "fan_in_fan_out": false,
        "bias": "none",
        "use_rslora": false,
    });
    std::fs::write(dir.join("adapter_config.json"), adapter_config.to_string()).expect("write config");
    dir
}

fn smollm2_q4_1() -> Llama {
    let path = netgpt_inference::ensure_default_model().expect("default model");
    let mut file = std::fs::File::open(&path).expect("open GGUF");
    let content = gguf_file::Content::read(&mut file).expect("GGUF");
    Llama::from_gguf_with(&content, &mut file, &Device::Cpu, false).expect("SmolLM2")
}

/// SmolLM2 with every weight dequantized to f32 (what transformers computes with).
/// candle decides this per thread, from `CANDLE_DEQUANTIZE_ALL`, the first time a thread
/// builds a quantized matmul: so a fresh thread builds it, with the variable set only
/// meanwhile (this binary runs a single test; nothing else reads the environment then).
fn smollm2_dequantized() -> Llama {
    // SAFETY: no other thread of this test binary reads or writes the environment now.
    unsafe { std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1") };
    let model = std::thread::spawn(smollm2_q4_1).join().expect("load thread");
    unsafe { std::env::remove_var("CANDLE_DEQUANTIZE_ALL") };
    model
}

/// Log-probabilities after every position, one token per step through the KV cache.
fn log_probabilities(model: &Llama, ids: &[u32], adapter: Option<&LoraAdapter>) -> Vec<Vec<f64>> {
    let mut cache = model.new_cache();
    ids.iter()
        .map(|id| {
            let logits = model
                .forward_with_adapters(
                    &mut [SequenceStep { tokens: std::slice::from_ref(id), cache: &mut cache }],
                    &[adapter],
                )
                .and_then(|l| logits_rows(&l))
                .expect("forward")
                .remove(0);
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let log_sum = logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln() + max;
            logits.iter().map(|&l| l as f64 - log_sum).collect()
        })
        .collect()
}

/// Largest |Δ| between `actual` and the reference's top log-probabilities.
fn max_difference(actual: &[Vec<f64>], expected: &[Top]) -> f64 {
    assert_eq!(actual.len(), expected.len());
    actual
        .iter()
        .zip(expected)
        .flat_map(|(row, top)| top.ids.iter().zip(&top.logprobs).map(move |(&id, &lp)| (row[id as usize] - lp).abs()))
        .fold(0.0, f64::max)
}

struct Errors {
    base: f64,
    adapter: f64,
    unpermuted: f64,
    /// The base's output against the merged reference: the adapter's effect.
    effect: f64,
}

/// Runs the prompt through `model` without, with and with an unpermuted adapter (its
/// matrices kept in `precision`), and measures each against the reference.
fn errors(model: &Llama, reference: &Reference, precision: HostPrecision) -> Errors {
    let config = model.config();
    let layout = model.lora_layout().expect("layout");
    assert!(layout.qk_permutation.is_some(), "SmolLM2's GGUF holds llama.cpp's Q/K order");
    let dir = write_adapter(&reference.adapter, model);
    let limits = AdapterOptions { host_precision: precision, ..AdapterOptions::default() };
    let adapter = LoraAdapter::load("site", &dir, &layout, &limits).expect("adapter loads");
    assert_eq!(adapter.module_count(), 4 * config.layer_count);
    let value_bytes = match precision {
        HostPrecision::F16 => 2,
        HostPrecision::F32 => 4,
    };
    assert_eq!(adapter.bytes, value_bytes * reference.adapter.count as u64, "A and B in {precision:?}, nothing else");
    // What a loader that ignores llama.cpp's Q/K order would do.
    let naive_layout = LoraLayout { qk_permutation: None, ..layout };
    let naive = LoraAdapter::load("naive", &dir, &naive_layout, &limits).expect("adapter");
    let _ = std::fs::remove_dir_all(&dir);

    let ids = &reference.input_ids;
    let base = log_probabilities(model, ids, None);
    let with_adapter = log_probabilities(model, ids, Some(&adapter));
    Errors {
        base: max_difference(&base, &reference.base),
        adapter: max_difference(&with_adapter, &reference.merged),
        unpermuted: max_difference(&log_probabilities(model, ids, Some(&naive)), &reference.merged),
        effect: max_difference(&base, &reference.merged),
    }
}

#[test]
fn smollm2_gguf_adapter_matches_dequantized_merged_reference() {
    let reference = reference();
    // Built first, on this thread, so that this thread keeps the quantized kernels.
    let quantized = smollm2_q4_1();
    let float = smollm2_dequantized();
    let config = float.config();
    assert_eq!(
        (config.embedding_length, config.head_count, config.kv_head_count, config.head_dim, config.layer_count),
        (576, 9, 3, 64, 30),
        "SmolLM2-135M's shape, as the script assumes"
    );

    // The adapter's matrices as loaded (f32) and as the server keeps them by default (f16).
    for precision in [HostPrecision::F32, HostPrecision::F16] {
        let f = errors(&float, &reference, precision);
        eprintln!(
            "f32 base, adapter in {precision:?}: max |Δ logprob| vs transformers: base {:.2e}, adapter {:.2e}, \
             unpermuted adapter {:.3}; adapter effect {:.3}",
            f.base, f.adapter, f.unpermuted, f.effect
        );
        assert!(f.base < TOLERANCE, "f32 base vs dequantized base: {}", f.base);
        // (a) the adapter changes the output;
        assert!(f.effect > MIN_EFFECT, "the adapter barely changes the output ({})", f.effect);
        // (b) and equals the dequantized-merged reference;
        assert!(f.adapter < TOLERANCE, "adapter in {precision:?} vs merged reference: {}", f.adapter);
        // thanks to the Q/K row permutation.
        assert!(f.unpermuted > MIN_EFFECT / 2.0, "unpermuted adapter is as good: {}", f.unpermuted);
    }

    let q = errors(&quantized, &reference, HostPrecision::default());
    eprintln!(
        "Q4_1 base: max |Δ logprob| vs transformers: base {:.3}, adapter {:.3}, unpermuted adapter {:.3}; \
         adapter effect {:.3}",
        q.base, q.adapter, q.unpermuted, q.effect
    );
    assert!(q.effect > MIN_EFFECT, "the adapter barely changes the Q4_1 output ({})", q.effect);
    assert!(q.adapter <= NOISE_SLACK * q.base, "Q4_1 + adapter: {} vs base noise {}", q.adapter, q.base);
    assert!(q.unpermuted > q.adapter, "Q4_1: unpermuted {} vs permuted {}", q.unpermuted, q.adapter);
}
