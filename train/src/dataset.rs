//! `netgpt dataset generate`: concise → comprehensive prompt pairs per site, made the way
//! the paper made them — self-instruct by a teacher model given the site's location
//! profile and seed prompts of everyday intents — then filtered, de-duplicated and
//! desensitized before anything is stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use netgpt_crds::config::SiteConfig;
use netgpt_crds::{EdgeLLM, EntityType};
use netgpt_desensitizer::Detector;
use netgpt_desensitizer::ner::NerModel;
use serde::Serialize;
use serde_json::{Value, json};

use crate::TrainError;
use crate::client::{ChatClient, LocalServer};
use crate::data::{PROMPT_FORMAT, Record, Split, write_records};
use crate::terms::{SiteTerms, context_terms, distinctive, intent_kept, key_words, named};

/// The built-in seed prompts (`train/data/seeds.yaml`).
pub const DEFAULT_SEEDS: &str = include_str!("../data/seeds.yaml");

/// `netgpt dataset generate`.
#[derive(Debug, clap::Args)]
pub struct DatasetArgs {
    /// Manifests holding the EdgeLLM whose sites get datasets (like `netgpt local -f`).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Only these sites (default: every site of every EdgeLLM in the files).
    #[arg(long)]
    pub site: Vec<String>,
    /// The teacher: an OpenAI-compatible endpoint up to `/v1` (the workflow's CloudLLM, or
    /// any other). Default: the embedded default model, served in this process.
    #[arg(long, env = "NETGPT_TEACHER_URL")]
    pub teacher_url: Option<String>,
    /// Model name asked at the teacher (default: the local server's).
    #[arg(long, env = "NETGPT_TEACHER_MODEL")]
    pub teacher_model: Option<String>,
    #[arg(long, env = "NETGPT_TEACHER_API_KEY", hide_env_values = true)]
    pub teacher_api_key: Option<String>,
    /// The base model: its tokenizer tells common words from names; the local teacher
    /// serves it. Default: the cached SmolLM2.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Seed prompts: YAML mapping intent → list of concise prompts (default: built in).
    #[arg(long)]
    pub seeds: Option<PathBuf>,
    /// Use only the first N seeds (0: all); for quick runs.
    #[arg(long, default_value_t = 0)]
    pub limit_seeds: usize,
    /// Teacher samples per seed; the filter keeps the best.
    #[arg(long, default_value_t = 6)]
    pub candidates: usize,
    /// Distinct pairs kept per seed and site.
    #[arg(long, default_value_t = 3)]
    pub pairs_per_seed: usize,
    /// Share of seeds held out for evaluation (the same seeds for every site).
    #[arg(long, default_value_t = 0.2)]
    pub heldout_fraction: f64,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Teacher requests in flight.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Output directory: `<site>.jsonl` per site and `summary.json`.
    #[arg(long)]
    pub output: PathBuf,
    /// Also write a one-line JSON summary here (a Job step's termination message).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    /// The desensitizer's learned detector for names and addresses in stored pairs: a
    /// model directory, `auto` (pulled like the default model on first use) or `off`
    /// (rules and word lists only).
    #[arg(long, env = "NETGPT_PII_MODEL", default_value = "auto")]
    pub pii_model: String,
}

/// Why a teacher sample was not kept.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Rejections {
    pub not_a_question: usize,
    pub length: usize,
    pub no_own_context: usize,
    pub other_site: usize,
    pub other_place: usize,
    pub intent_changed: usize,
    pub duplicate: usize,
    /// The rewrite holds personal data the request did not (invented by the teacher).
    pub personal_data: usize,
    pub teacher_error: usize,
}

/// Per-site outcome.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SiteSummary {
    pub site: String,
    pub terms: Vec<String>,
    pub samples: usize,
    pub kept_train: usize,
    pub kept_heldout: usize,
    pub redacted_values: u32,
    pub rejected: Rejections,
}

const QUESTION_STARTS: &[&str] = &[
    "what", "where", "which", "how", "can", "could", "is", "are", "do", "does", "when", "who", "any", "should",
    "would", "will",
];

