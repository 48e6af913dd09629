//! Metrics, dashboards and `docs/metrics.md` against the real components.
//!
//! Starts `netgpt serve` (the cached SmolLM2 with a generated LoRA adapter for the site),
//! `netgpt desensitize`, `netgpt gateway` and `netgpt operator` (against the test control
//! plane) on loopback, sends traffic through them, runs a real Prometheus (Debian's
//! package, installed by `hack/testenv.sh install`) scraping all four every second, and then:
//! - runs `promtool check metrics` on each component's `/metrics` text;
//! - evaluates every PromQL expression of every panel of every dashboard in
//!   `charts/netgpt/dashboards/` and fails when a query errors or names a metric that no
//!   component exposes (template variables included);
//! - compares each component's table in `docs/metrics.md` (names, types, labels) with
//!   what the component exposes;
//! - checks that the chart renders one sidecar-labelled ConfigMap per dashboard.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, PostParams};
use netgpt_testenv::dashboards::{all_panels, dashboard_files, substitute_variables};
use netgpt_testenv::{TestNamespace, client, install_crds, kubeconfig_path, repo_root, write_zero_adapter};
use serde_json::{Value, json};

const NETGPT: &str = env!("CARGO_BIN_EXE_netgpt");
/// Site name of the test gateway.
const SITE: &str = "metrics-site";

/// The components, by the `netgpt` subcommand `docs/metrics.md` names them with.
const COMPONENTS: [&str; 4] = ["serve", "desensitize", "gateway", "operator"];

/// Every process the test starts; killed (and reaped) when the test ends, even on panic.
struct Processes {
    children: Vec<(String, Child)>,
    dir: PathBuf,
}

impl Processes {
    fn spawn(&mut self, name: &str, command: &mut Command) {
        let log = File::create(self.log(name)).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("dup log")))
            .stderr(Stdio::from(log))
            .env("NO_COLOR", "1")
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.children.push((name.to_string(), child));
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Panics unless every process is still running (a crash would otherwise show up
    /// only as a confusing timeout).
    fn check_alive(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
                panic!("{name} exited ({status}):\n{}", tail(&log, 3000));
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    &text[start..]
}

/// `n` distinct free loopback ports (held together, then released just before use).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port")).collect();
    listeners.iter().map(|l| l.local_addr().expect("local addr").port()).collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(180))
        .build()
        .expect("HTTP client")
}

async fn get_text(http: &reqwest::Client, url: &str) -> Option<String> {
    let response = http.get(url).timeout(Duration::from_secs(5)).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// Polls `url` until it answers 2xx, checking that the processes are still alive.
async fn wait_ready(procs: &mut Processes, http: &reqwest::Client, what: &str, url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if get_text(http, url).await.is_some() {
            return;
        }
        procs.check_alive();
        assert!(Instant::now() < deadline, "{what} not ready at {url} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs a command with a time limit; returns (success, stdout, stderr).
async fn run_bounded(command: &mut tokio::process::Command, stdin: &[u8], limit: Duration) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("command starts");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("writing stdin");
    drop(input);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} did not finish within {limit:?}"))
        .expect("command output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One metric family as the exposition text declares it.
#[derive(Debug, Default, Clone)]
struct Family {
    kind: String,
    has_help: bool,
    /// Label names seen on its samples (without `le`/`quantile`).
    labels: BTreeSet<String>,
}

/// Parses Prometheus text exposition into families by name.
fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                families.entry(name.to_string()).or_default().kind = kind.to_string();
            }
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let mut parts = rest.splitn(2, ' ');
            if let (Some(name), Some(help)) = (parts.next(), parts.next()) {
                families.entry(name.to_string()).or_default().has_help = !help.trim().is_empty();
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let sample = &line[..name_end];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| sample.strip_suffix(s))
                .find(|base| families.get(*base).is_some_and(|f| f.kind == "histogram" || f.kind == "summary"))
                .unwrap_or(sample)
                .to_string();
            let entry = families.entry(family).or_default();
            if line[name_end..].starts_with('{') {
                let close = line.rfind('}').unwrap_or(line.len());
                for pair in split_labels(&line[name_end + 1..close]) {
                    if let Some((label, _)) = pair.split_once('=')
                        && label != "le"
                        && label != "quantile"
                    {
                        entry.labels.insert(label.trim().to_string());
                    }
                }
            }
        }
    }
    families
}

