//! Hit-rate@N of popularity prediction on a request trace: every request goes through the
//! gateway's topic matcher (the built-in topics), requests are counted per site and
//! interval as the `popularityPrediction` step counts them, and each interval is predicted
//! from the `--history` intervals before it — by the frequency and sequence baselines, by
//! the last interval's ranking, and (with `--server`) by the edge model through the exact
//! request the step sends. Also reports how often the topic matcher agrees with the
//! trace's generating topic.
//!
//! ```sh
//! python3 gateway/bench/make_popularity_trace.py --generator regime --seed 2 > regime.jsonl
//! netgpt serve --port 8000 &          # the default model; add --lora popularity=DIR for an adapter
//! cargo run -q -p netgpt-gateway --release --example popularity_eval -- \
//!     --server http://127.0.0.1:8000 --model smollm2 regime.jsonl
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use futures::StreamExt;
use netgpt_gateway::popularity::{
    TopicMatcher, frequency_baseline, hits_at_n, parse_prediction, prediction_request, sequence_baseline,
};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Base URL of an OpenAI-compatible server; without it only the baselines run.
    #[arg(long)]
    server: Option<String>,
    /// Model (or adapter) to ask.
    #[arg(long, default_value = "smollm2")]
    model: String,
    /// Interval length in seconds.
    #[arg(long, default_value_t = 900)]
    interval: u64,
    /// Past intervals each prediction sees (the step's `historyIntervals`).
    #[arg(long, default_value_t = 8)]
    history: usize,
    /// Topics predicted (the step's `topN`); hit-rate@1 reads the first of them.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Evaluate only intervals from this index on (e.g. the second day).
    #[arg(long, default_value_t = 0)]
    from: usize,
    /// Requests to the model in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Instead of evaluating, write every predictable interval as a `netgpt train lora`
    /// record (the step's exact request as input, the interval's true top N in the
    /// constrained decoder's JSON as target; the last tenth held out) to this file.
    #[arg(long, value_name = "FILE")]
    write_training: Option<PathBuf>,
    /// JSONL trace: `{"t": seconds, "site": …, "topic": …, "prompt": …}` per line.
    trace: PathBuf,
}

