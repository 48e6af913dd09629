//! LoRA adapters against PEFT: logits of the base with the runtime bypass equal the logits
//! transformers computes with the adapter merged into the weights (`W + (alpha/r)·B·A`),
//! for the tiny safetensors LLaMA and GPT-2 and for the tiny LLaMA converted to GGUF (Q/K
//! rows in llama.cpp's order). Fixtures: `tests/fixtures/make_tiny_lora.py`.

use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::gguf_file;
use netgpt_inference::gpt2::Gpt2;
use netgpt_inference::hf_llama::HfLlama;
use netgpt_inference::llama::Llama;
use netgpt_inference::lora::{AdapterOptions, LoraAdapter, LoraError, LoraLayout};
use netgpt_inference::model::{LanguageModel, SequenceStep, logits_rows};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference(name: &str) -> Reference {
    let text = std::fs::read_to_string(fixtures().join(name).join("reference_logits.json")).expect("reference");
    serde_json::from_str(&text).expect("reference JSON")
}

fn adapter(name: &str, model: &dyn LanguageModel) -> LoraAdapter {
    let layout = model.lora_layout().expect("layout");
    LoraAdapter::load(name, &fixtures().join(name), &layout, &AdapterOptions::default()).expect("adapter loads")
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

fn assert_rows_match(actual: &[Vec<f32>], expected: &[Vec<f32>], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}");
    for (position, (a, e)) in actual.iter().zip(expected).enumerate() {
        let difference = max_difference(a, e);
        assert!(difference < TOLERANCE, "{what}, position {position}: max |Δlogit| = {difference}");
    }
}

fn tiny_llama() -> HfLlama {
    HfLlama::from_dir(&fixtures().join("tiny-llama"), &Device::Cpu).expect("tiny LLaMA")
}

#[test]
fn llama_adapters_match_merged_weights() {
    let model = tiny_llama();
    for name in ["tiny-llama-lora", "tiny-llama-lora-qv"] {
        let adapter = adapter(name, &model);
        let expected = reference(name);
        let logits = model
            .forward_all_with_adapter(&expected.input_ids, Some(&adapter))
            .and_then(|l| logits_rows(&l))
            .expect("forward");
        assert_rows_match(&logits, &expected.logits, name);
        // The adapter really changes the output (so the match above is not the base's).
        let base = reference("tiny-llama");
        assert!(max_difference(&logits[0], &base.logits[0]) > 1e-2, "{name} changes nothing");
    }
}

#[test]
fn gpt2_conv1d_adapter_matches_merged_weights() {
    let model = Gpt2::from_dir(&fixtures().join("tiny-gpt2"), &Device::Cpu).expect("tiny GPT-2");
    let adapter = adapter("tiny-gpt2-lora", &model);
    assert!(adapter.config.fan_in_fan_out);
    let expected = reference("tiny-gpt2-lora");
    let logits = model
        .forward_all_with_adapter(&expected.input_ids, Some(&adapter))
        .and_then(|l| logits_rows(&l))
        .expect("forward");
    assert_rows_match(&logits, &expected.logits, "tiny-gpt2-lora");
    let base = reference("tiny-gpt2");
    assert!(max_difference(&logits[0], &base.logits[0]) > 1e-2);
}

fn tiny_gguf() -> Llama {
    let path = fixtures().join("tiny-llama.gguf");
    let mut file = std::fs::File::open(&path).expect("open GGUF");
    let content = gguf_file::Content::read(&mut file).expect("GGUF");
    Llama::from_gguf_with(&content, &mut file, &Device::Cpu, false).expect("tiny GGUF LLaMA")
}

/// Logits after every position, feeding one token per step through the KV cache (the
/// GGUF model returns only each sequence's last row).
fn incremental_logits(model: &Llama, ids: &[u32], adapter: Option<&LoraAdapter>) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache();
    ids.iter()
        .map(|id| {
            let logits = model
                .forward_with_adapters(
                    &mut [SequenceStep { tokens: std::slice::from_ref(id), cache: &mut cache }],
                    &[adapter],
                )
                .and_then(|l| logits_rows(&l))
                .expect("forward");
            logits.into_iter().next().expect("one row")
        })
        .collect()
}

#[test]
fn gguf_base_needs_and_gets_the_qk_row_permutation() {
    let model = tiny_gguf();
    let layout = model.lora_layout().expect("layout");
    assert!(layout.qk_permutation.is_some(), "a llama GGUF holds llama.cpp's Q/K order");
    let base = reference("tiny-llama");
    // The GGUF conversion itself is faithful.
    assert_rows_match(&incremental_logits(&model, &base.input_ids, None), &base.logits, "GGUF base");

    let expected = reference("tiny-llama-lora");
    let dir = fixtures().join("tiny-llama-lora");
    let adapter = LoraAdapter::load("a", &dir, &layout, &AdapterOptions::default()).expect("adapter");
    let logits = incremental_logits(&model, &expected.input_ids, Some(&adapter));
    assert_rows_match(&logits, &expected.logits, "GGUF base + adapter");

    // Without the permutation (what a naive loader does) the answer is wrong: the tiny
    // model's attention is nearly uniform, so Q/K errors move logits only by ~3e-3, still
    // far outside the tolerance the correct path meets.
    let naive_layout = LoraLayout { qk_permutation: None, ..layout };
    let naive = LoraAdapter::load("naive", &dir, &naive_layout, &AdapterOptions::default()).expect("adapter");
    let wrong = incremental_logits(&model, &expected.input_ids, Some(&naive));
    let worst = wrong.iter().zip(&expected.logits).map(|(a, e)| max_difference(a, e)).fold(0f32, f32::max);
    assert!(worst > 10.0 * TOLERANCE, "unpermuted q/k lora_B should not match (max Δ {worst})");
}

