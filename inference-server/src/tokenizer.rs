//! The text tokenizer: from a GGUF file's `tokenizer.ggml.*` metadata, or from a
//! Hugging Face `tokenizer.json`.
//!
//! For GGUF, candle's own `TokenizerFromGguf` maps SmolLM2's `pre = "smollm"` to a ByteLevel
//! pre-tokenizer with `add_prefix_space = true`, which gives ids that differ from llama.cpp.
//! This builds what SmolLM2's `tokenizer.json` declares instead: BPE over
//! `tokenizer.ggml.tokens` + `tokenizer.ggml.merges`, pre-tokenizer `Digits(individual)` then
//! `ByteLevel(add_prefix_space = false)`, ByteLevel decoder, and every control (type 3) or
//! user-defined (type 4) token registered as an added token so it is matched whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use crate::chat_template::PromptPiece;

/// GGUF token type of control tokens (`<|im_start|>`, `<|endoftext|>`, …).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of user-defined tokens.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Errors building or using the tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("GGUF metadata key {0} is missing")]
    MissingKey(&'static str),
    #[error("GGUF metadata key {key} has an unexpected type: {message}")]
    BadValue { key: &'static str, message: String },
    #[error("unsupported tokenizer model {0:?} (only byte-level BPE, \"gpt2\", is supported)")]
    UnsupportedModel(String),
    /// A `tokenizer.ggml.pre` this server does not implement: tokenizing with another
    /// pre-tokenizer would give ids llama.cpp (and the model's training) never saw.
    #[error(
        "unsupported pre-tokenizer tokenizer.ggml.pre = {0:?} (implemented: \"smollm\", \"gpt-2\"); converting the model with a supported one, or serving its safetensors with tokenizer.json, avoids wrong token ids"
    )]
    UnsupportedPreTokenizer(String),
    #[error("tokenizer: {0}")]
    Tokenizers(String),
}

/// Names of end-of-text tokens across model families.
const END_OF_GENERATION_TOKENS: &[&str] = &["<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>"];

impl From<tokenizers::Error> for TokenizerError {
    fn from(error: tokenizers::Error) -> Self {
        Self::Tokenizers(error.to_string())
    }
}

/// A GGUF model's tokenizer plus the special ids generation needs.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    /// `inner` with special-token matching off: `<|im_start|>` in message text becomes
    /// the characters it is made of (Hugging Face's `split_special_tokens`). Shared: the
    /// engine and the HTTP layer each hold a clone of this struct.
    plain: Arc<Tokenizer>,
    /// Ids that end generation (`eos_token_id`, `<|endoftext|>`, `<|im_end|>`, `<|eot_id|>`).
    end_of_generation_ids: HashSet<u32>,
    /// Id prepended to every prompt when the model asks for it (`add_bos_token`).
    bos_id: Option<u32>,
    /// The chat template string as stored in the file, if any.
    chat_template: Option<String>,
    /// The BOS and EOS token strings chat templates see as `bos_token`/`eos_token`.
    bos_token: Option<String>,
    eos_token: Option<String>,
    /// Special (control) tokens, longest first: where template text may hold them.
    specials: Arc<Vec<(String, u32)>>,
    vocab_size: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("end_of_generation_ids", &self.end_of_generation_ids)
            .field("bos_id", &self.bos_id)
            .finish_non_exhaustive()
    }
}

fn string_array(content: &gguf_file::Content, key: &'static str) -> Result<Vec<String>, TokenizerError> {
    let value = content.metadata.get(key).ok_or(TokenizerError::MissingKey(key))?;
    let values = value.to_vec().map_err(|e| TokenizerError::BadValue { key, message: e.to_string() })?;
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| TokenizerError::BadValue { key, message: e.to_string() }))
        .collect()
}

fn optional_u32(content: &gguf_file::Content, key: &'static str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn token_types(content: &gguf_file::Content) -> Result<Vec<i32>, TokenizerError> {
    const KEY: &str = "tokenizer.ggml.token_type";
    let Some(value) = content.metadata.get(KEY) else {
        return Ok(Vec::new());
    };
    let values = value.to_vec().map_err(|e| TokenizerError::BadValue { key: KEY, message: e.to_string() })?;
    values
        .iter()
        .map(|v| v.to_i32().map_err(|e| TokenizerError::BadValue { key: KEY, message: e.to_string() }))
        .collect()
}

