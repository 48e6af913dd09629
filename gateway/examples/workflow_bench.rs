//! End-to-end latency through a running gateway (e.g. `netgpt local`): `--users`
//! concurrent users send everyday concise prompts, streamed, and the table gives per
//! served path the requests, latency and time to the first content byte (p50/p99) and
//! throughput. `hack/bench-workflow.sh` runs it against the classic and the fast-path
//! graphs, with and without prefix reuse.

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Gateway base URL.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    gateway: String,
    /// Concurrent users.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Requests in all.
    #[arg(long, default_value_t = 16)]
    requests: usize,
    /// Tokens per answer.
    #[arg(long, default_value_t = 48)]
    max_tokens: u32,
    /// A label for the table's first column.
    #[arg(long, default_value = "run")]
    label: String,
}

const PROMPTS: [&str; 16] = [
    "Where can I get a good dinner tonight?",
    "how do I get to the airport",
    "coffee nearby?",
    "best place for a morning run",
    "Is there a pharmacy open now?",
    "museum tickets",
    "where to buy a SIM card",
    "quiet place to work for two hours",
    "Any concerts this weekend?",
    "cheap lunch around here",
    "nearest metro station",
    "where can I charge my phone",
    "bookshop with English books",
    "romantic spot for the evening",
    "I lost my umbrella, where can I buy one",
    "park for kids",
];

/// One request's outcome.
struct Sample {
    path: String,
    total: Duration,
    first_byte: Duration,
}

async fn one(http: &reqwest::Client, url: &str, prompt: &str, max_tokens: u32) -> Result<Sample, String> {
    let started = Instant::now();
    let response = http
        .post(url)
        .json(&json!({"messages": [{"role": "user", "content": prompt}], "stream": true,
                      "temperature": 0.0, "max_tokens": max_tokens}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("{}: {}", response.status(), response.text().await.unwrap_or_default()));
    }
    let path = response.headers().get("x-netgpt-path").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
    let mut first_byte = None;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.map_err(|e| e.to_string())?));
        // The first event that carries answer text.
        if first_byte.is_none() {
            let has_content = buffer.lines().filter_map(|l| l.strip_prefix("data: ")).any(|data| {
                serde_json::from_str::<Value>(data)
                    .ok()
                    .and_then(|v| v["choices"][0]["delta"]["content"].as_str().map(|c| !c.is_empty()))
                    .unwrap_or(false)
            });
            if has_content {
                first_byte = Some(started.elapsed());
            }
        }
    }
    let total = started.elapsed();
    Ok(Sample { path, total, first_byte: first_byte.unwrap_or(total) })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let url = format!("{}/v1/chat/completions", args.gateway.trim_end_matches('/'));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    // Warm-up: one request, not counted (first-touch costs of the model servers).
    one(&http, &url, PROMPTS[0], args.max_tokens).await?;
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let samples: Vec<Result<Sample, String>> = futures::stream::iter(0..args.users)
        .map(|_| async {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= args.requests {
                    break mine;
                }
                mine.push(one(&http, &url, PROMPTS[i % PROMPTS.len()], args.max_tokens).await);
            }
        })
        .buffer_unordered(args.users)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let errors: Vec<&String> = samples.iter().filter_map(|s| s.as_ref().err()).collect();
    let ok: Vec<&Sample> = samples.iter().filter_map(|s| s.as_ref().ok()).collect();
    let mut paths: Vec<&str> = ok.iter().map(|s| s.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let mut total: Vec<Duration> = ok.iter().filter(|s| s.path == path).map(|s| s.total).collect();
        let mut first: Vec<Duration> = ok.iter().filter(|s| s.path == path).map(|s| s.first_byte).collect();
        total.sort_unstable();
        first.sort_unstable();
        println!(
            "| {} | {} | {path} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
            args.label,
            args.users,
            total.len(),
            percentile(&total, 0.5),
            percentile(&total, 0.99),
            percentile(&first, 0.5),
            percentile(&first, 0.99),
            total.len() as f64 / wall,
        );
    }
    if !errors.is_empty() {
        eprintln!("{} failed requests, first: {}", errors.len(), errors[0]);
        std::process::exit(1);
    }
    Ok(())
}
