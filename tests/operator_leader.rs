//! Leader election with two real operator processes (`netgpt operator`) against the test
//! control plane: only the leader reconciles; after `kill -9` of the leader the other
//! process takes over within the lease duration and carries on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use netgpt_testenv::{TestNamespace, client, eventually, install_crds, kubeconfig_path};

const LEASE_SECONDS: u64 = 6;

fn spawn_operator(ns: &str, identity: &str, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_netgpt"))
        .args(["operator", "--namespace", ns, "--lease-namespace", ns, "--lease-name", "leader-test"])
        .args([
            "--identity",
            identity,
            "--listen",
            "127.0.0.1:0",
            "--lease-duration-seconds",
            &LEASE_SECONDS.to_string(),
        ])
        .env("KUBECONFIG", kubeconfig_path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(file.try_clone().expect("dup")))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("netgpt operator starts")
}

fn edge(name: &str) -> netgpt_crds::EdgeLLM {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM", "metadata": {"name": name},
        "spec": {"model": {"architecture": "llama", "format": "gguf", "source": {"uri": "file:///models/m.gguf"}},
                 "sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}}]}
    }))
    .expect("EdgeLLM")
}

fn applied_by(log: &PathBuf, object: &str) -> bool {
    std::fs::read_to_string(log).unwrap_or_default().lines().any(|l| l.contains("applied child") && l.contains(object))
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_follower_takes_over_after_kill_9() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "leader").await;
    let dir = std::env::temp_dir().join(format!("netgpt-leader-{}", ns.name));
    std::fs::create_dir_all(&dir).expect("log dir");
    let logs = [dir.join("op-a.log"), dir.join("op-b.log")];
    let mut procs = [spawn_operator(&ns.name, "op-a", &logs[0]), spawn_operator(&ns.name, "op-b", &logs[1])];

    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let leader = eventually("a lease holder", Duration::from_secs(30), || async {
        leases.get_opt("leader-test").await.ok()??.spec?.holder_identity
    })
    .await;
    let (leader_idx, follower_idx) = if leader == "op-a" { (0, 1) } else { (1, 0) };

    let edges: Api<netgpt_crds::EdgeLLM> = Api::namespaced(client.clone(), &ns.name);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    edges.create(&PostParams::default(), &edge("first")).await.expect("create first");
    eventually("first reconciled", Duration::from_secs(30), || async { deployments.get_opt("first-a").await.ok()? })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(applied_by(&logs[leader_idx], "first-a"), "the leader applied the children");
    assert!(!applied_by(&logs[follower_idx], "first-a"), "the follower must not reconcile");

    // kill -9: the lease is not released; the follower must wait it out, then take over.
    procs[leader_idx].kill().expect("kill -9 the leader");
    let _ = procs[leader_idx].wait();
    let killed = Instant::now();
    edges.create(&PostParams::default(), &edge("second")).await.expect("create second");
    eventually("second reconciled by the new leader", Duration::from_secs(LEASE_SECONDS * 4), || async {
        deployments.get_opt("second-a").await.ok()?
    })
    .await;
    let takeover = killed.elapsed();
    let follower_id = if follower_idx == 0 { "op-a" } else { "op-b" };
    let holder = leases.get("leader-test").await.expect("lease").spec.and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some(follower_id));
    assert!(applied_by(&logs[follower_idx], "second-a"));
    assert!(takeover < Duration::from_secs(LEASE_SECONDS * 3), "takeover took {takeover:?}");
    eprintln!("leader takeover after kill -9: {takeover:?} (lease {LEASE_SECONDS}s)");

    // No duplicated children: one Deployment per site.
    let all = deployments.list(&Default::default()).await.expect("list");
    let mut names: Vec<_> = all.items.iter().filter_map(|d| d.metadata.name.clone()).collect();
    names.sort();
    assert_eq!(names, vec!["first-a".to_string(), "second-a".to_string()]);
    let _ = procs[follower_idx].kill();
    let _ = procs[follower_idx].wait();
}
