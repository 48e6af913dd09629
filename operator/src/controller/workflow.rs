//! LogicalAIWorkflow reconcile: check the step graph, the references and the
//! desensitization policy, render one gateway per site of the EdgeLLM plus the
//! NetworkPolicies that let the gateways into the edge and cloud models, apply, prune,
//! report (with what the desensitization policy leaves unprotected).
//!
//! No finalizer: children carry owner references. The referenced EdgeLLM and CloudLLM
//! are watched, so changing them re-renders the compiled workflow.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use netgpt_crds::status::condition_type::{DEGRADED, DESENSITIZATION_REDUCED, PROGRESSING, READY};
use netgpt_crds::status::find_condition;
use netgpt_crds::{CloudLLM, EdgeLLM, LogicalAIWorkflow, LogicalAIWorkflowStatus, WorkflowSiteStatus};

use super::popularity::{read_site_popularity, refresh_period};
use super::{
    Context, Error, Reconciled, apply_child, apply_deployment, condition, instrumented, patch_status, prune_children,
    reject_invalid,
};
use crate::render::desensitization::{Protection, validate_desensitization};
use crate::render::labels::Component;
use crate::render::policy::{render_cloud_policy, render_edge_policy};
use crate::render::workflow::{
    GatewayChildren, is_ready, render_gateways, validate_cloud_model, validate_edge_models, validate_steps,
};
use crate::render::{PodDefaults, RenderError};
use crate::validate::FieldError;
use netgpt_crds::graph::StepGraph;

const KIND: &str = "LogicalAIWorkflow";

pub async fn reconcile(wf: Arc<LogicalAIWorkflow>, ctx: Arc<Context>) -> Result<Action, Error> {
    instrumented(&ctx, wf.as_ref(), KIND, reconcile_inner(&wf, &ctx)).await
}

async fn reconcile_inner(wf: &LogicalAIWorkflow, ctx: &Context) -> Result<Reconciled, Error> {
    let name = wf.name_any();
    let namespace = wf.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
    let api: Api<LogicalAIWorkflow> = Api::namespaced(ctx.client.clone(), &namespace);
    let generation = wf.meta().generation;
    let previous = wf.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let owner = wf.object_ref(&());

    let mut errors = validate_steps(wf);
    errors.extend(validate_desensitization(wf));
    let edge = ctx.caches.edge(&ctx.client, &namespace, &wf.spec.edge_ref.name).await?;
    let cloud = ctx.caches.cloud(&ctx.client, &namespace, &wf.spec.cloud_ref.name).await?;
    if edge.is_none() {
        errors.push(FieldError {
            field: "spec.edgeRef.name".into(),
            message: format!("EdgeLLM {:?} not found in namespace {namespace}", wf.spec.edge_ref.name),
        });
    }
    if cloud.is_none() {
        errors.push(FieldError {
            field: "spec.cloudRef.name".into(),
            message: format!("CloudLLM {:?} not found in namespace {namespace}", wf.spec.cloud_ref.name),
        });
    }
    if let Some(cloud) = &cloud {
        errors.extend(validate_cloud_model(wf, cloud));
    }
    if let Some(edge) = &edge {
        errors.extend(validate_edge_models(wf, edge));
    }
    let rendered = match (&edge, &cloud) {
        (Some(edge), Some(cloud)) if errors.is_empty() => match render_all(wf, edge, cloud, &ctx.defaults) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(FieldError { field: e.field().to_string(), message: e.to_string() });
                None
            }
        },
        _ => None,
    };
    let (Some((gateways, policies)), Some(edge), Some(cloud)) = (rendered, edge, cloud) else {
        return reject_invalid(ctx, wf, &previous, &errors).await;
    };

    let cache = ctx.caches.children(Component::Gateway);
    cache.synced().await?;
    // The allowances first, so that new gateways find the models open to them.
    for policy in &policies {
        apply_child(ctx, cache, &owner, policy).await?;
    }
    let mut keep = HashSet::new();
    let mut sites = Vec::new();
    for gw in gateways {
        keep.insert(gw.deployment.name_any());
        apply_child(ctx, cache, &owner, &gw.config_map).await?;
        let deployment = apply_deployment(ctx, cache, &owner, &gw.deployment).await?;
        apply_child(ctx, cache, &owner, &gw.service).await?;
        let ready = deployment.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) >= 1;
        let endpoint = format!("http://{}.{namespace}.svc:{}", gw.service.name_any(), wf.spec.exposure.port);
        sites.push(WorkflowSiteStatus { name: gw.site, endpoint: Some(endpoint), ready, popularity: Vec::new() });
    }
    prune_children::<Deployment>(ctx, cache, &owner, &namespace, &name, &keep).await?;
    prune_children::<Service>(ctx, cache, &owner, &namespace, &name, &keep).await?;
    prune_children::<ConfigMap>(ctx, cache, &owner, &namespace, &name, &keep).await?;
    let policy_names = policies.iter().map(ResourceExt::name_any).collect();
    prune_children::<NetworkPolicy>(ctx, cache, &owner, &namespace, &name, &policy_names).await?;

    let graph = StepGraph::compile(&wf.spec.steps, &wf.spec.routing, wf.spec.desensitization.enabled).ok();
    let forecasts = graph.as_ref().map(|g| g.forecasts.as_slice()).unwrap_or_default();
    let refresh = refresh_period(forecasts.iter().map(|f| f.spec.interval_seconds), super::RESYNC);
    if refresh.is_some() {
        read_popularity(ctx, wf, &mut sites).await;
    }
    let protection = Protection::of(&wf.spec.desensitization);
    let edge_ready = is_ready(edge.status.as_ref().map(|s| s.conditions.as_slice()));
    let cloud_ready = is_ready(cloud.status.as_ref().map(|s| s.conditions.as_slice()));
    let waiting_gateways: Vec<&str> = sites.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let ready = if !edge_ready {
        condition(
            &previous,
            READY,
            false,
            "WaitingForEdge",
            format!("EdgeLLM {} is not ready", edge.name_any()),
            generation,
        )
    } else if !cloud_ready {
        condition(
            &previous,
            READY,
            false,
            "WaitingForCloud",
            format!("CloudLLM {} is not ready", cloud.name_any()),
            generation,
        )
    } else if !waiting_gateways.is_empty() {
        condition(
            &previous,
            READY,
            false,
            "WaitingForGateways",
            format!("gateways not ready: {}", waiting_gateways.join(", ")),
            generation,
        )
    } else {
        condition(&previous, READY, true, "AllReady", "edge, cloud and every gateway are serving", generation)
    };
    let conditions = vec![
        ready,
        condition(
            &previous,
            PROGRESSING,
            !waiting_gateways.is_empty(),
            if waiting_gateways.is_empty() { "Converged" } else { "RollingOut" },
            "",
            generation,
        ),
        condition(&previous, DEGRADED, false, "AsExpected", "", generation),
        condition(
            &previous,
            DESENSITIZATION_REDUCED,
            protection.reduced(),
            protection.reason(),
            protection.message(),
            generation,
        ),
    ];
    report_protection(ctx, wf, &protection).await;
    let status = LogicalAIWorkflowStatus {
        observed_generation: generation,
        conditions,
        unprotected_entities: protection.unprotected(),
        execution_plan: graph.map(|g| g.step_lines()).unwrap_or_default(),
        sites,
    };
    patch_status(&api, &name, wf.status.as_ref(), &status).await?;
    Ok(refresh.map_or(Reconciled::Converging, Reconciled::Refresh))
}

