//! Rendering without a cluster: placement merge, GPU limits, artifact staging per scheme.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netgpt_crds::EdgeLLM;

use super::PodDefaults;
use super::edge::render_edge;

fn defaults() -> PodDefaults {
    PodDefaults { cpu_image: "img:1".into(), cuda_image: "img:1-cuda".into(), log_format: "json".into() }
}

fn edge(spec: serde_json::Value) -> EdgeLLM {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM",
        "metadata": {"name": "e", "namespace": "ns", "uid": "0b7c1a6e-0000-4000-8000-000000000001"},
        "spec": spec
    }))
    .expect("EdgeLLM")
}

#[test]
fn sites_merge_pool_and_site_selectors_and_get_gpu_limits() {
    let e = edge(serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m/model.gguf"}},
        "placement": {"nodeSelector": {"pool": "edge"}},
        "resources": {"cpu": "1", "memory": "1Gi", "gpu": 1},
        "sites": [{"name": "a", "nodeSelector": {"site": "a"}, "replicas": 2}]
    }));
    let sites = render_edge(&e, &defaults(), &Default::default()).expect("renders");
    let d = &sites[0].children.deployment;
    let pod = d.spec.as_ref().and_then(|s| s.template.spec.clone()).expect("pod");
    let selector = pod.node_selector.expect("node selector");
    assert_eq!((selector["pool"].as_str(), selector["site"].as_str()), ("edge", "a"));
    let limits = pod.containers[0].resources.as_ref().and_then(|r| r.limits.clone()).expect("limits");
    assert_eq!(limits["nvidia.com/gpu"].0, "1");
    assert_eq!(limits["memory"].0, "1Gi");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(pod.automount_service_account_token, Some(false));
    let owner = &d.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("EdgeLLM", Some(true)));
}

#[test]
fn each_scheme_is_staged_as_expected() {
    let e = edge(serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf",
                  "source": {"uri": "https://h.example/models/model.gguf", "sha256": "a".repeat(64)}},
        "adapters": [
            {"name": "pvc-adapter", "source": {"uri": "pvc://claim/adapters/a"}},
            {"name": "host-adapter", "source": {"uri": "hostpath:///srv/adapters/b"}},
            {"name": "web-adapter-with-a-rather-long-name-to-test-limits", "source": {"uri": "https://h.example/adapters/c"}}
        ],
        "sites": [
            {"name": "p", "nodeSelector": {"s": "p"}, "adapter": "pvc-adapter"},
            {"name": "h", "nodeSelector": {"s": "h"}, "adapter": "host-adapter"},
            {"name": "w", "nodeSelector": {"s": "w"}, "adapter": "web-adapter-with-a-rather-long-name-to-test-limits"}
        ]
    }));
    let sites = render_edge(&e, &defaults(), &Default::default()).expect("renders");
    let pod = |i: usize| sites[i].children.deployment.spec.as_ref().and_then(|s| s.template.spec.clone()).expect("pod");

    let p = pod(0);
    let claim =
        p.volumes.as_ref().expect("volumes").iter().find_map(|v| v.persistent_volume_claim.clone()).expect("pvc");
    assert_eq!((claim.claim_name.as_str(), claim.read_only), ("claim", Some(true)));
    // The whole claim is mounted once, without subPath, and the adapter path points into it.
    let mount =
        p.containers[0].volume_mounts.as_ref().expect("mounts").iter().find(|m| m.name.starts_with("pvc-claim-"));
    let mount = mount.cloned().expect("the claim is mounted");
    assert_eq!((mount.mount_path.as_str(), mount.sub_path.as_deref()), ("/var/lib/netgpt/pvc/claim", None));
    let config = netgpt_crds::config::ServingConfig::from_yaml(
        &sites[0].children.config_map.data.as_ref().expect("data")["serving.yaml"],
    )
    .expect("config");
    assert_eq!(config.adapters[0].path, "/var/lib/netgpt/pvc/claim/adapters/a");
    // The https model is fetched, with its checksum, by an init container.
    let init = p.init_containers.expect("init");
    assert_eq!(
        init[0].args.as_ref().expect("args")[..3],
        ["fetch", "https://h.example/models/model.gguf", "/var/lib/netgpt/fetched/model/model.gguf"]
    );

    let h = pod(1);
    let host = h.volumes.as_ref().expect("volumes").iter().find_map(|v| v.host_path.clone()).expect("hostPath");
    assert_eq!((host.path.as_str(), host.type_.as_deref()), ("/srv/adapters/b", Some("Directory")));

    let w = pod(2);
    let init = w.init_containers.expect("init");
    // model + two adapter files; every name is a valid container name.
    assert_eq!(init.len(), 3);
    assert!(init.iter().all(|c| c.name.len() <= 63), "{:?}", init.iter().map(|c| &c.name).collect::<Vec<_>>());
    let config = netgpt_crds::config::ServingConfig::from_yaml(
        &sites[2].children.config_map.data.as_ref().expect("data")["serving.yaml"],
    )
    .expect("config");
    assert_eq!(
        config.adapters[0].path,
        "/var/lib/netgpt/fetched/lora-web-adapter-with-a-rather-long-name-to-test-limits"
    );
}

