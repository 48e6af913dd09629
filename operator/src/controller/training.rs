//! The training part of an EdgeLLM reconcile: for every site with `trainAdapter: true`,
//! make sure the Job of its current revision exists, read where it stands (from the Job
//! and its pod: which step runs, what each finished step reported), and decide which
//! adapter the site serves — the newest revision that succeeded, so a re-training never
//! leaves a site without its adapter.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use netgpt_crds::{EdgeLLM, SiteTrainingStatus};
use serde_json::Value;

use super::{Context, Error, FIELD_MANAGER};
use crate::render::labels::{COMPONENT_LABEL, Component, INSTANCE_LABEL};
use crate::render::pod::service_url;
use crate::render::training::{
    DATASET_CONTAINER, EVALUATE_CONTAINER, TRAIN_CONTAINER, Teacher, job_name, render_training_job, revision,
    sites_config_map, trained_adapter,
};

pub const PENDING: &str = "Pending";
pub const GENERATING: &str = "GeneratingData";
pub const TRAINING: &str = "Training";
pub const EVALUATING: &str = "Evaluating";
pub const SUCCEEDED: &str = "Succeeded";
pub const FAILED: &str = "Failed";

/// What training decided for the sites of one EdgeLLM.
#[derive(Default)]
pub struct TrainingOutcome {
    /// Per training site: its status.
    pub status: BTreeMap<String, SiteTrainingStatus>,
    /// Per site serving a trained adapter: (adapter name, directory).
    pub serving: BTreeMap<String, (String, String)>,
    /// Sites whose latest revision failed, with the reason.
    pub failed: Vec<String>,
    /// Sites still training.
    pub running: Vec<String>,
}

/// The teacher a CloudLLM reference resolves to (`None` without one); `Err` names a
/// CloudLLM that does not exist (yet).
async fn teacher(ctx: &Context, edge: &EdgeLLM, namespace: &str) -> Result<Result<Teacher, String>, Error> {
    let Some(training) = &edge.spec.training else { return Ok(Ok(None)) };
    if let Some(url) = &training.teacher.url {
        return Ok(Ok(Some((url.clone(), training.teacher.model.clone().unwrap_or_default()))));
    }
    let Some(cloud_ref) = &training.teacher.cloud_ref else { return Ok(Ok(None)) };
    let cloud = ctx.caches.cloud(&ctx.client, namespace, &cloud_ref.name).await?;
    let Some(cloud) = cloud else {
        return Ok(Err(format!("spec.training.teacher.cloudRef: waiting for CloudLLM {:?}", cloud_ref.name)));
    };
    let model = training
        .teacher
        .model
        .clone()
        .or_else(|| cloud.spec.model.served_name.clone())
        .unwrap_or_else(|| cloud.name_any());
    Ok(Ok(Some((format!("{}/v1", service_url(&cloud.name_any(), namespace)), model))))
}

