//! `netgpt serve`: a candle-based LLM server with an OpenAI-compatible HTTP API.
//!
//! Layout: [`tokenizer`] and [`chat_template`] turn requests into token ids; [`llama`]
//! (GGUF), [`hf_llama`] and [`gpt2`] (safetensors) run the network with one KV cache per
//! sequence ([`model`]); [`sampler`] and [`text_stream`] turn logits back into text;
//! [`engine`] batches all running sequences on one thread; [`http`] is the axum API and
//! [`server`] wires it to configuration and signals. The compute kernels are the
//! `netgpt-kernels` crate; logging, signals, metrics exposition and the model cache are
//! `netgpt-runtime`'s. See `SERVING.md`.

pub mod api_error;
pub mod chat_template;
pub mod engine;
pub mod gpt2;
pub mod hf_llama;
pub mod http;
pub mod llama;
pub mod loader;
pub mod lora;
pub mod metrics;
pub mod model;
pub mod openai;
pub mod output_format;
pub mod prefix_cache;
pub mod sampler;
pub mod server;
pub mod structured;
pub mod text_stream;
pub mod tokenizer;

pub use netgpt_runtime::model_store::{self, ensure_default_model, pull_model};
pub use server::{RunningServer, ServeArgs, ServeError, ServerSettings, serve, start};