#[test]
fn services_declare_protocol_for_kubernetes_1_20_server_side_apply() {
    let e = edge(serde_json::json!({
        "model": {"architecture": "gpt2", "format": "safetensors", "source": {"uri": "pvc://models/gpt2"}},
        "sites": [{"name": "a", "nodeSelector": {"s": "a"}}]
    }));
    let sites = render_edge(&e, &defaults(), &Default::default()).expect("renders");
    let ports = sites[0].children.service.spec.as_ref().and_then(|s| s.ports.clone()).expect("ports");
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
}

/// A one-site GGUF EdgeLLM for the gateway tests.
fn plain_edge() -> EdgeLLM {
    edge(serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m/model.gguf"}},
        "sites": [{"name": "a", "nodeSelector": {"site": "a"}}]
    }))
}

/// A CloudLLM `c` in `ns` with the given spec.
fn cloud(spec: serde_json::Value) -> netgpt_crds::CloudLLM {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "CloudLLM",
        "metadata": {"name": "c", "namespace": "ns", "uid": "0b7c1a6e-0000-4000-8000-000000000002"},
        "spec": spec
    }))
    .expect("CloudLLM")
}

fn gateway_pod(
    routing_threshold: f64,
) -> (std::collections::BTreeMap<String, String>, k8s_openapi::api::core::v1::PodSpec) {
    use netgpt_crds::LogicalAIWorkflow;
    let uid = "0b7c1a6e-0000-4000-8000-000000000002";
    let e = plain_edge();
    let cloud = cloud(serde_json::json!(
        {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m/model.gguf"}}}
    ));
    let wf: LogicalAIWorkflow = serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "LogicalAIWorkflow",
        "metadata": {"name": "w", "namespace": "ns", "uid": uid},
        "spec": {"edgeRef": {"name": "e"}, "cloudRef": {"name": "c"}, "steps": [{"name": "complete", "kind": "promptCompletion"}, {"name": "scrub", "kind": "desensitize"}, {"name": "answer", "kind": "generate", "target": "cloud"}], 
                 "routing": {"confidenceThreshold": routing_threshold}}
    }))
    .expect("LogicalAIWorkflow");
    let gateways = super::workflow::render_gateways(&wf, &e, &cloud, &defaults()).expect("renders");
    let template = gateways[0].deployment.spec.clone().expect("spec").template;
    (template.metadata.and_then(|m| m.annotations).unwrap_or_default(), template.spec.expect("pod"))
}

#[test]
fn gateway_pods_roll_on_a_changed_workflow_and_expose_the_sidecars_metrics() {
    let (annotations, pod) = gateway_pod(0.5);
    let (same, _) = gateway_pod(0.5);
    let (changed, _) = gateway_pod(0.9);
    let hash = super::workflow::CONFIG_HASH_ANNOTATION;
    assert_eq!(annotations[hash], same[hash], "the hash is a pure function of the workflow");
    assert_ne!(annotations[hash], changed[hash], "a new threshold changes the pod template");
    assert_eq!(annotations["prometheus.io/port"], "8080");
    let sidecar = pod.containers.iter().find(|c| c.name == "desensitizer").expect("sidecar");
    let args = sidecar.args.clone().unwrap_or_default().join(" ");
    assert!(args.contains("--listen 127.0.0.1:8081"), "the API stays on loopback: {args}");
    assert!(args.contains("--metrics-listen 0.0.0.0:9091"), "{args}");
    let ports = sidecar.ports.clone().unwrap_or_default();
    assert_eq!((ports[0].name.as_deref(), ports[0].container_port), (Some("metrics"), 9091));
    assert!(sidecar.readiness_probe.is_some() && sidecar.liveness_probe.is_some());
}