/// The few-shot teacher prompt: places far from any site, so that no site's context leaks
/// into another's data through the examples.
fn teacher_messages(place: &str, concise: &str) -> Vec<Value> {
    let shots = [
        (
            "Prospect Park, Brooklyn, New York",
            "where to run?",
            "What are good running routes near Prospect Park in Brooklyn, New York?",
        ),
        (
            "Barclays Center, Brooklyn, New York",
            "cheap lunch",
            "Where can I find a cheap lunch near the Barclays Center in Brooklyn, New York?",
        ),
        ("Bondi Beach, Sydney", "pharmacy open now", "Which pharmacies near Bondi Beach in Sydney are open right now?"),
    ];
    let mut messages = vec![json!({"role": "system", "content":
        "You rewrite a mobile user's short request into one detailed question about the place they are at. \
         Keep exactly what the user asks for."})];
    for (p, r, a) in shots {
        messages.push(json!({"role": "user", "content": format!("Place: {p}.\nShort request: {r}")}));
        messages.push(json!({"role": "assistant", "content": a}));
    }
    messages.push(json!({"role": "user", "content": format!("Place: {place}.\nShort request: {concise}")}));
    messages
}

/// Seeds as `(intent, prompt)` in file order.
pub fn parse_seeds(text: &str) -> Result<Vec<(String, String)>, TrainError> {
    let map: BTreeMap<String, Vec<String>> =
        serde_norway::from_str(text).map_err(|e| TrainError::Data(format!("seeds: {e}")))?;
    // BTreeMap sorts intents; the order inside each intent is the file's.
    Ok(map.into_iter().flat_map(|(intent, prompts)| prompts.into_iter().map(move |p| (intent.clone(), p))).collect())
}

/// Deterministic held-out choice by seed text (FNV-1a), the same for every site.
pub fn is_heldout(seed: &str, fraction: f64) -> bool {
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % 10_000) as f64 / 10_000.0 < fraction
}

/// Sites of the EdgeLLMs in `files`.
pub fn read_sites(files: &[PathBuf]) -> Result<Vec<SiteConfig>, TrainError> {
    let mut sites = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| TrainError::Data(format!("{}: {e}", file.display())))?;
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = <Value as serde::Deserialize>::deserialize(document)
                .map_err(|e| TrainError::Data(format!("{}: {e}", file.display())))?;
            if value["kind"] != "EdgeLLM" {
                continue;
            }
            let edge: EdgeLLM = serde_json::from_value(value)
                .map_err(|e| TrainError::Data(format!("{}: EdgeLLM: {e}", file.display())))?;
            for site in edge.spec.sites {
                sites.push(SiteConfig { name: site.name, location: site.location, adapter: site.adapter });
            }
        }
    }
    if sites.is_empty() {
        return Err(TrainError::Data("no EdgeLLM sites in the given files".into()));
    }
    Ok(sites)
}

/// Context terms of every site, minus the shared ones; common words judged by `tokenizer`.
pub fn site_terms(sites: &[SiteConfig], tokenizer: &netgpt_inference::tokenizer::TextTokenizer) -> Vec<SiteTerms> {
    let is_common = |word: &str| tokenizer.encode(&format!(" {word}")).is_ok_and(|ids| ids.len() == 1);
    distinctive(
        sites
            .iter()
            .map(|s| {
                let mut terms = context_terms(&s.location, &s.name, &is_common);
                terms.extend(name_words(&terms, &is_common));
                SiteTerms { site: s.name.clone(), terms }
            })
            .collect(),
    )
}

/// The rare words of multi-word terms ("Xujiahui" of "Xujiahui Cathedral"): a text
/// that says "near Xujiahui" names the place as surely as the whole term would.
fn name_words(terms: &[String], is_common: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for term in terms.iter().filter(|t| t.contains(' ')) {
        for word in term.split_whitespace() {
            let rare = word.len() >= 4 && word.starts_with(char::is_uppercase) && !is_common(&word.to_lowercase());
            if rare && !terms.iter().chain(&words).any(|t| t.eq_ignore_ascii_case(word)) {
                words.push(word.to_string());
            }
        }
    }
    words
}

/// Loads the tokenizer of a GGUF base without its weights.
pub fn gguf_tokenizer(path: &Path) -> Result<netgpt_inference::tokenizer::TextTokenizer, TrainError> {
    let mut file = std::fs::File::open(path).map_err(|e| TrainError::Base(format!("{}: {e}", path.display())))?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut file)
        .map_err(|e| TrainError::Base(format!("{}: {e}", path.display())))?;
    netgpt_inference::tokenizer::TextTokenizer::from_gguf(&content).map_err(|e| TrainError::Base(e.to_string()))
}

