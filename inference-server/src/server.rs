//! `netgpt serve`: settings from the serving config and flags, start-up, graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use netgpt_crds::common::{Architecture, ModelFormat, ServingDType, ServingDevice};
use netgpt_crds::config::ServingConfig;
use netgpt_runtime::{GracefulServer, termination_signal};
use tokio::sync::watch;

use crate::engine::{EngineLimits, start_engine};
use crate::http::{AppState, ServedModel, router};
use crate::loader::{DeviceSpec, LoadError, LoadOptions, ModelSource, WeightDType, load, log_cpu_features};
use crate::lora::{AdapterOptions, AdapterRegistry, AdminAccess, AdminToken, ConfigAdapters};
use crate::metrics::Metrics;
use crate::structured::GrammarCompiler;
use netgpt_runtime::model_store::{self, DEFAULT_MODEL_FILE};

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_MAX_RUNNING: usize = 4;
const DEFAULT_MAX_QUEUED: usize = 32;
const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Enough for a few dozen cached prompts of a small edge model, or two of a 7B on a GPU.
pub const DEFAULT_PREFIX_CACHE_MIB: usize = 256;
const DEFAULT_STEP_TOKEN_BUDGET: usize = 256;
/// The kubelet refreshes a mounted ConfigMap within about a minute; polling every few
/// seconds adds little to that and needs no file-notification machinery (inotify events
/// on the kubelet's symlink swap are easy to miss).
const DEFAULT_CONFIG_POLL_SECONDS: u64 = 5;

