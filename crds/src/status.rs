//! Status conventions shared by all NetGPT resources: Kubernetes-style conditions
//! (`Ready`, `Progressing`, `Degraded`) keyed by type, and schema helpers that mark lists
//! as maps so the apiserver rejects duplicate names and SSA merges entries by key.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// Condition types NetGPT resources report (the first three on every resource).
pub mod condition_type {
    /// Every owned workload is serving (pods ready, models and adapters loaded).
    pub const READY: &str = "Ready";
    /// The operator is rolling out a change that has not converged yet.
    pub const PROGRESSING: &str = "Progressing";
    /// Something is wrong that needs a person: invalid spec, unschedulable pods, failed loads.
    pub const DEGRADED: &str = "Degraded";
    /// EdgeLLM: every site with `trainAdapter: true` serves the adapter of its current
    /// profile revision (`False` while one trains or after one failed).
    pub const ADAPTERS_TRAINED: &str = "AdaptersTrained";
    /// LogicalAIWorkflow only: prompts may reach the cloud with personal data in them,
    /// because desensitization is disabled or narrowed to some entity types. Abnormal-true,
    /// like `Degraded`: `False` (reason `AllEntitiesRemoved`) is the protected state.
    pub const DESENSITIZATION_REDUCED: &str = "DesensitizationReduced";
}

/// Marks a list schema as `x-kubernetes-list-type: map` keyed by `keys`.
fn list_map<T: JsonSchema>(generator: &mut SchemaGenerator, keys: &[&str]) -> Schema {
    let mut schema = <Vec<T>>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), keys.to_vec().into());
    schema
}

/// Schema for `conditions`: a list map keyed by `type`, as in upstream APIs.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    list_map::<Condition>(generator, &["type"])
}

/// Schema for lists of named entries (sites, adapters, steps): names must be unique.
pub fn named_list_schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    list_map::<T>(generator, &["name"])
}

/// Finds a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