/// Runs the training part of the reconcile.
pub async fn reconcile_training(ctx: &Context, edge: &EdgeLLM, namespace: &str) -> Result<TrainingOutcome, Error> {
    let mut outcome = TrainingOutcome::default();
    let training_sites: Vec<_> = edge.spec.sites.iter().filter(|s| s.train_adapter).collect();
    let name = edge.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!("{COMPONENT_LABEL}={},{INSTANCE_LABEL}={name}", Component::AdapterTraining.as_str());
    let existing = jobs.list(&ListParams::default().labels(&selector)).await?.items;
    if training_sites.is_empty() && edge.spec.training.is_none() {
        // Training switched off: its Jobs go (adapters stay on the volume).
        for job in existing {
            jobs.delete(&job.name_any(), &DeleteParams::background()).await?;
        }
        return Ok(outcome);
    }
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let sites_map = sites_config_map(edge)?;
    config_maps.patch(&sites_map.name_any(), &apply, &Patch::Apply(&sites_map)).await?;
    let teacher = teacher(ctx, edge, namespace).await?;
    let previous: BTreeMap<String, SiteTrainingStatus> =
        edge.status.iter().flat_map(|s| &s.sites).filter_map(|s| Some((s.name.clone(), s.training.clone()?))).collect();
    let owner = edge.object_ref(&());
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let mut keep = HashSet::new();
    for site in training_sites {
        let rev = revision(edge, site);
        let teacher = match &teacher {
            Ok(teacher) => teacher,
            Err(waiting) => {
                let before = previous.get(&site.name);
                let serving_revision = before.and_then(|b| b.serving_revision.clone());
                if let Some(serving) = &serving_revision {
                    keep.insert(job_name(&name, &site.name, serving));
                    outcome.serving.insert(site.name.clone(), trained_adapter(&name, &site.name, serving));
                }
                outcome.running.push(format!("{}: {waiting}", site.name));
                let status = SiteTrainingStatus {
                    revision: rev,
                    phase: PENDING.to_string(),
                    message: Some(waiting.clone()),
                    serving_revision,
                    ..Default::default()
                };
                outcome.status.insert(site.name.clone(), status);
                continue;
            }
        };
        let this_job = job_name(&name, &site.name, &rev);
        keep.insert(this_job.clone());
        let before = previous.get(&site.name);
        let mut status = SiteTrainingStatus {
            revision: rev.clone(),
            phase: PENDING.to_string(),
            job: Some(this_job.clone()),
            serving_revision: before.and_then(|b| b.serving_revision.clone()),
            ..Default::default()
        };
        let job = match existing.iter().find(|j| j.name_any() == this_job) {
            Some(job) => Some(job.clone()),
            // A finished revision whose Job is gone (deleted by hand): keep what it reported.
            None if before.is_some_and(|b| b.revision == rev && (b.phase == SUCCEEDED || b.phase == FAILED)) => None,
            None => {
                let job = render_training_job(edge, site, &rev, teacher, &ctx.defaults)?;
                jobs.patch(&this_job, &apply, &Patch::Apply(&job)).await?;
                let note = format!("site {}: training revision {rev} in Job {this_job}", site.name);
                ctx.event(&owner, EventType::Normal, "TrainingStarted", "Train", note, None).await;
                ctx.metrics.adapter_trainings.with_label_values(&["started"]).inc();
                None
            }
        };
        if let (None, Some(before)) = (&job, before.filter(|b| b.revision == rev)) {
            status = SiteTrainingStatus { serving_revision: status.serving_revision.clone(), ..before.clone() };
        } else if let Some(job) = &job {
            let pod_list = pods.list(&ListParams::default().labels(&format!("job-name={this_job}"))).await?.items;
            read_job(job, pod_list.first(), &mut status);
            if status.phase == SUCCEEDED {
                status.serving_revision = Some(rev.clone());
            }
            let changed = before.is_none_or(|b| b.revision != rev || b.phase != status.phase);
            if changed && status.phase == SUCCEEDED {
                let score = status
                    .own_context_share
                    .map(|s| format!("; {:.0} % of held-out completions name the site", 100.0 * s));
                let note =
                    format!("site {}: adapter of revision {rev} trained{}", site.name, score.unwrap_or_default());
                ctx.event(&owner, EventType::Normal, "TrainingSucceeded", "Train", note, None).await;
                ctx.metrics.adapter_trainings.with_label_values(&["succeeded"]).inc();
            }
            if changed && status.phase == FAILED {
                let note = format!("site {}: {}", site.name, status.message.clone().unwrap_or_default());
                ctx.event(&owner, EventType::Warning, "TrainingFailed", "Train", note, None).await;
                ctx.metrics.adapter_trainings.with_label_values(&["failed"]).inc();
            }
        }
        match status.phase.as_str() {
            FAILED => outcome.failed.push(format!("{}: {}", site.name, status.message.clone().unwrap_or_default())),
            SUCCEEDED => {}
            _ => outcome.running.push(format!("{}: {}", site.name, status.phase)),
        }
        if let Some(serving) = &status.serving_revision {
            keep.insert(job_name(&name, &site.name, serving));
            outcome.serving.insert(site.name.clone(), trained_adapter(&name, &site.name, serving));
        }
        outcome.status.insert(site.name.clone(), status);
    }
    // Jobs of revisions nobody trains or serves any more.
    for job in existing.iter().filter(|j| !keep.contains(&j.name_any())) {
        jobs.delete(&job.name_any(), &DeleteParams::background()).await?;
    }
    Ok(outcome)
}

