//! Prompt-processing, time-to-first-token and decode speed of the default model (one
//! sequence), next to llama.cpp on the same GGUF file and settings in the same run:
//!
//! ```sh
//! cargo run --release -p netgpt-inference --example bench -- [--llama-cpp] [--repeats N] [threads…]
//! ```
//!
//! `--llama-cpp` runs `bench/llama_cpp_bench.py` (needs `pip install llama-cpp-python`),
//! alternating with NetGPT's runs so that both see the same machine state. Each thread
//! count runs in its own child process (the thread pool is sized once per process).
//! Prints a Markdown table of medians (min–max) and the decode speed against the
//! machine's measured read bandwidth divided by the weight bytes each token reads.

use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;
use netgpt_inference::llama::{Llama, SequenceStep};
use rayon::prelude::*;

const PROMPT_TOKENS: usize = 512;
const SHORT_PROMPT_TOKENS: usize = 64;
const DECODE_TOKENS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Speed {
    prompt: f64,
    decode: f64,
    first_token_ms: f64,
}

fn prompt_ids(len: usize) -> Vec<u32> {
    (0..len as u32).map(|i| 1000 + i % 500).collect()
}

fn measure(model: &Llama) -> Result<Speed, Box<dyn std::error::Error>> {
    let short = prompt_ids(SHORT_PROMPT_TOKENS);
    let mut cache = model.new_cache();
    let started = Instant::now();
    model.forward(&mut [SequenceStep { tokens: &short, cache: &mut cache }])?;
    let first_token_ms = started.elapsed().as_secs_f64() * 1e3;

    let prompt = prompt_ids(PROMPT_TOKENS);
    let mut cache = model.new_cache();
    let started = Instant::now();
    model.forward(&mut [SequenceStep { tokens: &prompt, cache: &mut cache }])?;
    let prompt_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..DECODE_TOKENS {
        let token = [1000 + i as u32];
        model.forward(&mut [SequenceStep { tokens: &token, cache: &mut cache }])?;
    }
    Ok(Speed {
        prompt: PROMPT_TOKENS as f64 / prompt_seconds,
        decode: DECODE_TOKENS as f64 / started.elapsed().as_secs_f64(),
        first_token_ms,
    })
}

fn llama_cpp(path: &std::path::Path, threads: usize) -> Result<Speed, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/llama_cpp_bench.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(path)
        .args([threads, PROMPT_TOKENS, DECODE_TOKENS, SHORT_PROMPT_TOKENS, 1].map(|n| n.to_string()))
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let field = |name: &str| value[name].as_f64().ok_or_else(|| format!("llama.cpp output lacks {name}"));
    Ok(Speed {
        prompt: field("prompt_tokens_per_second")?,
        decode: field("decode_tokens_per_second")?,
        first_token_ms: field("first_token_seconds")? * 1e3,
    })
}

/// Read bandwidth of the pool's threads over a buffer far larger than the caches, GB/s
/// (best of three passes).
fn read_bandwidth() -> f64 {
    let words: Vec<u64> = (0..(512usize << 20) / 8).map(|i| i as u64).collect();
    let mut best = 0f64;
    for _ in 0..3 {
        let started = Instant::now();
        let sum: u64 = words.par_chunks(1 << 16).map(|c| c.iter().fold(0u64, |a, &w| a.wrapping_add(w))).sum();
        let seconds = started.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        best = best.max((words.len() * 8) as f64 / seconds / 1e9);
    }
    best
}

/// Bytes of weights one decode step reads: every tensor except the embedding table, of
/// which a step reads one row — unless the output projection is tied to it.
fn weight_bytes_per_token(content: &gguf_file::Content) -> usize {
    let tied = !content.tensor_infos.contains_key("output.weight");
    content
        .tensor_infos
        .iter()
        .filter(|(name, _)| tied || name.as_str() != "token_embd.weight")
        .map(|(_, info)| info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size())
        .sum()
}

fn median_range(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (median, values[0], values[n - 1])
}

