//! The operator's adapter-training lifecycle on the real Kubernetes 1.20 test plane: an
//! EdgeLLM site with `trainAdapter: true` gets a Job; the real scheduler binds its pod to
//! a fake node, and this test plays that node's kubelet — it runs each step's container
//! command with this build's `netgpt` (the model and the training volume at the paths the
//! pod mounts them from) and reports the pod's status with each step's termination
//! message, as a kubelet would. The real Job controller completes the Job; the operator
//! must then report the figures, serve the adapter without restarting the site's pods,
//! re-train on a profile edit while still serving the old adapter, and report a failed
//! re-training as a condition and an Event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use netgpt_crds::EdgeLLM;
use netgpt_crds::config::ServingConfig;
use netgpt_testenv::{TestNamespace, client, eventually, install_crds};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(90);

struct Operator {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start_operator(namespace: &str) -> Operator {
    let args = netgpt_operator::OperatorArgs {
        namespace: Some(namespace.to_string()),
        listen: "127.0.0.1:0".parse().expect("addr"),
        default_image: "ghcr.io/netgpt/netgpt:test".to_string(),
        default_cuda_image: "ghcr.io/netgpt/netgpt:test-cuda".to_string(),
        leader_elect: false,
        lease_name: "netgpt-operator".to_string(),
        lease_namespace: Some(namespace.to_string()),
        lease_duration_seconds: 15,
        identity: Some(format!("test-{namespace}")),
        log_format: netgpt_operator::run::LogFormat::Text,
        metrics_scraper_namespaces: String::new(),
        metrics_scraper_pods: netgpt_operator::render::policy::DEFAULT_SCRAPER_PODS.to_string(),
    };
    // SAFETY of env: every test of this binary uses the same kubeconfig path.
    unsafe { std::env::set_var("KUBECONFIG", netgpt_testenv::kubeconfig_path()) };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        netgpt_operator::run_until(
            args,
            async move {
                let _ = stopped.await;
            },
            |_| {},
        )
        .await
        .expect("operator runs");
    });
    Operator { stop, task }
}

fn edge_manifest(model: &Path, storage: &Path, pudong_context: &str) -> Value {
    json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM",
        "metadata": {"name": "city"},
        "spec": {
            "model": {"architecture": "llama", "format": "gguf", "servedName": "smollm2",
                      "source": {"uri": format!("file://{}", model.display())}},
            "placement": {"nodeSelector": {"netgpt.io/pool": "edge"}},
            "sites": [
                {"name": "pudong", "nodeSelector": {"netgpt.io/site": "site-a"}, "trainAdapter": true,
                 "location": {"placeName": "Pudong, Shanghai", "context": pudong_context}},
                {"name": "xuhui", "nodeSelector": {"netgpt.io/site": "site-b"},
                 "location": {"placeName": "Xuhui, Shanghai",
                              "context": "Leafy former French Concession streets; Xujiahui Cathedral."}}
            ],
            "training": {
                "storage": {"hostPath": storage.display().to_string()},
                "dataset": {"limitSeeds": 6, "candidates": 3, "heldoutPercent": 30},
                "lora": {"rank": 4, "epochs": 1, "gradientAccumulation": 2, "maxExamples": 8}
            }
        }
    })
}

async fn edge_status(client: &Client, ns: &str) -> Value {
    let edge = Api::<EdgeLLM>::namespaced(client.clone(), ns).get("city").await.expect("EdgeLLM");
    serde_json::to_value(edge.status).expect("status")
}

fn training_status(status: &Value) -> Value {
    status["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "pudong")
        .map(|s| s["training"].clone())
        .unwrap_or(Value::Null)
}

async fn job_pod(client: &Client, ns: &str, job: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("the bound pod of {job}"), WAIT, || async {
        let list = pods.list(&ListParams::default().labels(&format!("job-name={job}"))).await.ok()?;
        list.items.into_iter().find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
    })
    .await
}

/// Maps a container's paths to where this machine has them, the way its volumes would.
fn local_args(container: &Container, mounts: &BTreeMap<String, PathBuf>, message: &Path) -> Vec<String> {
    container
        .args
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|arg| {
            if arg == "/dev/termination-log" {
                return message.display().to_string();
            }
            let mut arg = arg;
            for (from, to) in mounts {
                if arg.contains(from.as_str()) {
                    arg = arg.replace(from.as_str(), &to.display().to_string());
                }
            }
            arg
        })
        .collect()
}

fn terminated(name: &str, exit_code: i32, message: &str) -> Value {
    json!({"name": name, "ready": false, "restartCount": 0, "image": "ghcr.io/netgpt/netgpt:test", "imageID": "",
           "state": {"terminated": {"exitCode": exit_code, "message": message, "reason": if exit_code == 0 { "Completed" } else { "Error" }}}})
}

