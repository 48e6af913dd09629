//! Helpers shared by the operator's integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use netgpt_crds::EdgeLLM;
use netgpt_operator::OperatorArgs;
use netgpt_operator::run::LogFormat;
use netgpt_testenv::{TestNamespace, client, eventually, install_crds, kubectl, output_text, repo_root};
use tokio::sync::oneshot;

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Operator {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub metrics_addr: SocketAddr,
}

impl Operator {
    pub async fn start(namespace: &str) -> Self {
        let args = OperatorArgs {
            namespace: Some(namespace.to_string()),
            listen: "127.0.0.1:0".parse().expect("addr"),
            default_image: "ghcr.io/netgpt/netgpt:test".to_string(),
            default_cuda_image: "ghcr.io/netgpt/netgpt:test-cuda".to_string(),
            leader_elect: true,
            lease_name: "netgpt-operator".to_string(),
            lease_namespace: Some(namespace.to_string()),
            lease_duration_seconds: 15,
            identity: Some(format!("test-{namespace}")),
            log_format: LogFormat::Text,
            metrics_scraper_namespaces: String::new(),
            metrics_scraper_pods: netgpt_operator::render::policy::DEFAULT_SCRAPER_PODS.to_string(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = oneshot::channel();
        // SAFETY of env: tests share the process; the kubeconfig path is the same for all.
        unsafe { std::env::set_var("KUBECONFIG", netgpt_testenv::kubeconfig_path()) };
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            netgpt_operator::run_until(args, shutdown, move |addr| {
                let _ = bound_tx.send(addr);
            })
            .await
            .expect("operator runs");
        });
        let metrics_addr = bound_rx.await.expect("operator bound its metrics port");
        Self { stop: Some(stop), task, metrics_addr }
    }

    /// Whether the operator task ended by itself (it should only end when stopped).
    pub fn task_finished(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), &mut self.task).await;
    }
}

pub async fn setup(prefix: &str) -> (Client, TestNamespace, Operator) {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, prefix).await;
    let operator = Operator::start(&ns.name).await;
    (client, ns, operator)
}

pub fn apply_example(ns: &str, file: &str) {
    let path = repo_root().join("examples").join(file);
    let out = kubectl(&["apply", "-n", ns, "-f", path.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", output_text(&out));
}

pub async fn get_opt<K>(client: &Client, ns: &str, name: &str) -> Option<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns).get_opt(name).await.expect("get")
}

/// Pods of one Deployment-owned site, once all are bound to nodes.
pub async fn bound_pods(client: &Client, ns: &str, selector: &str, count: usize) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{count} bound pods for {selector}"), WAIT, || async {
        let pods = api.list(&ListParams::default().labels(selector)).await.ok()?.items;
        let bound = pods.iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()).count();
        (pods.len() == count && bound == count).then_some(pods)
    })
    .await
}

pub fn node_of(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default()
}

pub async fn edge_status(client: &Client, ns: &str, name: &str) -> Option<netgpt_crds::EdgeLLMStatus> {
    get_opt::<EdgeLLM>(client, ns, name).await?.status
}

pub fn ready_condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(String, String)> {
    conditions.iter().find(|c| c.type_ == "Ready").map(|c| (c.status.clone(), c.reason.clone()))
}

/// Marks a pod Running and Ready, as a kubelet would.
pub async fn play_kubelet(client: &Client, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().expect("ns"));
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = serde_json::json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}
    ]}});
    api.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await.expect("pod status");
}

/// (type, reason, note) of the Events about `object`.
pub async fn events_about(client: &Client, ns: &str, object: &str) -> Vec<(String, String, String)> {
    Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// A `key=value,…` label selector from a selector's `matchLabels`.
pub fn selector_string(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}
