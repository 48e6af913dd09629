//! Detection quality and speed on labelled PII corpora, without building the whole `netgpt`
//! binary (which links the operator and the gateway too):
//!
//! ```sh
//! cargo run -p netgpt-desensitizer --release --example pii_eval -- CORPUS.jsonl...   # tables
//! cargo run -p netgpt-desensitizer --example pii_eval -- --errors CORPUS.jsonl        # misses, false alarms
//! cargo run -p netgpt-desensitizer --release --example pii_eval -- --bench 9 CORPUS.jsonl
//! cargo run -p netgpt-desensitizer --release --example pii_eval -- --learned CORPUS.jsonl   # with the learned stage
//! cargo run -p netgpt-desensitizer --release --example pii_eval -- --learned --f32 CORPUS.jsonl   # its f32 reference path
//! cargo run -p netgpt-desensitizer --release --example pii_eval -- --learned --adapter off CORPUS.jsonl   # the model as published
//! ```
//!
//! `--outside-threshold P` (with `--learned`) sets the probability of `O` below which a word
//! is personal data, for sweeping it on tuning corpora.
//!
//! `--errors` is for the tuning split only: reading the held-out split's errors would make
//! it one more tuning set (see docs/benchmarks.md, "Desensitization quality").

use std::path::PathBuf;
use std::time::Instant;

use netgpt_desensitizer::detect::Detector;
use netgpt_desensitizer::{entity, eval};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut errors = false;
    let mut learned = false;
    let mut precision = netgpt_desensitizer::ner::Precision::Quantized;
    let mut adapter = netgpt_desensitizer::ner::AdapterChoice::Builtin;
    let mut bench_runs = 0usize;
    let mut outside_threshold = None;
    let mut corpora = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--errors" => errors = true,
            "--learned" => learned = true,
            "--f32" => precision = netgpt_desensitizer::ner::Precision::F32,
            "--adapter" => {
                adapter = netgpt_desensitizer::ner::AdapterChoice::parse(
                    &args.next().ok_or("--adapter needs builtin, off or a directory")?,
                )
            }
            "--outside-threshold" => {
                outside_threshold = Some(args.next().ok_or("--outside-threshold needs a probability")?.parse::<f32>()?)
            }
            "--bench" => bench_runs = args.next().ok_or("--bench needs a run count")?.parse()?,
            _ => corpora.push(PathBuf::from(arg)),
        }
    }
    let mut detector = Detector::default();
    if learned {
        let dir = netgpt_runtime::model_store::model_path(netgpt_runtime::model_store::PII_MODEL_ALIAS)?;
        let mut model = netgpt_desensitizer::ner::NerModel::load_with(&dir, precision, &adapter)?.with_cache_entries(0);
        if let Some(threshold) = outside_threshold {
            model = model.with_outside_threshold(threshold);
        }
        detector = detector.with_learned(std::sync::Arc::new(model));
    }
    for path in &corpora {
        let samples = eval::load_corpus(path)?;
        println!("## {}\n", path.display());
        println!("{}", eval::evaluate(&samples, &detector, 0.9)?);
        if errors {
            print_errors(&samples, &detector);
        }
        if bench_runs > 0 {
            bench(&samples, &detector, bench_runs);
        }
    }
    Ok(())
}

/// Gold spans not found exactly (`-`) and predictions that match no gold span (`+`).
fn print_errors(samples: &[eval::Sample], detector: &Detector) {
    for sample in samples {
        let chars: Vec<char> = sample.text.chars().collect();
        let byte_to_char = |b: usize| sample.text.get(..b).map_or(0, |s| s.chars().count());
        let predicted: Vec<(usize, usize, &str)> = detector
            .detect(&sample.text)
            .expect("detection")
            .into_iter()
            .map(|d| (byte_to_char(d.start), byte_to_char(d.end), entity::name(d.kind)))
            .collect();
        let gold: Vec<(usize, usize, &str)> = sample.spans.iter().map(|s| (s.start, s.end, s.kind.as_str())).collect();
        let show = |(s, e, _): &(usize, usize, &str)| chars[*s..*e].iter().collect::<String>();
        let mut lines = Vec::new();
        for g in gold.iter().filter(|g| !predicted.contains(g)) {
            // `!` marks a miss that left some of the value in clear (a leak, as the summary
            // counts it), not only a boundary the scoring did not accept.
            let exposed = eval::left_in_clear(&chars, g.0, g.1, g.2 == "person", |c| {
                predicted.iter().any(|p| p.0 <= c && c < p.1)
            });
            lines.push(format!("  -{} {} {:?}", if exposed { "!" } else { "" }, g.2, show(g)));
        }
        for p in predicted.iter().filter(|p| !gold.contains(p)) {
            lines.push(format!("  + {} {:?}", p.2, show(p)));
        }
        if !lines.is_empty() {
            println!("{:?}\n{}", sample.text, lines.join("\n"));
        }
    }
}

/// Median throughput over `runs` passes of the whole corpus, and the per-sentence latency
/// percentiles over all passes.
fn bench(samples: &[eval::Sample], detector: &Detector, runs: usize) {
    let bytes: usize = samples.iter().map(|s| s.text.len()).sum();
    let _ = detector.detect("warm up 1.2.3.4 a@b.co 我叫王伟");
    let mut latencies = Vec::with_capacity(runs * samples.len());
    let mut seconds: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            for sample in samples {
                let one = Instant::now();
                std::hint::black_box(detector.detect(&sample.text).map_or(0, |found| found.len()));
                latencies.push(one.elapsed().as_secs_f64() * 1e3);
            }
            started.elapsed().as_secs_f64()
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "throughput: {:.0} sentences/s, {:.2} MB/s (median of {runs} passes over {} sentences, {} bytes); \
         per sentence p50 {:.2} ms, p99 {:.2} ms\n",
        samples.len() as f64 / median,
        bytes as f64 / median / 1e6,
        samples.len(),
        bytes,
        percentile(0.5),
        percentile(0.99)
    );
}
