//! Test support for the real Kubernetes 1.20 control plane that `hack/testenv.sh start`
//! runs on loopback (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
//! fake edge / cloud-GPU nodes).
//!
//! Tests get a client with [`client`], install the CRDs with [`install_crds`] and work in
//! their own namespace ([`TestNamespace`]) so they can run in parallel. There is no
//! fallback: without a running control plane the tests fail and say how to start one.
//!
//! [`recording`] is the other shared piece: a recording OpenAI-style upstream standing
//! in for the cloud model behind the desensitizer.

pub mod dashboards;
pub mod pod_discovery;
pub mod recording;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use tokio::sync::OnceCell;

/// Field manager the tests use for server-side apply.
pub const FIELD_MANAGER: &str = "netgpt-tests";

/// Path of the test control plane's kubeconfig: `$NETGPT_TEST_KUBECONFIG`, else the file
/// `hack/testenv.sh start` writes.
pub fn kubeconfig_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NETGPT_TEST_KUBECONFIG") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("NETGPT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/netgpt"));
    cache.join("testenv/kubeconfig")
}

/// A client for the test control plane (admin token).
pub async fn client() -> Client {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "no test control plane kubeconfig at {} ({e}); run `hack/testenv.sh install && hack/testenv.sh start`",
            path.display()
        )
    });
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("test kubeconfig is valid");
    Client::try_from(config).expect("client for the test control plane")
}

static CRDS: OnceCell<()> = OnceCell::const_new();

/// Applies every NetGPT CRD (server-side apply) and waits until each is Established.
/// Runs once per test binary; safe to call from every test.
pub async fn install_crds(client: &Client) {
    CRDS.get_or_init(|| async {
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in netgpt_crds::all_crds() {
            let name = crd.metadata.name.clone().expect("CRDs are named");
            api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
            tokio::time::timeout(
                Duration::from_secs(30),
                await_condition(api.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not Established within 30s"))
            .expect("watching CRD");
        }
        // Discovery of a new CRD lags Established by a moment in kubectl's cache.
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
}

/// A namespace unique to one test, deleted (without waiting) when dropped.
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    pub async fn new(client: &Client, prefix: &str) -> Self {
        let name = format!("{prefix}-{}", unique_suffix());
        let api: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"netgpt.io/test": "true"}}
        }))
        .expect("namespace object");
        api.create(&PostParams::default(), &ns).await.expect("creating test namespace");
        Self { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // No kubelet runs, so pods never finish terminating by themselves and would keep
        // their GPUs (and the namespace) forever: remove them the way a kubelet would.
        let _ = kubectl(&["delete", "pods", "--all", "-n", &self.name, "--force", "--grace-period=0"]);
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates a PersistentVolume and a claim bound to it, so pods mounting `claim` can be
/// scheduled (the test plane has no storage provisioner).
pub async fn bound_claim(client: &Client, namespace: &str, claim: &str) {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let pv_name = format!("{namespace}-{claim}");
    let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
        "metadata": {"name": pv_name, "labels": {"netgpt.io/test": "true"}},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadOnlyMany"],
                 "hostPath": {"path": format!("/var/lib/netgpt-test/{pv_name}")},
                 "claimRef": {"namespace": namespace, "name": claim}}
    }))
    .expect("PV object");
    Api::<PersistentVolume>::all(client.clone()).create(&PostParams::default(), &pv).await.expect("creating PV");
    let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
        "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}},
                 "volumeName": pv_name, "storageClassName": ""}
    }))
    .expect("PVC object");
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &pvc)
        .await
        .expect("creating PVC");
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:x}{:x}{}", std::process::id(), nanos % 0xfffff, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Runs `kubectl` against the test control plane.
pub fn kubectl(args: &[&str]) -> Output {
    kubectl_with_stdin(args, None)
}

/// Runs `kubectl` with `stdin` fed to it.
pub fn kubectl_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig_path()).args(args);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(std::process::Stdio::piped());
    }
    let mut child = cmd.spawn().expect("kubectl is installed");
    if let Some(data) = stdin {
        child.stdin.take().expect("stdin piped").write_all(data).expect("writing kubectl stdin");
    }
    child.wait_with_output().expect("kubectl ran")
}

/// Text of a command's stdout and stderr, for assertions and failure messages.
pub fn output_text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Root of the repository (for examples/ and charts/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes a PEFT LoRA adapter for the default model (SmolLM2-135M: hidden size 576, 3 KV
/// heads of 64) into `dir`: rank 1 on layer 0's `v_proj`, all zeros, so it is loaded,
/// selectable and counted by the adapter metrics without changing any answer.
pub fn write_zero_adapter(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("adapter dir");
    let config =
        serde_json::json!({"peft_type": "LORA", "r": 1, "lora_alpha": 1, "target_modules": ["v_proj"], "bias": "none"});
    std::fs::write(dir.join("adapter_config.json"), config.to_string()).expect("adapter_config.json");
    let prefix = "base_model.model.model.layers.0.self_attn.v_proj";
    let tensors = [(format!("{prefix}.lora_A.weight"), [1, 576]), (format!("{prefix}.lora_B.weight"), [192, 1])];
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in &tensors {
        let size = shape[0] * shape[1] * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}),
        );
        offset += size;
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let mut file = Vec::with_capacity(8 + header.len() + offset);
    file.extend_from_slice(&(header.len() as u64).to_le_bytes());
    file.extend_from_slice(&header);
    file.resize(file.len() + offset, 0);
    std::fs::write(dir.join("adapter_model.safetensors"), file).expect("adapter_model.safetensors");
}
