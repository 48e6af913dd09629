//! The per-site dataset: one JSON object per line (schema in `docs/adapters.md`), and its
//! conversion into token ids with a completion-only loss mask.

use std::path::Path;

use netgpt_crds::config::SiteConfig;
use netgpt_gateway::route::completion_messages;
use netgpt_inference::chat_template::{ChatMessage, ChatTemplate};
use netgpt_inference::tokenizer::TextTokenizer;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Version of the prompt a record's `messages` were built with: the gateway's
/// `promptCompletion` request. Training on one version and serving another would teach the
/// adapter a prompt it never sees.
pub const PROMPT_FORMAT: u32 = 1;

/// Which split a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Heldout,
}

/// One concise → comprehensive pair of one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub site: String,
    pub split: Split,
    /// Everyday intent of the seed (`food`, `transport`, …).
    pub intent: String,
    /// What a user types.
    pub concise: String,
    /// What the site's edge model should turn it into (the training target).
    pub comprehensive: String,
    /// The gateway's completion request for `concise` at this site (the training input).
    pub messages: Vec<Message>,
    /// The site's context terms `comprehensive` names.
    #[serde(default)]
    pub context_terms: Vec<String>,
    /// Model that wrote `comprehensive`.
    pub teacher: String,
    /// Personal values the desensitizer replaced before the record was stored.
    #[serde(default)]
    pub redacted: u32,
    pub prompt_format: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Record {
    /// The training input for `concise` at `site`, as the gateway sends it.
    pub fn messages_for(site: &SiteConfig, concise: &str) -> Vec<Message> {
        completion_messages(site, concise)
            .iter()
            .map(|m| Message {
                role: m["role"].as_str().unwrap_or_default().to_string(),
                content: m["content"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

/// Reads a JSONL dataset; a malformed line is an error naming it.
pub fn read_records(path: &Path) -> Result<Vec<Record>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
    let mut records = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line)
            .map_err(|e| TrainError::Data(format!("{}:{}: {e}", path.display(), number + 1)))?;
        if record.prompt_format != PROMPT_FORMAT {
            return Err(TrainError::Data(format!(
                "{}:{}: prompt_format {} (this version trains format {PROMPT_FORMAT}; regenerate the dataset)",
                path.display(),
                number + 1,
                record.prompt_format
            )));
        }
        records.push(record);
    }
    Ok(records)
}

/// Writes records as JSONL.
pub fn write_records(path: &Path, records: &[Record]) -> Result<(), TrainError> {
    let mut out = String::new();
    for record in records {
        out.push_str(&serde_json::to_string(record).map_err(|e| TrainError::Data(e.to_string()))?);
        out.push('\n');
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| TrainError::Data(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(path, out).map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))
}

/// A tokenized record: predict `targets[i]` from `tokens[..=positions[i]]`.
#[derive(Debug, Clone)]
pub struct Example {
    pub tokens: Vec<u32>,
    pub positions: Vec<u32>,
    pub targets: Vec<u32>,
}

/// Tokenizes a record as the server will see it: the chat template's prompt (control
/// tokens as ids, message text never parsed for them), then the completion and the
/// template's end-of-turn token, which teaches the adapter to stop.
pub fn tokenize(
    record: &Record,
    tokenizer: &TextTokenizer,
    template: &ChatTemplate,
    max_tokens: usize,
) -> Result<Option<Example>, TrainError> {
    let messages: Vec<ChatMessage> =
        record.messages.iter().map(|m| ChatMessage { role: m.role.clone(), content: m.content.clone() }).collect();
    let pieces = template.render_pieces(&messages).map_err(|e| TrainError::Data(e.to_string()))?;
    let prompt = tokenizer.encode_prompt(&pieces).map_err(|e| TrainError::Data(e.to_string()))?;
    let mut completion = tokenizer.encode(record.comprehensive.trim()).map_err(|e| TrainError::Data(e.to_string()))?;
    // The template's end of turn when the vocabulary has it; else a token the server stops
    // generating at (GPT-2 served with the ChatML fallback stops at `<|endoftext|>`).
    let end = template
        .end_of_turn()
        .and_then(|token| tokenizer.token_to_id(token))
        .or_else(|| tokenizer.end_of_generation_token())
        .ok_or_else(|| {
            TrainError::Data(format!(
                "the tokenizer has neither the chat template's end-of-turn token ({}) nor an end-of-generation \
                 token to end a completion with",
                template.end_of_turn().unwrap_or("none")
            ))
        })?;
    completion.push(end);
    if prompt.len() + completion.len() > max_tokens || prompt.is_empty() {
        return Ok(None);
    }
    let mut tokens = prompt;
    let first = tokens.len();
    tokens.extend_from_slice(&completion);
    // Position p predicts token p + 1; the last token is never an input.
    let positions: Vec<u32> = (first - 1..tokens.len() - 1).map(|p| p as u32).collect();
    let targets = completion;
    tokens.pop();
    Ok(Some(Example { tokens, positions, targets }))
}
