//! LogicalAIWorkflow → per site of its EdgeLLM: a gateway Deployment (gateway +
//! desensitizer sidecar) pinned to the site's nodes, a ConfigMap with the compiled
//! workflow, a Service. The NetworkPolicies that let the gateways reach the models are
//! rendered in [`super::policy`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, PodSpec, PodTemplateSpec, Probe, ResourceFieldSelector, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use netgpt_crds::config::{CONFIG_API_VERSION, SiteConfig, UpstreamModel, WORKFLOW_CONFIG_KIND, WorkflowConfig};
use netgpt_crds::graph::StepGraph;
use netgpt_crds::{CloudLLM, DesensitizationPolicy, EdgeLLM, LogicalAIWorkflow, ServingDevice};

use super::desensitization::{THREADS_ENV, sidecar_resources};
use super::labels::site_object_name;
use super::labels::{Component, object_labels, selector_labels};
use super::pod::{CONFIG_DIR, container_security_context, pod_security_context, service_url};
use super::{PodDefaults, RenderError};
use crate::validate::FieldError;

/// File name of the compiled workflow inside [`CONFIG_DIR`].
pub const WORKFLOW_FILE: &str = "workflow.yaml";
/// Port the gateway container listens on.
pub const GATEWAY_PORT: i32 = 8080;
/// Port the desensitizer sidecar listens on (loopback only: reachable from the gateway
/// container of the same pod, not from the network).
pub const DESENSITIZER_PORT: i32 = 8081;
/// Port of the desensitizer's metrics-only listener (pod network: Prometheus scrapes it;
/// it serves no API route, so nothing reaches the cloud around the gateway through it).
pub const DESENSITIZER_METRICS_PORT: i32 = 9091;
/// Pod-template annotation with a hash of the compiled workflow: the gateway reads its
/// configuration once at start, so a changed workflow (routing threshold, adapter, steps)
/// rolls the gateway pods instead of waiting for a restart that never comes.
pub const CONFIG_HASH_ANNOTATION: &str = "netgpt.io/config-hash";

/// Checks the step graph by compiling it as the gateway will ([`StepGraph::compile`]):
/// known dependencies, no cycles, targets where needed, conditions and inputs on steps
/// that run earlier, and a cloud generation always preceded by desensitization.
pub fn validate_steps(wf: &LogicalAIWorkflow) -> Vec<FieldError> {
    match StepGraph::compile(&wf.spec.steps, &wf.spec.routing, wf.spec.desensitization.enabled) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| FieldError { field: e.field, message: e.message }).collect(),
    }
}

/// `spec.routing.cloudModel` must name the CloudLLM's served base model or one of its
/// declared adapters: the gateway asks the cloud for exactly that model.
pub fn validate_cloud_model(wf: &LogicalAIWorkflow, cloud: &CloudLLM) -> Vec<FieldError> {
    let Some(wanted) = wf.spec.routing.cloud_model.as_deref() else {
        return Vec::new();
    };
    let served = cloud.spec.model.served_name.clone().unwrap_or_else(|| cloud.name_any());
    let mut known: Vec<&str> = vec![served.as_str()];
    known.extend(cloud.spec.adapters.iter().map(|a| a.name.as_str()));
    if known.contains(&wanted) {
        return Vec::new();
    }
    vec![FieldError {
        field: "spec.routing.cloudModel".into(),
        message: format!(
            "{wanted:?} is neither CloudLLM {:?}'s served model nor one of its adapters ({})",
            cloud.name_any(),
            known.join(", ")
        ),
    }]
}

/// An `intentInference` step's `intent.model` and a `popularityPrediction` step's
/// `popularity.model` must name the EdgeLLM's served base model or one of its declared
/// adapters: the gateway asks the edge server for exactly that model.
pub fn validate_edge_models(wf: &LogicalAIWorkflow, edge: &EdgeLLM) -> Vec<FieldError> {
    let served = edge.spec.model.served_name.clone().unwrap_or_else(|| edge.name_any());
    let mut known: Vec<&str> = vec![served.as_str()];
    known.extend(edge.spec.adapters.iter().map(|a| a.name.as_str()));
    wf.spec
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, step)| {
            let (wanted, field) = match (&step.intent, &step.popularity) {
                (Some(intent), _) => (intent.model.as_deref()?, "intent.model"),
                (_, Some(popularity)) => (popularity.model.as_deref()?, "popularity.model"),
                _ => return None,
            };
            (!known.contains(&wanted)).then(|| FieldError {
                field: format!("spec.steps[{i}].{field}"),
                message: format!(
                    "{wanted:?} is neither EdgeLLM {:?}'s served model nor one of its adapters ({})",
                    edge.name_any(),
                    known.join(", ")
                ),
            })
        })
        .collect()
}

