//! The trainer's forward pass is the served model's: on the default model (SmolLM2 Q4_1,
//! dequantized for training, packed integer kernels when served), the completion loss of
//! one example agrees between the two, and an adapter the trainer saved as PEFT files and
//! the server's loader read back moves the served logits the way it moves the trainer's.
//! Names, shapes, scale and — for the query and key projections — the row permutation of
//! a GGUF base all have to be right for that; each projection is checked on its own.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use netgpt_inference::llama::Llama;
use netgpt_inference::lora::{AdapterOptions, LoraAdapter};
use netgpt_inference::model::{LanguageModel, SequenceStep, logits_rows};
use netgpt_train::base::Base;
use netgpt_train::data::{Example, tokenize};
use netgpt_train::model::{Adapter, LoraSpec, TrainableModel};
use rand::SeedableRng;

mod common;

fn example(base: &Base) -> Example {
    let record = common::lunch_record("Where can I find a cheap lunch near Shanghai Tower in Lujiazui, Pudong?");
    tokenize(&record, &base.tokenizer, &base.chat_template, 512).expect("tokenize").expect("fits")
}

/// Served logits after each completion position: the prompt in one step, then one token
/// at a time, as generation runs.
fn served_logits(model: &Llama, adapter: Option<&LoraAdapter>, e: &Example) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache();
    let first = e.positions[0] as usize + 1;
    let mut rows = Vec::new();
    let mut start = 0;
    for end in first..=e.tokens.len() {
        let mut steps = [SequenceStep { tokens: &e.tokens[start..end], cache: &mut cache }];
        let logits =
            model.forward_with_adapters(&mut steps, &[adapter]).and_then(|l| logits_rows(&l)).expect("forward");
        rows.push(logits.into_iter().next().expect("one row"));
        start = end;
    }
    rows
}

fn mean_loss(rows: &[Vec<f32>], targets: &[u32]) -> f64 {
    let total: f64 = rows
        .iter()
        .zip(targets)
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = row.iter().map(|x| f64::from(x - max).exp()).sum::<f64>().ln() + f64::from(max);
            log_sum - f64::from(row[t as usize])
        })
        .sum();
    total / targets.len() as f64
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
}

fn difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<f32> {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| x - y).collect()
}

#[test]
fn trainer_and_server_agree_on_the_base_and_on_each_saved_adapter() {
    let path = netgpt_inference::ensure_default_model().expect("default model");
    let base = Base::load(&path, &Device::Cpu).expect("base");
    let e = example(&base);
    let mut file = std::fs::File::open(&path).expect("open");
    let content = gguf_file::Content::read(&mut file).expect("gguf");
    let served = Llama::from_gguf(&content, &mut file, &Device::Cpu).expect("served model");
    let layout = served.lora_layout().expect("layout");
    let served_base = served_logits(&served, None, &e);

    let cases = [&["q_proj"][..], &["k_proj"], &["v_proj", "o_proj", "down_proj"]];
    for (checked, targets) in cases.into_iter().enumerate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let spec =
            LoraSpec { rank: 4, alpha: 8.0, dropout: 0.0, targets: targets.iter().map(|t| t.to_string()).collect() };
        let adapter = Adapter::new(&base.sites(), spec, &mut rng, &Device::Cpu).expect("adapter");
        let model = TrainableModel::new(&base, &adapter, e.tokens.len(), &Device::Cpu).expect("model");
        let trainer_rows = |model: &TrainableModel| -> Vec<Vec<f32>> {
            model.logits(&e.tokens, &e.positions, false).expect("logits").to_vec2::<f32>().expect("rows")
        };
        let trainer_base = trainer_rows(&model);
        if checked == 0 {
            let (t, s) = (mean_loss(&trainer_base, &e.targets), mean_loss(&served_base, &e.targets));
            eprintln!("base loss: trainer {t:.4}, server {s:.4}");
            // 8-bit activations against f32 on the same 4-bit weights: about 2 %.
            assert!((t - s).abs() < 0.04 * t, "base: trainer {t} vs server {s}");
            assert!(cosine(&trainer_base.concat(), &served_base.concat()) > 0.995);
        }
        // B = 0 at initialisation; give it values so that the adapter changes the model.
        for (i, pair) in adapter.pairs.values().enumerate() {
            let (rows, cols) = pair.b.dims2().unwrap();
            let values: Vec<f32> =
                (0..rows * cols).map(|k| (((k * 7919 + i * 104729) % 2001) as f32 / 1000.0 - 1.0) * 1.0).collect();
            pair.b.set(&Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap()).unwrap();
        }
        let trainer_adapted = trainer_rows(&model);
        let dir = std::env::temp_dir().join(format!("netgpt-parity-{}-{checked}", std::process::id()));
        netgpt_train::peft::save(&dir, &adapter, &base.source).expect("save");
        let loaded = LoraAdapter::load("trained", &dir, &layout, &AdapterOptions::default()).expect("server loads it");
        let _ = std::fs::remove_dir_all(&dir);
        let served_adapted = served_logits(&served, Some(&loaded), &e);
        let trainer_effect = difference(&trainer_adapted, &trainer_base);
        let served_effect = difference(&served_adapted, &served_base);
        let similarity = cosine(&trainer_effect, &served_effect);
        let size = trainer_effect.iter().map(|x| x.abs()).fold(0f32, f32::max);
        eprintln!("{targets:?}: largest logit change {size:.3}, cosine(trainer, server) of the change {similarity:.4}");
        assert!(size > 0.5, "{targets:?}: the adapter barely changes the logits ({size})");
        assert!(similarity > 0.95, "{targets:?}: the served adapter acts differently ({similarity:.4})");
    }
}