/// The filter: `Ok(())` keeps the sample, `Err` says which rule it broke.
struct Filter<'a> {
    own: &'a [String],
    others: Vec<String>,
    places: Detector,
    own_places: Vec<String>,
}

impl Filter<'_> {
    fn check(&self, concise: &str, text: &str) -> Result<(), fn(&mut Rejections) -> &mut usize> {
        let words = text.split_whitespace().count();
        let first = text.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("").to_lowercase();
        if !text.ends_with('?') || !QUESTION_STARTS.contains(&first.as_str()) || text.contains('\n') {
            return Err(|r| &mut r.not_a_question);
        }
        if !(5..=40).contains(&words) {
            return Err(|r| &mut r.length);
        }
        if named(text, self.own).is_none() {
            return Err(|r| &mut r.no_own_context);
        }
        if named(text, &self.others).is_some() {
            return Err(|r| &mut r.other_site);
        }
        // Any other place the detector knows (a city, a country) is a teacher's invention.
        if let Ok(found) = self.places.detect(text) {
            let foreign = found.iter().any(|d| {
                let value = text[d.start..d.end].to_lowercase();
                !self.own_places.iter().any(|p| p.contains(&value) || value.contains(p.as_str()))
            });
            if foreign {
                return Err(|r| &mut r.other_place);
            }
        }
        if intent_kept(text, &key_words(concise)) < 0.5 {
            return Err(|r| &mut r.intent_changed);
        }
        Ok(())
    }
}

fn normalized_words(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn near_duplicate(a: &str, b: &str) -> bool {
    let (a, b) = (normalized_words(a), normalized_words(b));
    let common = a.intersection(&b).count() as f64;
    let union = a.union(&b).count().max(1) as f64;
    common / union >= 0.8
}

/// The learned PII stage for the stored pairs (see [`DatasetArgs::pii_model`]).
fn learned_detector(choice: &str) -> Result<Option<Arc<NerModel>>, TrainError> {
    let dir = match choice {
        "off" => return Ok(None),
        "auto" => netgpt_inference::pull_model(netgpt_runtime::model_store::PII_MODEL_ALIAS, &mut |line| {
            eprintln!("dataset: {line}")
        })
        .map_err(|e| TrainError::Config(format!("--pii-model auto: {e}")))?,
        dir => PathBuf::from(dir),
    };
    let model = NerModel::load(&dir).map_err(|e| TrainError::Config(format!("--pii-model {}: {e}", dir.display())))?;
    Ok(Some(Arc::new(model)))
}

/// The site's own profile, lower case: what a pair may name in clear.
fn profile_text(site: &SiteConfig) -> String {
    let loc = &site.location;
    format!("{} {} {}", site.name, loc.place_name.as_deref().unwrap_or(""), loc.context.as_deref().unwrap_or(""))
        .to_lowercase()
}

/// The desensitizer's detectors over dataset text. A site's location profile is public
/// (it is in every completion prompt of the site), so a detection that only repeats part
/// of it — "Xujiahui" read as a name, "Shanghai Jiao Tong" as a place — stays; anything
/// else is personal data and is replaced by its type, as the `redact` action writes it.
struct Scrubber {
    detector: Detector,
    profile: String,
}

impl Scrubber {
    /// The text with personal data redacted, and the types replaced (in order).
    fn scrub(&self, text: &str) -> Result<(String, Vec<EntityType>), TrainError> {
        let found = self.detector.detect(text).map_err(|e| TrainError::Data(format!("desensitizing a pair: {e:?}")))?;
        let mut out = text.to_string();
        let mut kinds = Vec::new();
        for d in found.iter().rev() {
            let value = text[d.start..d.end].trim().to_lowercase();
            if value.is_empty() || self.profile.contains(&value) {
                continue;
            }
            out.replace_range(d.start..d.end, &format!("[{}]", netgpt_desensitizer::entity::label(d.kind)));
            kinds.push(d.kind);
        }
        kinds.reverse();
        Ok((out, kinds))
    }
}

/// Runs `netgpt dataset generate`.
pub fn run(args: DatasetArgs) -> Result<(), TrainError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| TrainError::Config(format!("runtime: {e}")))?;
    runtime.block_on(generate(args))
}

