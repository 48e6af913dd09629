//! The serving workload shared by edge sites and cloud models: a ConfigMap with the
//! serving configuration, a Deployment running `netgpt serve`, and a Service.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HTTPGetAction, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netgpt_crds::{Placement, ResourceSpec};

use super::artifacts::{StagedArtifact, fetch_volume};
use super::labels::{Component, object_labels, selector_labels};
pub use super::security::{container_security_context, pod_security_context};

/// Port the model server listens on.
pub const SERVING_PORT: i32 = 8000;
/// Where the serving configuration is mounted.
pub const CONFIG_DIR: &str = "/etc/netgpt";
/// File name of the serving configuration inside [`CONFIG_DIR`].
pub const CONFIG_FILE: &str = "serving.yaml";
/// Everything needed to render one serving workload.
pub struct ServingWorkload<'a> {
    pub name: String,
    pub namespace: String,
    pub component: Component,
    pub instance: &'a str,
    pub site: Option<&'a str>,
    pub owner: OwnerReference,
    pub replicas: i32,
    pub image: &'a str,
    pub node_selector: BTreeMap<String, String>,
    pub placement: Option<&'a Placement>,
    pub resources: Option<&'a ResourceSpec>,
    pub config_yaml: String,
    pub artifacts: Vec<StagedArtifact>,
    /// Environment of every container (init containers included).
    pub env: Vec<EnvVar>,
}

/// The three children of one serving workload.
pub struct ServingChildren {
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
}

fn meta(w: &ServingWorkload<'_>) -> ObjectMeta {
    ObjectMeta {
        name: Some(w.name.clone()),
        namespace: Some(w.namespace.clone()),
        labels: Some(object_labels(w.component, w.instance, w.site)),
        owner_references: Some(vec![w.owner.clone()]),
        ..Default::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("http".to_string()),
            scheme: Some("HTTP".to_string()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

pub(crate) fn resources(spec: Option<&ResourceSpec>) -> Option<ResourceRequirements> {
    let spec = spec?;
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(cpu) = &spec.cpu {
        requests.insert("cpu".to_string(), cpu.clone());
    }
    if let Some(memory) = &spec.memory {
        requests.insert("memory".to_string(), memory.clone());
        limits.insert("memory".to_string(), memory.clone());
    }
    if let Some(gpu) = spec.gpu.filter(|g| *g > 0) {
        // Extended resources are limits-only; Kubernetes copies them to requests.
        limits.insert("nvidia.com/gpu".to_string(), Quantity(gpu.to_string()));
    }
    Some(ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    })
}

/// `prometheus.io/*` annotations: the scrape convention of Prometheus' stock
/// `kubernetes-pods` job, for clusters without the Prometheus Operator.
pub fn scrape_annotations(port: i32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), port.to_string()),
        ("prometheus.io/path".to_string(), "/metrics".to_string()),
    ])
}

/// Renders the ConfigMap, Deployment and Service of one serving workload.
pub fn render(w: ServingWorkload<'_>) -> ServingChildren {
    let metadata = meta(&w);
    let config_map = ConfigMap {
        metadata: metadata.clone(),
        data: Some(BTreeMap::from([(CONFIG_FILE.to_string(), w.config_yaml.clone())])),
        ..Default::default()
    };

    let mut volumes = vec![
        Volume {
            name: "config".to_string(),
            config_map: Some(ConfigMapVolumeSource { name: w.name.clone(), ..Default::default() }),
            ..Default::default()
        },
        // The root filesystem is read-only; the server may need scratch space.
        Volume { name: "tmp".to_string(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() },
    ];
    let mut mounts = vec![
        VolumeMount {
            name: "config".to_string(),
            mount_path: CONFIG_DIR.to_string(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount { name: "tmp".to_string(), mount_path: "/tmp".to_string(), ..Default::default() },
    ];
    let mut init_containers = Vec::new();
    let mut fetches = false;
    for artifact in w.artifacts {
        // Artifacts on the same claim share one volume and mount.
        for v in artifact.volumes {
            if !volumes.iter().any(|existing| existing.name == v.name) {
                volumes.push(v);
            }
        }
        for m in artifact.mounts {
            if !mounts.iter().any(|existing| existing.name == m.name) {
                mounts.push(m);
            }
        }
        init_containers
            .extend(artifact.init_containers.into_iter().map(|c| Container { env: Some(w.env.clone()), ..c }));
        fetches |= artifact.uses_fetch_volume;
    }
    if fetches {
        let (volume, mount) = fetch_volume(true);
        volumes.push(volume);
        mounts.push(mount);
    }

    let server = Container {
        name: "server".to_string(),
        image: Some(w.image.to_string()),
        args: Some(
            [
                "serve",
                "--config",
                &format!("{CONFIG_DIR}/{CONFIG_FILE}"),
                "--listen",
                &format!("0.0.0.0:{SERVING_PORT}"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_string()),
            container_port: SERVING_PORT,
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        // Loading a model can take minutes; the startup probe holds liveness off until then.
        startup_probe: Some(probe("/health", 5, 120)),
        liveness_probe: Some(probe("/health", 10, 3)),
        // Ready only once the model and every configured adapter are loaded.
        readiness_probe: Some(probe("/ready", 5, 1)),
        resources: resources(w.resources),
        env: Some(w.env.clone()),
        volume_mounts: Some(mounts),
        security_context: Some(container_security_context()),
        ..Default::default()
    };

    let placement = w.placement.cloned().unwrap_or_default();
    let mut node_selector = placement.node_selector;
    node_selector.extend(w.node_selector.clone());
    let selector = selector_labels(w.component, w.instance, w.site);
    let pod = PodSpec {
        containers: vec![server],
        init_containers: (!init_containers.is_empty()).then_some(init_containers),
        volumes: Some(volumes),
        node_selector: (!node_selector.is_empty()).then_some(node_selector),
        tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
        affinity: placement.affinity,
        // The model server never talks to the Kubernetes API.
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(pod_security_context()),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: metadata.clone(),
        spec: Some(DeploymentSpec {
            replicas: Some(w.replicas),
            selector: LabelSelector { match_labels: Some(selector.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(object_labels(w.component, w.instance, w.site)),
                    annotations: Some(scrape_annotations(SERVING_PORT)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let service = Service {
        metadata,
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("http".to_string()),
                port: SERVING_PORT,
                target_port: Some(IntOrString::String("http".to_string())),
                // Kubernetes 1.20 rejects server-side apply of a port without it.
                protocol: Some("TCP".to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    ServingChildren { config_map, deployment, service }
}

/// In-cluster URL of a serving Service.
pub fn service_url(name: &str, namespace: &str) -> String {
    format!("http://{name}.{namespace}.svc:{SERVING_PORT}")
}