/// Phase, message and reported figures of a Job from its status and its pod.
pub fn read_job(job: &Job, pod: Option<&Pod>, status: &mut SiteTrainingStatus) {
    let job_status = job.status.clone().unwrap_or_default();
    let condition =
        |kind: &str| job_status.conditions.iter().flatten().find(|c| c.type_ == kind && c.status == "True").cloned();
    let pod_status = pod.and_then(|p| p.status.clone()).unwrap_or_default();
    let all: Vec<ContainerStatus> = pod_status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(pod_status.container_statuses.iter().flatten())
        .cloned()
        .collect();
    for c in &all {
        let Some(summary) = terminated_summary(c) else { continue };
        match c.name.as_str() {
            DATASET_CONTAINER => {
                status.train_pairs = summary["train_pairs"].as_i64();
                status.heldout_pairs = summary["heldout_pairs"].as_i64();
            }
            TRAIN_CONTAINER => {
                status.last_loss = summary["last_loss"].as_f64();
                status.heldout_loss = summary["heldout_loss"].as_f64();
            }
            EVALUATE_CONTAINER => {
                status.own_context_share = summary["own_context_share"].as_f64();
                status.template_own_context_share = summary["template_own_context_share"].as_f64();
            }
            _ => {}
        }
    }
    if job_status.succeeded.unwrap_or(0) > 0 || condition("Complete").is_some() {
        status.phase = SUCCEEDED.to_string();
        status.message = None;
        return;
    }
    if job_status.failed.unwrap_or(0) > 0 || condition("Failed").is_some() {
        status.phase = FAILED.to_string();
        // The step that failed says why (its summary, or the tail of its log).
        let step =
            all.iter().find(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_some_and(|t| t.exit_code != 0));
        status.message = Some(match step {
            Some(c) => {
                let t = c.state.as_ref().and_then(|s| s.terminated.as_ref());
                let text = t.and_then(|t| t.message.clone()).unwrap_or_default();
                let text: String = text.trim().chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
                format!("step {} exited {}: {text}", c.name, t.map(|t| t.exit_code).unwrap_or_default())
            }
            None => condition("Failed")
                .and_then(|c| c.message)
                .unwrap_or_else(|| "the Job failed (deadline exceeded or its pod was deleted)".into()),
        });
        return;
    }
    // Running: the first step that has not finished names the phase.
    let running = all.iter().find(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_none());
    status.phase = match running.map(|c| c.name.as_str()) {
        Some(DATASET_CONTAINER) if is_running(running) => GENERATING,
        Some(TRAIN_CONTAINER) => TRAINING,
        Some(EVALUATE_CONTAINER) => EVALUATING,
        _ => PENDING,
    }
    .to_string();
    status.message = None;
}

fn is_running(c: Option<&ContainerStatus>) -> bool {
    c.and_then(|c| c.state.as_ref()).is_some_and(|s| s.running.is_some())
}

/// The JSON summary a finished step left as its termination message.
fn terminated_summary(c: &ContainerStatus) -> Option<Value> {
    let terminated = c.state.as_ref()?.terminated.as_ref()?;
    if terminated.exit_code != 0 {
        return None;
    }
    serde_json::from_str(terminated.message.as_deref()?.trim()).ok()
}