/// Splits `a="x",b="y,z"` at the commas outside quotes.
fn split_labels(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Series names a family exposes (histograms: `_bucket`, `_sum`, `_count`).
fn series_names(name: &str, family: &Family) -> Vec<String> {
    match family.kind.as_str() {
        "histogram" => vec![format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count")],
        "summary" => vec![name.to_string(), format!("{name}_sum"), format!("{name}_count")],
        _ => vec![name.to_string()],
    }
}

/// PromQL functions and aggregations (Prometheus 2.42).
const PROMQL_FUNCTIONS: &str = "\
    abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min count \
    count_over_time count_values day_of_month day_of_week day_of_year days_in_month delta deriv exp \
    floor group histogram_quantile holt_winters hour idelta increase irate label_join label_replace \
    last_over_time ln log10 log2 max max_over_time min min_over_time minute month predict_linear \
    present_over_time quantile quantile_over_time rate resets round scalar sgn sort sort_desc sqrt \
    stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time time timestamp topk vector year";
const PROMQL_KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"];
/// Keywords followed by a parenthesised list of label names.
const PROMQL_LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Metric names a PromQL expression selects: identifiers outside strings, label matchers,
/// range brackets and label lists that are neither functions nor keywords.
fn promql_metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_until = |i: &mut usize, close: char| -> Result<(), String> {
        let mut quote: Option<char> = None;
        while *i < chars.len() {
            let c = chars[*i];
            *i += 1;
            match quote {
                Some(q) if c == '\\' => *i += usize::from(q != '`'),
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c == close => return Ok(()),
                None => {}
            }
        }
        Err(format!("unbalanced `{close}` in {expr}"))
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            let mut escaped = false;
            while i < chars.len() && (escaped || chars[i] != c) {
                escaped = !escaped && chars[i] == '\\' && c != '`';
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            i += 1;
            skip_until(&mut i, '}')?;
        } else if c == '[' {
            i += 1;
            skip_until(&mut i, ']')?;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let rest: String = chars[next..].iter().take(8).collect();
            // A call, or an aggregation with its grouping first (`sum by (le) (...)`).
            let before_paren = chars.get(next) == Some(&'(')
                || ["by", "without"].iter().any(|g| {
                    rest.strip_prefix(g).and_then(|r| r.chars().next()).is_some_and(|c| c == '(' || c.is_whitespace())
                });
            let keyword = PROMQL_KEYWORDS.contains(&word.to_lowercase().as_str());
            if PROMQL_LABEL_LISTS.contains(&word.as_str()) {
                if before_paren {
                    i = next + 1;
                    skip_until(&mut i, ')')?;
                }
            } else if keyword {
                continue;
            } else if before_paren {
                if !PROMQL_FUNCTIONS.split_whitespace().any(|f| f == word) {
                    return Err(format!("unknown function `{word}` in {expr}"));
                }
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    Ok(names)
}

struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Instant query; Ok(number of series) or Err(Prometheus's error).
    async fn query(&self, expr: &str) -> Result<usize, String> {
        let response = self
            .http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr)])
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("query request failed: {e}"))?;
        let body: Value = response.json().await.map_err(|e| format!("query answer unreadable: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"]["result"].as_array().map_or(0, Vec::len))
    }

    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(params)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus {path}: {e}"));
        response.json().await.expect("Prometheus answers JSON")
    }
}

