//! NetworkPolicies: who may reach the model servers.
//!
//! NetworkPolicies are additive: a pod selected by any policy accepts only what some
//! policy selecting it allows. So each EdgeLLM and CloudLLM owns an isolation policy,
//! rendered with the model itself, that selects its serving pods and allows nothing but
//! the metrics scrapers (default deny: the model is closed from its first pod on, whether
//! or not a workflow exists), and each LogicalAIWorkflow owns one policy per model it
//! uses that adds its own gateway pods on the serving port. Deleting a workflow removes
//! only its allowance; deleting a model removes its isolation with its pods. Other
//! clients a cluster wants to let in get a policy of their own, the same way.
//!
//! Probes are not affected: traffic from a pod's own node (the kubelet) is always allowed
//! by NetworkPolicy implementations.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use netgpt_crds::{CloudLLM, EdgeLLM, LogicalAIWorkflow};

use super::RenderError;
use super::labels::{Component, object_labels, selector_labels};
use super::pod::SERVING_PORT;

/// Default pods that may scrape model servers: Prometheus as the Prometheus Operator and
/// the prometheus-community chart label it.
pub const DEFAULT_SCRAPER_PODS: &str = "app.kubernetes.io/name=prometheus";

/// Pods allowed to scrape the model servers' `/metrics`. The model server serves its
/// metrics on its API port, so whoever may scrape may also call the model: the peer is a
/// pod selector (optionally within selected namespaces), never "anything in the cluster".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsScrapers {
    /// Labels of the namespaces scrapers run in; empty means every namespace.
    pub namespaces: BTreeMap<String, String>,
    /// Labels of the scraper pods; never empty.
    pub pods: BTreeMap<String, String>,
}

/// A malformed `key=value,…` selector on the command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    #[error("{0:?} is not a valid label key or value")]
    InvalidLabel(String),
}

/// Parses `key=value,key=value` (whitespace around items ignored; empty gives no labels).
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, SelectorError> {
    let mut labels = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once('=').ok_or_else(|| SelectorError::NotKeyValue(item.to_string()))?;
        let (key, value) = (key.trim(), value.trim());
        // The apiserver would refuse the policy at every reconcile; refuse the flag at start.
        let key_ok = !key.is_empty()
            && key.len() <= 316
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        let value_ok =
            value.len() <= 63 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !key_ok || !value_ok {
            return Err(SelectorError::InvalidLabel(item.to_string()));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

impl MetricsScrapers {
    /// The scrapers of `--metrics-scraper-namespaces` and `--metrics-scraper-pods`; `None`
    /// (no pod may scrape) when the pod selector is empty, because an empty pod selector
    /// would let every pod in.
    pub fn from_selectors(namespaces: &str, pods: &str) -> Result<Option<Self>, SelectorError> {
        let namespaces = parse_labels(namespaces)?;
        let pods = parse_labels(pods)?;
        Ok((!pods.is_empty()).then_some(Self { namespaces, pods }))
    }

    fn peer(&self) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            // Both selectors in one peer: pods matching `pods` in namespaces matching
            // `namespaces` (an empty namespace selector selects every namespace).
            namespace_selector: Some(LabelSelector {
                match_labels: (!self.namespaces.is_empty()).then(|| self.namespaces.clone()),
                ..Default::default()
            }),
            pod_selector: Some(LabelSelector { match_labels: Some(self.pods.clone()), ..Default::default() }),
            ..Default::default()
        }
    }
}

/// Name of the isolation policy a model owns. `-isolation` never ends a workflow policy's
/// name, and the component keeps an EdgeLLM's apart from a CloudLLM's of the same name.
pub fn isolation_policy_name(instance: &str, component: Component) -> String {
    format!("{instance}-{}-isolation", component.as_str())
}

/// Name of the NetworkPolicy that lets a workflow's gateways reach its cloud LLM.
pub fn cloud_policy_name(workflow: &str) -> String {
    format!("{workflow}-cloud-ingress")
}

/// Name of the NetworkPolicy that lets a workflow's gateways reach its edge LLM.
pub fn edge_policy_name(workflow: &str) -> String {
    format!("{workflow}-edge-ingress")
}

fn serving_port() -> NetworkPolicyPort {
    NetworkPolicyPort { port: Some(IntOrString::Int(SERVING_PORT)), protocol: Some("TCP".into()), ..Default::default() }
}

fn ingress_policy(
    meta: ObjectMeta,
    selected: BTreeMap<String, String>,
    ingress: Vec<NetworkPolicyIngressRule>,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector { match_labels: Some(selected), ..Default::default() }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(ingress),
            ..Default::default()
        }),
    }
}

