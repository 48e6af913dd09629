//! Rules the CRD schema cannot express. A spec that breaks one gets `Ready=False` with
//! reason `InvalidSpec`, a Warning Event naming the field, and no child is touched.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::Node;
use netgpt_crds::{
    AdapterSpec, AdapterTraining, Architecture, CloudLLMSpec, EdgeLLMSpec, ModelFormat, ModelSpec, ResourceSpec,
    ServingDType, ServingDevice, ServingLimits,
};

use crate::render::labels::site_object_name;

/// One broken rule, with the path of the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Kubernetes object names derived from the resource must be DNS-1035 labels (Services).
const MAX_OBJECT_NAME: usize = 63;

fn check_model(model: &ModelSpec, errors: &mut Vec<FieldError>) {
    if model.architecture == Architecture::Gpt2 && model.format == ModelFormat::Gguf {
        errors.push(error("spec.model.format", "architecture gpt2 is served from safetensors only, not gguf"));
    }
}

/// Device and precision against what the server can run: CUDA serves LLaMA-family
/// safetensors checkpoints (with their LoRA adapters, up to rank 64: the server refuses a
/// larger one when it loads it), and only when the pod gets GPUs; `dtype` applies to
/// safetensors only.
fn check_serving(
    model: &ModelSpec,
    serving: Option<&ServingLimits>,
    resources: Option<&ResourceSpec>,
    errors: &mut Vec<FieldError>,
) {
    let device = ServingDevice::resolve(serving, resources);
    let serving = serving.cloned().unwrap_or_default();
    // Name the field that made it CUDA: the explicit device, else the GPU request.
    let field = if serving.device == Some(ServingDevice::Cuda) { "spec.serving.device" } else { "spec.resources.gpu" };
    if device == ServingDevice::Cuda {
        if resources.and_then(|r| r.gpu).unwrap_or(0) == 0 {
            errors.push(error("spec.serving.device", "cuda needs GPUs: set spec.resources.gpu"));
        }
        if model.architecture != Architecture::Llama || model.format != ModelFormat::Safetensors {
            let (arch, format) = (format!("{:?}", model.architecture), format!("{:?}", model.format));
            errors.push(error(
                field,
                format!(
                    "CUDA serving runs LLaMA-family safetensors checkpoints, not {} {}: use a safetensors \
                     checkpoint, or serve on the CPU with spec.serving.device: cpu",
                    arch.to_lowercase(),
                    format.to_lowercase()
                ),
            ));
        }
    }
    match serving.dtype.unwrap_or_default() {
        ServingDType::Auto => {}
        _ if model.format == ModelFormat::Gguf => errors
            .push(error("spec.serving.dtype", "applies to safetensors checkpoints; GGUF keeps its own quantization")),
        ServingDType::F16 | ServingDType::Bf16 if device != ServingDevice::Cuda => {
            errors.push(error("spec.serving.dtype", "f16 and bf16 run on CUDA only; on the CPU weights are f32"))
        }
        _ => {}
    }
}

fn check_adapters(adapters: &[AdapterSpec], errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, adapter) in adapters.iter().enumerate() {
        if !seen.insert(adapter.name.as_str()) {
            errors
                .push(error(format!("spec.adapters[{i}].name"), format!("duplicate adapter name {:?}", adapter.name)));
        }
    }
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        errors.push(error("metadata.name", "must start with a lowercase letter (it names Services)"));
    }
}

/// Checks that some node matching `selector` can offer `gpu` GPUs.
fn check_gpu(
    resources: Option<&ResourceSpec>,
    selector: &BTreeMap<String, String>,
    nodes: &[Node],
    what: &str,
    errors: &mut Vec<FieldError>,
) {
    let Some(gpu) = resources.and_then(|r| r.gpu).filter(|g| *g > 0) else {
        return;
    };
    let capable = nodes.iter().any(|node| {
        let labels = node.metadata.labels.as_ref();
        let matches = selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("nvidia.com/gpu"))
            .and_then(|q| q.0.parse::<i64>().ok())
            .unwrap_or(0);
        matches && allocatable >= i64::from(gpu)
    });
    if !capable {
        errors.push(error(
            "spec.resources.gpu",
            format!("{gpu} GPU(s) requested but no node matching {what}'s node selector has that many nvidia.com/gpu"),
        ));
    }
}