#[test]
fn gpu_pods_serve_on_cuda_in_the_cuda_image_unless_the_spec_says_cpu() {
    let spec = |serving: serde_json::Value| {
        serde_json::json!({
            "model": {"architecture": "llama", "format": "safetensors", "source": {"uri": "file:///m/llama"}},
            "resources": {"gpu": 1}, "serving": serving,
            "sites": [{"name": "a", "nodeSelector": {"site": "a"}}]
        })
    };
    let rendered = |serving| {
        let sites = render_edge(&edge(spec(serving)), &defaults(), &Default::default()).expect("renders");
        let children = &sites[0].children;
        let pod = children.deployment.spec.clone().and_then(|s| s.template.spec).expect("pod");
        let config = children.config_map.data.clone().expect("data").into_values().next().expect("yaml");
        (pod.containers[0].image.clone().unwrap_or_default(), config)
    };
    let (image, config) = rendered(serde_json::json!({}));
    assert_eq!(image, "img:1-cuda");
    assert!(config.contains("device: cuda"), "{config}");
    let (image, config) = rendered(serde_json::json!({"device": "cpu", "dtype": "f32"}));
    assert_eq!(image, "img:1");
    assert!(config.contains("device: cpu") && config.contains("dtype: f32"), "{config}");
    // The spec's chat template reaches the server's configuration verbatim.
    let alpaca = "{% for m in messages %}### Instruction:\n{{ m['content'] }}\n\n{% endfor %}### Response:\n";
    let (_, config) = rendered(serde_json::json!({"chatTemplate": alpaca}));
    let parsed = netgpt_crds::config::ServingConfig::from_yaml(&config).expect("serving config");
    assert_eq!(parsed.limits.chat_template.as_deref(), Some(alpaca));
}

#[test]
fn the_workflow_asks_the_cloud_for_its_chosen_adapter_and_only_a_declared_one() {
    use netgpt_crds::LogicalAIWorkflow;
    let uid = "0b7c1a6e-0000-4000-8000-000000000003";
    let e = plain_edge();
    let cloud = cloud(serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m/model.gguf"},
                  "servedName": "big"},
        "adapters": [{"name": "netgpt-ft", "source": {"uri": "file:///a"}}]
    }));
    let workflow = |cloud_model: Option<&str>| -> LogicalAIWorkflow {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "netgpt.io/v1alpha1", "kind": "LogicalAIWorkflow",
            "metadata": {"name": "w", "namespace": "ns", "uid": uid},
            "spec": {"edgeRef": {"name": "e"}, "cloudRef": {"name": "c"}, "routing": {"cloudModel": cloud_model},
                     "steps": [{"name": "complete", "kind": "promptCompletion"}, {"name": "scrub", "kind": "desensitize"}, {"name": "answer", "kind": "generate", "target": "cloud"}]}
        }))
        .expect("LogicalAIWorkflow")
    };
    let cloud_model_of = |wf: &LogicalAIWorkflow| {
        let url = || "http://x".to_string();
        super::workflow::workflow_config(wf, &e, &cloud, "a", url(), url()).expect("site").cloud.model
    };
    assert_eq!(cloud_model_of(&workflow(None)), "big", "the base model by default");
    assert_eq!(cloud_model_of(&workflow(Some("netgpt-ft"))), "netgpt-ft");
    assert!(super::workflow::validate_cloud_model(&workflow(Some("netgpt-ft")), &cloud).is_empty());
    assert!(super::workflow::validate_cloud_model(&workflow(Some("big")), &cloud).is_empty());
    let errors = super::workflow::validate_cloud_model(&workflow(Some("other")), &cloud);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "spec.routing.cloudModel");
    assert!(errors[0].message.contains("netgpt-ft"), "{}", errors[0].message);
}