async fn generate(args: DatasetArgs) -> Result<(), TrainError> {
    let mut sites = read_sites(&args.files)?;
    let model_path = crate::base_model_path(args.model.as_deref())?;
    let tokenizer = gguf_tokenizer(&model_path)?;
    let all_terms = site_terms(&sites, &tokenizer);
    if !args.site.is_empty() {
        if let Some(unknown) = args.site.iter().find(|s| !sites.iter().any(|site| &site.name == *s)) {
            return Err(TrainError::Data(format!("--site {unknown:?} is not a site of the given EdgeLLMs")));
        }
        sites.retain(|s| args.site.contains(&s.name));
    }
    let seeds_text = match &args.seeds {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?
        }
        None => DEFAULT_SEEDS.to_string(),
    };
    let mut seeds = parse_seeds(&seeds_text)?;
    if args.limit_seeds > 0 {
        seeds.truncate(args.limit_seeds);
    }
    // The teacher: the given endpoint, or the default model served here.
    let (local, client, teacher_model) = match &args.teacher_url {
        Some(url) => {
            let model = args
                .teacher_model
                .clone()
                .ok_or_else(|| TrainError::Config("--teacher-model is required with --teacher-url".into()))?;
            (None, ChatClient::new(url, args.teacher_api_key.clone())?, model)
        }
        None => {
            eprintln!("dataset: no --teacher-url; serving {} as the teacher", model_path.display());
            let local = LocalServer::start(Some(model_path.clone()), Vec::new(), args.concurrency).await?;
            let client = ChatClient::new(&local.base_url(), None)?;
            let model = args.teacher_model.clone().unwrap_or_else(|| local.model_name.clone());
            (Some(local), client, model)
        }
    };
    let learned = learned_detector(&args.pii_model)?;
    let mut summaries = Vec::new();
    for site in &sites {
        let own = all_terms.iter().find(|t| t.site == site.name).map(|t| t.terms.clone()).unwrap_or_default();
        if own.is_empty() {
            return Err(TrainError::Data(format!(
                "site {:?}: its location profile names nothing that sets it apart from the other sites",
                site.name
            )));
        }
        let others: Vec<String> =
            all_terms.iter().filter(|t| t.site != site.name).flat_map(|t| t.terms.iter().cloned()).collect();
        let mut own_places: Vec<String> = own.iter().map(|t| t.to_lowercase()).collect();
        if let Some(place) = &site.location.place_name {
            own_places.extend(place.split(',').map(|p| p.trim().to_lowercase()));
        }
        if let Some(context) = &site.location.context {
            own_places.push(context.to_lowercase());
        }
        let filter = Filter { own: &own, others, places: Detector::new(&[EntityType::Location]), own_places };
        let (records, summary) =
            generate_site(site, &own, &seeds, &filter, (&client, &teacher_model), learned.clone(), &args).await?;
        write_records(&args.output.join(format!("{}.jsonl", site.name)), &records)?;
        eprintln!(
            "dataset: {}: {} train + {} held-out pairs from {} samples",
            site.name, summary.kept_train, summary.kept_heldout, summary.samples
        );
        summaries.push(summary);
    }
    drop(local);
    let text = serde_json::to_string_pretty(&json!({"teacher": teacher_model, "sites": summaries}))
        .map_err(|e| TrainError::Output(e.to_string()))?;
    std::fs::write(args.output.join("summary.json"), &text)
        .map_err(|e| TrainError::Output(format!("{}: {e}", args.output.display())))?;
    println!("{text}");
    let total = |f: fn(&SiteSummary) -> usize| summaries.iter().map(f).sum::<usize>();
    crate::write_summary(
        args.summary_file.as_deref(),
        &json!({
            "train_pairs": total(|s| s.kept_train),
            "heldout_pairs": total(|s| s.kept_heldout),
            "samples": total(|s| s.samples),
        }),
    )
}