/// `docs/metrics.md`: per component (by the `netgpt <sub>` in its heading), metric name ->
/// (type, label names).
fn documented_metrics(doc: &str) -> BTreeMap<String, BTreeMap<String, (String, BTreeSet<String>)>> {
    let mut out: BTreeMap<String, BTreeMap<String, (String, BTreeSet<String>)>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = COMPONENTS.iter().find(|c| heading.contains(&format!("`netgpt {c}`"))).map(|c| c.to_string());
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !cells[1].starts_with("`netgpt_") {
            continue;
        }
        // A metric row outside a component's table belongs to no component: a stale row.
        let component = section.clone().unwrap_or_else(|| "<no component>".to_string());
        let name = cells[1].trim_matches('`').to_string();
        // Label names are the backticked words outside parentheses (which list values).
        let mut depth = 0usize;
        let mut outside = String::new();
        for c in cells[3].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ if depth == 0 => outside.push(c),
                _ => {}
            }
        }
        let labels = outside.split('`').skip(1).step_by(2).map(str::to_string).collect::<BTreeSet<_>>();
        out.entry(component).or_default().insert(name, (cells[2].to_string(), labels));
    }
    out
}

fn workflow_config(serve: SocketAddr, desensitizer: SocketAddr) -> String {
    // The cloud model is the same local server (the base model; the edge uses the site's
    // adapter): the cloud path goes gateway -> desensitizer -> model server, like in a
    // cluster. Threshold 1.0 sends every request to the cloud path (the edge's confidence
    // stays below 1), so all three steps run; the forecast counts the request's topic (its
    // hour-long interval does not end during the test).
    format!(
        r#"apiVersion: netgpt.io/v1alpha1
kind: WorkflowConfig
workflow: dashboards
site:
  name: {SITE}
  location:
    placeName: Pudong, Shanghai
    context: Lujiazui; Shanghai Tower; metro line 2.
edge:
  url: http://{serve}
  model: {ADAPTER}
cloud:
  url: http://{serve}
  model: smollm2
desensitizerUrl: http://{desensitizer}
steps:
- name: complete
  kind: promptCompletion
- name: scrub
  kind: desensitize
- name: answer
  kind: generate
  target: cloud
- name: forecast
  kind: popularityPrediction
  popularity:
    intervalSeconds: 3600
routing:
  confidenceThreshold: 1.0
  latencyBudgetMs: 120000
desensitization:
  action: pseudonymize
"#
    )
}

/// Name of the LoRA adapter the edge serves the test site with.
const ADAPTER: &str = "site-a";

fn model_path() -> PathBuf {
    // `pull` is a no-op when the model is cached and prints its path either way.
    let out =
        Command::new(NETGPT).args(["model", "pull"]).stdin(Stdio::null()).output().expect("netgpt model pull runs");
    assert!(out.status.success(), "netgpt model pull: {}", String::from_utf8_lossy(&out.stderr));
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.exists(), "model at {}", path.display());
    path
}

