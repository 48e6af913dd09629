//! Continuous batching under concurrent streams, through the real HTTP server: for each
//! stream count, that many clients stream `/v1/completions` at once; the table gives the
//! aggregate generated tokens/s, inter-token latency (gaps between SSE chunks) p50/p99,
//! and the slowest and fastest stream's own tokens/s (starvation shows as a gap).
//!
//! ```sh
//! cargo run --release -p netgpt-inference --example concurrency_bench -- [--threads 2] [--tokens 64] [--repeats 3] [streams…]
//! ```

use std::time::{Duration, Instant};

use futures::StreamExt;
use netgpt_inference::ServerSettings;

struct Args {
    threads: usize,
    tokens: usize,
    repeats: usize,
    streams: Vec<usize>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args { threads: 2, tokens: 64, repeats: 3, streams: Vec::new() };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => args.threads = value()?.parse()?,
            "--tokens" => args.tokens = value()?.parse()?,
            "--repeats" => args.repeats = value()?.parse()?,
            other => args.streams.push(other.parse()?),
        }
    }
    if args.streams.is_empty() {
        args.streams = vec![1, 4, 16];
    }
    Ok(args)
}

/// One stream: (generated tokens, seconds from request to last chunk, gaps between chunks).
async fn one_stream(
    client: reqwest::Client,
    url: String,
    index: usize,
    tokens: usize,
) -> Result<(usize, f64, Vec<f64>), String> {
    let body = serde_json::json!({
        "prompt": format!("Story {index}: once upon a time, in a small village by the sea, there lived"),
        "max_tokens": tokens,
        "temperature": 0.8,
        "seed": index,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let started = Instant::now();
    let response = client.post(url).json(&body).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut chunks = response.bytes_stream();
    let mut last: Option<Instant> = None;
    let mut gaps = Vec::new();
    let mut generated = 0usize;
    let mut buffer = String::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.trim().strip_prefix("data: ") else { continue };
            if data == "[DONE]" {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
            if let Some(n) = value["usage"]["completion_tokens"].as_u64() {
                generated = n as usize;
            }
            if value["choices"][0]["text"].as_str().is_some_and(|t| !t.is_empty()) {
                let now = Instant::now();
                if let Some(previous) = last {
                    gaps.push((now - previous).as_secs_f64() * 1e3);
                }
                last = Some(now);
            }
        }
    }
    let seconds = last.map_or(0.0, |l| (l - started).as_secs_f64());
    Ok((generated, seconds, gaps))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let path = netgpt_inference::ensure_default_model()?;
    let mut settings = ServerSettings::for_model(path.clone());
    settings.threads = args.threads;
    let max_streams = args.streams.iter().copied().max().unwrap_or(1);
    settings.max_running = settings.max_running.max(max_streams);
    settings.max_queued = settings.max_queued.max(max_streams);
    let mut server = netgpt_inference::start(settings).await?;
    server.wait_loaded().await?;
    let url = format!("http://{}/v1/completions", server.addr);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(600)).build()?;
    one_stream(client.clone(), url.clone(), 0, 8).await?; // warm-up

    println!(
        "model {}, {} threads, up to {} tokens per stream (sampled, T=0.8); medians of {} runs\n",
        path.display(),
        args.threads,
        args.tokens,
        args.repeats
    );
    println!("| streams | aggregate tok/s | vs 1 stream | ITL p50 ms | ITL p99 ms | slowest / fastest stream tok/s |");
    println!("|---:|---:|---:|---:|---:|---|");
    let mut single = None;
    for &streams in &args.streams {
        let mut aggregate = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut slowest = Vec::new();
        let mut fastest = Vec::new();
        for repeat in 0..args.repeats {
            let started = Instant::now();
            let tasks: Vec<_> = (0..streams)
                .map(|i| tokio::spawn(one_stream(client.clone(), url.clone(), 1 + repeat * streams + i, args.tokens)))
                .collect();
            let mut total = 0usize;
            let mut gaps = Vec::new();
            let mut rates = Vec::new();
            for task in tasks {
                let (generated, seconds, stream_gaps) = task.await??;
                total += generated;
                gaps.extend(stream_gaps);
                if seconds > 0.0 {
                    rates.push(generated as f64 / seconds);
                }
            }
            let wall = started.elapsed().as_secs_f64();
            gaps.sort_by(f64::total_cmp);
            rates.sort_by(f64::total_cmp);
            aggregate.push(total as f64 / wall);
            p50.push(percentile(&gaps, 0.5));
            p99.push(percentile(&gaps, 0.99));
            slowest.push(rates.first().copied().unwrap_or(0.0));
            fastest.push(rates.last().copied().unwrap_or(0.0));
        }
        let aggregate = median(aggregate);
        let base = *single.get_or_insert(aggregate);
        println!(
            "| {streams} | {aggregate:.1} | {:.2}× | {:.1} | {:.1} | {:.1} / {:.1} |",
            aggregate / base,
            median(p50),
            median(p99),
            median(slowest),
            median(fastest)
        );
    }
    Ok(())
}