/// The isolation policy of a model's serving pods: ingress from the metrics scrapers on
/// the serving port, nothing else (an empty rule list when no scraper is allowed).
fn isolation_policy(
    instance: &str,
    namespace: Option<String>,
    component: Component,
    owner: OwnerReference,
    scrapers: Option<&MetricsScrapers>,
) -> NetworkPolicy {
    let meta = ObjectMeta {
        name: Some(isolation_policy_name(instance, component)),
        namespace,
        labels: Some(object_labels(component, instance, None)),
        owner_references: Some(vec![owner]),
        ..Default::default()
    };
    let ingress = scrapers
        .map(|s| NetworkPolicyIngressRule { from: Some(vec![s.peer()]), ports: Some(vec![serving_port()]) })
        .into_iter()
        .collect();
    ingress_policy(meta, selector_labels(component, instance, None), ingress)
}

/// The CloudLLM's isolation policy. `cloud` must come from the apiserver (it needs a uid).
pub fn render_cloud_isolation(
    cloud: &CloudLLM,
    scrapers: Option<&MetricsScrapers>,
) -> Result<NetworkPolicy, RenderError> {
    let owner = cloud.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    Ok(isolation_policy(&cloud.name_any(), cloud.namespace(), Component::CloudLlm, owner, scrapers))
}

/// The EdgeLLM's isolation policy, over the pods of all its sites.
pub fn render_edge_isolation(edge: &EdgeLLM, scrapers: Option<&MetricsScrapers>) -> Result<NetworkPolicy, RenderError> {
    let owner = edge.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    Ok(isolation_policy(&edge.name_any(), edge.namespace(), Component::EdgeLlm, owner, scrapers))
}

/// A workflow's allowance into one model's pods: its gateway pods, on the serving port.
fn gateway_allowance(
    wf: &LogicalAIWorkflow,
    name: String,
    target: Component,
    target_instance: &str,
) -> Result<NetworkPolicy, RenderError> {
    let workflow = wf.name_any();
    let owner = wf.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    let meta = ObjectMeta {
        name: Some(name),
        namespace: wf.namespace(),
        labels: Some(object_labels(Component::Gateway, &workflow, None)),
        owner_references: Some(vec![owner]),
        ..Default::default()
    };
    let gateways = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(selector_labels(Component::Gateway, &workflow, None)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let rule = NetworkPolicyIngressRule { from: Some(vec![gateways]), ports: Some(vec![serving_port()]) };
    Ok(ingress_policy(meta, selector_labels(target, target_instance, None), vec![rule]))
}

/// Lets this workflow's gateway pods (whose only route to the cloud is the desensitizer
/// sidecar) reach the cloud LLM's pods.
pub fn render_cloud_policy(wf: &LogicalAIWorkflow, cloud: &CloudLLM) -> Result<NetworkPolicy, RenderError> {
    gateway_allowance(wf, cloud_policy_name(&wf.name_any()), Component::CloudLlm, &cloud.name_any())
}

/// Lets this workflow's gateway pods reach the edge LLM's pods (every site's: a gateway
/// only calls its own site's Service, and sites of one EdgeLLM serve the same model).
pub fn render_edge_policy(wf: &LogicalAIWorkflow, edge: &EdgeLLM) -> Result<NetworkPolicy, RenderError> {
    gateway_allowance(wf, edge_policy_name(&wf.name_any()), Component::EdgeLlm, &edge.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_an_empty_pod_selector_admits_nobody() {
        let scrapers = MetricsScrapers::from_selectors("team=observability", DEFAULT_SCRAPER_PODS).expect("valid");
        let scrapers = scrapers.expect("some scrapers");
        assert_eq!(scrapers.namespaces["team"], "observability");
        assert_eq!(scrapers.pods["app.kubernetes.io/name"], "prometheus");
        assert_eq!(MetricsScrapers::from_selectors("team=observability", " "), Ok(None));
        let two = parse_labels(" a=1 , b.io/c=x_y ").expect("two labels");
        assert_eq!(two.len(), 2);
        assert!(matches!(parse_labels("novalue"), Err(SelectorError::NotKeyValue(_))));
        assert!(matches!(parse_labels("a=b c"), Err(SelectorError::InvalidLabel(_))));
        assert!(matches!(parse_labels("=x"), Err(SelectorError::InvalidLabel(_))));
    }

    #[test]
    fn isolation_and_allowance_names_never_collide() {
        // A workflow `x` and models named so that a naive suffix scheme would clash.
        let names = [
            isolation_policy_name("x-cloud", Component::CloudLlm),
            isolation_policy_name("x-edge", Component::EdgeLlm),
            isolation_policy_name("x", Component::CloudLlm),
            isolation_policy_name("x", Component::EdgeLlm),
            cloud_policy_name("x"),
            edge_policy_name("x"),
        ];
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }
}