/// Options of `netgpt serve`. Flags override values from `--config`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Serving configuration file (`ServingConfig`, as the operator renders it).
    #[arg(long, value_name = "FILE", env = "NETGPT_SERVING_CONFIG")]
    pub config: Option<PathBuf>,
    /// Model: a LLaMA-family GGUF file, or a GPT-2 safetensors directory. Defaults to the
    /// cached SmolLM2 (`netgpt model pull smollm2`).
    #[arg(long, value_name = "PATH", env = "NETGPT_MODEL")]
    pub model: Option<PathBuf>,
    /// `tokenizer.json` of a safetensors model (default: inside its directory).
    #[arg(long, value_name = "FILE", env = "NETGPT_TOKENIZER")]
    pub tokenizer: Option<PathBuf>,
    /// Name the API serves the model under (as vLLM's flag).
    #[arg(long, value_name = "NAME", env = "NETGPT_SERVED_MODEL_NAME")]
    pub served_model_name: Option<String>,
    /// Address to listen on, `HOST:PORT` (default `0.0.0.0:8000`), as every NetGPT
    /// subcommand spells it.
    #[arg(long, value_name = "ADDR", env = "NETGPT_LISTEN", conflicts_with_all = ["host", "port"])]
    pub listen: Option<SocketAddr>,
    /// Host to listen on, for users of vLLM's and llama.cpp's `--host` (default 0.0.0.0).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on, for users of vLLM's and llama.cpp's `--port` (default 8000).
    #[arg(long)]
    pub port: Option<u16>,
    /// Bearer token every `/v1/…` request must carry (vLLM's `--api-key`); `/health`,
    /// `/ready` and `/metrics` stay open for probes and scrapers. Unset: no check.
    #[arg(long, env = "NETGPT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Compute threads for the model (default: the cores available).
    #[arg(long, env = "NETGPT_THREADS")]
    pub threads: Option<usize>,
    /// Maximum tokens of prompt plus completion (default: the model's own). vLLM's name
    /// `--max-model-len` works too.
    #[arg(long, visible_alias = "max-model-len", env = "NETGPT_CONTEXT_LENGTH")]
    pub context_length: Option<usize>,
    /// Upper bound on `max_tokens`.
    #[arg(long, env = "NETGPT_MAX_NEW_TOKENS")]
    pub max_new_tokens: Option<usize>,
    /// Sequences generated at once (vLLM: `--max-num-seqs`; llama.cpp: `--parallel`).
    #[arg(long, visible_alias = "max-num-seqs", visible_alias = "parallel", env = "NETGPT_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<usize>,
    /// Requests that may wait for a slot; beyond this the server answers 429.
    #[arg(long, env = "NETGPT_MAX_QUEUED_REQUESTS")]
    pub max_queued_requests: Option<usize>,
    /// Largest request body accepted (bytes); larger ones get 413.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES, env = "NETGPT_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// Prompt and decode tokens processed per engine step (bounds how long one long
    /// prompt can pause the other sequences).
    #[arg(long, default_value_t = DEFAULT_STEP_TOKEN_BUDGET)]
    pub step_token_budget: usize,
    /// Memory (MiB) for the caches of finished prompts: a new prompt that starts like one
    /// of them reuses its keys and values instead of re-encoding the shared start (the
    /// gateway's per-site completion instructions). 0 turns reuse off. Default 256.
    #[arg(long, value_name = "MIB", env = "NETGPT_PREFIX_CACHE_MIB")]
    pub prefix_cache_mib: Option<usize>,
    /// Keep GGUF weights in the file's own quantization. By default Q5_0/Q5_1 weights,
    /// which have no SIMD kernels, are re-quantized to Q8_0 at load (several times
    /// faster on CPU at a small numerical cost).
    #[arg(long)]
    pub keep_quantization: bool,
    /// Log each request's rendered prompt (target `netgpt::requests`); also set by the
    /// serving configuration's `limits.logRequests`.
    #[arg(long)]
    pub log_requests: bool,
    /// Where the model runs: cpu, cuda or cuda:N (CUDA: LLaMA safetensors checkpoints, in
    /// a build with the `cuda` feature; see docs/gpu.md). Default: the configuration
    /// file's `limits.device` (which the operator resolves), else cpu.
    #[arg(long, env = "NETGPT_DEVICE")]
    pub device: Option<DeviceSpec>,
    /// Weight type of safetensors checkpoints (default: f32 on cpu, f16 on cuda).
    #[arg(long, value_enum, env = "NETGPT_DTYPE")]
    pub dtype: Option<WeightDType>,
    /// Chat template replacing the model's own: a file holding a Jinja template, or the
    /// template itself (as vLLM's and llama.cpp's `--chat-template`). Default: the
    /// configuration file's `limits.chatTemplate`, else the model's own, else ChatML.
    #[arg(long, value_name = "FILE|TEMPLATE", env = "NETGPT_CHAT_TEMPLATE")]
    pub chat_template: Option<String>,
    /// Seconds between reporting not-ready and closing the listener on SIGTERM, so load
    /// balancers stop sending traffic first.
    #[arg(long, default_value_t = 0, env = "NETGPT_SHUTDOWN_DELAY_SECONDS")]
    pub shutdown_delay_seconds: u64,
    /// LoRA adapter to load before reporting ready, `NAME=DIR` (PEFT layout); repeatable,
    /// added to the config file's `adapters`.
    #[arg(long = "lora", value_name = "NAME=DIR")]
    pub lora: Vec<String>,
    /// Directory `POST /v1/adapters` may load adapters from (unset: API loads refused).
    #[arg(long, value_name = "DIR", env = "NETGPT_ADAPTER_DIR")]
    pub adapter_dir: Option<PathBuf>,
    /// Most adapters loaded at once.
    #[arg(long, env = "NETGPT_MAX_ADAPTERS")]
    pub max_adapters: Option<usize>,
    /// Highest adapter rank accepted.
    #[arg(long, env = "NETGPT_MAX_ADAPTER_RANK")]
    pub max_adapter_rank: Option<usize>,
    /// Memory all loaded adapters may take together (bytes).
    #[arg(long, env = "NETGPT_MAX_ADAPTER_BYTES")]
    pub max_adapter_bytes: Option<u64>,
    /// Type of the adapters' matrices on the CPU (a CUDA model keeps them in its own half
    /// type): f16 reads half the bytes per decode step; f32 keeps them exactly as loaded.
    #[arg(long, value_enum, default_value_t = crate::lora::HostPrecision::default(), env = "NETGPT_LORA_DTYPE")]
    pub lora_dtype: crate::lora::HostPrecision,
    /// Seconds between checks of `--config` for a changed `adapters` list (0: never).
    #[arg(long, default_value_t = DEFAULT_CONFIG_POLL_SECONDS, env = "NETGPT_CONFIG_POLL_SECONDS")]
    pub config_poll_seconds: u64,
    /// Bearer token `POST`/`DELETE /v1/adapters` and vLLM's load/unload routes require.
    /// Unset (and no --admin-token-file): those routes answer loopback clients only.
    #[arg(long, env = "NETGPT_ADMIN_TOKEN", hide_env_values = true, conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// File holding the admin token (e.g. a mounted Secret), read once at start.
    #[arg(long, value_name = "FILE", env = "NETGPT_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reading {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "no model given and the default model is not cached at {0}; run `netgpt model pull smollm2` or pass --model"
    )]
    NoModel(PathBuf),
    #[error(transparent)]
    Pull(#[from] model_store::PullError),
    #[error("--api-key must not be empty")]
    ApiKey,
    #[error("invalid listen address {0}")]
    Address(String),
    #[error("{action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("loading the model: {0}")]
    Load(String),
    #[error("admin token: {0}")]
    AdminToken(String),
}

