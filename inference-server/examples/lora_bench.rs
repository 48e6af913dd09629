//! LoRA adapters on the default model (SmolLM2-135M Q4_1 GGUF, loaded as the server loads
//! it, on the packed kernels): decode throughput and per-step latency with 0, 1, 8 and
//! 32 adapters loaded and the sequences of each batch spread over them, and the process's
//! memory growth per adapter against the adapters' own size.
//!
//! ```sh
//! cargo run --release -p netgpt-inference --example lora_bench -- [--threads N] [--repeats N] [--batch N]… [--lora-dtype f16|f32]
//! ```
//!
//! Adapters are random PEFT adapters (r=8, alpha=16, q/k/v/o_proj in all 30 layers) written
//! to a temporary directory and loaded with the server's loader. For each batch size, each
//! repeat prefills `batch` sequences of 32 tokens and then decodes 64 steps, every step one
//! forward call for the whole batch (as the engine's continuous batching does); sequence `j`
//! of round `k` uses adapter `(k·batch + j) mod N`, so with 8 or 32 adapters a step mixes
//! `batch` different adapters and successive rounds walk through all of them. The same
//! sequences without adapters decode in lockstep with them (see `decode_paired`), and the
//! overhead is the median of the per-step time ratios; latencies are medians of all steps.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use netgpt_inference::llama::Llama;
use netgpt_inference::lora::{AdapterOptions, HostPrecision, LoraAdapter};
use netgpt_inference::model::{LanguageModel, SequenceStep};

