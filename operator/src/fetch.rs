//! `netgpt fetch URL OUTPUT [--sha256 HEX]`: the init container that stages http(s)
//! models and adapters. Downloads to a temporary file beside the destination, verifies
//! the SHA-256 when given, then renames atomically, so a half-written or corrupted file is
//! never seen at `OUTPUT`. Transient failures are retried from scratch (no resume: a
//! partial file is never trusted).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Options of `netgpt fetch`.
#[derive(clap::Args, Clone, Debug)]
pub struct FetchArgs {
    /// What to download (http:// or https://).
    pub url: String,
    /// Where the file must end up.
    pub output: PathBuf,
    /// Expected SHA-256 (lowercase hex); a mismatch fails the fetch.
    #[arg(long)]
    pub sha256: Option<String>,
    /// Attempts before giving up on transient errors (connection errors, 5xx, 429).
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// Give up on one attempt after this many seconds without progress. Durations are
    /// `--*-seconds` across subcommands; the old `--idle-timeout-secs` still works.
    #[arg(long = "idle-timeout-seconds", alias = "idle-timeout-secs", default_value_t = 60)]
    pub idle_timeout_secs: u64,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: server answered {status}")]
    Status { url: String, status: reqwest::StatusCode },
    #[error("{url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url}: no data for {0:?}", .timeout)]
    Stalled { url: String, timeout: Duration },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("sha256 mismatch for {url}: expected {expected}, got {actual}; the file was discarded")]
    Checksum { url: String, expected: String, actual: String },
    #[error("--sha256 must be 64 lowercase hex characters, got {0:?}")]
    BadChecksumArg(String),
}

impl FetchError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                status.is_server_error() || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Self::Http { .. } | Self::Stalled { .. } => true,
            Self::Io { .. } | Self::Checksum { .. } | Self::BadChecksumArg(_) => false,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_path_buf(), source }
}

/// Downloads `args.url` to `args.output`, retrying transient failures with back-off.
pub async fn fetch(args: &FetchArgs) -> Result<(), FetchError> {
    if let Some(sha) = &args.sha256
        && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(FetchError::BadChecksumArg(sha.clone()));
    }
    if tokio::fs::try_exists(&args.output).await.unwrap_or(false) {
        // An earlier run of this init container finished (only complete files are renamed
        // into place); re-check the digest in case the volume was tampered with.
        match &args.sha256 {
            Some(expected) if sha256_file(&args.output).await? != *expected => {
                tokio::fs::remove_file(&args.output).await.map_err(io_err(&args.output))?;
            }
            _ => {
                tracing::info!(output = %args.output.display(), "already present");
                return Ok(());
            }
        }
    }
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(io_err(dir))?;
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(|source| FetchError::Http { url: args.url.clone(), source })?;
    let mut attempt = 1;
    loop {
        match fetch_once(&client, args).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < args.attempts => {
                let delay = Duration::from_millis(500 * (1 << (attempt - 1).min(6)));
                tracing::warn!(error = %e, attempt, retry_in = ?delay, "fetch failed, retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn fetch_once(client: &reqwest::Client, args: &FetchArgs) -> Result<(), FetchError> {
    let url = &args.url;
    let response = client.get(url).send().await.map_err(|source| FetchError::Http { url: url.clone(), source })?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status { url: url.clone(), status });
    }
    let total = response.content_length();
    let tmp = temp_path(&args.output);
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io_err(&tmp))?;
    let result = async {
        let mut hasher = Sha256::new();
        let mut stream = response.bytes_stream();
        let mut received: u64 = 0;
        let mut next_report = 0u64;
        let idle = Duration::from_secs(args.idle_timeout_secs);
        loop {
            let chunk = match tokio::time::timeout(idle, stream.next()).await {
                Err(_) => {
                    return Err(FetchError::Stalled { url: url.clone(), timeout: idle });
                }
                Ok(None) => break,
                Ok(Some(chunk)) => chunk.map_err(|source| FetchError::Http { url: url.clone(), source })?,
            };
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_err(&tmp))?;
            received += chunk.len() as u64;
            if received >= next_report {
                match total {
                    Some(t) if t > 0 => {
                        tracing::info!(url, received, total = t, percent = received * 100 / t, "downloading")
                    }
                    _ => tracing::info!(url, received, "downloading"),
                }
                next_report = received + 64 * 1024 * 1024;
            }
        }
        file.sync_all().await.map_err(io_err(&tmp))?;
        let actual = hex(&hasher.finalize());
        if let Some(expected) = &args.sha256
            && actual != *expected
        {
            return Err(FetchError::Checksum { url: url.clone(), expected: expected.clone(), actual });
        }
        tokio::fs::rename(&tmp, &args.output).await.map_err(io_err(&args.output))?;
        tracing::info!(url, output = %args.output.display(), bytes = received, sha256 = %actual, "fetched");
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

fn temp_path(output: &Path) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

async fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let bytes = tokio::fs::read(path).await.map_err(io_err(path))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