/// Everything the server needs, after merging the config file and flags.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub model: ModelSource,
    pub model_name: String,
    pub listen: SocketAddr,
    pub threads: usize,
    pub context_length: Option<usize>,
    pub max_new_tokens: Option<usize>,
    pub max_running: usize,
    pub max_queued: usize,
    pub max_body_bytes: usize,
    pub step_token_budget: usize,
    /// See [`ServeArgs::prefix_cache_mib`], in bytes.
    pub prefix_cache_bytes: usize,
    pub shutdown_delay: Duration,
    /// Log each request's prompt (see [`ServeArgs::log_requests`]).
    pub log_requests: bool,
    /// See [`ServeArgs::keep_quantization`] (inverted).
    pub requantize: bool,
    /// See [`ServeArgs::device`].
    pub device: DeviceSpec,
    /// See [`ServeArgs::dtype`].
    pub dtype: Option<WeightDType>,
    /// Adapters (name, PEFT directory) loaded before the server reports ready.
    pub adapters: Vec<(String, PathBuf)>,
    /// Where `POST /v1/adapters` may load from.
    pub adapter_dir: Option<PathBuf>,
    pub adapter_options: AdapterOptions,
    /// The configuration file whose `adapters` are re-applied when it changes.
    pub config_path: Option<PathBuf>,
    /// The first `config_adapters` entries of `adapters` came from that file (the rest
    /// from `--lora`, which a changed file never removes).
    pub config_adapters: usize,
    /// How often the file is checked (zero: never).
    pub config_poll: Duration,
    /// Who may load and unload adapters over HTTP.
    pub admin: AdminAccess,
    /// The bearer token `/v1/…` requests must carry (`--api-key`).
    pub api_key: Option<AdminToken>,
    /// A chat template replacing the model's own.
    pub chat_template: Option<String>,
}

fn positive(value: Option<i32>) -> Option<usize> {
    value.and_then(|v| usize::try_from(v).ok())
}

impl ServerSettings {
    /// Settings for `model_path` with defaults everywhere else, listening on
    /// `127.0.0.1:0` (tests, embedding).
    pub fn for_model(model_path: PathBuf) -> Self {
        Self {
            model_name: model_name_from_path(&model_path),
            model: ModelSource::from_path(&model_path, None),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: available_cores(),
            context_length: None,
            max_new_tokens: None,
            max_running: DEFAULT_MAX_RUNNING,
            max_queued: DEFAULT_MAX_QUEUED,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            log_requests: false,
            step_token_budget: DEFAULT_STEP_TOKEN_BUDGET,
            prefix_cache_bytes: DEFAULT_PREFIX_CACHE_MIB << 20,
            shutdown_delay: Duration::ZERO,
            requantize: true,
            device: DeviceSpec::Cpu,
            dtype: None,
            adapters: Vec::new(),
            adapter_dir: None,
            adapter_options: AdapterOptions::default(),
            config_path: None,
            config_adapters: 0,
            config_poll: Duration::from_secs(DEFAULT_CONFIG_POLL_SECONDS),
            admin: AdminAccess::LoopbackOnly,
            api_key: None,
            chat_template: None,
        }
    }

