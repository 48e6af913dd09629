//! Load and soak test of the model server over loopback HTTP: more clients than the server
//! admits (running + queued), for a fixed time, mixing streamed completions, clients that
//! hang up after the first chunk, and non-streamed chat requests. Reports answers by
//! status (429 = admission limit, as designed), transport errors, the process's RSS over
//! time, and whether every slot and task is released once the clients stop.
//!
//! ```sh
//! cargo run --release -p netgpt-inference --example soak -- [--minutes 10] [--clients 24] [--max-running 4] [--max-queued 8]
//! ```
//!
//! The server runs in this process (RSS covers server and clients; the clients' share is
//! a fixed number of tasks and buffers).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use netgpt_inference::ServerSettings;
use tokio::sync::Mutex;

struct Args {
    minutes: f64,
    clients: usize,
    max_running: usize,
    max_queued: usize,
    threads: usize,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args { minutes: 10.0, clients: 24, max_running: 4, max_queued: 8, threads: 2 };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--minutes" => args.minutes = value.parse()?,
            "--clients" => args.clients = value.parse()?,
            "--max-running" => args.max_running = value.parse()?,
            "--max-queued" => args.max_queued = value.parse()?,
            "--threads" => args.threads = value.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One request of kind `n % 3`; returns the outcome's label.
async fn one_request(client: &reqwest::Client, base: &str, n: usize) -> String {
    let (path, body, hang_up) = match n % 3 {
        0 => (
            "/v1/completions",
            serde_json::json!({"prompt": format!("Request {n}: the weather today"), "max_tokens": 16, "stream": true}),
            false,
        ),
        1 => (
            "/v1/completions",
            serde_json::json!({"prompt": format!("Request {n}: tell me a story"), "max_tokens": 64, "stream": true}),
            true,
        ),
        _ => (
            "/v1/chat/completions",
            serde_json::json!({"messages": [{"role": "user", "content": format!("Question {n}: what is 2+2?")}], "max_tokens": 12}),
            false,
        ),
    };
    let response = match client.post(format!("{base}{path}")).json(&body).send().await {
        Ok(response) => response,
        Err(error) => return format!("transport error ({})", if error.is_timeout() { "timeout" } else { "other" }),
    };
    let status = response.status().as_u16();
    if status != 200 {
        return status.to_string();
    }
    let mut stream = response.bytes_stream();
    if hang_up {
        // Read the first chunk, then drop the connection mid-stream.
        let _ = stream.next().await;
        return "200 (client hung up)".into();
    }
    while let Some(chunk) = stream.next().await {
        if chunk.is_err() {
            return "200 (body error)".into();
        }
    }
    "200".into()
}

async fn gauge(client: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let path = netgpt_inference::ensure_default_model()?;
    let mut settings = ServerSettings::for_model(path);
    settings.threads = args.threads;
    settings.max_running = args.max_running;
    settings.max_queued = args.max_queued;
    let mut server = netgpt_inference::start(settings).await?;
    server.wait_loaded().await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let probe = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let runtime = tokio::runtime::Handle::current();
    let idle_tasks = runtime.metrics().num_alive_tasks();
    let rss_start = rss_mib();
    println!(
        "{} clients, server admits {} running + {} queued, {} threads, {:.1} min; RSS at start {rss_start:.1} MiB",
        args.clients, args.max_running, args.max_queued, args.threads, args.minutes
    );

    let outcomes: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.minutes * 60.0);
    let mut clients = Vec::new();
    for c in 0..args.clients {
        let (client, base, outcomes, stop) = (client.clone(), base.clone(), outcomes.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut n = c;
            while !stop.load(Ordering::Relaxed) {
                let outcome = one_request(&client, &base, n).await;
                if outcome == "429" {
                    // A real client backs off; a short pause keeps the pressure on.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                *outcomes.lock().await.entry(outcome).or_default() += 1;
                n += args.clients;
            }
        }));
    }
    let mut peak = rss_start;
    let mut rss_one_minute = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(30).min(deadline.saturating_duration_since(Instant::now()))).await;
        let rss = rss_mib();
        peak = peak.max(rss);
        if rss_one_minute.is_none() && started.elapsed() >= Duration::from_secs(60) {
            rss_one_minute = Some(rss);
        }
        let answered: usize = outcomes.lock().await.values().sum();
        println!("{:6.0} s: RSS {rss:.1} MiB, {answered} requests answered", started.elapsed().as_secs_f64());
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await?;
    }
    let rss_end = rss_mib();
    // Every slot must come back once the clients are gone (hung-up streams included).
    let drain_started = Instant::now();
    let mut drained = false;
    while drain_started.elapsed() < Duration::from_secs(30) {
        let running = gauge(&probe, &base, "netgpt_requests_running").await;
        let queued = gauge(&probe, &base, "netgpt_requests_queued").await;
        if running == Some(0.0) && queued == Some(0.0) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    // Close the clients' keep-alive connections, so that what remains is what leaked.
    drop(client);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tasks_after = runtime.metrics().num_alive_tasks();

    println!("\n| outcome | requests |\n|---|---:|");
    let outcomes = outcomes.lock().await;
    for (outcome, count) in outcomes.iter() {
        println!("| {outcome} | {count} |");
    }
    println!(
        "\nRSS start {rss_start:.1} MiB, after 1 min {:.1} MiB, end {rss_end:.1} MiB, peak {peak:.1} MiB; slots released: {} ({:.1} s after the \
         clients stopped); tokio tasks alive: {idle_tasks} before the load, {tasks_after} after it (connections closed)",
        rss_one_minute.unwrap_or(rss_end),
        if drained { "yes" } else { "NO" },
        drain_seconds
    );
    if !drained {
        return Err("requests still running or queued 30 s after the clients stopped".into());
    }
    Ok(())
}
