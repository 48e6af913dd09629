//! Adapters in a batched step on the default model (SmolLM2 Q4_1, packed kernels):
//! sequences with different adapters, and one without, share every forward step and
//! each gets what it gets alone. The updates of different adapters in one step run on
//! all pool threads; this pins that running them together changes no result.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use netgpt_inference::llama::Llama;
use netgpt_inference::lora::{AdapterOptions, LoraAdapter};
use netgpt_inference::model::{LanguageModel, SequenceStep, logits_rows};

fn load_model() -> Llama {
    let path = common::model_path();
    let mut file = std::fs::File::open(&path).expect("open model");
    let content = gguf_file::Content::read(&mut file).expect("GGUF header");
    Llama::from_gguf(&content, &mut file, &Device::Cpu).expect("load model")
}

/// A random PEFT adapter (r = 8 on q/k/v/o of every layer) written to `dir`.
fn write_adapter(model: &Llama, dir: &Path, seed: u64) -> PathBuf {
    let config = model.config();
    let (hidden, kv) = (config.embedding_length, config.kv_head_count * config.head_dim);
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut tensors = HashMap::new();
    for layer in 0..config.layer_count {
        for (module, out) in [("q_proj", hidden), ("k_proj", kv), ("v_proj", kv), ("o_proj", hidden)] {
            let prefix = format!("base_model.model.model.layers.{layer}.self_attn.{module}");
            let a: Vec<f32> = (0..8 * hidden).map(|_| next() * 0.05).collect();
            let b: Vec<f32> = (0..out * 8).map(|_| next() * 0.05).collect();
            tensors
                .insert(format!("{prefix}.lora_A.weight"), Tensor::from_vec(a, (8, hidden), &Device::Cpu).expect("A"));
            tensors.insert(format!("{prefix}.lora_B.weight"), Tensor::from_vec(b, (out, 8), &Device::Cpu).expect("B"));
        }
    }
    std::fs::create_dir_all(dir).expect("mkdir");
    candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors")).expect("save");
    let config = serde_json::json!({
        "peft_type": "LORA",
        "r": 8,
        "lora_alpha": 16,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "fan_in_fan_out": false,
        "bias": "none",
    });
    std::fs::write(dir.join("adapter_config.json"), config.to_string()).expect("config");
    dir.to_path_buf()
}

/// Logits after each chunk: a five-token prompt chunk, then three single tokens.
fn run(model: &Llama, sequences: &[(&[u32], Option<&LoraAdapter>)]) -> Vec<Vec<Vec<f32>>> {
    let mut caches: Vec<_> = sequences.iter().map(|_| model.new_cache()).collect();
    let adapters: Vec<Option<&LoraAdapter>> = sequences.iter().map(|(_, a)| *a).collect();
    let mut out = Vec::new();
    for (start, end) in [(0, 5), (5, 6), (6, 7), (7, 8)] {
        let mut steps: Vec<SequenceStep> = caches
            .iter_mut()
            .zip(sequences)
            .map(|(cache, (tokens, _))| SequenceStep { tokens: &tokens[start..end], cache })
            .collect();
        out.push(model.forward_with_adapters(&mut steps, &adapters).and_then(|l| logits_rows(&l)).expect("forward"));
    }
    out
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

#[test]
fn mixed_adapters_in_one_step_match_each_alone() {
    let model = load_model();
    let layout = model.lora_layout().expect("LoRA layout");
    let dir = std::env::temp_dir().join(format!("netgpt-lora-batching-{}", std::process::id()));
    let load = |name: &str, seed| {
        let path = write_adapter(&model, &dir.join(name), seed);
        LoraAdapter::load(name, &path, &layout, &AdapterOptions::default()).expect("adapter loads")
    };
    let (first, second) = (load("first", 1), load("second", 2));
    let prompts: [&[u32]; 3] = [
        &[504, 3575, 282, 4649, 314, 1604, 3987, 24],
        &[1604, 3987, 46477, 24, 94, 727, 2367, 314],
        &[504, 3575, 282, 4649, 314, 1604, 3987, 24],
    ];
    let adapters = [Some(&first), None, Some(&second)];
    let together = run(&model, &[(prompts[0], adapters[0]), (prompts[1], adapters[1]), (prompts[2], adapters[2])]);
    for (index, (prompt, adapter)) in prompts.iter().zip(adapters).enumerate() {
        let alone = run(&model, &[(prompt, adapter)]);
        for (step, (together, alone)) in together.iter().zip(&alone).enumerate() {
            let difference = max_difference(&together[index], &alone[0]);
            assert!(difference <= 1e-5, "sequence {index}, chunk {step}: logits differ by {difference}");
        }
    }
    // The adapters act: the same prompt under the two adapters gives different logits.
    let effect = max_difference(&together[3][0], &together[3][2]);
    assert!(effect > 0.1, "the adapters barely change the output ({effect})");
    let _ = std::fs::remove_dir_all(&dir);
}