/// One interval to predict: its site, the history before it, and what was then asked.
struct Case {
    site: String,
    history: Vec<Vec<u32>>,
    actual: Vec<u32>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let matcher = TopicMatcher::new(&[]);
    let topics = matcher.topics().to_vec();
    let labels = matcher.labels().len();
    // Per site: counts per interval.
    let mut sites: BTreeMap<String, Vec<Vec<u32>>> = BTreeMap::new();
    let (mut agree, mut total) = (0usize, 0usize);
    for line in std::fs::read_to_string(&args.trace)?.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line)?;
        let prompt = row["prompt"].as_str().ok_or("a row without prompt")?;
        let t = row["t"].as_f64().ok_or("a row without t")?;
        let label = matcher.classify(prompt);
        total += 1;
        agree += usize::from(Some(matcher.labels()[label]) == row["topic"].as_str());
        let intervals = sites.entry(row["site"].as_str().unwrap_or("site").to_string()).or_default();
        let i = (t / args.interval as f64) as usize;
        if intervals.len() <= i {
            intervals.resize(i + 1, vec![0; labels]);
        }
        intervals[i][label] += 1;
    }
    let mut cases = Vec::new();
    for (site, intervals) in &sites {
        for i in args.history.max(args.from)..intervals.len() {
            cases.push(Case {
                site: site.clone(),
                history: intervals[i - args.history..i].to_vec(),
                actual: intervals[i].clone(),
            });
        }
    }
    let n = args.top;
    if let Some(out) = &args.write_training {
        let lines: Vec<String> = cases
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let truth = sequence_truth(&c.actual, topics.len(), n)?;
                let request = prediction_request(
                    &args.model,
                    &c.site,
                    args.interval,
                    &topics,
                    c.history.iter().map(Vec::as_slice),
                    n,
                );
                let target = json!({"top": truth.iter().map(|&t| topics[t].as_str()).collect::<Vec<_>>()});
                // What the constrained decoder writes: ", " and ": " separators.
                let target = target.to_string().replace("\":", "\": ").replace("\",\"", "\", \"");
                let heldout = i * 10 >= cases.len() * 9;
                Some(
                    json!({
                        "site": c.site, "split": if heldout { "heldout" } else { "train" }, "intent": "popularity",
                        "concise": "", "comprehensive": target, "messages": request["messages"],
                        "context_terms": [], "teacher": "trace", "redacted": 0, "prompt_format": 1
                    })
                    .to_string(),
                )
            })
            .collect();
        std::fs::write(out, lines.join("\n") + "\n")?;
        println!("wrote {} records to {}", lines.len(), out.display());
        return Ok(());
    }

    let model_answers = match &args.server {
        Some(server) => Some(ask_model(&args, server, &topics, &cases)?),
        None => None,
    };
    // predictor -> (hits@1, places@1, hits@N, places@N)
    let mut score: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut failures = 0;
    // `publish: best` replayed per site: the running hit-rate@N of the model (over the
    // intervals it answered) and of the two baselines, as the gateway keeps them.
    let mut running: BTreeMap<&str, [usize; 4]> = BTreeMap::new(); // per site: model, model places, sequence, frequency
    let mut places_so_far: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, c) in cases.iter().enumerate() {
        let history = || c.history.iter().map(Vec::as_slice);
        let mut predictions: Vec<(&str, Vec<usize>)> = vec![
            ("frequency", frequency_baseline(history(), topics.len(), n)),
            ("sequence (Holt)", sequence_baseline(history(), topics.len(), n)),
            ("last interval", frequency_baseline(history().next_back().into_iter(), topics.len(), n)),
        ];
        if let Some(answers) = &model_answers {
            let fill = &predictions[0].1;
            let got =
                answers[k].as_deref().map_err(Clone::clone).and_then(|text| parse_prediction(text, &topics, n, fill));
            failures += usize::from(got.is_err());
            let answered = got.is_ok();
            let model = got.unwrap_or_else(|_| fill.clone());
            // Which predictor `best` publishes now, then the running scores move on.
            let r = running.entry(c.site.as_str()).or_default();
            let places = places_so_far.entry(c.site.as_str()).or_default();
            let rate = |h: usize, p: usize| if p == 0 { None } else { Some(h as f64 / p as f64) };
            let unscored = if *places == 0 { f64::INFINITY } else { f64::NEG_INFINITY };
            let m = rate(r[0], r[1]).unwrap_or(unscored);
            let (sq, fq) = (rate(r[2], *places).unwrap_or(0.0), rate(r[3], *places).unwrap_or(0.0));
            let best = if m >= sq && m >= fq {
                model.clone()
            } else if sq >= fq {
                predictions[1].1.clone()
            } else {
                predictions[0].1.clone()
            };
            if let Some((_, p)) = hits_at_n(&model, &c.actual, topics.len(), n) {
                let hits = |top: &[usize]| hits_at_n(top, &c.actual, topics.len(), n).map_or(0, |(h, _)| h);
                if answered {
                    r[0] += hits(&model);
                    r[1] += p;
                }
                r[2] += hits(&predictions[1].1);
                r[3] += hits(&predictions[0].1);
                *places += p;
            }
            predictions.push(("edge model", model));
            predictions.push(("publish: best (model or a baseline)", best));
        }
        for (name, predicted) in predictions {
            let entry = score.entry(name).or_default();
            if let Some((h, p)) = hits_at_n(&predicted[..predicted.len().min(1)], &c.actual, topics.len(), 1) {
                entry[0] += h;
                entry[1] += p;
            }
            if let Some((h, p)) = hits_at_n(&predicted, &c.actual, topics.len(), n) {
                entry[2] += h;
                entry[3] += p;
            }
        }
    }
    let intervals: usize = sites.values().map(Vec::len).sum();
    println!(
        "{}: {} requests, {} sites, {} intervals of {} s; {} predicted (history {}); topic matcher agrees with the generator on {:.1} %",
        args.trace.display(),
        total,
        sites.len(),
        intervals,
        args.interval,
        cases.len(),
        args.history,
        100.0 * agree as f64 / total.max(1) as f64
    );
    if model_answers.is_some() {
        println!("model {}: {failures} of {} predictions unusable (frequency baseline used)", args.model, cases.len());
    }
    println!("| predictor | hit-rate@1 | hit-rate@{n} |\n|---|---:|---:|");
    for (name, [h1, p1, hn, pn]) in &score {
        let rate = |h: usize, p: usize| 100.0 * h as f64 / p.max(1) as f64;
        println!("| {name} | {:.1} % | {:.1} % |", rate(*h1, *p1), rate(*hn, *pn));
    }
    Ok(())
}

/// The interval's true top `n` (most requested first; ties by topic order), or `None`
/// when it had fewer than `n` topics requested.
fn sequence_truth(actual: &[u32], topics: usize, n: usize) -> Option<Vec<usize>> {
    let top = frequency_baseline(std::iter::once(actual), topics, n);
    (top.len() == n).then_some(top)
}

/// The model's answer text for every case (in order), `concurrency` requests at a time.
fn ask_model(
    args: &Args,
    server: &str,
    topics: &[String],
    cases: &[Case],
) -> Result<Vec<Result<String, String>>, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", server.trim_end_matches('/'));
    let started = Instant::now();
    let answers = runtime.block_on(
        futures::stream::iter(cases.iter().map(|c| {
            let body = prediction_request(
                &args.model,
                &c.site,
                args.interval,
                topics,
                c.history.iter().map(Vec::as_slice),
                args.top,
            );
            let (http, url) = (http.clone(), url.clone());
            async move {
                let answer: Value = http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let choice = &answer["choices"][0];
                if choice["finish_reason"] == "length" {
                    return Err("cut at the token limit".to_string());
                }
                choice["message"]["content"].as_str().map(str::to_string).ok_or_else(|| answer.to_string())
            }
        }))
        .buffered(args.concurrency.max(1))
        .collect::<Vec<_>>(),
    );
    eprintln!(
        "{} predictions in {:.0} s ({:.2} s each)",
        cases.len(),
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() / cases.len().max(1) as f64
    );
    Ok(answers)
}