impl TextTokenizer {
    /// Builds the tokenizer from a parsed GGUF header.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self, TokenizerError> {
        let model = content
            .metadata
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or(TokenizerError::MissingKey("tokenizer.ggml.model"))?;
        if model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel(model));
        }
        // llama.cpp's pre-tokenizer types this implements: GPT-2's regex, with digits split
        // one by one first for "smollm". A missing key is llama.cpp's "default", which is
        // neither.
        let pre = content.metadata.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).cloned();
        let digits_apart = match pre.as_deref() {
            Some("smollm") => true,
            Some("gpt-2") => false,
            other => return Err(TokenizerError::UnsupportedPreTokenizer(other.unwrap_or("(missing)").to_string())),
        };
        let tokens = string_array(content, "tokenizer.ggml.tokens")?;
        let merges = string_array(content, "tokenizer.ggml.merges")?;
        let types = token_types(content)?;

        let vocab: Vocab = tokens.iter().enumerate().map(|(id, token)| (token.clone(), id as u32)).collect();
        // Byte-level merges never contain a literal space (it is mapped to `Ġ`), so the
        // first space separates the pair.
        let merges: Vec<(String, String)> = merges
            .iter()
            .filter_map(|merge| merge.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
            .collect();
        let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(TokenizerError::from)?;

        let mut inner = Tokenizer::new(bpe);
        let byte_level = PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true));
        inner.with_pre_tokenizer(Some(if digits_apart {
            PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                byte_level,
            ]))
        } else {
            byte_level
        }));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter())
            .filter(|(_, kind)| matches!(**kind, TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED))
            .map(|(token, _)| AddedToken::from(token.clone(), true))
            .collect();
        inner.add_special_tokens(special)?;

        let mut end_of_generation_ids = HashSet::new();
        if let Some(eos) = optional_u32(content, "tokenizer.ggml.eos_token_id") {
            end_of_generation_ids.insert(eos);
        }
        if let Some(eot) = optional_u32(content, "tokenizer.ggml.eot_token_id") {
            end_of_generation_ids.insert(eot);
        }
        // ChatML models end a turn with `<|im_end|>` but may also emit `<|endoftext|>`;
        // llama.cpp treats both as end of generation.
        for name in ["<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>"] {
            if let Some(id) = vocab_id(&tokens, name) {
                end_of_generation_ids.insert(id);
            }
        }

        let add_bos =
            content.metadata.get("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(false);
        let bos = optional_u32(content, "tokenizer.ggml.bos_token_id");
        let bos_id = if add_bos { bos } else { None };
        let chat_template = content.metadata.get("tokenizer.chat_template").and_then(|v| v.to_string().ok()).cloned();
        let token_string = |id: Option<u32>| id.and_then(|id| tokens.get(id as usize)).cloned();
        let (bos_token, eos_token) =
            (token_string(bos), token_string(optional_u32(content, "tokenizer.ggml.eos_token_id")));

        Ok(Self::new(inner, end_of_generation_ids, bos_id, chat_template, tokens.len())
            .with_special_token_strings(bos_token, eos_token))
    }

    /// Sets the BOS/EOS strings chat templates see (`tokenizer_config.json`'s
    /// `bos_token`/`eos_token` for safetensors models).
    pub fn with_special_token_strings(mut self, bos_token: Option<String>, eos_token: Option<String>) -> Self {
        self.bos_token = bos_token;
        self.eos_token = eos_token;
        self
    }

    /// The BOS token string, if the model has one.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The EOS token string, if the model has one.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Loads a Hugging Face `tokenizer.json` (no chat template: ChatML is the fallback).
    pub fn from_tokenizer_json(path: &std::path::Path) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_file(path)?;
        let end_of_generation_ids =
            END_OF_GENERATION_TOKENS.iter().filter_map(|name| inner.token_to_id(name)).collect();
        let vocab_size = inner.get_vocab_size(true);
        Ok(Self::new(inner, end_of_generation_ids, None, None, vocab_size))
    }

    fn new(
        inner: Tokenizer,
        end_of_generation_ids: HashSet<u32>,
        bos_id: Option<u32>,
        chat_template: Option<String>,
        vocab_size: usize,
    ) -> Self {
        let mut plain = inner.clone();
        plain.set_encode_special_tokens(true);
        let mut specials: Vec<(String, u32)> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special && !token.content.is_empty())
            .map(|(id, token)| (token.content, id))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Self {
            inner,
            plain: Arc::new(plain),
            end_of_generation_ids,
            bos_id,
            chat_template,
            bos_token: None,
            eos_token: None,
            specials: Arc::new(specials),
            vocab_size,
        }
    }

    /// Token ids of `text`; special-token text (e.g. `<|im_start|>`) maps to its single id.
    /// For raw prompts (`/v1/completions`), where the caller writes the control tokens;
    /// chat messages go through [`Self::encode_prompt`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.inner.encode(text, false)?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        ids.extend(self.bos_id);
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// Token ids of a rendered chat prompt. Special-token strings count only in the
    /// template's own text; message text is encoded with special-token matching off, so
    /// it can never produce a control token. The runs between two special tokens are
    /// encoded whole, template and message text together, which is how the tokenizer
    /// splits the joined string: for text without special-token strings the ids equal
    /// `encode(joined)` (what transformers' `apply_chat_template(tokenize=True)` gives).
    /// The model's BOS is prepended when it asks for one, unless the template wrote it.
    pub fn encode_prompt(&self, pieces: &[PromptPiece]) -> Result<Vec<u32>, TokenizerError> {
        let mut ids: Vec<u32> = Vec::new();
        let mut run = String::new();
        for piece in pieces {
            match piece {
                PromptPiece::Text(text) => run.push_str(text),
                PromptPiece::Template(text) => {
                    let mut rest = text.as_str();
                    while let Some((at, length, id)) = self.next_special(rest) {
                        run.push_str(&rest[..at]);
                        self.encode_plain(&run, &mut ids)?;
                        run.clear();
                        ids.push(id);
                        rest = &rest[at + length..];
                    }
                    run.push_str(rest);
                }
            }
        }
        self.encode_plain(&run, &mut ids)?;
        if let Some(bos) = self.bos_id
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// The leftmost special token in `text` (the longest at that position): its byte
    /// offset, length and id.
    fn next_special(&self, text: &str) -> Option<(usize, usize, u32)> {
        let mut best: Option<(usize, usize, u32)> = None;
        for (token, id) in self.specials.iter() {
            if let Some(at) = text.find(token.as_str())
                && best.is_none_or(|(best_at, best_len, _)| at < best_at || (at == best_at && token.len() > best_len))
            {
                best = Some((at, token.len(), *id));
            }
        }
        best
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), TokenizerError> {
        if !text.is_empty() {
            ids.extend_from_slice(self.plain.encode(text, false)?.get_ids());
        }
        Ok(())
    }

    /// Text of `ids`; special tokens are dropped when `skip_special` is set.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        Ok(self.inner.decode(ids, skip_special)?)
    }

    /// The raw bytes a single token stands for (byte-level BPE: each char is one byte).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        match self.inner.decode(&[id], false) {
            Ok(text) if !text.contains('\u{FFFD}') => text.into_bytes(),
            _ => self.inner.id_to_token(id).map(|token| byte_level_bytes(&token)).unwrap_or_default(),
        }
    }

    /// Text of a single token as an API shows it (lossy for partial UTF-8 sequences).
    pub fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.token_bytes(id)).into_owned()
    }

    /// Whether sampling `id` ends the generation.
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.end_of_generation_ids.contains(&id)
    }

    /// One token that ends generation (`<|endoftext|>` before `<|im_end|>`, …, else the
    /// lowest such id): what training data ends a completion with when the chat template's
    /// end-of-turn token is not in the vocabulary (the ChatML fallback on GPT-2).
    pub fn end_of_generation_token(&self) -> Option<u32> {
        END_OF_GENERATION_TOKENS
            .iter()
            .filter_map(|name| self.inner.token_to_id(name))
            .find(|id| self.end_of_generation_ids.contains(id))
            .or_else(|| self.end_of_generation_ids.iter().min().copied())
    }

    /// The template string from `tokenizer.chat_template`.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The token that ends an assistant turn: the `eos_token` when it ends generation
    /// (`<|im_end|>` for ChatML models), else the lowest end-of-generation id.
    pub fn end_of_turn_id(&self) -> Option<u32> {
        self.eos_token
            .as_deref()
            .and_then(|t| self.inner.token_to_id(t))
            .filter(|id| self.end_of_generation_ids.contains(id))
            .or_else(|| self.end_of_generation_ids.iter().min().copied())
    }

    /// Whether `id` is a control token (never part of generated text).
    pub fn is_special(&self, id: u32) -> bool {
        self.specials.iter().any(|(_, special)| *special == id)
    }

    /// Id of a token given by its exact vocabulary string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

fn vocab_id(tokens: &[String], name: &str) -> Option<u32> {
    tokens.iter().position(|t| t == name).map(|id| id as u32)
}

/// Inverse of GPT-2's bytes-to-unicode table: maps each char of a byte-level token back
/// to its byte.
fn byte_level_bytes(token: &str) -> Vec<u8> {
    let table = unicode_to_byte_table();
    token.chars().filter_map(|c| table.get(&c).copied()).collect()
}

fn unicode_to_byte_table() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from('!')..=u32::from('~')).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut table = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for byte in 0u32..=255 {
        let code = if printable.contains(&byte) {
            byte
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(c) = char::from_u32(code) {
            table.insert(c, byte as u8);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_round_trips_space_and_newline() {
        assert_eq!(byte_level_bytes("Ġ"), vec![b' ']);
        assert_eq!(byte_level_bytes("Ċ"), vec![b'\n']);
        assert_eq!(byte_level_bytes("Hi"), b"Hi".to_vec());
    }
}