    /// Merges `--config` (if any) and the flags.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ServeError> {
        let config = match &args.config {
            Some(path) => Some(read_config(path)?),
            None => None,
        };
        let limits = config.as_ref().map(|c| c.limits.clone()).unwrap_or_default();
        let model = match (&args.model, &config) {
            (Some(path), _) => ModelSource::from_path(path, args.tokenizer.clone()),
            (None, Some(config)) => source_from_config(config, args.tokenizer.clone())?,
            (None, None) => {
                let path = model_store::default_model_path()?;
                if !path.is_file() {
                    return Err(ServeError::NoModel(path));
                }
                ModelSource::LlamaGguf(path)
            }
        };
        let model_name = args
            .served_model_name
            .clone()
            .or_else(|| config.as_ref().map(|c| c.model.name.clone()))
            .unwrap_or_else(|| model_name_from_path(model.path()));
        let mut adapters: Vec<(String, PathBuf)> =
            config.iter().flat_map(|c| c.adapters.iter().map(|a| (a.name.clone(), PathBuf::from(&a.path)))).collect();
        let config_adapters = adapters.len();
        for spec in &args.lora {
            let Some((name, dir)) = spec.split_once('=') else {
                return Err(ServeError::Unsupported(format!("--lora {spec:?}: expected NAME=DIR")));
            };
            adapters.push((name.to_string(), PathBuf::from(dir)));
        }
        let defaults = AdapterOptions::default();
        let adapter_options = AdapterOptions {
            max_adapters: args.max_adapters.unwrap_or(defaults.max_adapters),
            max_rank: args.max_adapter_rank.unwrap_or(defaults.max_rank),
            max_bytes: args.max_adapter_bytes.unwrap_or(defaults.max_bytes),
            host_precision: args.lora_dtype,
        };
        let listen = match args.listen {
            Some(listen) => listen,
            None => {
                let host = args.host.as_deref().unwrap_or("0.0.0.0");
                let listen = format!("{host}:{}", args.port.unwrap_or(DEFAULT_PORT));
                listen.parse().map_err(|_| ServeError::Address(listen.clone()))?
            }
        };
        Ok(Self {
            model,
            model_name,
            listen,
            threads: args.threads.filter(|t| *t > 0).unwrap_or_else(available_cores),
            context_length: args.context_length.or(positive(limits.context_length)),
            max_new_tokens: args.max_new_tokens.or(positive(limits.max_new_tokens)),
            max_running: args
                .max_concurrent_requests
                .or(positive(limits.max_concurrent_requests))
                .unwrap_or(DEFAULT_MAX_RUNNING)
                .max(1),
            max_queued: args.max_queued_requests.or(positive(limits.max_queued_requests)).unwrap_or(DEFAULT_MAX_QUEUED),
            max_body_bytes: args.max_body_bytes,
            log_requests: args.log_requests || limits.log_requests.unwrap_or(false),
            step_token_budget: args.step_token_budget.max(1),
            prefix_cache_bytes: args.prefix_cache_mib.unwrap_or(DEFAULT_PREFIX_CACHE_MIB).saturating_mul(1 << 20),
            shutdown_delay: Duration::from_secs(args.shutdown_delay_seconds),
            requantize: !args.keep_quantization,
            device: args.device.unwrap_or(match limits.device {
                Some(ServingDevice::Cuda) => DeviceSpec::Cuda(0),
                Some(ServingDevice::Cpu | ServingDevice::Auto) | None => DeviceSpec::Cpu,
            }),
            dtype: args.dtype.or(match limits.dtype {
                Some(ServingDType::F16) => Some(WeightDType::F16),
                Some(ServingDType::Bf16) => Some(WeightDType::Bf16),
                Some(ServingDType::F32) => Some(WeightDType::F32),
                Some(ServingDType::Auto) | None => None,
            }),
            adapters,
            adapter_dir: args.adapter_dir.clone(),
            adapter_options,
            config_path: args.config.clone(),
            config_adapters,
            config_poll: Duration::from_secs(args.config_poll_seconds),
            admin: admin_access(args)?,
            chat_template: match &args.chat_template {
                // A readable file is the template's file; anything else is the template.
                Some(value) => Some(std::fs::read_to_string(value).unwrap_or_else(|_| value.clone())),
                None => limits.chat_template.clone(),
            },
            // An empty key (`NETGPT_API_KEY=`) is a mistake, not "no auth".
            api_key: args
                .api_key
                .as_deref()
                .map(|key| AdminToken::new(key).map_err(|_| ServeError::ApiKey))
                .transpose()?,
        })
    }
}

/// The admin rule from `--admin-token` or `--admin-token-file` (clap refuses both).
fn admin_access(args: &ServeArgs) -> Result<AdminAccess, ServeError> {
    let token = match (&args.admin_token, &args.admin_token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| ServeError::AdminToken(format!("reading {}: {e}", path.display())))?,
        (None, None) => return Ok(AdminAccess::LoopbackOnly),
    };
    // An empty token (a blank file, `NETGPT_ADMIN_TOKEN=`) is a mistake, not "no auth".
    let token = AdminToken::new(&token).map_err(|e| ServeError::AdminToken(e.to_string()))?;
    Ok(AdminAccess::Token(token))
}

fn read_config(path: &PathBuf) -> Result<ServingConfig, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::ReadConfig { path: path.clone(), source })?;
    let config = ServingConfig::from_yaml(&text)
        .map_err(|e| ServeError::InvalidConfig { path: path.clone(), message: e.to_string() })?;
    Ok(config)
}

/// The model files a serving configuration names.
fn source_from_config(config: &ServingConfig, tokenizer_flag: Option<PathBuf>) -> Result<ModelSource, ServeError> {
    let dir = PathBuf::from(&config.model.path);
    let tokenizer = tokenizer_flag.or_else(|| config.model.tokenizer_path.as_ref().map(PathBuf::from));
    Ok(match (config.model.architecture, config.model.format) {
        (Architecture::Llama, ModelFormat::Gguf) => ModelSource::LlamaGguf(dir),
        (Architecture::Llama, ModelFormat::Safetensors) => ModelSource::LlamaSafetensors { dir, tokenizer },
        (Architecture::Gpt2, ModelFormat::Safetensors) => ModelSource::Gpt2Safetensors { dir, tokenizer },
        (Architecture::Gpt2, ModelFormat::Gguf) => {
            return Err(ServeError::Unsupported(format!(
                "model {:?}: GPT-2 is served from safetensors only",
                config.model.name
            )));
        }
    })
}

