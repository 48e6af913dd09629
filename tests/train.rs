//! Per-site adapters end to end with the real default model, as a user runs them:
//! `netgpt dataset generate` (the model as its own teacher, served in-process),
//! `netgpt train lora` (a short run), the adapter served next to the base over real HTTP,
//! `netgpt eval completion`, and `netgpt local` serving a site with its trained adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn netgpt(args: &[&str]) -> (String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_netgpt")).args(args).env("RUST_LOG", "warn").output().expect("netgpt runs");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "netgpt {args:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/netgpt-local.yaml")
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("dataset file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

async fn greedy(addr: std::net::SocketAddr, model: &str, prompt: &str) -> String {
    let body = serde_json::json!({
        "model": model, "temperature": 0.0, "max_tokens": 40,
        "messages": [{"role": "user", "content": prompt}],
    });
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    answer["choices"][0]["message"]["content"].as_str().unwrap_or_else(|| panic!("no content: {answer}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_data_trains_an_adapter_that_the_server_and_netgpt_local_use() {
    let dir = std::env::temp_dir().join(format!("netgpt-train-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    // Seeds with personal data: what is stored must be desensitized.
    let seeds = dir.join("seeds.yaml");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        &seeds,
        "food:\n  - cheap lunch nearby\n  - dinner with Kaelen Thorvaldsen tonight\n  - best coffee around here\n  - vegetarian restaurant\n\
         transport:\n  - nearest metro station\n  - bus to the train station\n\
         emergencies:\n  - need a pharmacy\n  - call kaelen.t@example.com if the hospital is far\n",
    )
    .expect("seeds");
    let example = example();
    let (stdout, _) = tokio::task::spawn_blocking({
        let (example, data, seeds) = (example.clone(), data.clone(), seeds.clone());
        move || {
            netgpt(&[
                "dataset",
                "generate",
                "-f",
                example.to_str().unwrap(),
                "--seeds",
                seeds.to_str().unwrap(),
                "--candidates",
                "4",
                "--heldout-fraction",
                "0.3",
                "--output",
                data.to_str().unwrap(),
            ])
        }
    })
    .await
    .expect("join");
    let summary: Value = serde_json::from_str(&stdout).expect("summary JSON on stdout");
    let sites = summary["sites"].as_array().expect("sites");
    assert_eq!(sites.len(), 2, "{summary}");
    let mut all_terms = Vec::new();
    for site in sites {
        assert_eq!(site["samples"], 8 * 4, "every seed sampled four times: {site}");
        all_terms.push((site["site"].as_str().unwrap().to_string(), site["terms"].clone()));
    }
    let pudong = records(&data.join("pudong.jsonl"));
    assert!(pudong.len() >= 6, "too few pairs kept: {}", pudong.len());
    let xuhui_terms: Vec<String> =
        all_terms[1].1.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_lowercase()).collect();
    for r in &pudong {
        let text = r["comprehensive"].as_str().unwrap();
        assert!(!r["context_terms"].as_array().unwrap().is_empty(), "kept without naming its site: {r}");
        let lower = text.to_lowercase();
        assert!(!xuhui_terms.iter().any(|t| lower.contains(t.as_str())), "names the other site: {text}");
        let line = r.to_string();
        assert!(!line.contains("Thorvaldsen") && !line.contains("kaelen.t@"), "personal data stored: {line}");
        assert_eq!(r["messages"][1]["role"], "user");
        assert!(
            r["messages"][1]["content"].as_str().unwrap().contains("Pudong"),
            "training input is the gateway's prompt"
        );
    }
    assert!(pudong.iter().any(|r| r["split"] == "heldout") && pudong.iter().any(|r| r["split"] == "train"));

    // A short run: the loss goes down. (The held-out split of eight seeds is one or two
    // seeds: too small to call a fall of its loss; docs/adapters.md has the full run's.)
    let adapter = dir.join("adapter-pudong");
    let (stdout, _) = tokio::task::spawn_blocking({
        let (data, adapter) = (data.clone(), adapter.clone());
        move || {
            netgpt(&[
                "train",
                "lora",
                "--data",
                data.join("pudong.jsonl").to_str().unwrap(),
                "--output",
                adapter.to_str().unwrap(),
                "--epochs",
                "2",
                "--gradient-accumulation",
                "2",
                "--warmup-steps",
                "2",
            ])
        }
    })
    .await
    .expect("join");
    let report: Value = serde_json::from_str(&stdout).expect("report JSON on stdout");
    let evaluations = report["evaluations"].as_array().expect("evaluations");
    assert_eq!(evaluations.len(), 3, "held-out loss before training and after each epoch: {report}");
    assert!(evaluations.iter().all(|e| e["heldout_loss"].as_f64().is_some_and(f64::is_finite)), "{report}");
    assert!(report["last_loss"].as_f64().unwrap() < report["first_loss"].as_f64().unwrap(), "{report}");
    for file in ["adapter_config.json", "adapter_model.safetensors", "training.json"] {
        assert!(adapter.join(file).is_file(), "{file} missing");
    }

    // The server loads it next to the base, and it changes what the model writes.
    let model = netgpt_inference::ensure_default_model().expect("model");
    let mut settings = netgpt_inference::ServerSettings::for_model(model);
    settings.adapters = vec![("site-pudong".into(), adapter.clone())];
    let mut server = netgpt_inference::start(settings).await.expect("server");
    server.wait_loaded().await.expect("loaded");
    let probe = pudong[0]["messages"][1]["content"].as_str().unwrap();
    let base_text = greedy(server.addr, "smollm2", probe).await;
    let adapted_text = greedy(server.addr, "site-pudong", probe).await;
    assert_ne!(base_text, adapted_text, "the adapter changed nothing");
    drop(server);

    // The evaluation table compares template and trained on both prompt sets.
    let prompts = dir.join("prompts.txt");
    std::fs::write(&prompts, "cheap ramen near me\nIs it going to rain this afternoon?\n").expect("prompts");
    let (table, _) = tokio::task::spawn_blocking({
        let (example, data, adapter) = (example.clone(), data.clone(), adapter.clone());
        move || {
            netgpt(&[
                "eval",
                "completion",
                "-f",
                example.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--prompts",
                prompts.to_str().unwrap(),
                "--adapter",
                &format!("pudong={}", adapter.display()),
            ])
        }
    })
    .await
    .expect("join");
    for row in [
        "| pudong | held-out | template |",
        "| pudong | held-out | trained |",
        "| pudong | no-split | trained | 2 |",
        "| xuhui | no-split | template | 2 |",
    ] {
        assert!(table.contains(row), "{row} missing from:\n{table}");
    }

    // netgpt local serves the site with its adapter: the manifest names it, the gateway's
    // completion step asks for it.
    let manifest = std::fs::read_to_string(&example).expect("example").replacen(
        "  sites:\n",
        &format!(
            "  adapters:\n    - name: site-pudong\n      source: {{uri: \"file://{}\"}}\n  sites:\n",
            adapter.display()
        ),
        1,
    );
    let manifest = manifest.replacen("    - name: pudong\n", "    - name: pudong\n      adapter: site-pudong\n", 1);
    let manifest_path = dir.join("local-trained.yaml");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    let (stdout, _) = tokio::task::spawn_blocking(move || {
        netgpt(&["local", "-f", manifest_path.to_str().unwrap(), "--demo", "cheap lunch nearby"])
    })
    .await
    .expect("join");
    let block = stdout.split("=== site ").find(|b| b.starts_with("pudong")).unwrap_or_else(|| panic!("{stdout}"));
    let completed = block.lines().find_map(|l| l.strip_prefix("completed prompt : ")).expect("completed prompt line");
    // Had the adapter been missing, the completion request would fail and the gateway
    // would fall back to the original prompt with the place appended.
    assert!(!completed.starts_with("cheap lunch nearby (I am in"), "the site's adapter did not complete: {completed}");
    let _ = std::fs::remove_dir_all(&dir);
}
