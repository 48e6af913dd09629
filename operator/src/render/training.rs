//! Per-site adapter training (`spec.training`, sites with `trainAdapter: true`): one Job
//! per site and revision, whose pod runs the three steps in order — `netgpt dataset
//! generate` and `netgpt train lora` as init containers, `netgpt eval completion` as the
//! main container — on a shared volume. Each step writes a one-line JSON summary as its
//! termination message, which is how the operator learns pairs, losses and scores without
//! the Job ever talking to the API server.
//!
//! The revision is a content hash of what the adapter depends on (the site's location
//! profile, the base model's source, the training settings): editing any of them starts a
//! new Job, while the site keeps serving the last revision that succeeded.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, HostPathVolumeSource,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use netgpt_crds::{EdgeLLM, EdgeSite, ModelFormat, ServingDevice, TrainingStorage};

use super::artifacts::{ArtifactKind, SAFETENSORS_MODEL_FILES, fetch_volume, stage};
use super::labels::{Component, object_labels};
use super::pod::resources;
use super::security::{container_security_context, pod_security_context};
use super::{MODEL_DIR, PodDefaults, RenderError, fnv1a};

/// Where the training volume is mounted (read-write in the Job, read-only when serving).
pub const TRAINING_DIR: &str = "/var/lib/netgpt/training";
/// Name of that volume in both pods.
pub const TRAINING_VOLUME: &str = "training";
/// Label carrying a training Job's revision.
pub const REVISION_LABEL: &str = "netgpt.io/training-revision";
/// Where the Job's sites file is mounted, and its name.
const SITES_DIR: &str = "/etc/netgpt";
const SITES_FILE: &str = "edgellm.yaml";
/// The termination message path Kubernetes reads by default.
const SUMMARY: &str = "/dev/termination-log";
/// Default `activeDeadlineSeconds`.
const DEFAULT_TIMEOUT_SECONDS: i64 = 3600;

/// Container names, which the controller maps to phases.
pub const DATASET_CONTAINER: &str = "dataset";
pub const TRAIN_CONTAINER: &str = "train";
pub const EVALUATE_CONTAINER: &str = "evaluate";

/// Content hash of what `site`'s adapter depends on (ten hex digits).
pub fn revision(edge: &EdgeLLM, site: &EdgeSite) -> String {
    let mut training = edge.spec.training.clone().unwrap_or_default();
    // Where it runs and how long it may take do not change the adapter.
    training.resources = None;
    training.placement = None;
    training.timeout_seconds = None;
    let key = serde_json::json!({
        "site": site.name,
        "location": site.location,
        "model": edge.spec.model.source,
        "architecture": edge.spec.model.architecture,
        "training": training,
    });
    format!("{:010x}", fnv1a(key.to_string().as_bytes()) & 0xff_ffff_ffff)
}

/// Directory of one revision of one site's training, inside [`TRAINING_DIR`].
pub fn revision_dir(edge: &str, site: &str, revision: &str) -> String {
    format!("{TRAINING_DIR}/{edge}/{site}/{revision}")
}

/// The adapter a trained site serves, and the directory it is read from.
pub fn trained_adapter(edge: &str, site: &str, revision: &str) -> (String, String) {
    (format!("site-{site}"), format!("{}/adapter", revision_dir(edge, site, revision)))
}

/// Name of the Job of `revision` (at most 63 characters: Job names become pod labels).
pub fn job_name(edge: &str, site: &str, revision: &str) -> String {
    let name = format!("{edge}-{site}-train-{revision}");
    if name.len() <= 63 { name } else { format!("train-{site}-{revision}").chars().take(63).collect() }
}

/// Name of the ConfigMap holding the sites file the Job reads. The dot keeps it apart
/// from the sites' own ConfigMaps (`<edge>-<site>`, site names are DNS labels).
pub fn sites_config_map_name(edge: &str) -> String {
    format!("{edge}.training")
}