fn model_name_from_path(path: &std::path::Path) -> String {
    if path.file_name().is_some_and(|n| n == DEFAULT_MODEL_FILE) {
        return "smollm2".to_string();
    }
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".to_string())
}

/// Cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

static THREADS_CONFIGURED: OnceLock<usize> = OnceLock::new();

/// Sizes candle's thread pool. Must run before the first tensor operation; later calls
/// keep the first value. Without the variables set, candle re-reads the CPU topology on
/// every matmul (measured: −15 % decode speed).
pub fn configure_threads(threads: usize) -> usize {
    *THREADS_CONFIGURED.get_or_init(|| {
        let value = threads.max(1).to_string();
        // SAFETY: called once, before the engine thread and candle's pools exist, from
        // start-up code; no other thread of this process reads the environment here.
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", &value);
            std::env::set_var("CANDLE_NUM_THREADS", &value);
        }
        threads.max(1)
    })
}

/// A server started by [`start`].
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    state: Arc<AppState>,
    http: GracefulServer,
    load_result: watch::Receiver<Option<Result<(), String>>>,
    shutdown_delay: Duration,
}

impl RunningServer {
    /// Waits until the model has loaded (or failed to).
    pub async fn wait_loaded(&mut self) -> Result<(), ServeError> {
        let result = self
            .load_result
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ServeError::Load("the loader task ended".into()))?
            .clone();
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(message)) => Err(ServeError::Load(message)),
            None => Err(ServeError::Load("the loader task ended".into())),
        }
    }

    /// Whether `/ready` reports ready.
    pub fn is_ready(&self) -> bool {
        self.state.is_ready()
    }

    /// Graceful shutdown: report not-ready, wait the drain delay, stop accepting
    /// connections and wait for in-flight requests (streams included) to finish.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.http
            .drain(&self.state.shutting_down, self.shutdown_delay)
            .await
            .map_err(|source| ServeError::Io { action: "serving HTTP", source })
    }
}

/// Binds the listener, starts serving probes at once and loads the model in the
/// background; generation endpoints answer 503 until it is loaded.
pub async fn start(settings: ServerSettings) -> Result<RunningServer, ServeError> {
    configure_threads(settings.threads);
    let metrics = Metrics::new()?;
    let state = Arc::new(AppState {
        model_name: settings.model_name.clone(),
        model: OnceLock::new(),
        shutting_down: Default::default(),
        metrics: metrics.clone(),
        max_new_tokens: settings.max_new_tokens,
        max_body_bytes: settings.max_body_bytes,
        log_requests: settings.log_requests,
        created: netgpt_runtime::unix_seconds(),
        adapters: AdapterRegistry::new(
            settings.model_name.clone(),
            settings.adapter_options,
            settings.adapter_dir.clone(),
            metrics.clone(),
        ),
        admin: settings.admin.clone(),
        api_key: settings.api_key.clone(),
    });
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| ServeError::Io { action: "binding the listener", source })?;
    let addr =
        listener.local_addr().map_err(|source| ServeError::Io { action: "reading the bound address", source })?;
    tracing::info!(%addr, model = %settings.model.path().display(), "listening");

    let (load_tx, load_rx) = watch::channel(None);
    let loader_state = state.clone();
    let loader_settings = settings.clone();
    tokio::task::spawn_blocking(move || {
        let result = load_into(&loader_state, &loader_settings).map_err(|e| e.to_string());
        if let Err(message) = &result {
            tracing::error!(%message, "model load failed");
        }
        let _ = load_tx.send(Some(result));
    });

    if let Some(path) = settings.config_path.clone()
        && !settings.config_poll.is_zero()
    {
        let configured = settings.adapters[..settings.config_adapters.min(settings.adapters.len())].to_vec();
        tokio::spawn(watch_config_adapters(state.clone(), load_rx.clone(), path, configured, settings.config_poll));
    }

    let http = GracefulServer::spawn(listener, router(state.clone()));
    Ok(RunningServer { addr, state, http, load_result: load_rx, shutdown_delay: settings.shutdown_delay })
}

