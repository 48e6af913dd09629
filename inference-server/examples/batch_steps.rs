//! Latency of batched forward steps on the default model without HTTP: for each batch
//! size, one prompt step over every sequence's prompt, then decode steps of one token per
//! sequence, each one `forward` call for the whole batch (as the engine's continuous
//! batching runs them). Repeats the whole run and prints medians:
//!
//! ```sh
//! cargo run --release -p netgpt-inference --example batch_steps -- [--threads 2] [--prompt 20] [--steps 64] [--repeats 5] [batch sizes…]
//! ```

use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;
use netgpt_inference::llama::Llama;
use netgpt_inference::model::SequenceStep;

struct Args {
    threads: usize,
    prompt: usize,
    steps: usize,
    repeats: usize,
    batches: Vec<usize>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args { threads: 2, prompt: 20, steps: 64, repeats: 5, batches: Vec::new() };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => args.threads = value()?.parse()?,
            "--prompt" => args.prompt = value()?.parse()?,
            "--steps" => args.steps = value()?.parse()?,
            "--repeats" => args.repeats = value()?.parse()?,
            other => args.batches.push(other.parse()?),
        }
    }
    if args.batches.is_empty() {
        args.batches = vec![1, 4, 16];
    }
    args.repeats = args.repeats.max(1);
    args.steps = args.steps.max(1);
    Ok(args)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One run: (prompt step ms, median decode step ms).
fn run(model: &Llama, batch: usize, prompt: usize, steps: usize) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut caches: Vec<_> = (0..batch).map(|_| model.new_cache()).collect();
    let prompts: Vec<Vec<u32>> =
        (0..batch).map(|s| (0..prompt as u32).map(|i| 1000 + i * 7 + s as u32).collect()).collect();
    let started = Instant::now();
    let mut step: Vec<SequenceStep> =
        caches.iter_mut().zip(&prompts).map(|(cache, tokens)| SequenceStep { tokens, cache }).collect();
    model.forward(&mut step)?;
    let prompt_ms = started.elapsed().as_secs_f64() * 1e3;
    let next: Vec<[u32; 1]> = (0..batch).map(|s| [2000 + s as u32]).collect();
    let mut decode = Vec::with_capacity(steps);
    for _ in 0..steps {
        let started = Instant::now();
        let mut step: Vec<SequenceStep> =
            caches.iter_mut().zip(&next).map(|(cache, tokens)| SequenceStep { tokens, cache }).collect();
        model.forward(&mut step)?;
        decode.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok((prompt_ms, median(decode)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    netgpt_inference::server::configure_threads(args.threads);
    let path = netgpt_inference::ensure_default_model()?;
    let mut file = std::fs::File::open(&path)?;
    let content = gguf_file::Content::read(&mut file)?;
    let model = Llama::from_gguf(&content, &mut file, &Device::Cpu)?;
    println!(
        "model {}, {} threads, {}-token prompts, {} decode steps; medians of {} runs\n",
        path.display(),
        args.threads,
        args.prompt,
        args.steps,
        args.repeats
    );
    println!("| sequences | prompt step ms | prompt tok/s | decode step ms | decode tok/s |");
    println!("|---:|---:|---:|---:|---:|");
    run(&model, 1, args.prompt, 4)?; // warm-up
    for &batch in &args.batches {
        let mut prompt_ms = Vec::new();
        let mut decode_ms = Vec::new();
        for _ in 0..args.repeats {
            let (p, d) = run(&model, batch, args.prompt, args.steps)?;
            prompt_ms.push(p);
            decode_ms.push(d);
        }
        let (p, d) = (median(prompt_ms), median(decode_ms));
        println!(
            "| {batch} | {p:.1} | {:.0} | {d:.2} | {:.0} |",
            (batch * args.prompt) as f64 / p * 1e3,
            batch as f64 / d * 1e3
        );
    }
    Ok(())
}
