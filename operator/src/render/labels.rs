//! Labels on every child object. Pruning selects by these labels (never by name
//! patterns), so they are the contract between rendering and cleanup.

use std::collections::BTreeMap;

/// `app.kubernetes.io/managed-by` value of everything the operator creates.
pub const MANAGED_BY: &str = "netgpt-operator";
/// Label naming the site a child belongs to.
pub const SITE_LABEL: &str = "netgpt.io/site";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Which kind of workload a child belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    EdgeLlm,
    CloudLlm,
    Gateway,
    /// A site's adapter-training Job (and its sites ConfigMap).
    AdapterTraining,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdgeLlm => "edge-llm",
            Self::CloudLlm => "cloud-llm",
            Self::Gateway => "gateway",
            Self::AdapterTraining => "adapter-training",
        }
    }
}

/// Labels identifying one workload's pods (also the Deployment selector; immutable).
pub fn selector_labels(component: Component, instance: &str, site: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (NAME_LABEL.to_string(), "netgpt".to_string()),
        (COMPONENT_LABEL.to_string(), component.as_str().to_string()),
        (INSTANCE_LABEL.to_string(), instance.to_string()),
    ]);
    if let Some(site) = site {
        labels.insert(SITE_LABEL.to_string(), site.to_string());
    }
    labels
}

/// Labels on every child object.
pub fn object_labels(component: Component, instance: &str, site: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = selector_labels(component, instance, site);
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string());
    labels
}

/// Label selector matching every child of one custom resource of one component.
pub fn owned_selector(component: Component, instance: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={},{INSTANCE_LABEL}={instance}", component.as_str())
}

/// Name of a site's Deployment, Service and ConfigMap.
pub fn site_object_name(edge_name: &str, site: &str) -> String {
    format!("{edge_name}-{site}")
}