fn load_into(state: &AppState, settings: &ServerSettings) -> Result<(), LoadError> {
    log_cpu_features();
    let loaded = load(
        &settings.model,
        LoadOptions {
            context_limit: settings.context_length,
            requantize: settings.requantize,
            device: settings.device,
            dtype: settings.dtype,
            chat_template: settings.chat_template.clone(),
        },
    )?;
    state.metrics.model_load_duration.set(loaded.load_duration.as_secs_f64());
    // Where it runs is the first thing to check in `kubectl logs` of a GPU pod.
    tracing::info!(
        seconds = loaded.load_duration.as_secs_f64(),
        context_length = loaded.context_length,
        device = %settings.device,
        "model loaded"
    );
    state.adapters.set_layout(loaded.model.lora_layout(), &settings.model_name);
    // Before the model is published: `/ready` must never report a server that lacks an
    // adapter its configuration names.
    for (name, dir) in &settings.adapters {
        state.adapters.load_configured(name, dir)?;
    }
    let (engine, _thread) = start_engine(
        loaded.model,
        loaded.tokenizer.clone(),
        EngineLimits {
            max_running: settings.max_running,
            max_queued: settings.max_queued,
            step_token_budget: settings.step_token_budget,
            context_length: loaded.context_length,
            prefix_cache_bytes: settings.prefix_cache_bytes,
        },
        state.metrics.clone(),
    )
    .map_err(|e| LoadError::Unsupported(format!("starting the engine thread: {e}")))?;
    // The engine thread ends by itself once the last handle (held by the state) is gone.
    // The vocabulary as the grammar engine sees it, for structured output; a model it
    // cannot describe still serves text (structured requests then get a 400 saying why).
    let grammar = GrammarCompiler::new(&loaded.tokenizer).map_err(|e| e.to_string());
    if let Err(error) = &grammar {
        tracing::warn!(%error, "structured output is unavailable for this model");
    }
    let _ = state.model.set(ServedModel {
        grammar,
        tokenizer: loaded.tokenizer,
        chat_template: loaded.chat_template,
        engine,
        context_length: loaded.context_length,
    });
    Ok(())
}

/// Re-applies the configuration file's `adapters` whenever the file changes, once the
/// model has loaded. A file that does not parse, or an adapter that fails to load, is
/// logged and the adapters loaded before keep serving.
async fn watch_config_adapters(
    state: Arc<AppState>,
    mut loaded: watch::Receiver<Option<Result<(), String>>>,
    path: PathBuf,
    configured: Vec<(String, PathBuf)>,
    poll: Duration,
) {
    let ready = matches!(loaded.wait_for(Option::is_some).await.map(|r| r.clone()), Ok(Some(Ok(()))));
    if !ready {
        return;
    }
    let mut managed = ConfigAdapters::new(configured);
    let mut last = tokio::fs::read(&path).await.ok();
    loop {
        tokio::time::sleep(poll).await;
        let Ok(bytes) = tokio::fs::read(&path).await else {
            continue; // mid-swap or removed: try again next time
        };
        if last.as_ref() == Some(&bytes) {
            continue;
        }
        last = Some(bytes.clone());
        let config = match ServingConfig::from_yaml(&String::from_utf8_lossy(&bytes)) {
            Ok(config) => config,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "changed configuration is invalid; adapters unchanged");
                continue;
            }
        };
        let wanted: Vec<(String, PathBuf)> =
            config.adapters.iter().map(|a| (a.name.clone(), PathBuf::from(&a.path))).collect();
        let worker = state.clone();
        let reconciled = tokio::task::spawn_blocking(move || {
            let report = managed.reconcile(&worker.adapters, &wanted);
            (managed, report)
        })
        .await;
        let Ok((returned, report)) = reconciled else {
            tracing::error!("adapter reload panicked; configuration changes are no longer applied");
            return;
        };
        managed = returned;
        tracing::info!(loaded = ?report.loaded, unloaded = ?report.unloaded, "configuration adapters applied");
        for (name, error) in report.failed {
            tracing::error!(adapter = %name, %error, "configured adapter failed to load");
        }
    }
}

/// Entry point of `netgpt serve`: builds its own runtime and serves until SIGTERM.
pub fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let settings = ServerSettings::from_args(&args)?;
    // Before any runtime thread exists, so setting the environment is sound.
    configure_threads(settings.threads);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // HTTP work is light; the cores belong to the model.
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io { action: "starting the async runtime", source })?;
    runtime.block_on(async move {
        // One signal future for the whole run: a fresh one after loading would miss a
        // SIGTERM sent in between.
        let mut stop = std::pin::pin!(termination_signal());
        let mut server = start(settings).await?;
        tokio::select! {
            result = server.wait_loaded() => result?,
            _ = &mut stop => return server.shutdown().await,
        }
        stop.await;
        server.shutdown().await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("netgpt-serving-{}-{name}.yaml", std::process::id()));
        std::fs::write(&path, text).expect("write config");
        path
    }

    const CONFIG: &str = "apiVersion: netgpt.io/v1alpha1
