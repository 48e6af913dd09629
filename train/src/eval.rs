//! `netgpt eval completion`: what a site's adapter changes, against the template, on
//! prompts it was not trained on — each site's held-out split and an independent prompt
//! list that is in no split. The completions are the gateway's `promptCompletion` step
//! exactly (same messages, greedy, same stop), read *before* the gateway's fallback
//! appends "(I am in <place>.)", so a site is named only when the model named it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use futures::StreamExt;
use netgpt_crds::config::SiteConfig;
use serde::Serialize;
use serde_json::json;

use crate::TrainError;
use crate::client::{ChatClient, LocalServer};
use crate::data::{Split, read_records};
use crate::dataset::{gguf_tokenizer, read_sites, site_terms};
use crate::terms::{intent_kept, key_words, named};

/// The independent evaluation prompts (`train/data/eval_prompts.txt`), written apart
/// from the seeds.
pub const DEFAULT_PROMPTS: &str = include_str!("../data/eval_prompts.txt");

/// `netgpt eval completion`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Manifests holding the EdgeLLM and its sites.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Dataset directory (`<site>.jsonl`): its held-out split is evaluated.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Trained adapters, `SITE=DIR` (PEFT directories); each is compared with the template.
    #[arg(long = "adapter", value_name = "SITE=DIR")]
    pub adapters: Vec<String>,
    /// Prompts in no split, one per line (default: built in).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// The base model (default: the cached SmolLM2), served in this process.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Also write the table and every completion as JSON here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Only these sites (default: every site).
    #[arg(long)]
    pub site: Vec<String>,
    /// Also write a one-line JSON summary here (a Job step's termination message): the
    /// share of completions naming the site, trained and template, on the held-out split
    /// (the no-split prompts when there is none).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub site: String,
    pub prompts: &'static str,
    pub variant: &'static str,
    pub n: usize,
    /// Share of completions naming one of the site's own distinctive terms.
    pub own_context: f64,
    /// Share naming another site's.
    pub other_site: f64,
    /// Mean share of the concise prompt's key words kept.
    pub intent_kept: f64,
    pub mean_words: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub site: String,
    pub variant: &'static str,
    pub prompt: String,
    pub completion: String,
}

/// The gateway's completion text without its fallback: the model's own words.
pub fn model_words(raw: &str) -> String {
    let text = raw.trim();
    text.strip_prefix("Detailed question:").unwrap_or(text).trim().to_string()
}

pub fn run(args: EvalArgs) -> Result<(), TrainError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| TrainError::Config(format!("runtime: {e}")))?;
    runtime.block_on(evaluate(args))
}