#[test]
fn every_rendered_container_inherits_the_operators_log_format() {
    let e = edge(serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf",
                  "source": {"uri": "https://models.example/m.gguf", "sha256": "a".repeat(64)}},
        "sites": [{"name": "a", "nodeSelector": {"site": "a"}}]
    }));
    let sites = render_edge(&e, &defaults(), &Default::default()).expect("renders");
    let pod = sites[0].children.deployment.spec.clone().and_then(|s| s.template.spec).expect("pod");
    let (_, gateway) = gateway_pod(0.5);
    let containers: Vec<_> =
        pod.containers.iter().chain(pod.init_containers.iter().flatten()).chain(gateway.containers.iter()).collect();
    assert_eq!(containers.len(), 4, "server, fetch init container, gateway, desensitizer");
    for container in containers {
        let env = container.env.clone().unwrap_or_default();
        assert!(
            env.iter().any(|v| v.name == "NETGPT_LOG_FORMAT" && v.value.as_deref() == Some("json")),
            "{} lacks NETGPT_LOG_FORMAT=json: {env:?}",
            container.name
        );
    }
}

#[test]
fn serving_and_gateway_pods_share_one_security_context() {
    let sites = render_edge(&plain_edge(), &defaults(), &Default::default()).expect("renders");
    let serving = sites[0].children.deployment.spec.clone().and_then(|s| s.template.spec).expect("pod");
    let (_, gateway) = gateway_pod(0.5);
    assert_eq!(serving.security_context, gateway.security_context);
    let context = gateway.security_context.expect("pod security context");
    assert_eq!((context.run_as_user, context.run_as_group, context.fs_group), (Some(65532), Some(65532), Some(65532)));
    for container in serving.containers.iter().chain(gateway.containers.iter()) {
        let sc = container.security_context.clone().expect("container security context");
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", container.name);
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", container.name);
    }
}

/// A workflow `w` over [`plain_edge`] and the CloudLLM `c` with the given desensitization.
fn workflow_with(desensitization: serde_json::Value) -> netgpt_crds::LogicalAIWorkflow {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "LogicalAIWorkflow",
        "metadata": {"name": "w", "namespace": "ns", "uid": "0b7c1a6e-0000-4000-8000-000000000004"},
        "spec": {"edgeRef": {"name": "e"}, "cloudRef": {"name": "c"},
                 "steps": [{"name": "complete", "kind": "promptCompletion"}, {"name": "scrub", "kind": "desensitize"},
                           {"name": "answer", "kind": "generate", "target": "cloud"}],
                 "desensitization": desensitization}
    }))
    .expect("LogicalAIWorkflow")
}

fn plain_cloud() -> netgpt_crds::CloudLLM {
    cloud(
        serde_json::json!({"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m.gguf"}}}),
    )
}

fn sidecar_of(wf: &netgpt_crds::LogicalAIWorkflow) -> (k8s_openapi::api::core::v1::Container, String) {
    let gateways = super::workflow::render_gateways(wf, &plain_edge(), &plain_cloud(), &defaults()).expect("renders");
    let pod = gateways[0].deployment.spec.clone().and_then(|s| s.template.spec).expect("pod");
    let sidecar = pod.containers.into_iter().find(|c| c.name == "desensitizer").expect("sidecar");
    let config = gateways[0].config_map.data.clone().expect("data").into_values().next().expect("yaml");
    (sidecar, config)
}