/// `spec.training`: one storage, an absolute host path, a teacher URL with its model,
/// LoRA targets that exist in the base's architecture (PEFT's names).
fn check_training(training: &AdapterTraining, architecture: Architecture, errors: &mut Vec<FieldError>) {
    let storage = &training.storage;
    match (&storage.persistent_volume_claim, &storage.host_path) {
        (Some(_), Some(_)) | (None, None) => {
            errors.push(error("spec.training.storage", "set exactly one of persistentVolumeClaim and hostPath"))
        }
        (None, Some(path)) if !path.starts_with('/') => {
            errors.push(error("spec.training.storage.hostPath", format!("{path:?} is not an absolute path")))
        }
        _ => {}
    }
    let teacher = &training.teacher;
    if teacher.url.is_some() && teacher.cloud_ref.is_some() {
        errors.push(error("spec.training.teacher", "set at most one of url and cloudRef"));
    }
    if let Some(url) = &teacher.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            errors.push(error("spec.training.teacher.url", format!("{url:?} is not an http(s) URL")));
        }
        if teacher.model.is_none() {
            errors.push(error("spec.training.teacher.model", "required with teacher.url"));
        }
    }
    const LLAMA: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    // `c_proj` is GPT-2's attention output and MLP output alike, as in PEFT.
    const GPT2: [&str; 3] = ["c_attn", "c_proj", "c_fc"];
    let known: &[&str] = match architecture {
        Architecture::Llama => &LLAMA,
        Architecture::Gpt2 => &GPT2,
    };
    for (i, target) in training.lora.target_modules.iter().enumerate() {
        if !known.contains(&target.as_str()) {
            errors.push(error(
                format!("spec.training.lora.targetModules[{i}]"),
                format!("{target:?} is not one of {} ({:?} bases)", known.join(", "), architecture),
            ));
        }
    }
}

/// Validates an EdgeLLM. `nodes` is consulted only when GPUs are requested.
pub fn validate_edge(name: &str, spec: &EdgeLLMSpec, nodes: &[Node]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(training) = &spec.training {
        check_training(training, spec.model.architecture, &mut errors);
    }
    check_name(name, &mut errors);
    check_model(&spec.model, &mut errors);
    check_adapters(&spec.adapters, &mut errors);
    check_serving(&spec.model, spec.serving.as_ref(), spec.resources.as_ref(), &mut errors);
    let declared: HashSet<&str> = spec.adapters.iter().map(|a| a.name.as_str()).collect();
    let mut sites = HashSet::new();
    let pool = spec.placement.as_ref().map(|p| p.node_selector.clone()).unwrap_or_default();
    for (i, site) in spec.sites.iter().enumerate() {
        if !sites.insert(site.name.as_str()) {
            errors.push(error(format!("spec.sites[{i}].name"), format!("duplicate site name {:?}", site.name)));
        }
        if let Some(adapter) = &site.adapter
            && !declared.contains(adapter.as_str())
        {
            errors.push(error(
                format!("spec.sites[{i}].adapter"),
                format!("adapter {adapter:?} is not declared in spec.adapters"),
            ));
        }
        let object = site_object_name(name, &site.name);
        if object.len() > MAX_OBJECT_NAME {
            errors.push(error(
                format!("spec.sites[{i}].name"),
                format!("object name {object:?} would exceed {MAX_OBJECT_NAME} characters"),
            ));
        }
        if site.train_adapter {
            if site.adapter.is_some() {
                errors.push(error(
                    format!("spec.sites[{i}].adapter"),
                    "a site either names an adapter or trains one (trainAdapter: true), not both",
                ));
            }
            if spec.training.is_none() {
                errors.push(error(
                    format!("spec.sites[{i}].trainAdapter"),
                    "trainAdapter needs spec.training (teacher, storage, LoRA settings)",
                ));
            }
        }
        let mut selector = pool.clone();
        selector.extend(site.node_selector.clone());
        check_gpu(spec.resources.as_ref(), &selector, nodes, &format!("site {:?}", site.name), &mut errors);
    }
    errors
}

