//! `netgpt fetch` against a real HTTP server on loopback: verified download with atomic
//! rename, checksum mismatch leaves nothing behind, transient 5xx are retried, 404 is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use netgpt_operator::fetch::{FetchArgs, FetchError, fetch};
use sha2::{Digest, Sha256};

const BODY: &[u8] = b"GGUF pretend weights \x00\x01\x02 for the fetch test";

async fn serve(fail_first: u32) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route(
            "/model.gguf",
            get(|State((hits, fail_first)): State<(Arc<AtomicU32>, u32)>| async move {
                if hits.fetch_add(1, Ordering::SeqCst) < fail_first {
                    (StatusCode::SERVICE_UNAVAILABLE, Vec::new())
                } else {
                    (StatusCode::OK, BODY.to_vec())
                }
            }),
        )
        .with_state((hits.clone(), fail_first));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn args(url: String, output: std::path::PathBuf, sha256: Option<String>) -> FetchArgs {
    FetchArgs { url, output, sha256, attempts: 4, idle_timeout_secs: 5 }
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn verified_download_lands_atomically_after_retries() {
    let (base, hits) = serve(2).await;
    let dir = tempdir("ok");
    let out = dir.join("models/model.gguf");
    fetch(&args(format!("{base}/model.gguf"), out.clone(), Some(sha(BODY)))).await.expect("fetch succeeds");
    assert_eq!(std::fs::read(&out).expect("file"), BODY);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "two 503s retried, then success");
    assert_eq!(dir_entries(&dir.join("models")), vec!["model.gguf"], "no temporary file left");
    // A second run (init container restart) finds the verified file and does nothing.
    fetch(&args(format!("{base}/model.gguf"), out, Some(sha(BODY)))).await.expect("idempotent");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn checksum_mismatch_fails_and_leaves_nothing() {
    let (base, _) = serve(0).await;
    let dir = tempdir("mismatch");
    let out = dir.join("model.gguf");
    let wrong = sha(b"something else");
    let err = fetch(&args(format!("{base}/model.gguf"), out.clone(), Some(wrong.clone()))).await.expect_err("mismatch");
    assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&wrong) && msg.contains(&sha(BODY)), "message names both digests: {msg}");
    assert!(dir_entries(&dir).is_empty(), "nothing half-written remains: {:?}", dir_entries(&dir));
}

#[tokio::test]
async fn not_found_is_not_retried_and_bad_checksum_argument_is_refused() {
    let (base, hits) = serve(0).await;
    let dir = tempdir("404");
    let err = fetch(&args(format!("{base}/missing.gguf"), dir.join("x"), None)).await.expect_err("404");
    assert!(matches!(err, FetchError::Status { status, .. } if status == 404), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let err = fetch(&args(format!("{base}/model.gguf"), dir.join("x"), Some("ABC".into()))).await.expect_err("bad arg");
    assert!(matches!(err, FetchError::BadChecksumArg(_)), "{err}");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netgpt-fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
