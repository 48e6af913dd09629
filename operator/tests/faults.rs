//! Operator reliability on the real test control plane, in its own test binary because
//! it restarts the kube-apiserver (other binaries run before or after, never during).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use netgpt_crds::EdgeLLM;
use netgpt_testenv::{eventually, repo_root};

mod common;
use common::*;

fn edge(name: &str, replicas: i32) -> EdgeLLM {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM", "metadata": {"name": name},
        "spec": {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m.gguf"}},
                 "sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}, "replicas": replicas},
                           {"name": "b", "nodeSelector": {"netgpt.io/site": "site-b"}}]}
    }))
    .expect("EdgeLLM")
}

async fn metric(operator: &Operator, name_and_labels: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", operator.metrics_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .filter(|l| l.starts_with(name_and_labels))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

async fn child_versions(client: &Client, ns: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=netgpt-operator"))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|d| (d.name_any(), d.metadata.generation.unwrap_or_default().to_string()))
        .collect();
    for kind in ["configmaps", "services"] {
        let out_text = netgpt_testenv::kubectl(&[
            "get",
            kind,
            "-n",
            ns,
            "-l",
            "app.kubernetes.io/managed-by=netgpt-operator",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion}{\"\\n\"}{end}",
        ]);
        for line in netgpt_testenv::output_text(&out_text).lines() {
            if let Some((n, rv)) = line.split_once('=') {
                out.push((format!("{kind}/{n}"), rv.to_string()));
            }
        }
    }
    out.sort();
    out
}

/// Reconciling an unchanged generation again writes nothing; and after a kube-apiserver
/// crash and restart the same operator process reconnects its watches and converges.
#[tokio::test]
async fn reconciles_are_idempotent_and_survive_an_apiserver_restart() {
    let (client, ns, operator) = setup("faults").await;
    let edges: Api<EdgeLLM> = Api::namespaced(client.clone(), &ns.name);
    edges.create(&PostParams::default(), &edge("steady", 1)).await.expect("create");
    eventually("steady converged", WAIT, || async {
        let st = edge_status(&client, &ns.name, "steady").await?;
        (st.sites.len() == 2 && st.sites.iter().all(|s| !s.nodes.is_empty())).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Idempotency: an annotation change triggers a reconcile of the same generation.
    let before = child_versions(&client, &ns.name).await;
    let writes_before = metric(&operator, "netgpt_operator_child_writes_total").await;
    let reconciles_before =
        metric(&operator, "netgpt_operator_reconciles_total{kind=\"EdgeLLM\",result=\"success\"}").await;
    let poke = serde_json::json!({"metadata": {"annotations": {"netgpt.io/poke": "1"}}});
    edges.patch("steady", &PatchParams::default(), &Patch::Merge(&poke)).await.expect("annotate");
    eventually("a reconcile of the same generation", WAIT, || async {
        let n = metric(&operator, "netgpt_operator_reconciles_total{kind=\"EdgeLLM\",result=\"success\"}").await;
        (n > reconciles_before).then_some(())
    })
    .await;
    assert_eq!(child_versions(&client, &ns.name).await, before, "children were rewritten");
    assert_eq!(metric(&operator, "netgpt_operator_child_writes_total").await, writes_before);

    // Crash the apiserver mid-flight and bring it back.
    let restart = std::process::Command::new(repo_root().join("hack/testenv.sh"))
        .args(["restart-apiserver", "2"])
        .output()
        .expect("testenv.sh");
    assert!(restart.status.success(), "{}", netgpt_testenv::output_text(&restart));
    // New work after the restart is picked up by the watches the operator re-established.
    edges.create(&PostParams::default(), &edge("after-restart", 1)).await.expect("create after restart");
    let patch = serde_json::json!({"spec": {"sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}, "replicas": 2},
        {"name": "b", "nodeSelector": {"netgpt.io/site": "site-b"}}]}});
    edges.patch("steady", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("scale");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    // The watches re-list with back-off once the apiserver is back; on a loaded 2-core
    // machine that took more than 90 s once (the same test then passed in 88 s in all).
    eventually("convergence after the apiserver restart", Duration::from_secs(180), || async {
        deployments.get_opt("after-restart-b").await.ok()??;
        (deployments.get_opt("steady-a").await.ok()??.spec?.replicas == Some(2)).then_some(())
    })
    .await;
    assert!(!operator.task_finished(), "the operator process kept running");
    operator.stop().await;
}