/// The training volume, mounted read-write (Job) or read-only (serving pods).
pub fn training_volume(storage: &TrainingStorage, read_only: bool) -> (Volume, VolumeMount) {
    let volume = Volume {
        name: TRAINING_VOLUME.to_string(),
        persistent_volume_claim: storage
            .persistent_volume_claim
            .as_ref()
            .map(|claim| PersistentVolumeClaimVolumeSource { claim_name: claim.clone(), read_only: Some(read_only) }),
        host_path: match (&storage.persistent_volume_claim, &storage.host_path) {
            (None, Some(path)) => {
                Some(HostPathVolumeSource { path: path.clone(), type_: Some("DirectoryOrCreate".to_string()) })
            }
            _ => None,
        },
        ..Default::default()
    };
    let mount = VolumeMount {
        name: TRAINING_VOLUME.to_string(),
        mount_path: TRAINING_DIR.to_string(),
        read_only: Some(read_only),
        ..Default::default()
    };
    (volume, mount)
}

/// The sites file of the Job: every site's name and location profile (dataset generation
/// filters out pairs that name another site).
pub fn sites_config_map(edge: &EdgeLLM) -> Result<ConfigMap, RenderError> {
    let name = edge.name_any();
    let owner = edge.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    let sites: Vec<serde_json::Value> = edge
        .spec
        .sites
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "nodeSelector": {}, "location": s.location}))
        .collect();
    let manifest = serde_json::json!({
        "apiVersion": "netgpt.io/v1alpha1",
        "kind": "EdgeLLM",
        "metadata": {"name": name},
        "spec": {"model": edge.spec.model, "sites": sites},
    });
    // JSON is YAML: `netgpt dataset generate -f` reads it like any manifest.
    let yaml = serde_json::to_string_pretty(&manifest).map_err(|e| RenderError::Config(e.to_string()))?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(sites_config_map_name(&name)),
            namespace: edge.namespace(),
            labels: Some(object_labels(Component::AdapterTraining, &name, None)),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(SITES_FILE.to_string(), yaml)])),
        ..Default::default()
    })
}

/// The teacher a Job asks: `(base URL up to /v1, model)`, or `None` for the base model
/// served inside the Job.
pub type Teacher = Option<(String, String)>;

fn arg(args: &mut Vec<String>, flag: &str, value: Option<impl ToString>) {
    if let Some(value) = value {
        args.push(flag.to_string());
        args.push(value.to_string());
    }
}

