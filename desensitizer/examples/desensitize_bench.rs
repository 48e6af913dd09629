//! What the desensitizer sidecar adds to a request, measured over real HTTP on loopback:
//! the sidecar runs in-process in front of an upstream that answers at once, so the time
//! a client sees is the sidecar's (parse, detect, replace, forward, restore) plus two
//! loopback hops.
//!
//! ```sh
//! cargo run -p netgpt-desensitizer --release --example desensitize_bench -- CORPUS.jsonl [--learned [--adapter builtin|off|DIR]] [--requests N]
//! ```
//!
//! Prints one table row per workload: typical chat requests (a system prompt like the
//! gateway's plus one corpus sentence as the user message; p50/p99 over N requests, one
//! at a time) and large bodies (4 KiB and 64 KiB of prose; 1 MiB of short e-mails, prose
//! and digits), median of 5 (with the learned stage, bodies over its per-request token
//! budget are refused with 413: the table says so).

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::routing::post;
use netgpt_crds::workflow::DesensitizationPolicy;
use netgpt_desensitizer::eval;
use netgpt_desensitizer::proxy::{SidecarSettings, start};
use serde_json::{Value, json};

const SYSTEM: &str = "You are a helpful assistant for users of the mobile network in Pudong, Shanghai. \
                      Answer concisely and mention nearby places when useful.";

async fn upstream() -> SocketAddr {
    let answer = json!({"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]});
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// (name, body size in bytes, the text of unit i).
type Workload<'a> = (&'a str, usize, &'a dyn Fn(usize) -> String);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut corpus = None;
    let mut learned = false;
    let mut adapter = netgpt_desensitizer::ner::AdapterChoice::Builtin;
    let mut requests = 300usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--learned" => learned = true,
            "--adapter" => {
                adapter = netgpt_desensitizer::ner::AdapterChoice::parse(
                    &args.next().ok_or("--adapter needs builtin, off or a directory")?,
                )
            }
            "--requests" => requests = args.next().ok_or("--requests needs a count")?.parse()?,
            path => corpus = Some(path.to_string()),
        }
    }
    let samples = eval::load_corpus(std::path::Path::new(&corpus.ok_or("usage: desensitize_bench CORPUS.jsonl")?))?;
    let mut settings = SidecarSettings::new(format!("http://{}", upstream().await), DesensitizationPolicy::default());
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.max_body_bytes = 4 * 1024 * 1024;
    settings.pii_adapter = adapter.clone();
    if learned {
        settings.pii_model =
            Some(netgpt_runtime::model_store::model_path(netgpt_runtime::model_store::PII_MODEL_ALIAS)?);
    }
    let sidecar = start(settings).await?;
    let url = format!("http://{}/v1/chat/completions", sidecar.addr);
    let client = reqwest::Client::new();
    let send = |body: Value| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let started = Instant::now();
            let response = client.post(url).json(&body).send().await?;
            let status = response.status();
            response.bytes().await?;
            Ok::<(f64, reqwest::StatusCode), Box<dyn std::error::Error>>((
                started.elapsed().as_secs_f64() * 1e3,
                status,
            ))
        }
    };
    let chat = |text: &str| json!({"model": "cloud", "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]});
    for sample in samples.iter().take(5) {
        send(chat(&sample.text)).await?;
    }
    let ok = |(ms, status): (f64, reqwest::StatusCode)| {
        if status.is_success() { Ok(ms) } else { Err(format!("sidecar answered {status}")) }
    };
    println!("learned stage: {}\n", if learned { format!("on (adapter: {adapter:?})") } else { "off".into() });
    println!("| workload | requests | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let mut latencies = Vec::with_capacity(requests);
    for sample in samples.iter().cycle().take(requests) {
        latencies.push(ok(send(chat(&sample.text)).await?)?);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "| typical chat request (system + one sentence) | {requests} | {:.2} | {:.2} |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let mib = 1024 * 1024;
    let fill_to = |size: usize, unit: &dyn Fn(usize) -> String| {
        let mut s = String::with_capacity(size + 64);
        let mut i = 0;
        while s.len() < size {
            s.push_str(&unit(i));
            i += 1;
        }
        s
    };
    // Every run sends a different body (the ticket numbers and addresses change), so no
    // run is answered from the learned stage's per-text cache.
    let prose = |i: usize| format!("Please ask Maria Gonzalez about ticket {i} before Friday. ");
    let emails = |i: usize| format!("u{i}@ex.io ");
    let digits = |i: usize| format!("{:08} ", i * 7919);
    let workloads: [Workload; 5] = [
        ("4 KiB of prose with names", 4 * 1024, &prose),
        ("64 KiB of prose with names", 64 * 1024, &prose),
        ("1 MiB of short e-mails", mib, &emails),
        ("1 MiB of prose with names", mib, &prose),
        ("1 MiB of digits", mib, &digits),
    ];
    for (name, size, unit) in workloads {
        let mut runs = Vec::new();
        let mut status = reqwest::StatusCode::OK;
        for run in 0..5 {
            let text = fill_to(size, &|i| unit(i + run * 10_000_000));
            let (ms, s) = send(chat(&text)).await?;
            runs.push(ms);
            status = s;
        }
        runs.sort_by(f64::total_cmp);
        let outcome = if status.is_success() { String::new() } else { format!(" — refused, {status}") };
        println!("| {name}{outcome} (median of 5) | 5 | {:.0} | {:.0} |", percentile(&runs, 0.5), runs[runs.len() - 1]);
    }
    Ok(())
}
