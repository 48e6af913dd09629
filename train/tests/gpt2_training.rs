//! LoRA training over GPT-2, the paper's edge model (the tiny fixture `netgpt serve` is
//! tested with): the trainer's loop lowers the completion loss of a pattern the base
//! does not know, on held-out examples too, and the adapter it saves is a PEFT GPT-2
//! adapter. (That the server reads it back and computes the same logits is
//! `served_parity.rs`.)

use std::path::Path;

use candle_core::Device;
use netgpt_train::data::Example;
use netgpt_train::family::TrainBase;
use netgpt_train::model::{Adapter, LoraSpec};
use netgpt_train::trainer::{Schedule, TrainOptions, TrainReport, train};
use rand::SeedableRng;

mod common;

/// A prompt of varying tokens, then a fixed four-token completion to learn.
fn example(seed: u32) -> Example {
    let mut tokens: Vec<u32> = (0..10).map(|i| (seed * 31 + i * 7 + 3) % 250).collect();
    let prompt = tokens.len() as u32;
    tokens.extend([271, 283, 277, 290]);
    let positions: Vec<u32> = (prompt - 1..tokens.len() as u32 - 1).collect();
    let targets = positions.iter().map(|&p| tokens[p as usize + 1]).collect();
    Example { tokens, positions, targets }
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../inference-server/tests/fixtures/tiny-gpt2")
}

/// Trains a fresh adapter over the GPT-2 fixture with dropout on; `seed` seeds both the
/// example order and the dropout masks.
fn train_gpt2(base: &TrainBase, seed: u64) -> (Adapter, TrainReport) {
    let device = Device::Cpu;
    let spec = LoraSpec { rank: 4, alpha: 8.0, dropout: 0.05, targets: vec![] };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let adapter = Adapter::new(&base.sites(), spec, &mut rng, &device).expect("adapter");
    let model = base.model(&adapter, 16, &device).expect("model");
    let examples: Vec<Example> = (0..24).map(example).collect();
    let (train_set, heldout) = examples.split_at(18);
    let options = TrainOptions {
        epochs: 15,
        learning_rate: 5e-2,
        schedule: Schedule::Cosine,
        warmup_steps: 2,
        gradient_accumulation: 2,
        max_grad_norm: 1.0,
        weight_decay: 0.0,
        seed,
    };
    let report = train(model.as_ref(), &adapter, train_set, heldout, &options, |_| {}).expect("train");
    drop(model);
    (adapter, report)
}

fn final_heldout_loss(report: &TrainReport) -> f64 {
    report.evaluations.last().and_then(|e| e.heldout_loss).expect("held-out loss")
}

#[test]
fn training_over_gpt2_lowers_the_held_out_loss_and_saves_a_peft_gpt2_adapter() {
    let device = Device::Cpu;
    let base = TrainBase::load(&fixture(), &device).expect("base");
    let (adapter, report) = train_gpt2(&base, 0);
    let before = report.evaluations[0].heldout_loss.expect("held-out loss");
    let after = final_heldout_loss(&report);
    eprintln!("GPT-2 held-out loss {before:.3} -> {after:.3} in {} steps", report.optimizer_steps);
    // The fixture is 32 wide with a tied head of small random embeddings, so no adapter
    // gets far below uniform (ln 300 = 5.70): Hugging Face PEFT with the same examples and
    // settings (train/bench/peft_peer.py --model-dir …) ends at 5.06 and 5.12 (two seeds),
    // this trainer at 5.09. A trainer that fails to learn stays at 5.81.
    assert!(after < before - 0.4, "held-out loss {before} -> {after}");

    let out = std::env::temp_dir().join(format!("netgpt-gpt2-adapter-{}", std::process::id()));
    netgpt_train::peft::save(&out, &adapter, base.source()).expect("save");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).expect("config")).expect("json");
    let tensors = candle_core::safetensors::load(out.join("adapter_model.safetensors"), &device).expect("tensors");
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(config["target_modules"], serde_json::json!(["c_attn", "c_proj"]));
    assert_eq!(config["fan_in_fan_out"], true);
    // Three adapted modules (c_attn, attn.c_proj, mlp.c_proj) per layer, A and B each.
    assert_eq!(tensors.len(), 3 * 2 * base.sites().layers);
    assert!(tensors.contains_key("base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight"));
}

/// A run is reproducible from its seed, dropout included: the same seed ends at exactly
/// the same held-out loss, another seed (other masks and order) elsewhere. candle's own
/// dropout drew from an unseeded generator, and this test's loss moved between runs.
#[test]
fn gpt2_training_is_reproducible_from_its_seed() {
    let base = TrainBase::load(&fixture(), &Device::Cpu).expect("base");
    let first = final_heldout_loss(&train_gpt2(&base, 7).1);
    let again = final_heldout_loss(&train_gpt2(&base, 7).1);
    let other = final_heldout_loss(&train_gpt2(&base, 8).1);
    assert_eq!(first.to_bits(), again.to_bits(), "same seed: {first} then {again}");
    assert_ne!(first.to_bits(), other.to_bits(), "seeds 7 and 8 both ended at {first}");
}

/// A GPT-2 checkpoint ships no chat template; the server formats its prompts with the
/// ChatML fallback, whose `<|im_end|>` GPT-2's vocabulary lacks, and stops generating at
/// `<|endoftext|>`. Training data built from a site's dataset record ends its completion
/// there, so the adapter learns to stop where the server stops.
#[test]
fn gpt2_completions_end_with_the_token_the_server_stops_at() {
    use netgpt_train::data::tokenize;

    let base = TrainBase::load(&fixture(), &Device::Cpu).expect("base");
    let record = common::lunch_record("Where is a cheap lunch in Pudong?");
    let example = tokenize(&record, base.tokenizer(), base.chat_template(), 4096).expect("tokenize").expect("fits");
    let end = base.tokenizer().token_to_id("<|endoftext|>").expect("GPT-2 has <|endoftext|>");
    assert_eq!(example.targets.last(), Some(&end));
    assert!(base.tokenizer().is_end_of_generation(end), "the server stops there");
}