fn helm_template_dashboards(values: &[&str]) -> (bool, String) {
    let helm =
        Command::new(repo_root().join("hack/testenv.sh")).arg("helm-path").output().expect("testenv.sh helm-path");
    let helm = PathBuf::from(String::from_utf8_lossy(&helm.stdout).trim());
    let mut command = Command::new(helm);
    command.args(["template", "dash", &repo_root().join("charts/netgpt").to_string_lossy()]);
    command.args(["--namespace", "monitoring", "--show-only", "templates/dashboards.yaml"]);
    for v in values {
        command.args(["--set", v]);
    }
    let out = command.output().expect("helm runs (hack/testenv.sh install fetches it)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The chart renders each dashboard into its own ConfigMap labelled for the sidecar, and
/// nothing when dashboards are disabled.
fn check_chart_renders_dashboards(dashboards: &[(String, Value)]) {
    let (ok, text) = helm_template_dashboards(&["dashboards.label=grafana_dash", "dashboards.labelValue=yes"]);
    assert!(ok, "helm template: {text}");
    let mut rendered = BTreeMap::new();
    for doc in text.split("\n---") {
        let Ok(obj) = serde_norway::from_str::<Value>(doc) else {
            continue;
        };
        if obj["kind"] != "ConfigMap" {
            continue;
        }
        assert_eq!(obj["metadata"]["labels"]["grafana_dash"], "yes", "sidecar label from values: {obj}");
        assert_eq!(obj["metadata"]["namespace"], "monitoring");
        for (key, value) in obj["data"].as_object().expect("ConfigMap data") {
            let parsed: Value =
                serde_json::from_str(value.as_str().expect("string")).unwrap_or_else(|e| panic!("{key}: {e}"));
            rendered.insert(parsed["uid"].as_str().unwrap_or_default().to_string(), parsed);
        }
    }
    for (file, dashboard) in dashboards {
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        assert_eq!(rendered.get(uid), Some(dashboard), "{file} (uid {uid}) rendered unchanged into a ConfigMap");
    }
    assert_eq!(rendered.len(), dashboards.len(), "one ConfigMap entry per dashboard");
    let (_, disabled) = helm_template_dashboards(&["dashboards.enabled=false"]);
    assert!(!disabled.contains("kind: ConfigMap"), "dashboards.enabled=false renders nothing: {disabled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_query_only_exposed_metrics_and_docs_list_them_all() {
    let started = Instant::now();
    let dashboards = dashboard_files();
    assert!(dashboards.len() >= 3, "overview, inference and operator dashboards");
    check_chart_renders_dashboards(&dashboards);

    let model = model_path();
    let kube = client().await;
    install_crds(&kube).await;
    let ns = TestNamespace::new(&kube, "dashboards").await;
    let dir = std::env::temp_dir().join(format!("netgpt-dashboards-{}", ns.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut procs = Processes { children: Vec::new(), dir: dir.clone() };
    let http = http();

    let ports = free_ports(5);
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    let (serve, desensitizer, gateway, operator, prometheus) = (addr(0), addr(1), addr(2), addr(3), addr(4));
    let endpoints: BTreeMap<&str, SocketAddr> =
        [("serve", serve), ("desensitize", desensitizer), ("gateway", gateway), ("operator", operator)].into();

    let adapter = dir.join("adapter");
    write_zero_adapter(&adapter);
    let config = dir.join("workflow.yaml");
    std::fs::write(&config, workflow_config(serve, desensitizer)).expect("workflow config");
    procs.spawn(
        "serve",
        Command::new(NETGPT).args(["serve", "--model"]).arg(&model).args([
            "--served-model-name",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            &serve.port().to_string(),
            "--lora",
            &format!("{ADAPTER}={}", adapter.display()),
        ]),
    );
    procs.spawn(
        "desensitize",
        Command::new(NETGPT)
            .args(["desensitize", "--config"])
            .arg(&config)
            .args(["--listen", &desensitizer.to_string()]),
    );
    procs.spawn(
        "gateway",
        Command::new(NETGPT).args(["gateway", "--config"]).arg(&config).args(["--listen", &gateway.to_string()]),
    );
    procs.spawn(
        "operator",
        Command::new(NETGPT)
            .args(["operator", "--namespace", &ns.name, "--listen", &operator.to_string()])
            // Leader election on (as the chart runs it), its Lease in the test namespace.
            .args(["--lease-namespace", &ns.name, "--lease-name", "dashboards-test"])
            .args(["--identity", "dashboards-operator", "--lease-duration-seconds", "6"])
            .env("KUBECONFIG", kubeconfig_path()),
    );

    let long = Duration::from_secs(180);
    wait_ready(&mut procs, &http, "model server", &format!("http://{serve}/ready"), long).await;
    wait_ready(&mut procs, &http, "desensitizer", &format!("http://{desensitizer}/ready"), long).await;
    wait_ready(&mut procs, &http, "gateway", &format!("http://{gateway}/ready"), long).await;
    wait_ready(&mut procs, &http, "operator", &format!("http://{operator}/ready"), long).await;

    // Operator traffic: an EdgeLLM to reconcile (children created, managed count set).
    let edge: netgpt_crds::EdgeLLM = serde_json::from_value(json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM", "metadata": {"name": "dash"},
        "spec": {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///models/m.gguf"}},
                 "sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}}]}
    }))
    .expect("EdgeLLM");
    Api::<netgpt_crds::EdgeLLM>::namespaced(kube.clone(), &ns.name)
        .create(&PostParams::default(), &edge)
        .await
        .expect("creating the EdgeLLM");

    // Request traffic: through the gateway (completion, edge draft, cloud via the
    // desensitizer), straight to the desensitizer with personal data, and a body the
    // desensitizer must block.
    let ask =
        |prompt: &str| json!({"model": "netgpt", "messages": [{"role": "user", "content": prompt}], "max_tokens": 8});
    let response = http
        .post(format!("http://{gateway}/v1/chat/completions"))
        .json(&ask("Where can I get a good dinner tonight?"))
        .send()
        .await
        .expect("gateway answers");
    let status = response.status();
    let body: Value = response.json().await.expect("gateway JSON");
    assert!(status.is_success(), "gateway: {status} {body}");
    let response = http
        .post(format!("http://{desensitizer}/v1/chat/completions"))
        .json(&json!({"model": "smollm2", "max_tokens": 4,
            "messages": [{"role": "user", "content": "Write to jane.doe@example.com or call +1 415 555 0100."}]}))
        .send()
        .await
        .expect("desensitizer answers");
    assert!(response.status().is_success(), "desensitizer forwards: {}", response.status());
    let response = http
        .post(format!("http://{desensitizer}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("desensitizer answers");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST, "invalid JSON is blocked");

    // The operator's metrics once it leads and has reconciled the EdgeLLM.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = get_text(&http, &format!("http://{operator}/metrics")).await.unwrap_or_default();
        let leads = text.lines().any(|l| l == "netgpt_operator_leader 1");
        if leads
            && text.contains("netgpt_operator_child_writes_total{")
            && text.contains("netgpt_operator_managed_resources{")
        {
            break;
        }
        procs.check_alive();
        assert!(Instant::now() < deadline, "operator did not lead and reconcile within 60s:\n{text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Each component's exposition: promtool-clean, every family with HELP and a type.
    let mut failures: Vec<String> = Vec::new();
    let mut exposed: BTreeMap<String, BTreeMap<String, Family>> = BTreeMap::new();
    for (component, addr) in &endpoints {
        let text =
            get_text(&http, &format!("http://{addr}/metrics")).await.unwrap_or_else(|| panic!("{component} /metrics"));
        std::fs::write(dir.join(format!("{component}.metrics")), &text).expect("saving metrics text");
        // promtool lints names, units, HELP and types; any problem it prints (it exits
        // non-zero on them too) fails the test, warnings included: none is tolerated.
        let (ok, out, err) = run_bounded(
            tokio::process::Command::new("promtool").args(["check", "metrics"]),
            text.as_bytes(),
            Duration::from_secs(30),
        )
        .await;
        if !ok || !out.trim().is_empty() || !err.trim().is_empty() {
            failures.push(format!("promtool check metrics on {component}: {out}{err}"));
        }
        let families = parse_exposition(&text);
        for (name, family) in &families {
            if !name.starts_with("netgpt_") {
                failures.push(format!("{component}: {name} lacks the netgpt_ prefix"));
            }
            if !family.has_help || family.kind.is_empty() {
                failures.push(format!("{component}: {name} needs HELP and TYPE"));
            }
        }
        exposed.insert(component.to_string(), families);
    }
    let exposed_series: BTreeSet<String> =
        exposed.values().flat_map(|fams| fams.iter().flat_map(|(n, f)| series_names(n, f))).collect();

    // docs/metrics.md: one table per component, exactly what it exposes.
    let doc = std::fs::read_to_string(repo_root().join("docs/metrics.md")).expect("docs/metrics.md");
    let documented = documented_metrics(&doc);
    for (component, docs) in documented.iter().filter(|(c, _)| !COMPONENTS.contains(&c.as_str())) {
        for name in docs.keys() {
            failures.push(format!("docs/metrics.md: {name} is listed outside a component's table ({component})"));
        }
    }
    for component in COMPONENTS {
        let docs = documented.get(component).cloned().unwrap_or_default();
        let fams = &exposed[component];
        for (name, family) in fams {
            match docs.get(name) {
                None => failures.push(format!("docs/metrics.md: {component} exposes {name}, not documented")),
                Some((kind, labels)) => {
                    if *kind != family.kind {
                        failures.push(format!("docs/metrics.md: {name} is a {}, documented as {kind}", family.kind));
                    }
                    if *labels != family.labels {
                        failures.push(format!(
                            "docs/metrics.md: {name} has labels {:?}, documented {labels:?}",
                            family.labels
                        ));
                    }
                }
            }
        }
        for name in docs.keys().filter(|n| !fams.contains_key(*n)) {
            failures.push(format!("docs/metrics.md: {name} documented for {component}, not exposed by it"));
        }
    }

    // A real Prometheus scraping all four every second.
    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(prom_dir.join("data")).expect("prometheus dir");
    let mut scrape = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (component, addr) in &endpoints {
        scrape.push_str(&format!("- job_name: {component}\n  static_configs:\n  - targets: ['{addr}']\n"));
    }
    let prom_config = prom_dir.join("prometheus.yml");
    File::create(&prom_config).and_then(|mut f| f.write_all(scrape.as_bytes())).expect("prometheus.yml");
    procs.spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--storage.tsdb.path={}", prom_dir.join("data").display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .arg("--storage.tsdb.retention.time=1h"),
    );
    let prom = Prometheus { base: format!("http://{prometheus}"), http: http.clone() };
    wait_ready(&mut procs, &http, "prometheus", &format!("{}/-/ready", prom.base), Duration::from_secs(60)).await;
    // All targets up, with a few samples each so rate() has two points.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets = prom.api("/api/v1/targets", &[]).await;
        let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let up = active.iter().filter(|t| t["health"] == "up").count();
        if up == endpoints.len() && prom.query("count_over_time(up[1m]) >= 3").await == Ok(endpoints.len()) {
            break;
        }
        procs.check_alive();
        assert!(Instant::now() < deadline, "Prometheus targets not all up within 60s: {active:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every expression of every panel, and every template variable query.
    let mut evaluated = 0;
    for (file, dashboard) in &dashboards {
        let templating = dashboard["templating"]["list"].as_array().cloned().unwrap_or_default();
        let variables: Vec<String> = templating.iter().filter_map(|v| v["name"].as_str().map(str::to_string)).collect();
        if !templating
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus")
        {
            failures.push(format!("{file}: no `datasource` Prometheus template variable"));
        }
        for variable in templating.iter().filter(|v| v["type"] == "query") {
            let query = variable["query"]["query"].as_str().or(variable["query"].as_str()).unwrap_or_default();
            let Some((metric, label)) =
                query.strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')).and_then(|q| q.split_once(','))
            else {
                failures.push(format!("{file}: variable {}: unsupported query {query}", variable["name"]));
                continue;
            };
            let (metric, label) = (metric.trim(), label.trim());
            if !exposed_series.contains(metric) {
                failures
                    .push(format!("{file}: variable {} uses {metric}, which no component exposes", variable["name"]));
            }
            let values = prom.api(&format!("/api/v1/label/{label}/values"), &[("match[]", metric)]).await;
            if values["data"].as_array().is_none_or(Vec::is_empty) {
                failures.push(format!("{file}: variable {}: {query} has no values: {values}", variable["name"]));
            }
        }
        for panel in all_panels(dashboard) {
            if panel["type"] == "row" {
                continue;
            }
            let title = panel["title"].as_str().unwrap_or_default();
            if panel["datasource"]["uid"] != "${datasource}" {
                failures.push(format!("{file}: panel {title:?} does not use ${{datasource}}"));
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                failures.push(format!("{file}: panel {title:?} has no queries"));
            }
            for target in targets {
                let raw = target["expr"].as_str().unwrap_or_default();
                let expr = match substitute_variables(raw, &variables) {
                    Ok(expr) => expr,
                    Err(e) => {
                        failures.push(format!("{file}: {title:?}: unknown variable {e} in {raw}"));
                        continue;
                    }
                };
                match promql_metric_names(&expr) {
                    Err(e) => failures.push(format!("{file}: {title:?}: {e}")),
                    Ok(names) if names.is_empty() => {
                        failures.push(format!("{file}: {title:?}: names no metric: {expr}"));
                    }
                    Ok(names) => {
                        for name in names.iter().filter(|n| !exposed_series.contains(*n)) {
                            failures.push(format!("{file}: {title:?}: {name} is exposed by no component ({expr})"));
                        }
                    }
                }
                match prom.query(&expr).await {
                    Ok(series) => eprintln!("{file}: {title}: {series} series: {expr}"),
                    Err(e) => failures.push(format!("{file}: {title:?}: query failed: {e}\n  {expr}")),
                }
                evaluated += 1;
            }
        }
    }
    assert!(evaluated >= 20, "only {evaluated} expressions found in the dashboards");
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}\n(logs and metrics in {})",
        failures.len(),
        failures.join("\n"),
        dir.display()
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{evaluated} dashboard expressions checked in {:?}", started.elapsed());
}

#[test]
fn promql_metric_names_skips_functions_labels_and_strings() {
    let names = promql_metric_names(concat!(
        r#"histogram_quantile(0.95, sum by (le, site) (rate(a_bucket{site=~"x|y", path!="b"}[5m])))"#,
        r#" / on (site) group_left (path) sum without (instance) (b_total offset 1m) > bool 0 or vector(0)"#
    ))
    .expect("parses");
    assert_eq!(names, BTreeSet::from(["a_bucket".to_string(), "b_total".to_string()]));
    assert!(promql_metric_names("rat(x[1m])").is_err(), "unknown functions are reported");
    assert!(promql_metric_names("sum(x{a=\"}\"").is_err(), "unbalanced braces are reported");
}

#[test]
fn exposition_parser_groups_histogram_series() {
    let text = concat!(
        "# HELP h_seconds H.\n# TYPE h_seconds histogram\n",
        "h_seconds_bucket{site=\"a,b\",le=\"1\"} 1\nh_seconds_sum{site=\"a,b\"} 1\nh_seconds_count{site=\"a,b\"} 1\n",
        "# HELP c_total C.\n# TYPE c_total counter\nc_total 3\n"
    );
    let families = parse_exposition(text);
    assert_eq!(families.len(), 2);
    assert_eq!(families["h_seconds"].labels, BTreeSet::from(["site".to_string()]));
    assert_eq!(families["c_total"].kind, "counter");
    assert!(Path::new(NETGPT).exists());
}

#[test]
fn grafana_variables_are_substituted_or_reported() {
    let vars = vec!["site".to_string()];
    assert_eq!(
        substitute_variables(r#"rate(x{site=~"$site"}[$__rate_interval])"#, &vars),
        Ok(r#"rate(x{site=~".*"}[1m])"#.to_string())
    );
    assert_eq!(
        substitute_variables(r#"x{site=~"${site:regex}"}[[site]]"#, &vars),
        Ok(r#"x{site=~".*"}.*"#.to_string())
    );
    assert_eq!(substitute_variables(r#"x{site=~"$sitex"}"#, &vars), Err("sitex".to_string()));
}