#[test]
fn the_sidecar_gets_bounded_compute_and_threads_to_match() {
    let (sidecar, config) = sidecar_of(&workflow_with(serde_json::json!({})));
    let resources = sidecar.resources.expect("resources");
    let get =
        |m: &Option<std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| m.as_ref().expect("set")[k].0.clone();
    assert_eq!((get(&resources.requests, "cpu"), get(&resources.requests, "memory")), ("250m".into(), "256Mi".into()));
    assert_eq!((get(&resources.limits, "cpu"), get(&resources.limits, "memory")), ("2".into(), "512Mi".into()));
    // Its thread pool follows its own CPU limit (downward API), not the node's core count.
    let env = sidecar.env.unwrap_or_default();
    let threads = env.iter().find(|v| v.name == "RAYON_NUM_THREADS").expect("thread count");
    let field = threads.value_from.as_ref().and_then(|f| f.resource_field_ref.clone()).expect("resource field");
    assert_eq!((field.container_name.as_deref(), field.resource.as_str()), (Some("desensitizer"), "limits.cpu"));
    assert!(!config.contains("resources"), "the compiled workflow stays about behaviour: {config}");

    // The spec overrides what it names; the rest keeps the defaults.
    let wf = workflow_with(serde_json::json!({"resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}));
    let (sidecar, config) = sidecar_of(&wf);
    let resources = sidecar.resources.expect("resources");
    assert_eq!(get(&resources.requests, "cpu"), "1");
    assert_eq!(get(&resources.limits, "memory"), "1Gi");
    assert_eq!(get(&resources.limits, "cpu"), "2");
    assert!(!config.contains("resources"), "{config}");
    // Only the sidecar is bounded here; the gateway container is unchanged.
    let gateways = super::workflow::render_gateways(&wf, &plain_edge(), &plain_cloud(), &defaults()).expect("renders");
    let pod = gateways[0].deployment.spec.clone().and_then(|s| s.template.spec).expect("pod");
    assert!(pod.containers.iter().find(|c| c.name == "gateway").and_then(|c| c.resources.clone()).is_none());
}

/// (pod selector, policy types, ingress rules) of a NetworkPolicy.
fn policy_parts(
    policy: &k8s_openapi::api::networking::v1::NetworkPolicy,
) -> (
    std::collections::BTreeMap<String, String>,
    Vec<String>,
    Vec<k8s_openapi::api::networking::v1::NetworkPolicyIngressRule>,
) {
    let spec = policy.spec.clone().expect("spec");
    let selected = spec.pod_selector.and_then(|s| s.match_labels).expect("pod selector");
    (selected, spec.policy_types.unwrap_or_default(), spec.ingress.expect("ingress is explicit"))
}

#[test]
fn models_own_a_default_deny_policy_that_admits_only_metrics_scrapers() {
    use super::policy::{MetricsScrapers, render_cloud_isolation, render_edge_isolation};
    let scrapers = MetricsScrapers::from_selectors("", super::policy::DEFAULT_SCRAPER_PODS).expect("valid");
    let cloud_policy = render_cloud_isolation(&plain_cloud(), scrapers.as_ref()).expect("renders");
    assert_eq!(cloud_policy.metadata.name.as_deref(), Some("c-cloud-llm-isolation"));
    let owner = &cloud_policy.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("CloudLLM", "c", Some(true)));
    let (selected, types, ingress) = policy_parts(&cloud_policy);
    // It selects exactly the serving pods (the Deployment's selector).
    assert_eq!(selected, super::labels::selector_labels(super::labels::Component::CloudLlm, "c", None));
    assert_eq!(types, ["Ingress"]);
    assert_eq!(ingress.len(), 1, "one rule: the scrapers");
    let peer = &ingress[0].from.as_ref().expect("from")[0];
    let pods = peer.pod_selector.as_ref().and_then(|s| s.match_labels.clone()).expect("scraper pods");
    assert_eq!(pods["app.kubernetes.io/name"], "prometheus");
    // Any namespace (an empty selector), but only those pods: never "anything in the cluster".
    assert_eq!(peer.namespace_selector.as_ref().map(|n| n.match_labels.is_none()), Some(true));
    let ports = ingress[0].ports.clone().expect("ports");
    assert_eq!((ports[0].port.clone(), ports[0].protocol.as_deref()), (Some(IntOrString::Int(8000)), Some("TCP")));

    // No scrapers configured: an empty rule list, i.e. deny all ingress.
    let closed = render_cloud_isolation(&plain_cloud(), None).expect("renders");
    assert!(policy_parts(&closed).2.is_empty());

    // EdgeLLM: one policy over the pods of every site.
    let edge_policy = render_edge_isolation(&plain_edge(), scrapers.as_ref()).expect("renders");
    assert_eq!(edge_policy.metadata.name.as_deref(), Some("e-edge-llm-isolation"));
    let (selected, _, _) = policy_parts(&edge_policy);
    assert!(!selected.contains_key(super::labels::SITE_LABEL), "all sites: {selected:?}");
    assert_eq!(selected[super::labels::COMPONENT_LABEL], "edge-llm");
    let site_pods = render_edge(&plain_edge(), &defaults(), &Default::default()).expect("renders")[0]
        .children
        .deployment
        .spec
        .clone()
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.labels)
        .expect("pod labels");
    assert!(selected.iter().all(|(k, v)| site_pods.get(k) == Some(v)), "the policy selects the site's pods");
}

#[test]
fn workflows_let_only_their_gateways_into_both_models() {
    use super::policy::{render_cloud_policy, render_edge_policy};
    let wf = workflow_with(serde_json::json!({}));
    let gateways = super::workflow::render_gateways(&wf, &plain_edge(), &plain_cloud(), &defaults()).expect("renders");
    let gateway_pod_labels = gateways[0]
        .deployment
        .spec
        .clone()
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.labels)
        .expect("gateway pod labels");
    for (policy, target, name) in [
        (render_cloud_policy(&wf, &plain_cloud()).expect("renders"), "c", "w-cloud-ingress"),
        (render_edge_policy(&wf, &plain_edge()).expect("renders"), "e", "w-edge-ingress"),
    ] {
        assert_eq!(policy.metadata.name.as_deref(), Some(name));
        let owner = &policy.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("LogicalAIWorkflow", "w"));
        let (selected, _, ingress) = policy_parts(&policy);
        assert_eq!(selected[super::labels::INSTANCE_LABEL], target);
        let peer = &ingress[0].from.as_ref().expect("from")[0];
        assert!(peer.namespace_selector.is_none(), "the workflow's own namespace only");
        let allowed = peer.pod_selector.as_ref().and_then(|s| s.match_labels.clone()).expect("gateway selector");
        assert!(allowed.iter().all(|(k, v)| gateway_pod_labels.get(k) == Some(v)), "{allowed:?}");
        assert_eq!(ingress[0].ports.clone().expect("ports")[0].port, Some(IntOrString::Int(8000)));
    }
}

