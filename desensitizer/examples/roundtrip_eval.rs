//! What reaches the cloud and what comes back, over real HTTP: every sentence of a
//! labelled corpus goes through the sidecar (in-process, on loopback) to a recording
//! upstream that repeats back what it received, streamed in two-character pieces (so every
//! placeholder is split across chunks) or as one JSON answer. Per corpus and mode:
//!
//! - values that reached the upstream, whole or in part (a word of three or more letters
//!   or digits of the value, not also written elsewhere in the sentence, arrived);
//! - values restored in the answer the client got, out of those that did not arrive whole;
//! - sentences whose answer is the sentence, character for character.
//!
//! ```sh
//! cargo run -p netgpt-desensitizer --release --example roundtrip_eval -- [--learned [--adapter builtin|off|DIR]] CORPUS.jsonl...
//! ```

use std::net::SocketAddr;

use netgpt_crds::workflow::DesensitizationPolicy;
use netgpt_desensitizer::eval;
use netgpt_desensitizer::proxy::{SidecarSettings, start};
use netgpt_testenv::recording::{answer_text, recording_upstream, texts_of};
use serde_json::{Value, json};

/// Words (runs of letters or digits) of `text`.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

/// Whether some word of `value` (three characters or more, a title aside) that the rest of
/// `sentence` does not also contain arrived in `forwarded`.
fn leaked_in_part(value: &str, sentence: &str, forwarded: &str) -> bool {
    const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "dr", "prof", "sir"];
    let rest = sentence.replacen(value, " ", 1);
    let rest_words = words(&rest);
    let arrived = words(forwarded);
    words(value)
        .into_iter()
        .filter(|w| w.chars().count() >= 3)
        .any(|w| !TITLES.contains(&w.to_lowercase().as_str()) && !rest_words.contains(&w) && arrived.contains(&w))
}

#[derive(Default)]
struct Tally {
    values: usize,
    leaked: usize,
    replaced: usize,
    restored: usize,
    sentences: usize,
    exact: usize,
    refused: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut learned = false;
    let mut adapter = netgpt_desensitizer::ner::AdapterChoice::Builtin;
    let mut corpora = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--learned" => learned = true,
            "--adapter" => {
                adapter = netgpt_desensitizer::ner::AdapterChoice::parse(
                    &args.next().ok_or("--adapter needs builtin, off or a directory")?,
                )
            }
            path => corpora.push(path.to_string()),
        }
    }
    if corpora.is_empty() {
        return Err("usage: roundtrip_eval [--learned] CORPUS.jsonl...".into());
    }
    let (upstream, recorder) = recording_upstream().await;
    let mut settings = SidecarSettings::new(format!("http://{upstream}"), DesensitizationPolicy::default());
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.pii_adapter = adapter.clone();
    if learned {
        settings.pii_model =
            Some(netgpt_runtime::model_store::model_path(netgpt_runtime::model_store::PII_MODEL_ALIAS)?);
    }
    let sidecar = start(settings).await?;
    let url = format!("http://{}/v1/chat/completions", sidecar.addr);
    let client = reqwest::Client::new();
    println!("learned stage: {}\n", if learned { format!("on (adapter: {adapter:?})") } else { "off".into() });
    println!(
        "| corpus | mode | values | reached the upstream (in part) | restored in the answer | sentences answered exactly |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for path in &corpora {
        let samples = eval::load_corpus(std::path::Path::new(path))?;
        for stream in [false, true] {
            let mut t = Tally::default();
            for sample in &samples {
                let body = json!({"model": "cloud", "stream": stream,
                    "messages": [{"role": "user", "content": sample.text}]});
                let before = recorder.count();
                let response = client.post(&url).json(&body).send().await?;
                let status = response.status();
                let text = response.text().await?;
                t.sentences += 1;
                if !status.is_success() || recorder.count() == before {
                    // Refused (nothing forwarded): nothing leaked, nothing to restore.
                    t.refused += 1;
                    continue;
                }
                let forwarded: Value = serde_json::from_str(&recorder.last())?;
                let forwarded = texts_of(&forwarded).join("\n");
                let answer = answer_text(&text);
                t.exact += usize::from(answer == sample.text);
                for value in sample.values() {
                    t.values += 1;
                    if leaked_in_part(value, &sample.text, &forwarded) {
                        t.leaked += 1;
                    }
                    if !forwarded.contains(value) {
                        t.replaced += 1;
                        t.restored += usize::from(answer.contains(value));
                    }
                }
            }
            let pct = |n: usize, d: usize| if d == 0 { 0.0 } else { 100.0 * n as f64 / d as f64 };
            let name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
            println!(
                "| `{name}` | {} | {} | {} ({:.1} %) | {} of {} ({:.2} %) | {} of {} ({:.1} %){} |",
                if stream { "streamed" } else { "whole" },
                t.values,
                t.leaked,
                pct(t.leaked, t.values),
                t.restored,
                t.replaced,
                pct(t.restored, t.replaced),
                t.exact,
                t.sentences,
                pct(t.exact, t.sentences),
                if t.refused > 0 { format!("; {} refused", t.refused) } else { String::new() },
            );
        }
    }
    Ok(())
}
