//! `netgpt desensitize [--config FILE] [--listen ADDR] [--upstream URL]` runs the sidecar;
//! `netgpt desensitize eval` scores detection; `netgpt desensitize scan` shows what would
//! be replaced in a text (for policy authors; it prints the desensitized text only).

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use netgpt_crds::config::WorkflowConfig;
use netgpt_crds::workflow::{DesensitizationPolicy, DesensitizeAction};

use super::actions::{Desensitizer, EntityCounts};
use super::detect::Detector;
use super::eval;
use super::proxy::{SidecarSettings, start};
use super::vault::Vault;

/// Default location of the workflow configuration the operator mounts.
pub const DEFAULT_CONFIG: &str = "/etc/netgpt/workflow.yaml";
/// Default corpus of `eval`, relative to the repository root.
pub const DEFAULT_CORPUS: &str = "desensitizer/tests/data/pii/corpus.jsonl";

/// `netgpt desensitize`.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DesensitizeArgs {
    #[command(subcommand)]
    pub command: Option<DesensitizeCommand>,
    #[command(flatten)]
    pub sidecar: SidecarArgs,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum DesensitizeCommand {
    /// Score detection on a labelled corpus (precision, recall, F2 per entity type).
    Eval(EvalArgs),
    /// Desensitize text from stdin with the policy's action and print it.
    Scan {
        /// Workflow configuration whose policy to apply (default policy when absent).
        #[arg(long, env = "NETGPT_WORKFLOW_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Flags of the sidecar; they override the configuration file.
#[derive(clap::Args, Debug, Clone)]
pub struct SidecarArgs {
    /// Workflow configuration (the gateway's file; the sidecar reads `cloud.url` and
    /// `desensitization`).
    #[arg(long, env = "NETGPT_WORKFLOW_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081", env = "NETGPT_LISTEN")]
    pub listen: SocketAddr,
    /// Also serve `/metrics`, `/health` and `/ready` (and nothing else) on this address,
    /// e.g. `0.0.0.0:9091`, for Prometheus while the API stays on loopback.
    #[arg(long, value_name = "ADDR", env = "NETGPT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Cloud model base URL (overrides `cloud.url`; without a config file, required).
    #[arg(long, env = "NETGPT_UPSTREAM")]
    pub upstream: Option<String>,
    /// Replacement action (overrides the policy).
    #[arg(long, value_parser = parse_action, env = "NETGPT_DESENSITIZE_ACTION")]
    pub action: Option<DesensitizeAction>,
    /// Seconds to wait for the cloud's response head. Durations are `--*-seconds` across
    /// subcommands; the old `--upstream-timeout-secs` still works.
    #[arg(long, alias = "upstream-timeout-secs", default_value_t = 120, env = "NETGPT_UPSTREAM_TIMEOUT_SECONDS")]
    pub upstream_timeout_seconds: u64,
    /// With `mask`, keep separators (`-`, spaces, `@`, `.`) instead of masking them too
    /// (default). `--mask-keeps-separators=false` masks them as well.
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        env = "NETGPT_MASK_KEEPS_SEPARATORS"
    )]
    pub mask_keeps_separators: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024, env = "NETGPT_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// The learned PII detector: a model directory, `auto` (the one `netgpt model pull
    /// pii-rampart` cached, if any) or `off` (rule detectors only).
    #[arg(long, env = "NETGPT_PII_MODEL", default_value = "auto")]
    pub pii_model: String,
    /// The learned detector's LoRA adapter: `builtin` (the project's, trained on
    /// European and English names, streets and places), `off` (the model as published) or
    /// a PEFT adapter directory.
    #[arg(long, env = "NETGPT_PII_ADAPTER", default_value = "builtin")]
    pub pii_adapter: String,
    /// Requests desensitized at once (default: one per CPU); more wait up to 2 s, then 503.
    #[arg(long, env = "NETGPT_MAX_CONCURRENT_DETECTIONS")]
    pub max_concurrent_detections: Option<usize>,
    /// Tokens the learned detector reads per request at most (about 0.5 ms of CPU each);
    /// a request with more text is refused with 413.
    #[arg(long, default_value_t = 32_768, env = "NETGPT_MAX_LEARNED_TOKENS")]
    pub max_learned_tokens: usize,
}

#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// JSONL corpus (see `desensitizer/tests/data/pii/generate.py`).
    #[arg(long, default_value = DEFAULT_CORPUS)]
    pub corpus: PathBuf,
    /// Minimum character IoU for a predicted span to match a gold span.
    #[arg(long, default_value_t = 0.9)]
    pub iou: f64,
}

