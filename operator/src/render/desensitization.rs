//! What a workflow's desensitization policy means beyond the compiled workflow: the
//! explicit decision that switching it off needs, what it leaves unprotected (reported in
//! status and Events), and the compute of the desensitizer sidecar.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use netgpt_crds::{
    ALLOW_UNPROTECTED_ANNOTATION, ComputeQuantities, DesensitizationPolicy, EntityType, LogicalAIWorkflow,
};

use crate::quantity;
use crate::validate::FieldError;

/// Sidecar requests when the spec sets none: the NER model is ~90 MB of f32 weights (a
/// 6-layer, 384-wide BERT) on top of the binary, the tokenizer and per-request buffers,
/// and a quarter core keeps an idle sidecar cheap to schedule at small edge sites.
pub const DEFAULT_REQUESTS: Compute = Compute { cpu: "250m", memory: "256Mi" };
/// Sidecar limits when the spec sets none. Memory: twice the request, headroom for long
/// prompts without letting a leak take the node. CPU: two cores, so a burst of prompts is
/// scanned within a desensitize step's timeout. The sidecar's thread pool is sized from
/// this limit too ([`THREADS_ENV`]).
pub const DEFAULT_LIMITS: Compute = Compute { cpu: "2", memory: "512Mi" };

/// Environment variable that sizes the sidecar's compute thread pool (rayon's, which
/// candle falls back to). Set from the container's CPU limit through the downward API
/// (rounded up to whole cores): candle otherwise starts one thread per physical core of
/// the node, ignoring the cgroup quota, and a 64-core node's threads would exhaust a
/// two-core quota within milliseconds and sit throttled for the rest of each period.
pub const THREADS_ENV: &str = "RAYON_NUM_THREADS";

/// A CPU and a memory quantity.
#[derive(Clone, Copy, Debug)]
pub struct Compute {
    pub cpu: &'static str,
    pub memory: &'static str,
}

/// How much of the supported personal data a workflow removes before the cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Every supported entity type.
    Full,
    /// Nothing: `spec.desensitization.enabled: false`, confirmed by the annotation.
    Disabled,
    /// A subset; these types reach the cloud as written.
    Narrowed(Vec<EntityType>),
}

impl Protection {
    pub fn of(policy: &DesensitizationPolicy) -> Self {
        if !policy.enabled {
            return Self::Disabled;
        }
        if policy.entities.is_empty() {
            return Self::Full;
        }
        let left_out: Vec<EntityType> =
            EntityType::ALL.into_iter().filter(|kind| !policy.entities.contains(kind)).collect();
        if left_out.is_empty() { Self::Full } else { Self::Narrowed(left_out) }
    }

    /// Entity types that reach the cloud unremoved (`status.unprotectedEntities`).
    pub fn unprotected(&self) -> Vec<EntityType> {
        match self {
            Self::Full => Vec::new(),
            Self::Disabled => EntityType::ALL.to_vec(),
            Self::Narrowed(kinds) => kinds.clone(),
        }
    }

    /// Whether the `DesensitizationReduced` condition is true.
    pub fn reduced(&self) -> bool {
        *self != Self::Full
    }

    /// Reason of the `DesensitizationReduced` condition (and of the Event).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Full => "AllEntitiesRemoved",
            Self::Disabled => "DesensitizationDisabled",
            Self::Narrowed(_) => "EntitiesNarrowed",
        }
    }

    /// Message of the condition and note of the Event.
    pub fn message(&self) -> String {
        match self {
            Self::Full => "every supported entity type is removed before a prompt reaches the cloud".into(),
            Self::Disabled => format!(
                "spec.desensitization.enabled is false (confirmed by annotation {ALLOW_UNPROTECTED_ANNOTATION}): \
                 prompts reach the cloud with any personal data in them"
            ),
            Self::Narrowed(kinds) => format!(
                "spec.desensitization.entities leaves these types in prompts sent to the cloud: {}",
                names(kinds)
            ),
        }
    }
}

