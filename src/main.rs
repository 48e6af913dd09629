//! `netgpt`: one binary for every NetGPT component.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "netgpt",
    version,
    about = "Personalized edge and cloud LLM services on Kubernetes"
)]
struct Cli {
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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { output_dir } => crd(output_dir),
    }
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
