//! The base families the trainer knows — LLaMA (GGUF or safetensors) and GPT-2
//! (safetensors) — behind one type, so the command line, the dataset tokenization and the
//! saved adapter need not care which one they have.

use std::path::Path;

use candle_core::Device;
use netgpt_inference::chat_template::ChatTemplate;
use netgpt_inference::tokenizer::TextTokenizer;

use crate::TrainError;
use crate::base::Base;
use crate::gpt2::{Gpt2Base, Gpt2Trainable};
use crate::model::{Adapter, CompletionLoss, TrainableModel};
use crate::sites::AdapterSites;

/// A frozen base of any supported family.
pub enum TrainBase {
    Llama(Base),
    Gpt2(Gpt2Base),
}

impl TrainBase {
    /// A GGUF file (LLaMA), or a safetensors directory whose `config.json` names the family.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TrainError> {
        if path.is_dir() && Gpt2Base::is_gpt2(path) {
            return Ok(Self::Gpt2(Gpt2Base::load(path, device)?));
        }
        Ok(Self::Llama(Base::load(path, device)?))
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        match self {
            Self::Llama(b) => &b.tokenizer,
            Self::Gpt2(b) => &b.tokenizer,
        }
    }

    pub fn chat_template(&self) -> &ChatTemplate {
        match self {
            Self::Llama(b) => &b.chat_template,
            Self::Gpt2(b) => &b.chat_template,
        }
    }

    pub fn source(&self) -> &Path {
        match self {
            Self::Llama(b) => &b.source,
            Self::Gpt2(b) => &b.source,
        }
    }

    pub fn sites(&self) -> AdapterSites {
        match self {
            Self::Llama(b) => b.sites(),
            Self::Gpt2(b) => b.sites(),
        }
    }

    /// The training forward pass over this base with `adapter`, for sequences of up to
    /// `max_tokens` tokens.
    pub fn model<'a>(
        &'a self,
        adapter: &'a Adapter,
        max_tokens: usize,
        device: &Device,
    ) -> Result<Box<dyn CompletionLoss + 'a>, TrainError> {
        Ok(match self {
            Self::Llama(b) => Box::new(TrainableModel::new(b, adapter, max_tokens, device)?),
            Self::Gpt2(b) => Box::new(Gpt2Trainable::new(b, adapter, max_tokens, device)?),
        })
    }
}
