//! `netgpt serve`: a candle-based LLM server with an OpenAI-compatible HTTP API.
//!
//! Layout: [`tokenizer`] and [`chat_template`] turn requests into token ids; [`llama`]
//! (GGUF), [`hf_llama`] and [`gpt2`] (safetensors) run the network with one KV cache per
//! sequence ([`model`]); [`sampler`] and [`text_stream`] turn logits back into text;
//! [`engine`] batches all running sequences on one thread; [`http`] is the axum API and
//! [`server`] wires it to configuration and signals; [`model_store`] fetches the default
//! model. See `SERVING.md`.

pub mod api_error;
pub mod chat_template;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod desensitize;
pub mod engine;
pub mod gateway;
pub mod gpt2;
pub mod hf_llama;
#[cfg(feature = "cuda")]
mod hf_llama_cuda;
pub mod http;
pub mod kernels;
pub mod llama;
pub mod loader;
pub mod lora;
pub mod metrics;
pub mod model;
pub mod model_store;
pub mod openai;
pub mod sampler;
pub mod server;
pub mod text_stream;
pub mod tokenizer;

pub use model_store::{ensure_default_model, pull_model};
pub use server::{RunningServer, ServeArgs, ServeError, ServerSettings, serve, start};

/// `netgpt model …` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ModelCommand {
    /// Fetch a model into the local cache (`${NETGPT_CACHE:-~/.cache/netgpt}/models`).
    Pull {
        /// Model to fetch (known: `smollm2`, the default LLM; `pii-rampart`, the
        /// desensitizer's learned PII detector).
        #[arg(default_value = model_store::DEFAULT_MODEL_ALIAS)]
        name: String,
    },
    /// Print where a model is (or would be) cached.
    Path {
        /// Model name (known: `smollm2`, `pii-rampart`).
        #[arg(default_value = model_store::DEFAULT_MODEL_ALIAS)]
        name: String,
    },
}

/// Runs a `netgpt model …` subcommand.
pub fn run_model_command(command: ModelCommand) -> Result<(), model_store::PullError> {
    match command {
        ModelCommand::Pull { name } => {
            let path = pull_model(&name, &mut |line| eprintln!("{line}"))?;
            println!("{}", path.display());
        }
        ModelCommand::Path { name } => {
            println!("{}", model_store::model_path(&name)?.display());
        }
    }
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as JSON lines when
/// `NETGPT_LOG_FORMAT=json` (the operator's variable). Colours only on a terminal: in a
/// pod, escape codes would end up in `kubectl logs` and every log pipeline. Safe to call
/// more than once.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if std::env::var("NETGPT_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
}
