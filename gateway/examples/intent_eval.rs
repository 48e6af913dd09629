//! Field-level accuracy of intent inference: every sentence of an evaluation set goes
//! through the request the gateway's `intentInference` step sends (the schema and
//! instructions of a shipped workflow), to a running model server; each field of the
//! result is compared with the expected intent.
//!
//! ```sh
//! netgpt serve --port 8000 &          # the default model; add --lora intent=DIR for an adapter
//! cargo run -q -p netgpt-gateway --release --example intent_eval -- \
//!     --server http://127.0.0.1:8000 --model smollm2 \
//!     --workflow examples/network-intent.yaml --step intent \
//!     gateway/tests/data/intent/network_intents_eval.jsonl
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use netgpt_crds::{IntentSpec, LogicalAIWorkflow};
use netgpt_gateway::intent::{intent_request, parse_intent};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// Base URL of an OpenAI-compatible server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    server: String,
    /// Model (or adapter) to ask.
    #[arg(long, default_value = "smollm2")]
    model: String,
    /// Workflow manifest holding the intent step.
    #[arg(long, default_value = "examples/network-intent.yaml")]
    workflow: PathBuf,
    /// Name of the `intentInference` step.
    #[arg(long, default_value = "intent")]
    step: String,
    /// Print the per-sentence results as JSON lines too.
    #[arg(long)]
    verbose: bool,
    /// Instead of evaluating, write the rows as a `netgpt train lora` dataset (the
    /// step's exact request as input, the expected intent as compact JSON in schema order
    /// as target; the last tenth held out) to this file.
    #[arg(long, value_name = "FILE")]
    write_training: Option<PathBuf>,
    /// JSONL: `{"text": …, "expected": {…}}` per line.
    data: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let manifest: LogicalAIWorkflow = serde_norway::from_str(&std::fs::read_to_string(&args.workflow)?)?;
    let intent: IntentSpec = manifest
        .spec
        .steps
        .iter()
        .find(|s| s.name == args.step)
        .and_then(|s| s.intent.clone())
        .ok_or_else(|| format!("{} has no intentInference step {:?}", args.workflow.display(), args.step))?;
    let fields: Vec<String> =
        intent.schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let rows: Vec<Value> = std::fs::read_to_string(&args.data)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    if let Some(out) = &args.write_training {
        let lines: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| training_record(&args.model, &intent, &fields, row, i * 10 >= rows.len() * 9).to_string())
            .collect();
        std::fs::write(out, lines.join("\n") + "\n")?;
        println!("wrote {} records to {}", lines.len(), out.display());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", args.server.trim_end_matches('/'));
    let mut correct: BTreeMap<&str, usize> = fields.iter().map(|f| (f.as_str(), 0)).collect();
    let (mut valid, mut exact) = (0, 0);
    let mut latencies = Vec::new();
    for row in &rows {
        let text = row["text"].as_str().ok_or("a row without text")?;
        let started = Instant::now();
        let answer: Value = runtime.block_on(async {
            http.post(&url).json(&intent_request(&args.model, &intent, text)).send().await?.json().await
        })?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let choice = &answer["choices"][0];
        let got = parse_intent(
            choice["message"]["content"].as_str().unwrap_or_default(),
            choice["finish_reason"].as_str().unwrap_or_default(),
        );
        let got = match got {
            Ok(v) => {
                valid += 1;
                v
            }
            Err(_) => Value::Null,
        };
        let mut all = true;
        for field in &fields {
            let ok = same(&row["expected"][field], &got[field]);
            all &= ok;
            if let Some(c) = correct.get_mut(field.as_str()).filter(|_| ok) {
                *c += 1;
            }
        }
        exact += usize::from(all);
        if args.verbose {
            println!("{}", serde_json::json!({"text": text, "expected": row["expected"], "got": got}));
        }
    }
    latencies.sort_by(f64::total_cmp);
    let n = rows.len().max(1);
    let pct = |k: usize| 100.0 * k as f64 / n as f64;
    println!("model {} on {} sentences ({})", args.model, rows.len(), args.data.display());
    println!("| field | accuracy |\n|---|---:|");
    for (field, c) in &correct {
        println!("| {field} | {:.1} % |", pct(*c));
    }
    let fields_total: usize = correct.values().sum();
    println!("| **all fields** | **{:.1} %** |", 100.0 * fields_total as f64 / (n * fields.len().max(1)) as f64);
    println!("| every field right (exact intent) | {:.1} % |", pct(exact));
    println!("| valid JSON for the schema | {:.1} % |", pct(valid));
    println!(
        "latency per intent: p50 {:.0} ms, max {:.0} ms",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    Ok(())
}

/// One record of `netgpt train lora`'s dataset format (`docs/adapters.md`).
fn training_record(model: &str, intent: &IntentSpec, fields: &[String], row: &Value, heldout: bool) -> Value {
    let text = row["text"].as_str().unwrap_or_default();
    let request = intent_request(model, intent, text);
    // What the constrained decoder writes: schema order, ", " and ": " separators.
    let members: Vec<String> = fields
        .iter()
        .filter(|f| !row["expected"][f.as_str()].is_null())
        .map(|f| format!("{}: {}", Value::String(f.clone()), row["expected"][f.as_str()]))
        .collect();
    serde_json::json!({
        "site": "network-intent", "split": if heldout { "heldout" } else { "train" }, "intent": "network",
        "concise": text, "comprehensive": format!("{{{}}}", members.join(", ")),
        "messages": request["messages"], "context_terms": [], "teacher": "template", "redacted": 0, "prompt_format": 1
    })
}

/// Field equality: absent = absent (or null); strings ignore case and surrounding space.
fn same(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Null, Value::Null) => true,
        // An optional boolean the sentence did not state counts as false.
        (Value::Bool(false), Value::Null) => true,
        (Value::String(a), Value::String(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}