/// The CRD's spelling of entity types, comma-separated.
fn names(kinds: &[EntityType]) -> String {
    kinds
        .iter()
        .map(|k| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the workflow carries the annotation that confirms unprotected cloud prompts.
pub fn unprotected_allowed(wf: &LogicalAIWorkflow) -> bool {
    wf.annotations().get(ALLOW_UNPROTECTED_ANNOTATION).is_some_and(|v| v == "true")
}

/// The desensitization rules: switching it off needs the annotation, and the sidecar's
/// resources must be quantities with each request within its limit.
pub fn validate_desensitization(wf: &LogicalAIWorkflow) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !wf.spec.desensitization.enabled && !unprotected_allowed(wf) {
        errors.push(FieldError {
            field: "spec.desensitization.enabled".into(),
            message: format!(
                "false would send prompts to the cloud without removing personal data; to confirm that \
                 decision, annotate the workflow {ALLOW_UNPROTECTED_ANNOTATION}: \"true\""
            ),
        });
    }
    if let Err(e) = sidecar_resources(&wf.spec.desensitization) {
        errors.push(e);
    }
    errors
}

/// Requests and limits of the desensitizer sidecar: the spec's keys over the defaults, a
/// limit the spec leaves out raised to a larger request.
pub fn sidecar_resources(policy: &DesensitizationPolicy) -> Result<ResourceRequirements, FieldError> {
    let resources = policy.resources.clone().unwrap_or_default();
    let requests = resources.requests.unwrap_or_default();
    let limits = resources.limits.unwrap_or_default();
    let mut out_requests = BTreeMap::new();
    let mut out_limits = BTreeMap::new();
    let pick = |q: &ComputeQuantities, key: &str| match key {
        "cpu" => q.cpu.clone(),
        _ => q.memory.clone(),
    };
    for (key, request_default, limit_default) in
        [("cpu", DEFAULT_REQUESTS.cpu, DEFAULT_LIMITS.cpu), ("memory", DEFAULT_REQUESTS.memory, DEFAULT_LIMITS.memory)]
    {
        let field = |kind: &str| format!("spec.desensitization.resources.{kind}.{key}");
        let request = pick(&requests, key).unwrap_or_else(|| Quantity(request_default.into()));
        let request_value = value(&request, &field("requests"))?;
        let limit = match pick(&limits, key) {
            Some(limit) => limit,
            None if request_value > value(&Quantity(limit_default.into()), &field("limits"))? => request.clone(),
            None => Quantity(limit_default.into()),
        };
        if request_value > value(&limit, &field("limits"))? {
            return Err(FieldError {
                field: field("requests"),
                message: format!("request {} exceeds the limit {}", request.0, limit.0),
            });
        }
        out_requests.insert(key.to_string(), request);
        out_limits.insert(key.to_string(), limit);
    }
    Ok(ResourceRequirements { requests: Some(out_requests), limits: Some(out_limits), ..Default::default() })
}

/// A non-negative quantity, or the error naming its field.
fn value(q: &Quantity, field: &str) -> Result<f64, FieldError> {
    match quantity::parse(&q.0) {
        Ok(v) if v >= 0.0 => Ok(v),
        Ok(_) => Err(FieldError { field: field.into(), message: format!("{:?} is negative", q.0) }),
        Err(e) => Err(FieldError { field: field.into(), message: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow(desensitization: serde_json::Value, annotations: serde_json::Value) -> LogicalAIWorkflow {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "netgpt.io/v1alpha1", "kind": "LogicalAIWorkflow",
            "metadata": {"name": "w", "namespace": "ns", "annotations": annotations},
            "spec": {"edgeRef": {"name": "e"}, "cloudRef": {"name": "c"},
                     "steps": [{"name": "complete", "kind": "promptCompletion"}],
                     "desensitization": desensitization}
        }))
        .expect("LogicalAIWorkflow")
    }

    fn fields(wf: &LogicalAIWorkflow) -> Vec<String> {
        validate_desensitization(wf).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn disabling_needs_the_annotation_set_to_true() {
        let off = serde_json::json!({"enabled": false});
        assert_eq!(fields(&workflow(off.clone(), serde_json::json!({}))), ["spec.desensitization.enabled"]);
        let wrong = serde_json::json!({ALLOW_UNPROTECTED_ANNOTATION: "yes"});
        assert_eq!(fields(&workflow(off.clone(), wrong)), ["spec.desensitization.enabled"]);
        let allowed = workflow(off, serde_json::json!({ALLOW_UNPROTECTED_ANNOTATION: "true"}));
        assert!(fields(&allowed).is_empty());
        assert_eq!(Protection::of(&allowed.spec.desensitization), Protection::Disabled);
        assert_eq!(Protection::Disabled.unprotected().len(), EntityType::ALL.len());
        // Enabled needs nothing, annotated or not.
        assert!(fields(&workflow(serde_json::json!({}), serde_json::json!({}))).is_empty());
    }

    #[test]
    fn a_subset_of_entities_names_the_types_left_out() {
        let policy = |entities: serde_json::Value| {
            workflow(serde_json::json!({"entities": entities}), serde_json::json!({})).spec.desensitization
        };
        assert_eq!(Protection::of(&policy(serde_json::json!([]))), Protection::Full);
        let every: Vec<_> = EntityType::ALL.iter().map(|k| serde_json::to_value(k).expect("name")).collect();
        assert_eq!(Protection::of(&policy(serde_json::Value::Array(every))), Protection::Full);
        let narrowed = Protection::of(&policy(serde_json::json!(["person", "email"])));
        assert_eq!(narrowed.reason(), "EntitiesNarrowed");
        let left_out = narrowed.unprotected();
        assert_eq!(left_out.len(), EntityType::ALL.len() - 2);
        assert!(!left_out.contains(&EntityType::Person) && left_out.contains(&EntityType::Phone));
        assert!(narrowed.message().contains("phone, creditCard"), "{}", narrowed.message());
        assert!(!Protection::Full.reduced() && narrowed.reduced());
    }

    fn quantities(resources: &ResourceRequirements) -> [String; 4] {
        let get = |m: &Option<BTreeMap<String, Quantity>>, k: &str| m.as_ref().expect("set")[k].0.clone();
        [
            get(&resources.requests, "cpu"),
            get(&resources.requests, "memory"),
            get(&resources.limits, "cpu"),
            get(&resources.limits, "memory"),
        ]
    }

    #[test]
    fn sidecar_resources_default_override_and_check_request_against_limit() {
        let resources = |r: serde_json::Value| {
            let wf = workflow(serde_json::json!({"resources": r}), serde_json::json!({}));
            sidecar_resources(&wf.spec.desensitization)
        };
        let defaults = resources(serde_json::json!({})).expect("defaults");
        assert_eq!(quantities(&defaults), ["250m", "256Mi", "2", "512Mi"]);
        // One key overridden; a larger request lifts the default limit with it.
        let bigger = resources(serde_json::json!({"requests": {"memory": "1Gi"}})).expect("valid");
        assert_eq!(quantities(&bigger), ["250m", "1Gi", "2", "1Gi"]);
        let cpu = resources(serde_json::json!({"limits": {"cpu": "500m"}})).expect("valid");
        assert_eq!(quantities(&cpu), ["250m", "256Mi", "500m", "512Mi"]);
        // An explicit limit below the request, a malformed or negative quantity: the field.
        let below = resources(serde_json::json!({"requests": {"cpu": "1"}, "limits": {"cpu": "500m"}}));
        assert_eq!(below.map_err(|e| e.field), Err("spec.desensitization.resources.requests.cpu".to_string()));
        let malformed = resources(serde_json::json!({"limits": {"memory": "lots"}}));
        assert_eq!(malformed.map_err(|e| e.field), Err("spec.desensitization.resources.limits.memory".to_string()));
        let negative = resources(serde_json::json!({"requests": {"memory": "-1Mi"}}));
        assert_eq!(negative.map_err(|e| e.field), Err("spec.desensitization.resources.requests.memory".to_string()));
        let wf = workflow(serde_json::json!({"resources": {"limits": {"cpu": "lots"}}}), serde_json::json!({}));
        assert_eq!(fields(&wf), ["spec.desensitization.resources.limits.cpu"]);
    }
}