/// GPT-2, the paper's edge model, from the tiny fixture `netgpt serve` is tested with: the
/// trainer's logits equal the server's (both f32), without an adapter and with one the
/// trainer saved and the server's loader read back (PEFT's GPT-2 names, `fan_in_fan_out`,
/// the two `c_proj` modules told apart).
#[test]
fn gpt2_trainer_and_server_agree_on_the_base_and_on_a_saved_adapter() {
    use netgpt_inference::gpt2::Gpt2;
    use netgpt_train::family::TrainBase;
    use netgpt_train::gpt2::Gpt2Trainable;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../inference-server/tests/fixtures/tiny-gpt2");
    let base = TrainBase::load(&dir, &Device::Cpu).expect("base");
    let served = Gpt2::from_dir(&dir, &Device::Cpu).expect("served model");
    let layout = served.lora_layout().expect("layout");
    let tokens: Vec<u32> = (0..20u32).map(|i| (i * 53 + 11) % 300).collect();
    let positions: Vec<u32> = (0..tokens.len() as u32).collect();
    let max_difference = |a: &Tensor, b: &Tensor| -> f32 {
        (a - b).and_then(|d| d.abs()).and_then(|d| d.max_all()).and_then(|d| d.to_scalar::<f32>()).expect("difference")
    };

    let spec = LoraSpec { rank: 4, alpha: 8.0, dropout: 0.0, targets: vec![] };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let adapter = Adapter::new(&base.sites(), spec, &mut rng, &Device::Cpu).expect("adapter");
    assert_eq!(adapter.spec.targets, ["c_attn", "c_proj"], "GPT-2's default targets");
    // c_attn, the attention c_proj and the MLP c_proj, in every layer.
    assert_eq!(adapter.pairs.len(), 3 * base.sites().layers);
    let TrainBase::Gpt2(gpt2) = &base else { panic!("config.json says gpt2") };
    let model = Gpt2Trainable::new(gpt2, &adapter, tokens.len(), &Device::Cpu).expect("model");
    let logits = || model.logits(&tokens, &positions, false).expect("trainer logits");
    let trainer_base = logits();
    let served_base = served.forward_all(&tokens).expect("served logits");
    let base_gap = max_difference(&trainer_base, &served_base);
    eprintln!("GPT-2 base: largest logit difference trainer vs server {base_gap:.2e}");
    assert!(base_gap < 1e-4, "base logits differ by {base_gap}");

    for (i, pair) in adapter.pairs.values().enumerate() {
        let (rows, cols) = pair.b.dims2().unwrap();
        let values: Vec<f32> =
            (0..rows * cols).map(|k| (((k * 7919 + i * 104729) % 2001) as f32 / 1000.0 - 1.0) * 0.5).collect();
        pair.b.set(&Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap()).unwrap();
    }
    let trainer_adapted = logits();
    let dir = std::env::temp_dir().join(format!("netgpt-parity-gpt2-{}", std::process::id()));
    netgpt_train::peft::save(&dir, &adapter, base.source()).expect("save");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).expect("config")).expect("json");
    assert_eq!(config["fan_in_fan_out"], true);
    let loaded = LoraAdapter::load("trained", &dir, &layout, &AdapterOptions::default()).expect("server loads it");
    let _ = std::fs::remove_dir_all(&dir);
    let served_adapted = served.forward_all_with_adapter(&tokens, Some(&loaded)).expect("served logits");
    let effect = max_difference(&trainer_adapted, &trainer_base);
    let gap = max_difference(&trainer_adapted, &served_adapted);
    eprintln!("GPT-2 adapter: largest logit change {effect:.3}, largest difference trainer vs server {gap:.2e}");
    assert!(effect > 0.1, "the adapter barely changes the logits ({effect})");
    assert!(gap < 1e-3 * effect.max(1.0), "the served adapter acts differently: {gap} against a change of {effect}");
}