async fn generate_site(
    site: &SiteConfig,
    own: &[String],
    seeds: &[(String, String)],
    filter: &Filter<'_>,
    (client, teacher_model): (&ChatClient, &str),
    learned: Option<Arc<NerModel>>,
    args: &DatasetArgs,
) -> Result<(Vec<Record>, SiteSummary), TrainError> {
    let place = site.location.place_name.clone().unwrap_or_else(|| site.name.clone());
    // Sample i of seed s focuses on one context term, rotating, so the data covers them all.
    let jobs: Vec<(usize, usize, String)> = seeds
        .iter()
        .enumerate()
        .flat_map(|(s, _)| {
            let place = &place;
            (0..args.candidates).map(move |i| {
                let term = &own[(s + i) % own.len()];
                let focus = if place.to_lowercase().contains(&term.to_lowercase()) {
                    place.clone()
                } else {
                    format!("{term}, {place}")
                };
                (s, i, focus)
            })
        })
        .collect();
    let samples: Vec<(usize, Result<String, TrainError>)> = futures::stream::iter(jobs)
        .map(|(s, i, focus)| async move {
            let extra = json!({"temperature": args.temperature, "max_tokens": 60, "stop": ["\n"], "seed": i});
            (s, client.chat(teacher_model, &teacher_messages(&focus, &seeds[s].1), extra).await)
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let mut by_seed: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut summary = SiteSummary { site: site.name.clone(), terms: own.to_vec(), ..Default::default() };
    for (s, sample) in samples {
        summary.samples += 1;
        match sample {
            Ok(text) => by_seed.entry(s).or_default().push(text.trim().trim_matches('"').trim().to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "teacher request failed");
                summary.rejected.teacher_error += 1;
            }
        }
    }
    if summary.rejected.teacher_error == summary.samples {
        return Err(TrainError::Teacher(format!("every teacher request failed for site {:?}", site.name)));
    }
    let mut detector = Detector::default();
    if let Some(model) = learned {
        detector = detector.with_learned(model);
    }
    let scrubber = Scrubber { detector, profile: profile_text(site) };
    let mut records: Vec<Record> = Vec::new();
    for (s, mut texts) in by_seed {
        let (intent, concise) = &seeds[s];
        // The samples that keep most of the request first, then the shorter.
        let keys = key_words(concise);
        texts.sort_by(|a, b| {
            intent_kept(b, &keys).total_cmp(&intent_kept(a, &keys)).then(a.len().cmp(&b.len())).then(a.cmp(b))
        });
        let split = if is_heldout(concise, args.heldout_fraction) { Split::Heldout } else { Split::Train };
        let mut kept = 0;
        for text in texts {
            if kept == args.pairs_per_seed {
                break;
            }
            if let Err(counter) = filter.check(concise, &text) {
                *counter(&mut summary.rejected) += 1;
                continue;
            }
            if records.iter().any(|r| r.concise == *concise && near_duplicate(&r.comprehensive, &text)) {
                summary.rejected.duplicate += 1;
                continue;
            }
            let (concise_clean, in_request) = scrubber.scrub(concise)?;
            let (comprehensive, in_rewrite) = scrubber.scrub(&text)?;
            // Personal data the teacher made up (a name the request did not have) is a
            // bad sample, not something to teach the adapter to write, even redacted.
            if in_rewrite.iter().any(|kind| !in_request.contains(kind)) {
                summary.rejected.personal_data += 1;
                continue;
            }
            let redacted = in_request.len() as u32;
            summary.redacted_values += redacted;
            let context_terms =
                own.iter().filter(|t| named(&comprehensive, std::slice::from_ref(t)).is_some()).cloned().collect();
            records.push(Record {
                site: site.name.clone(),
                split,
                intent: intent.clone(),
                messages: Record::messages_for(site, &concise_clean),
                concise: concise_clean,
                comprehensive,
                context_terms,
                teacher: teacher_model.to_string(),
                redacted,
                prompt_format: PROMPT_FORMAT,
            });
            kept += 1;
            match split {
                Split::Train => summary.kept_train += 1,
                Split::Heldout => summary.kept_heldout += 1,
            }
        }
    }
    Ok((records, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_seeds_parse_and_split_by_seed() {
        let seeds = parse_seeds(DEFAULT_SEEDS).expect("seeds");
        assert!(seeds.len() >= 50);
        let intents: std::collections::BTreeSet<_> = seeds.iter().map(|(i, _)| i.as_str()).collect();
        for intent in ["food", "transport", "sights", "shopping", "services", "events", "emergencies"] {
            assert!(intents.contains(intent), "{intent}");
        }
        let heldout = seeds.iter().filter(|(_, p)| is_heldout(p, 0.2)).count();
        assert!((5..=20).contains(&heldout), "{heldout} held out");
        assert!(seeds.iter().all(|(_, p)| is_heldout(p, 0.2) == is_heldout(p, 0.2)));
    }

    #[test]
    fn near_duplicates_are_word_sets_that_mostly_agree() {
        assert!(near_duplicate("Where is a pharmacy near Lujiazui?", "Where is a pharmacy near Lujiazui"));
        assert!(!near_duplicate("Where is a pharmacy near Lujiazui?", "Which bus goes to the airport from Lujiazui?"));
    }
}