#[test]
fn one_batch_mixes_adapters_per_sequence() {
    let model = tiny_llama();
    let a = adapter("tiny-llama-lora", &model);
    let b = adapter("tiny-llama-lora-qv", &model);
    let ids = reference("tiny-llama").input_ids;
    let split = 6;
    let mut caches: Vec<_> = (0..3).map(|_| model.new_cache()).collect();
    let adapters = [Some(&a), None, Some(&b)];
    let mut rows = Vec::new();
    // A prompt chunk for each, then one token per step, all three in every forward.
    for (start, end) in std::iter::once((0, split)).chain((split..ids.len()).map(|p| (p, p + 1))) {
        let [c0, c1, c2] = &mut caches[..] else { unreachable!() };
        let logits = model
            .forward_with_adapters(
                &mut [
                    SequenceStep { tokens: &ids[start..end], cache: c0 },
                    SequenceStep { tokens: &ids[start..end], cache: c1 },
                    SequenceStep { tokens: &ids[start..end], cache: c2 },
                ],
                &adapters,
            )
            .and_then(|l| logits_rows(&l))
            .expect("forward");
        rows.push((end - 1, logits));
    }
    let expected = [reference("tiny-llama-lora"), reference("tiny-llama"), reference("tiny-llama-lora-qv")];
    for (position, logits) in rows {
        for (sequence, reference) in expected.iter().enumerate() {
            let difference = max_difference(&logits[sequence], &reference.logits[position]);
            assert!(difference < TOLERANCE, "sequence {sequence} position {position}: {difference}");
        }
    }
}

fn copy_adapter(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(from.join(file), to.join(file)).expect("copy");
    }
}

fn load_error(dir: &Path, model: &dyn LanguageModel, limits: AdapterOptions) -> String {
    let layout = model.lora_layout().expect("layout");
    match LoraAdapter::load("bad", dir, &layout, &limits) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(error) => {
            let message = error.to_string();
            if let LoraError::Shape { .. } = error {
                return format!("shape: {message}");
            }
            message
        }
    }
}

#[test]
fn adapters_that_do_not_fit_are_refused_with_clear_errors() {
    let model = tiny_llama();
    let scratch = std::env::temp_dir().join(format!("netgpt-lora-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let good = fixtures().join("tiny-llama-lora");

    // GPT-2's modules on a LLaMA base.
    let message = load_error(&fixtures().join("tiny-gpt2-lora"), &model, AdapterOptions::default());
    assert!(message.contains("\"c_proj\"") || message.contains("c_attn"), "{message}");
    assert!(message.contains("does not exist in this llama base"), "{message}");

    // One lora_A with the wrong input width.
    let wrong_shape = scratch.join("wrong-shape");
    copy_adapter(&good, &wrong_shape);
    let mut tensors =
        candle_core::safetensors::load(good.join("adapter_model.safetensors"), &Device::Cpu).expect("tensors");
    let name = "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight";
    let narrowed = tensors[name].narrow(1, 0, 16).expect("narrow");
    tensors.insert(name.to_string(), narrowed);
    candle_core::safetensors::save(&tensors, wrong_shape.join("adapter_model.safetensors")).expect("save");
    let message = load_error(&wrong_shape, &model, AdapterOptions::default());
    assert!(message.starts_with("shape: "), "{message}");
    assert!(message.contains(name) && message.contains("[4, 16]") && message.contains("[4, 32]"), "{message}");

    // No config; a corrupt weights file; a rank above the limit; too many bytes.
    let no_config = scratch.join("no-config");
    copy_adapter(&good, &no_config);
    std::fs::remove_file(no_config.join("adapter_config.json")).expect("rm");
    assert!(load_error(&no_config, &model, AdapterOptions::default()).contains("adapter_config.json"));
    let corrupt = scratch.join("corrupt");
    copy_adapter(&good, &corrupt);
    std::fs::write(corrupt.join("adapter_model.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").expect("w");
    assert!(load_error(&corrupt, &model, AdapterOptions::default()).contains("not a readable safetensors"));
    let strict = AdapterOptions { max_rank: 2, ..AdapterOptions::default() };
    assert!(load_error(&good, &model, strict).contains("rank 4 exceeds the limit of 2"));
    let small = AdapterOptions { max_bytes: 1000, ..AdapterOptions::default() };
    assert!(load_error(&good, &model, small).contains("more than the limit of 1000"));
    let _ = std::fs::remove_dir_all(&scratch);
}