fn parse_action(s: &str) -> Result<DesensitizeAction, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown action `{s}` (redact, mask, pseudonymize)"))
}

/// Errors of `netgpt desensitize`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("reading {path}: {source}")]
    ReadConfig { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Config { path: String, source: netgpt_crds::config::ConfigError },
    #[error("no upstream: pass --upstream or a configuration file with cloud.url")]
    NoUpstream,
    #[error("--pii-model: {0}")]
    PiiModel(String),
    #[error(transparent)]
    Start(#[from] super::proxy::StartError),
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    #[error(transparent)]
    Detect(#[from] super::detect::DetectError),
    #[error(transparent)]
    Desensitize(#[from] super::error::DesensitizeError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs `netgpt desensitize …`.
pub fn run(args: DesensitizeArgs) -> Result<(), CliError> {
    match args.command {
        Some(DesensitizeCommand::Eval(eval_args)) => run_eval(&eval_args),
        Some(DesensitizeCommand::Scan { config }) => run_scan(config),
        None => run_sidecar(args.sidecar),
    }
}

fn read_config(path: &PathBuf) -> Result<WorkflowConfig, CliError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadConfig { path: shown.clone(), source })?;
    WorkflowConfig::from_yaml(&text).map_err(|source| CliError::Config { path: shown, source })
}

/// Settings from the file (when present) and the flags (which win).
pub fn settings(args: &SidecarArgs) -> Result<SidecarSettings, CliError> {
    let config = match read_config(&args.config) {
        Ok(config) => Some(config),
        // The default path may be absent when everything comes from flags.
        Err(CliError::ReadConfig { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound
                && args.upstream.is_some()
                && args.config.as_os_str() == DEFAULT_CONFIG =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let upstream =
        args.upstream.clone().or_else(|| config.as_ref().map(|c| c.cloud.url.clone())).ok_or(CliError::NoUpstream)?;
    let site_places: Vec<String> =
        config.as_ref().and_then(|c| c.site.location.place_name.clone()).into_iter().collect();
    let mut policy = config.map(|c| c.desensitization).unwrap_or_default();
    if let Some(action) = args.action {
        policy.action = action;
    }
    let mut settings = SidecarSettings::new(upstream, policy);
    settings.listen = args.listen;
    settings.metrics_listen = args.metrics_listen;
    settings.upstream_timeout = Duration::from_secs(args.upstream_timeout_seconds);
    settings.max_body_bytes = args.max_body_bytes;
    settings.mask_keeps_separators = args.mask_keeps_separators;
    settings.site_places = site_places;
    settings.pii_model = pii_model_dir(&args.pii_model)?;
    settings.pii_adapter = crate::ner::AdapterChoice::parse(&args.pii_adapter);
    settings.max_learned_tokens = args.max_learned_tokens;
    if let Some(n) = args.max_concurrent_detections {
        settings.max_concurrent_detections = n;
    }
    Ok(settings)
}

/// `--pii-model`: a directory, `off`, or `auto` (the cached pull if present). An explicit
/// directory that does not exist is an error, not a silent fall-back to rules only.
fn pii_model_dir(choice: &str) -> Result<Option<PathBuf>, CliError> {
    match choice {
        "off" => Ok(None),
        "auto" => {
            let cached = netgpt_runtime::model_store::model_path(netgpt_runtime::model_store::PII_MODEL_ALIAS)
                .map_err(|e| CliError::PiiModel(e.to_string()))?;
            if cached.is_dir() {
                Ok(Some(cached))
            } else {
                tracing::warn!(
                    "the learned PII detector is not installed (netgpt model pull pii-rampart): names and \
                     addresses are found by rules and word lists only"
                );
                Ok(None)
            }
        }
        dir => {
            let path = PathBuf::from(dir);
            if path.is_dir() { Ok(Some(path)) } else { Err(CliError::PiiModel(format!("{dir} is not a directory"))) }
        }
    }
}

fn run_sidecar(args: SidecarArgs) -> Result<(), CliError> {
    let settings = settings(&args)?;
    if !settings.policy.enabled {
        tracing::warn!("desensitization is disabled by the policy: requests are forwarded unchanged");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let learned = settings.pii_model.as_ref().map(|p| format!("{} (adapter: {:?})", p.display(), settings.pii_adapter));
        // Installed before the listener opens, so a SIGTERM during start-up is not lost.
        let stop = netgpt_runtime::termination_signal();
        let sidecar = start(settings).await?;
        tracing::info!(addr = %sidecar.addr, metrics = ?sidecar.metrics_addr, learned_detector = ?learned, "desensitizer listening");
        stop.await;
        tracing::info!("shutting down");
        sidecar.shutdown().await?;
        Ok(())
    })
}

fn run_eval(args: &EvalArgs) -> Result<(), CliError> {
    let samples = eval::load_corpus(&args.corpus)?;
    let report = eval::evaluate(&samples, &Detector::default(), args.iou)?;
    println!("{report}");
    Ok(())
}

fn run_scan(config: Option<PathBuf>) -> Result<(), CliError> {
    let policy: DesensitizationPolicy = match config {
        Some(path) => read_config(&path)?.desensitization,
        None => DesensitizationPolicy::default(),
    };
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let desensitizer = Desensitizer::new(policy);
    let mut counts = EntityCounts::default();
    let out = desensitizer.desensitize_text(&text, &mut Vault::new(), &mut counts)?.unwrap_or(text);
    print!("{out}");
    for (name, n) in counts.nonzero() {
        eprintln!("{name}: {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DesensitizeArgs,
    }

    const WORKFLOW: &str = r#"
apiVersion: netgpt.io/v1alpha1
kind: WorkflowConfig
workflow: wf
site: {name: a}
edge: {url: "http://edge:8000", model: e}
cloud: {url: "http://cloud:8000", model: c}
desensitizerUrl: "http://127.0.0.1:8081"
steps: []
routing: {}
desensitization: {action: mask, entities: [email, phone], restoreInResponse: false}
"#;

    #[test]
    fn file_then_flags() {
        let path = std::env::temp_dir().join(format!("netgpt-desensitize-{}.yaml", std::process::id()));
        std::fs::write(&path, WORKFLOW).expect("write config");
        let config = path.to_str().expect("utf-8 path");
        let cli = Cli::parse_from(["x", "--config", config]);
        let from_file = settings(&cli.args.sidecar).expect("settings");
        assert_eq!(from_file.upstream, "http://cloud:8000");
        assert_eq!(from_file.policy.action, DesensitizeAction::Mask);
        assert_eq!(from_file.policy.entities.len(), 2);
        let cli = Cli::parse_from([
            "x",
            "--config",
            config,
            "--upstream",
            "http://other:9",
            "--action",
            "redact",
            "--listen",
            "0.0.0.0:9000",
        ]);
        let overridden = settings(&cli.args.sidecar).expect("settings");
        assert_eq!(overridden.upstream, "http://other:9");
        assert_eq!(overridden.policy.action, DesensitizeAction::Redact);
        assert_eq!(overridden.listen.port(), 9000);
        // Durations are `--*-seconds`; the old spelling still parses.
        for flag in ["--upstream-timeout-seconds", "--upstream-timeout-secs"] {
            let cli = Cli::parse_from(["x", "--config", config, flag, "7", "--metrics-listen", "0.0.0.0:9091"]);
            let parsed = settings(&cli.args.sidecar).expect("settings");
            assert_eq!(parsed.upstream_timeout, std::time::Duration::from_secs(7), "{flag}");
            assert_eq!(parsed.metrics_listen.map(|a| a.port()), Some(9091));
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::parse_from(["x", "eval", "--iou", "0.5"]);
        assert!(matches!(cli.args.command, Some(DesensitizeCommand::Eval(EvalArgs { iou, .. })) if iou == 0.5));
        let cli = Cli::parse_from(["x", "--config", "/nope.yaml"]);
        assert!(matches!(settings(&cli.args.sidecar), Err(CliError::ReadConfig { .. })));
    }

    #[test]
    fn booleans_are_plain_switches_and_durations_carry_their_unit() {
        let plain = Cli::try_parse_from(["desensitize", "--mask-keeps-separators"]).expect("a plain switch");
        assert!(plain.args.sidecar.mask_keeps_separators);
        let off = Cli::try_parse_from(["desensitize", "--mask-keeps-separators=false"]).expect("switched off");
        assert!(!off.args.sidecar.mask_keeps_separators);
        let new = Cli::try_parse_from(["desensitize", "--upstream-timeout-seconds", "9"]).expect("new name");
        let old = Cli::try_parse_from(["desensitize", "--upstream-timeout-secs", "9"]).expect("old name");
        assert_eq!((new.args.sidecar.upstream_timeout_seconds, old.args.sidecar.upstream_timeout_seconds), (9, 9));
    }
}
