//! The safetensors LLaMA against transformers' logits for a tiny random checkpoint
//! (`tests/fixtures/make_tiny_llama.py` generated it: grouped-query attention, untied
//! output head).

use std::path::PathBuf;

use candle_core::Device;
use netgpt_inference::hf_llama::HfLlama;
use netgpt_inference::model::{LanguageModel, SequenceStep, logits_rows};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

const TOLERANCE: f32 = 1e-4;

fn fixture() -> (HfLlama, Reference) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-llama");
    let model = HfLlama::from_dir(&dir, &Device::Cpu).expect("load tiny LLaMA");
    let text = std::fs::read_to_string(dir.join("reference_logits.json")).expect("reference");
    (model, serde_json::from_str(&text).expect("reference JSON"))
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

#[test]
fn full_sequence_logits_match_transformers() {
    let (model, reference) = fixture();
    let logits = model.forward_all(&reference.input_ids).and_then(|l| logits_rows(&l)).expect("forward");
    assert_eq!(logits.len(), reference.logits.len());
    for (position, (actual, expected)) in logits.iter().zip(&reference.logits).enumerate() {
        let difference = max_difference(actual, expected);
        assert!(difference < TOLERANCE, "position {position}: max |Δlogit| = {difference}");
    }
}

#[test]
fn cached_and_batched_decoding_match_transformers() {
    let (model, reference) = fixture();
    let ids = &reference.input_ids;
    let split = 5;
    let mut cache_a = model.new_cache();
    let mut cache_b = model.new_cache();
    let first = model
        .forward(&mut [
            SequenceStep { tokens: &ids[..split], cache: &mut cache_a },
            SequenceStep { tokens: &ids[..split - 2], cache: &mut cache_b },
        ])
        .and_then(|l| logits_rows(&l))
        .expect("prefill");
    assert!(max_difference(&first[0], &reference.logits[split - 1]) < TOLERANCE);
    assert!(max_difference(&first[1], &reference.logits[split - 3]) < TOLERANCE);
    for position in split..ids.len() {
        let rows = model
            .forward(&mut [
                SequenceStep { tokens: &ids[position..=position], cache: &mut cache_a },
                SequenceStep { tokens: &ids[position - 2..position - 1], cache: &mut cache_b },
            ])
            .and_then(|l| logits_rows(&l))
            .expect("decode step");
        let a = max_difference(&rows[0], &reference.logits[position]);
        let b = max_difference(&rows[1], &reference.logits[position - 2]);
        assert!(a < TOLERANCE && b < TOLERANCE, "position {position}: {a} / {b}");
    }
}