/// The training Job of `site` at `revision`.
pub fn render_training_job(
    edge: &EdgeLLM,
    site: &EdgeSite,
    revision: &str,
    teacher: &Teacher,
    defaults: &PodDefaults,
) -> Result<Job, RenderError> {
    let training = edge.spec.training.as_ref().ok_or_else(|| RenderError::Config("no spec.training".into()))?;
    let name = edge.name_any();
    let owner = edge.controller_owner_ref(&()).ok_or_else(|| RenderError::Config("object has no uid".into()))?;
    let gpu = training.resources.as_ref().and_then(|r| r.gpu).unwrap_or(0) > 0;
    let device = if gpu { ServingDevice::Cuda } else { ServingDevice::Cpu };
    let image = defaults.serving(edge.spec.image.as_deref(), device);
    let kind = match edge.spec.model.format {
        ModelFormat::Gguf => ArtifactKind::File,
        ModelFormat::Safetensors => ArtifactKind::Directory(SAFETENSORS_MODEL_FILES),
    };
    let model = stage(&edge.spec.model.source, "model", MODEL_DIR, kind, image, "spec.model.source.uri")?;
    let model_path = model.local_path.clone();
    let dir = revision_dir(&name, &site.name, revision);
    let (training_volume, training_mount) = training_volume(&training.storage, false);

    let mut volumes = vec![
        training_volume,
        Volume {
            name: "sites".to_string(),
            config_map: Some(ConfigMapVolumeSource { name: sites_config_map_name(&name), ..Default::default() }),
            ..Default::default()
        },
        Volume { name: "tmp".to_string(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() },
    ];
    let mut mounts = vec![
        training_mount,
        VolumeMount { name: "sites".into(), mount_path: SITES_DIR.into(), read_only: Some(true), ..Default::default() },
        VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() },
    ];
    volumes.extend(model.volumes);
    mounts.extend(model.mounts);
    if model.uses_fetch_volume {
        let (volume, mount) = fetch_volume(false);
        volumes.push(volume);
        mounts.push(mount);
    }
    let sites_file = format!("{SITES_DIR}/{SITES_FILE}");

    let mut dataset = vec!["dataset", "generate", "-f", &sites_file, "--site", &site.name, "--model", &model_path]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    dataset.extend(["--output".to_string(), format!("{dir}/data"), "--summary-file".into(), SUMMARY.into()]);
    if let Some((url, model)) = teacher {
        dataset.extend(["--teacher-url".to_string(), url.clone(), "--teacher-model".into(), model.clone()]);
    }
    let d = &training.dataset;
    arg(&mut dataset, "--candidates", d.candidates);
    arg(&mut dataset, "--pairs-per-seed", d.pairs_per_seed);
    arg(&mut dataset, "--heldout-fraction", d.heldout_percent.map(|p| f64::from(p) / 100.0));
    arg(&mut dataset, "--limit-seeds", d.limit_seeds);

    let mut train: Vec<String> = vec!["train".into(), "lora".into(), "--base".into(), model_path.clone()];
    train.extend([
        "--data".to_string(),
        format!("{dir}/data/{}.jsonl", site.name),
        "--output".into(),
        format!("{dir}/adapter"),
        "--device".into(),
        if gpu { "cuda".into() } else { "cpu".into() },
        "--summary-file".into(),
        SUMMARY.into(),
    ]);
    let l = &training.lora;
    arg(&mut train, "--rank", l.rank);
    arg(&mut train, "--alpha", l.alpha);
    arg(&mut train, "--dropout", l.dropout);
    if !l.target_modules.is_empty() {
        arg(&mut train, "--target-modules", Some(l.target_modules.join(",")));
    }
    arg(&mut train, "--epochs", l.epochs);
    arg(&mut train, "--learning-rate", l.learning_rate);
    arg(&mut train, "--gradient-accumulation", l.gradient_accumulation);
    arg(&mut train, "--limit", l.max_examples);

    let evaluate: Vec<String> = vec![
        "eval".into(),
        "completion".into(),
        "-f".into(),
        sites_file.clone(),
        "--site".into(),
        site.name.clone(),
        "--model".into(),
        model_path.clone(),
        "--data".into(),
        format!("{dir}/data"),
        "--adapter".into(),
        format!("{}={dir}/adapter", site.name),
        "--output".into(),
        format!("{dir}/evaluation.json"),
        "--summary-file".into(),
        SUMMARY.into(),
    ];

    let step = |container: &str, args: Vec<String>| Container {
        name: container.to_string(),
        image: Some(image.to_string()),
        args: Some(args),
        env: Some(defaults.env()),
        volume_mounts: Some(mounts.clone()),
        resources: resources(training.resources.as_ref()),
        security_context: Some(container_security_context()),
        // The step's summary, or the tail of its log when it failed without one.
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };
    let mut init_containers: Vec<Container> =
        model.init_containers.into_iter().map(|c| Container { env: Some(defaults.env()), ..c }).collect();
    init_containers.push(step(DATASET_CONTAINER, dataset));
    init_containers.push(step(TRAIN_CONTAINER, train));

    let mut labels = object_labels(Component::AdapterTraining, &name, Some(&site.name));
    labels.insert(REVISION_LABEL.to_string(), revision.to_string());
    let placement = training.placement.clone().or_else(|| edge.spec.placement.clone()).unwrap_or_default();
    let pod = PodSpec {
        init_containers: Some(init_containers),
        containers: vec![step(EVALUATE_CONTAINER, evaluate)],
        restart_policy: Some("Never".to_string()),
        volumes: Some(volumes),
        node_selector: (!placement.node_selector.is_empty()).then_some(placement.node_selector),
        tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
        affinity: placement.affinity,
        // The steps talk to the teacher, never to the Kubernetes API.
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(pod_security_context()),
        ..Default::default()
    };
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name, &site.name, revision)),
            namespace: edge.namespace(),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            // A failed run is reported, not retried: the same data would fail the same way.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(training.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}
