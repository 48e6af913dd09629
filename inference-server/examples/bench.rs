//! Prompt-processing and decode speed of the default model (one sequence), optionally
//! next to llama.cpp on the same GGUF file and settings, measured in the same run:
//!
//! ```sh
//! cargo run --release -p netgpt-inference --example bench -- [--llama-cpp] [threads…]
//! ```
//!
//! `--llama-cpp` runs `bench/llama_cpp_bench.py` (needs `pip install llama-cpp-python`).

use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;
use netgpt_inference::llama::{Llama, SequenceStep};

const PROMPT_TOKENS: usize = 256;
const DECODE_TOKENS: usize = 64;

struct Speed {
    prompt: f64,
    decode: f64,
}

fn measure(model: &Llama) -> Result<Speed, Box<dyn std::error::Error>> {
    let prompt: Vec<u32> = (0..PROMPT_TOKENS as u32).map(|i| 1000 + i % 500).collect();
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
    })
}

fn llama_cpp(path: &std::path::Path, threads: usize) -> Result<Speed, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/llama_cpp_bench.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(path)
        .args([threads, PROMPT_TOKENS, DECODE_TOKENS].map(|n| n.to_string()))
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    Ok(Speed {
        prompt: value["prompt_tokens_per_second"].as_f64().unwrap_or(0.0),
        decode: value["decode_tokens_per_second"].as_f64().unwrap_or(0.0),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut with_llama_cpp = false;
    let mut thread_counts = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--llama-cpp" {
            with_llama_cpp = true;
        } else {
            thread_counts.push(arg.parse::<usize>()?);
        }
    }
    if thread_counts.is_empty() {
        thread_counts = vec![1, 2];
    }
    let path = netgpt_inference::ensure_default_model()?;
    let mut file = std::fs::File::open(&path)?;
    let content = gguf_file::Content::read(&mut file)?;
    if std::env::var("NETGPT_BENCH_CHILD").is_err() {
        println!("model {} (prompt {PROMPT_TOKENS} tokens, decode {DECODE_TOKENS} tokens)", path.display());
    }
    for threads in thread_counts {
        // candle sizes its pool once per process, so each thread count runs in a child.
        if std::env::var("NETGPT_BENCH_CHILD").is_err() {
            let status = Command::new(std::env::current_exe()?)
                .args(with_llama_cpp.then_some("--llama-cpp"))
                .arg(threads.to_string())
                .env("NETGPT_BENCH_CHILD", "1")
                .status()?;
            if !status.success() {
                return Err(format!("benchmark with {threads} threads failed").into());
            }
            continue;
        }
        netgpt_inference::server::configure_threads(threads);
        let model = Llama::from_gguf(&content, &mut file, &Device::Cpu)?;
        let ours = measure(&model)?;
        println!("netgpt    threads {threads}: prompt {:7.1} tok/s  decode {:6.1} tok/s", ours.prompt, ours.decode);
        if with_llama_cpp {
            match llama_cpp(&path, threads) {
                Ok(theirs) => println!(
                    "llama.cpp threads {threads}: prompt {:7.1} tok/s  decode {:6.1} tok/s  (netgpt/llama.cpp: prompt {:.2}, decode {:.2})",
                    theirs.prompt,
                    theirs.decode,
                    ours.prompt / theirs.prompt,
                    ours.decode / theirs.decode
                ),
                Err(error) => println!("llama.cpp threads {threads}: not measured: {error}"),
            }
        }
    }
    Ok(())
}