fn cell(values: &mut [f64], decimals: usize) -> String {
    let (median, low, high) = median_range(values);
    format!("{median:.decimals$} ({low:.decimals$}–{high:.decimals$})")
}

struct Args {
    with_llama_cpp: bool,
    repeats: usize,
    thread_counts: Vec<usize>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args { with_llama_cpp: false, repeats: 5, thread_counts: Vec::new() };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--llama-cpp" => args.with_llama_cpp = true,
            "--repeats" => args.repeats = iter.next().ok_or("--repeats needs a value")?.parse()?,
            other => args.thread_counts.push(other.parse()?),
        }
    }
    if args.thread_counts.is_empty() {
        args.thread_counts = vec![1, 2];
    }
    args.repeats = args.repeats.max(1);
    Ok(args)
}

/// One thread count, in a child process: prints the table rows for it.
fn child(args: &Args, threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    netgpt_inference::server::configure_threads(threads);
    let path = netgpt_inference::ensure_default_model()?;
    let mut file = std::fs::File::open(&path)?;
    let content = gguf_file::Content::read(&mut file)?;
    let model = Llama::from_gguf(&content, &mut file, &Device::Cpu)?;
    measure(&model)?; // warm-up: page cache, allocator, thread pool
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for repeat in 0..args.repeats {
        let speed = measure(&model)?;
        eprintln!("threads {threads} repeat {repeat}: netgpt {speed:?}");
        ours.push(speed);
        if args.with_llama_cpp {
            let speed = llama_cpp(&path, threads)?;
            eprintln!("threads {threads} repeat {repeat}: llama.cpp {speed:?}");
            theirs.push(speed);
        }
    }
    let column = |runs: &[Speed], f: fn(&Speed) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    let row = |name: &str, runs: &[Speed]| {
        println!(
            "| {name} | {threads} | {} | {} | {} |",
            cell(&mut column(runs, |s| s.prompt), 1),
            cell(&mut column(runs, |s| s.first_token_ms), 1),
            cell(&mut column(runs, |s| s.decode), 1),
        )
    };
    row("netgpt", &ours);
    if args.with_llama_cpp {
        row("llama.cpp", &theirs);
        // Ratios per repeat (same machine state), then their median and range.
        let ratio = |f: fn(&Speed) -> f64| ours.iter().zip(&theirs).map(|(a, b)| f(a) / f(b)).collect::<Vec<_>>();
        println!(
            "| netgpt ÷ llama.cpp | {threads} | {} | {} | {} |",
            cell(&mut ratio(|s| s.prompt), 2),
            cell(&mut ratio(|s| s.first_token_ms), 2),
            cell(&mut ratio(|s| s.decode), 2),
        );
    }
    let bandwidth = read_bandwidth();
    let bytes = weight_bytes_per_token(&content) as f64;
    let bound = bandwidth * 1e9 / bytes;
    let (decode, _, _) = median_range(&mut column(&ours, |s| s.decode));
    eprintln!(
        "threads {threads}: read bandwidth {bandwidth:.1} GB/s, {:.1} MB of weights per token ⇒ bound {bound:.0} tok/s; \
         netgpt decode {decode:.1} tok/s = {:.0} % of it",
        bytes / 1e6,
        100.0 * decode / bound
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    if let Ok(threads) = std::env::var("NETGPT_BENCH_CHILD") {
        return child(&args, threads.parse()?);
    }
    let path = netgpt_inference::ensure_default_model()?;
    println!(
        "model {} — prompt {PROMPT_TOKENS} tokens, first token after {SHORT_PROMPT_TOKENS}, decode {DECODE_TOKENS} \
         tokens; medians of {} runs (min–max)\n",
        path.display(),
        args.repeats
    );
    println!("| | threads | prompt tok/s | first token ms | decode tok/s |");
    println!("|---|---:|---|---|---|");
    for &threads in &args.thread_counts {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(std::env::args().skip(1)).env("NETGPT_BENCH_CHILD", threads.to_string());
        if !command.status()?.success() {
            return Err(format!("benchmark with {threads} threads failed").into());
        }
    }
    Ok(())
}