/// Each ready gateway's latest popularity predictions. A gateway that cannot be read
/// (restarting, or the operator runs outside the cluster network) keeps what the status
/// last showed for it, which carries the interval it was for.
async fn read_popularity(ctx: &Context, wf: &LogicalAIWorkflow, sites: &mut [WorkflowSiteStatus]) {
    let previous = wf.status.as_ref().map(|s| s.sites.as_slice()).unwrap_or_default();
    for site in sites.iter_mut() {
        let last = previous.iter().find(|p| p.name == site.name).map(|p| p.popularity.clone()).unwrap_or_default();
        site.popularity = match (&site.endpoint, site.ready) {
            (Some(endpoint), true) => match read_site_popularity(&ctx.http, endpoint).await {
                Ok(read) => read,
                Err(error) => {
                    tracing::debug!(workflow = %wf.name_any(), site = %site.name, %error, "popularity not read");
                    last
                }
            },
            _ => last,
        };
    }
}

/// Every child of a valid workflow: the gateways and the allowances into both models.
fn render_all(
    wf: &LogicalAIWorkflow,
    edge: &EdgeLLM,
    cloud: &CloudLLM,
    defaults: &PodDefaults,
) -> Result<(Vec<GatewayChildren>, [NetworkPolicy; 2]), RenderError> {
    Ok((render_gateways(wf, edge, cloud, defaults)?, [render_cloud_policy(wf, cloud)?, render_edge_policy(wf, edge)?]))
}

/// An Event for reduced protection, once per generation and whenever the reduction
/// starts or changes kind (e.g. the confirming annotation made an invalid spec valid):
/// disabled desensitization is a Warning, a narrowed entity list a Normal Event naming
/// the types left out. Repeating it per generation keeps the decision visible in the
/// history of every change, not only in the current status.
async fn report_protection(ctx: &Context, wf: &LogicalAIWorkflow, protection: &Protection) {
    if !protection.reduced() {
        return;
    }
    let status = wf.status.as_ref();
    let generation = wf.meta().generation;
    let previous_reason = status
        .and_then(|s| find_condition(&s.conditions, DESENSITIZATION_REDUCED))
        .filter(|c| c.status == "True")
        .map(|c| c.reason.as_str());
    let new_generation = status.and_then(|s| s.observed_generation) != generation;
    if !new_generation && previous_reason == Some(protection.reason()) {
        return;
    }
    let generation = generation.unwrap_or_default();
    let note = format!("generation {generation}: {}", protection.message());
    let type_ = if *protection == Protection::Disabled {
        tracing::warn!(workflow = %wf.name_any(), reason = protection.reason(), "{note}");
        EventType::Warning
    } else {
        tracing::info!(workflow = %wf.name_any(), reason = protection.reason(), "{note}");
        EventType::Normal
    };
    // The generation is in the action too: the recorder folds Events with the same key
    // (type, reason, action, object) into one series that keeps the first note.
    let action = format!("Desensitize generation {generation}");
    ctx.event(&wf.object_ref(&()), type_, protection.reason(), &action, note, None).await;
}
