//! NetGPT on a real node, end to end, the way a platform team runs it:
//!
//! 1. the image is built from `./Dockerfile` by `hack/image.sh` and imported into the real
//!    node's containerd (`hack/testenv.sh load-image`, like `kind load docker-image`);
//! 2. `helm install` the chart with it: the operator runs **as a pod** with the chart's
//!    ServiceAccount (in-cluster config through the `kubernetes` Service) and wins the lease;
//! 3. an EdgeLLM with two sites, a CloudLLM and a LogicalAIWorkflow on the default model,
//!    which reaches the pods through the `http` init-container fetch with its `sha256`
//!    from a file server this test runs; adapters from host paths the test prepares;
//! 4. the CRs turn Ready from the kubelet's real readiness probes;
//! 5. each site's gateway Service answers a chat request (through `kubectl port-forward`;
//!    the gateway reaches the edge and cloud Services by their DNS names); a request with
//!    personal data goes to the cloud, and the cloud pod's own request log shows it arrived
//!    desensitized;
//! 6. a changed routing threshold and a changed site adapter reach the running pods; a
//!    deleted serving pod is replaced and everything is Ready again;
//! 7. deleting the CRs and `helm uninstall` leave nothing behind.
//!
//! Needs the real node of `hack/testenv.sh start-node` (root, containerd, kubelet).
//! `hack/test.sh` starts it and sets `NETGPT_REQUIRE_REAL_NODE=1`, so in CI a missing node
//! fails the test instead of skipping it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use netgpt_testenv::dashboards::{all_panels, dashboard_files, substitute_variables, template_variables};
use netgpt_testenv::{TestNamespace, client, eventually, kubectl, output_text, repo_root, write_zero_adapter};
use serde_json::{Value, json};

const NETGPT: &str = env!("CARGO_BIN_EXE_netgpt");
/// The real node's name and address (hack/realnode.sh).
const NODE: &str = "netgpt-node-1";
const NODE_IP: &str = "10.244.0.1";
/// Everything the operator creates carries this label.
const MANAGED: &str = "app.kubernetes.io/managed-by=netgpt-operator";
/// How long a resource may take to become Ready (its pods pull nothing, but the model pods
/// load and the gateways wait for them): a fresh-clone CI run on the 2-core VM ran out of
/// 240 s once where a rerun on the same machine took 166 s for the whole test.
const READY_TIMEOUT: Duration = Duration::from_secs(420);

/// Whether the real node is there; fails when it is required (CI) and missing.
async fn real_node(client: &Client) -> bool {
    let required = std::env::var("NETGPT_REQUIRE_REAL_NODE").is_ok_and(|v| v == "1");
    let ready = match Api::<Node>::all(client.clone()).get_opt(NODE).await {
        Ok(Some(node)) => node
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        _ => false,
    };
    assert!(ready || !required, "NETGPT_REQUIRE_REAL_NODE=1 but node {NODE} is not Ready (hack/testenv.sh start-node)");
    if !ready {
        eprintln!("skipping: no real node {NODE} (start one with `hack/testenv.sh start-node`)");
    }
    ready
}

