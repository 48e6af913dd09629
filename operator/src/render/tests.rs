//! Rendering without a cluster: placement merge, GPU limits, artifact staging per scheme.

use netgpt_crds::EdgeLLM;

use super::edge::render_edge;

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
    let sites = render_edge(&e, "img:1").expect("renders");
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
    let sites = render_edge(&e, "img:1").expect("renders");
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
    let sites = render_edge(&e, "img:1").expect("renders");
    let ports = sites[0].children.service.spec.as_ref().and_then(|s| s.ports.clone()).expect("ports");
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
}