kind: ServingConfig
model:
  name: edge-smol
  architecture: llama
  format: gguf
  path: /models/smol.gguf
limits:
  contextLength: 512
  maxNewTokens: 64
  maxConcurrentRequests: 2
  maxQueuedRequests: 4
";

    #[test]
    fn config_file_values_apply_and_flags_override_them() {
        let path = write_config("merge", CONFIG);
        let args = ServeArgs {
            config: Some(path.clone()),
            host: Some("127.0.0.1".into()),
            port: Some(9000),
            max_new_tokens: Some(100),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            step_token_budget: DEFAULT_STEP_TOKEN_BUDGET,
            ..ServeArgs::default()
        };
        let settings = ServerSettings::from_args(&args).expect("settings");
        let _ = std::fs::remove_file(path);
        assert_eq!(settings.model, ModelSource::LlamaGguf("/models/smol.gguf".into()));
        assert_eq!(settings.model_name, "edge-smol");
        assert_eq!(settings.context_length, Some(512));
        assert_eq!(settings.max_new_tokens, Some(100), "the flag wins");
        assert_eq!(settings.max_running, 2);
        assert_eq!(settings.max_queued, 4);
        assert_eq!(settings.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
    }

    #[test]
    fn vllm_and_llama_cpp_flag_names_work_too() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        use clap::Parser;
        let vllm = Cli::try_parse_from(["serve", "--max-model-len", "512", "--max-num-seqs", "3"]).expect("vLLM flags");
        assert_eq!((vllm.serve.context_length, vllm.serve.max_concurrent_requests), (Some(512), Some(3)));
        let llama_cpp = Cli::try_parse_from(["serve", "--parallel", "4"]).expect("llama.cpp flag");
        assert_eq!(llama_cpp.serve.max_concurrent_requests, Some(4));
        let own = Cli::try_parse_from(["serve", "--context-length", "256", "--served-model-name", "m"]).expect("own");
        assert_eq!((own.serve.context_length, own.serve.served_model_name.as_deref()), (Some(256), Some("m")));
        // `--listen ADDR` as every subcommand has it; vLLM's `--host`/`--port` still work
        // and resolve to the same address, but not mixed with `--listen`.
        let listen = Cli::try_parse_from(["serve", "--listen", "127.0.0.1:9100"]).expect("--listen");
        let host_port = Cli::try_parse_from(["serve", "--host", "127.0.0.1", "--port", "9100"]).expect("--host/--port");
        let (a, b) = (
            ServerSettings::from_args(&listen.serve).expect("settings").listen,
            ServerSettings::from_args(&host_port.serve).expect("settings").listen,
        );
        assert_eq!((a, b), (SocketAddr::from(([127, 0, 0, 1], 9100)), SocketAddr::from(([127, 0, 0, 1], 9100))));
        assert!(Cli::try_parse_from(["serve", "--listen", "127.0.0.1:1", "--port", "2"]).is_err());
        let default = Cli::try_parse_from(["serve"]).expect("defaults");
        let listen = ServerSettings::from_args(&default.serve).expect("settings").listen;
        assert_eq!(listen, SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)));
        // vLLM's `--api-key`; an empty one is refused, not taken as "no key".
        let keyed = Cli::try_parse_from(["serve", "--api-key", "sk-local"]).expect("--api-key");
        assert!(ServerSettings::from_args(&keyed.serve).expect("settings").api_key.is_some());
        let empty = Cli::try_parse_from(["serve", "--api-key", " "]).expect("parses");
        assert!(matches!(ServerSettings::from_args(&empty.serve), Err(ServeError::ApiKey)));
    }

    #[test]
    fn the_configured_device_and_dtype_apply_unless_a_flag_overrides_them() {
        let text = CONFIG.replace("limits:\n", "limits:\n  device: cuda\n  dtype: bf16\n");
        let path = write_config("device", &text);
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        let settings = ServerSettings::from_args(&args).expect("settings");
        assert_eq!((settings.device, settings.dtype), (DeviceSpec::Cuda(0), Some(WeightDType::Bf16)));
        let flags = ServeArgs { device: Some(DeviceSpec::Cpu), dtype: Some(WeightDType::F32), ..args };
        let settings = ServerSettings::from_args(&flags).expect("settings");
        let _ = std::fs::remove_file(path);
        assert_eq!((settings.device, settings.dtype), (DeviceSpec::Cpu, Some(WeightDType::F32)));
        // Without either, the CPU.
        let plain = write_config("no-device", CONFIG);
        let args = ServeArgs { config: Some(plain.clone()), ..ServeArgs::default() };
        let settings = ServerSettings::from_args(&args).expect("settings");
        let _ = std::fs::remove_file(plain);
        assert_eq!(settings.device, DeviceSpec::Cpu);
    }

    #[test]
    fn gpt2_safetensors_config_selects_the_gpt2_loader() {
        let text = CONFIG
            .replace("architecture: llama", "architecture: gpt2")
            .replace("format: gguf", "format: safetensors")
            .replace("path: /models/smol.gguf", "path: /models/gpt2\n  tokenizerPath: /t.json");
        let path = write_config("gpt2", &text);
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        let settings = ServerSettings::from_args(&args).expect("settings");
        let _ = std::fs::remove_file(path);
        assert_eq!(
            settings.model,
            ModelSource::Gpt2Safetensors { dir: "/models/gpt2".into(), tokenizer: Some("/t.json".into()) }
        );
    }

    #[test]
    fn configured_adapters_and_flags_are_merged() {
        let with_adapter = format!("{CONFIG}adapters:\n  - name: site-a\n    path: /adapters/a\n");
        let path = write_config("lora", &with_adapter);
        let args = ServeArgs {
            config: Some(path.clone()),
            lora: vec!["site-b=/adapters/b".into()],
            max_adapter_rank: Some(16),
            ..ServeArgs::default()
        };
        let settings = ServerSettings::from_args(&args).expect("settings");
        let _ = std::fs::remove_file(path);
        assert_eq!(
            settings.adapters,
            [
                ("site-a".to_string(), PathBuf::from("/adapters/a")),
                ("site-b".to_string(), PathBuf::from("/adapters/b"))
            ]
        );
        assert_eq!(settings.adapter_options.max_rank, 16);
    }

    #[test]
    fn unsupported_combinations_are_refused() {
        let gpt2_gguf = CONFIG.replace("architecture: llama", "architecture: gpt2");
        let path = write_config("gpt2-gguf", &gpt2_gguf);
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        let result = ServerSettings::from_args(&args);
        let _ = std::fs::remove_file(path);
        assert!(matches!(result, Err(ServeError::Unsupported(_))), "{result:?}");
        let args = ServeArgs {
            model: Some("/models/m.gguf".into()),
            lora: vec!["no-separator".into()],
            ..ServeArgs::default()
        };
        let result = ServerSettings::from_args(&args);
        assert!(matches!(result, Err(ServeError::Unsupported(_))), "{result:?}");
    }

    #[test]
    fn the_admin_token_comes_from_the_flag_or_a_file_and_is_never_empty() {
        let base = ServeArgs { model: Some("/models/m.gguf".into()), ..ServeArgs::default() };
        let access = |args: &ServeArgs| ServerSettings::from_args(args).map(|s| s.admin);
        assert!(matches!(access(&base), Ok(AdminAccess::LoopbackOnly)));
        let flag = ServeArgs { admin_token: Some("t0ken".into()), ..base.clone() };
        let admin = access(&flag).expect("settings");
        assert_eq!(admin.authorize(Some(b"Bearer t0ken"), None), Ok(()));
        let file = write_config("admin-token", "from-file\n");
        let from_file = ServeArgs { admin_token_file: Some(file.clone()), ..base.clone() };
        let admin = access(&from_file).expect("settings");
        assert_eq!(admin.authorize(Some(b"Bearer from-file"), None), Ok(()), "the newline is not part of it");
        std::fs::write(&file, "  \n").expect("write");
        let empty = access(&from_file);
        let _ = std::fs::remove_file(file);
        assert!(matches!(empty, Err(ServeError::AdminToken(_))), "{empty:?}");
        let missing = ServeArgs { admin_token_file: Some("/nonexistent/token".into()), ..base };
        assert!(matches!(access(&missing), Err(ServeError::AdminToken(_))));

        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        use clap::Parser;
        let both = Cli::try_parse_from(["serve", "--admin-token", "a", "--admin-token-file", "/t"]);
        assert!(both.is_err(), "one source of the token at a time");
    }

    #[test]
    fn wrong_kind_is_an_invalid_config() {
        let path = write_config("kind", &CONFIG.replace("ServingConfig", "WorkflowConfig"));
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        let result = ServerSettings::from_args(&args);
        let _ = std::fs::remove_file(path);
        assert!(matches!(result, Err(ServeError::InvalidConfig { .. })), "{result:?}");
    }
}