/// Validates a CloudLLM. `nodes` is consulted only when GPUs are requested.
pub fn validate_cloud(name: &str, spec: &CloudLLMSpec, nodes: &[Node]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_name(name, &mut errors);
    if name.len() > MAX_OBJECT_NAME {
        errors.push(error("metadata.name", format!("must be at most {MAX_OBJECT_NAME} characters")));
    }
    check_model(&spec.model, &mut errors);
    check_adapters(&spec.adapters, &mut errors);
    check_serving(&spec.model, spec.serving.as_ref(), spec.resources.as_ref(), &mut errors);
    let pool = spec.placement.as_ref().map(|p| p.node_selector.clone()).unwrap_or_default();
    check_gpu(spec.resources.as_ref(), &pool, nodes, "the placement", &mut errors);
    errors
}

/// Whether validation needs the node list (only GPU requests do).
pub fn needs_nodes(resources: Option<&ResourceSpec>) -> bool {
    resources.and_then(|r| r.gpu).is_some_and(|g| g > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(spec: serde_json::Value) -> CloudLLMSpec {
        serde_json::from_value(spec).expect("CloudLLMSpec")
    }

    fn fields(spec: &CloudLLMSpec) -> Vec<String> {
        // A GPU node so that the GPU-capacity rule stays quiet.
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "g", "labels": {}},
            "status": {"allocatable": {"nvidia.com/gpu": "4"}}
        }))
        .expect("node");
        validate_cloud("c", spec, &[node]).into_iter().map(|e| e.field).collect()
    }

    const SAFETENSORS: &str = r#"{"architecture": "llama", "format": "safetensors", "source": {"uri": "file:///m"}}"#;
    const GGUF: &str = r#"{"architecture": "llama", "format": "gguf", "source": {"uri": "file:///m.gguf"}}"#;

    fn model(json: &str) -> serde_json::Value {
        serde_json::from_str(json).expect("model")
    }

    #[test]
    fn cuda_serves_llama_safetensors_on_pods_with_gpus() {
        let gpu = serde_json::json!({"gpu": 1});
        // auto + GPU + safetensors: fine.
        assert!(fields(&cloud(serde_json::json!({"model": model(SAFETENSORS), "resources": gpu}))).is_empty());
        // auto + GPU + GGUF: refused, naming the GPU request that made it CUDA.
        assert_eq!(fields(&cloud(serde_json::json!({"model": model(GGUF), "resources": gpu}))), ["spec.resources.gpu"]);
        // ... unless the spec asks for the CPU.
        let cpu = serde_json::json!({"model": model(GGUF), "resources": gpu, "serving": {"device": "cpu"}});
        assert!(fields(&cloud(cpu)).is_empty());
        // Explicit cuda without GPUs.
        let no_gpu = serde_json::json!({"model": model(SAFETENSORS), "serving": {"device": "cuda"}});
        assert_eq!(fields(&cloud(no_gpu)), ["spec.serving.device"]);
        // Adapters on CUDA are served (the gathered LoRA kernel).
        let adapters = serde_json::json!({"model": model(SAFETENSORS), "resources": gpu,
            "adapters": [{"name": "a", "source": {"uri": "file:///a"}}]});
        assert!(fields(&cloud(adapters)).is_empty());
        // dtype is for safetensors.
        let dtype = serde_json::json!({"model": model(GGUF), "serving": {"dtype": "f16"}});
        assert_eq!(fields(&cloud(dtype)), ["spec.serving.dtype"]);
        let auto_dtype = serde_json::json!({"model": model(GGUF), "serving": {"dtype": "auto"}});
        assert!(fields(&cloud(auto_dtype)).is_empty());
        // Half precision is a CUDA thing: the CPU path runs f32.
        let cpu_half = serde_json::json!({"model": model(SAFETENSORS), "serving": {"device": "cpu", "dtype": "bf16"}});
        assert_eq!(fields(&cloud(cpu_half)), ["spec.serving.dtype"]);
        let gpu_half = serde_json::json!({"model": model(SAFETENSORS), "resources": gpu, "serving": {"dtype": "bf16"}});
        assert!(fields(&cloud(gpu_half)).is_empty());
    }

    #[test]
    fn training_settings_are_checked_naming_the_field() {
        let edge = |training: serde_json::Value, site: serde_json::Value| -> Vec<String> {
            let spec: EdgeLLMSpec = serde_json::from_value(serde_json::json!({
                "model": model(GGUF),
                "sites": [site],
                "training": training,
            }))
            .expect("EdgeLLMSpec");
            validate_edge("e", &spec, &[]).into_iter().map(|e| e.field).collect()
        };
        let site = serde_json::json!({"name": "a", "nodeSelector": {}, "trainAdapter": true});
        let ok = serde_json::json!({"storage": {"hostPath": "/srv/t"}});
        assert!(edge(ok.clone(), site.clone()).is_empty());
        assert_eq!(edge(serde_json::json!({"storage": {}}), site.clone()), ["spec.training.storage"]);
        assert_eq!(
            edge(serde_json::json!({"storage": {"hostPath": "srv"}}), site.clone()),
            ["spec.training.storage.hostPath"]
        );
        assert_eq!(
            edge(serde_json::json!({"storage": {"hostPath": "/t"}, "teacher": {"url": "http://x/v1"}}), site.clone()),
            ["spec.training.teacher.model"]
        );
        assert_eq!(
            edge(serde_json::json!({"storage": {"hostPath": "/t"}, "lora": {"targetModules": ["qkv"]}}), site.clone()),
            ["spec.training.lora.targetModules[0]"]
        );
        let both = serde_json::json!({"name": "a", "nodeSelector": {}, "trainAdapter": true, "adapter": "x"});
        assert!(edge(ok, both).contains(&"spec.sites[0].adapter".to_string()));
        let spec: EdgeLLMSpec =
            serde_json::from_value(serde_json::json!({"model": model(GGUF), "sites": [site]})).expect("EdgeLLMSpec");
        let fields: Vec<String> = validate_edge("e", &spec, &[]).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["spec.sites[0].trainAdapter"]);
    }

    /// GPT-2 (the paper's edge model) trains too, with PEFT's GPT-2 module names.
    #[test]
    fn gpt2_edges_train_with_gpt2_target_names() {
        const GPT2: &str = r#"{"architecture": "gpt2", "format": "safetensors", "source": {"uri": "file:///m"}}"#;
        let edge = |targets: serde_json::Value| -> Vec<String> {
            let spec: EdgeLLMSpec = serde_json::from_value(serde_json::json!({
                "model": model(GPT2),
                "sites": [{"name": "a", "nodeSelector": {}, "trainAdapter": true}],
                "training": {"storage": {"hostPath": "/srv/t"}, "lora": {"targetModules": targets}},
            }))
            .expect("EdgeLLMSpec");
            validate_edge("e", &spec, &[]).into_iter().map(|e| e.field).collect()
        };
        assert!(edge(serde_json::json!([])).is_empty());
        assert!(edge(serde_json::json!(["c_attn", "c_proj", "c_fc"])).is_empty());
        assert_eq!(edge(serde_json::json!(["c_attn", "q_proj"])), ["spec.training.lora.targetModules[1]"]);
    }
}