/// Children of one site's gateway.
pub struct GatewayChildren {
    pub site: String,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
}

/// Name of a site's gateway objects.
pub fn gateway_object_name(workflow: &str, site: &str) -> String {
    format!("{workflow}-{site}-gw")
}

/// The compiled workflow for one site, as the gateway and desensitizer read it.
pub fn workflow_config(
    wf: &LogicalAIWorkflow,
    edge: &EdgeLLM,
    cloud: &CloudLLM,
    site_name: &str,
    edge_url: String,
    cloud_url: String,
) -> Option<WorkflowConfig> {
    let site = edge.spec.sites.iter().find(|s| s.name == site_name)?;
    // A training site completes prompts with its trained adapter once the EdgeLLM serves
    // one (its status says so); until then with the base model.
    let trained = || {
        let status = edge.status.as_ref()?.sites.iter().find(|s| s.name == site_name)?;
        status.training.as_ref()?.serving_revision.as_ref()?;
        status.adapter.clone()
    };
    let adapter = site.adapter.clone().or_else(|| if site.train_adapter { trained() } else { None });
    let edge_served = edge.spec.model.served_name.clone().unwrap_or_else(|| edge.name_any());
    let cloud_served = cloud.spec.model.served_name.clone().unwrap_or_else(|| cloud.name_any());
    Some(WorkflowConfig {
        api_version: CONFIG_API_VERSION.to_string(),
        kind: WORKFLOW_CONFIG_KIND.to_string(),
        workflow: wf.name_any(),
        site: SiteConfig { name: site.name.clone(), location: site.location.clone(), adapter: adapter.clone() },
        edge: UpstreamModel { url: edge_url, model: adapter.unwrap_or(edge_served) },
        cloud: UpstreamModel { url: cloud_url, model: wf.spec.routing.cloud_model.clone().unwrap_or(cloud_served) },
        desensitizer_url: format!("http://127.0.0.1:{DESENSITIZER_PORT}"),
        steps: wf.spec.steps.clone(),
        routing: wf.spec.routing.clone(),
        // The sidecar's compute is the pod's business, not the servers': leaving it out
        // keeps the compiled workflow (and its hash) about behaviour only.
        desensitization: DesensitizationPolicy { resources: None, ..wf.spec.desensitization.clone() },
    })
}

