//! `netgpt`: one binary for every NetGPT component.

use std::path::PathBuf;

use anyhow::Context;

mod local;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "netgpt", version, about = "Personalized edge and cloud LLM services on Kubernetes")]
struct Cli {
    #[command(flatten)]
    log: netgpt_runtime::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML (`netgpt crd | kubectl apply -f -`).
    Crd {
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
    /// Run the operator: reconcile EdgeLLM and CloudLLM resources into serving workloads.
    Operator(netgpt_operator::OperatorArgs),
    /// Download a model or adapter file (init container): retries, SHA-256 check, atomic rename.
    Fetch(netgpt_operator::fetch::FetchArgs),
    /// Run a whole NetGPT deployment on this machine from EdgeLLM/CloudLLM/LogicalAIWorkflow manifests.
    Local(local::LocalArgs),
    /// Run one site's workflow gateway (edge completion, routing, desensitized cloud path).
    Gateway(netgpt_gateway::GatewayArgs),
    /// Serve a model over an OpenAI-compatible HTTP API.
    // Boxed: by far the largest set of flags, and the enum is moved once.
    Serve(Box<netgpt_inference::ServeArgs>),
    /// Manage locally cached models (`netgpt model pull smollm2`).
    Model {
        #[command(subcommand)]
        command: netgpt_runtime::model_store::ModelCommand,
    },
    /// Train a site's LoRA adapter on its generated dataset (`netgpt train lora`).
    Train {
        #[command(subcommand)]
        command: TrainCommand,
    },
    /// Generate a site's concise -> comprehensive prompt pairs with a teacher model.
    Dataset {
        #[command(subcommand)]
        command: DatasetCommand,
    },
    /// Evaluate what trained site adapters change (`netgpt eval completion`).
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Data-desensitization sidecar in front of the cloud model (`eval` scores detection).
    Desensitize(netgpt_desensitizer::DesensitizeArgs),
}

#[derive(Subcommand)]
enum TrainCommand {
    /// Fine-tune a LoRA adapter over the served base (GGUF or safetensors) with candle.
    Lora(netgpt_train::cli::TrainLoraArgs),
}

#[derive(Subcommand)]
enum DatasetCommand {
    /// Self-instruct pairs per site from a teacher, filtered, de-duplicated, desensitized.
    Generate(netgpt_train::dataset::DatasetArgs),
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Template vs trained adapter: does the completion name the site's own context?
    Completion(netgpt_train::eval::EvalArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One logging set-up for every subcommand (`--log-format`, `NETGPT_LOG_FORMAT`).
    netgpt_runtime::init_tracing(cli.log.log_format, "info,kube_lease_manager=warn");
    match cli.command {
        Command::Crd { output_dir } => crd(output_dir),
        Command::Operator(mut args) => {
            args.log_format = cli.log.log_format;
            Ok(runtime()?.block_on(netgpt_operator::run(args))?)
        }
        Command::Fetch(args) => Ok(runtime()?.block_on(netgpt_operator::fetch::fetch(&args))?),
        Command::Local(args) => local::run(args),
        Command::Gateway(args) => Ok(netgpt_gateway::run(args)?),
        Command::Serve(args) => Ok(netgpt_inference::serve(*args)?),
        Command::Model { command } => Ok(netgpt_runtime::model_store::run_model_command(command)?),
        Command::Train { command: TrainCommand::Lora(args) } => Ok(netgpt_train::cli::run_train_lora(args)?),
        Command::Dataset { command: DatasetCommand::Generate(args) } => Ok(netgpt_train::dataset::run(args)?),
        Command::Eval { command: EvalCommand::Completion(args) } => Ok(netgpt_train::eval::run(args)?),
        Command::Desensitize(args) => Ok(netgpt_desensitizer::run(args)?),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn crd(output_dir: Option<PathBuf>) -> anyhow::Result<()> {
    match output_dir {
        None => print!("{}", netgpt_crds::all_crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in netgpt_crds::all_crds() {
                let path = dir.join(netgpt_crds::crd_file_name(&crd));
                std::fs::write(&path, netgpt_crds::crd_yaml(&crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}
