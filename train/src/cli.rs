//! `netgpt train lora`: the command-line shell over [`crate::trainer`].

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;

use crate::TrainError;
use crate::data::{Split, read_records, tokenize};
use crate::family::TrainBase;
use crate::model::{Adapter, LoraSpec};
use crate::trainer::{Schedule, TrainOptions, device, train};

/// `netgpt train lora`: fine-tune a LoRA adapter on a site's dataset.
#[derive(Debug, clap::Args)]
pub struct TrainLoraArgs {
    /// The base model: the GGUF file the edge serves, or a safetensors directory (LLaMA
    /// family or GPT-2).
    #[arg(long, env = "NETGPT_TRAIN_BASE", value_name = "PATH")]
    pub base: Option<PathBuf>,
    /// The site's dataset (JSONL from `netgpt dataset generate`); its `heldout` records
    /// are the evaluation split.
    #[arg(long, env = "NETGPT_TRAIN_DATA", value_name = "FILE")]
    pub data: PathBuf,
    /// Output directory of the PEFT adapter (and `training.json`).
    #[arg(long, env = "NETGPT_TRAIN_OUTPUT", value_name = "DIR")]
    pub output: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    pub dropout: f32,
    /// Projections to adapt (PEFT names), comma-separated. Default: the attention
    /// projections (`q_proj,k_proj,v_proj,o_proj` on LLaMA, `c_attn,c_proj` on GPT-2).
    #[arg(long, value_delimiter = ',')]
    pub target_modules: Vec<String>,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    #[arg(long, value_enum, default_value_t = Schedule::Cosine)]
    pub schedule: Schedule,
    #[arg(long, default_value_t = 4)]
    pub warmup_steps: usize,
    /// Examples whose gradients are summed into one optimizer step.
    #[arg(long, default_value_t = 4)]
    pub gradient_accumulation: usize,
    /// Clip the global gradient norm to this (0: off).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Longer examples (prompt + completion tokens) are skipped and counted.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Train on at most this many examples (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, env = "NETGPT_TRAIN_DEVICE", default_value = "cpu")]
    pub device: String,
    /// Also write a one-line JSON summary here (a Job step's termination message).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    /// Write the tokenized examples (train and held-out) as JSON here: the exact input of
    /// a peer trainer (`train/bench/peft_peer.py`).
    #[arg(long, value_name = "FILE")]
    pub export_examples: Option<PathBuf>,
}

/// Runs `netgpt train lora`; prints the report as JSON on stdout.
pub fn run_train_lora(args: TrainLoraArgs) -> Result<(), TrainError> {
    let base_path = crate::base_model_path(args.base.as_deref())?;
    let device = device(&args.device)?;
    eprintln!("train: loading {}", base_path.display());
    let base = TrainBase::load(&base_path, &device)?;
    let records = read_records(&args.data)?;
    let mut train_set = Vec::new();
    let mut heldout = Vec::new();
    let mut skipped = 0;
    for record in &records {
        match tokenize(record, base.tokenizer(), base.chat_template(), args.max_tokens)? {
            Some(e) if record.split == Split::Train => train_set.push(e),
            Some(e) => heldout.push(e),
            None => skipped += 1,
        }
    }
    if args.limit > 0 {
        train_set.truncate(args.limit);
    }
    if skipped > 0 {
        eprintln!("train: skipped {skipped} records longer than {} tokens", args.max_tokens);
    }
    if let Some(path) = &args.export_examples {
        let as_json = |set: &[crate::data::Example]| -> Vec<serde_json::Value> {
            set.iter()
                .map(|e| serde_json::json!({"tokens": e.tokens, "positions": e.positions, "targets": e.targets}))
                .collect()
        };
        let text = serde_json::json!({"train": as_json(&train_set), "heldout": as_json(&heldout)}).to_string();
        std::fs::write(path, text).map_err(|e| TrainError::Output(format!("{}: {e}", path.display())))?;
    }
    let spec =
        LoraSpec { rank: args.rank, alpha: args.alpha, dropout: args.dropout, targets: args.target_modules.clone() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let adapter = Adapter::new(&base.sites(), spec, &mut rng, &device)?;
    let longest = train_set.iter().chain(&heldout).map(|e| e.tokens.len()).max().unwrap_or(1);
    let model = base.model(&adapter, longest, &device)?;
    let options = TrainOptions {
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        schedule: args.schedule,
        warmup_steps: args.warmup_steps,
        gradient_accumulation: args.gradient_accumulation,
        max_grad_norm: args.max_grad_norm,
        weight_decay: args.weight_decay,
        seed: args.seed,
    };
    let total = train_set.len().div_ceil(args.gradient_accumulation.max(1)) * args.epochs;
    eprintln!(
        "train: {} train / {} held-out examples, {} trainable parameters, {total} steps",
        train_set.len(),
        heldout.len(),
        adapter.parameter_count()
    );
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = train(model.as_ref(), &adapter, &train_set, &heldout, &options, |log| {
        bar.set_message(format!("epoch {} loss {:.3}", log.epoch, log.loss));
        bar.inc(1);
        if bar.is_hidden() && (log.step % 10 == 0 || log.step == total) {
            eprintln!(
                "train: step {}/{total} epoch {} loss {:.4} lr {:.2e}",
                log.step, log.epoch, log.loss, log.learning_rate
            );
        }
    })?;
    bar.finish_and_clear();
    crate::peft::save(&args.output, &adapter, base.source())?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| TrainError::Output(e.to_string()))?;
    std::fs::write(args.output.join("training.json"), &text)
        .map_err(|e| TrainError::Output(format!("{}: {e}", args.output.display())))?;
    let summary = serde_json::json!({
        "adapter": args.output,
        "train_examples": report.train_examples,
        "heldout_examples": report.heldout_examples,
        "optimizer_steps": report.optimizer_steps,
        "first_loss": report.first_loss,
        "last_loss": report.last_loss,
        "evaluations": report.evaluations,
        "seconds": report.seconds,
        "train_seconds": report.train_seconds,
        "tokens_per_second": report.tokens_per_second,
    });
    println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| TrainError::Output(e.to_string()))?);
    let heldout_loss = report.evaluations.last().and_then(|e| e.heldout_loss);
    crate::write_summary(
        args.summary_file.as_deref(),
        &serde_json::json!({
            "first_loss": report.first_loss,
            "last_loss": report.last_loss,
            "heldout_loss": heldout_loss,
            "steps": report.optimizer_steps,
            "seconds": report.seconds,
        }),
    )
}
