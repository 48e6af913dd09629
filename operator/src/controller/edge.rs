//! EdgeLLM reconcile: validate, apply the isolation NetworkPolicy and each site's
//! children, prune what no longer belongs, and report per-site status.
//!
//! No finalizer: every child is namespaced and carries a controller owner reference, so
//! Kubernetes' garbage collector removes them when the EdgeLLM is deleted; nothing
//! outside the cluster needs cleaning up.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use netgpt_crds::status::condition_type::{ADAPTERS_TRAINED, DEGRADED, PROGRESSING, READY};
use netgpt_crds::{EdgeLLM, EdgeLLMStatus, EdgeSiteStatus};

use super::training::reconcile_training;
use super::{
    Context, Error, Reconciled, apply_child, apply_deployment, condition, instrumented, list_nodes, patch_status,
    pod_placement, prune_children, reject_invalid,
};
use crate::render::edge::render_edge;
use crate::render::labels::Component;
use crate::render::pod::service_url;
use crate::render::policy::render_edge_isolation;
use crate::validate::{FieldError, needs_nodes, validate_edge};

const KIND: &str = "EdgeLLM";

pub async fn reconcile(edge: Arc<EdgeLLM>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(&ctx, edge.as_ref(), KIND, reconcile_inner(&edge, &ctx)).await
}

async fn reconcile_inner(edge: &EdgeLLM, ctx: &Context) -> Result<Reconciled, Error> {
    let name = edge.name_any();
    let namespace = edge.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    let api: Api<EdgeLLM> = Api::namespaced(ctx.client.clone(), &namespace);
    let generation = edge.meta().generation;
    let previous = edge.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let owner = edge.object_ref(&());

    let nodes = if needs_nodes(edge.spec.resources.as_ref()) { list_nodes(&ctx.client).await? } else { Vec::new() };
    let mut errors = validate_edge(&name, &edge.spec, &nodes);
    // Training first: which adapter a training site serves is part of its rendering.
    let training = if errors.is_empty() { Some(reconcile_training(ctx, edge, &namespace).await?) } else { None };
    let trained = training.as_ref().map(|t| t.serving.clone()).unwrap_or_default();
    let rendered = if errors.is_empty() {
        match render_edge(edge, &ctx.defaults, &trained)
            .and_then(|sites| Ok((sites, render_edge_isolation(edge, ctx.scrapers.as_ref())?)))
        {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(FieldError { field: e.field().to_string(), message: e.to_string() });
                None
            }
        }
    } else {
        None
    };
    let Some((sites, isolation)) = rendered else {
        return reject_invalid(ctx, edge, &previous, &errors).await;
    };

    let cache = ctx.caches.children(Component::EdgeLlm);
    cache.synced().await?;
    // Isolation first: no serving pod is ever reachable before its policy exists.
    apply_child(ctx, cache, &owner, &isolation).await?;
    let mut keep = HashSet::new();
    let mut deployments = Vec::new();
    for site in sites {
        keep.insert(site.children.deployment.name_any());
        apply_child(ctx, cache, &owner, &site.children.config_map).await?;
        let deployment = apply_deployment(ctx, cache, &owner, &site.children.deployment).await?;
        apply_child(ctx, cache, &owner, &site.children.service).await?;
        deployments.push((site.site, deployment));
    }
    prune_children::<Deployment>(ctx, cache, &owner, &namespace, &name, &keep).await?;
    prune_children::<Service>(ctx, cache, &owner, &namespace, &name, &keep).await?;
    prune_children::<ConfigMap>(ctx, cache, &owner, &namespace, &name, &keep).await?;

    let placement = pod_placement(cache, &namespace, &name);
    let mut site_status = Vec::new();
    let mut waiting = Vec::new();
    let mut rolling = Vec::new();
    let mut unschedulable = Vec::new();
    for (site, deployment) in &deployments {
        let spec_site = edge.spec.sites.iter().find(|s| &s.name == site);
        let replicas = spec_site.map(|s| s.replicas).unwrap_or_default();
        let st = deployment.status.clone().unwrap_or_default();
        let ready = st.ready_replicas.unwrap_or(0);
        let observed = st.observed_generation >= deployment.metadata.generation;
        if !observed || st.updated_replicas.unwrap_or(0) < replicas {
            rolling.push(site.clone());
        }
        if ready < replicas {
            waiting.push(format!("{site}: {ready}/{replicas} ready"));
        }
        let pods = placement.get(site);
        if let Some(reason) = pods.and_then(|p| p.unschedulable.clone()) {
            unschedulable.push(format!("{site}: {reason}"));
        }
        site_status.push(EdgeSiteStatus {
            name: site.clone(),
            replicas,
            ready_replicas: ready,
            nodes: pods.map(|p| p.nodes.iter().cloned().collect()).unwrap_or_default(),
            endpoint: Some(service_url(&deployment.name_any(), &namespace)),
            adapter: spec_site
                .and_then(|s| s.adapter.clone())
                .or_else(|| trained.get(site).map(|(name, _)| name.clone())),
            training: training.as_ref().and_then(|t| t.status.get(site).cloned()),
        });
    }
    let (training_failed, training_running) =
        training.as_ref().map(|t| (t.failed.clone(), t.running.clone())).unwrap_or_default();
    let ready_sites = site_status.iter().filter(|s| s.ready_replicas >= s.replicas).count();
    let mut conditions = vec![
        if waiting.is_empty() {
            condition(&previous, READY, true, "AllSitesReady", "every site is serving", generation)
        } else {
            condition(&previous, READY, false, "WaitingForPods", waiting.join("; "), generation)
        },
        if rolling.is_empty() {
            condition(&previous, PROGRESSING, false, "Converged", "every site runs the current spec", generation)
        } else {
            condition(
                &previous,
                PROGRESSING,
                true,
                "RollingOut",
                format!("rolling out: {}", rolling.join(", ")),
                generation,
            )
        },
        if !unschedulable.is_empty() {
            condition(&previous, DEGRADED, true, "Unschedulable", unschedulable.join("; "), generation)
        } else if !training_failed.is_empty() {
            condition(&previous, DEGRADED, true, "AdapterTrainingFailed", training_failed.join("; "), generation)
        } else {
            condition(&previous, DEGRADED, false, "AsExpected", "", generation)
        },
    ];
    if edge.spec.sites.iter().any(|s| s.train_adapter) {
        conditions.push(if !training_running.is_empty() {
            condition(&previous, ADAPTERS_TRAINED, false, "Training", training_running.join("; "), generation)
        } else if !training_failed.is_empty() {
            condition(&previous, ADAPTERS_TRAINED, false, "TrainingFailed", training_failed.join("; "), generation)
        } else {
            condition(
                &previous,
                ADAPTERS_TRAINED,
                true,
                "Trained",
                "every training site serves its current adapter",
                generation,
            )
        });
    }
    let status = EdgeLLMStatus {
        observed_generation: generation,
        conditions,
        ready_sites: Some(format!("{ready_sites}/{}", site_status.len())),
        adapter_count: Some(i32::try_from(edge.spec.adapters.len()).unwrap_or(i32::MAX)),
        sites: site_status,
    };
    patch_status(&api, &name, edge.status.as_ref(), &status).await?;
    Ok(if training_running.is_empty() { Reconciled::Converging } else { Reconciled::Polling })
}
