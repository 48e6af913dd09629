//! Structured output: what `response_format` (`json_object`, `json_schema`) and forced
//! tool calls (`tool_choice: required` or a named function) ask for, as a grammar that
//! llguidance compiles against the model's vocabulary. While a constrained sequence
//! decodes, the grammar's token mask is applied in the sampler, so the model can only
//! produce text the grammar accepts; unconstrained sequences in the same batch are not
//! affected.
//!
//! JSON is generated compact (`", "` and `": "` separators, no free whitespace): a small
//! model given free whitespace tends to fill `max_tokens` with newlines.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{SimpleVob, TokRxInfo, TokTrie, TokenizerEnv};
use llguidance::{JsonCompileOptions, Matcher, ParserFactory};
use serde_json::Value;

use crate::tokenizer::TextTokenizer;

/// Why a grammar could not be built or followed.
#[derive(Debug, thiserror::Error)]
pub enum StructuredError {
    /// The model's vocabulary cannot be described to the grammar engine.
    #[error("structured output is unavailable for this model: {0}")]
    Unavailable(String),
    /// The client's schema or grammar does not compile (a 400).
    #[error("{0}")]
    Invalid(String),
    /// The grammar engine failed while decoding.
    #[error("structured output failed: {0}")]
    Decoding(String),
}

/// The model's vocabulary as the grammar engine sees it, built once per model.
#[derive(Clone)]
pub struct GrammarCompiler {
    factory: Arc<ParserFactory>,
}

impl std::fmt::Debug for GrammarCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarCompiler").finish_non_exhaustive()
    }
}

/// The tokenizer behind the grammar engine's token trie.
struct VocabularyEnv {
    trie: TokTrie,
    tokenizer: TextTokenizer,
}

impl TokenizerEnv for VocabularyEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<u32> {
        // The engine only re-tokenizes text the grammar forces; invalid UTF-8 cannot be
        // encoded by a text tokenizer, so it is cut at the last whole character.
        let text = match std::str::from_utf8(s) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&s[..e.valid_up_to()]).unwrap_or_default(),
        };
        self.tokenizer.encode(text).unwrap_or_default()
    }
}

impl GrammarCompiler {
    /// Describes `tokenizer`'s vocabulary to the grammar engine: each token's bytes, with
    /// control tokens marked so that no grammar can spell them out as text.
    pub fn new(tokenizer: &TextTokenizer) -> Result<Self, StructuredError> {
        let vocab_size = tokenizer.vocab_size();
        let end = tokenizer
            .end_of_turn_id()
            .ok_or_else(|| StructuredError::Unavailable("the model names no end-of-generation token".into()))?;
        let words: Vec<Vec<u8>> = (0..vocab_size as u32)
            .map(|id| {
                if tokenizer.is_special(id) {
                    let mut marked = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    marked.extend(tokenizer.token_text(id).into_bytes());
                    marked
                } else {
                    tokenizer.token_bytes(id)
                }
            })
            .collect();
        let trie = TokTrie::from(&TokRxInfo::new(vocab_size as u32, end), &words);
        let env: llguidance::toktrie::TokEnv = Arc::new(VocabularyEnv { trie, tokenizer: tokenizer.clone() });
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| StructuredError::Unavailable(e.to_string()))?;
        // Grammar warnings and errors go to the client as 400s, not to stderr.
        factory.set_stderr_log_level(0);
        Ok(Self { factory: Arc::new(factory) })
    }

    /// A matcher for JSON that validates against `schema` (`{}`/`{"type": "object"}` for
    /// `json_object`).
    pub fn json(&self, schema: &Value) -> Result<Constraint, StructuredError> {
        let Value::Object(_) = schema else {
            return Err(StructuredError::Invalid("the JSON schema must be an object".into()));
        };
        let mut schema = schema.clone();
        compact_json_options().apply_to(&mut schema);
        self.compile(TopLevelGrammar::from_json_schema(schema))
    }

    /// A matcher for a Lark grammar (llguidance's dialect, `%json {…}` embeds a schema).
    pub fn lark(&self, grammar: &str) -> Result<Constraint, StructuredError> {
        self.compile(TopLevelGrammar::from_lark(grammar.to_string()))
    }

    fn compile(&self, grammar: TopLevelGrammar) -> Result<Constraint, StructuredError> {
        // llguidance reports bad input as errors, but a panic in it must not take the
        // request handler down either.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.factory.create_parser(grammar)));
        let parser = match built {
            Ok(Ok(parser)) => parser,
            Ok(Err(e)) => return Err(StructuredError::Invalid(e.to_string())),
            Err(_) => return Err(StructuredError::Invalid("the grammar engine could not compile this schema".into())),
        };
        let matcher = Matcher::new(Ok(parser));
        if let Some(error) = matcher.get_error() {
            return Err(StructuredError::Invalid(error));
        }
        Ok(Constraint { matcher })
    }
}

/// `", "` and `": "` between items, nothing else.
fn compact_json_options() -> JsonCompileOptions {
    JsonCompileOptions {
        item_separator: ", ".into(),
        key_separator: ": ".into(),
        whitespace_flexible: false,
        ..JsonCompileOptions::default()
    }
}

/// The grammar state of one constrained sequence.
pub struct Constraint {
    matcher: Matcher,
}

impl std::fmt::Debug for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Constraint").field("stopped", &self.matcher.is_stopped()).finish()
    }
}

/// The tokens a constrained sequence may sample next.
pub struct TokenMask(SimpleVob);

impl TokenMask {
    pub fn allows(&self, id: u32) -> bool {
        self.0.is_allowed(id)
    }
}

impl Constraint {
    /// The tokens the grammar allows next; the end-of-generation token once the output is
    /// complete.
    pub fn mask(&mut self) -> Result<TokenMask, StructuredError> {
        let mask = self.matcher.compute_mask_or_eos().map_err(|e| StructuredError::Decoding(e.to_string()))?;
        if mask.is_zero() {
            return Err(StructuredError::Decoding("the grammar allows no token".into()));
        }
        Ok(TokenMask(mask))
    }

    /// Advances the grammar past a sampled token.
    pub fn consume(&mut self, id: u32) -> Result<(), StructuredError> {
        self.matcher.consume_token(id).map_err(|e| StructuredError::Decoding(e.to_string()))
    }

    /// The output is complete: nothing but the end of generation may follow.
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }
}
