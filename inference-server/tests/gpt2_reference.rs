//! The GPT-2 implementation against transformers' logits for a tiny random checkpoint
//! (`tests/fixtures/make_tiny_gpt2.py` generated it).

use std::path::PathBuf;

use candle_core::Device;
use netgpt_inference::gpt2::Gpt2;
use netgpt_inference::model::{LanguageModel, SequenceStep, logits_rows};
use netgpt_inference::tokenizer::TextTokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    prompt: String,
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

const TOLERANCE: f32 = 1e-4;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-gpt2")
}

fn fixture() -> (Gpt2, Reference) {
    let dir = fixture_dir();
    let model = Gpt2::from_dir(&dir, &Device::Cpu).expect("load tiny GPT-2");
    let text = std::fs::read_to_string(dir.join("reference_logits.json")).expect("reference");
    let reference = serde_json::from_str(&text).expect("reference JSON");
    (model, reference)
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

/// Prefill then token-by-token decoding through the KV cache gives the same logits as
/// the full sequence, and so does a batch of two sequences at different positions.
#[test]
fn cached_and_batched_decoding_match_transformers() {
    let (model, reference) = fixture();
    let ids = &reference.input_ids;
    let split = 4;
    let mut cache_a = model.new_cache();
    let mut cache_b = model.new_cache();
    // Sequence b starts one token later than a, so the batch mixes positions.
    let first = model
        .forward(&mut [
            SequenceStep { tokens: &ids[..split], cache: &mut cache_a },
            SequenceStep { tokens: &ids[..split - 1], cache: &mut cache_b },
        ])
        .and_then(|l| logits_rows(&l))
        .expect("prefill");
    assert!(max_difference(&first[0], &reference.logits[split - 1]) < TOLERANCE);
    assert!(max_difference(&first[1], &reference.logits[split - 2]) < TOLERANCE);
    for position in split..ids.len() {
        let rows = model
            .forward(&mut [
                SequenceStep { tokens: &ids[position..=position], cache: &mut cache_a },
                SequenceStep { tokens: &ids[position - 1..position], cache: &mut cache_b },
            ])
            .and_then(|l| logits_rows(&l))
            .expect("decode step");
        let a = max_difference(&rows[0], &reference.logits[position]);
        let b = max_difference(&rows[1], &reference.logits[position - 1]);
        assert!(a < TOLERANCE && b < TOLERANCE, "position {position}: {a} / {b}");
    }
}

#[test]
fn context_length_is_enforced() {
    let (model, _) = fixture();
    let too_long = vec![1u32; model.context_length() + 1];
    let mut cache = model.new_cache();
    assert!(model.forward(&mut [SequenceStep { tokens: &too_long, cache: &mut cache }]).is_err());
}

#[test]
fn tokenizer_json_gives_the_python_ids() {
    let (_, reference) = fixture();
    let tokenizer =
        TextTokenizer::from_tokenizer_json(&fixture_dir().join("tokenizer.json")).expect("load tokenizer.json");
    let ids = tokenizer.encode(&reference.prompt).expect("encode");
    assert_eq!(ids, reference.input_ids);
    assert_eq!(tokenizer.decode(&ids, false).expect("decode"), reference.prompt);
    assert!(tokenizer.is_end_of_generation(tokenizer.token_to_id("<|endoftext|>").expect("end-of-text token")));
}