fn running(name: &str) -> Value {
    json!({"name": name, "ready": false, "restartCount": 0, "image": "ghcr.io/netgpt/netgpt:test", "imageID": "",
           "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})
}

async fn set_pod_status(client: &Client, ns: &str, pod: &str, status: Value) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.patch_status(pod, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
        .await
        .expect("pod status");
}

/// Runs the pod's steps like a kubelet and reports each as it goes.
async fn run_job_pod(client: &Client, ns: &str, pod: &Pod, mounts: &BTreeMap<String, PathBuf>, scratch: &Path) {
    let spec = pod.spec.clone().expect("pod spec");
    let steps: Vec<Container> =
        spec.init_containers.clone().unwrap_or_default().into_iter().chain(spec.containers.clone()).collect();
    let init_count = spec.init_containers.as_ref().map_or(0, Vec::len);
    let mut done: Vec<Value> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (init, main): (Vec<Value>, Vec<Value>) = if i < init_count {
            (done.iter().cloned().chain([running(&step.name)]).collect(), vec![])
        } else {
            (done.clone(), vec![running(&step.name)])
        };
        set_pod_status(
            client,
            ns,
            &pod.name_any(),
            json!({"phase": if i < init_count { "Pending" } else { "Running" },
            "initContainerStatuses": init, "containerStatuses": main}),
        )
        .await;
        let message = scratch.join(format!("{}.termination", step.name));
        let args = local_args(step, mounts, &message);
        let binary = env!("CARGO_BIN_EXE_netgpt");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(binary).args(&args).env("RUST_LOG", "warn").output().expect("netgpt runs")
        })
        .await
        .expect("join");
        assert!(out.status.success(), "step {} failed:\n{}", step.name, String::from_utf8_lossy(&out.stderr));
        let summary = std::fs::read_to_string(&message).expect("the step wrote its termination message");
        assert!(summary.len() < 4096, "termination messages are limited to 4 KiB");
        done.push(terminated(&step.name, 0, &summary));
    }
    let (init, main) = done.split_at(init_count);
    set_pod_status(
        client,
        ns,
        &pod.name_any(),
        json!({"phase": "Succeeded", "initContainerStatuses": init, "containerStatuses": main}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_site_gets_its_adapter_from_a_job_and_keeps_it_through_a_failed_retraining() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "training").await;
    let operator = start_operator(&ns.name).await;
    let model = netgpt_inference::ensure_default_model().expect("default model");
    let scratch = std::env::temp_dir().join(format!("netgpt-training-job-{}", std::process::id()));
    let storage = scratch.join("volume");
    std::fs::create_dir_all(&storage).expect("volume dir");

    let edges: Api<EdgeLLM> = Api::namespaced(client.clone(), &ns.name);
    let context = "Lujiazui financial district by the Huangpu River; Shanghai Tower, Oriental Pearl Tower.";
    let edge: EdgeLLM = serde_json::from_value(edge_manifest(&model, &storage, context)).expect("EdgeLLM");
    edges.create(&PostParams::default(), &edge).await.expect("create");

    // The Job of the current revision appears, and the site serves the base meanwhile.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let job = eventually("the training Job", WAIT, || async {
        jobs.list(&ListParams::default().labels("app.kubernetes.io/component=adapter-training"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    let revision = job.labels()["netgpt.io/training-revision"].clone();
    assert_eq!(job.name_any(), format!("city-pudong-train-{revision}"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let before =
        eventually("pudong's Deployment", WAIT, || async { deployments.get_opt("city-pudong").await.ok()? }).await;
    let template_before = before.spec.clone().expect("spec").template;

    // The pod's mounts, resolved the way the (fake) node's volumes would be.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let sites = config_maps.get("city.training").await.expect("sites ConfigMap");
    let sites_dir = scratch.join("etc");
    std::fs::create_dir_all(&sites_dir).expect("etc");
    std::fs::write(sites_dir.join("edgellm.yaml"), &sites.data.expect("data")["edgellm.yaml"]).expect("sites file");
    let model_dir = model.parent().expect("model dir").to_path_buf();
    let mounts = BTreeMap::from([
        ("/var/lib/netgpt/training".to_string(), storage.clone()),
        ("/etc/netgpt".to_string(), sites_dir.clone()),
        ("/var/lib/netgpt/model".to_string(), model_dir.clone()),
    ]);
    let pod = job_pod(&client, &ns.name, &job.name_any()).await;
    run_job_pod(&client, &ns.name, &pod, &mounts, &scratch).await;

    // The real Job controller completes the Job; the operator reports and serves it.
    let status = eventually("training Succeeded", WAIT, || async {
        let status = edge_status(&client, &ns.name).await;
        (training_status(&status)["phase"] == "Succeeded").then_some(status)
    })
    .await;
    let training = training_status(&status);
    assert_eq!(training["revision"], revision.as_str());
    assert_eq!(training["servingRevision"], revision.as_str());
    for field in ["trainPairs", "lastLoss", "heldoutLoss", "ownContextShare", "templateOwnContextShare"] {
        assert!(training[field].is_number(), "{field} missing: {training}");
    }
    let conditions = status["conditions"].as_array().expect("conditions");
    let trained = conditions.iter().find(|c| c["type"] == "AdaptersTrained").expect("AdaptersTrained");
    assert_eq!(trained["status"], "True", "{trained}");
    let config = eventually("the adapter in pudong's serving configuration", WAIT, || async {
        let cm = config_maps.get("city-pudong").await.ok()?;
        let config = ServingConfig::from_yaml(&cm.data?["serving.yaml"]).ok()?;
        (!config.adapters.is_empty()).then_some(config)
    })
    .await;
    assert_eq!(config.adapters[0].name, "site-pudong");
    let adapter_path = format!("/var/lib/netgpt/training/city/pudong/{revision}/adapter");
    assert_eq!(config.adapters[0].path, adapter_path);
    assert!(storage.join(format!("city/pudong/{revision}/adapter/adapter_model.safetensors")).is_file());
    let after = deployments.get("city-pudong").await.expect("Deployment");
    assert_eq!(after.spec.expect("spec").template, template_before, "a new adapter must not restart the site's pods");
    let xuhui =
        ServingConfig::from_yaml(&config_maps.get("city-xuhui").await.expect("cm").data.expect("data")["serving.yaml"])
            .expect("config");
    assert!(xuhui.adapters.is_empty(), "the other site is untouched");

    // Editing the profile re-trains; the site keeps its adapter until the new one exists.
    let edited =
        "Lujiazui financial district by the Huangpu River; Shanghai Tower, Oriental Pearl Tower; metro line 2.";
    let patch = json!({"spec": {"sites": edge_manifest(&model, &storage, edited)["spec"]["sites"]}});
    edges.patch("city", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("edit profile");
    let new_job = eventually("the re-training Job", WAIT, || async {
        let list =
            jobs.list(&ListParams::default().labels("app.kubernetes.io/component=adapter-training")).await.ok()?;
        list.items.into_iter().find(|j| j.labels()["netgpt.io/training-revision"] != revision)
    })
    .await;
    let new_revision = new_job.labels()["netgpt.io/training-revision"].clone();
    // The re-training's first step fails (its teacher is unreachable, say).
    let pod = job_pod(&client, &ns.name, &new_job.name_any()).await;
    set_pod_status(
        &client,
        &ns.name,
        &pod.name_any(),
        json!({"phase": "Failed",
        "initContainerStatuses": [terminated("dataset", 1, "teacher: http://cloud/v1: connection refused")],
        "containerStatuses": []}),
    )
    .await;
    let status = eventually("training Failed", WAIT, || async {
        let status = edge_status(&client, &ns.name).await;
        (training_status(&status)["phase"] == "Failed").then_some(status)
    })
    .await;
    let training = training_status(&status);
    assert_eq!(training["revision"], new_revision.as_str());
    assert_eq!(training["servingRevision"], revision.as_str(), "still serving the last good adapter");
    assert!(training["message"].as_str().unwrap_or_default().contains("connection refused"), "{training}");
    let degraded = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Degraded")
        .cloned()
        .expect("Degraded");
    assert_eq!(
        (degraded["status"].as_str(), degraded["reason"].as_str()),
        (Some("True"), Some("AdapterTrainingFailed"))
    );
    let config = ServingConfig::from_yaml(
        &config_maps.get("city-pudong").await.expect("cm").data.expect("data")["serving.yaml"],
    )
    .expect("config");
    assert_eq!(config.adapters[0].path, adapter_path);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let reasons: Vec<String> = eventually("training events", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let reasons: Vec<String> = list.items.into_iter().filter_map(|e| e.reason).collect();
        reasons.iter().any(|r| r == "TrainingFailed").then_some(reasons)
    })
    .await;
    for reason in ["TrainingStarted", "TrainingSucceeded", "TrainingFailed"] {
        assert!(reasons.iter().any(|r| r == reason), "no {reason} event: {reasons:?}");
    }
    let _ = operator.stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), operator.task).await;
    let _ = std::fs::remove_dir_all(&scratch);
}