const PROMPT_TOKENS: usize = 32;
const DECODE_STEPS: usize = 64;
const ADAPTER_COUNTS: [usize; 4] = [0, 1, 8, 32];
const RANK: usize = 8;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Deterministic values in [-0.05, 0.05) (splitmix64).
fn random_values(seed: u64, count: usize) -> Vec<f32> {
    (0..count as u64)
        .map(|i| {
            let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (((z >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0) * 0.05
        })
        .collect()
}

fn write_adapter(dir: &std::path::Path, seed: u64, model: &Llama) -> Result<(), Box<dyn std::error::Error>> {
    let c = model.config();
    let (hidden, kv) = (c.embedding_length, c.kv_head_count * c.head_dim);
    let mut tensors = HashMap::new();
    for layer in 0..c.layer_count {
        for (module, out) in [("q_proj", hidden), ("k_proj", kv), ("v_proj", kv), ("o_proj", hidden)] {
            let prefix = format!("base_model.model.model.layers.{layer}.self_attn.{module}");
            let salt = seed * 1_000_003 + (layer * 4) as u64;
            let a = Tensor::from_vec(random_values(salt, RANK * hidden), (RANK, hidden), &Device::Cpu)?;
            let b = Tensor::from_vec(random_values(salt + 7, out * RANK), (out, RANK), &Device::Cpu)?;
            tensors.insert(format!("{prefix}.lora_A.weight"), a);
            tensors.insert(format!("{prefix}.lora_B.weight"), b);
        }
    }
    std::fs::create_dir_all(dir)?;
    candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors"))?;
    let config = serde_json::json!({
        "peft_type": "LORA", "r": RANK, "lora_alpha": 2 * RANK, "bias": "none", "fan_in_fan_out": false,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    });
    std::fs::write(dir.join("adapter_config.json"), config.to_string())?;
    Ok(())
}

/// Step times (seconds) of one repeat: the base and the adapters' sequences in lockstep.
struct Paired {
    base: Vec<f64>,
    lora: Vec<f64>,
}

/// Prefills `batch` sequences twice (once without adapters, once with this round's
/// adapters) and then decodes them in lockstep: step `i` of the base and step `i` with
/// adapters back to back, the order swapped every step. This host's speed drifts by tens of
/// per cent within seconds; each pair of steps sees the same conditions, so the median of
/// the per-step ratios measures the adapters' cost where medians of separate runs did not.
fn decode_paired(
    model: &Llama,
    adapters: &[LoraAdapter],
    batch: usize,
    round: usize,
) -> Result<Paired, Box<dyn std::error::Error>> {
    let chosen: Vec<Option<&LoraAdapter>> =
        (0..batch).map(|j| (!adapters.is_empty()).then(|| &adapters[(round * batch + j) % adapters.len()])).collect();
    let prompts: Vec<Vec<u32>> =
        (0..batch).map(|j| (0..PROMPT_TOKENS as u32).map(|i| 1000 + (i * 7 + j as u32 * 13) % 500).collect()).collect();
    let mut base_caches: Vec<_> = (0..batch).map(|_| model.new_cache()).collect();
    let mut lora_caches: Vec<_> = (0..batch).map(|_| model.new_cache()).collect();
    for (caches, chosen) in [(&mut base_caches, &[][..]), (&mut lora_caches, &chosen[..])] {
        let mut steps: Vec<SequenceStep> =
            caches.iter_mut().zip(&prompts).map(|(cache, p)| SequenceStep { tokens: p, cache }).collect();
        model.forward_with_adapters(&mut steps, chosen)?;
    }
    let mut paired = Paired { base: Vec::with_capacity(DECODE_STEPS), lora: Vec::with_capacity(DECODE_STEPS) };
    for i in 0..DECODE_STEPS {
        let tokens: Vec<[u32; 1]> = (0..batch).map(|j| [1000 + ((i + j) % 500) as u32]).collect();
        let order = if i % 2 == 0 { [false, true] } else { [true, false] };
        for with_adapters in order {
            let (caches, chosen, times) = if with_adapters {
                (&mut lora_caches, &chosen[..], &mut paired.lora)
            } else {
                (&mut base_caches, &[][..], &mut paired.base)
            };
            let mut steps: Vec<SequenceStep> =
                caches.iter_mut().zip(&tokens).map(|(cache, t)| SequenceStep { tokens: t, cache }).collect();
            let step = Instant::now();
            model.forward_with_adapters(&mut steps, chosen)?;
            times.push(step.elapsed().as_secs_f64());
        }
    }
    Ok(paired)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// Command line (see the module documentation).
#[derive(clap::Parser)]
struct Args {
    /// Threads of the compute pool.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Rounds per batch size and adapter count.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Batch sizes (repeatable; 1 and 4 when none is given).
    #[arg(long = "batch")]
    batches: Vec<usize>,
    /// How the adapters' matrices are kept on the host.
    #[arg(long = "lora-dtype", value_enum, default_value_t = HostPrecision::default())]
    precision: HostPrecision,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args { threads, repeats, mut batches, precision } = clap::Parser::parse();
    if batches.is_empty() {
        batches = vec![1, 4];
    }
    netgpt_inference::server::configure_threads(threads);
    let path = netgpt_inference::ensure_default_model()?;
    let mut file = std::fs::File::open(&path)?;
    let content = gguf_file::Content::read(&mut file)?;
    let model = Llama::from_gguf(&content, &mut file, &Device::Cpu)?;
    let layout = model.lora_layout().ok_or("no LoRA layout")?;
    println!(
        "model {} (as served), threads {threads}, prompt {PROMPT_TOKENS} + decode {DECODE_STEPS} steps, {repeats} repeats, adapters in {precision:?}",
        path.display()
    );

    let scratch = std::env::temp_dir().join(format!("netgpt-lora-bench-{}", std::process::id()));
    let max = *ADAPTER_COUNTS.iter().max().unwrap_or(&0);
    for i in 0..max {
        write_adapter(&scratch.join(format!("a{i}")), i as u64 + 1, &model)?;
    }
    let limits = AdapterOptions { max_adapters: max, host_precision: precision, ..AdapterOptions::default() };
    let mut adapters = Vec::with_capacity(max);
    let mut memory = Vec::new();
    let rss_before = rss_bytes();
    for &count in &ADAPTER_COUNTS {
        while adapters.len() < count {
            adapters.push(LoraAdapter::load(
                &format!("a{}", adapters.len()),
                &scratch.join(format!("a{}", adapters.len())),
                &layout,
                &limits,
            )?);
        }
        let bytes: u64 = adapters.iter().map(|a| a.bytes).sum();
        let file_bytes: u64 = (0..count)
            .map(|i| std::fs::metadata(scratch.join(format!("a{i}/adapter_model.safetensors"))).map_or(0, |m| m.len()))
            .sum();
        memory.push((count, rss_bytes().saturating_sub(rss_before), bytes, file_bytes));
    }
    let _ = std::fs::remove_dir_all(&scratch);

    // Warm-up, so the first measured configuration does not pay for page faults.
    decode_paired(&model, &adapters[..1], 1, 0)?;
    let mut results: HashMap<(usize, usize), Vec<Paired>> = HashMap::new();
    for round in 0..repeats {
        for &batch in &batches {
            for &count in ADAPTER_COUNTS.iter().filter(|&&c| c > 0) {
                results.entry((batch, count)).or_default().push(decode_paired(
                    &model,
                    &adapters[..count],
                    batch,
                    round,
                )?);
            }
        }
    }

    println!();
    println!(
        "| batch | adapters | decode tok/s (median step) | step latency ms (median) | vs base (median of paired steps) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for &batch in &batches {
        let runs: Vec<&Paired> = ADAPTER_COUNTS.iter().filter_map(|c| results.get(&(batch, *c))).flatten().collect();
        let base_ms = median(&mut runs.iter().flat_map(|r| r.base.iter().copied()).collect::<Vec<_>>()) * 1e3;
        println!("| {batch} | 0 | {:.1} | {base_ms:.2} | — |", batch as f64 * 1e3 / base_ms);
        for &count in ADAPTER_COUNTS.iter().filter(|&&c| c > 0) {
            let runs = &results[&(batch, count)];
            let ms = median(&mut runs.iter().flat_map(|r| r.lora.iter().copied()).collect::<Vec<_>>()) * 1e3;
            let mut ratios: Vec<f64> =
                runs.iter().flat_map(|r| r.lora.iter().zip(&r.base).map(|(l, b)| l / b)).collect();
            let overhead = (median(&mut ratios) - 1.0) * 100.0;
            println!("| {batch} | {count} | {:.1} | {ms:.2} | {overhead:+.1} % |", batch as f64 * 1e3 / ms);
        }
    }
    println!();
    println!(
        "| adapters loaded | RSS growth MiB | adapters' memory MiB (A+B as kept) | safetensors files MiB | RSS / adapters |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    for (count, rss, bytes, files) in memory {
        let ratio = if bytes > 0 { format!("{:.2}", rss as f64 / bytes as f64) } else { "–".into() };
        println!("| {count} | {:.1} | {:.1} | {:.1} | {ratio} |", mib(rss), mib(bytes), mib(files));
    }
    Ok(())
}