async fn evaluate(args: EvalArgs) -> Result<(), TrainError> {
    let sites = read_sites(&args.files)?;
    let model_path = crate::base_model_path(args.model.as_deref())?;
    let terms = site_terms(&sites, &gguf_tokenizer(&model_path)?);
    if let Some(unknown) = args.site.iter().find(|s| !sites.iter().any(|site| &site.name == *s)) {
        return Err(TrainError::Config(format!("--site {unknown:?} is not a site of the given EdgeLLMs")));
    }
    for t in &terms {
        eprintln!("eval: site {} is named by: {}", t.site, t.terms.join(", "));
    }
    let mut adapters = Vec::new();
    for spec in &args.adapters {
        let Some((site, dir)) = spec.split_once('=') else {
            return Err(TrainError::Config(format!("--adapter {spec:?}: expected SITE=DIR")));
        };
        if !sites.iter().any(|s| s.name == site) {
            return Err(TrainError::Config(format!("--adapter {spec:?}: no site {site:?} in the EdgeLLMs")));
        }
        adapters.push((format!("site-{site}"), PathBuf::from(dir)));
    }
    let no_split: Vec<String> = match &args.prompts {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?
        }
        None => DEFAULT_PROMPTS.to_string(),
    }
    .lines()
    .map(str::trim)
    .filter(|l| !l.is_empty())
    .map(str::to_string)
    .collect();
    let local = LocalServer::start(Some(model_path), adapters.clone(), args.concurrency).await?;
    let client = ChatClient::new(&local.base_url(), None)?;
    let mut rows = Vec::new();
    let mut completions = Vec::new();
    for site in sites.iter().filter(|s| args.site.is_empty() || args.site.contains(&s.name)) {
        let own = terms.iter().find(|t| t.site == site.name).map(|t| t.terms.clone()).unwrap_or_default();
        let others: Vec<String> =
            terms.iter().filter(|t| t.site != site.name).flat_map(|t| t.terms.iter().cloned()).collect();
        let mut sets: Vec<(&'static str, Vec<String>)> = Vec::new();
        if let Some(dir) = &args.data {
            let path = dir.join(format!("{}.jsonl", site.name));
            if path.exists() {
                let heldout: BTreeSet<String> =
                    read_records(&path)?.into_iter().filter(|r| r.split == Split::Heldout).map(|r| r.concise).collect();
                sets.push(("held-out", heldout.into_iter().collect()));
            }
        }
        sets.push(("no-split", no_split.clone()));
        let adapter = adapters.iter().find(|(name, _)| *name == format!("site-{}", site.name)).map(|(n, _)| n.clone());
        let mut variants: Vec<(&'static str, String)> = vec![("template", local.model_name.clone())];
        if let Some(name) = adapter {
            variants.push(("trained", name));
        }
        for (set, prompts) in &sets {
            for (variant, model) in &variants {
                let answers = complete_all(&client, model, site, prompts, args.concurrency).await?;
                let n = answers.len();
                let mut row = Row {
                    site: site.name.clone(),
                    prompts: set,
                    variant,
                    n,
                    own_context: 0.0,
                    other_site: 0.0,
                    intent_kept: 0.0,
                    mean_words: 0.0,
                };
                for (prompt, answer) in answers {
                    let text = model_words(&answer);
                    row.own_context += f64::from(u8::from(named(&text, &own).is_some()));
                    row.other_site += f64::from(u8::from(named(&text, &others).is_some()));
                    row.intent_kept += intent_kept(&text, &key_words(&prompt));
                    row.mean_words += text.split_whitespace().count() as f64;
                    completions.push(Completion { site: site.name.clone(), variant, prompt, completion: text });
                }
                let n = n.max(1) as f64;
                row.own_context /= n;
                row.other_site /= n;
                row.intent_kept /= n;
                row.mean_words /= n;
                rows.push(row);
            }
        }
    }
    drop(local);
    println!("| site | prompts | variant | n | names own context | names another site | intent kept | words |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1} % | {:.1} % | {:.2} | {:.1} |",
            r.site,
            r.prompts,
            r.variant,
            r.n,
            100.0 * r.own_context,
            100.0 * r.other_site,
            r.intent_kept,
            r.mean_words
        );
    }
    // The held-out split when there is one, else the no-split prompts.
    let set = if rows.iter().any(|r| r.prompts == "held-out") { "held-out" } else { "no-split" };
    let share = |variant: &str| {
        let chosen = rows.iter().filter(|r| r.variant == variant && r.prompts == set);
        let (weighted, n) = chosen.fold((0.0, 0), |(w, n), r| (w + r.own_context * r.n as f64, n + r.n));
        (n > 0).then(|| weighted / n as f64)
    };
    crate::write_summary(
        args.summary_file.as_deref(),
        &json!({"own_context_share": share("trained"), "template_own_context_share": share("template")}),
    )?;
    if let Some(path) = &args.output {
        let text = serde_json::to_string_pretty(&json!({"rows": rows, "completions": completions}))
            .map_err(|e| TrainError::Output(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// The gateway's `promptCompletion` request for each prompt (same messages, greedy, one
/// line): `(prompt, completion)` in prompt order.
async fn complete_all(
    client: &ChatClient,
    model: &str,
    site: &SiteConfig,
    prompts: &[String],
    concurrency: usize,
) -> Result<Vec<(String, String)>, TrainError> {
    let results: Vec<(usize, Result<String, TrainError>)> = futures::stream::iter(prompts.iter().enumerate())
        .map(|(i, prompt)| async move {
            let messages = netgpt_gateway::route::completion_messages(site, prompt);
            let extra = json!({"temperature": 0.0, "max_tokens": 96, "stop": ["\n"]});
            (i, client.chat(model, &messages, extra).await)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut ordered = vec![None; prompts.len()];
    for (i, result) in results {
        ordered[i] = Some(result?);
    }
    Ok(prompts.iter().cloned().zip(ordered.into_iter().map(Option::unwrap_or_default)).collect())
}