/// Renders every site's gateway. `wf` must come from the apiserver (it needs a uid).
pub fn render_gateways(
    wf: &LogicalAIWorkflow,
    edge: &EdgeLLM,
    cloud: &CloudLLM,
    defaults: &PodDefaults,
) -> Result<Vec<GatewayChildren>, RenderError> {
    let name = wf.name_any();
    let namespace = wf.namespace().unwrap_or_default();
    let owner = wf.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    // Gateways never use a GPU: the CPU image, or the edge's own image when it is a CPU one
    // (a CUDA build needs the driver library, which only GPU pods get).
    let image = match ServingDevice::resolve(edge.spec.serving.as_ref(), edge.spec.resources.as_ref()) {
        ServingDevice::Cuda => defaults.cpu_image.as_str(),
        ServingDevice::Auto | ServingDevice::Cpu => edge.spec.image.as_deref().unwrap_or(&defaults.cpu_image),
    };
    let cloud_url = service_url(&cloud.name_any(), &namespace);
    let sidecar_compute = sidecar_resources(&wf.spec.desensitization).map_err(RenderError::Field)?;
    let mut sidecar_env = defaults.env();
    sidecar_env.push(EnvVar {
        name: THREADS_ENV.into(),
        value: None,
        value_from: Some(EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: Some("desensitizer".into()),
                resource: "limits.cpu".into(),
                // Whole cores, rounded up: 500m gives 1 thread, 2 gives 2.
                divisor: Some(Quantity("1".into())),
            }),
            ..Default::default()
        }),
    });
    let mut out = Vec::new();
    for site in &edge.spec.sites {
        let object = gateway_object_name(&name, &site.name);
        let edge_url = service_url(&site_object_name(&edge.name_any(), &site.name), &namespace);
        let config = workflow_config(wf, edge, cloud, &site.name, edge_url, cloud_url.clone())
            .ok_or_else(|| RenderError::Config(format!("site {} vanished", site.name)))?;
        let yaml = config.to_yaml().map_err(|e| RenderError::Config(e.to_string()))?;
        let config_hash = format!("{:016x}", super::fnv1a(yaml.as_bytes()));
        let meta = ObjectMeta {
            name: Some(object.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(object_labels(Component::Gateway, &name, Some(&site.name))),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        };
        let config_map = ConfigMap {
            metadata: meta.clone(),
            data: Some(BTreeMap::from([(WORKFLOW_FILE.to_string(), yaml)])),
            ..Default::default()
        };
        let config_path = format!("{CONFIG_DIR}/{WORKFLOW_FILE}");
        let mount = VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        };
        let probe = |path: &str, port: &str| Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.into()),
                port: IntOrString::String(port.into()),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        };
        let gateway = Container {
            name: "gateway".into(),
            image: Some(image.into()),
            args: Some(vec![
                "gateway".into(),
                "--config".into(),
                config_path.clone(),
                "--listen".into(),
                format!("0.0.0.0:{GATEWAY_PORT}"),
            ]),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: GATEWAY_PORT,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            readiness_probe: Some(probe("/ready", "http")),
            liveness_probe: Some(probe("/health", "http")),
            env: Some(defaults.env()),
            volume_mounts: Some(vec![mount.clone()]),
            security_context: Some(container_security_context()),
            ..Default::default()
        };
        // The sidecar listens on loopback only; the pod's network never exposes it.
        let desensitizer = Container {
            name: "desensitizer".into(),
            image: Some(image.into()),
            args: Some(vec![
                "desensitize".into(),
                "--config".into(),
                config_path,
                "--listen".into(),
                format!("127.0.0.1:{DESENSITIZER_PORT}"),
                "--metrics-listen".into(),
                format!("0.0.0.0:{DESENSITIZER_METRICS_PORT}"),
            ]),
            ports: Some(vec![ContainerPort {
                name: Some("metrics".into()),
                container_port: DESENSITIZER_METRICS_PORT,
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            readiness_probe: Some(probe("/ready", "metrics")),
            liveness_probe: Some(probe("/health", "metrics")),
            resources: Some(sidecar_compute.clone()),
            env: Some(sidecar_env.clone()),
            volume_mounts: Some(vec![mount]),
            security_context: Some(container_security_context()),
            ..Default::default()
        };
        let placement = edge.spec.placement.clone().unwrap_or_default();
        let mut node_selector = placement.node_selector;
        node_selector.extend(site.node_selector.clone());
        let selector = selector_labels(Component::Gateway, &name, Some(&site.name));
        let deployment = Deployment {
            metadata: meta.clone(),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                selector: LabelSelector { match_labels: Some(selector.clone()), ..Default::default() },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(object_labels(Component::Gateway, &name, Some(&site.name))),
                        annotations: Some(gateway_pod_annotations(&config_hash)),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![gateway, desensitizer],
                        volumes: Some(vec![
                            Volume {
                                name: "config".into(),
                                config_map: Some(ConfigMapVolumeSource { name: object.clone(), ..Default::default() }),
                                ..Default::default()
                            },
                            Volume {
                                name: "tmp".into(),
                                empty_dir: Some(EmptyDirVolumeSource::default()),
                                ..Default::default()
                            },
                        ]),
                        node_selector: (!node_selector.is_empty()).then_some(node_selector),
                        tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
                        affinity: placement.affinity,
                        automount_service_account_token: Some(false),
                        enable_service_links: Some(false),
                        security_context: Some(pod_security_context()),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        let service = Service {
            metadata: meta,
            spec: Some(ServiceSpec {
                selector: Some(selector),
                type_: Some(format!("{:?}", wf.spec.exposure.service_type)),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: wf.spec.exposure.port,
                    target_port: Some(IntOrString::String("http".into())),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        out.push(GatewayChildren { site: site.name.clone(), config_map, deployment, service });
    }
    Ok(out)
}

/// Annotations of a gateway pod: the configuration hash, and where Prometheus scrapes
/// the gateway by the `prometheus.io/*` convention (the sidecar's `metrics` port is found
/// by the chart's PodMonitor or the documented `kubernetes_sd_configs` job).
fn gateway_pod_annotations(config_hash: &str) -> BTreeMap<String, String> {
    let mut annotations = super::pod::scrape_annotations(GATEWAY_PORT);
    annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash.into());
    annotations
}

/// Whether a resource's generation has been observed and reported Ready.
pub fn is_ready(conditions: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>) -> bool {
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