fn training_edge(context: &str, gpu: Option<i32>) -> EdgeLLM {
    edge(serde_json::json!({
        "model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m/model.gguf"}, "servedName": "m"},
        "sites": [
            {"name": "a", "nodeSelector": {"site": "a"}, "trainAdapter": true,
             "location": {"placeName": "Pudong, Shanghai", "context": context}},
            {"name": "b", "nodeSelector": {"site": "b"}, "location": {"placeName": "Xuhui, Shanghai"}}
        ],
        "training": {
            "storage": {"hostPath": "/srv/netgpt"},
            "lora": {"rank": 4, "targetModules": ["q_proj", "v_proj"], "epochs": 1},
            "dataset": {"limitSeeds": 6, "heldoutPercent": 25},
            "resources": {"cpu": "2", "gpu": gpu}
        }
    }))
}

#[test]
fn a_training_job_runs_generation_training_and_evaluation_on_the_shared_volume() {
    use super::training::{render_training_job, revision, trained_adapter};
    let e = training_edge("Lujiazui; Shanghai Tower.", None);
    let site = &e.spec.sites[0];
    let rev = revision(&e, site);
    let job = render_training_job(&e, site, &rev, &None, &defaults()).expect("job");
    assert_eq!(job.metadata.name.as_deref(), Some(format!("e-a-train-{rev}").as_str()));
    let spec = job.spec.expect("spec");
    assert_eq!(spec.backoff_limit, Some(0));
    let pod = spec.template.spec.expect("pod");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    let init = pod.init_containers.expect("init containers");
    let names: Vec<&str> = init.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["dataset", "train"]);
    assert_eq!(pod.containers[0].name, "evaluate");
    let dir = format!("/var/lib/netgpt/training/e/a/{rev}");
    let dataset = init[0].args.clone().expect("args").join(" ");
    assert!(
        dataset.starts_with(
            "dataset generate -f /etc/netgpt/edgellm.yaml --site a --model /var/lib/netgpt/model/model.gguf"
        ),
        "{dataset}"
    );
    assert!(dataset.contains(&format!("--output {dir}/data")) && dataset.contains("--limit-seeds 6"), "{dataset}");
    assert!(dataset.contains("--heldout-fraction 0.25") && !dataset.contains("--teacher-url"), "{dataset}");
    let train = init[1].args.clone().expect("args").join(" ");
    assert!(train.contains(&format!("--data {dir}/data/a.jsonl --output {dir}/adapter --device cpu")), "{train}");
    assert!(
        train.contains("--rank 4") && train.contains("--target-modules q_proj,v_proj") && train.contains("--epochs 1")
    );
    let evaluate = pod.containers[0].args.clone().expect("args").join(" ");
    assert!(evaluate.contains(&format!("--adapter a={dir}/adapter")), "{evaluate}");
    for c in init.iter().chain(&pod.containers) {
        assert!(c.args.as_ref().expect("args").contains(&"/dev/termination-log".to_string()), "{} reports", c.name);
        assert_eq!(c.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
        let mount = c.volume_mounts.as_ref().expect("mounts").iter().find(|m| m.name == "training").expect("training");
        assert_eq!(mount.read_only, Some(false));
        assert_eq!(c.security_context.as_ref().and_then(|s| s.read_only_root_filesystem), Some(true));
    }
    let volume = pod.volumes.expect("volumes").into_iter().find(|v| v.name == "training").expect("volume");
    assert_eq!(volume.host_path.expect("hostPath").path, "/srv/netgpt");

    // A teacher endpoint is passed on; a GPU trains on CUDA in the CUDA image.
    let gpu = training_edge("Lujiazui; Shanghai Tower.", Some(1));
    let teacher = Some(("http://cloud.ns.svc:8000/v1".to_string(), "big".to_string()));
    let job = render_training_job(&gpu, &gpu.spec.sites[0], &rev, &teacher, &defaults()).expect("job");
    let pod = job.spec.expect("spec").template.spec.expect("pod");
    let init = pod.init_containers.expect("init");
    assert!(
        init[0]
            .args
            .clone()
            .expect("args")
            .join(" ")
            .contains("--teacher-url http://cloud.ns.svc:8000/v1 --teacher-model big")
    );
    assert!(init[1].args.clone().expect("args").join(" ").contains("--device cuda"));
    assert_eq!(init[1].image.as_deref(), Some("img:1-cuda"));

    // The revision follows the profile, not where or how long the Job runs.
    assert_eq!(revision(&gpu, &gpu.spec.sites[0]), rev, "resources do not change the adapter");
    let edited = training_edge("Lujiazui; Shanghai Tower; Oriental Pearl Tower.", None);
    assert_ne!(revision(&edited, &edited.spec.sites[0]), rev, "a profile edit re-trains");

    // Serving: the training site mounts the volume read-only from the start and, once an
    // adapter is trained, its configuration names it; the other site is untouched.
    let untrained = render_edge(&e, &defaults(), &Default::default()).expect("renders");
    let trained_map = std::collections::BTreeMap::from([("a".to_string(), trained_adapter("e", "a", &rev))]);
    let trained = render_edge(&e, &defaults(), &trained_map).expect("renders");
    let template = |sites: &[super::edge::SiteChildren], i: usize| {
        sites[i].children.deployment.spec.clone().expect("spec").template
    };
    assert_eq!(template(&untrained, 0), template(&trained, 0), "a new adapter must not restart the pods");
    let mounts = template(&trained, 0).spec.expect("pod").containers[0].volume_mounts.clone().expect("mounts");
    assert!(mounts.iter().any(|m| m.name == "training" && m.read_only == Some(true)));
    let config = |sites: &[super::edge::SiteChildren], i: usize| {
        netgpt_crds::config::ServingConfig::from_yaml(
            &sites[i].children.config_map.data.clone().expect("data")["serving.yaml"],
        )
        .expect("config")
    };
    assert!(config(&untrained, 0).adapters.is_empty());
    let served = config(&trained, 0);
    assert_eq!(served.adapters[0].name, "site-a");
    assert_eq!(served.adapters[0].path, format!("/var/lib/netgpt/training/e/a/{rev}/adapter"));
    assert_eq!(served.site.expect("site").adapter.as_deref(), Some("site-a"));
    assert!(
        template(&trained, 1).spec.expect("pod").containers[0]
            .volume_mounts
            .clone()
            .expect("m")
            .iter()
            .all(|m| m.name != "training")
    );
}