fn run(command: &mut Command, what: &str) -> String {
    let out = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed:\n{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the image from the Dockerfile around the binary under test and imports it into
/// the node. Returns the image reference and its (uncompressed) size as buildah prints it.
fn build_and_load_image() -> (String, String) {
    let root = repo_root();
    let image =
        run(Command::new(root.join("hack/image.sh")).current_dir(&root).args(["--binary", NETGPT]), "hack/image.sh");
    let image = image.lines().last().expect("image.sh prints the reference").to_string();
    run(Command::new(root.join("hack/testenv.sh")).args(["load-image", &image]), "hack/testenv.sh load-image");
    let size = run(Command::new("buildah").args(["images", "--format", "{{.Size}}", &image]), "image size");
    (image, size)
}

/// A child process killed when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `dir` over HTTP on the node's address, where pods can reach it (like a model
/// store inside the cluster's network). Returns the server and its base URL.
fn file_server(dir: &Path) -> (Background, String) {
    let listener = std::net::TcpListener::bind((NODE_IP, 0)).expect("a free port on the node address");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    let child = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", NODE_IP])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let url = format!("http://{NODE_IP}:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((NODE_IP, port)).is_err() {
        assert!(Instant::now() < deadline, "file server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Background(child), url)
}

/// `kubectl port-forward` to a Service; returns the forwarder and the local port.
fn port_forward(namespace: &str, service: &str, port: u16) -> (Background, u16) {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(netgpt_testenv::kubeconfig_path())
        .args(["-n", namespace, "port-forward", &format!("svc/{service}"), &format!(":{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("port-forward output");
    // Keep reading: kubectl prints more lines ("Handling connection ..."), and a closed
    // pipe would kill it with SIGPIPE.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    // "Forwarding from 127.0.0.1:41234 -> 8080"
    let local = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected port-forward output {line:?}"));
    (Background(child), local)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("HTTP client")
}

/// A chat request to a site's gateway Service (debug metadata on).
async fn try_chat(namespace: &str, gateway: &str, prompt: &str) -> Result<Value, String> {
    try_chat_messages(namespace, gateway, json!([{"role": "user", "content": prompt}])).await
}

async fn try_chat_messages(namespace: &str, gateway: &str, messages: Value) -> Result<Value, String> {
    let (_forward, port) = port_forward(namespace, gateway, 8080);
    let body = json!({"messages": messages, "max_tokens": 24, "temperature": 0});
    let response = http()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .header("x-netgpt-debug", "true")
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{gateway} answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{gateway} answered non-JSON ({e}): {text}"))
}

/// [`try_chat`] until it answers: right after a rollout the forwarder may pick a pod that
/// is on its way out.
async fn chat(namespace: &str, gateway: &str, prompt: &str) -> Value {
    chat_messages(namespace, gateway, json!([{"role": "user", "content": prompt}])).await
}

async fn chat_messages(namespace: &str, gateway: &str, messages: Value) -> Value {
    let mut last = String::new();
    for _ in 0..30 {
        match try_chat_messages(namespace, gateway, messages.clone()).await {
            Ok(answer) => return answer,
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("no answer from {gateway}: {last}")
}

fn answer_text(answer: &Value) -> &str {
    answer["choices"][0]["message"]["content"].as_str().unwrap_or_default()
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == kind)
}

/// Waits until the custom resource's `Ready` condition is True for its current generation.
/// On timeout the panic carries the resource's last conditions, the namespace's pods and
/// its recent events, so a CI log says which part never became ready.
async fn wait_cr_ready(namespace: &str, kind: &str, name: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let out = kubectl(&["-n", namespace, "get", kind, name, "-o", "json"]);
        if let Ok(object) = serde_json::from_slice::<Value>(&out.stdout) {
            let ready = condition(&object, "Ready");
            if ready
                .is_some_and(|r| r["status"] == "True" && r["observedGeneration"] == object["metadata"]["generation"])
            {
                return;
            }
            last = object;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let pods = kubectl(&["-n", namespace, "get", "pods", "-o", "wide"]);
    let events = kubectl(&["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"]);
    let events = output_text(&events);
    let recent: Vec<&str> = events.lines().rev().take(25).collect();
    panic!(
        "timed out after {READY_TIMEOUT:?} waiting for {kind} {name} Ready; its conditions: {}\npods:\n{}\nlatest events:\n{}\n{}",
        serde_json::to_string_pretty(&last["status"]["conditions"]).unwrap_or_default(),
        output_text(&pods),
        recent.into_iter().rev().collect::<Vec<_>>().join("\n"),
        not_ready_diagnostics(namespace),
    );
}

/// What a CI log needs to tell why a pod stays unready: the unready containers' own last
/// log lines, the Services' endpoints, and the node's DNS and kube-proxy state.
fn not_ready_diagnostics(namespace: &str) -> String {
    let mut report = String::new();
    let out = kubectl(&["-n", namespace, "get", "pods", "-o", "json"]);
    let pods: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    for pod in pods["items"].as_array().into_iter().flatten() {
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
        for status in pod["status"]["containerStatuses"].as_array().into_iter().flatten() {
            if status["ready"] == true {
                continue;
            }
            let container = status["name"].as_str().unwrap_or_default();
            let logs = kubectl(&["-n", namespace, "logs", pod_name, "-c", container, "--tail=15"]);
            report.push_str(&format!("--- logs of unready {pod_name}/{container}:\n{}\n", output_text(&logs)));
        }
    }
    let endpoints = kubectl(&["-n", namespace, "get", "endpoints"]);
    report.push_str(&format!("--- endpoints:\n{}\n", output_text(&endpoints)));
    let node = netgpt_testenv::kubeconfig_path().with_file_name("node");
    for (what, file, lines) in [
        ("DNS hosts", "dns/hosts", 40),
        ("DNS feeder log", "logs/dns-feeder.log", 10),
        ("dnsmasq log", "logs/dnsmasq.log", 10),
        ("kube-proxy log", "logs/kube-proxy.log", 15),
    ] {
        let text = std::fs::read_to_string(node.join(file)).unwrap_or_else(|e| format!("({e})"));
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        report.push_str(&format!("--- {what} ({file}):\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
    }
    report
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Seconds from a pod's creation to its Ready condition (both stamped by the cluster).
fn start_to_ready(pod: &Pod) -> Option<f64> {
    let created = pod.metadata.creation_timestamp.as_ref()?.0;
    let ready = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready" && c.status == "True")?;
    let at = ready.last_transition_time.as_ref()?.0;
    Some(at.duration_since(created).as_secs_f64())
}

/// Every pod the operator made in `namespace` runs on the real node and is Ready, and the
/// Deployments report exactly that many ready replicas (what the CR status is built from).
async fn assert_workloads_ready(client: &Client, namespace: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    eventually("every operator-made pod Ready and no pod terminating", READY_TIMEOUT, || async {
        let list = pods.list(&ListParams::default().labels(MANAGED)).await.ok()?;
        let live: Vec<Pod> = list.items.into_iter().collect();
        let all_ready =
            !live.is_empty() && live.iter().all(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none());
        let wanted: i32 = deployments
            .list(&ListParams::default().labels(MANAGED))
            .await
            .ok()?
            .items
            .iter()
            .map(|d| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
            .sum();
        (all_ready && live.len() == wanted as usize).then_some(live)
    })
    .await
    .into_iter()
    .inspect(|pod| {
        let spec = pod.spec.as_ref().expect("pod spec");
        assert_eq!(spec.node_name.as_deref(), Some(NODE), "pod {} runs on the real node", pod.name_any());
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
        assert!(ip.starts_with("10.244.0."), "pod {} has a CNI bridge address, got {ip:?}", pod.name_any());
    })
    .collect()
}

/// Lines of the cloud pods' request log (`spec.serving.logRequests`).
fn cloud_request_log(namespace: &str, cloud: &str) -> String {
    let out = kubectl(&[
        "-n",
        namespace,
        "logs",
        "-l",
        &format!("app.kubernetes.io/component=cloud-llm,app.kubernetes.io/instance={cloud}"),
        "-c",
        "server",
        "--tail=-1",
    ]);
    assert!(out.status.success(), "kubectl logs of the cloud pods: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("netgpt::requests"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `examples/kind.yaml` expects the model on the node.
const NODE_MODEL: &str = "/var/lib/netgpt/models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// `examples/kind.yaml` as applied here, as a `List`. What the test adds: every pod pinned
/// to the real node (tolerating its test taint), the cloud model fetched over http with its
/// checksum (the edge keeps the example's node-local file), per-site LoRA adapters, and
/// threshold 1.0 so that the first answers come from the cloud.
fn manifests(model_url: &str, sha256: &str, adapters: &Path) -> String {
    let text = std::fs::read_to_string(repo_root().join("examples/kind.yaml")).expect("examples/kind.yaml");
    let mut items = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let mut object: Value = serde::Deserialize::deserialize(document).expect("examples/kind.yaml parses");
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if kind == "EdgeLLM" || kind == "CloudLLM" {
            object["spec"]["placement"] = json!({
                "nodeSelector": {"netgpt.io/real-node": "true"},
                "tolerations": [{"key": "netgpt.io/real-node", "operator": "Exists", "effect": "NoSchedule"}],
            });
        }
        if kind == "CloudLLM" {
            object["spec"]["model"]["source"] = json!({"uri": model_url, "sha256": sha256});
        }
        if kind == "EdgeLLM" {
            let adapter = |name: &str| json!({"uri": format!("hostpath://{}", adapters.join(name).display())});
            object["spec"]["adapters"] = json!([
                {"name": "site-a-lora", "source": adapter("site-a")},
                {"name": "site-b-lora", "source": adapter("site-b")},
                {"name": "site-a-v2", "source": adapter("site-a-v2")},
            ]);
            object["spec"]["sites"][0]["adapter"] = json!("site-a-lora");
            object["spec"]["sites"][1]["adapter"] = json!("site-b-lora");
        }
        if kind == "LogicalAIWorkflow" {
            object["spec"]["routing"]["confidenceThreshold"] = json!(1.0);
            // Short intervals, so that a prediction reaches the status within the test.
            for step in object["spec"]["steps"].as_array_mut().into_iter().flatten() {
                if step["kind"] == "popularityPrediction" {
                    step["popularity"]["intervalSeconds"] = json!(10);
                }
            }
        }
        items.push(object);
    }
    assert_eq!(items.len(), 3, "examples/kind.yaml has an EdgeLLM, a CloudLLM and a workflow");
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// Stages the model where the example expects it on the node (this machine), as
/// `docker cp` into a kind node would.
fn stage_model_on_node(model: &Path) {
    let target = Path::new(NODE_MODEL);
    let same = std::fs::metadata(target).ok().map(|m| m.len()) == std::fs::metadata(model).ok().map(|m| m.len());
    if !same {
        std::fs::create_dir_all(target.parent().expect("has a parent")).expect("creating the node's model directory");
        std::fs::copy(model, target).expect("staging the model on the node");
    }
    run(Command::new("chmod").args(["a+rX", "/var/lib/netgpt", "/var/lib/netgpt/models", NODE_MODEL]), "chmod");
}

fn sha256_hex(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path), "sha256sum");
    out.split_whitespace().next().expect("sha256sum prints a digest").to_string()
}

fn model_path() -> PathBuf {
    let out = run(Command::new(NETGPT).args(["model", "pull"]), "netgpt model pull");
    PathBuf::from(out.lines().last().unwrap_or_default())
}

/// Objects a release of the chart owns, by the chart's instance label.
fn release_leftovers(release: &str, namespace: &str) -> Vec<String> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let mut left = Vec::new();
    for (kinds, ns) in [
        ("deployments,replicasets,pods,services,serviceaccounts,configmaps,roles,rolebindings,leases", Some(namespace)),
        ("clusterroles,clusterrolebindings", None),
    ] {
        let mut args = vec!["get", kinds, "-l", &selector, "-o", "name"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let out = kubectl(&args);
        left.extend(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string));
    }
    left
}

/// The scrape job `docs/metrics.md` documents, as users copy it.
fn documented_scrape_job() -> String {
    let doc = std::fs::read_to_string(repo_root().join("docs/metrics.md")).expect("docs/metrics.md");
    let start = doc.find("<!-- scrape-job:start -->").expect("docs/metrics.md marks its scrape job");
    let end = doc.find("<!-- scrape-job:end -->").expect("docs/metrics.md marks the end of its scrape job");
    let block = &doc[start..end];
    let yaml = block.split("```yaml").nth(1).and_then(|b| b.split("```").next()).expect("a yaml block");
    yaml.to_string()
}

/// A real Prometheus scraping NetGPT's pods through Kubernetes service discovery against
/// the test apiserver, with the documented job plus the test cluster's address and token.
struct Prometheus {
    _process: Background,
    base: String,
    started: f64,
    dir: PathBuf,
}

/// Debian's Prometheus lacks Kubernetes discovery, so the test bed serves the same
/// `role: pod` targets and meta labels over `http_sd_configs`
/// ([`netgpt_testenv::pod_discovery`]); the documented relabelling runs unchanged.
async fn start_prometheus(client: &Client, namespaces: &[&str], dir: &Path) -> Prometheus {
    let job = documented_scrape_job();
    let sd_url =
        netgpt_testenv::pod_discovery::serve(client.clone(), namespaces.iter().map(|n| n.to_string()).collect()).await;
    let kubernetes_sd = "    kubernetes_sd_configs:\n      - role: pod\n";
    assert!(job.contains(kubernetes_sd), "the documented job discovers pods: {job}");
    let config = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n{}",
        job.replacen(
            kubernetes_sd,
            &format!("    http_sd_configs:\n      - url: {sd_url}\n        refresh_interval: 1s\n"),
            1
        )
    );
    std::fs::create_dir_all(dir).expect("prometheus dir");
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("prometheus.yml");
    run(Command::new("promtool").arg("check").arg("config").arg(&config_path), "promtool check config");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("prometheus runs (installed by hack/testenv.sh install)");
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    Prometheus {
        _process: Background(child),
        base: format!("http://127.0.0.1:{port}"),
        started,
        dir: dir.to_path_buf(),
    }
}

impl Prometheus {
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let body: Value = http()
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{path}: {body}"));
        }
        Ok(body["data"].clone())
    }

    /// Targets of the job: (scrape URL, health, labels).
    async fn targets(&self) -> Vec<(String, String, Value)> {
        let data = self.api("/api/v1/targets", &[("state", "active")]).await.unwrap_or_default();
        data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["scrapeUrl"].as_str().unwrap_or_default().to_string(),
                    t["health"].as_str().unwrap_or_default().to_string(),
                    t["labels"].clone(),
                )
            })
            .collect()
    }

    /// Series a PromQL expression returns at any step since Prometheus started.
    async fn range_series(&self, expr: &str) -> Result<usize, String> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let (start, end) = (format!("{:.3}", self.started), format!("{now:.3}"));
        let data = self
            .api("/api/v1/query_range", &[("query", expr), ("start", &start), ("end", &end), ("step", "2")])
            .await?;
        Ok(data["result"].as_array().map_or(0, |series| {
            series.iter().filter(|s| s["values"].as_array().is_some_and(|v| !v.is_empty())).count()
        }))
    }
}

/// Titles of the shipped dashboards' panels none of whose queries returns data.
async fn panels_without_data(prom: &Prometheus) -> Vec<String> {
    let mut empty = Vec::new();
    for (file, dashboard) in dashboard_files() {
        let variables = template_variables(&dashboard);
        for panel in all_panels(&dashboard) {
            if panel["type"] == "row" {
                continue;
            }
            let mut has_data = false;
            for target in panel["targets"].as_array().into_iter().flatten() {
                let raw = target["expr"].as_str().unwrap_or_default();
                let expr = substitute_variables(raw, &variables).unwrap_or_else(|e| panic!("{file}: variable {e}"));
                let series = prom.range_series(&expr).await.unwrap_or_else(|e| panic!("{file}: {expr}: {e}"));
                has_data |= series > 0;
            }
            if !has_data {
                empty.push(format!("{file}: {:?}", panel["title"]));
            }
        }
    }
    empty
}

/// Every target of every NetGPT pod is up, and every panel of every shipped dashboard
/// returns data for them (at least one of its queries, over the test's time window).
async fn check_scraped_dashboards(prom: &Prometheus, expected_targets: usize) {
    let targets = eventually("every NetGPT pod's metrics port scraped and up", Duration::from_secs(60), || async {
        let targets = prom.targets().await;
        (targets.len() == expected_targets && targets.iter().all(|(_, health, _)| health == "up")).then_some(targets)
    })
    .await;
    let containers: BTreeMap<String, usize> = targets.iter().fold(BTreeMap::new(), |mut m, (_, _, labels)| {
        *m.entry(labels["container"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        m
    });
    assert_eq!(containers.get("desensitizer"), Some(&2), "each site's desensitizer is scraped: {containers:?}");
    // Rates need two scrapes of a series: poll until every panel has data, or time out.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut empty = panels_without_data(prom).await;
    while !empty.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        empty = panels_without_data(prom).await;
    }
    assert!(
        empty.is_empty(),
        "panels without data (Prometheus files in {}):\n{}",
        prom.dir.display(),
        empty.join("\n")
    );
}

/// Uninstalls the release when the test ends early (a panic), so the next run starts clean.
struct ReleaseGuard {
    helm: String,
    release: &'static str,
    namespace: String,
    armed: bool,
}

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = Command::new(&self.helm)
                .arg("--kubeconfig")
                .arg(netgpt_testenv::kubeconfig_path())
                .args(["uninstall", self.release, "-n", &self.namespace])
                .output();
        }
    }
}

#[tokio::test]
async fn the_whole_workflow_runs_as_pods_on_a_real_node() {
    let started = Instant::now();
    let client = client().await;
    if !real_node(&client).await {
        return;
    }
    let helm = std::env::var("NETGPT_HELM").unwrap_or_else(|_| {
        run(Command::new(repo_root().join("hack/testenv.sh")).arg("helm-path"), "hack/testenv.sh helm-path")
    });

    // The model reaches the pods the way users' models do: fetched over http(s) with its
    // checksum by an init container. Adapters come from host paths (a node-local store).
    let model = model_path();
    let sha256 = sha256_hex(&model);
    let store = std::env::temp_dir().join(format!("netgpt-e2e-{}", std::process::id()));
    let files = store.join("files");
    let adapters = store.join("adapters");
    std::fs::create_dir_all(&files).expect("file server dir");
    std::fs::copy(&model, files.join("model.gguf")).expect("staging the model");
    stage_model_on_node(&model);
    for name in ["site-a", "site-b", "site-a-v2"] {
        write_zero_adapter(&adapters.join(name));
    }
    // The pods run as 65532: the store must be world-readable.
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(&store), "chmod");
    let (_files_server, files_url) = file_server(&files);

    let (image, image_size) = build_and_load_image();
    eprintln!("image {image}: {image_size}");

    // helm install: the operator as a pod on the real node.
    let system = TestNamespace::new(&client, "e2e-system").await;
    let workloads = TestNamespace::new(&client, "e2e").await;
    let release = "netgpt-e2e";
    let prometheus = start_prometheus(&client, &[&system.name, &workloads.name], &store.join("prometheus")).await;
    let (repository, tag) = image.rsplit_once(':').expect("image reference has a tag");
    eprintln!("real-cluster: helm install ({:.0?})", started.elapsed());
    // Cluster-scoped objects of a run that died before its clean-up.
    let _ = kubectl(&[
        "delete",
        "clusterroles,clusterrolebindings",
        "-l",
        &format!("app.kubernetes.io/instance={release}"),
    ]);
    let mut guard = ReleaseGuard { helm: helm.clone(), release, namespace: system.name.clone(), armed: true };
    let installed = Instant::now();
    run(
        Command::new(&helm)
            .arg("--kubeconfig")
            .arg(netgpt_testenv::kubeconfig_path())
            .args(["install", release])
            .arg(repo_root().join("charts/netgpt"))
            .args(["-n", &system.name, "--set", &format!("image.repository={repository}")])
            .args(["--set", &format!("image.tag={tag}")])
            .args(["--set-json", r#"nodeSelector={"netgpt.io/real-node":"true"}"#])
            .args(["--set-json", r#"tolerations=[{"key":"netgpt.io/real-node","operator":"Exists"}]"#]),
        "helm install",
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &system.name);
    let operator = eventually("the operator pod Ready", READY_TIMEOUT, || async {
        let list =
            pods.list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"))).await.ok()?;
        list.items.into_iter().find(pod_ready)
    })
    .await;
    assert_eq!(operator.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some(NODE));
    assert_eq!(
        operator.spec.as_ref().and_then(|s| s.service_account_name.as_deref()),
        Some(release),
        "the operator runs with the chart's ServiceAccount"
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), &system.name);
    let holder = eventually("the operator pod holding the lease", Duration::from_secs(60), || async {
        leases.get_opt(release).await.ok()??.spec?.holder_identity
    })
    .await;
    assert_eq!(holder, operator.name_any(), "the operator pod wins the lease");

    eprintln!("real-cluster: operator pod up; applying workloads ({:.0?})", started.elapsed());
    // The workloads.
    let yaml = manifests(&format!("{files_url}/model.gguf"), &sha256, &adapters);
    let applied =
        netgpt_testenv::kubectl_with_stdin(&["-n", &workloads.name, "apply", "-f", "-"], Some(yaml.as_bytes()));
    assert!(applied.status.success(), "kubectl apply: {}", output_text(&applied));
    for (kind, name) in [("edgellm", "edge"), ("cloudllm", "cloud"), ("logicalaiworkflow", "wf")] {
        wait_cr_ready(&workloads.name, kind, name).await;
    }
    let running = assert_workloads_ready(&client, &workloads.name).await;
    assert_eq!(running.len(), 5, "two edge sites, one cloud replica, two gateways");
    let serving_ready: Vec<f64> = running
        .iter()
        .filter(|p| p.labels().get("app.kubernetes.io/component").is_some_and(|c| c != "gateway"))
        .filter_map(start_to_ready)
        .collect();

    eprintln!("real-cluster: workloads Ready; chatting ({:.0?})", started.elapsed());
    // Every site's gateway answers through its Service. Threshold 1.0: the edge is never
    // confident enough, so the answer comes from the cloud through the desensitizer.
    let mut first_answer = None;
    for site in ["site-a", "site-b"] {
        let answer = chat(&workloads.name, &format!("wf-{site}-gw"), "Where can I get a good dinner tonight?").await;
        first_answer.get_or_insert(installed.elapsed());
        assert_eq!(answer["netgpt"]["site"], site, "{answer}");
        assert_eq!(answer["netgpt"]["path"], "cloud", "{answer}");
        assert!(!answer_text(&answer).trim().is_empty(), "an answer with text: {answer}");
    }
    let first_answer = first_answer.expect("answered");

    eprintln!("real-cluster: personal data check ({:.0?})", started.elapsed());
    // Personal data: the cloud pod's own request log shows what reached it.
    let secret_name = "Johnathan Whitfield";
    let secret_email = "j.whitfield@example.org";
    let answer = chat(
        &workloads.name,
        "wf-site-a-gw",
        &format!("I am {secret_name}, email {secret_email}. Which restaurant near me is open late?"),
    )
    .await;
    assert_eq!(answer["netgpt"]["path"], "cloud", "{answer}");
    let log = eventually("the cloud's request log to show the request", Duration::from_secs(30), || async {
        let log = cloud_request_log(&workloads.name, "cloud");
        log.contains("restaurant near me is open late").then_some(log)
    })
    .await;
    let arrived = log.lines().find(|l| l.contains("restaurant near me is open late")).expect("logged");
    assert!(
        !arrived.contains(secret_email) && !arrived.contains("Whitfield"),
        "personal data reached the cloud: {arrived}"
    );
    assert!(arrived.contains("[EMAIL_") && arrived.contains("[PERSON_"), "pseudonyms in place: {arrived}");
    // The chart's default log format (json) reached the pods the operator made.
    let entry: Value = serde_json::from_str(arrived).unwrap_or_else(|e| panic!("a JSON log line ({e}): {arrived}"));
    assert_eq!(entry["target"], "netgpt::requests", "{entry}");
    assert!(entry["fields"]["prompt"].as_str().is_some_and(|p| p.contains("[EMAIL_")), "{entry}");
    assert!(!answer_text(&answer).contains("[EMAIL_") && !answer_text(&answer).contains("[PERSON_"), "{answer}");
    // A name no rule or word list knows, without a cue ("Please tell …"): only the learned
    // stage finds it, so this shows the image ships the model and the sidecar runs it. It
    // is in the system message, which the gateway forwards as written (the user's turn is
    // rewritten by the completion step).
    let answer = chat_messages(
        &workloads.name,
        "wf-site-a-gw",
        json!([
            {"role": "system", "content": "Please tell Kaelen Thorvaldsen that the booking is confirmed."},
            {"role": "user", "content": "Which restaurant near me is open late?"}
        ]),
    )
    .await;
    assert_eq!(answer["netgpt"]["path"], "cloud", "{answer}");
    let log = eventually("the cloud's request log to show the second request", Duration::from_secs(30), || async {
        let log = cloud_request_log(&workloads.name, "cloud");
        log.contains("that the booking is confirmed").then_some(log)
    })
    .await;
    let arrived = log.lines().find(|l| l.contains("that the booking is confirmed")).expect("logged");
    assert!(!arrived.contains("Thorvaldsen"), "a name only the learned stage finds reached the cloud: {arrived}");
    assert!(arrived.contains("[PERSON_"), "the learned stage's pseudonym in place: {arrived}");

    eprintln!("real-cluster: popularity in status ({:.0?})", started.elapsed());
    // The requests above were about food: once an interval has closed, the site's edge
    // model predicts the next one, and the operator (a pod, reaching the gateway Service)
    // copies the prediction into the workflow's status.
    let workflows: Api<netgpt_crds::LogicalAIWorkflow> = Api::namespaced(client.clone(), &workloads.name);
    let popularity =
        eventually("site-a's prediction in status.sites[].popularity", Duration::from_secs(90), || async {
            let wf = workflows.get("wf").await.ok()?;
            let site = wf.status?.sites.into_iter().find(|s| s.name == "site-a")?;
            site.popularity.into_iter().find(|p| !p.top.is_empty())
        })
        .await;
    assert_eq!(popularity.step, "forecast", "{popularity:?}");
    assert!(popularity.top.len() <= 3, "{popularity:?}");
    assert!(popularity.source.is_some() && popularity.interval_start.is_some(), "{popularity:?}");

    eprintln!("real-cluster: threshold change ({:.0?})", started.elapsed());
    // A changed routing threshold reaches the running gateways: 0.0 means the edge answers.
    workflows
        .patch("wf", &PatchParams::default(), &Patch::Merge(json!({"spec": {"routing": {"confidenceThreshold": 0.0}}})))
        .await
        .expect("patching the threshold");
    wait_cr_ready(&workloads.name, "logicalaiworkflow", "wf").await;
    eventually("site-b's gateway to answer at the edge", READY_TIMEOUT, || async {
        let answer = try_chat(&workloads.name, "wf-site-b-gw", "Is the metro running late tonight?").await.ok()?;
        (answer["netgpt"]["path"] == "edge").then_some(())
    })
    .await;

    eprintln!("real-cluster: adapter change ({:.0?})", started.elapsed());
    // A changed site adapter reaches the site's serving pods (and the gateway's routing).
    let edges: Api<netgpt_crds::EdgeLLM> = Api::namespaced(client.clone(), &workloads.name);
    let mut edge = edges.get("edge").await.expect("EdgeLLM");
    edge.spec.sites[0].adapter = Some("site-a-v2".into());
    edges
        .patch("edge", &PatchParams::default(), &Patch::Merge(json!({"spec": {"sites": edge.spec.sites}})))
        .await
        .expect("switching site-a's adapter");
    wait_cr_ready(&workloads.name, "edgellm", "edge").await;
    eventually("site-a's edge Service to serve adapter site-a-v2", READY_TIMEOUT, || async {
        let (_forward, port) = port_forward(&workloads.name, "edge-site-a", 8000);
        let models: Value =
            http().get(format!("http://127.0.0.1:{port}/v1/models")).send().await.ok()?.json().await.ok()?;
        let ids: Vec<&str> = models["data"].as_array()?.iter().filter_map(|m| m["id"].as_str()).collect();
        (ids.contains(&"site-a-v2") && !ids.contains(&"site-a-lora")).then_some(())
    })
    .await;
    eventually("site-a's gateway to route to site-a-v2", READY_TIMEOUT, || async {
        let config: ConfigMap = Api::namespaced(client.clone(), &workloads.name).get("wf-site-a-gw").await.ok()?;
        config.data?.values().any(|v| v.contains("model: site-a-v2")).then_some(())
    })
    .await;
    // Until the gateway's rollout is complete, its old pod may still ask the edge for the
    // adapter the edge no longer serves (and falls back to the cloud path): wait it out.
    assert_workloads_ready(&client, &workloads.name).await;
    let answer = chat(&workloads.name, "wf-site-a-gw", "Any bookshops open now?").await;
    assert_eq!(answer["netgpt"]["path"], "edge", "{answer}");

    eprintln!("real-cluster: healing ({:.0?})", started.elapsed());
    // A deleted serving pod heals: a new pod becomes Ready, the workflow Ready again.
    let workload_pods: Api<Pod> = Api::namespaced(client.clone(), &workloads.name);
    let victim = workload_pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=edge-llm,netgpt.io/site=site-b"))
        .await
        .expect("site-b pods")
        .items
        .into_iter()
        .next()
        .expect("a site-b pod");
    workload_pods.delete(&victim.name_any(), &DeleteParams::default()).await.expect("deleting a serving pod");
    let healed = assert_workloads_ready(&client, &workloads.name).await;
    assert!(healed.iter().all(|p| p.uid() != victim.uid()), "the deleted pod was replaced");
    for (kind, name) in [("edgellm", "edge"), ("logicalaiworkflow", "wf")] {
        wait_cr_ready(&workloads.name, kind, name).await;
    }
    let answer = chat(&workloads.name, "wf-site-b-gw", "Where is the nearest pharmacy?").await;
    assert_eq!(answer["netgpt"]["site"], "site-b", "{answer}");

    // A spec the operator refuses: InvalidSpec condition and a Warning Event naming the field.
    eprintln!("real-cluster: invalid spec ({:.0?})", started.elapsed());
    let broken = std::fs::read(repo_root().join("examples/invalid/undeclared-adapter.yaml")).expect("example");
    let applied = netgpt_testenv::kubectl_with_stdin(&["-n", &workloads.name, "apply", "-f", "-"], Some(&broken));
    assert!(applied.status.success(), "{}", output_text(&applied));
    eventually("InvalidSpec on the broken EdgeLLM", Duration::from_secs(60), || async {
        let out = kubectl(&["-n", &workloads.name, "get", "edgellm", "broken-edge", "-o", "json"]);
        let object: Value = serde_json::from_slice(&out.stdout).ok()?;
        let ready = condition(&object, "Ready")?;
        (ready["reason"] == "InvalidSpec" && ready["message"].as_str()?.contains("spec.sites[0].adapter")).then_some(())
    })
    .await;
    eventually("a Warning Event naming the field", Duration::from_secs(60), || async {
        let out = kubectl(&["-n", &workloads.name, "get", "events", "-o", "json"]);
        let events: Value = serde_json::from_slice(&out.stdout).ok()?;
        events["items"]
            .as_array()?
            .iter()
            .any(|e| {
                e["reason"] == "InvalidSpec"
                    && e["message"].as_str().is_some_and(|m| m.contains("spec.sites[0].adapter"))
            })
            .then_some(())
    })
    .await;

    // Prometheus found every pod through Kubernetes service discovery; every panel has data.
    eprintln!("real-cluster: dashboards ({:.0?})", started.elapsed());
    // operator + two edge sites + one cloud replica + two gateways with a desensitizer each.
    check_scraped_dashboards(&prometheus, 8).await;

    eprintln!("real-cluster: cleanup ({:.0?})", started.elapsed());
    // Nothing left behind: the CRs' children are garbage-collected, the release removed.
    for kind in ["logicalaiworkflow/wf", "edgellm/edge", "cloudllm/cloud", "edgellm/broken-edge"] {
        let out = kubectl(&["-n", &workloads.name, "delete", kind, "--wait=true", "--timeout=120s"]);
        assert!(out.status.success(), "deleting {kind}: {}", output_text(&out));
    }
    run(
        Command::new(&helm).arg("--kubeconfig").arg(netgpt_testenv::kubeconfig_path()).args([
            "uninstall",
            release,
            "-n",
            &system.name,
            "--wait",
        ]),
        "helm uninstall",
    );
    guard.armed = false;
    eventually("the workloads to be gone", READY_TIMEOUT, || async {
        let selector = ListParams::default().labels(MANAGED);
        let pods = workload_pods.list(&selector).await.ok()?.items.len();
        let deployments = Api::<Deployment>::namespaced(client.clone(), &workloads.name).list(&selector).await.ok()?;
        let services = Api::<Service>::namespaced(client.clone(), &workloads.name).list(&selector).await.ok()?;
        let configs = Api::<ConfigMap>::namespaced(client.clone(), &workloads.name).list(&selector).await.ok()?;
        (pods + deployments.items.len() + services.items.len() + configs.items.len() == 0).then_some(())
    })
    .await;
    eventually("the release's objects to be gone", READY_TIMEOUT, || async {
        let left = release_leftovers(release, &system.name);
        left.is_empty().then_some(())
    })
    .await;
    assert!(leases.get_opt(release).await.expect("reading leases").is_none(), "the leader Lease outlived the release");
    let _ = std::fs::remove_dir_all(&store);

    let mut timings = BTreeMap::new();
    timings.insert("image_size", json!(image_size));
    timings.insert("helm_install_to_first_answer_s", json!(first_answer.as_secs_f64()));
    let mut ready = serving_ready.clone();
    ready.sort_by(f64::total_cmp);
    timings.insert("serving_pod_start_to_ready_median_s", json!(ready.get(ready.len() / 2)));
    // One line for docs/reliability.md and the benchmark script to pick up.
    println!("real-cluster timings: {}", serde_json::to_string(&timings).unwrap_or_default());
}
